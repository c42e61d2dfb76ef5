"""Exact interventional TreeSHAP, vectorised over background rows and leaves.

Interventional TreeSHAP (``shap.TreeExplainer(model, data=background,
feature_perturbation="interventional")``) explains the model by the game ``v(S) =
mean over background rows b of f(x on S, b elsewhere)``. Each leaf of value ``v`` adds
``v`` to ``f`` of a hybrid row when the hybrid satisfies every feature on the leaf's
path. For one record ``x`` and one background row ``b``, split the path's features into
those only ``x`` satisfies (``A``), those only ``b`` satisfies (``B``) and the others:
if some feature is satisfied by neither, no hybrid reaches the leaf and it adds nothing;
else the hybrid reaches it exactly when its coalition holds all of ``A`` and none of
``B``, a game whose Shapley values are ``v (|A|-1)! |B|! / (|A|+|B|)!`` for each
feature in ``A`` and ``-v |A|! (|B|-1)! / (|A|+|B|)!`` for each in ``B``.

"Satisfies" is the test of the path-dependent kernel's leaf-path slots (``lo < x <=
hi``, or the route a NaN takes, LightGBM's zero-as-missing values read as NaN). Each
leaf's answer depends on a background row only through which slots the row satisfies,
so background rows are grouped by that pattern once, at fit: a record costs
``O(leaves x patterns x depth)`` elementwise numpy work, patterns at most the background
rows. A batch runs the record's code row by row, so a record gives the bits of its row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml.errors import ConfigError
from prodml.explain._trees import Tree, TreeKernel

__all__ = ["MAX_BACKGROUND", "InterventionalTreeKernel"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

MAX_BACKGROUND = 10_000  # background rows an interventional explainer keeps, at most


def _weights(depth: int) -> tuple[Floats, Floats]:
    """``(|A|-1)! |B|! / (|A|+|B|)!`` and ``|A|! (|B|-1)! / (|A|+|B|)!`` by ``[|A|, |B|]``."""
    wa, wb = np.zeros((depth + 1, depth + 1)), np.zeros((depth + 1, depth + 1))
    f = math.factorial
    for a in range(depth + 1):
        for b in range(depth + 1 - a):
            if a:
                wa[a, b] = f(a - 1) * f(b) / f(a + b)
            if b:
                wb[a, b] = f(a) * f(b - 1) / f(a + b)
    return wa, wb


class InterventionalTreeKernel(TreeKernel):
    """Tree-ensemble attribution state, interventional w.r.t. background rows.

    ``background`` holds the pipeline's output for the background rows (float64, as
    given: rounding to float32 and zero-as-missing are applied when read, as for a
    record). The base value is the mean model output over them.
    """

    feature_perturbation = "interventional"

    def __init__(  # noqa: PLR0917 - the saved fields, in their saved order
        self,
        trees: list[Tree],
        init: float,
        n_features: int,
        scale: str,
        float32: bool,
        zero_as_missing: list[int] | None,
        background: Floats,
    ) -> None:
        super().__init__(trees, init, n_features, scale, float32, zero_as_missing)
        self.table = None  # the path-dependent pattern table is not used here
        self.background = np.ascontiguousarray(background, dtype=np.float64)
        if self.background.ndim != 2 or not 0 < len(self.background) <= MAX_BACKGROUND:
            raise ConfigError(
                f"the background must have between 1 and {MAX_BACKGROUND} rows",
                parameter="background",
            )
        try:
            hit = self._hits(self._check(self.background))
        except ConfigError as e:
            raise ConfigError(f"in the background: {e}", parameter="background") from None
        m = hit.shape[0]
        reached = hit.all(axis=-1)  # (m, leaves)
        self.base = float(np.mean(init + np.where(reached, self.leaf_value, 0.0).sum(axis=1)))
        self._patterns, self._counts = _distinct_patterns(hit)
        self._wa, self._wb = _weights(self.depth)
        self._m = float(m)

    def _hits(self, X: Floats) -> Bools:  # noqa: N803
        """``(rows, leaves, depth)``: does the row satisfy each slot of each leaf's path."""
        xs = X[:, self.feat]
        hit: Bools = (xs > self.lo) & (xs <= self.hi)
        if self.routes_missing:
            hit |= np.isnan(xs) & self.nan
        return hit

    def _row(self, hit: Bools) -> tuple[Floats, float]:
        """Group attributions and model output of one row, from its slot hits."""
        pat = self._patterns  # (patterns, leaves, depth)
        only_x = hit & ~pat
        only_b = pat & ~hit
        alive = (hit | pat).all(axis=-1)
        a = only_x.sum(axis=-1)
        b = only_b.sum(axis=-1)
        # Background rows per pattern times the leaf value, where some hybrid reaches it.
        w = np.where(alive, self._counts, 0.0) * self.leaf_value
        slot = (only_x * (self._wa[a, b] * w)[..., None]).sum(axis=0) - (
            only_b * (self._wb[a, b] * w)[..., None]
        ).sum(axis=0)
        phi = np.bincount(self._group.reshape(-1), slot.reshape(-1), minlength=self.n_groups)
        pred = self.init + float(np.where(hit.all(axis=-1), self.leaf_value, 0.0).sum())
        return phi / self._m, pred

    def attribute_one(self, x: Floats) -> tuple[list[float], float]:
        """One record: the same floats as its row of :meth:`attribute`."""
        phi, pred = self.attribute(x[None, :])
        return phi[0].tolist(), float(pred[0])

    def attribute(self, X: Floats) -> tuple[Floats, Floats]:  # noqa: N803
        """Grouped attributions ``(n, n_groups)`` and model outputs ``(n,)`` of a batch."""
        X = self._check(X)  # noqa: N806 - the feature matrix
        n = X.shape[0]
        phi, pred = np.zeros((n, self.n_groups)), np.empty(n)
        step = max(1, 4_000_000 // max(1, self.n_leaves * self.depth))
        for a in range(0, n, step):
            hits = self._hits(X[a : a + step])
            for i in range(hits.shape[0]):  # one record's code per row: the same bits
                phi[a + i], pred[a + i] = self._row(hits[i])
        return phi, pred

    def to_dict(self) -> dict[str, Any]:
        rows = self.background.tolist()
        if np.isnan(self.background).any():  # JSON has no NaN: a missing value is null
            rows = [[None if math.isnan(v) else v for v in r] for r in rows]
        return super().to_dict() | {
            "feature_perturbation": self.feature_perturbation,
            "background": rows,
        }


def _distinct_patterns(hit: Bools) -> tuple[Bools, Floats]:
    """Each leaf's distinct background hit patterns ``(P, leaves, depth)`` and counts.

    Leaves with fewer than ``P`` patterns are padded with count-0 patterns.
    """
    m, n_leaves, d = hit.shape
    if d > 62:  # no int64 code per pattern: keep every row (count 1)
        return hit, np.ones((m, n_leaves))
    code = (hit.astype(np.int64) << np.arange(d, dtype=np.int64)).sum(axis=-1)  # (m, L)
    code = np.sort(code, axis=0)
    new = np.ones(code.shape, dtype=bool)
    new[1:] = code[1:] != code[:-1]
    rank = np.cumsum(new, axis=0) - 1
    p = int(rank.max()) + 1
    cols = np.broadcast_to(np.arange(n_leaves), code.shape)
    uniq = np.zeros((p, n_leaves), dtype=np.int64)
    counts = np.zeros((p, n_leaves))
    uniq[rank, cols] = code
    np.add.at(counts, (rank, cols), 1.0)
    patterns = ((uniq[..., None] >> np.arange(d, dtype=np.int64)) & 1).astype(bool)
    return np.ascontiguousarray(patterns), counts
