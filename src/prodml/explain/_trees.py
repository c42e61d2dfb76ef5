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

Only the elementwise arithmetic above and one ordered scatter (``np.add.at``) touch a
row, so a single record gives the bits of its row of a batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.explain import _tree_jit

__all__ = ["Tree", "TreeKernel", "trees_from_model"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_TABLE_BUDGET = 4_000_000  # entries of the pattern table (leaves * 2**depth * depth)
_CHUNK_CELLS = 4_000_000  # rows * leaves * depth evaluated at once in a batch


class Tree:
    """One tree as flat node arrays (leaves: ``left == -1``; values already weighted)."""

    __slots__ = ("cover", "feature", "left", "right", "threshold", "value")

    def __init__(  # noqa: PLR0917 - the six node arrays, in their saved order
        self,
        left: Ints,
        right: Ints,
        feature: Ints,
        threshold: Floats,
        cover: Floats,
        value: Floats,
    ) -> None:
        self.left = left
        self.right = right
        self.feature = feature
        self.threshold = threshold
        self.cover = cover
        self.value = value

    def to_dict(self) -> dict[str, list[Any]]:
        return {name: getattr(self, name).tolist() for name in self.__slots__}

    def leaves(self) -> list[tuple[float, float, dict[int, list[float]]]]:
        """Each leaf: (value, cover fraction, {feature: [lo, hi, zero fraction]})."""
        out: list[tuple[float, float, dict[int, list[float]]]] = []
        root = float(self.cover[0])
        stack: list[tuple[int, dict[int, list[float]]]] = [(0, {})]
        while stack:
            node, path = stack.pop()
            left = int(self.left[node])
            if left < 0:
                out.append((float(self.value[node]), float(self.cover[node]) / root, path))
                continue
            f, thr = int(self.feature[node]), float(self.threshold[node])
            cover = float(self.cover[node])
            for child, is_left in ((int(self.right[node]), False), (left, True)):
                lo, hi, z = path.get(f, [-math.inf, math.inf, 1.0])
                lo, hi = (lo, min(hi, thr)) if is_left else (max(lo, thr), hi)
                ratio = float(self.cover[child]) / cover if cover > 0 else 0.0
                stack.append((child, {**path, f: [lo, hi, z * ratio]}))
        return out


def _nan_error(X: Floats, row: int) -> SchemaError:  # noqa: N803
    col = int(np.flatnonzero(np.isnan(X[row]))[0])
    return SchemaError(
        problems=[
            SchemaProblem(
                None,
                "null",
                f"transformed feature {col} is NaN in row {row}; the tree explainer needs "
                "imputed (NaN-free) features",
                row,
            )
        ]
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


class TreeKernel:
    """Fitted tree-ensemble attribution state (path-dependent TreeSHAP)."""

    method = "tree"

    def __init__(
        self, trees: list[Tree], init: float, n_features: int, scale: str, float32: bool
    ) -> None:
        self.trees = trees
        self.init = init
        self.n_features = n_features
        self.scale = scale
        self.float32 = float32
        self.jit = True  # use the compiled kernels when numba is installed
        leaves = [leaf for t in trees for leaf in t.leaves()]
        d = max([len(p) for _, _, p in leaves] + [1])
        n_leaves = len(leaves)
        feat = np.zeros((n_leaves, d), dtype=np.int64)
        lo = np.full((n_leaves, d), -np.inf)
        hi = np.full((n_leaves, d), np.inf)
        z = np.ones((n_leaves, d))
        base = init
        for i, (value, frac, path) in enumerate(leaves):
            base = base + value * frac
            for s, (f, (low, high, zf)) in enumerate(sorted(path.items())):
                feat[i, s], lo[i, s], hi[i, s], z[i, s] = f, low, high, zf
        self.base = base
        self.depth = d
        self.feat, self.lo, self.hi, self.z = feat, lo, hi, z
        self.leaf_value = np.array([v for v, _, _ in leaves])
        self.length = np.array([len(p) for _, _, p in leaves], dtype=np.int64)
        self.n_leaves = n_leaves
        self.table: Floats | None = None
        if n_leaves * (2**d) * d <= _TABLE_BUDGET:
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
        if np.isnan(X).any():
            raise _nan_error(X, int(np.argwhere(np.isnan(X))[0][0]))
        return X.astype(np.float32).astype(np.float64) if self.float32 else X

    def bind(self, group_of: Ints, n_groups: int) -> None:
        """Set the group (raw column) of each feature that attributions are summed into.

        Keeps where each (leaf, slot) value goes, then each leaf's output (after the
        groups). Padding slots go to the group of feature 0: their attribution is 0.
        """
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

    def _run_compiled(self, kernels: dict[str, Any], X: Floats) -> Any:  # noqa: N803
        n = X.shape[0]
        phi = np.zeros((n, self.n_groups))
        pred = np.full(n, self.init)
        if self.table is not None:
            bad = kernels["table"](
                X, self.feat, self.lo, self.hi, self.table, self._group, self.leaf_value, phi, pred
            )
        else:
            bad = kernels["poly"](
                X,
                self.feat,
                self.lo,
                self.hi,
                self.z,
                self.length,
                self._weights,
                self._group,
                self.leaf_value,
                phi,
                pred,
            )
        if bad >= 0:
            raise _nan_error(X, bad)
        return phi, pred

    def attribute_one(self, x: Floats) -> tuple[list[float], float]:
        """One record: the same floats as its row of :meth:`attribute`."""
        kernels = _tree_jit.compiled() if self.jit else None
        if kernels is None or x.shape[0] != self.n_features:
            phi, pred = self.attribute(x[None, :])
            return phi[0].tolist(), float(pred[0])
        row = (x.astype(np.float32).astype(np.float64) if self.float32 else x)[None, :]
        phi, pred = self._run_compiled(kernels, row)
        return phi[0].tolist(), float(pred[0])

    def _contributions(self, X: Floats) -> Floats:  # noqa: N803
        """``(rows, leaves * depth + leaves)``: slot attributions, then leaf outputs."""
        xs = X[:, self.feat]  # (n, L, d)
        hit = (xs > self.lo) & (xs <= self.hi)
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "trees": [t.to_dict() for t in self.trees],
            "init": self.init,
            "n_features": self.n_features,
            "scale": self.scale,
            "float32": self.float32,
        }


def _sk_tree(tree: Any, value: Floats, weight: float) -> Tree:
    return Tree(
        np.asarray(tree.children_left, dtype=np.int64),
        np.asarray(tree.children_right, dtype=np.int64),
        np.maximum(np.asarray(tree.feature, dtype=np.int64), 0),
        np.asarray(tree.threshold, dtype=np.float64),
        np.asarray(tree.weighted_n_node_samples, dtype=np.float64),
        np.asarray(value, dtype=np.float64) * weight,
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
            f"Got {class_index!r} instead.",
            parameter="class_index",
        )
    return class_index


def _forest(model: Any, class_index: int | None) -> TreeKernel:
    estimators = list(getattr(model, "estimators_", [model]))
    first = estimators[0].tree_
    n_out = first.value.shape[2] if hasattr(model, "classes_") else first.value.shape[1]
    k = _class_column(n_out, class_index, 1)
    w = 1.0 / len(estimators)
    trees = []
    for est in estimators:
        v = est.tree_.value
        col = v[:, 0, k] if hasattr(model, "classes_") else v[:, k, 0]
        trees.append(_sk_tree(est.tree_, col, w))
    scale = "probability" if hasattr(model, "classes_") else "raw"
    return TreeKernel(trees, 0.0, int(model.n_features_in_), scale, True)


def _gradient_boosting(model: Any, class_index: int | None) -> TreeKernel:
    n_out = model.estimators_.shape[1]
    k = _class_column(n_out, class_index, -1) if n_out > 1 else 0
    lr = float(model.learning_rate)
    trees = [_sk_tree(row[k].tree_, row[k].tree_.value[:, 0, 0], lr) for row in model.estimators_]
    init = float(model._raw_predict_init(np.zeros((1, model.n_features_in_)))[0, k])
    scale = "margin" if hasattr(model, "classes_") else "raw"
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
            )
        )
    init = float(np.ravel(model._baseline_prediction)[k])
    scale = "margin" if hasattr(model, "classes_") else "raw"
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
SUPPORTED_TREES = tuple(_SKLEARN)


def trees_from_model(model: Any, class_index: int | None) -> TreeKernel | None:
    """A TreeKernel for a fitted scikit-learn tree model, or None if it is not one."""
    name = type(model).__name__
    if not type(model).__module__.startswith("sklearn.") or name not in _SKLEARN:
        return None
    return _SKLEARN[name](model, class_index)
