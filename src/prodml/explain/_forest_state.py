"""Format 5 of a tree explainer's state: the forest as typed arrays, checked vectorised.

Layout of ``kernel`` (beside ``n_features``, ``init``, ``scale``, ``float32`` and the
optional ``zero_as_missing``, read as in formats 1 to 4)::

    "trees": {"count": T,
              "size": [T ints: nodes per tree], "left", "right", "feature": [N ints],
              "threshold", "cover", "value": [N float64], "missing_left"?: [N uint8]}
    interventional: "feature_perturbation": "interventional", "n_background": m,
    "base": x, "patterns": {"per_leaf": [leaves], "codes": [pairs], "counts": [pairs]}

each ``[...]`` a typed array (:mod:`~prodml.explain._packed`), the node arrays of every
tree one after the other (``N`` nodes in all, child indices counted within the tree),
the patterns of every leaf of every tree likewise. One array per field, not one list
per tree: a load decodes a few strings and checks every node of the forest in a few
numpy passes, where formats 1 to 4 parse a JSON number per node value. Thresholds may
be infinite at a split (scikit-learn's trees and HistGradientBoosting trained on NaN
split "every number left, NaN right" at ``+inf``), which JSON numbers cannot hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml._state import MAX_MAGNITUDE
from prodml.explain._interventional import (
    MAX_BACKGROUND,
    InterventionalTreeKernel,
    Patterns,
    code_dtype_of,
    count_dtype_of,
)
from prodml.explain._packed import fail, int_dtype, only_keys, pack, unpack
from prodml.explain._trees import Tree, TreeKernel

__all__ = [
    "PATH_CELLS_FREE",
    "PATH_CELLS_PER_NODE",
    "check_patterns",
    "dump",
    "legacy_trees_json",
    "path_cells_excess",
    "read_patterns",
    "read_trees",
]

Ints = npt.NDArray[np.int64]
PATH_CELLS_PER_NODE = 128  # leaf-path cells a saved tree node may cost (see path_cells_excess)
PATH_CELLS_FREE = 1 << 24  # leaf-path cells any saved trees may cost
_INTS = ("<i4", "<i8")
_FLOATS = ("<f8",)
_CODES = ("<u1", "<u2", "<u4", "<u8")
_COUNTS = ("<u1", "<u2")
_NODE_FIELDS = ("left", "right", "feature", "threshold", "cover", "value")
_TREE_KEYS = frozenset({"count", "size", *_NODE_FIELDS})
_PATTERN_KEYS = frozenset({"per_leaf", "codes", "counts"})


def dump(kernel: TreeKernel) -> dict[str, Any]:
    """A tree kernel's format-5 ``kernel`` field (interventional: with its patterns)."""
    trees = kernel.trees
    sizes = np.array([len(t.left) for t in trees], dtype=np.int64)
    nodes: dict[str, Any] = {"count": len(trees), "size": pack(sizes, int_dtype(sizes))}
    for name in _NODE_FIELDS:
        values = np.concatenate([getattr(t, name) for t in trees])
        nodes[name] = pack(values, int_dtype(values) if values.dtype.kind in "iu" else "<f8")
    if kernel.routes_missing:  # a forest with a route for NaN in every tree
        routes = np.concatenate([t.missing_left for t in trees if t.missing_left is not None])
        nodes["missing_left"] = pack(routes.astype(np.uint8), "|u1")
    out = {
        "trees": nodes,
        "init": kernel.init,
        "n_features": kernel.n_features,
        "scale": kernel.scale,
        "float32": kernel.float32,
    }
    if kernel.zero_as_missing is not None:
        out["zero_as_missing"] = kernel.zero_as_missing
    if isinstance(kernel, InterventionalTreeKernel):
        p = kernel.patterns
        count_dtype = count_dtype_of(p.n_background)
        out |= {
            "feature_perturbation": kernel.feature_perturbation,
            "n_background": p.n_background,
            "base": p.base,
            "patterns": {
                "per_leaf": pack(np.bincount(p.leaf, minlength=kernel.n_leaves), count_dtype),
                "codes": pack(p.code, code_dtype_of(kernel.depth)),
                "counts": pack(p.count, count_dtype),
            },
        }
    return out


def read_trees(value: object, width: int) -> list[Tree]:
    """The saved forest (``kernel.trees``), every node checked before any use.

    Per tree: children point forward and stay inside the tree (so no cycles), leaves
    have ``-1`` on both sides, every node but the root is the child of exactly one node
    (one tree: no shared or orphan node), split features inside the model's ``width``,
    thresholds not NaN (finite within +-1e100, or infinite at a split), covers and
    values finite within +-1e100, covers non-negative and positive at the root, NaN
    routes 0 or 1; and the leaf paths within :func:`path_cells_excess`'s bound.
    """
    path = "kernel.trees"
    saved = only_keys(value, path, _TREE_KEYS, frozenset({"missing_left"}))
    count = saved["count"]
    if type(count) is not int or count < 1:
        raise fail(path + ".count", "an int >= 1", count)
    sizes = unpack(saved["size"], path + ".size", _INTS, count).astype(np.int64)
    if sizes.min() < 1 or sizes.max() >= 2**31:
        raise fail(path + ".size", "node counts in [1, 2**31)", "...")
    n = int(sizes.sum())
    left, right, feature = (
        unpack(saved[name], f"{path}.{name}", _INTS, n).astype(np.int64)
        for name in ("left", "right", "feature")
    )
    threshold, cover, leaf_value = (
        unpack(saved[name], f"{path}.{name}", _FLOATS, n)
        for name in ("threshold", "cover", "value")
    )
    routes = None
    if "missing_left" in saved:
        raw = unpack(saved["missing_left"], path + ".missing_left", ("|u1",), n)
        if raw.size and raw.max() > 1:
            raise fail(path + ".missing_left", "0 or 1 per node (does NaN go left)", "...")
        routes = raw.astype(bool)
    starts = np.cumsum(sizes) - sizes
    _check_nodes(left, right, sizes, starts)
    inner = left >= 0
    if (inner & ((feature < 0) | (feature >= width))).any():
        raise fail(path + ".feature", f"feature indices in [0, {width}) at splits", "...")
    finite = np.abs(threshold) <= MAX_MAGNITUDE
    if not (finite | (inner & np.isinf(threshold))).all():
        raise fail(
            path + ".threshold",
            f"numbers within +-{MAX_MAGNITUDE:g} (or infinite at a split), never NaN",
            "...",
        )
    for name, values in (("cover", cover), ("value", leaf_value)):
        if not (np.abs(values) <= MAX_MAGNITUDE).all():
            raise fail(f"{path}.{name}", f"finite numbers within +-{MAX_MAGNITUDE:g}", "...")
    if (cover < 0).any() or (cover[starts] <= 0).any():
        raise fail(path + ".cover", "non-negative covers, positive at each root", "...")
    excess = _excess(left, right, sizes, starts)
    if excess is not None:
        raise fail(path, _cells_expected(excess), "...")
    ends = (starts + sizes).tolist()
    if routes is None:  # views of the forest's arrays (np.split costs ~20 us a piece)
        return [
            Tree(left[a:b], right[a:b], feature[a:b], threshold[a:b], cover[a:b],
                 leaf_value[a:b])
            for a, b in zip(starts.tolist(), ends, strict=True)
        ]  # fmt: skip
    return [
        Tree(left[a:b], right[a:b], feature[a:b], threshold[a:b], cover[a:b],
             leaf_value[a:b], routes[a:b])
        for a, b in zip(starts.tolist(), ends, strict=True)
    ]  # fmt: skip


def _check_nodes(left: Ints, right: Ints, sizes: Ints, starts: Ints) -> None:
    """Forward children inside their tree (-1 at leaves); one parent per node but roots."""
    n = len(left)
    local = np.arange(n) - np.repeat(starts, sizes)
    size = np.repeat(sizes, sizes)
    inner = left >= 0
    if (
        (inner & ((left <= local) | (right <= local) | (left >= size) | (right >= size))).any()
        or ((~inner) & (right != -1)).any()
        or (left < -1).any()
    ):
        raise fail(
            "kernel.trees.left", "forward child indices inside each tree (-1 at leaves)", "..."
        )
    shift = np.repeat(starts, sizes)[inner]
    parents = np.bincount(np.concatenate([left[inner] + shift, right[inner] + shift]), minlength=n)
    is_root = np.zeros(n, dtype=bool)
    is_root[starts] = True
    if (parents[is_root] != 0).any() or (parents[~is_root] != 1).any():
        raise fail("kernel.trees.left", "trees: each node but a root the child of one node", "...")


def _excess(left: Ints, right: Ints, sizes: Ints, starts: Ints) -> str | None:
    """``"leaves x longest"`` past the bound, level by level over every tree at once.

    Children point forward (checked first): one level a step. Stops as soon as the
    depth reached passes the bound, so a chain costs no more levels than it may hold.
    """
    nodes, leaves = len(left), int((left < 0).sum())
    limit = (PATH_CELLS_PER_NODE * nodes + PATH_CELLS_FREE) // leaves
    shift = np.repeat(starts, sizes)
    inner = left >= 0
    glob_left, glob_right = np.where(inner, left + shift, -1), np.where(inner, right + shift, -1)
    level, depth = starts, 0
    while True:
        level = level[glob_left[level] >= 0]
        if not level.size:
            return None
        depth += 1
        if depth > limit:
            return f"{leaves} x {depth}+"
        level = np.concatenate([glob_left[level], glob_right[level]])


def _cells_expected(excess: str) -> str:
    return (
        f"trees whose leaves x longest path ({excess}) stays within {PATH_CELLS_PER_NODE} "
        f"cells per node past {PATH_CELLS_FREE}"
    )


def path_cells_excess(trees: list[Tree]) -> str | None:
    """``"leaves x longest"`` when ``trees`` cost more leaf-path cells than a state may hold.

    Building the kernel holds ``leaves x longest path`` cells (some 130 bytes each while
    the paths are built): a fitted forest holds tens per node, a chain of ``n`` splits
    ``n**2 / 4``, gigabytes from a megabyte of state. At most ``PATH_CELLS_PER_NODE``
    per node, past ``PATH_CELLS_FREE`` (a few legitimate chains, such as a tree on a
    staircase target, go past the first), load. ``Explainer.to_dict`` asks it too, so
    prodml never writes a state it would refuse to read back.
    """
    sizes = np.array([len(t.left) for t in trees], dtype=np.int64)
    left = np.concatenate([t.left for t in trees])
    right = np.concatenate([t.right for t in trees])
    return _excess(left, right, sizes, np.cumsum(sizes) - sizes)


def read_patterns(k: Mapping[str, Any], tree: TreeKernel) -> Patterns:
    """Format 5's fitted patterns (``kernel.patterns``), checked by :func:`check_patterns`."""
    m = n_background(k)
    saved = only_keys(k.get("patterns"), "kernel.patterns", _PATTERN_KEYS, frozenset())
    per_leaf = per_leaf_counts(
        unpack(saved["per_leaf"], "kernel.patterns.per_leaf", _COUNTS, tree.n_leaves),
        m,
        "kernel.patterns.per_leaf",
    )
    n = int(per_leaf.sum())
    code = unpack(saved["codes"], "kernel.patterns.codes", _CODES, n)
    count = unpack(saved["counts"], "kernel.patterns.counts", _COUNTS, n)
    return check_patterns(per_leaf, code, count, m, k, tree, lambda field, _: field)


def n_background(k: Mapping[str, Any]) -> int:
    """``kernel.n_background``: an int in [1, MAX_BACKGROUND]."""
    if "n_background" not in k:
        raise fail("kernel.n_background", "present (interventional)", None)
    m = k["n_background"]
    if type(m) is not int or not 1 <= m <= MAX_BACKGROUND:
        raise fail("kernel.n_background", f"an int in [1, {MAX_BACKGROUND}]", m)
    return m


def per_leaf_counts(values: npt.NDArray[Any], m: int, path: str) -> Ints:
    """Patterns per leaf, each in [1, m] (checked before the codes are sized by them)."""
    if values.size and (values.min() < 1 or values.max() > m):
        raise fail(path, f"patterns per leaf in [1, {m}] (n_background)", "...")
    return values.astype(np.int64)


def check_patterns(  # noqa: PLR0917 - the decoded arrays and where they came from
    per_leaf: Ints,
    code: npt.NDArray[Any],
    count: npt.NDArray[Any],
    m: int,
    k: Mapping[str, Any],
    tree: TreeKernel,
    where: Any,
) -> Patterns:
    """Every leaf's patterns checked against the trees at once, before any use.

    ``per_leaf`` (patterns of each leaf, in node order, 1 to ``m``), ``code`` (bit codes:
    inside the leaf's depth, padding slots set, increasing within a leaf; unsigned as
    saved) and ``count`` (positive, summing to ``m`` on every leaf). Each background
    row reaches exactly one leaf of each tree (the patterns satisfying every slot hold
    ``m`` rows), and ``kernel.base`` is the mean output they imply. ``where(field,
    tree)`` names the field of a tree's patterns that is refused.
    """
    base = k.get("base")
    full = (1 << tree.depth) - 1
    # Slots past a leaf's distinct features are padding, which every row satisfies.
    pad = full & ~((np.int64(1) << tree.length) - 1)
    leaf = np.repeat(np.arange(len(per_leaf), dtype=np.int64), per_leaf)
    n_trees = len(tree.trees)
    tree_of_leaf = np.repeat(
        np.arange(n_trees), [int((t.left < 0).sum()) for t in tree.trees]
    )  # fmt: skip
    starts = np.cumsum(per_leaf) - per_leaf

    def refuse(field: str, i: int, expected: str) -> None:
        raise fail(where(f"kernel.patterns.{field}", i), expected, f"tree {i}")

    def tree_of_pair(bad: npt.NDArray[np.bool_]) -> int:
        return int(tree_of_leaf[leaf[int(np.argmax(bad))]])

    over = code > full  # unsigned as saved: a uint64 past int64 is over too
    code = code.astype(np.int64)
    rising = np.ones(len(code), dtype=bool)
    rising[1:] = code[1:] > code[:-1]
    rising[starts] = True  # a leaf's first code follows another leaf's
    bad = over | ((code & pad[leaf]) != pad[leaf]) | ~rising
    if bad.any():
        refuse(
            "codes",
            tree_of_pair(bad),
            f"each leaf's distinct slot codes, increasing, within {tree.depth} bits, "
            "padding slots set",
        )
    count = count.astype(np.int64)
    if (count < 1).any():
        refuse("counts", tree_of_pair(count < 1), f"positive counts adding up to {m} on every leaf")
    sums = np.add.reduceat(count, starts) if len(count) else np.zeros(0, np.int64)
    if (sums != m).any():
        refuse(
            "counts",
            int(tree_of_leaf[int(np.argmax(sums != m))]),
            f"positive counts adding up to {m} on every leaf",
        )
    reach = np.bincount(
        tree_of_leaf[leaf], weights=np.where(code == full, count, 0), minlength=n_trees
    )
    if (reach != m).any():
        i = int(np.argmax(reach != m))
        raise fail(
            where("kernel.patterns", i),
            f"patterns under which each of the {m} rows reaches one leaf",
            f"tree {i}",
        )
    weights = count.astype(np.float64)
    reached = np.where(code == full, weights * tree.leaf_value[leaf], 0.0)
    implied = tree.init + float(reached.sum()) / m
    scale = abs(tree.init) + float(np.abs(reached).sum()) / m
    value = base if isinstance(base, int | float) and not isinstance(base, bool) else None
    if (
        value is None
        or not abs(value) <= MAX_MAGNITUDE
        or abs(value - implied) > 1e-9 * max(1.0, scale)
    ):
        raise fail("kernel.base", f"the mean output the patterns imply ({implied!r})", base)
    return Patterns(leaf, code, weights, m, float(value))


_TREE_FIELDS = ("cover", "feature", "left", "missing_left", "right", "threshold", "value")


def legacy_trees_json(trees: list[Tree]) -> list[bytes | memoryview] | None:
    """Formats 1 to 4's ``kernel.trees`` as canonical JSON, in pieces to hash in order.

    The text :func:`~prodml.fingerprint.canonical_json` gives for ``[t.to_dict() for t
    in trees]`` with an infinite threshold as the string ``"Infinity"``/``"-Infinity"``
    (what :attr:`Explainer.fingerprint` hashes), built from the whole forest's arrays:
    each field's values of every tree printed in one ``json.dumps`` (the same number
    printing), then cut per tree at its commas. ``None`` when a cover or value is not
    finite or a field's dtype differs between trees: the caller then takes the slow
    path, which refuses such values as before.
    """
    texts: dict[str, tuple[memoryview, Ints, Ints]] = {}
    for name in _TREE_FIELDS:
        arrays = [getattr(t, name) for t in trees if getattr(t, name) is not None]
        if not arrays:
            continue
        if len({a.dtype for a in arrays}) != 1:
            return None
        values = np.concatenate(arrays)
        items: list[Any] = values.tolist()
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            if name != "threshold":
                return None  # refused by the slow path, naming the value
            for i in np.flatnonzero(~np.isfinite(values)).tolist():
                items[i] = "Infinity" if items[i] > 0 else "-Infinity"
        body = json.dumps(items, separators=(",", ":"), ensure_ascii=False)[1:-1].encode()
        commas = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == ord(","))
        first = np.concatenate([[0], commas + 1])  # where each value's text starts
        last = np.append(commas, len(body))  # and ends
        texts[name] = (memoryview(body), first, last)
    offsets = dict.fromkeys(texts, 0)
    out: list[bytes | memoryview] = [b"["]
    for i, t in enumerate(trees):
        sep = b"{" if i == 0 else b"},{"
        for name in _TREE_FIELDS:
            if getattr(t, name) is None:
                continue
            text, first, last = texts[name]
            a = offsets[name]
            b = offsets[name] = a + len(getattr(t, name))
            out += (sep, b'"', name.encode(), b'":[', text[first[a] : last[b - 1]], b"]")
            sep = b","
    out.append(b"}]" if trees else b"]")
    return out
