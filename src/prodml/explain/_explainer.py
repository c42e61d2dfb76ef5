"""Explainer: attributions per raw input column, on one record or a batch."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from os import PathLike, fspath
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from prodml._data import type_name
from prodml._quote import short_repr
from prodml.errors import ConfigError, NotFittedError, SchemaError
from prodml.explain import _forest_state, _state
from prodml.explain._explanation import Attributions, Explanation
from prodml.explain._interventional import MAX_BACKGROUND, InterventionalTreeKernel
from prodml.explain._linear import LinearKernel, linear_from_model
from prodml.explain._sampling import (
    MAX_PERMUTATIONS,
    SamplingKernel,
    draw_permutations,
    output_function,
    sample_background,
)
from prodml.explain._trees import SUPPORTED_TREES, TreeKernel, trees_from_model
from prodml.features import FeaturePipeline
from prodml.fingerprint import canonical_json, fingerprint_spec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SUPPORTED", "Explainer"]

Floats = npt.NDArray[np.float64]
METHODS = ("auto", "linear", "tree", "sampling")
Method = Literal["auto", "linear", "tree", "sampling"]
PERTURBATIONS = ("tree_path_dependent", "interventional")
Perturbation = Literal["tree_path_dependent", "interventional"]
_TREES_MARK = "\x00trees\x00"  # printed "\u0000trees\u0000": no number or key looks like it
SUPPORTED = (
    "linear models of sklearn.linear_model (LinearRegression, Ridge, Lasso, ElasticNet, "
    "LogisticRegression, SGD*, ...) and the tree models " + ", ".join(SUPPORTED_TREES)
)


def _unsupported(model: object) -> ConfigError:
    return ConfigError(
        f"prodml.explain has no exact explainer for {type_name(model)}; it supports {SUPPORTED}. "
        "For any other model with predict_proba or predict, pass method='sampling' (and a "
        "background): a seeded permutation-sampling estimate with a standard error per column",
        parameter="model",
    )


def _check_model(model: object) -> None:
    """Refuse a missing model, or a value that is no model (a path, a dict), saying so.

    Every model an explainer reads, exact or sampled, has ``predict`` or ``predict_proba``;
    without this check ``None`` or a file name got "no exact explainer for NoneType".
    """
    supported = f"Exact explainers: {SUPPORTED}; any other model: method='sampling'."
    if model is None:
        raise ConfigError(
            "The 'model' parameter of Explainer is missing (None): pass the fitted model "
            f"that reads the pipeline's output, Explainer(pipeline, model). {supported}",
            parameter="model",
        )
    if not any(callable(getattr(model, m, None)) for m in ("predict", "predict_proba")):
        # A path is shown (it says what the user meant); any other value only by its type,
        # since a dict or an array passed by mistake may be a record about a person.
        if isinstance(model, (str, bytes, PathLike)):
            shown = short_repr(fspath(model), limit=80)
            got = f"{type_name(model)} {shown} (a name or a path: load the model first)"
        else:
            got = type_name(model)
        raise ConfigError(
            "The 'model' parameter of Explainer must be a fitted model (with predict or "
            f"predict_proba) that reads the pipeline's output. Got {got}, which is not a "
            f"model. {supported}",
            parameter="model",
        )


Kernel = LinearKernel | TreeKernel | SamplingKernel


def _group_of(pipeline: FeaturePipeline) -> npt.NDArray[np.int64]:
    """The group (raw column, in input order) of each output feature."""
    group_of = np.empty(len(pipeline.feature_names_out), dtype=np.int64)
    for g, idx in enumerate(pipeline.output_groups().values()):
        group_of[idx] = g
    return group_of


class Explainer:
    """Exact attributions of a pipeline + model, per raw input column.

    The model is explained on the features the pipeline outputs, and each feature's
    attribution goes to the raw input column it is computed from
    (:meth:`FeaturePipeline.output_groups`), so a one-hot column, a hashed column or a
    date's parts each get one number. Linear models get the closed-form interventional
    Shapley values w.r.t. ``background`` (as ``shap.LinearExplainer``), on the margin
    for classifiers; tree models get path-dependent TreeSHAP (as ``shap.TreeExplainer``
    without background data; interventional TreeSHAP w.r.t. ``background`` with
    ``feature_perturbation="interventional"``), on the margin for gradient boosting
    classifiers and on the probability of ``class_index`` for forests. A NaN feature is
    explained along the route the tree model itself gives it (HistGradientBoosting,
    scikit-learn >= 1.3 trees and forests, XGBoost, LightGBM); a model without one
    refuses it, naming the column.

    Parameters
    ----------
    pipeline
        A fitted :class:`~prodml.features.FeaturePipeline`.
    model
        A fitted model reading the pipeline's output (see :data:`SUPPORTED`).
    background
        Raw input rows (a DataFrame or Table) standing for "typical" data; needed for
        linear models (their base value is the model at the background's mean).
    class_index
        Which class to explain, for multi-class models (binary: the positive class).
    method
        ``"auto"`` (the exact method for the model's type), ``"linear"``, ``"tree"``, or
        ``"sampling"``: the model-agnostic estimate for any model with ``predict_proba``
        or ``predict`` (Shapley values of the raw columns by seeded permutation sampling
        against ``background``; each value comes with its standard error).
    n_permutations
        Permutations of the columns per record for ``"sampling"`` (even: antithetic pairs).
        When it is at least the number of orders of the raw columns (``columns!``), every
        order is used once instead: exact Shapley values, standard error 0. At most
        10,000, and at most 2**27 switch cells (permutations x (columns + 1) x the
        pipeline's outputs), which loading a saved state checks too.
    n_background
        Background rows (sampled with ``seed``) per permutation for ``"sampling"``, and
        the background rows kept by ``feature_perturbation="interventional"`` (at most
        10,000 there).
    seed
        Seed of the permutations and of the background sample.
    feature_perturbation
        For tree models (shap's names): ``"tree_path_dependent"`` (the default; no
        background needed, ``background`` is ignored) or ``"interventional"``: exact
        interventional TreeSHAP w.r.t. at most ``n_background`` rows of ``background``
        (as ``shap.TreeExplainer(model, data=background,
        feature_perturbation="interventional")``), the base value being the model's
        mean output over them. It explains the model rather than the training data's
        correlations, at a cost of O(rows x background x leaves). A leaf's path may
        split on at most 62 distinct features there (a deeper one is refused at fit).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LinearRegression
    >>> from prodml.features import FeaturePipeline, steps
    >>> df = pd.DataFrame({"age": [20.0, 30.0, 40.0, 50.0], "plan": ["a", "b", "a", "b"]})
    >>> pipe = FeaturePipeline([steps.StandardScale(["age"]), steps.OneHot(["plan"])]).fit(df)
    >>> model = LinearRegression().fit(pipe.transform(df), [1.0, 3.0, 2.0, 4.0])
    >>> ex = Explainer(pipe, model, background=df).fit()
    >>> e = ex.explain_record({"age": 50.0, "plan": "b"})
    >>> {k: round(v, 3) for k, v in e.values.items()}, round(e.base, 3)
    ({'age': 0.75, 'plan': 0.75}, 2.5)
    >>> bool(abs(e.base + sum(e.values.values()) - e.prediction) < 1e-9)
    True
    """

    def __init__(
        self,
        pipeline: FeaturePipeline,
        model: Any = None,
        *,
        background: Any = None,
        class_index: int | None = None,
        method: Method = "auto",
        n_permutations: int = 32,
        n_background: int = 50,
        seed: int = 0,
        feature_perturbation: Perturbation = "tree_path_dependent",
    ) -> None:
        self.pipeline = pipeline
        self.model: Any = model
        self.background = background
        self.class_index = class_index
        self.method = method
        self.n_permutations = n_permutations
        self.n_background = n_background
        self.seed = seed
        self.feature_perturbation = feature_perturbation

    # -- fit ---------------------------------------------------------------------------

    def fit(self) -> Explainer:
        """Read the model's parameters and the background into a fitted state.

        Returns
        -------
        Explainer
            ``self``.

        Raises
        ------
        ConfigError
            For an unfitted pipeline, a missing model (``None``) or a value that is not a
            model (no ``predict``), an unsupported model (naming what is supported),
            a model whose width is not the pipeline's, a linear model without
            background, or ``feature_perturbation="interventional"`` without background
            or for a model that is not a tree model.
        """
        if not isinstance(self.pipeline, FeaturePipeline):
            raise ConfigError(
                "The 'pipeline' parameter of Explainer must be a fitted FeaturePipeline. "
                f"Got {type_name(self.pipeline)} instead.",
                parameter="pipeline",
            )
        if not hasattr(self.pipeline, "programs_"):
            raise ConfigError(
                "the pipeline of Explainer is not fitted; fit it first", parameter="pipeline"
            )
        _check_model(self.model)
        if self.method not in METHODS:
            raise ConfigError(
                f"The 'method' parameter of Explainer must be one of {set(METHODS)}. "
                f"Got {short_repr(self.method)} instead.",
                parameter="method",
            )
        if self.class_index is not None and (
            isinstance(self.class_index, bool) or not isinstance(self.class_index, int)
        ):
            raise ConfigError(
                "The 'class_index' parameter of Explainer must be an int or None. "
                f"Got {short_repr(self.class_index)} instead.",
                parameter="class_index",
            )
        interventional = self._check_perturbation()
        kernel: Kernel | None = None
        if interventional:
            kernel = self._interventional_kernel()
        elif self.method == "sampling":
            kernel = self._sampling_kernel()
        if kernel is None and self.method in ("auto", "tree"):
            kernel = trees_from_model(self.model, self.class_index)
        if kernel is None and self.method in ("auto", "linear"):
            if hasattr(self.model, "coef_") and self.background is None:
                raise ConfigError(
                    "a linear model is explained w.r.t. a background sample: pass "
                    "background=<raw input rows>",
                    parameter="background",
                )
            if self.background is not None:
                kernel = linear_from_model(self.model, self._background(), self.class_index)
        if kernel is None:
            raise _unsupported(self.model)
        self._install(kernel)
        return self

    def _background(self) -> Floats:
        if self.background is None:
            raise ConfigError(
                f"method={short_repr(self.method)} needs background=<raw input rows>",
                parameter="background",
            )
        bg = self.pipeline.transform(self.background)
        if bg.shape[0] == 0:
            raise ConfigError("the background has no rows", parameter="background")
        return np.asarray(bg)

    def _check_perturbation(self) -> bool:
        """Whether interventional TreeSHAP was asked for (refused where it cannot apply)."""
        if self.feature_perturbation not in PERTURBATIONS:
            raise ConfigError(
                "The 'feature_perturbation' parameter of Explainer must be one of "
                f"{set(PERTURBATIONS)}. Got {short_repr(self.feature_perturbation)} instead.",
                parameter="feature_perturbation",
            )
        if self.feature_perturbation != "interventional":
            return False
        if self.method not in ("auto", "tree"):
            raise ConfigError(
                "The 'feature_perturbation' parameter of Explainer applies to tree models: "
                f"'interventional' needs method='tree' or 'auto'. Got method={self.method!r}.",
                parameter="feature_perturbation",
            )
        if self.background is None:
            raise ConfigError(
                "The 'feature_perturbation' parameter of Explainer is 'interventional', "
                "which explains w.r.t. background rows: pass background=<raw input rows>",
                parameter="feature_perturbation",
            )
        return True

    def _interventional_kernel(self) -> InterventionalTreeKernel:
        self._check_sampling_settings(("n_background", 1, MAX_BACKGROUND))
        tree = trees_from_model(self.model, self.class_index)
        if tree is None:
            raise ConfigError(
                "The 'feature_perturbation' parameter of Explainer is 'interventional', "
                f"which needs a tree model ({', '.join(SUPPORTED_TREES)}). Got "
                f"{type_name(self.model)}.",
                parameter="feature_perturbation",
            )
        background = sample_background(self._background(), self.n_background, self.seed)
        return InterventionalTreeKernel(tree, background)

    def _check_sampling_settings(self, *limits: tuple[str, int, int | None]) -> None:
        for name, low, high in limits:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < low
                or (high is not None and value > high)
            ):
                within = f">= {low}" if high is None else f"in [{low}, {high}]"
                raise ConfigError(
                    f"The '{name}' parameter of Explainer must be an int {within}. "
                    f"Got {short_repr(value)} instead.",
                    parameter=name,
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(
                f"The 'seed' parameter of Explainer must be an int. Got {short_repr(self.seed)} "
                "instead.",
                parameter="seed",
            )

    def _sampling_kernel(self) -> SamplingKernel:
        self._check_sampling_settings(
            ("n_permutations", 2, MAX_PERMUTATIONS), ("n_background", 1, None)
        )
        if self.n_permutations % 2:
            raise ConfigError(
                "The 'n_permutations' parameter of Explainer must be even (antithetic "
                f"pairs). Got {self.n_permutations!r} instead.",
                parameter="n_permutations",
            )
        fn, scale = output_function(self.model, self.class_index)
        group_of = _group_of(self.pipeline)
        background = sample_background(self._background(), self.n_background, self.seed)
        perms = draw_permutations(int(group_of.max()) + 1, self.n_permutations, self.seed)
        return SamplingKernel(fn, scale, background, perms, group_of)

    def _install(self, kernel: Kernel) -> None:
        groups = self.pipeline.output_groups()
        width = len(self.pipeline.feature_names_out)
        if kernel.n_features != width:
            raise ConfigError(
                f"the model reads {kernel.n_features} features but the pipeline gives {width}",
                parameter="model",
            )
        sources = self.pipeline.feature_sources_out
        shared = [j for j, s in enumerate(sources) if len(s) != 1]
        if shared:
            raise ConfigError(
                f"output feature {self.pipeline.feature_names_out[shared[0]]!r} comes from "
                f"several columns {list(sources[shared[0]])}; its attribution cannot be split",
                parameter="pipeline",
            )
        self.columns_: list[str] = list(groups)
        self.kernel_ = kernel
        self._groups = list(groups.values())
        if isinstance(kernel, TreeKernel):
            names = (list(self.pipeline.feature_names_out), [s[0] for s in sources])
            kernel.bind(_group_of(self.pipeline), len(self._groups), names)

    def _check_fitted(self) -> Kernel:
        try:
            return self.kernel_
        except AttributeError:
            raise NotFittedError(
                "This Explainer is not fitted yet; call fit() first", estimator="Explainer"
            ) from None

    # -- explain -------------------------------------------------------------------------

    @property
    def base(self) -> float:
        """The base value (expected model output) on :attr:`scale`."""
        return float(self._check_fitted().base)

    @property
    def scale(self) -> str:
        """The output scale attributions add up on: margin, probability or raw."""
        return self._check_fitted().scale

    def explain_record(self, record: Mapping[str, Any]) -> Explanation:
        """Explain one dict record, without pandas; equal bit for bit to its batch row.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        SchemaError
            For a record the pipeline cannot transform, listing every problem of the
            record against the pipeline's input schema (as serving does).
        """
        kernel = self._check_fitted()
        try:
            x = self.pipeline.transform_record(record)
        except SchemaError:
            # As serving does: list every problem of the record against the input schema.
            if isinstance(record, Mapping):
                self.pipeline.input_schema.validate(record)
            raise
        error = None
        if type(kernel) is TreeKernel:  # the hot path first
            values, pred = kernel.attribute_one(x)
        elif isinstance(kernel, SamplingKernel):
            values, pred, se = kernel.attribute_one(x)
            error = dict(zip(self.columns_, se, strict=True))
        else:
            values, pred = (
                kernel.attribute_one(x, self._groups)
                if isinstance(kernel, LinearKernel)
                else kernel.attribute_one(x)
            )
        return Explanation(
            kernel.base,
            dict(zip(self.columns_, values, strict=True)),
            pred,
            kernel.scale,
            kernel.method,
            error,
        )

    def explain_batch(self, data: Any) -> Attributions:
        """Explain a batch (DataFrame, Table, or an iterable of them).

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        SchemaError
            For data the pipeline cannot transform.
        """
        kernel = self._check_fitted()
        features = self.pipeline.transform(data)
        error = None
        if isinstance(kernel, LinearKernel):
            values, pred = kernel.attribute(features, self._groups)
        elif isinstance(kernel, TreeKernel):
            values, pred = kernel.attribute(features)
        else:
            values, pred, error = kernel.attribute(features)
        return Attributions(
            values, list(self.columns_), kernel.base, pred, kernel.scale, kernel.method, error
        )

    def explain(self, data: Any) -> pd.DataFrame:
        """Attributions of a batch as a DataFrame, one column per raw input column.

        One row per input row (the DataFrame's index is kept); see :meth:`explain_batch`
        for the arrays, the base value and the predictions.
        """
        import pandas as pd  # noqa: PLC0415 - the record path never needs pandas

        index = data.index if isinstance(data, pd.DataFrame) else None
        return self.explain_batch(data).to_frame(index=index)

    def importance(self, data: Any) -> dict[str, float]:
        """Global importance: mean absolute attribution per raw column, largest first."""
        return self.explain_batch(data).importance()

    # -- state as data ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The fitted state (pipeline and model parameters) as versioned JSON-safe data.

        Needs neither the model nor the background to load: a serving process rebuilds
        the explainer from this alone.

        Raises
        ------
        ConfigError
            When the trees are too deep for a state :meth:`from_dict` would load (a
            chain of splits, e.g. a tree without ``max_depth`` on a staircase target):
            nothing is written that its own load refuses.
        """
        return self._state_dict(savable=True)

    def _state_dict(
        self, *, savable: bool, packed: bool = True, kernel_dict: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """:meth:`to_dict`; ``savable=False`` skips the load's size bound (fingerprints).

        ``packed=False`` gives the layout of formats 1, 2 and 4 (a JSON list per node
        field and tree), which :attr:`fingerprint` hashes, so a fingerprint does not
        depend on the format the state is saved in; ``kernel_dict`` is that layout's
        ``kernel`` field, when the caller built it.
        """
        kernel = self._check_fitted()
        if savable and isinstance(kernel, TreeKernel):
            excess = _forest_state.path_cells_excess(kernel.trees)
            if excess is not None:  # loading would refuse it: write nothing
                per_node, free = _forest_state.PATH_CELLS_PER_NODE, _forest_state.PATH_CELLS_FREE
                raise ConfigError(
                    f"this explainer's trees are too deep for a saved state: leaves x longest "
                    f"path ({excess}) exceeds {per_node} cells per node past "
                    f"{free}, the bound loading checks (a chain of splits, "
                    "e.g. a tree without max_depth on a staircase target). Limit the trees' "
                    "depth (max_depth) to save it; the fitted explainer itself works"
                )
        if packed and isinstance(kernel, TreeKernel):
            saved, version = _forest_state.dump(kernel), _state.PACKED_VERSION
        else:
            saved = kernel.to_dict() if kernel_dict is None else kernel_dict
            # Format 2 only where needed, so state without zero_as_missing stays
            # readable by a prodml that reads format 1.
            version = (
                _state.PATTERNS_VERSION
                if "feature_perturbation" in saved
                else _state.ZERO_AS_MISSING_VERSION
                if "zero_as_missing" in saved
                else _state.FORMAT_VERSION
            )
        return {
            "format_version": version,
            "kind": "Explainer",
            "method": kernel.method,
            "class_index": self.class_index,
            "pipeline": self.pipeline.to_dict(),
            "kernel": saved,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, model: Any = None) -> Explainer:
        """Rebuild a fitted explainer from :meth:`to_dict` output, validating every field.

        Parameters
        ----------
        d
            The saved state.
        model
            The model, for ``"sampling"`` explainers only (the exact methods keep every
            parameter they need in the state); else attach it later with
            :meth:`set_model`.

        Raises
        ------
        ConfigError
            Naming the first field that is missing, of the wrong type or out of range.
        """
        pipeline, kernel, class_index = _state.load(d, model)
        ex = cls(pipeline, model, class_index=class_index, method=cast("Method", kernel.method))
        if isinstance(kernel, InterventionalTreeKernel):
            ex.feature_perturbation = "interventional"
        ex._install(kernel)
        return ex

    def set_model(self, model: Any) -> Explainer:
        """Attach the model to a loaded ``"sampling"`` explainer (the exact ones need none).

        The model must give the saved base value on the saved background (to 1e-9): a
        different model is refused.

        Raises
        ------
        ConfigError
            For an exact explainer, a missing model (``None``) or a value that is not a
            model, or a model that is not the one fitted on.
        """
        kernel = self._check_fitted()
        if not isinstance(kernel, SamplingKernel):
            raise ConfigError(
                f"a {kernel.method!r} explainer keeps the model parameters it needs; only "
                "'sampling' explainers take a model",
                parameter="model",
            )
        _check_model(model)
        kernel.set_model(*output_function(model, self.class_index))
        self.model = model
        return self

    def to_json(self) -> str:
        """:meth:`to_dict` as canonical JSON text."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, s: str | bytes, *, model: Any = None) -> Explainer:
        """Rebuild a fitted explainer from :meth:`to_json` output (validated)."""
        return cls.from_dict(_state.parse_json(s), model=model)

    @property
    def fingerprint(self) -> str:
        """sha256 hex of the fitted state.

        Hashed in the layout of formats 1, 2 and 4 whatever format the state is saved
        in, so an explainer keeps the fingerprint it was registered with.
        """
        kernel = self._check_fitted()
        pieces = None
        if isinstance(kernel, TreeKernel):
            pieces = _forest_state.legacy_trees_json(kernel.trees)
        if pieces is None or not isinstance(kernel, TreeKernel):
            return fingerprint_spec(_json_safe(self._state_dict(savable=False, packed=False)))
        # The forest's text from its arrays, spliced where the slow path prints its lists.
        saved = kernel.to_dict(trees=False) | {"trees": _TREES_MARK}
        state = self._state_dict(savable=False, packed=False, kernel_dict=saved)
        head, tail = canonical_json(state).split(json.dumps(_TREES_MARK), 1)
        digest = hashlib.sha256(head.encode())
        for piece in pieces:
            digest.update(piece)
        digest.update(tail.encode())
        return digest.hexdigest()

    def __repr__(self) -> str:
        kernel = getattr(self, "kernel_", None)
        if kernel is None:
            return f"Explainer(model={type_name(self.model)}, fitted=False)"
        extra = (
            "feature_perturbation='interventional', "
            if isinstance(kernel, InterventionalTreeKernel)
            else ""
        )
        return (
            f"Explainer(method={kernel.method!r}, scale={kernel.scale!r}, {extra}"
            f"columns={len(self.columns_)})"
        )


def _json_safe(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with an infinite tree threshold as the string ``"Infinity"``/``"-Infinity"``.

    Trees trained on NaN split "every number left, NaN right" at an infinite threshold,
    which a JSON number cannot hold (state holding one was never saved before format 5,
    so no fingerprint changes).
    """
    trees = state["kernel"].get("trees")
    for tree in trees if isinstance(trees, list) else []:
        thresholds = tree["threshold"]
        if not all(math.isfinite(v) for v in thresholds):
            tree["threshold"] = [
                v if math.isfinite(v) else ("Infinity" if v > 0 else "-Infinity")
                for v in thresholds
            ]
    return state
