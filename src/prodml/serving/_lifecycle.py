"""How a :class:`~prodml.serving.Predictor` starts from a registry, swaps versions, stops.

``from_registry`` resolves each variant's reference, loads (and checks) every version once
and builds the predictor with a :class:`~prodml.serving._source.Watcher` that calls
``refresh``; ``refresh`` swaps in the versions whose reference moved, keeping the one
serving when a new one is refused; ``close`` stops the watcher and the shadow worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from prodml._params import NONE, Interval, check_params
from prodml.errors import ConfigError
from prodml.serving._metrics import ServingStats
from prodml.serving._prediction import State, policy_variants
from prodml.serving._served import Served
from prodml.serving._shadow import ShadowWorker
from prodml.serving._source import RegistrySource, Watcher

if TYPE_CHECKING:
    from prodml.monitoring import ModelMonitor
    from prodml.registry import ModelRegistry
    from prodml.registry.flavours import Trust
    from prodml.serving._prediction import RolloutPolicy
    from prodml.serving._predictor import Predictor
    from prodml.serving._served import ExplainerLike

__all__ = ["Lifecycle"]


class Lifecycle:
    """The registry side of :class:`~prodml.serving.Predictor` (a mixin)."""

    stats: ServingStats
    _state: State
    _source: RegistrySource | None
    _watcher: Watcher | None
    _shadow: ShadowWorker | None
    _reload_lock: threading.Lock
    _refused: dict[str, tuple[str, int | None]]

    @overload
    @classmethod
    def from_registry(
        cls,
        registry: ModelRegistry,
        ref: str,
        *,
        variants: Mapping[str, str] | None = None,
        policy: RolloutPolicy | None = None,
        monitor: ModelMonitor | Mapping[str, ModelMonitor] | None = None,
        explainer: ExplainerLike | Callable[[Any, Any], ExplainerLike] | None = None,
        key_column: str | None = None,
        output: Literal["proba"],
        trusted: Trust = False,
        probe: Sequence[Mapping[str, Any]] | None = None,
        watch_every_s: float | None = 5.0,
        shadow_queue: int = 1000,
        compiled: bool = True,
    ) -> Predictor[float]: ...
    @overload
    @classmethod
    def from_registry(
        cls,
        registry: ModelRegistry,
        ref: str,
        *,
        variants: Mapping[str, str] | None = None,
        policy: RolloutPolicy | None = None,
        monitor: ModelMonitor | Mapping[str, ModelMonitor] | None = None,
        explainer: ExplainerLike | Callable[[Any, Any], ExplainerLike] | None = None,
        key_column: str | None = None,
        output: Literal["auto", "predict", "decision_function"] = "auto",
        trusted: Trust = False,
        probe: Sequence[Mapping[str, Any]] | None = None,
        watch_every_s: float | None = 5.0,
        shadow_queue: int = 1000,
        compiled: bool = True,
    ) -> Predictor[Any]: ...
    @classmethod
    def from_registry(
        cls,
        registry: ModelRegistry,
        ref: str,
        *,
        variants: Mapping[str, str] | None = None,
        policy: RolloutPolicy | None = None,
        monitor: ModelMonitor | Mapping[str, ModelMonitor] | None = None,
        explainer: ExplainerLike | Callable[[Any, Any], ExplainerLike] | None = None,
        key_column: str | None = None,
        output: Literal["auto", "proba", "predict", "decision_function"] = "auto",
        trusted: Trust = False,
        probe: Sequence[Mapping[str, Any]] | None = None,
        watch_every_s: float | None = 5.0,
        shadow_queue: int = 1000,
        compiled: bool = True,
    ) -> Predictor[Any]:
        """Serve ``ref`` (``"churn@production"``) from a :class:`~prodml.registry.ModelRegistry`.

        The version must be a ``(pipeline, model)`` pair registered as one version; its
        ``signature``, when set, is the request schema. Every version is verified
        (artifact hashes) and checked before it serves.

        Parameters
        ----------
        registry
            The registry to load from (and to watch).
        ref
            Reference served by the policy's first variant.
        variants
            References of the other variants; a variant not given is served by the
            alias named like it (``"churn@candidate"`` for a canary's ``candidate``).
        trusted
            Passed to :meth:`ModelRegistry.load` (needed for joblib-pickled models).
        probe
            Example records run through every version before it serves.
        watch_every_s
            Seconds between checks of the references; when one moves, the new version
            serves from the next request on (``None``: only :meth:`refresh` reloads).
        policy, monitor, explainer, key_column, output, shadow_queue, compiled
            As for :class:`Predictor`.

        Raises
        ------
        NotFoundError
            When a reference does not resolve.
        IntegrityError, ConfigError, ModelError
            When a version fails verification or its check.
        """
        check_params(
            "Predictor.from_registry",
            {"watch_every_s": watch_every_s},
            {"watch_every_s": [Interval(float, 0, None, "neither"), NONE]},
        )
        names = policy_variants(policy)
        name = ref.partition("@")[0]
        given = dict(variants or {})
        refs = {names[0]: ref, **{v: given.pop(v, f"{name}@{v}") for v in names[1:]}}
        if given:
            raise ConfigError(
                f"variants {sorted(given)} are not variants of the policy {list(names)}",
                parameter="variants",
            )
        source = RegistrySource(
            registry,
            refs,
            trusted=trusted,
            output=output,
            explainer=explainer,
            probe=list(probe) if probe is not None else None,
            compiled=compiled,
        )
        loaded: dict[tuple[str, int], Served] = {}
        served: dict[str, Served] = {}
        for variant, mv in source.resolve().items():
            key = (mv.name, mv.version)
            if key not in loaded:
                loaded[key] = source.load(mv)
            served[variant] = loaded[key]
        self = cast("Predictor[Any]", cls.__new__(cls))  # cls: Predictor or a subclass
        others = {v: s for v, s in served.items() if v != names[0]}
        self._setup(served[names[0]], others, policy, monitor, key_column, shadow_queue)
        self.stats.reloads["loaded"] = len(loaded)
        self._source = source
        self._watcher = Watcher(self.refresh, watch_every_s) if watch_every_s else None
        return self

    def refresh(self) -> dict[str, int | None]:
        """Check the registry now; load and swap in versions whose reference moved.

        A version failing verification or its check is refused (logged, counted in
        ``prodml_serving_reloads_total{outcome="refused"}``, not retried until the
        reference moves again) and the version serving before keeps serving.

        Returns
        -------
        dict
            The version each variant serves after the check.
        """
        if self._source is None:
            return {v: s.version for v, s in self._state.versions.items()}
        with self._reload_lock:
            state = self._state
            versions = self._source.reload(state.versions, self._refused, self.stats)
            if versions != state.versions:
                self._state = State(versions, state.home)
            return {v: s.version for v, s in versions.items()}

    def close(self) -> None:
        """Stop watching the registry and finish queued shadow work."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._shadow is not None:
            self._shadow.close()

    def drain_shadow(self) -> None:
        """Wait until every mirrored request has been scored by the shadow."""
        if self._shadow is not None:
            self._shadow.drain()
