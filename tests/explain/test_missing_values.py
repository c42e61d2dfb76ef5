"""Tree models that route missing values themselves are explained along that route.

Seeded data with 5-30 % NaN per column, rows entirely NaN, and a column never missing in
training but missing at explanation time. The kernel (path-dependent TreeSHAP) must
reach the model's own prediction, add up exactly, and equal shap.TreeExplainer.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from prodml.errors import ConfigError
from prodml.explain import Explainer, _state, _tree_jit, _trees
from prodml.features import FeaturePipeline, steps

from .conftest import legacy_state, records

shap = pytest.importorskip("shap", reason="the shap cross-check needs the 'bench' extra")

TOL = 1e-9
WIDTH = 6
NEVER = 5  # never missing in training, missing at explanation time


def _data(n: int = 400, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training X with 5-30 % NaN per column (none in NEVER), targets, explanation X."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, WIDTH))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3] + X[:, NEVER]
    rates = [0.05, 0.1, 0.2, 0.3, 0.15, 0.0]
    for j, rate in enumerate(rates):
        X[rng.random(n) < rate, j] = np.nan
    y = np.where(np.isnan(X[:, 0]), 1.5, 0.0) + np.nan_to_num(y, nan=0.0)
    test = rng.normal(size=(120, WIDTH))
    test[rng.random(test.shape) < 0.25] = np.nan  # NEVER too
    test[:3] = np.nan  # rows entirely NaN
    test[3, NEVER] = np.nan
    return X, y, test


def _sk_model(name: str) -> Any:
    X, y, _ = _data()
    cls = (y > np.median(y)).astype(int)
    models: dict[str, Any] = {
        "tree_reg": lambda: DecisionTreeRegressor(max_depth=7, random_state=0).fit(X, y),
        "tree_clf": lambda: DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, cls),
        "forest_reg": lambda: RandomForestRegressor(
            n_estimators=6, max_depth=6, random_state=0
        ).fit(X, y),
        "forest_clf": lambda: RandomForestClassifier(
            n_estimators=8, max_depth=4, random_state=0
        ).fit(X, cls),
        "extra_reg": lambda: ExtraTreesRegressor(n_estimators=4, max_depth=5, random_state=0).fit(
            X, y
        ),
        "hgb_reg": lambda: HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y),
        "hgb_clf": lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, cls),
    }
    return models[name]()


def _numeric_pipeline() -> FeaturePipeline:
    """A pipeline of one output per column (NaN-free: prodml's steps refuse nulls)."""
    df = pd.DataFrame(np.zeros((4, WIDTH)) + np.arange(4)[:, None], columns=_cols())
    return FeaturePipeline([steps.StandardScale(_cols())]).fit(df)


def _cols() -> list[str]:
    return [f"x{j}" for j in range(WIDTH)]


def _kernel(model: Any, groups: np.ndarray | None = None) -> _trees.TreeKernel:
    kernel = _trees.trees_from_model(model, None)
    assert kernel is not None
    group_of = np.arange(WIDTH) if groups is None else groups
    kernel.bind(group_of, int(group_of.max()) + 1)
    return kernel


def _output(model: Any, X: np.ndarray) -> np.ndarray:
    if hasattr(model, "decision_function"):
        out = np.asarray(model.decision_function(X))
        return out if out.ndim == 1 else out[:, -1]
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.predict(X))


def _shap_values(model: Any, X: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's own deprecation and casting warnings
        values = shap.TreeExplainer(model).shap_values(X, check_additivity=False)
    values = np.asarray(values)
    return values[..., 1] if values.ndim == 3 else values


SKLEARN = ["extra_reg", "forest_clf", "forest_reg", "hgb_clf", "hgb_reg", "tree_clf", "tree_reg"]


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", SKLEARN)
def test_sklearn_nan_rows_follow_the_model_and_equal_shap(name: str, jit: bool) -> None:
    if jit and _tree_jit.compiled() is None:
        pytest.skip("numba (the 'fast' extra) is not installed: no compiled kernel")
    model = _sk_model(name)
    _, _, test = _data()
    kernel = _kernel(model)
    assert kernel.routes_missing
    kernel.jit = jit
    phi, pred = kernel.attribute(test)
    np.testing.assert_allclose(pred, _output(model, test), rtol=0, atol=TOL)
    np.testing.assert_allclose(kernel.base + phi.sum(axis=1), pred, rtol=0, atol=TOL)
    np.testing.assert_allclose(phi, _shap_values(model, test), rtol=0, atol=TOL)
    # A record gives the bits of its batch row, NaN or not.
    for i in (0, 3, 17):
        values, out = kernel.attribute_one(test[i].copy())
        assert np.array(values).tobytes() == phi[i].tobytes()
        assert out == pred[i]


def test_the_pattern_table_and_the_polynomial_agree_on_nan_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _sk_model("forest_reg")
    _, _, test = _data()
    table = _kernel(model)
    monkeypatch.setattr(_trees, "_TABLE_BUDGET", 0)
    poly = _kernel(model)
    assert table.table is not None
    assert poly.table is None
    for jit in (False, True):
        table.jit = poly.jit = jit
        a, pa = table.attribute(test)
        b, pb = poly.attribute(test)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(pa, pb, rtol=0, atol=1e-12)
    # And the plain-Python kernels (what numba compiles) say the same.
    phi, pred = np.zeros_like(b), np.full(len(test), poly.init)
    x32 = test.astype(np.float32).astype(np.float64)
    bad = _tree_jit.run_poly(
        x32, poly.feat, poly.lo, poly.hi, poly.nan, True, poly.z, poly.length,
        poly._weights, poly._group, poly.leaf_value, phi, pred,
    )  # fmt: skip
    assert bad == -1
    np.testing.assert_allclose(phi, b, rtol=0, atol=1e-12)
    out = np.zeros((len(test), table.n_groups + 1))
    out[:, -1] = table.init
    bad = _tree_jit.run_table(
        test, True, table._slots, table._bounds, table._nan_flat, True, table._flat_table,
        table.leaf_value, out,
    )  # fmt: skip
    assert bad == -1
    np.testing.assert_allclose(out[:, :-1], a, rtol=0, atol=1e-12)


def test_a_merged_path_takes_nan_only_where_every_split_sends_it() -> None:
    # Root x0 <= 0 (NaN left), then x0 <= -1 (NaN right): NaN reaches the leaf (-1, 0].
    left = np.array([1, 3, -1, -1, -1], dtype=np.int64)
    right = np.array([2, 4, -1, -1, -1], dtype=np.int64)
    tree = _trees.Tree(
        left, right, np.zeros(5, dtype=np.int64), np.array([0.0, -1.0, 0, 0, 0]),
        np.array([10.0, 6.0, 4.0, 2.0, 4.0]), np.array([0.0, 0.0, 5.0, 1.0, 3.0]),
        np.array([True, False, False, False, False]),
    )  # fmt: skip
    kernel = _trees.TreeKernel([tree], 0.0, 1, "raw", False)
    kernel.bind(np.zeros(1, dtype=np.int64), 1)
    phi, pred = kernel.attribute(np.array([[np.nan], [-2.0], [-0.5], [1.0]]))
    np.testing.assert_array_equal(pred, [3.0, 1.0, 3.0, 5.0])
    np.testing.assert_allclose(kernel.base + phi[:, 0], pred, rtol=0, atol=TOL)


def test_nan_attributions_add_up_when_grouped_into_raw_columns() -> None:
    model = _sk_model("hgb_reg")
    _, _, test = _data()
    groups = np.array([0, 0, 1, 2, 2, 2])
    per_feature = _kernel(model)
    grouped = _kernel(model, groups)
    phi, pred = per_feature.attribute(test)
    got, got_pred = grouped.attribute(test)
    expected = np.column_stack([phi[:, groups == g].sum(axis=1) for g in range(3)])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    assert got_pred.tobytes() == pred.tobytes()
    np.testing.assert_allclose(grouped.base + got.sum(axis=1), got_pred, rtol=0, atol=TOL)


def _xgb(n_classes: int) -> tuple[Any, np.ndarray]:
    xgboost = pytest.importorskip("xgboost", reason="the XGBoost case needs the 'xgboost' extra")
    X, y, test = _data()
    if n_classes == 2:
        model = xgboost.XGBClassifier(n_estimators=15, max_depth=4, random_state=0)
        model.fit(X, (y > np.median(y)).astype(int))
    else:
        model = xgboost.XGBRegressor(n_estimators=15, max_depth=5, random_state=0).fit(X, y)
    return model, test


@pytest.mark.parametrize("n_classes", [0, 2])
def test_xgboost_default_directions(n_classes: int) -> None:
    model, test = _xgb(n_classes)
    kernel = _kernel(model)
    phi, pred = kernel.attribute(test)
    margin = model.predict(test, output_margin=True)
    np.testing.assert_allclose(pred, margin, rtol=0, atol=1e-5)  # float32 sums in xgboost
    np.testing.assert_allclose(kernel.base + phi.sum(axis=1), pred, rtol=0, atol=TOL)
    np.testing.assert_allclose(phi, _shap_values(model, test), rtol=0, atol=1e-5)


def test_xgboost_with_a_missing_marker_other_than_nan_is_refused() -> None:
    xgboost = pytest.importorskip("xgboost", reason="the XGBoost case needs the 'xgboost' extra")
    X, y, _ = _data()
    model = xgboost.XGBRegressor(n_estimators=3, missing=0.0).fit(np.nan_to_num(X), y)
    with pytest.raises(ConfigError, match=r"missing=0\.0"):
        _trees.trees_from_model(model, None)
    # A NaN marker of another float type is still NaN: accepted.
    model.set_params(missing=np.float32(np.nan))
    kernel = _trees.trees_from_model(model, None)
    assert kernel is not None
    assert kernel.routes_missing


@pytest.mark.parametrize("use_missing", [True, False])
def test_lightgbm_missing_types(use_missing: bool) -> None:
    lightgbm = pytest.importorskip(
        "lightgbm", reason="the LightGBM case needs the 'lightgbm' extra"
    )
    X, y, test = _data()
    model = lightgbm.LGBMRegressor(
        n_estimators=15, num_leaves=12, use_missing=use_missing, verbose=-1, random_state=0
    ).fit(X, y)
    types = {
        node.get("missing_type")
        for t in model.booster_.dump_model()["tree_info"]
        for node in _lgb_nodes(t["tree_structure"])
    }
    # With use_missing, NaN-trained features route NaN by default_left and the NEVER
    # feature reads NaN as 0 ("None"); without it every split reads NaN as 0.
    assert types == ({"NaN", "None"} if use_missing else {"None"})
    kernel = _kernel(model)
    phi, pred = kernel.attribute(test)
    np.testing.assert_allclose(pred, model.predict(test, raw_score=True), rtol=0, atol=TOL)
    np.testing.assert_allclose(kernel.base + phi.sum(axis=1), pred, rtol=0, atol=TOL)
    # shap sends NaN to default_left even where LightGBM reads it as 0: compare where
    # the two agree (rows whose NaN only fall on "NaN"-type splits, or no NaN at all).
    clean = ~np.isnan(test).any(axis=1)
    np.testing.assert_allclose(phi[clean], _shap_values(model, test[clean]), rtol=0, atol=TOL)
    if use_missing:
        nan_trained = ~np.isnan(test[:, NEVER])
        np.testing.assert_allclose(
            phi[nan_trained], _shap_values(model, test[nan_trained]), rtol=0, atol=TOL
        )


def _lgb_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "leaf_value" in node:
        return []
    return [node, *_lgb_nodes(node["left_child"]), *_lgb_nodes(node["right_child"])]


def test_gradient_boosting_defines_no_route_and_nan_is_refused_naming_the_column() -> None:
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(200, WIDTH)), columns=_cols())
    pipe = FeaturePipeline([steps.StandardScale(_cols())]).fit(df)
    X = pipe.transform(df)
    model = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, X[:, 0])
    ex = Explainer(pipe, model).fit()
    kernel = ex.kernel_
    assert isinstance(kernel, _trees.TreeKernel)
    assert not kernel.routes_missing
    X[4, 2] = np.nan
    with pytest.raises(
        ConfigError, match=r"feature 2 is NaN in row 4 \(output 'x2' of column 'x2'\)"
    ):
        kernel.attribute(X)
    kernel.jit = False
    with pytest.raises(ConfigError, match="defines no route for missing values"):
        kernel.attribute(X)
    with pytest.raises(ConfigError, match="column 'x2'"):
        kernel.attribute_one(X[4])


def test_missing_routes_survive_the_saved_state_and_old_state_refuses_nan() -> None:
    df = pd.DataFrame(np.random.default_rng(1).normal(size=(300, WIDTH)), columns=_cols())
    pipe = FeaturePipeline([steps.StandardScale(_cols())]).fit(df)
    X = pipe.transform(df)
    X[np.random.default_rng(2).random(X.shape) < 0.2] = np.nan
    model = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(
        X, np.nan_to_num(X[:, 0])
    )
    ex = Explainer(pipe, model).fit()
    assert "missing_left" in json.loads(ex.to_json())["kernel"]["trees"]  # format 5
    state = legacy_state(ex)  # formats 1 to 4: a list per tree
    assert all(len(t["missing_left"]) == len(t["left"]) for t in state["kernel"]["trees"])
    loaded = Explainer.from_dict(state)
    a, pa = ex.kernel_.attribute(X)  # type: ignore[union-attr]
    b, pb = loaded.kernel_.attribute(X)  # type: ignore[union-attr]
    assert a.tobytes() == b.tobytes()
    assert pa.tobytes() == pb.tobytes()
    np.testing.assert_allclose(pa, model.predict(X), rtol=0, atol=TOL)
    # State from before missing routes were saved: NaN is refused, not guessed.
    for t in state["kernel"]["trees"]:
        del t["missing_left"]
    old = Explainer.from_dict(state)
    with pytest.raises(ConfigError, match="column 'x"):
        old.kernel_.attribute(X)  # type: ignore[union-attr]
    state["kernel"]["trees"][0]["missing_left"] = [1] * len(state["kernel"]["trees"][0]["left"])
    with pytest.raises(ConfigError, match=r"kernel\.trees\[0\]\.missing_left"):
        _state.load(state)


def test_explain_record_with_missing_values_through_a_pipeline() -> None:
    """A raw column that is null reaches the model as NaN only via the model's route.

    prodml's steps refuse nulls, so a record's None is imputed; the NaN case is covered
    on the kernel above. Here: the record path and batch path agree on NaN-trained HGB.
    """
    df = pd.DataFrame(np.random.default_rng(3).normal(size=(300, WIDTH)), columns=_cols())
    pipe = _numeric_pipeline()
    X = pipe.transform(df)
    y = X[:, 0] + X[:, 1]
    X[np.random.default_rng(4).random(X.shape) < 0.3] = np.nan
    model = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(X, y)
    ex = Explainer(pipe, model).fit()
    batch = ex.explain_batch(df.iloc[:20])
    rec = ex.explain_record(records(df.iloc[:20])[5])
    assert list(rec.values.values()) == batch.values[5].tolist()
    np.testing.assert_allclose(
        batch.base + batch.values.sum(axis=1), batch.prediction, rtol=0, atol=TOL
    )


@pytest.mark.parametrize("name", ["tree_reg", "forest_clf", "hgb_reg"])
def test_models_trained_without_any_nan_still_route_it_as_predict_does(name: str) -> None:
    X, y, test = _data()
    clean = np.nan_to_num(X)
    model: Any = {
        "tree_reg": lambda: DecisionTreeRegressor(max_depth=6, random_state=0).fit(clean, y),
        "forest_clf": lambda: RandomForestClassifier(
            n_estimators=5, max_depth=5, random_state=0
        ).fit(clean, (y > 0).astype(int)),
        "hgb_reg": lambda: HistGradientBoostingRegressor(max_iter=15, random_state=0).fit(clean, y),
    }[name]()
    kernel = _kernel(model)
    phi, pred = kernel.attribute(test)
    np.testing.assert_allclose(pred, _output(model, test), rtol=0, atol=TOL)
    np.testing.assert_allclose(kernel.base + phi.sum(axis=1), pred, rtol=0, atol=TOL)
    np.testing.assert_allclose(phi, _shap_values(model, test), rtol=0, atol=TOL)
