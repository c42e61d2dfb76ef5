"""An explainer stored next to its model in a ModelRegistry, as a companion version.

The explainer of ``churn`` version 3 is registered as a version of the model named
``churn.explainer``, tagged ``explains=churn@3`` and with its fingerprint, through the
registry's ``prodml`` (JSON) flavour: no pickle, every file hashed, verified on load. A
serving process resolves ``churn@production`` to its version and loads the newest
explainer tagged for it. The registry is used through its public methods only (duck
typed), so :mod:`prodml.explain` does not import :mod:`prodml.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodml.errors import ConfigError, IntegrityError, NotFoundError
from prodml.explain._explainer import Explainer

__all__ = ["SUFFIX", "load_explainer", "register_explainer"]

SUFFIX = ".explainer"


def _check_registry(registry: object) -> None:
    missing = [
        m for m in ("get", "register", "search", "load") if not callable(getattr(registry, m, None))
    ]
    if missing:
        raise ConfigError(
            "registry must be a prodml.registry.ModelRegistry. Got "
            f"{type(registry).__name__} instead (no {', '.join(missing)}).",
            parameter="registry",
        )


def _check_ref(model_ref: object) -> None:
    if not isinstance(model_ref, str) or not model_ref:
        raise ConfigError(
            f"model_ref must be a model reference such as 'churn@production'. Got "
            f"{type(model_ref).__name__} instead.",
            parameter="model_ref",
        )


def _pipeline_fingerprint(registry: Any, mv: Any, trusted: Any) -> str | None:
    """The fingerprint of the pipeline a model version was served with, when known."""
    known = getattr(mv.lineage, "pipeline_fingerprint", None)
    if known:
        return str(known)
    if mv.flavour == "pair":
        pipeline = registry.load(mv.ref, trusted=trusted)[0]
        return str(pipeline.fingerprint)
    return None


def register_explainer(
    registry: Any,
    model_ref: str,
    explainer: Explainer,
    *,
    tags: Mapping[str, str] | None = None,
    trusted: Any = False,
) -> Any:
    """Store a fitted explainer next to the model version ``model_ref`` explains.

    Parameters
    ----------
    registry
        A :class:`prodml.registry.ModelRegistry`.
    model_ref
        The model version: ``"churn@3"``, ``"churn@production"`` (resolved now), ``"churn"``.
    explainer
        A fitted :class:`Explainer` of that version's pipeline and model.
    tags
        More tags for the companion version.
    trusted
        Passed to ``registry.load`` when the model version's ``(pipeline, model)`` pair
        is loaded to compare pipelines (scikit-learn trees need it with skops).

    Returns
    -------
    ModelVersion
        The companion version (model name ``<model>.explainer``).

    Raises
    ------
    ConfigError
        When the explainer's pipeline is not the one the model version was registered with
        (by fingerprint: its lineage's ``pipeline_fingerprint``, or its ``(pipeline,
        model)`` pair).
    """
    _check_registry(registry)
    _check_ref(model_ref)
    if not isinstance(explainer, Explainer):
        raise ConfigError(
            f"explainer must be a fitted prodml.explain.Explainer. Got {type(explainer).__name__}.",
            parameter="explainer",
        )
    mv = registry.get(model_ref)
    fingerprint = explainer.fingerprint
    expected = _pipeline_fingerprint(registry, mv, trusted)
    if expected is not None and expected != explainer.pipeline.fingerprint:
        raise ConfigError(
            f"the explainer's pipeline is not the pipeline of {mv.name}@{mv.version} "
            "(fingerprints differ); fit the explainer on that version's pipeline",
            parameter="explainer",
        )
    return registry.register(
        mv.name + SUFFIX,
        explainer,
        tags={
            **dict(tags or {}),
            "explains": f"{mv.name}@{mv.version}",
            "explainer_fingerprint": fingerprint,
            "explainer_method": explainer.kernel_.method,
        },
        description=f"prodml.explain explainer of {mv.name}@{mv.version}",
        lineage={"pipeline_fingerprint": explainer.pipeline.fingerprint},
    )


def load_explainer(
    registry: Any, model_ref: str, *, model: Any = None, trusted: Any = False
) -> Explainer:
    """Load the newest explainer registered for the model version ``model_ref``.

    The explainer's files are verified against their hashes by the registry and its state
    validated on load; its fingerprint must equal the one tagged at registration. A
    ``"sampling"`` explainer runs the model: pass ``model``, or it is loaded from the
    registry (the model of a ``(pipeline, model)`` pair, with ``trusted``).

    Raises
    ------
    NotFoundError
        When no explainer was registered for that version.
    IntegrityError
        When the loaded state's fingerprint is not the registered one.
    """
    _check_registry(registry)
    _check_ref(model_ref)
    mv = registry.get(model_ref)
    page = registry.search(
        mv.name + SUFFIX, tags={"explains": f"{mv.name}@{mv.version}"}, include_archived=False
    )
    if not page.items:
        raise NotFoundError(
            f"no explainer is registered for {mv.name}@{mv.version} "
            "(register one with prodml.explain.register_explainer)",
            model_name=mv.name + SUFFIX,
            version=mv.version,
        )
    companion = max(page.items, key=lambda v: v.version)
    explainer = registry.load(companion.ref)
    if not isinstance(explainer, Explainer):
        raise IntegrityError(
            f"{companion.ref} does not hold a prodml.explain.Explainer",
            model_name=companion.name,
            version=companion.version,
        )
    if explainer.kernel_.method == "sampling":
        if model is None:
            loaded = registry.load(mv.ref, trusted=trusted)
            model = loaded[1] if isinstance(loaded, tuple) else loaded
        explainer.set_model(model)
    if explainer.fingerprint != companion.tags.get("explainer_fingerprint"):
        raise IntegrityError(
            f"the explainer in {companion.ref} does not have its registered fingerprint",
            model_name=companion.name,
            version=companion.version,
        )
    return explainer
