"""Format 5: a tree explainer's forest and patterns as typed arrays, checked vectorised.

Three things are pinned here. States saved by main before format 5 (``data/
golden_main_states.json``: formats 1 and 4, written by ``/work/main`` at the commit the
file names, with the values that prodml computed) load and give the same bits and
fingerprint. Trees trained on NaN (scikit-learn splits "every number left, NaN right"
at an infinite threshold, which JSON numbers cannot hold: such a state could not be
saved) save and load, equal to shap's path-dependent TreeExplainer and to the
interventional game by brute force to 1e-9, NaN rows included. And every array is
hostile until checked: each edit below is refused with a ConfigError naming the field.
"""

from __future__ import annotations

import base64
import functools
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeRegressor

from prodml.errors import ConfigError, ProdMLError
from prodml.explain import Explainer, _forest_state, _state
from prodml.explain._interventional import InterventionalTreeKernel
from prodml.explain._trees import trees_from_model
from prodml.features import FeaturePipeline, steps

from .test_interventional import _brute_force

GOLDEN = Path(__file__).parent / "data" / "golden_main_states.json"
COLS = [f"x{j}" for j in range(5)]


def _golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", sorted(_golden()["cases"]))
def test_a_state_saved_by_main_loads_with_the_same_bits_and_fingerprint(name: str) -> None:
    golden = _golden()
    case = golden["cases"][name]
    test = np.array([[np.nan if v is None else v for v in r] for r in golden["test"]])
    assert case["state"]["format_version"] in (1, 4)
    loaded = Explainer.from_dict(case["state"])
    again = Explainer.from_json(loaded.to_json())  # saved as format 5, loaded back
    assert json.loads(loaded.to_json())["format_version"] == 5
    for ex in (loaded, again):
        phi, pred = ex.kernel_.attribute(test)  # type: ignore[union-attr]
        assert phi.tolist() == case["phi"]  # floats equal: the bits main computed
        assert pred.tolist() == case["pred"]
        assert ex.base == case["base"]
        assert ex.fingerprint == case["fingerprint"]  # registered explainers still load


# -- trees trained on NaN --------------------------------------------------------------


@functools.cache
def _nan_trained(name: str) -> tuple[Any, FeaturePipeline, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(41)
    df = pd.DataFrame(rng.normal(size=(400, len(COLS))), columns=COLS)
    pipe = FeaturePipeline([steps.StandardScale(COLS)]).fit(df)
    X = pipe.transform(df)
    X[rng.random(X.shape) < 0.2] = np.nan
    y = np.nan_to_num(X[:, 0]) + 2.0 * np.isnan(X[:, 1]) + np.nan_to_num(X[:, 2] * X[:, 3])
    models: dict[str, Callable[[], Any]] = {
        "tree": lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
        "forest": lambda: RandomForestRegressor(n_estimators=6, max_depth=5, random_state=0),
        "extra": lambda: ExtraTreesRegressor(n_estimators=4, max_depth=5, random_state=0),
        "hgb": lambda: HistGradientBoostingRegressor(max_iter=8, random_state=0),
        "forest_clf": lambda: RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0),
    }
    target = (y > np.median(y)).astype(int) if name == "forest_clf" else y
    model = models[name]().fit(X, target)
    test = rng.normal(size=(25, len(COLS)))
    test[rng.random(test.shape) < 0.3] = np.nan
    test[0] = np.nan  # a row entirely NaN
    return model, pipe, df, test


def _output(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    if hasattr(model, "predict_proba"):
        return lambda X: model.predict_proba(X)[:, 1]
    return model.predict  # type: ignore[no-any-return]


def _thresholds(model: Any) -> np.ndarray:
    if hasattr(model, "_predictors"):
        return np.concatenate([p[0].nodes["num_threshold"] for p in model._predictors])
    return np.concatenate([e.tree_.threshold for e in getattr(model, "estimators_", [model])])


NAN_TRAINED = ["tree", "forest", "hgb", "forest_clf", "extra"]


@pytest.mark.parametrize("name", NAN_TRAINED)
def test_trees_trained_on_nan_save_load_and_equal_shap(name: str) -> None:
    shap = pytest.importorskip("shap", reason="the shap cross-check needs the 'bench' extra")
    model, pipe, _, test = _nan_trained(name)
    if name in ("tree", "forest", "forest_clf"):  # ExtraTrees draws its thresholds, and
        # HistGradientBoosting splits NaN apart at +inf only on some data
        assert np.isinf(_thresholds(model)).any()  # what formats 1 to 4 cannot hold
    ex = Explainer(pipe, model).fit()
    back = Explainer.from_json(ex.to_json())
    phi, pred = back.kernel_.attribute(test)  # type: ignore[union-attr]
    fresh = ex.kernel_.attribute(test)  # type: ignore[union-attr]
    assert phi.tobytes() == fresh[0].tobytes()
    assert pred.tobytes() == fresh[1].tobytes()
    assert back.fingerprint == ex.fingerprint
    np.testing.assert_allclose(pred, _output(model)(test), rtol=0, atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's own deprecation and casting warnings
        values = np.asarray(shap.TreeExplainer(model).shap_values(test, check_additivity=False))
    values = values[..., 1] if values.ndim == 3 else values
    np.testing.assert_allclose(phi, values, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["tree", "forest", "hgb", "forest_clf"])
def test_interventional_on_nan_trained_trees_equals_brute_force_after_a_load(name: str) -> None:
    model, pipe, df, test = _nan_trained(name)
    ex = Explainer(
        pipe, model, background=df.iloc[:40], feature_perturbation="interventional",
        n_background=10, seed=1,
    ).fit()  # fmt: skip
    kept = ex.kernel_.background  # type: ignore[union-attr]
    back = Explainer.from_json(ex.to_json())
    phi, pred = back.kernel_.attribute(test)  # type: ignore[union-attr]
    assert phi.tobytes() == ex.kernel_.attribute(test)[0].tobytes()  # type: ignore[union-attr]
    f = _output(model)
    np.testing.assert_allclose(phi, _brute_force(f, test, kept), rtol=0, atol=1e-9)
    np.testing.assert_allclose(pred, f(test), rtol=0, atol=1e-9)
    np.testing.assert_allclose(back.base + phi.sum(axis=1), pred, rtol=0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_background=st.integers(1, 40) | st.sampled_from([255, 256, 300]),  # "<u1", "<u2" counts
    depth=st.integers(1, 12),  # "<u1" and "<u2" codes
    interventional=st.booleans(),
)
def test_format_5_round_trips_nan_trained_kernels_to_the_same_bits(
    seed: int, n_background: int, depth: int, interventional: bool
) -> None:
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(300, 8)), 1)  # ties: shared patterns, rows on thresholds
    X[rng.random(X.shape) < 0.15] = np.nan  # trained on NaN: infinite thresholds
    y = np.nan_to_num(X[:, 0]) - np.isnan(X[:, 1]) + np.nan_to_num(X[:, 2] * X[:, 3])
    model = RandomForestRegressor(n_estimators=3, max_depth=depth, random_state=seed)
    tree = trees_from_model(model.fit(X, y), None)
    assert tree is not None
    kernel = InterventionalTreeKernel(tree, X[:n_background]) if interventional else tree
    saved = json.loads(json.dumps(_forest_state.dump(kernel)))
    back = _state._trees(saved, 8, 5)
    assert type(back) is type(kernel)
    assert _forest_state.dump(back) == saved
    test = X[200:230]
    for k in (kernel, back):
        k.bind(np.arange(8) // 2, 4)
    for jit in (False, True):
        kernel.jit = back.jit = jit
        phi, pred = kernel.attribute(test)
        phi_back, pred_back = back.attribute(test)
        assert phi.tobytes() == phi_back.tobytes()
        assert pred.tobytes() == pred_back.tobytes()
    assert kernel.base == back.base


# -- hostile format-5 state ------------------------------------------------------------


@functools.cache
def _saved_text() -> str:
    model, pipe, df, _ = _nan_trained("forest")
    ex = Explainer(pipe, model, background=df.iloc[:40], feature_perturbation="interventional")
    return ex.fit().to_json()


def _saved() -> dict[str, Any]:
    state: dict[str, Any] = json.loads(_saved_text())
    return state


def _get(state: dict[str, Any], where: str, field: str) -> np.ndarray:
    saved = state["kernel"][where][field]
    raw = base64.b64decode(saved["data"])
    return np.frombuffer(raw, dtype=saved["dtype"]).copy()


def _put(state: dict[str, Any], where: str, field: str, values: np.ndarray) -> None:
    dtype = state["kernel"][where][field]["dtype"]
    state["kernel"][where][field] = _forest_state.pack(values, dtype)


def _edit(where: str, field: str, fn: Callable[[np.ndarray], Any]) -> Callable[[Any], None]:
    def edit(state: dict[str, Any]) -> None:
        values = _get(state, where, field)
        out = fn(values)
        _put(state, where, field, values if out is None else out)

    return edit


def _node(state: dict[str, Any], inner: bool) -> int:
    left = _get(state, "trees", "left")
    return int(np.flatnonzero(left >= 0 if inner else left < 0)[1])


def _set_at(field: str, inner: bool, value: Any) -> Callable[[Any], None]:
    def edit(state: dict[str, Any]) -> None:
        values = _get(state, "trees", field)
        values[_node(state, inner)] = value
        _put(state, "trees", field, values)

    return edit


def _cycle(state: dict[str, Any]) -> None:
    left = _get(state, "trees", "left")
    left[int(np.flatnonzero(left > 1)[0])] = 0  # points back at the root
    _put(state, "trees", "left", left)


def _shared_child(state: dict[str, Any]) -> None:
    left, right = _get(state, "trees", "left"), _get(state, "trees", "right")
    right[0] = left[0]  # node 0's right subtree has no parent now
    _put(state, "trees", "right", right)


def _second_tree_child_into_first(state: dict[str, Any]) -> None:
    left = _get(state, "trees", "left")
    size = int(_get(state, "trees", "size")[0])
    left[size] = size - 1  # tree 1's root points at the last node of tree 0
    _put(state, "trees", "left", left)


def _set_array_key(where: str, field: str, key: str, value: Any) -> Callable[[Any], None]:
    return lambda s: s["kernel"][where][field].update({key: value})


def _data(where: str, field: str, fn: Callable[[str], str]) -> Callable[[Any], None]:
    def edit(state: dict[str, Any]) -> None:
        saved = state["kernel"][where][field]
        saved["data"] = fn(saved["data"])

    return edit


T, P = "kernel.trees", "kernel.patterns"
HOSTILE: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    # sizes: truncated, oversized, declared apart from the data
    ("truncated data", _data("trees", "left", lambda d: d[:-4]), T + ".left.data"),
    ("grown data", _data("trees", "threshold", lambda d: d + "AAAA"), T + ".threshold.data"),
    ("a billion covers declared", _set_array_key("trees", "cover", "length", 10**9),
     T + ".cover.length"),
    ("length a bool", _set_array_key("trees", "value", "length", True), T + ".value.length"),
    ("a tree too many", lambda s: s["kernel"]["trees"].update(count=7), T + ".size.length"),
    ("count not an int", lambda s: s["kernel"]["trees"].update(count="6"), T + ".count"),
    ("a tree of 0 nodes", _edit("trees", "size", lambda a: a.__setitem__(0, 0)), T + ".size"),
    ("sizes not the nodes", _edit("trees", "size", lambda a: a.__setitem__(0, a[0] - 1)),
     T + ".left.length"),
    ("codes cut", _edit("patterns", "codes", lambda a: a[:-1]), P + ".codes.length"),
    # dtypes
    ("float child ids", _set_array_key("trees", "left", "dtype", "<f8"), T + ".left.dtype"),
    ("float32 thresholds", _set_array_key("trees", "threshold", "dtype", "<f4"),
     T + ".threshold.dtype"),
    ("big-endian", _set_array_key("trees", "feature", "dtype", ">i4"), T + ".feature.dtype"),
    ("signed codes", _set_array_key("patterns", "codes", "dtype", "<i8"), P + ".codes.dtype"),
    ("not base64", _data("trees", "right", lambda d: "!" + d[1:]), T + ".right.data"),
    ("not a string", _set_array_key("trees", "right", "data", [1, 2]), T + ".right.data"),
    ("an array not a dict", lambda s: s["kernel"]["trees"].update(left=[0, -1]), T + ".left"),
    ("an array's extra key", _set_array_key("trees", "left", "order", "C"), T + ".left"),
    # structure: child ids, cycles, one parent
    ("a child out of the tree", _set_at("left", True, 10**6), T + ".left"),
    ("a child below -1", _set_at("left", False, -2), T + ".left"),
    ("a leaf with a right child", _set_at("right", False, 3), T + ".left"),
    ("a cycle", _cycle, T + ".left"),
    ("a shared child", _shared_child, T + ".left"),
    ("a child in another tree", _second_tree_child_into_first, T + ".left"),
    ("a split feature out of range", _set_at("feature", True, 99), T + ".feature"),
    # values
    ("a NaN threshold", _set_at("threshold", True, np.nan), T + ".threshold"),
    ("an infinite threshold at a leaf", _set_at("threshold", False, np.inf), T + ".threshold"),
    ("a huge threshold", _set_at("threshold", True, 1e101), T + ".threshold"),
    ("a NaN cover", _set_at("cover", True, np.nan), T + ".cover"),
    ("a negative cover", _set_at("cover", False, -1.0), T + ".cover"),
    ("an infinite value", _set_at("value", False, np.inf), T + ".value"),
    ("a NaN route of 2", _set_at("missing_left", True, 2), T + ".missing_left"),
    ("routes as int32", _set_array_key("trees", "missing_left", "dtype", "<i4"),
     T + ".missing_left.dtype"),
    # keys
    ("an unknown trees key", lambda s: s["kernel"]["trees"].update(depth=3), T),
    ("no covers", lambda s: s["kernel"]["trees"].pop("cover"), T + ".cover"),
    ("an unknown kernel key", lambda s: s["kernel"].update(rows=[]), "kernel"),
    ("format 5 holding rows", lambda s: s["kernel"].update(background=[[0.0] * 5]),
     "kernel"),
    ("trees as lists", lambda s: s["kernel"].update(trees=[]), T),
    # patterns
    ("a code beyond the depth", _edit("patterns", "codes", lambda a: a.__setitem__(0, 255)),
     P + ".codes"),
    ("a count of 0", _edit("patterns", "counts", lambda a: a.__setitem__(0, 0)), P + ".counts"),
    ("a count one more", _edit("patterns", "counts", lambda a: a.__setitem__(0, a[0] + 1)),
     P + ".counts"),
    ("a leaf of 0 patterns", _edit("patterns", "per_leaf", lambda a: a.__setitem__(0, 0)),
     P + ".per_leaf"),
    ("fewer background rows", lambda s: s["kernel"].update(n_background=39), P + ".counts"),
    ("base changed", lambda s: s["kernel"].update(base=s["kernel"]["base"] + 1e-6),
     "kernel.base"),
    ("base a string", lambda s: s["kernel"].update(base="0.1"), "kernel.base"),
    ("no patterns", lambda s: s["kernel"].pop("patterns"), P),
    ("patterns' extra key", lambda s: s["kernel"]["patterns"].update(rows=1), P),
]  # fmt: skip


@pytest.mark.parametrize(("what", "edit", "field"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_tampered_format_5_state_is_refused_naming_the_field(
    what: str, edit: Callable[[dict[str, Any]], None], field: str
) -> None:
    state = _saved()
    Explainer.from_dict(state)  # the untouched state loads
    edit(state)
    with pytest.raises(ConfigError) as info:
        Explainer.from_dict(state)
    assert isinstance(info.value, ProdMLError)
    assert info.value.parameter == field, (what, str(info.value))


def test_a_declared_size_is_refused_before_decoding() -> None:
    state = _saved()
    state["kernel"]["trees"]["left"]["length"] = 10**12  # 4 TB of int32, declared
    state["kernel"]["trees"]["size"] = _forest_state.pack(np.array([10**12 // 6] * 6), "<i8")
    with pytest.raises(ConfigError) as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.trees.size"  # 2**31 nodes a tree, at most


def test_a_chain_whose_paths_cost_its_length_squared_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = _saved()
    state["kernel"].pop("feature_perturbation")  # path-dependent: the trees alone
    for key in ("n_background", "base", "patterns"):
        state["kernel"].pop(key)
    n = 2_001  # 1,001 leaves x 1,000 splits
    nodes = np.arange(n)
    inner = (nodes % 2 == 0) & (nodes < n - 1)
    chain = {
        "left": np.where(inner, nodes + 1, -1), "right": np.where(inner, nodes + 2, -1),
        "feature": np.where(inner, nodes % 2, 0), "threshold": np.where(inner, -nodes, -2.0),
        "cover": (n - nodes).astype(float), "value": (nodes % 3).astype(float),
        "missing_left": np.zeros(n),
    }  # fmt: skip
    for field, values in chain.items():
        _put(state, "trees", field, np.concatenate([_get(state, "trees", field), values]))
    trees = state["kernel"]["trees"]
    trees["count"] += 1
    sizes = np.append(_get(state, "trees", "size"), n)
    trees["size"] = _forest_state.pack(sizes, "<i4")
    Explainer.from_dict(state)  # within the real bound
    monkeypatch.setattr(_forest_state, "PATH_CELLS_FREE", 1_000)
    with pytest.raises(ConfigError, match="longest path") as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.trees"
