"""Model-agnostic attributions: Shapley values of the raw columns, by permutation sampling.

The players are the raw input columns (a column's features move together), the value of a
coalition ``S`` is the model's mean output when the columns in ``S`` come from the record
and the others from a background row (interventional). For each of ``n_permutations``
seeded permutations of the columns (antithetic pairs: each permutation and its reverse),
and each background row, the columns are switched from background to record one by one
and each switch's change of output is that column's marginal contribution. The mean over
permutations and rows is an unbiased estimate of the column's Shapley value; its standard
error is the spread of the pair means over ``sqrt(pairs)``. Along each walk the changes add
up to ``f(record) - f(background row)``, so ``base + sum(values) == prediction`` holds
exactly (to rounding) whatever the sampling error.

For a model additive across columns (a linear model) every walk gives the exact answer;
otherwise the error shrinks as ``1 / sqrt(n_permutations)``. With few columns, when
``n_permutations`` is at least the number of their orders (``columns!``: 24 for 4
columns), every order is walked once: the values are then the exact Shapley values
w.r.t. the background rows, and their standard error 0. (A random draw of as many orders
repeats some and misses others; with few antithetic pairs their means can coincide and
state an error of 0 for a value that is off.)

The same permutations and background rows serve every record, and a record's evaluation
matrix is built the same way alone or in a batch, so a record gives the bits of its row.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = ["MAX_PERMUTATIONS", "SamplingKernel", "output_function"]

# factorial(10) is 3.6 million orders: beyond any sensible n_permutations.
_EXHAUSTIVE_UP_TO = 10
MAX_PERMUTATIONS = 10_000  # permutations a sampling explainer walks (and a state holds)
# Cells of the switch masks (permutations x (columns + 1) x features, a byte each) a
# sampling explainer may hold: a record's evaluation holds that many rows' worth per
# background row anyway.
MAX_SWITCH_CELLS = 1 << 27

Floats = npt.NDArray[np.float64]


def _class_of(model: Any, class_index: int | None) -> int:
    """The class whose output is explained: ``class_index``, or class 1 of a binary model."""
    n = len(model.classes_)
    k = (1 if n == 2 else None) if class_index is None else class_index
    if k is None or not 0 <= k < n:
        raise ConfigError(
            f"The 'class_index' parameter of Explainer must be an int in [0, {n}) for a "
            f"model with {n} classes. Got {short_repr(class_index)} instead.",
            parameter="class_index",
        )
    return k


def output_function(model: Any, class_index: int | None) -> tuple[Any, str]:
    """The model's output as a function of a feature matrix, and its scale."""
    proba = getattr(model, "predict_proba", None)
    if proba is not None and hasattr(model, "classes_"):
        k = _class_of(model, class_index)
        return (lambda X: np.asarray(proba(X), dtype=np.float64)[:, k]), "probability"  # noqa: N803
    decision = getattr(model, "decision_function", None)
    if decision is not None and hasattr(model, "classes_"):
        # A classifier without probabilities (SVC): its margin, not its hard labels.
        k = _class_of(model, class_index)

        def margin(X: Floats) -> Floats:  # noqa: N803
            out = np.asarray(decision(X), dtype=np.float64)
            if out.ndim == 1:  # binary: the margin of class 1
                return out.reshape(len(X)) if k == 1 else -out.reshape(len(X))
            return out[:, k]

        return margin, "margin"
    predict = getattr(model, "predict", None)
    if predict is None:
        raise ConfigError(
            "the sampling explainer needs a model with predict_proba or predict",
            parameter="model",
        )

    def raw(X: Floats) -> Floats:  # noqa: N803
        out = predict(X)
        try:
            return np.asarray(out, dtype=np.float64).reshape(len(X))
        except (TypeError, ValueError):
            raise ConfigError(
                "the sampling explainer needs numbers from the model's predict; it returned "
                f"{np.asarray(out).dtype} values (class labels?) and the model has no "
                "predict_proba or decision_function",
                parameter="model",
            ) from None

    return raw, "raw"


class SamplingKernel:
    """Seeded permutation-sampling state: background rows, permutations, column masks."""

    method = "sampling"

    def __init__(
        self,
        fn: Any,
        scale: str,
        background: Floats,
        permutations: npt.NDArray[np.int64],
        group_of: npt.NDArray[np.int64],
        *,
        base: float | None = None,
    ) -> None:
        self.fn: Any = fn
        self.scale = scale
        self.background = background
        self.permutations = permutations
        self.n_features: int = int(background.shape[1])
        self.n_groups: int = int(group_of.max()) + 1 if group_of.size else 0
        self.group_of = group_of
        # take[p, k, j]: after k switches along permutation p, feature j is the record's.
        n_perm, g = permutations.shape
        excess = switch_cells_excess(n_perm, g, self.n_features)
        if excess is not None:
            raise ConfigError(
                f"The 'n_permutations' parameter of Explainer gives {excess}: lower "
                f"n_permutations (a sampling explainer holds at most {MAX_PERMUTATIONS} "
                f"permutations, of at most {MAX_SWITCH_CELLS} switch cells)",
                parameter="n_permutations",
            )
        rank = np.empty_like(permutations)
        rank[np.arange(n_perm)[:, None], permutations] = np.arange(g)
        self.take: npt.NDArray[np.bool_] = rank[:, None, group_of] < np.arange(g + 1)[None, :, None]
        # Every order once: the mean over them is the Shapley value itself, not an estimate.
        self.exhaustive: bool = g >= 2 and n_perm == math.factorial(g) == len(
            {tuple(p) for p in permutations.tolist()}
        )
        self.base: float = (
            float(np.mean(self._f(background))) if fn is not None else float(base or 0.0)
        )

    def set_model(self, fn: Any, scale: str) -> None:
        """Attach the model (after a load): same output scale, same base value."""
        if scale != self.scale:
            raise ConfigError(
                f"the explainer was fitted on a model with {self.scale!r} outputs; this model "
                f"gives {scale!r}",
                parameter="model",
            )
        saved, self.fn = self.base, fn
        base = float(np.mean(self._f(self.background)))
        if abs(base - saved) > 1e-9 * max(1.0, abs(saved)):
            self.fn = None
            raise ConfigError(
                f"this model's mean output on the saved background is {base!r}, not the "
                f"saved base value {saved!r}: it is not the model the explainer was fitted on",
                parameter="model",
            )

    def _f(self, X: Floats) -> Floats:  # noqa: N803
        if self.fn is None:
            raise ConfigError(
                "a loaded 'sampling' explainer needs its model: call set_model(model) first",
                parameter="model",
            )
        out = np.asarray(self.fn(X), dtype=np.float64)
        if out.shape != (len(X),) or not np.isfinite(out).all():
            raise ConfigError(
                "the model's output for the sampling explainer must be one finite number per row",
                parameter="model",
            )
        return out

    def attribute_one(self, x: Floats) -> tuple[list[float], float, list[float]]:
        """Values, prediction and standard errors for one feature row."""
        n_perm, g = self.permutations.shape
        m, p = self.background.shape
        z = np.where(self.take[:, None, :, :], x, self.background[None, :, None, :])
        out = self._f(z.reshape(-1, p)).reshape(n_perm, m, g + 1)
        steps = (out[:, :, 1:] - out[:, :, :-1]).mean(axis=1)  # (perm, position)
        per_perm = np.empty((n_perm, g))
        per_perm[np.arange(n_perm)[:, None], self.permutations] = steps
        values = per_perm.mean(axis=0)
        pairs = per_perm.reshape(n_perm // 2, 2, g).mean(axis=1)
        if self.exhaustive or len(pairs) < 2:
            se = values * 0
        else:
            se = pairs.std(axis=0, ddof=1) / math.sqrt(len(pairs))
        return values.tolist(), float(out[0, 0, g]), se.tolist()

    def attribute(self, X: Floats) -> tuple[Floats, Floats, Floats]:  # noqa: N803
        """Values ``(n, groups)``, predictions ``(n,)`` and standard errors of a batch."""
        n = len(X)
        values, se = np.empty((n, self.n_groups)), np.empty((n, self.n_groups))
        pred = np.empty(n)
        for i in range(n):
            v, out, s = self.attribute_one(X[i])
            values[i], pred[i], se[i] = v, out, s
        return values, pred, se

    def to_dict(self) -> dict[str, Any]:
        return {
            "background": self.background.tolist(),
            "permutations": self.permutations.tolist(),
            "scale": self.scale,
            "base": self.base,
        }


def switch_cells_excess(n_permutations: int, n_groups: int, n_features: int) -> str | None:
    """What is over the bound when a sampling explainer's permutations are too many, or None.

    At most :data:`MAX_PERMUTATIONS` permutations, and their switch masks at most
    :data:`MAX_SWITCH_CELLS` cells: checked where the explainer is built and where its
    state is loaded, with the same numbers, so every state prodml saves loads.
    """
    if n_permutations > MAX_PERMUTATIONS:
        return f"{n_permutations} permutations, more than {MAX_PERMUTATIONS}"
    cells = n_permutations * (n_groups + 1) * n_features
    if cells > MAX_SWITCH_CELLS:
        return (
            f"{n_permutations} permutations x {n_groups + 1} steps x {n_features} features "
            f"= {cells} switch cells, more than {MAX_SWITCH_CELLS}"
        )
    return None


def draw_permutations(n_groups: int, n_permutations: int, seed: int) -> npt.NDArray[np.int64]:
    """``n_permutations`` seeded permutations of the groups, in antithetic pairs.

    When there are no more orders of the groups than ``n_permutations``, every order is
    taken once instead (each with its reverse next to it): the values are then exact,
    where a random draw of as many would repeat some orders and miss others.
    """
    if n_groups <= _EXHAUSTIVE_UP_TO and math.factorial(n_groups) <= n_permutations:
        if n_groups == 1:
            return np.zeros((2, 1), dtype=np.int64)
        firsts = [p for p in itertools.permutations(range(n_groups)) if p < p[::-1]]
        return np.array([q for p in firsts for q in (p, p[::-1])], dtype=np.int64)
    rng = np.random.default_rng(seed)
    half = [rng.permutation(n_groups) for _ in range(n_permutations // 2)]
    return np.array([p for h in half for p in (h, h[::-1])], dtype=np.int64).reshape(
        n_permutations, n_groups
    )


def sample_background(background: Floats, n_background: int, seed: int) -> Floats:
    """At most ``n_background`` rows of the background, seeded (all of them if fewer)."""
    if len(background) <= n_background:
        return np.ascontiguousarray(background)
    rows = np.sort(np.random.default_rng(seed).choice(len(background), n_background, replace=False))
    return np.ascontiguousarray(background[rows])
