"""Format 4: an interventional explainer saves its fitted patterns, and a load checks them.

Format 3 saved the background rows, and every load grouped them again (seconds for a
300-tree forest). Format 4 saves what the fit keeps: per tree, each leaf's number of
distinct background patterns, their bit codes and their counts (base64 little-endian
arrays), with ``n_background`` and the base value. These tests pin a load to the bits of
a fresh fit, keep format 3 loading, and tamper with every array: each edit is refused
with a ``ConfigError`` naming the field, never explained from. Paths of more distinct
features than a code holds (``MAX_CODE_BITS``) are refused on both sides of the limit.
"""

from __future__ import annotations

import base64
import functools
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor

from prodml.errors import ConfigError
from prodml.explain import Explainer, _state
from prodml.explain._interventional import (
    MAX_CODE_BITS,
    InterventionalTreeKernel,
    code_dtype_of,
    count_dtype_of,
)
from prodml.explain._trees import Tree, TreeKernel, trees_from_model

from .conftest import legacy_state, records
from .test_interventional import CASES, _fitted, format_3


@functools.cache
def _case(name: str) -> tuple[Explainer, Any]:
    ex, _, _, test, _ = _fitted(name)
    return ex, test


@pytest.mark.parametrize("name", list(CASES))
def test_a_format_4_load_gives_the_bits_of_a_fresh_fit(name: str) -> None:
    ex, test = _case(name)
    text = ex.to_json()
    assert json.loads(text)["format_version"] == 5
    loaded = Explainer.from_json(text)
    assert loaded.kernel_.background is None  # type: ignore[union-attr] # rows not saved
    from_4 = Explainer.from_dict(legacy_state(ex))  # format 4 still loads
    from_3 = Explainer.from_dict(format_3(ex))  # format 3 still loads: it fits again
    assert from_3.to_json() == from_4.to_json() == text  # and both save the same state
    fresh = ex.explain_batch(test)
    for back in (loaded, from_4, from_3):
        got = back.explain_batch(test)
        assert got.values.tobytes() == fresh.values.tobytes()
        assert got.prediction.tobytes() == fresh.prediction.tobytes()
        assert got.base == fresh.base
        for rec in records(test):
            a, b = ex.explain_record(rec), back.explain_record(rec)
            assert (a.values, a.prediction, a.base) == (b.values, b.prediction, b.base)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_background=st.integers(1, 40) | st.sampled_from([255, 256, 300]),  # "<u1", "<u2" counts
    depth=st.integers(1, 12),  # "<u1" and "<u2" codes
)
def test_kernel_state_round_trips_to_the_same_bits(
    seed: int, n_background: int, depth: int
) -> None:
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(300, 12)), 1)  # ties: shared patterns, rows on thresholds
    y = X[:, 0] - X[:, 1] * X[:, 2] + X[:, 3]
    model = RandomForestRegressor(n_estimators=3, max_depth=depth, random_state=seed)
    tree = trees_from_model(model.fit(X, y), None)
    # NaN in the background and the records only: a forest trained on NaN may split
    # NaN from every number at an infinite threshold, which no state holds.
    X[rng.random(X.shape) < 0.1] = np.nan
    assert tree is not None
    kernel = InterventionalTreeKernel(tree, X[:n_background])
    saved = json.loads(json.dumps(kernel.to_dict()))
    back = _state._trees(saved, 12, 4)
    assert isinstance(back, InterventionalTreeKernel)
    assert back.to_dict() == saved
    groups = np.arange(12) // 2
    test = X[200:230]
    for k in (kernel, back):
        k.bind(groups, 6)
    for jit in (False, True):
        kernel.jit = back.jit = jit
        phi, pred = kernel.attribute(test)
        phi_back, pred_back = back.attribute(test)
        assert phi.tobytes() == phi_back.tobytes()
        assert pred.tobytes() == pred_back.tobytes()
    assert kernel.base == back.base


# -- hostile format-4 state --------------------------------------------------------------


def _saved() -> dict[str, Any]:
    return legacy_state(_case("forest_regressor")[0])


def _dtypes(state: dict[str, Any]) -> dict[str, str]:
    depth = _case("forest_regressor")[0].kernel_.depth  # type: ignore[union-attr]
    count = count_dtype_of(state["kernel"]["n_background"])  # "<u1": 12 rows
    return {"per_leaf": count, "codes": code_dtype_of(depth), "counts": count}


def _get(state: dict[str, Any], i: int, key: str) -> np.ndarray:
    raw = base64.b64decode(state["kernel"]["patterns"][i][key])
    return np.frombuffer(raw, dtype=_dtypes(state)[key]).astype(np.int64)


def _put(state: dict[str, Any], i: int, key: str, values: np.ndarray) -> None:
    data = np.asarray(values).astype(_dtypes(state)[key]).tobytes()
    state["kernel"]["patterns"][i][key] = base64.b64encode(data).decode()


def _leaf_with_patterns(state: dict[str, Any], i: int) -> tuple[int, int]:
    """The pair range of a leaf of tree ``i`` with two patterns or more."""
    start = 0
    for n in _get(state, i, "per_leaf").tolist():
        if n >= 2:
            return start, start + n
        start += n
    raise AssertionError("no such leaf in the fixture")


def _move_a_row_onto_the_reached_pattern(s: dict[str, Any]) -> None:
    """Within a leaf (its total kept): a row moved onto the pattern reaching the leaf."""
    top = (1 << _case("forest_regressor")[0].kernel_.depth) - 1  # type: ignore[union-attr]
    per_leaf, codes = _get(s, 0, "per_leaf"), _get(s, 0, "codes")
    counts = _get(s, 0, "counts").copy()
    start = 0
    for n in per_leaf.tolist():
        cut = slice(start, start + n)
        if top in codes[cut] and (counts[cut][codes[cut] != top] >= 2).any():
            i = start + int(np.flatnonzero(codes[cut] == top)[0])
            j = start + int(np.flatnonzero((codes[cut] != top) & (counts[cut] >= 2))[0])
            counts[i] += 1
            counts[j] -= 1
            _put(s, 0, "counts", counts)
            return
        start += n
    raise AssertionError("no such leaf in the fixture")


def _swap_entries(i: int, j: int) -> Callable[[dict[str, Any]], None]:
    def edit(s: dict[str, Any]) -> None:
        p = s["kernel"]["patterns"]
        p[i], p[j] = p[j], p[i]

    return edit


def _swap_key(key: str, i: int, j: int) -> Callable[[dict[str, Any]], None]:
    def edit(s: dict[str, Any]) -> None:
        p = s["kernel"]["patterns"]
        p[i][key], p[j][key] = p[j][key], p[i][key]

    return edit


def _edit_array(
    key: str, fn: Callable[[np.ndarray], np.ndarray]
) -> Callable[[dict[str, Any]], None]:
    def edit(s: dict[str, Any]) -> None:
        _put(s, 0, key, fn(_get(s, 0, key).copy()))

    return edit


def _set(arr: np.ndarray, i: int, v: int) -> np.ndarray:
    arr[i] = v
    return arr


def _reverse_a_leaf(s: dict[str, Any]) -> None:
    a, b = _leaf_with_patterns(s, 0)
    codes = _get(s, 0, "codes").copy()
    codes[a:b] = codes[a:b][::-1]
    _put(s, 0, "codes", codes)


def _clear_a_padding_bit(s: dict[str, Any]) -> None:
    kernel = _case("forest_regressor")[0].kernel_
    lengths = kernel.length[: int((kernel.trees[0].left < 0).sum())]  # type: ignore[union-attr]
    leaf = int(np.flatnonzero(lengths < kernel.depth)[0])  # type: ignore[union-attr]
    per_leaf, codes = _get(s, 0, "per_leaf"), _get(s, 0, "codes").copy()
    first = int(per_leaf[:leaf].sum())
    codes[first] &= ~(1 << (kernel.depth - 1))  # type: ignore[union-attr] # a padding slot
    _put(s, 0, "codes", codes)


P0 = "kernel.patterns[0]"
HOSTILE: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    # truncate
    ("truncated codes", lambda s: s["kernel"]["patterns"][0].update(
        codes=s["kernel"]["patterns"][0]["codes"][:-4]), P0 + ".codes"),
    ("truncated counts", _edit_array("counts", lambda a: a[:-1]), P0 + ".counts"),
    ("one tree's entry lost", lambda s: s["kernel"]["patterns"].pop(), "kernel.patterns"),
    # flip
    ("a code beyond the depth", _edit_array("codes", lambda a: _set(a, 0, 255)), P0 + ".codes"),
    ("a padding slot cleared", _clear_a_padding_bit, P0 + ".codes"),
    ("a leaf's codes out of order", _reverse_a_leaf, P0 + ".codes"),
    ("a count one more", _edit_array("counts", lambda a: _set(a, 0, a[0] + 1)), P0 + ".counts"),
    ("a count of 0", _edit_array("counts", lambda a: _set(a, 0, 0)), P0 + ".counts"),
    ("a row moved onto the reached pattern", _move_a_row_onto_the_reached_pattern, P0),
    ("per-leaf count one more", _edit_array("per_leaf", lambda a: _set(a, 0, a[0] + 1)),
     P0 + ".codes"),
    ("per-leaf count of 0", _edit_array("per_leaf", lambda a: _set(a, 0, 0)),
     P0 + ".per_leaf"),
    ("not base64", lambda s: s["kernel"]["patterns"][0].update(
        codes="!" + s["kernel"]["patterns"][0]["codes"][1:]), P0 + ".codes"),
    ("not ASCII", lambda s: s["kernel"]["patterns"][0].update(
        codes="\u00e9" + s["kernel"]["patterns"][0]["codes"][1:]), P0 + ".codes"),
    ("a list, not base64", lambda s: s["kernel"]["patterns"][0].update(codes=[1, 2]),
     P0 + ".codes"),
    ("base changed", lambda s: s["kernel"].update(base=s["kernel"]["base"] + 1e-6),
     "kernel.base"),
    ("base not a number", lambda s: s["kernel"].update(base="0.1"), "kernel.base"),
    # resize
    ("codes grown", _edit_array("codes", lambda a: np.append(a, a[-1])), P0 + ".codes"),
    ("per-leaf grown", _edit_array("per_leaf", lambda a: np.append(a, 1)), P0 + ".per_leaf"),
    ("fewer background rows", lambda s: s["kernel"].update(n_background=11), P0 + ".counts"),
    ("no background rows", lambda s: s["kernel"].update(n_background=0), "kernel.n_background"),
    ("too many background rows", lambda s: s["kernel"].update(n_background=10_001),
     "kernel.n_background"),
    ("a bool row count", lambda s: s["kernel"].update(n_background=True),
     "kernel.n_background"),
    # swap arrays between trees (trees 2 and 4 have 14 leaves each; tree 0 has 15)
    ("entries of trees of other sizes", _swap_entries(0, 1), P0 + ".per_leaf"),
    ("entries of trees of one size", _swap_entries(2, 4), "kernel.patterns[2].codes"),
    ("codes of trees of one size", _swap_key("codes", 2, 4), "kernel.patterns[2].codes"),
    ("counts of trees of one size", _swap_key("counts", 2, 4), "kernel.patterns[2].counts"),
    # formats mixed
    ("format 3 holding patterns", lambda s: s.update(format_version=3), "kernel.patterns"),
    ("format 4 holding rows", lambda s: s["kernel"].update(background=[[0.0] * 8]),
     "kernel.background"),
    ("no patterns", lambda s: s["kernel"].pop("patterns"), "kernel.patterns"),
    ("no base", lambda s: s["kernel"].pop("base"), "kernel.base"),
    ("an entry not a dict", lambda s: s["kernel"]["patterns"].__setitem__(0, []), P0),
    ("an entry without codes", lambda s: s["kernel"]["patterns"][0].pop("codes"),
     P0 + ".codes"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "edit", "field"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_tampered_format_4_state_is_refused_naming_the_field(
    what: str, edit: Callable[[dict[str, Any]], None], field: str
) -> None:
    state = _saved()
    Explainer.from_dict(state)  # the untouched state loads
    edit(state)
    with pytest.raises(ConfigError) as info:
        Explainer.from_dict(state)
    assert info.value.parameter == field, (what, str(info.value))


def test_a_truncated_text_is_refused() -> None:
    text = _case("forest_regressor")[0].to_json()
    with pytest.raises(ConfigError):
        Explainer.from_json(text[: len(text) // 2])


def test_huge_declared_sizes_are_refused_before_allocating() -> None:
    state = _saved()
    n = len(_get(state, 0, "per_leaf"))
    state["kernel"]["n_background"] = 10_000  # counts saved as "<u2" from here
    _put(state, 0, "per_leaf", np.full(n, 10_000))  # declares 10,000 patterns a leaf
    for entry in state["kernel"]["patterns"][1:]:
        entry["per_leaf"] = state["kernel"]["patterns"][0]["per_leaf"]
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            Explainer.from_dict(state)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.parameter == "kernel.patterns[0].codes"
    assert "150000 little-endian" in str(info.value)  # 15 leaves x 10,000
    assert peak < 2**20  # what it would decode is never allocated
    state["kernel"]["patterns"][0]["per_leaf"] = base64.b64encode(
        np.full(n, 65_535, dtype="<u2").tobytes()
    ).decode()
    with pytest.raises(ConfigError) as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.patterns[0].per_leaf"


# -- paths of at most MAX_CODE_BITS distinct features -----------------------------------


def _chain(k: int) -> Tree:
    """Node ``2i`` splits on feature ``i`` (left: a leaf; right: the next split)."""
    n = 2 * k + 1
    left, right = np.full(n, -1), np.full(n, -1)
    feature, threshold = np.zeros(n, dtype=np.int64), np.zeros(n)
    for i in range(k):
        left[2 * i], right[2 * i] = 2 * i + 1, 2 * i + 2
        feature[2 * i], threshold[2 * i] = i, 0.5
    value = np.where(left < 0, np.arange(n, dtype=np.float64), 0.0)
    cover = np.maximum(1.0, np.array([2.0 ** (k - i // 2) for i in range(n)]))
    return Tree(left, right, feature, threshold, cover, value, np.zeros(n, dtype=bool))


@pytest.mark.parametrize("k", [MAX_CODE_BITS, MAX_CODE_BITS + 1])
def test_paths_of_more_distinct_features_than_a_code_holds_are_refused(k: int) -> None:
    rng = np.random.default_rng(0)
    bg = (rng.random((40, k)) < 0.97).astype(np.float64)  # mostly 1: deep leaves reached
    tree = TreeKernel([_chain(k)], 0.0, k, "raw", False)
    assert tree.depth == k
    if k > MAX_CODE_BITS:
        with pytest.raises(ConfigError, match=f"in {MAX_CODE_BITS} bits.*max_depth") as info:
            InterventionalTreeKernel(tree, bg)
        assert info.value.parameter == "feature_perturbation"
        return
    kernel = InterventionalTreeKernel(tree, bg)
    kernel.bind(np.arange(k), k)
    test = (rng.random((5, k)) < 0.97).astype(np.float64)
    first_low = [int(np.argmin(np.append(row > 0.5, False))) for row in test]
    walk = [float(2 * i + 1 if i < k else 2 * k) for i in first_low]  # leaf values, by hand
    for jit in (False, True):
        kernel.jit = jit
        phi, pred = kernel.attribute(test)
        assert pred.tolist() == walk  # the leaf each row reaches, by hand
        np.testing.assert_allclose(kernel.base + phi.sum(axis=1), pred, rtol=0, atol=1e-9)
        for i, x in enumerate(test):
            assert kernel.attribute_one(x) == (phi[i].tolist(), pred[i])
    saved = kernel.to_dict()
    back = _state._trees(json.loads(json.dumps(saved)), k, 4)  # 62-bit codes as "<u8"
    back.bind(np.arange(k), k)
    assert back.attribute(test)[0].tobytes() == phi.tobytes()


def test_a_saved_path_deeper_than_a_code_holds_is_refused_naming_the_trees() -> None:
    k = MAX_CODE_BITS + 1
    tree = _chain(k)
    saved = {
        "trees": [tree.to_dict()], "init": 0.0, "n_features": k, "scale": "raw",
        "float32": False, "feature_perturbation": "interventional",
        "background": [[1.0] * k],
    }  # fmt: skip
    with pytest.raises(ConfigError, match=f"at most {MAX_CODE_BITS} distinct") as info:
        _state._trees(saved, k, 3)
    assert info.value.parameter == "kernel.trees"


@pytest.mark.parametrize(
    "routes",
    [lambda n: [[True]] * n, lambda n: [True] * (n - 1) + [1], lambda n: [True] * (n - 1) + [None],
     lambda n: [True] * (n - 1) + [[True, False]], lambda n: "T" * n],
)  # fmt: skip
def test_missing_left_must_be_a_flat_list_of_bools(routes: Callable[[int], Any]) -> None:
    state = _saved()
    tree = state["kernel"]["trees"][1]
    tree["missing_left"] = routes(len(tree["left"]))
    with pytest.raises(ConfigError) as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.trees[1].missing_left"
