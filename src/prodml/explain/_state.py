"""Versioned JSON state of an Explainer, validated on load (private).

Layout::

    {"format_version": 1 | 2 | 3 | 4 | 5, "kind": "Explainer",
     "method": "linear" | "tree" | "sampling",
     "class_index": int | null,
     "pipeline": {...FeaturePipeline.to_dict()...},
     "kernel": linear: {"coef": [...], "intercept": x, "mean": [...], "scale": s}
               tree:   {"trees": [{"left", "right", "feature", "threshold", "cover",
                                   "value", "missing_left"?}, ...], "init": x,
                        "n_features": n,
                        "scale": s, "float32": bool,
                        "zero_as_missing"?: [feature, ...],  (format >= 2 only)
                        "feature_perturbation"?: "interventional",  (format >= 3)
                        "background"?: [[...features, null for NaN...], ...],  (format 3)
                        "n_background"?: m, "base"?: x,  (format 4)
                        "patterns"?: [{"per_leaf": b64, "codes": b64, "counts": b64},
                                      ...one per tree...]}  (format 4)
               sampling: {"background": [[...features...], ...],
                          "permutations": [[...column indices...], ...], "scale": s,
                          "base": x}}

Saved state is hostile until checked: numbers must be finite, arrays of the right length,
tree children must point forward (so no cycles), every node but the root must be the
child of exactly one node (one tree: no shared or orphan node), features inside the
model's width, and the leaf-path tables no larger than ``PATH_CELLS_PER_NODE`` cells per
saved node past ``PATH_CELLS_FREE`` (a chain of splits costs its length squared).
A tree's ``missing_left`` (a bool per node: does NaN go left) is optional: state saved
before it existed, or from a model that defines no route for NaN, has none, and its
explainer refuses NaN features. ``zero_as_missing`` (sorted, distinct feature indices
whose zeros take the missing route: LightGBM's ``zero_as_missing=True``) needs every
tree's ``missing_left``; state holding it is written as format 2, so a prodml that
predates it refuses it rather than reading those zeros as numbers. State without it is
written as format 1, as before. An interventional tree explainer (``feature_perturbation
= "interventional"``) also keeps its background rows (the pipeline's output, NaN saved as
null: allowed only where the model routes NaN; at most ``MAX_BACKGROUND`` rows, each the
model's width) in format 3. Format 4, which prodml writes now, saves what the fit keeps
instead (see :func:`_patterns`): a load reads them rather than grouping the rows again.
Both are refused by a prodml that predates them rather than explained path-dependently.
Format 5, which prodml writes now for every tree explainer, holds the same trees (and
patterns) as one typed array per field for the whole forest, read and checked by
:mod:`~prodml.explain._forest_state` (the layout above is formats 1 to 4's).
Sampling state holds at most ``MAX_PERMUTATIONS`` permutations, whose switch masks stay
within ``MAX_SWITCH_CELLS`` (the bound its construction applies).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np

from prodml._state import (
    MAX_MAGNITUDE,
    check_depth,
    check_format_version,
    finite_float,
    load_json,
)
from prodml.errors import ConfigError
from prodml.explain import _forest_state as forest
from prodml.explain import _sampling as sampling
from prodml.explain._interventional import (
    MAX_BACKGROUND,
    MAX_CODE_BITS,
    InterventionalTreeKernel,
    Patterns,
    check_code_bits,
    code_dtype_of,
    count_dtype_of,
)
from prodml.explain._linear import LinearKernel
from prodml.explain._packed import fail as _fail
from prodml.explain._packed import only_keys
from prodml.explain._sampling import (
    MAX_PERMUTATIONS,
    SamplingKernel,
    output_function,
    switch_cells_excess,
)
from prodml.explain._trees import Tree, TreeKernel
from prodml.features import FeaturePipeline

__all__ = ["FORMAT_VERSION", "PACKED_VERSION", "load", "parse_json"]

FORMAT_VERSION = 1  # written when the state holds nothing of format 2
ZERO_AS_MISSING_VERSION = 2  # written when a tree kernel has zero_as_missing
INTERVENTIONAL_VERSION = 3  # interventional, its background rows saved (read, no longer written)
PATTERNS_VERSION = 4  # interventional, its fitted patterns per tree (read, no longer written)
PACKED_VERSION = 5  # written for every tree kernel: the forest (and patterns) as typed arrays
_READABLE = (1, 2, 3, 4, 5)
_MAX_JSON = 512 * 1024 * 1024
_SCALES = ("log", "margin", "probability", "raw")
_KERNEL5 = frozenset({"trees", "init", "n_features", "scale", "float32"})
_KERNEL5_OPTIONAL = frozenset(
    {"zero_as_missing", "feature_perturbation", "n_background", "base", "patterns"}
)


def parse_json(text: object) -> Any:
    """Parsed JSON, refused with a StateError (a ConfigError) when hostile (see load_json)."""
    return load_json(text, owner="Explainer", max_bytes=_MAX_JSON)


def _get(d: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in d:
        raise ConfigError(f"Explainer state lacks field {path + key!r}", parameter=path + key)
    return d[key]


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, "a dict", value)
    return value


def _number(value: object, path: str) -> float:
    x = finite_float(value)
    if x is None or abs(x) > MAX_MAGNITUDE:
        raise _fail(path, f"a finite number within +-{MAX_MAGNITUDE:g}", value)
    return x


def _floats(value: object, path: str, n: int | None = None) -> np.ndarray:
    if not isinstance(value, list) or (n is not None and len(value) != n):
        raise _fail(path, f"a list of {n if n is not None else 'some'} numbers", value)
    try:
        arr = np.array(value)
    except (ValueError, TypeError):  # ragged nested lists
        raise _fail(path, "a list of numbers", value) from None
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iuf"):
        raise _fail(path, "a list of numbers", value)
    arr = arr.astype(np.float64)
    if not (np.abs(arr) <= MAX_MAGNITUDE).all():  # NaN and infinities fail too
        raise _fail(path, f"a list of finite numbers within +-{MAX_MAGNITUDE:g}", value)
    return arr


def _ints(value: object, path: str, n: int) -> np.ndarray:
    if isinstance(value, list) and len(value) == n:
        try:
            arr = np.array(value)
        except (ValueError, TypeError):
            arr = None
        if arr is not None and arr.ndim == 1 and (arr.size == 0 or arr.dtype.kind in "iu"):
            return arr.astype(np.int64)
    raise _fail(path, f"a list of {n} ints", value)


def _scale(value: object, path: str) -> str:
    if value not in _SCALES:
        raise _fail(path, f"one of {list(_SCALES)}", value)
    return str(value)


def _linear(k: Mapping[str, Any], width: int) -> LinearKernel:
    coef = _floats(_get(k, "coef", "kernel."), "kernel.coef", width)
    mean = _floats(_get(k, "mean", "kernel."), "kernel.mean", width)
    intercept = _number(_get(k, "intercept", "kernel."), "kernel.intercept")
    return LinearKernel(coef, intercept, mean, _scale(_get(k, "scale", "kernel."), "kernel.scale"))


def _tree(t: object, path: str, width: int) -> Tree:
    t = _mapping(t, path)
    left = _get(t, "left", path + ".")
    if not isinstance(left, list) or not left:
        raise _fail(path + ".left", "a non-empty list of ints", left)
    n = len(left)
    lo = _ints(left, path + ".left", n)
    hi = _ints(_get(t, "right", path + "."), path + ".right", n)
    feature = _ints(_get(t, "feature", path + "."), path + ".feature", n)
    threshold = _floats(_get(t, "threshold", path + "."), path + ".threshold", n)
    cover = _floats(_get(t, "cover", path + "."), path + ".cover", n)
    value = _floats(_get(t, "value", path + "."), path + ".value", n)
    missing = t.get("missing_left")
    routes = None
    if missing is not None:
        try:  # only a flat list of bools makes a 1-d array of bools
            routes = np.array(missing) if isinstance(missing, list) else None
        except ValueError:  # ragged nested lists
            routes = None
        if routes is None or routes.shape != (n,) or routes.dtype != np.bool_:
            raise _fail(path + ".missing_left", f"a list of {n} bools", missing)
    nodes = np.arange(n)
    inner = lo >= 0
    # Children point forward (no cycles), inside the tree; leaves have no right child.
    if (
        (inner & ((lo <= nodes) | (hi <= nodes) | (lo >= n) | (hi >= n))).any()
        or ((~inner) & (hi >= 0)).any()
        or (lo < -1).any()
    ):
        raise _fail(path + ".left", "forward child indices inside the tree (-1 at leaves)", "...")
    # Every node but the root has exactly one parent: one tree, no shared or orphan
    # node (an orphan leaf would add its value to every prediction).
    parents = np.bincount(np.concatenate([lo[inner], hi[inner]]), minlength=n)
    if parents[0] != 0 or (parents[1:] != 1).any():
        raise _fail(path + ".left", "one tree: each node but the root the child of one node",
                    "...")  # fmt: skip
    if (inner & ((feature < 0) | (feature >= width))).any():
        raise _fail(path + ".feature", f"feature indices in [0, {width})", "...")
    if (cover < 0).any() or cover[0] <= 0:
        raise _fail(path + ".cover", "non-negative covers, positive at the root", "...")
    return Tree(lo, hi, feature, threshold, cover, value, routes)


def _trees(k: Mapping[str, Any], width: int, version: int) -> TreeKernel:
    n_features = _get(k, "n_features", "kernel.")
    if type(n_features) is not int or n_features != width:
        raise _fail("kernel.n_features", f"{width} (the pipeline's width)", n_features)
    trees = _get(k, "trees", "kernel.")
    if version >= PACKED_VERSION:
        only_keys(k, "kernel", _KERNEL5, _KERNEL5_OPTIONAL)
        built = forest.read_trees(trees, width)
    else:
        if not isinstance(trees, list) or not trees:
            raise _fail("kernel.trees", "a non-empty list of trees", trees)
        built = [_tree(t, f"kernel.trees[{i}]", width) for i, t in enumerate(trees)]
        _check_path_cells(built)
    float32 = _get(k, "float32", "kernel.")
    if not isinstance(float32, bool):
        raise _fail("kernel.float32", "a bool", float32)
    init = _number(_get(k, "init", "kernel."), "kernel.init")
    scale = _scale(_get(k, "scale", "kernel."), "kernel.scale")
    zero = _zero_as_missing(k, built, width, version)
    if "feature_perturbation" not in k:
        if "background" in k:
            raise _fail("kernel.feature_perturbation", "'interventional' with a background", None)
        return TreeKernel(built, init, width, scale, float32, zero)
    if version < INTERVENTIONAL_VERSION:
        raise _fail(
            "format_version", f"{INTERVENTIONAL_VERSION} with kernel.feature_perturbation", version
        )
    if k["feature_perturbation"] != "interventional":
        raise _fail("kernel.feature_perturbation", "'interventional'", k["feature_perturbation"])
    tree = TreeKernel(built, init, width, scale, float32, zero, pattern_table=False)
    try:
        check_code_bits(tree)
    except ConfigError:
        raise _fail(
            "kernel.trees",
            f"trees whose leaf paths split on at most {MAX_CODE_BITS} distinct features "
            "(interventional)",
            f"a path of {tree.depth}",
        ) from None
    if version == INTERVENTIONAL_VERSION:  # format 3: the rows, grouped again here
        if "patterns" in k:
            raise _fail("kernel.patterns", "absent in format 3 (it saves the rows)", "...")
        background = _background(_get(k, "background", "kernel."), width, tree.routes_missing)
        return InterventionalTreeKernel(tree, background)
    if "background" in k:
        raise _fail(
            "kernel.background", f"absent in format {version} (it saves the patterns)", "..."
        )
    if version >= PACKED_VERSION:
        return InterventionalTreeKernel(tree, patterns=forest.read_patterns(k, tree))
    return InterventionalTreeKernel(tree, patterns=_patterns(k, tree))


def _b64(value: object, path: str, dtype: str, n: int) -> np.ndarray:
    """``n`` little-endian ``dtype`` values saved as base64, sized before decoding."""
    size = np.dtype(dtype).itemsize * n
    chars = 4 * ((size + 2) // 3)
    expected = f"base64 of {n} little-endian {dtype} values ({chars} characters)"
    if not isinstance(value, str) or len(value) != chars:
        raise _fail(path, expected, value)
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:  # not base64 (binascii.Error), or not ASCII
        raise _fail(path, expected, value) from None
    if len(raw) != size:  # padding in the middle
        raise _fail(path, expected, value)
    return np.frombuffer(raw, dtype=dtype)


def _patterns(k: Mapping[str, Any], tree: TreeKernel) -> Patterns:
    """Format 4's fitted patterns (one entry per tree), checked against the trees.

    Per tree: ``per_leaf`` (patterns of each leaf, in node order), then ``codes`` and
    ``counts``, whose declared sizes are checked against the strings before decoding;
    then every tree's at once (:func:`~prodml.explain._forest_state.check_patterns`).
    """
    m = forest.n_background(k)
    saved = _get(k, "patterns", "kernel.")
    n_trees = len(tree.trees)
    if not isinstance(saved, list) or len(saved) != n_trees:
        raise _fail("kernel.patterns", f"a list of {n_trees} entries (one per tree)", saved)
    code_dtype, count_dtype = code_dtype_of(tree.depth), count_dtype_of(m)
    leaves = [int((t.left < 0).sum()) for t in tree.trees]
    per_leaf, codes, counts = [], [], []
    for i, entry in enumerate(saved):
        path = f"kernel.patterns[{i}]"
        e = _mapping(entry, path)
        n_leaf = _b64(_get(e, "per_leaf", path + "."), path + ".per_leaf", count_dtype, leaves[i])
        per_leaf.append(forest.per_leaf_counts(n_leaf, m, path + ".per_leaf"))
        n = int(per_leaf[-1].sum())
        codes.append(_b64(_get(e, "codes", path + "."), path + ".codes", code_dtype, n))
        counts.append(_b64(_get(e, "counts", path + "."), path + ".counts", count_dtype, n))

    def where(field: str, i: int) -> str:
        return field.replace("kernel.patterns", f"kernel.patterns[{i}]", 1)

    return forest.check_patterns(
        np.concatenate(per_leaf), np.concatenate(codes), np.concatenate(counts), m, k, tree, where
    )


def _check_path_cells(trees: list[Tree]) -> None:
    """Refuse trees whose leaf-path tables would dwarf the state (a chain of splits).

    Building the kernel holds ``leaves x longest path`` cells (some 130 bytes each while
    the paths are built): a fitted forest holds tens per node, a chain of ``n`` splits
    ``n**2 / 4``, gigabytes from a megabyte of JSON. At most ``PATH_CELLS_PER_NODE``
    per node, past ``PATH_CELLS_FREE`` (a few legitimate chains, such as a tree on a
    staircase target, go past the first), load.
    """
    excess = forest.path_cells_excess(trees)
    if excess is not None:
        raise _fail(
            "kernel.trees",
            f"trees whose leaves x longest path ({excess}) stays within "
            f"{forest.PATH_CELLS_PER_NODE} cells per node past {forest.PATH_CELLS_FREE}",
            "...",
        )


def _background(rows: object, width: int, nan_ok: bool) -> np.ndarray:
    """Saved background rows: 1 to MAX_BACKGROUND rows of ``width`` numbers (null: NaN).

    Checked at once (the types of every value, then their magnitudes in numpy); the
    first value refused is found, and named, only when one is.
    """
    path = "kernel.background"
    if not isinstance(rows, list) or not 0 < len(rows) <= MAX_BACKGROUND:
        raise _fail(path, f"a list of 1 to {MAX_BACKGROUND} rows", rows)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise _fail(f"{path}[{i}]", f"a list of {width} numbers", row)
    flat = list(chain.from_iterable(rows))
    if set(map(type, flat)) <= ({int, float, type(None)} if nan_ok else {int, float}):
        try:
            out = np.array(flat, dtype=np.float64)  # null: NaN
        except OverflowError:  # an int beyond the float range: named below
            out = None
        if out is not None:
            ok = np.abs(out) <= MAX_MAGNITUDE  # NaN and infinities fail too
            if not ok.all() and nan_ok:
                ok |= np.array([v is None for v in flat])
            if ok.all():
                return out.reshape(len(rows), width)
    out = np.empty((len(rows), width))  # other number types, or a value to refuse
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v is None and nan_ok:
                out[i, j] = np.nan
                continue
            x = finite_float(v)
            if x is None or abs(x) > MAX_MAGNITUDE:
                expected = (
                    "a finite number or null (a NaN, which the model routes)"
                    if nan_ok
                    else "a finite number (the model defines no route for NaN)"
                ) + f", within +-{MAX_MAGNITUDE:g}"
                raise _fail(f"{path}[{i}][{j}]", expected, v)
            out[i, j] = x
    return out


def _zero_as_missing(
    k: Mapping[str, Any], trees: list[Tree], width: int, version: int
) -> list[int] | None:
    if "zero_as_missing" not in k:
        return None
    path = "kernel.zero_as_missing"
    value = k["zero_as_missing"]
    if version < ZERO_AS_MISSING_VERSION:
        raise _fail("format_version", f"{ZERO_AS_MISSING_VERSION} with {path}", version)
    if (
        not isinstance(value, list)
        or not value
        or not all(type(f) is int and 0 <= f < width for f in value)
        or value != sorted(set(value))
    ):
        raise _fail(path, f"a non-empty sorted list of distinct feature indices in [0, {width})",
                    value)  # fmt: skip
    if any(t.missing_left is None for t in trees):
        # Zeros read as NaN need the route a NaN takes.
        i = next(i for i, t in enumerate(trees) if t.missing_left is None)
        tree = "kernel.trees" if version >= PACKED_VERSION else f"kernel.trees[{i}]"
        raise _fail(f"{tree}.missing_left", f"present (with {path})", None)
    return list(value)


def _sampling(
    k: Mapping[str, Any], pipeline: FeaturePipeline, model: Any, class_index: int | None
) -> SamplingKernel:
    width = len(pipeline.feature_names_out)
    groups = pipeline.output_groups()
    rows = _get(k, "background", "kernel.")
    if not isinstance(rows, list) or not rows:
        raise _fail("kernel.background", "a non-empty list of rows", rows)
    background = np.array(
        [_floats(r, f"kernel.background[{i}]", width) for i, r in enumerate(rows)]
    ).reshape(len(rows), width)
    perms = _get(k, "permutations", "kernel.")
    if not isinstance(perms, list) or len(perms) < 2 or len(perms) % 2:
        raise _fail("kernel.permutations", "an even number (>= 2) of permutations", perms)
    excess = switch_cells_excess(len(perms), len(groups), width)
    if excess is not None:  # before reading each one
        raise ConfigError(
            f"Explainer state field 'kernel.permutations' holds {excess}: a sampling "
            f"explainer holds at most {MAX_PERMUTATIONS} permutations, of at most "
            f"{sampling.MAX_SWITCH_CELLS} switch cells (as when it is built)",
            parameter="kernel.permutations",
        )
    for i, perm in enumerate(perms):
        if not isinstance(perm, list) or sorted(perm) != list(range(len(groups))):
            raise _fail(f"kernel.permutations[{i}]", f"a permutation of 0..{len(groups) - 1}", perm)
    scale = _scale(_get(k, "scale", "kernel."), "kernel.scale")
    base = _number(_get(k, "base", "kernel."), "kernel.base")
    group_of = np.empty(width, dtype=np.int64)
    for g, idx in enumerate(groups.values()):
        group_of[idx] = g
    kernel = SamplingKernel(
        None, scale, background, np.array(perms, dtype=np.int64), group_of, base=base
    )
    if model is not None:
        kernel.set_model(*output_function(model, class_index))
    return kernel


def load(
    data: object, model: Any = None
) -> tuple[FeaturePipeline, LinearKernel | TreeKernel | SamplingKernel, int | None]:
    """Validate saved state; return its pipeline, kernel and class index."""
    d = _mapping(data, "<root>")
    check_depth(d, owner="Explainer")
    version = check_format_version(d.get("format_version"), _READABLE, owner="Explainer")
    if d.get("kind") != "Explainer":
        raise _fail("kind", "'Explainer'", d.get("kind"))
    class_index = d.get("class_index")
    if class_index is not None and (
        isinstance(class_index, bool) or not isinstance(class_index, int)
    ):
        raise _fail("class_index", "an int or null", class_index)
    pipeline = FeaturePipeline.from_dict(_mapping(_get(d, "pipeline", ""), "pipeline"))
    if not hasattr(pipeline, "programs_"):
        raise _fail("pipeline", "a fitted pipeline", "an unfitted one")
    width = len(pipeline.feature_names_out)
    kernel = _mapping(_get(d, "kernel", ""), "kernel")
    method = _get(d, "method", "")
    if method == "linear":
        return pipeline, _linear(kernel, width), class_index
    if method == "tree":
        return pipeline, _trees(kernel, width, version), class_index
    if method == "sampling":
        return pipeline, _sampling(kernel, pipeline, model, class_index), class_index
    raise _fail("method", "'linear', 'tree' or 'sampling'", method)
