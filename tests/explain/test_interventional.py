"""Interventional TreeSHAP: exact against brute force and shap, additive, same bits.

The reference is the definition itself: for each background row ``b``, every coalition
``S`` of the model's features gives the hybrid row (the record on ``S``, ``b``
elsewhere), scored by the model's own ``predict`` / ``predict_proba`` /
``decision_function`` / raw margin; the Shapley values of that game, averaged over the
background rows and summed per raw column, must equal the explainer's. Where shap 0.51
is right it is a second reference (``shap.TreeExplainer(model, data=bg,
feature_perturbation="interventional")``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from prodml.errors import ConfigError
from prodml.explain import Explainer, _state, _tree_jit
from prodml.explain._interventional import InterventionalTreeKernel
from prodml.explain._sampling import sample_background
from prodml.explain._trees import trees_from_model
from prodml.features import FeaturePipeline, steps

from .conftest import legacy_state, records

NUMERIC = ["a", "b", "c", "d"]


def _frame(n: int, seed: int, nan: float = 0.0, zeros: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({c: rng.normal(size=n) for c in NUMERIC})
    for c in NUMERIC[:2]:
        df.loc[rng.random(n) < zeros, c] = 0.0
        df.loc[rng.random(n) < nan, c] = np.nan
    df["plan"] = rng.choice(["x", "y", "z"], n)
    return df


def _target(df: pd.DataFrame) -> np.ndarray:
    a, b = df["a"].fillna(0.5).to_numpy(), df["b"].fillna(-1.0).to_numpy()
    return (a * b + df["c"].to_numpy() + (df["plan"] == "y") + (df["a"] == 0) > 0.3).astype(int)


def _pipe(df: pd.DataFrame) -> FeaturePipeline:
    return FeaturePipeline([steps.StandardScale(NUMERIC), steps.OneHot(["plan"])]).fit(df)


def _brute_force(
    f: Callable[[np.ndarray], np.ndarray], X: np.ndarray, bg: np.ndarray
) -> np.ndarray:
    """Shapley values per feature of ``v(S) = mean_b f(x on S, b elsewhere)``, by coalitions."""
    p = X.shape[1]
    masks = ((np.arange(2**p)[:, None] >> np.arange(p)) & 1).astype(bool)  # (2**p, p)
    size = masks.sum(axis=1)
    out = np.zeros(X.shape)
    for r, x in enumerate(X):
        hybrid = np.where(masks[None, :, :], x, bg[:, None, :])  # (m, 2**p, p)
        v = f(hybrid.reshape(-1, p)).reshape(len(bg), 2**p).mean(axis=0)
        for i in range(p):
            without = np.flatnonzero(~masks[:, i])  # coalitions without i; + 2**i: with it
            s = size[without]
            w = np.array([math.factorial(k) * math.factorial(p - 1 - k) for k in s])
            out[r, i] = float(np.sum(w * (v[without + (1 << i)] - v[without]))) / math.factorial(p)
    return out


def _grouped(values: np.ndarray, pipe: FeaturePipeline) -> np.ndarray:
    return np.column_stack([values[:, idx].sum(axis=1) for idx in pipe.output_groups().values()])


def _lgbm(**params: Any) -> Any:
    lightgbm = pytest.importorskip("lightgbm", reason="needs the 'lightgbm' extra")
    return lightgbm.LGBMRegressor(
        n_estimators=15, num_leaves=8, min_child_samples=5, verbose=-1, random_state=0, **params
    )


def _xgb() -> Any:
    xgboost = pytest.importorskip("xgboost", reason="needs the 'xgboost' extra")
    return xgboost.XGBRegressor(n_estimators=10, max_depth=3, random_state=0)


# name: (model factory, output function of the fitted model, NaN share, zeros share, tol)
CASES: dict[str, tuple[Callable[[], Any], Callable[[Any], Any], float, float, float]] = {
    "decision_tree": (
        lambda: DecisionTreeRegressor(max_depth=5, random_state=0),
        lambda m: m.predict, 0.0, 0.0, 1e-9,
    ),
    "forest_regressor": (
        lambda: RandomForestRegressor(n_estimators=8, max_depth=4, random_state=0),
        lambda m: m.predict, 0.1, 0.0, 1e-9,
    ),
    "forest_classifier": (
        lambda: RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0),
        lambda m: (lambda X: m.predict_proba(X)[:, 1]), 0.0, 0.0, 1e-9,
    ),
    "gradient_boosting": (
        lambda: GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0),
        lambda m: m.decision_function, 0.0, 0.0, 1e-9,
    ),
    "hist_gradient_boosting": (
        lambda: HistGradientBoostingClassifier(max_iter=10, max_leaf_nodes=8, random_state=0),
        lambda m: m.decision_function, 0.1, 0.0, 1e-9,
    ),
    "xgboost": (
        _xgb, lambda m: (lambda X: m.predict(X, output_margin=True)), 0.1, 0.0, 1e-5,
    ),
    "lightgbm_nan": (
        _lgbm, lambda m: (lambda X: m.predict(X, raw_score=True)), 0.1, 0.0, 1e-9,
    ),
    "lightgbm_zero_as_missing": (
        lambda: _lgbm(zero_as_missing=True),
        lambda m: (lambda X: m.predict(X, raw_score=True)), 0.1, 0.3, 1e-9,
    ),
}  # fmt: skip
# shap 0.51 is wrong for HistGradientBoosting and LightGBM zero_as_missing in
# interventional mode (its own values fail additivity): those are checked against the
# brute force only.
SHAP_WRONG = {"hist_gradient_boosting", "lightgbm_zero_as_missing"}


def _fitted(name: str) -> tuple[Explainer, Any, pd.DataFrame, pd.DataFrame, FeaturePipeline]:
    """Through the pipeline (whose output has no NaN: its steps refuse nulls)."""
    factory, _, _, zeros, _ = CASES[name]
    df = _frame(400, 0, zeros=zeros)
    pipe = _pipe(df)
    model = factory().fit(pipe.transform(df), _target(df))
    bg = _frame(60, 1, zeros=zeros)
    ex = Explainer(
        pipe, model, background=bg, feature_perturbation="interventional", n_background=12, seed=3
    ).fit()
    test = _frame(6, 2, zeros=zeros)
    test.loc[0, ["a", "b"]] = [0.0, 0.0]
    return ex, model, bg, test, pipe


def _kernel(name: str) -> tuple[InterventionalTreeKernel, Any, np.ndarray]:
    """On feature matrices with NaN (and zeros): the kernel alone, one group per feature."""
    factory, _, nan, zeros, _ = CASES[name]
    rng = np.random.default_rng(5)

    def draw(n: int) -> np.ndarray:
        X = rng.normal(size=(n, 6))
        X[rng.random(X.shape) < zeros] = 0.0
        X[:, :3][rng.random((n, 3)) < nan] = np.nan
        return X

    X = draw(400)
    y = np.nan_to_num(X[:, 0], nan=0.7) * np.nan_to_num(X[:, 1]) + X[:, 2] + (X[:, 3] == 0) > 0
    model = factory().fit(X, y.astype(int))
    tree = trees_from_model(model, None)
    assert tree is not None
    bg = draw(10)
    kernel = InterventionalTreeKernel(tree, bg)
    kernel.bind(np.arange(6), 6)
    test = draw(6)
    test[0] = np.nan if nan else 0.0
    return kernel, model, test


# "numpy": bit codes per (leaf, pattern) pair in numpy; "compiled": the same pairs in
# numba (the 'fast' extra). Paths deeper than MAX_CODE_BITS slots are refused
# (test_interventional_state.py).
PATHS = ["numpy", "compiled"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", list(CASES))
def test_with_nan_equals_brute_force_and_adds_up(name: str, path: str) -> None:
    if path == "compiled" and _tree_jit.compiled() is None:
        pytest.skip("numba (the 'fast' extra) is not installed: no compiled kernel")
    kernel, model, test = _kernel(name)
    kernel.jit = path == "compiled"
    f = CASES[name][1](model)
    tol = CASES[name][4]
    phi, pred = kernel.attribute(test)
    np.testing.assert_allclose(phi, _brute_force(f, test, kernel.background), rtol=0, atol=tol)
    np.testing.assert_allclose(pred, f(test), rtol=0, atol=tol)
    np.testing.assert_allclose(kernel.base, f(kernel.background).mean(), rtol=0, atol=tol)
    np.testing.assert_allclose(kernel.base + phi.sum(axis=1), pred, rtol=0, atol=1e-12)
    for i, x in enumerate(test):
        values, out = kernel.attribute_one(x)
        assert values == phi[i].tolist()
        assert out == pred[i]


@pytest.mark.parametrize("name", list(CASES))
def test_equals_brute_force_adds_up_and_gives_record_bits(name: str) -> None:
    ex, model, _, test, pipe = _fitted(name)
    kept = ex.kernel_.background  # type: ignore[union-attr]
    f = CASES[name][1](model)
    tol = CASES[name][4]
    X = pipe.transform(test)
    expected = _grouped(_brute_force(f, X, kept), pipe)
    got = ex.explain_batch(test)
    np.testing.assert_allclose(got.values, expected, rtol=0, atol=tol)
    # Additivity on the model's own output scale; the base is its mean over the background.
    np.testing.assert_allclose(got.prediction, f(X), rtol=0, atol=tol)
    np.testing.assert_allclose(got.base, f(kept).mean(), rtol=0, atol=tol)
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), got.prediction, atol=1e-12)
    for i, rec in enumerate(records(test)):
        e = ex.explain_record(rec)
        assert list(e.values.values()) == got.values[i].tolist()
        assert e.prediction == got.prediction[i]


@pytest.mark.parametrize("name", [n for n in CASES if n not in SHAP_WRONG])
def test_equals_shap_interventional(name: str) -> None:
    shap = pytest.importorskip("shap", reason="the shap cross-check needs the 'bench' extra")
    kernel, model, test = _kernel(name)
    ref = shap.TreeExplainer(model, data=kernel.background, feature_perturbation="interventional")
    values = np.asarray(ref.shap_values(test))
    base = np.ravel(ref.expected_value)
    if values.ndim == 3:  # a forest classifier: one slice per class, class 1 explained
        values, base = values[..., 1], base[1:]
    phi, _ = kernel.attribute(test)
    np.testing.assert_allclose(phi, values, rtol=0, atol=1e-6)
    np.testing.assert_allclose(kernel.base, base[0], rtol=0, atol=1e-6)


def test_background_is_sampled_with_seed_and_default_stays_path_dependent() -> None:
    ex, model, bg, _, pipe = _fitted("forest_regressor")
    kept = ex.kernel_.background  # type: ignore[union-attr]
    assert kept.tobytes() == sample_background(pipe.transform(bg), 12, 3).tobytes()
    plain = Explainer(pipe, model, background=bg).fit()  # background alone changes nothing
    assert "feature_perturbation" not in plain.to_dict()["kernel"]
    assert plain.base == Explainer(pipe, model).fit().base != ex.base
    assert "feature_perturbation='interventional'" in repr(ex)


def test_grouping_sums_a_columns_features() -> None:
    ex, model, _, test, pipe = _fitted("decision_tree")
    X = pipe.transform(test)
    per_feature = _brute_force(model.predict, X, ex.kernel_.background)  # type: ignore[union-attr]
    plan = pipe.output_groups()["plan"]
    assert len(plan) == 3
    got = ex.explain(test)["plan"].to_numpy()
    np.testing.assert_allclose(got, per_feature[:, plan].sum(axis=1), atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature_perturbation": "interventional"}, "background"),
        ({"feature_perturbation": "observational", "background": True}, "one of"),
        ({"feature_perturbation": "interventional", "background": True, "method": "sampling"},
         "applies to tree models"),
        ({"feature_perturbation": "interventional", "background": True, "method": "linear"},
         "applies to tree models"),
        ({"feature_perturbation": "interventional", "background": True, "n_background": 0},
         "n_background"),
        ({"feature_perturbation": "interventional", "background": True, "n_background": 10**6},
         "n_background"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_naming_the_parameter(
    kwargs: dict[str, Any], message: str
) -> None:
    df = _frame(100, 0)
    pipe = _pipe(df)
    model = DecisionTreeRegressor(max_depth=3).fit(pipe.transform(df), _target(df))
    if kwargs.get("background") is True:
        kwargs = kwargs | {"background": df}
    with pytest.raises(ConfigError, match=message) as info:
        Explainer(pipe, model, **kwargs).fit()
    expected = "n_background" if message == "n_background" else "feature_perturbation"
    assert info.value.parameter == expected


def test_a_linear_model_is_refused_naming_the_parameter() -> None:
    df = _frame(100, 0)
    pipe = _pipe(df)
    model = LinearRegression().fit(pipe.transform(df), _target(df))
    with pytest.raises(ConfigError, match="needs a tree model") as info:
        Explainer(pipe, model, background=df, feature_perturbation="interventional").fit()
    assert info.value.parameter == "feature_perturbation"


def test_nan_in_the_background_of_a_model_without_a_route_is_refused() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    model = GradientBoostingClassifier(n_estimators=5).fit(X, X[:, 0] > 0)
    tree = trees_from_model(model, None)
    assert tree is not None
    bg = X[:5].copy()
    bg[2, 1] = np.nan
    with pytest.raises(ConfigError, match="in the background: transformed feature 1") as info:
        InterventionalTreeKernel(tree, bg)
    assert info.value.parameter == "background"


@pytest.mark.parametrize("name", ["forest_regressor", "lightgbm_zero_as_missing", "xgboost"])
def test_state_round_trip_keeps_the_bits(name: str) -> None:
    ex, _, _, test, _ = _fitted(name)
    text = ex.to_json()
    state = json.loads(text)
    assert state["format_version"] == _state.PACKED_VERSION == 5
    assert state["kernel"]["feature_perturbation"] == "interventional"
    assert state["kernel"]["n_background"] == 12
    assert "background" not in state["kernel"]  # the fitted patterns, not the rows
    back = Explainer.from_json(text)
    assert back.to_json() == text
    assert back.feature_perturbation == "interventional"
    a, b = ex.explain_batch(test), back.explain_batch(test)
    assert a.values.tobytes() == b.values.tobytes()
    assert a.base == b.base
    assert a.prediction.tobytes() == b.prediction.tobytes()


def format_3(ex: Explainer) -> dict[str, Any]:
    """``ex``'s state as format 3 wrote it (the background rows, NaN as null)."""
    state = legacy_state(ex)
    kernel = state["kernel"]
    for key in ("n_background", "base", "patterns"):
        del kernel[key]
    rows = ex.kernel_.background  # type: ignore[union-attr]
    kernel["background"] = [[None if math.isnan(v) else v for v in r] for r in rows.tolist()]
    state["format_version"] = 3
    return state


def test_a_saved_nan_is_null_and_loads_where_the_model_routes_nan() -> None:
    ex, _, _, test, _ = _fitted("forest_regressor")  # scikit-learn >= 1.3 forests route NaN
    state = format_3(ex)
    state["kernel"]["background"][0][1] = None
    back = Explainer.from_dict(state)
    kept = back.kernel_.background  # type: ignore[union-attr]
    assert np.isnan(kept[0, 1])
    assert np.isfinite(np.delete(kept.ravel(), 1)).all()
    # Saved again as format 4, it gives the bits of the format-3 load.
    again = Explainer.from_json(back.to_json())
    assert again.explain_batch(test).values.tobytes() == back.explain_batch(test).values.tobytes()


def _state_of(name: str) -> dict[str, Any]:
    return format_3(_fitted(name)[0])


def _hostile(state: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    state = json.loads(json.dumps(state))
    edit(state)
    return state


@pytest.mark.parametrize(
    ("name", "edit", "field"),
    [
        ("forest_regressor", lambda s: s.update(format_version=2), "format_version"),
        ("forest_regressor", lambda s: s["kernel"].update(feature_perturbation="x"),
         "kernel.feature_perturbation"),
        ("forest_regressor", lambda s: s["kernel"].pop("feature_perturbation"),
         "kernel.feature_perturbation"),
        ("forest_regressor", lambda s: s["kernel"].pop("background"), "kernel.background"),
        ("forest_regressor", lambda s: s["kernel"].update(background=[]), "kernel.background"),
        ("forest_regressor", lambda s: s["kernel"].update(background=[[0.0] * 8] * 10_001),
         "kernel.background"),
        ("forest_regressor", lambda s: s["kernel"]["background"][0].pop(),
         "kernel.background[0]"),
        ("forest_regressor", lambda s: s["kernel"]["background"][1].__setitem__(2, "1"),
         "kernel.background[1][2]"),
        ("forest_regressor", lambda s: s["kernel"]["background"][1].__setitem__(2, 1e400),
         "kernel.background[1][2]"),
        ("gradient_boosting", lambda s: s["kernel"]["background"][1].__setitem__(2, None),
         "kernel.background[1][2]"),
    ],
)  # fmt: skip
def test_hostile_format_3_state_is_refused_naming_the_field(
    name: str, edit: Callable[[dict[str, Any]], None], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Explainer.from_dict(_hostile(_state_of(name), edit))
    assert info.value.parameter == field


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n_background=st.integers(1, 25), depth=st.integers(1, 6))
def test_adds_up_and_records_give_batch_bits_on_random_forests(
    seed: int, n_background: int, depth: int
) -> None:
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(120, 4)), 1)  # ties: rows on thresholds and shared patterns
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
    model = RandomForestRegressor(n_estimators=3, max_depth=depth, random_state=seed)
    model.fit(X, y)
    tree = trees_from_model(model, None)
    assert tree is not None
    kernel = InterventionalTreeKernel(tree, X[:n_background])
    kernel.bind(np.array([0, 0, 1, 2]), 3)  # features 0 and 1 are one raw column
    test = X[60:70]
    by_path = {}
    for jit in (False, True):
        kernel.jit = jit
        phi, pred = kernel.attribute(test)
        np.testing.assert_allclose(pred, model.predict(test), rtol=0, atol=1e-12)
        np.testing.assert_allclose(kernel.base + phi.sum(axis=1), pred, rtol=0, atol=1e-12)
        for i, x in enumerate(test):
            assert kernel.attribute_one(x) == (phi[i].tolist(), pred[i])
        by_path[jit] = phi
    np.testing.assert_allclose(by_path[False], by_path[True], rtol=0, atol=1e-12)
