"""Exact path-dependent TreeSHAP for tree ensembles, vectorised over rows and leaves.

Path-dependent TreeSHAP (``shap.TreeExplainer``'s default when it is given no background
data) explains a tree by the game ``v(S) = sum over leaves of value * prod_{j in S} o_j *
prod_{j not in S} z_j``, where for each distinct feature ``j`` on the leaf's path ``o_j`` is
1 when the row satisfies every split of ``j`` on the path (else 0) and ``z_j`` is the
product of the training cover ratios of those splits. Each leaf is a *product game*, whose
Shapley values have a closed form: with ``P(t) = prod_j (z_j + o_j t)`` and ``Q_i = P /
(z_i + o_i t)``, ``phi_i = value * (o_i - z_i) * sum_k Q_i[k] * k! (d-1-k)! / d!``.
Padding a path with null players (``o = z = 1``) changes nothing, so every leaf of every
tree is padded to the same depth and all of them are evaluated at once in numpy. When
leaves are shallow, the per-leaf answers for all ``2**d`` satisfaction patterns are
tabulated once, and a row costs a gather.

A model that routes missing values itself (scikit-learn's trees and HistGradientBoosting,
XGBoost, LightGBM) records, per split, the side a NaN takes. A path's slot then also says
whether a NaN satisfies it (every split of that feature on the path sends NaN to the
leaf's side), so ``o_j`` for a NaN feature is that flag: the game, its closed form and
its additivity are unchanged, and a NaN row reaches the leaf the model's ``predict``
reaches. A model that defines no route for NaN keeps refusing it, naming the column.
LightGBM's ``zero_as_missing=True`` also sends 0 (``|x| <= 1e-35``, its kZeroThreshold)
along the missing route of the features it splits that way: those values are read as
NaN before the kernel, so they take the same route as a NaN.

Only the elementwise arithmetic above and one ordered scatter (``np.add.at``) touch a
row, so a single record gives the bits of its row of a batch.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.explain import _tree_jit
from prodml.explain._linear import output_scale

__all__ = ["Tree", "TreeKernel", "trees_from_model"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_TABLE_BUDGET = 4_000_000  # entries of the pattern table (leaves * 2**depth * depth)
_CHUNK_CELLS = 4_000_000  # rows * leaves * depth evaluated at once in a batch
# LightGBM's kZeroThreshold: ``const double kZeroThreshold = 1e-35f`` (a float widened).
ZERO_THRESHOLD = float(np.float32(1e-35))


class Tree:
    """One tree as flat node arrays (leaves: ``left == -1``; values already weighted).

    ``missing_left`` says, per node, whether a NaN goes to the left child; ``None`` when
    the model defines no route for NaN (then NaN is refused).
    """

    __slots__ = ("cover", "feature", "left", "missing_left", "right", "threshold", "value")

    def __init__(  # noqa: PLR0917 - the node arrays, in their saved order
        self,
        left: Ints,
        right: Ints,
        feature: Ints,
        threshold: Floats,
        cover: Floats,
        value: Floats,
        missing_left: Bools | None = None,
    ) -> None:
        self.left = left
        self.right = right
        self.feature = feature
        self.threshold = threshold
        self.cover = cover
        self.value = value
        self.missing_left = missing_left

    def to_dict(self) -> dict[str, list[Any]]:
        return {
            name: getattr(self, name).tolist()
            for name in self.__slots__
            if getattr(self, name) is not None
        }


def _edges(trees: list[Tree]) -> dict[str, Any]:
    """Per node of the forest, the edge from its parent (index ``n``: above a root).

    ``parent`` (``n`` for a root, and for ``n`` itself), ``feat`` (the split's feature;
    ``n_feat`` at a root: padding), ``lo``/``hi`` (the node's side of the split), ``z``
    (its cover over the parent's) and ``nan`` (whether a NaN takes that side); a root's
    edge holds the padding slot's values (``o = z = 1``, a NaN satisfies it).
    """
    sizes = np.array([len(t.left) for t in trees], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    n = int(sizes.sum())
    shift = np.repeat(starts, sizes)
    left = np.concatenate([t.left for t in trees])
    split = np.flatnonzero(left >= 0)
    to_left = left[split] + shift[split]
    to_right = np.concatenate([t.right for t in trees])[split] + shift[split]
    cover = np.concatenate([t.cover for t in trees])
    feature = np.concatenate([t.feature for t in trees])[split]
    n_feat = int(feature.max()) + 1 if split.size else 1
    threshold = np.concatenate([t.threshold for t in trees])[split]
    routes = np.concatenate(
        [t.missing_left if t.missing_left is not None else np.zeros(len(t.left), bool)
         for t in trees]
    )[split]  # fmt: skip
    parent = np.full(n + 1, n, dtype=np.int64)
    feat = np.full(n + 1, n_feat, dtype=np.int64)
    lo, hi, z = np.full(n + 1, -np.inf), np.full(n + 1, np.inf), np.ones(n + 1)
    nan = np.ones(n + 1, dtype=bool)
    positive = cover[split] > 0
    for child, is_left in ((to_left, True), (to_right, False)):
        parent[child], feat[child] = split, feature
        (hi if is_left else lo)[child] = threshold
        z[child] = np.divide(cover[child], cover[split], out=np.zeros(split.size), where=positive)
        nan[child] = routes if is_left else ~routes
    return {"parent": parent, "feat": feat, "lo": lo, "hi": hi, "z": z, "nan": nan,
            "n_feat": n_feat, "cover": cover, "starts": starts, "leaf": left < 0}  # fmt: skip


def leaf_paths(trees: list[Tree]) -> dict[str, Any]:
    """Every leaf of every tree with its path's distinct features, vectorised.

    Returns ``feat``, ``lo``, ``hi``, ``z``, ``nan`` (``(leaves, depth)``: per distinct
    feature on the path, in feature order, the interval ``lo < x <= hi`` of the leaf's
    side of every split on it, the product of those splits' cover ratios, and whether a
    NaN takes the leaf's side of all of them; padded with ``o = z = 1`` slots that a NaN
    satisfies too), ``length`` (distinct features per leaf), ``value`` and ``frac``
    (cover / root cover).

    Each node's edge from its parent is read once (:func:`_edges`); a path is the edges
    from its leaf up, sorted by (feature, level) in one sort of each row, and edges on
    one feature merge into the one nearest the leaf, in path order (their cover ratios
    are multiplied in that order).
    """
    e = _edges(trees)
    leaves = np.flatnonzero(e["leaf"])
    root = np.repeat(e["starts"], [int((t.left < 0).sum()) for t in trees])
    value = np.concatenate([t.value for t in trees])[leaves]
    frac = e["cover"][leaves] / e["cover"][root]
    parent, above = e["parent"], len(e["parent"]) - 1
    levels = [leaves]  # the nodes of each path from its leaf up, one level a step
    while True:
        up = parent[levels[-1]]
        if not (up < above).any():
            break
        levels.append(up)
    n, d = len(leaves), len(levels) - 1  # the last level holds roots only
    if d == 0:  # a forest of stumps: one padding slot per leaf
        return _padded_paths(n, 1, np.zeros(n, np.int64), value, frac)
    path = np.stack(levels[:d], axis=1)  # (leaves, d): the node below each edge
    bits = max(d - 1, 1).bit_length()
    key = (e["feat"][path] << bits) | np.arange(d)  # by feature, then from the leaf up
    key.sort(axis=1)
    live = key < (e["n_feat"] << bits)
    length = live.sum(axis=1)
    key = key[live]
    leaf = np.repeat(np.arange(n), length)
    node = path.reshape(-1)[leaf * d + (key & ((1 << bits) - 1))]
    feat = key >> bits
    first = np.ones(len(key), dtype=bool)  # an edge on a feature new to its path
    np.not_equal(feat[1:], feat[:-1], out=first[1:])
    first[1:] |= leaf[1:] != leaf[:-1]
    merged = {"feat": feat}
    if first.all():
        merged |= {name: e[name][node] for name in ("lo", "hi", "z", "nan")}
    else:  # merge the edges on one feature into its first (nearest the leaf)
        later = ~first
        run = (np.cumsum(first) - 1)[later]
        up, node, leaf = node[later], node[first], leaf[first]
        merged = {"feat": feat[first]}
        # In path order, from the leaf up (ufunc.at applies them in index order).
        ops = {"lo": np.maximum, "hi": np.minimum, "z": np.multiply, "nan": np.logical_and}
        for name, op in ops.items():
            merged[name] = e[name][node]
            op.at(merged[name], run, e[name][up])
        length = np.bincount(leaf, minlength=n)
    width = max(int(length.max()), 1)
    out = _padded_paths(n, width, length.astype(np.int64), value, frac)
    slots = np.arange(width) < length[:, None]  # each leaf's first `length` slots
    for name, values in merged.items():
        out[name][slots] = values
    return out


def _padded_paths(n: int, width: int, length: Ints, value: Floats, frac: Floats) -> dict[str, Any]:
    """``n`` leaves' path arrays of ``width`` padding slots (``o = z = 1``, NaN satisfies)."""
    shape = (n, width)
    return {
        "feat": np.zeros(shape, dtype=np.int64),
        "lo": np.full(shape, -np.inf),
        "hi": np.full(shape, np.inf),
        "z": np.ones(shape),
        "nan": np.ones(shape, dtype=bool),
        "length": length,
        "value": value,
        "frac": frac,
    }


def _nan_error(X: Floats, row: int, names: tuple[list[str], list[str]] | None) -> ConfigError:  # noqa: N803
    """A NaN the model defines no route for: name the feature, its raw column and the fix."""
    col = int(np.flatnonzero(np.isnan(X[row]))[0])
    where = ""
    if names is not None:
        features, columns = names
        where = f" (output {features[col]!r} of column {columns[col]!r})"
    return ConfigError(
        f"transformed feature {col} is NaN in row {row}{where}, and the model defines no "
        "route for missing values (scikit-learn's GradientBoosting, or a tree saved "
        "without one): impute it in the pipeline (steps.Impute), or use a model that "
        "routes missing values itself (HistGradientBoosting, scikit-learn >= 1.3 trees "
        "and forests, XGBoost, LightGBM)",
        parameter="model",
    )


def _weights(d: int) -> list[float]:
    return [math.factorial(k) * math.factorial(d - 1 - k) / math.factorial(d) for k in range(d)]


def _slot_values(a: Floats, z: Floats) -> Floats:
    """``(o_i - z_i) * sum_k w_k Q_i[k]`` for every slot ``i`` (last axis) of ``a``/``z``."""
    d = a.shape[-1]
    w = _weights(d)
    shape = np.broadcast_shapes(a.shape, z.shape)
    poly = [np.ones(shape[:-1])] + [np.zeros(shape[:-1]) for _ in range(d)]
    for s in range(d):
        zs, as_ = z[..., s], a[..., s]
        for k in range(s + 1, 0, -1):
            poly[k] = poly[k] * zs + poly[k - 1] * as_
        poly[0] = poly[0] * zs
    out = np.empty(shape)
    for i in range(d):
        zi, ai = z[..., i], a[..., i]
        # o_i = 1: divide P by (z_i + t), from the top coefficient down (stable: z_i <= 1).
        q = poly[d]
        total = q * w[d - 1]
        for k in range(d - 1, 0, -1):
            q = poly[k] - zi * q
            total = total + q * w[k - 1]
        # o_i = 0: P has no t**d term and divides by the constant z_i.
        safe = np.where(zi > 0, zi, 1.0)
        total0 = poly[0] / safe * w[0]
        for k in range(1, d):
            total0 = total0 + poly[k] / safe * w[k]
        out[..., i] = (ai - zi) * np.where(ai > 0, total, total0)
    return out


def _as_float32(X: Floats) -> Floats:  # noqa: N803
    """``X`` rounded to float32 as the model reads it (float64 again, for the kernel).

    A value beyond float32's range becomes an infinity, which takes the side of every
    split it exceeds, as the compiled record kernel reads it: quietly, on both paths.
    """
    with np.errstate(over="ignore"):
        return X.astype(np.float32).astype(np.float64)


class TreeKernel:
    """Fitted tree-ensemble attribution state (path-dependent TreeSHAP).

    ``routes_missing`` is true when every tree says where NaN goes: then NaN features
    are explained along the model's own route; otherwise they are refused.
    ``zero_as_missing`` lists the features (sorted indices) on which a value with
    ``|x| <= ZERO_THRESHOLD`` takes the missing route too (LightGBM's
    ``zero_as_missing=True``): such values are read as NaN. ``pattern_table=False``
    skips the table of every satisfaction pattern (a kernel that will not read it).
    """

    method = "tree"
    feat: Ints
    lo: Floats
    hi: Floats
    z: Floats
    nan: Bools

    def __init__(  # noqa: PLR0917 - the saved fields, in their saved order
        self,
        trees: list[Tree],
        init: float,
        n_features: int,
        scale: str,
        float32: bool,
        zero_as_missing: list[int] | None = None,
        *,
        pattern_table: bool = True,
    ) -> None:
        self.trees = trees
        self.zero_as_missing: list[int] | None = (
            sorted(zero_as_missing) if zero_as_missing else None
        )
        self._zero_cols: Ints | None = (
            None if self.zero_as_missing is None else np.array(self.zero_as_missing, np.int64)
        )
        self.init = init
        self.n_features = n_features
        self.scale = scale
        self.float32 = float32
        self.jit = True  # use the compiled kernels when numba is installed
        self.routes_missing: bool = all(t.missing_left is not None for t in trees)
        self.names: tuple[list[str], list[str]] | None = None
        paths = leaf_paths(trees)
        feat, lo, hi, z = paths["feat"], paths["lo"], paths["hi"], paths["z"]
        n_leaves, d = feat.shape
        # In leaf order, one addition at a time (accumulate is sequential, not pairwise).
        terms = np.concatenate([[float(init)], paths["value"] * paths["frac"]])
        self.base: float = float(np.add.accumulate(terms)[-1])
        self.depth = d
        self.feat, self.lo, self.hi, self.z = feat, lo, hi, z
        self.nan = paths["nan"]
        self.leaf_value: Floats = paths["value"]
        self.length: Ints = paths["length"]
        self.n_leaves = n_leaves
        self.table: Floats | None = None
        if pattern_table and n_leaves * (2**d) * d <= _TABLE_BUDGET:
            bits = (np.arange(2**d)[:, None] >> np.arange(d)) & 1  # (patterns, d)
            pattern = np.broadcast_to(bits[None, :, :], (n_leaves, 2**d, d)).astype(np.float64)
            self.table = _slot_values(pattern, z[:, None, :]) * self.leaf_value[:, None, None]
            self._pow2 = (1 << np.arange(d)).astype(np.int64)

    def _check(self, X: Floats) -> Floats:  # noqa: N803
        if X.shape[1] != self.n_features:
            raise ConfigError(
                f"the tree model reads {self.n_features} features; the pipeline gives {X.shape[1]}",
                parameter="model",
            )
        if not self.routes_missing and np.isnan(X).any():
            raise _nan_error(X, int(np.argwhere(np.isnan(X))[0][0]), self.names)
        X = _as_float32(X) if self.float32 else X  # noqa: N806
        return self._zeros_as_nan(X)

    def _zeros_as_nan(self, X: Floats) -> Floats:  # noqa: N803
        """``X`` with the zeros of the ``zero_as_missing`` features read as NaN (a copy).

        The test reads each value as the model does (rounded to float32 when it reads
        float32), so a record mapped here before the compiled kernel rounds it gives the
        bits of its row of a batch, which is rounded first.
        """
        cols = self._zero_cols
        if cols is None:
            return X
        sub = X[:, cols]
        seen = _as_float32(sub) if self.float32 else sub
        zero = np.abs(seen) <= ZERO_THRESHOLD
        if not zero.any():
            return X
        out = X.copy()
        out[:, cols] = np.where(zero, np.nan, sub)
        return out

    def bind(
        self, group_of: Ints, n_groups: int, names: tuple[list[str], list[str]] | None = None
    ) -> None:
        """Set the group (raw column) of each feature that attributions are summed into.

        Keeps where each (leaf, slot) value goes, then each leaf's output (after the
        groups). Padding slots go to the group of feature 0: their attribution is 0.
        ``names`` (each feature's name and raw column) only name a refused NaN.
        """
        self.names = names
        slots = group_of[self.feat]
        self.n_groups = n_groups
        self._group = np.ascontiguousarray(slots)
        # Shapley weights of a leaf with d distinct features: row d, entries k < d.
        table = np.zeros((self.depth + 1, self.depth))
        for d in range(1, self.depth + 1):
            table[d, :d] = _weights(d)
        self._weights = table
        self._index = np.concatenate(
            [slots.reshape(-1), np.full(self.n_leaves, n_groups, dtype=np.int64)]
        )
        # The compiled table kernel's flat, interleaved layout (see _tree_jit.run_table).
        pairs = np.stack([self.feat, slots], axis=-1).reshape(-1)
        self._slots = np.ascontiguousarray(pairs.astype(np.uint64))
        self._bounds = np.ascontiguousarray(np.stack([self.lo, self.hi], axis=-1).reshape(-1))
        self._nan_flat = np.ascontiguousarray(self.nan.reshape(-1))
        self._flat_table = None if self.table is None else self.table.reshape(-1)
        self._out_one = np.zeros((1, n_groups + 1))
        self._out_one[0, n_groups] = self.init

    def _run_compiled(self, kernels: dict[str, Any], X: Floats) -> Any:  # noqa: N803
        n = X.shape[0]
        if self.table is not None:
            out = np.zeros((n, self.n_groups + 1))
            out[:, self.n_groups] = self.init
            bad = kernels["table"](
                X, False, self._slots, self._bounds, self._nan_flat, self.routes_missing,
                self._flat_table, self.leaf_value, out,
            )  # fmt: skip
            if bad >= 0:
                raise _nan_error(X, bad, self.names)
            return out[:, : self.n_groups].copy(), out[:, self.n_groups].copy()
        phi = np.zeros((n, self.n_groups))
        pred = np.full(n, self.init)
        bad = kernels["poly"](
            X,
            self.feat,
            self.lo,
            self.hi,
            self.nan,
            self.routes_missing,
            self.z,
            self.length,
            self._weights,
            self._group,
            self.leaf_value,
            phi,
            pred,
        )
        if bad >= 0:
            raise _nan_error(X, bad, self.names)
        return phi, pred

    def attribute_one(self, x: Floats) -> tuple[list[float], float]:
        """One record: the same floats as its row of :meth:`attribute`."""
        kernels = _tree_jit.compiled() if self.jit else None
        if kernels is None or x.shape[0] != self.n_features or self.table is None:
            phi, pred = self.attribute(x[None, :])
            return phi[0].tolist(), float(pred[0])
        # The table kernel on the raw row: it rounds to float32 itself (the hot path).
        row = self._zeros_as_nan(x[None, :])
        out = self._out_one.copy()
        bad = kernels["table"](
            row, self.float32, self._slots, self._bounds, self._nan_flat, self.routes_missing,
            self._flat_table, self.leaf_value, out,
        )  # fmt: skip
        if bad >= 0:
            raise _nan_error(row, 0, self.names)
        values: list[float] = out.tolist()[0]
        return values, values.pop()

    def _hits(self, X: Floats) -> Bools:  # noqa: N803
        """``(rows, leaves, depth)``: does the row satisfy each slot of each leaf's path."""
        xs = X[:, self.feat]
        hit: Bools = (xs > self.lo) & (xs <= self.hi)
        if self.routes_missing:
            hit |= np.isnan(xs) & self.nan
        return hit

    def _contributions(self, X: Floats) -> Floats:  # noqa: N803
        """``(rows, leaves * depth + leaves)``: slot attributions, then leaf outputs."""
        hit = self._hits(X)
        if self.table is not None:
            code = hit.astype(np.int64) @ self._pow2  # integer: exact
            slots = self.table[np.arange(self.n_leaves), code]
        else:
            slots = _slot_values(hit.astype(np.float64), self.z) * self.leaf_value[:, None]
        reached = np.where(hit.all(axis=-1), self.leaf_value, 0.0)
        n = X.shape[0]
        return np.concatenate([slots.reshape(n, -1), reached], axis=1)

    def attribute(self, X: Floats) -> tuple[Floats, Floats]:  # noqa: N803
        """Grouped attributions ``(n, n_groups)`` and model outputs ``(n,)`` of a batch."""
        X = self._check(X)  # noqa: N806 - the feature matrix
        n = X.shape[0]
        kernels = _tree_jit.compiled() if self.jit else None
        if kernels is not None:
            return self._run_compiled(kernels, np.ascontiguousarray(X))
        n_groups, index = self.n_groups, self._index
        acc = np.zeros((n_groups + 2, n))
        acc[n_groups] = self.init
        step = max(1, _CHUNK_CELLS // max(1, self.n_leaves * self.depth))
        for a in range(0, n, step):
            c = self._contributions(X[a : a + step])
            np.add.at(acc[:, a : a + step], index, c.T)
        return acc[:n_groups].T.copy(), acc[n_groups].copy()

    def to_dict(self, *, trees: bool = True) -> dict[str, Any]:
        """Formats 1 and 2's ``kernel`` field (``trees=False``: without ``"trees"``)."""
        out: dict[str, Any] = {"trees": [t.to_dict() for t in self.trees]} if trees else {}
        out |= {
            "init": self.init,
            "n_features": self.n_features,
            "scale": self.scale,
            "float32": self.float32,
        }
        if self.zero_as_missing is not None:
            out["zero_as_missing"] = self.zero_as_missing
        return out


def _predicts_nan(model: Any, n_features: int) -> bool:
    """Whether the model's ``predict`` takes a row of NaN (it then routes NaN itself).

    scikit-learn >= 1.3 trees and forests do, whether or not they saw NaN in training;
    GradientBoosting and older trees refuse NaN, and so does their explainer.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict(np.full((1, n_features), np.nan))
    except (ValueError, TypeError):
        return False
    return True


def _sk_tree(tree: Any, value: Floats, weight: float, routes_missing: bool) -> Tree:
    missing = getattr(tree, "missing_go_to_left", None) if routes_missing else None
    return Tree(
        np.asarray(tree.children_left, dtype=np.int64),
        np.asarray(tree.children_right, dtype=np.int64),
        np.maximum(np.asarray(tree.feature, dtype=np.int64), 0),
        np.asarray(tree.threshold, dtype=np.float64),
        np.asarray(tree.weighted_n_node_samples, dtype=np.float64),
        np.asarray(value, dtype=np.float64) * weight,
        None if missing is None else np.asarray(missing).astype(bool),
    )


def _class_column(n_out: int, class_index: int | None, binary_default: int) -> int:
    if class_index is None:
        if n_out == 2 and binary_default >= 0:
            return binary_default
        if n_out == 1:
            return 0
        raise ConfigError(
            f"The 'class_index' parameter of Explainer must be an int in [0, {n_out}) for a "
            f"model with {n_out} outputs. Got None instead.",
            parameter="class_index",
        )
    if not isinstance(class_index, int) or not 0 <= class_index < n_out:
        raise ConfigError(
            f"The 'class_index' parameter of Explainer must be an int in [0, {n_out}). "
            f"Got {short_repr(class_index)} instead.",
            parameter="class_index",
        )
    return class_index


def _forest(model: Any, class_index: int | None) -> TreeKernel:
    estimators = list(getattr(model, "estimators_", [model]))
    first = estimators[0].tree_
    n_out = first.value.shape[2] if hasattr(model, "classes_") else first.value.shape[1]
    k = _class_column(n_out, class_index, 1)
    w = 1.0 / len(estimators)
    routes = _predicts_nan(model, int(model.n_features_in_))
    trees = []
    for est in estimators:
        v = est.tree_.value
        col = v[:, 0, k] if hasattr(model, "classes_") else v[:, k, 0]
        trees.append(_sk_tree(est.tree_, col, w, routes))
    scale = "probability" if hasattr(model, "classes_") else "raw"
    return TreeKernel(trees, 0.0, int(model.n_features_in_), scale, True)


def _gradient_boosting(model: Any, class_index: int | None) -> TreeKernel:
    init_model = getattr(model, "init", None)
    if not (
        init_model is None
        or isinstance(init_model, str)  # "zero"
        or type(init_model).__module__.startswith("sklearn.dummy")
    ):
        # The boosting starts from that model's prediction, which depends on the
        # features: it is not a constant the trees add to, and the trees alone do not
        # give the model's output.
        raise ConfigError(
            f"{type(model).__name__} with init={type(init_model).__name__}(...) is not "
            "supported by the tree explainer: its starting prediction depends on the "
            "features. Use method='sampling' (with background=...), or init=None",
            parameter="model",
        )
    n_out = model.estimators_.shape[1]
    k = _class_column(n_out, class_index, -1) if n_out > 1 else 0
    lr = float(model.learning_rate)
    routes = _predicts_nan(model, int(model.n_features_in_))
    trees = [
        _sk_tree(row[k].tree_, row[k].tree_.value[:, 0, 0], lr, routes) for row in model.estimators_
    ]
    init = float(model._raw_predict_init(np.zeros((1, model.n_features_in_)))[0, k])
    scale = output_scale(model)
    return TreeKernel(trees, init, int(model.n_features_in_), scale, True)


def _hist_gradient_boosting(model: Any, class_index: int | None) -> TreeKernel:
    n_out = len(model._predictors[0])
    k = _class_column(n_out, class_index, -1) if n_out > 1 else 0
    trees = []
    for it in model._predictors:
        nodes = it[k].nodes
        if bool(np.any(nodes["is_categorical"])):
            raise ConfigError(
                "HistGradientBoosting with native categorical splits is not supported by "
                "the tree explainer; one-hot encode in the pipeline instead",
                parameter="model",
            )
        leaf = nodes["is_leaf"].astype(bool)
        trees.append(
            Tree(
                np.where(leaf, -1, nodes["left"].astype(np.int64)),
                np.where(leaf, -1, nodes["right"].astype(np.int64)),
                np.where(leaf, 0, nodes["feature_idx"].astype(np.int64)),
                np.where(leaf, 0.0, nodes["num_threshold"].astype(np.float64)),
                nodes["count"].astype(np.float64),
                nodes["value"].astype(np.float64),
                nodes["missing_go_to_left"].astype(bool),
            )
        )
    init = float(np.ravel(model._baseline_prediction)[k])
    scale = output_scale(model)
    return TreeKernel(trees, init, int(model.n_features_in_), scale, False)


_SKLEARN = {
    "DecisionTreeClassifier": _forest,
    "DecisionTreeRegressor": _forest,
    "ExtraTreeClassifier": _forest,
    "ExtraTreeRegressor": _forest,
    "RandomForestClassifier": _forest,
    "RandomForestRegressor": _forest,
    "ExtraTreesClassifier": _forest,
    "ExtraTreesRegressor": _forest,
    "GradientBoostingClassifier": _gradient_boosting,
    "GradientBoostingRegressor": _gradient_boosting,
    "HistGradientBoostingClassifier": _hist_gradient_boosting,
    "HistGradientBoostingRegressor": _hist_gradient_boosting,
}


def _nested_tree(  # noqa: PLR0917 - the dump's readers
    root: dict[str, Any], children: Any, split: Any, leaf_value: Any, cover: Any, nan_left: Any
) -> Tree:
    """Flatten a nested tree dump into forward-indexed node arrays (preorder).

    ``nan_left(node)`` says whether a split sends NaN to its first child.
    """
    left: list[int] = []
    missing: list[bool] = []
    right: list[int] = []
    feat: list[int] = []
    thr: list[float] = []
    cov: list[float] = []
    val: list[float] = []
    stack: list[tuple[dict[str, Any], int, bool]] = [(root, -1, False)]
    while stack:
        node, parent, is_left = stack.pop()
        i = len(left)
        if parent >= 0:
            (left if is_left else right)[parent] = i
        left.append(-1)
        right.append(-1)
        cov.append(float(cover(node)))
        kids = children(node)
        if kids is None:
            feat.append(0)
            thr.append(0.0)
            val.append(float(leaf_value(node)))
            missing.append(False)
            continue
        missing.append(bool(nan_left(node)))
        f, t = split(node)
        feat.append(f)
        thr.append(t)
        val.append(0.0)
        stack.append((kids[1], i, False))
        stack.append((kids[0], i, True))
    return Tree(
        np.array(left, dtype=np.int64),
        np.array(right, dtype=np.int64),
        np.array(feat, dtype=np.int64),
        np.array(thr),
        np.array(cov),
        np.array(val),
        np.array(missing, dtype=bool),
    )


def _offset(
    trees: list[Tree],
    margin: float,
    float32: bool,
    n_features: int,
    zero_as_missing: list[int] | None = None,
) -> float:
    """The constant the library adds to the trees' sum, from its margin on a zero row.

    A ``zero_as_missing`` feature's 0 takes the missing route, as the model reads it.
    """
    x = np.zeros(n_features)
    if float32:
        x = x.astype(np.float32).astype(np.float64)
    x[zero_as_missing or []] = np.nan
    total = 0.0
    for t in trees:
        node = 0
        while t.left[node] >= 0:
            v = x[t.feature[node]]
            if math.isnan(v) and t.missing_left is not None:
                go_left = bool(t.missing_left[node])
            else:
                go_left = bool(v <= t.threshold[node])
            node = int(t.left[node] if go_left else t.right[node])
        total += float(t.value[node])
    return margin - total


def _f32(key: str) -> Any:
    """Read a float32 the dump printed in decimal back to its exact float32 value."""
    return lambda node: float(np.float32(node[key]))


def _xgboost(model: Any, class_index: int | None) -> TreeKernel:
    import json  # noqa: PLC0415

    import xgboost  # noqa: PLC0415 - the model is an xgboost one: it is installed

    if model.get_xgb_params().get("booster") == "gblinear":
        raise _refused(type(model).__name__, "booster='gblinear' (a linear model, no trees)")
    missing = model.get_params().get("missing", np.nan)
    if missing is not None and not (
        isinstance(missing, (float, np.floating)) and math.isnan(missing)
    ):
        # Values equal to `missing` take the missing route too: not a split on a threshold.
        raise _refused(type(model).__name__, f"missing={short_repr(missing)} (not NaN)")
    booster = model.get_booster()
    n_features = int(booster.num_features())
    names = booster.feature_names
    margin = np.asarray(
        booster.predict(xgboost.DMatrix(np.zeros((1, n_features)), feature_names=names),
                        output_margin=True),
        dtype=np.float64,
    ).reshape(-1)  # fmt: skip
    n_out = margin.size
    k = _class_column(n_out, class_index, -1) if n_out > 1 else 0
    index = {n: i for i, n in enumerate(names)} if names else None

    def children(node: dict[str, Any]) -> Any:
        if "leaf" in node:
            return None
        by_id = {c["nodeid"]: c for c in node["children"]}
        return by_id[node["yes"]], by_id[node["no"]]

    def split(node: dict[str, Any]) -> tuple[int, float]:
        name = node["split"]
        f = index[name] if index is not None else int(str(name).lstrip("f"))
        # XGBoost goes left when float32(x) < threshold: <= the float32 just below it.
        below = np.nextafter(np.float32(node["split_condition"]), np.float32(-np.inf))
        return f, float(below)

    dumps = booster.get_dump(dump_format="json", with_stats=True)

    def nan_left(node: dict[str, Any]) -> bool:
        return bool(node["missing"] == node["yes"])

    trees = [
        _nested_tree(json.loads(d), children, split, _f32("leaf"), _f32("cover"), nan_left)
        for i, d in enumerate(dumps)
        if i % n_out == k
    ]
    init = _offset(trees, float(margin[k]), True, n_features)
    scale = output_scale(model)
    return TreeKernel(trees, init, n_features, scale, True)


def _refused(name: str, what: str) -> ConfigError:
    return ConfigError(
        f"{name} with {what} is not supported by the tree explainer; use "
        "method='sampling' (with background=...)",
        parameter="model",
    )


def _lightgbm(model: Any, class_index: int | None) -> TreeKernel:
    booster = model.booster_
    params = dict(getattr(booster, "params", None) or {})
    settings = model.get_params() if hasattr(model, "get_params") else {}
    boosting = params.get("boosting") or settings.get("boosting_type")
    if boosting in ("rf", "random_forest"):
        # A LightGBM random forest averages its trees, where boosting adds them.
        raise _refused(type(model).__name__, "boosting_type='rf' (averaged trees)")
    if params.get("linear_tree") or settings.get("linear_tree"):
        # Each leaf is a linear model of the features, not a constant.
        raise _refused(type(model).__name__, "linear_tree=True (linear models in the leaves)")
    dump = booster.dump_model()
    n_features = int(booster.num_feature())
    n_out = int(dump.get("num_tree_per_iteration", 1))
    k = _class_column(n_out, class_index, -1) if n_out > 1 else 0

    def children(node: dict[str, Any]) -> Any:
        if "leaf_value" in node:
            return None
        if node.get("decision_type") != "<=":
            raise ConfigError(
                "LightGBM categorical splits are not supported by the tree explainer; "
                "one-hot encode in the pipeline instead",
                parameter="model",
            )
        if node.get("missing_type") not in ("None", "NaN", "Zero"):
            raise _refused(
                type(model).__name__, f"missing_type={short_repr(node.get('missing_type'))}"
            )
        return node["left_child"], node["right_child"]

    def split(node: dict[str, Any]) -> tuple[int, float]:
        return int(node["split_feature"]), float(node["threshold"])

    def count(node: dict[str, Any]) -> float:
        return float(node["leaf_count"] if "leaf_value" in node else node["internal_count"])

    def nan_left(node: dict[str, Any]) -> bool:
        if node.get("missing_type") in ("NaN", "Zero"):
            # "Zero": NaN is read as 0.0, and 0.0 takes the default side.
            return bool(node["default_left"])
        # missing_type "None": LightGBM reads NaN as 0.0, which goes where 0 goes.
        return float(node["threshold"]) >= 0.0

    zero = _zero_features(dump, type(model).__name__)
    trees = [
        _nested_tree(
            t["tree_structure"], children, split, lambda n: n["leaf_value"], count, nan_left
        )
        for i, t in enumerate(dump["tree_info"])
        if i % n_out == k
    ]
    margin = np.asarray(booster.predict(np.zeros((1, n_features)), raw_score=True)).reshape(-1)
    init = _offset(trees, float(margin[k]), False, n_features, zero)
    scale = output_scale(model)
    return TreeKernel(trees, init, n_features, scale, False, zero)


def _zero_features(dump: dict[str, Any], model_name: str) -> list[int] | None:
    """Features whose splits are all ``missing_type="Zero"`` (0 and NaN: default side).

    A feature split both that way and another is refused, naming it: the kernel reads a
    feature's zeros one way for every split.
    """
    types: dict[int, set[str]] = {}
    stack = [t["tree_structure"] for t in dump["tree_info"]]
    while stack:
        node = stack.pop()
        if "leaf_value" in node:
            continue
        types.setdefault(int(node["split_feature"]), set()).add(str(node.get("missing_type")))
        stack += [node["left_child"], node["right_child"]]
    names = dump.get("feature_names") or []
    for f, kinds in sorted(types.items()):
        if "Zero" in kinds and len(kinds) > 1:
            name = f" ({short_repr(names[f])})" if f < len(names) else ""
            raise _refused(
                model_name,
                f"feature {f}{name} split both as zero-as-missing and as "
                f"{' and '.join(sorted(kinds - {'Zero'}))} (one feature read two ways)",
            )
    zero = [f for f, kinds in sorted(types.items()) if kinds == {"Zero"}]
    return zero or None


_OTHERS = {
    ("xgboost", "XGBClassifier"): _xgboost,
    ("xgboost", "XGBRegressor"): _xgboost,
    ("lightgbm", "LGBMClassifier"): _lightgbm,
    ("lightgbm", "LGBMRegressor"): _lightgbm,
}
SUPPORTED_TREES = (*_SKLEARN, *(name for _, name in _OTHERS))


def trees_from_model(model: Any, class_index: int | None) -> TreeKernel | None:
    """A TreeKernel for a fitted tree model (scikit-learn, XGBoost, LightGBM), or None."""
    cls = type(model)
    name = cls.__name__
    if cls.__module__.startswith("sklearn.") and name in _SKLEARN:
        return _SKLEARN[name](model, class_index)
    other = _OTHERS.get((cls.__module__.split(".")[0], name))
    return other(model, class_index) if other is not None else None
