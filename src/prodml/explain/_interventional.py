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
so background rows are grouped by that pattern (an int bit code) once, at fit: a record
costs ``O(pairs x depth)`` elementwise numpy work, ``pairs`` the distinct (leaf,
pattern) pairs, at most leaves x background rows; with numba (the ``fast`` extra) the
pairs run compiled (:func:`~prodml.explain._tree_jit.run_interventional`), equal to the
numpy path to rounding. A batch runs the record's code row by row, so a record gives
the bits of its row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml.errors import ConfigError
from prodml.explain import _tree_jit
from prodml.explain._trees import Tree, TreeKernel

__all__ = ["MAX_BACKGROUND", "InterventionalTreeKernel"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

MAX_BACKGROUND = 10_000  # background rows an interventional explainer keeps, at most
MAX_CODE_BITS = 62  # slots per path coded in one int64; deeper paths use boolean patterns
FIT_CELLS = 1 << 24  # row x leaf (x slot) cells of one block of the fit: bounds its memory


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
            bg = self._check(self.background)
        except ConfigError as e:
            raise ConfigError(f"in the background: {e}", parameter="background") from None
        m = bg.shape[0]
        self._wa, self._wb = _weights(self.depth)
        self._m = float(m)
        self._coded = self.depth <= MAX_CODE_BITS
        cells = max(1, self.n_leaves * self.depth)
        sums = np.empty(m)  # each background row's model output less init
        step = max(1, FIT_CELLS // cells)
        for a in range(0, m, step):
            reached = self._hits(bg[a : a + step]).all(axis=-1)  # (rows, leaves)
            # Leaves added in order, whatever the block's rows (a plain sum is pairwise
            # on one row, in order on several): the bits of one pass over every row.
            out = np.where(reached, self.leaf_value, 0.0)
            sums[a : a + step] = np.add.accumulate(out, axis=1)[:, -1]
        self.base = float(np.mean(init + sums))
        if self._coded:
            self._pairs(bg)
        else:  # no int64 code per pattern: every background row is its own pattern
            self._patterns, self._counts = self._hits(bg), np.ones((m, self.n_leaves))

    def _pairs(self, bg: Floats) -> None:
        """Each leaf's distinct background patterns (int codes, leaf-major) and counts.

        Built a block of leaves at a time (at most :data:`FIT_CELLS` row x leaf cells):
        each leaf's patterns depend on that leaf alone, so the blocks give the arrays of
        one pass, in bounded memory.
        """
        m, d = bg.shape[0], self.depth
        block = max(1, FIT_CELLS // max(1, m * max(1, d)))
        leaves, codes, weights = [], [], []
        for l0 in range(0, self.n_leaves, block):
            cut = slice(l0, min(l0 + block, self.n_leaves))
            code = np.sort(self._codes(bg, cut).T, axis=1)  # (leaves in block, m)
            new = np.ones(code.shape, dtype=bool)
            new[:, 1:] = code[:, 1:] != code[:, :-1]
            starts = np.flatnonzero(new)
            counts = np.diff(np.append(starts, code.size)).astype(np.float64)
            leaf = starts // m + l0
            leaves.append(leaf)
            codes.append(code.reshape(-1)[starts])
            weights.append(counts * self.leaf_value[leaf])  # background rows x leaf value
        self._pair_leaf = np.concatenate(leaves)
        self._pair_code = np.concatenate(codes)
        self._pair_weight = np.concatenate(weights)
        self._pow2 = (1 << np.arange(d, dtype=np.int64)).astype(np.int64)
        self._full = np.int64((1 << d) - 1)
        self._bit = np.arange(d, dtype=np.int64)[:, None]

    def _codes(self, X: Floats, cut: slice) -> Ints:  # noqa: N803
        """``(rows, leaves in cut)``: the bit code of the slots each row satisfies.

        Slot by slot, so no ``(rows, leaves, depth)`` array is held: the same integers
        as ``self._hits(X)[:, cut].astype(np.int64) @ self._pow2``.
        """
        code = np.zeros((X.shape[0], cut.stop - cut.start), dtype=np.int64)
        for s in range(self.depth):
            xs = X[:, self.feat[cut, s]]
            hit = (xs > self.lo[cut, s]) & (xs <= self.hi[cut, s])
            if self.routes_missing:
                hit |= np.isnan(xs) & self.nan[cut, s]
            code |= hit.astype(np.int64) << s
        return code

    def bind(
        self, group_of: Ints, n_groups: int, names: tuple[list[str], list[str]] | None = None
    ) -> None:
        super().bind(group_of, n_groups, names)
        self._pair_group: Ints | None = None  # built by the numpy path, on first use

    def _pair_groups(self) -> Ints:
        """The group of slot s of each pair's leaf, slot-major (the numpy path's sums).

        ``pairs x depth`` integers: built only when the numpy path runs (the compiled
        kernel reads the groups through each pair's leaf), then kept.
        """
        if self._pair_group is None:
            groups = self._group[self._pair_leaf]
            self._pair_group = np.ascontiguousarray(groups.T).reshape(-1)
        return self._pair_group

    def _row(self, hit: Bools) -> tuple[Floats, float]:
        """Group attributions and model output of one row, from its slot hits."""
        pred = self.init + float(np.where(hit.all(axis=-1), self.leaf_value, 0.0).sum())
        if not self._coded:
            return self._row_patterns(hit), pred
        xc = (hit.astype(np.int64) @ self._pow2)[self._pair_leaf]  # integer: exact
        u = self._pair_code
        only_x, only_b = xc & ~u, u & ~xc
        a, b = _popcount(only_x), _popcount(only_b)
        # Some hybrid reaches the leaf only when every slot is satisfied by x or by b.
        w = np.where((xc | u) == self._full, self._pair_weight, 0.0)
        wa, wb = self._wa[a, b] * w, self._wb[a, b] * w
        vals = ((only_x >> self._bit) & 1) * wa - ((only_b >> self._bit) & 1) * wb  # (d, N)
        phi = np.bincount(self._pair_groups(), vals.reshape(-1), minlength=self.n_groups)
        return phi / self._m, pred

    def _row_patterns(self, hit: Bools) -> Floats:
        """As :meth:`_row`, on boolean patterns (paths of more than MAX_CODE_BITS slots)."""
        pat = self._patterns  # (rows, leaves, depth)
        only_x = hit & ~pat
        only_b = pat & ~hit
        alive = (hit | pat).all(axis=-1)
        a = only_x.sum(axis=-1)
        b = only_b.sum(axis=-1)
        w = np.where(alive, self._counts, 0.0) * self.leaf_value
        slot = (only_x * (self._wa[a, b] * w)[..., None]).sum(axis=0) - (
            only_b * (self._wb[a, b] * w)[..., None]
        ).sum(axis=0)
        phi = np.bincount(self._group.reshape(-1), slot.reshape(-1), minlength=self.n_groups)
        return phi / self._m

    def attribute_one(self, x: Floats) -> tuple[list[float], float]:
        """One record: the same floats as its row of :meth:`attribute`."""
        phi, pred = self.attribute(x[None, :])
        return phi[0].tolist(), float(pred[0])

    def attribute(self, X: Floats) -> tuple[Floats, Floats]:  # noqa: N803
        """Grouped attributions ``(n, n_groups)`` and model outputs ``(n,)`` of a batch.

        With numba (the ``fast`` extra) the pairs run compiled, row by row; else in
        numpy, row by row. Either way a record gives the bits of its batch row.
        """
        X = self._check(X)  # noqa: N806 - the feature matrix
        n = X.shape[0]
        phi, pred = np.zeros((n, self.n_groups)), np.empty(n)
        kernels = _tree_jit.compiled() if self.jit and self._coded else None
        step = max(1, 4_000_000 // max(1, self.n_leaves * self.depth))
        for a in range(0, n, step):
            hits = self._hits(X[a : a + step])
            if kernels is not None:
                reached = np.where(hits.all(axis=-1), self.leaf_value, 0.0)
                for i in range(hits.shape[0]):  # the same sum for a row alone or not
                    pred[a + i] = self.init + float(reached[i].sum())
                kernels["interventional"](
                    np.ascontiguousarray(hits.astype(np.int64) @ self._pow2),
                    self._pair_leaf, self._pair_code, self._pair_weight,
                    self._group, self._full, self._wa, self._wb, phi[a : a + step],
                )  # fmt: skip
                continue
            for i in range(hits.shape[0]):  # one record's code per row: the same bits
                phi[a + i], pred[a + i] = self._row(hits[i])
        if kernels is not None:
            phi /= self._m
        return phi, pred

    def to_dict(self) -> dict[str, Any]:
        rows = self.background.tolist()
        if np.isnan(self.background).any():  # JSON has no NaN: a missing value is null
            rows = [[None if math.isnan(v) else v for v in r] for r in rows]
        return super().to_dict() | {
            "feature_perturbation": self.feature_perturbation,
            "background": rows,
        }


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def _popcount(x: Ints) -> Ints:
    """Set bits of each non-negative int64 (numpy < 2 has no ``bitwise_count``)."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        return np.asarray(count(x), dtype=np.int64)
    return _BYTE_BITS[np.ascontiguousarray(x).view(np.uint8).reshape(-1, 8)].sum(axis=1)
