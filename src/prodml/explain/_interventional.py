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
the bits of its row. The pairs (:class:`Patterns`) are what the state saves (format 4),
so a load does not group the rows again. A code is one int64: a leaf's path may split
on at most ``MAX_CODE_BITS`` distinct features (a deeper one is refused).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml.errors import ConfigError
from prodml.explain import _tree_jit
from prodml.explain._trees import TreeKernel

__all__ = ["MAX_BACKGROUND", "MAX_CODE_BITS", "InterventionalTreeKernel", "Patterns"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

MAX_BACKGROUND = 10_000  # background rows an interventional explainer keeps, at most
MAX_CODE_BITS = 62  # distinct features a leaf's path may split on: its slots code in an int64
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


@dataclass(frozen=True)
class Patterns:
    """What the fit keeps of the background rows: each leaf's distinct patterns.

    ``leaf`` (non-decreasing), ``code`` (the bit code of the slots a pattern satisfies,
    increasing within a leaf) and ``count`` (background rows with that pattern, float64
    as the weights multiply it) are one entry per (leaf, pattern) pair, leaf-major;
    ``n_background`` is the number of background rows and ``base`` their mean model
    output. Format 4 saves these, so a load does not group the rows again.
    """

    leaf: Ints
    code: Ints
    count: Floats
    n_background: int
    base: float


def check_code_bits(tree: TreeKernel) -> None:
    """Refuse paths of more distinct features than one int64 codes (``MAX_CODE_BITS``)."""
    if tree.depth > MAX_CODE_BITS:
        raise ConfigError(
            f"interventional TreeSHAP codes the slots of a leaf's path in {MAX_CODE_BITS} "
            f"bits, and this model has a leaf whose path splits on {tree.depth} distinct "
            f"features: limit the trees' depth (max_depth <= {MAX_CODE_BITS}), or use "
            "feature_perturbation='tree_path_dependent'",
            parameter="feature_perturbation",
        )


def fit_patterns(tree: TreeKernel, background: Floats) -> Patterns:
    """Group the background rows by the slots they satisfy on each leaf (the fit).

    A block at a time (at most :data:`FIT_CELLS` cells: rows x leaves x slots for the
    base value, rows x leaves for the patterns), with the bits of one pass.
    """
    bg = tree._check(background)
    m, d = bg.shape[0], tree.depth
    cells = max(1, tree.n_leaves * d)
    sums = np.empty(m)  # each background row's model output less init
    step = max(1, FIT_CELLS // cells)
    for a in range(0, m, step):
        reached = tree._hits(bg[a : a + step]).all(axis=-1)  # (rows, leaves)
        # Leaves added in order, whatever the block's rows (a plain sum is pairwise on
        # one row, in order on several): the bits of one pass over every row.
        out = np.where(reached, tree.leaf_value, 0.0)
        sums[a : a + step] = np.add.accumulate(out, axis=1)[:, -1]
    base = float(np.mean(tree.init + sums))
    # Each leaf's patterns depend on that leaf alone: blocks of leaves give one pass's.
    block = max(1, FIT_CELLS // max(1, m * max(1, d)))
    leaves, codes, counts = [], [], []
    for l0 in range(0, tree.n_leaves, block):
        cut = slice(l0, min(l0 + block, tree.n_leaves))
        code = np.sort(_codes(tree, bg, cut).T, axis=1)  # (leaves in block, m)
        new = np.ones(code.shape, dtype=bool)
        new[:, 1:] = code[:, 1:] != code[:, :-1]
        starts = np.flatnonzero(new)
        counts.append(np.diff(np.append(starts, code.size)).astype(np.float64))
        leaves.append(starts // m + l0)
        codes.append(code.reshape(-1)[starts])
    return Patterns(np.concatenate(leaves), np.concatenate(codes), np.concatenate(counts), m, base)


def _codes(tree: TreeKernel, X: Floats, cut: slice) -> Ints:  # noqa: N803
    """``(rows, leaves in cut)``: the bit code of the slots each row satisfies.

    Slot by slot, so no ``(rows, leaves, depth)`` array is held: the same integers
    as ``tree._hits(X)[:, cut].astype(np.int64) @ 2**arange(depth)``.
    """
    code = np.zeros((X.shape[0], cut.stop - cut.start), dtype=np.int64)
    for s in range(tree.depth):
        xs = X[:, tree.feat[cut, s]]
        hit = (xs > tree.lo[cut, s]) & (xs <= tree.hi[cut, s])
        if tree.routes_missing:
            hit |= np.isnan(xs) & tree.nan[cut, s]
        code |= hit.astype(np.int64) << s
    return code


class InterventionalTreeKernel(TreeKernel):
    """Tree-ensemble attribution state, interventional w.r.t. background rows.

    Built on the path-dependent kernel ``tree`` of the same trees (its leaf paths and
    settings), from ``background`` (the pipeline's output for the background rows,
    float64, as given: rounding to float32 and zero-as-missing are applied when read,
    as for a record) or from the ``patterns`` a fit keeps (a format-4 load; then
    :attr:`background` is None). The base value is the mean model output over the rows.
    """

    feature_perturbation = "interventional"

    def __init__(
        self,
        tree: TreeKernel,
        background: Floats | None = None,
        *,
        patterns: Patterns | None = None,
    ) -> None:
        if (background is None) == (patterns is None):
            raise TypeError("pass exactly one of the background rows and their fitted patterns")
        vars(self).update(vars(tree))
        self.table = None  # the path-dependent pattern table is not used here
        check_code_bits(self)
        self.background: Floats | None = None
        if patterns is None:
            bg = np.ascontiguousarray(background, dtype=np.float64)
            if bg.ndim != 2 or not 0 < len(bg) <= MAX_BACKGROUND:
                raise ConfigError(
                    f"the background must have between 1 and {MAX_BACKGROUND} rows",
                    parameter="background",
                )
            try:
                patterns = fit_patterns(self, bg)
            except ConfigError as e:
                raise ConfigError(f"in the background: {e}", parameter="background") from None
            self.background = bg
        self.patterns = patterns
        d = self.depth
        self._wa, self._wb = _weights(d)
        self._m = float(patterns.n_background)
        self.base = patterns.base
        self._pair_leaf = patterns.leaf
        self._pair_code = patterns.code
        self._pair_weight = patterns.count * self.leaf_value[patterns.leaf]
        self._pow2 = (1 << np.arange(d, dtype=np.int64)).astype(np.int64)
        self._full = np.int64((1 << d) - 1)
        self._bit = np.arange(d, dtype=np.int64)[:, None]

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
        kernels = _tree_jit.compiled() if self.jit else None
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

    def to_dict(self, *, trees: bool = True) -> dict[str, Any]:
        """Format 4: the trees, then the fitted patterns per tree (not the rows)."""
        p = self.patterns
        per_tree, pairs = [], []
        ends = np.cumsum([int((t.left < 0).sum()) for t in self.trees])
        cuts = np.searchsorted(p.leaf, ends)  # each tree's pairs end here (leaf-major)
        starts = np.concatenate([[0], ends[:-1]])
        first = np.concatenate([[0], cuts[:-1]])
        code_dtype, count_dtype = code_dtype_of(self.depth), count_dtype_of(p.n_background)
        for l0, l1, a, b in zip(starts, ends, first, cuts, strict=True):
            n = np.bincount(p.leaf[a:b] - l0, minlength=int(l1 - l0))
            per_tree.append(encode(n, count_dtype))
            pairs.append(
                {
                    "codes": encode(p.code[a:b], code_dtype),
                    "counts": encode(p.count[a:b], count_dtype),
                }
            )
        return super().to_dict(trees=trees) | {
            "feature_perturbation": self.feature_perturbation,
            "n_background": p.n_background,
            "base": p.base,
            "patterns": [{"per_leaf": n} | pair for n, pair in zip(per_tree, pairs, strict=True)],
        }


def count_dtype_of(n_background: int) -> str:
    """The dtype format 4 saves counts in (rows of a pattern, patterns of a leaf: <= m)."""
    return "<u1" if n_background <= 0xFF else "<u2"  # MAX_BACKGROUND < 2**16


def code_dtype_of(depth: int) -> str:
    """The little-endian unsigned dtype format 4 saves codes of ``depth`` slots in."""
    return next(f"<u{n}" for n in (1, 2, 4, 8) if depth <= 8 * n)


def encode(values: npt.NDArray[Any], dtype: str) -> str:
    """Base64 of the values as little-endian ``dtype`` bytes (as drift profiles save)."""
    return base64.b64encode(np.ascontiguousarray(values).astype(dtype).tobytes()).decode()


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def _popcount(x: Ints) -> Ints:
    """Set bits of each non-negative int64 (numpy < 2 has no ``bitwise_count``)."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        return np.asarray(count(x), dtype=np.int64)
    return _BYTE_BITS[np.ascontiguousarray(x).view(np.uint8).reshape(-1, 8)].sum(axis=1)
