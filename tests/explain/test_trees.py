"""Path-dependent TreeSHAP: equal to shap.TreeExplainer summed per raw column, additive."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from prodml.errors import ConfigError
from prodml.explain import Explainer, _tree_jit, _trees
from prodml.features import FeaturePipeline

from .conftest import records, shap_grouped

shap = pytest.importorskip("shap", reason="the shap cross-check needs the 'bench' extra")

MODELS: dict[str, Any] = {
    "tree_clf": lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
    "tree_reg": lambda: DecisionTreeRegressor(random_state=0),  # unbounded depth
    "forest_clf": lambda: RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0),
    "forest_reg": lambda: RandomForestRegressor(n_estimators=8, max_depth=9, random_state=0),
    "extra_reg": lambda: ExtraTreesRegressor(n_estimators=5, max_depth=6, random_state=0),
    "gb_clf": lambda: GradientBoostingClassifier(n_estimators=40, random_state=0),
    "gb_reg": lambda: GradientBoostingRegressor(n_estimators=30, max_depth=4, random_state=0),
    "hgb_clf": lambda: HistGradientBoostingClassifier(max_iter=25, random_state=0),
    "hgb_reg": lambda: HistGradientBoostingRegressor(max_iter=25, random_state=0),
}


def _output(model: Any, X: np.ndarray) -> np.ndarray:
    if isinstance(model, RandomForestClassifier | DecisionTreeClassifier):
        return model.predict_proba(X)[:, 1]
    if hasattr(model, "decision_function"):
        return model.decision_function(X)
    return model.predict(X)


def _shap(model: Any, X: np.ndarray) -> tuple[np.ndarray, float]:
    ref = shap.TreeExplainer(model)  # no data: path-dependent, as prodml
    values = np.asarray(ref.shap_values(X, check_additivity=False))
    base = np.ravel(ref.expected_value)
    if values.ndim == 3:  # one slice per class: the positive class
        return values[..., 1], float(base[1])
    return values, float(base[0])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_equals_shap_tree_explainer_per_raw_column(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline], name: str
) -> None:
    df, y, pipe = churn
    X = pipe.transform(df)
    target = y if name.endswith("clf") else df["income"].to_numpy()
    model = MODELS[name]().fit(X, target)
    ex = Explainer(pipe, model).fit()
    got = ex.explain_batch(df)
    values, base = _shap(model, X)
    np.testing.assert_allclose(got.values, shap_grouped(values, pipe), rtol=0, atol=1e-9)
    assert got.base == pytest.approx(base, abs=1e-9)
    np.testing.assert_allclose(got.prediction, _output(model, X), rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), got.prediction, rtol=0, atol=1e-9)
    forest = isinstance(model, RandomForestClassifier | DecisionTreeClassifier)
    expected_scale = "probability" if forest else ("margin" if name.endswith("clf") else "raw")
    assert got.scale == expected_scale
    # The single-record path gives the bits of the batch row.
    for i, rec in enumerate(records(df.iloc[:40])):
        e = ex.explain_record(rec)
        assert np.array(list(e.values.values())).tobytes() == got.values[i].tobytes()
        assert e.prediction == got.prediction[i]


def test_polynomial_path_equals_the_pattern_table(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline], monkeypatch: pytest.MonkeyPatch
) -> None:
    df, y, pipe = churn
    model = GradientBoostingClassifier(n_estimators=20, max_depth=4, random_state=0)
    model.fit(pipe.transform(df), y)
    table = Explainer(pipe, model).fit()
    assert table.kernel_.table is not None  # type: ignore[union-attr]
    monkeypatch.setattr(_trees, "_TABLE_BUDGET", 0)
    monkeypatch.setattr(_trees, "_CHUNK_CELLS", 1000)  # many chunks
    poly = Explainer(pipe, model).fit()
    assert poly.kernel_.table is None  # type: ignore[union-attr]
    np.testing.assert_allclose(
        poly.explain_batch(df).values, table.explain_batch(df).values, rtol=0, atol=1e-12
    )


def test_multiclass_gradient_boosting_explains_the_chosen_class(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    df, _, pipe = churn
    X = pipe.transform(df)
    target = pd.cut(df["income"], [0, 10, 40, np.inf], labels=False).to_numpy()
    model = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, target)
    with pytest.raises(ConfigError, match="class_index"):
        Explainer(pipe, model).fit()
    got = Explainer(pipe, model, class_index=2).fit().explain_batch(df)
    # shap refuses multi-class GradientBoosting; its class-2 trees one by one, scaled.
    ref = sum(
        model.learning_rate * shap.TreeExplainer(row[2]).shap_values(X, check_additivity=False)
        for row in model.estimators_
    )
    np.testing.assert_allclose(got.values, shap_grouped(ref, pipe), rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.prediction, model.decision_function(X)[:, 2], atol=1e-9)


def test_nan_features_are_refused_by_name(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    # GradientBoosting defines no route for NaN (its predict refuses it); trees that do
    # route NaN are explained along that route (test_missing_values.py).
    df, y, pipe = churn
    model = GradientBoostingClassifier(n_estimators=3, max_depth=3).fit(pipe.transform(df), y)
    kernel = Explainer(pipe, model).fit().kernel_
    X = pipe.transform(df.iloc[:3])
    X[1, 4] = np.nan
    name = pipe.feature_names_out[4]
    with pytest.raises(ConfigError, match=f"feature 4 is NaN in row 1 \\(output '{name}'"):
        kernel.attribute(X)


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.tobytes() == b.tobytes()


def _close(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("table", "depth"), [(True, 5), (True, 3), (False, 5)])
def test_compiled_and_numpy_paths_agree(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
    monkeypatch: pytest.MonkeyPatch,
    table: bool,
    depth: int,
) -> None:
    df, y, pipe = churn
    if not table:
        monkeypatch.setattr(_trees, "_TABLE_BUDGET", 0)
    model = RandomForestClassifier(n_estimators=4, max_depth=depth, random_state=0)
    ex = Explainer(pipe, model.fit(pipe.transform(df), y)).fit()
    kernel = ex.kernel_
    assert isinstance(kernel, _trees.TreeKernel)
    assert (kernel.table is not None) is table
    assert kernel.depth == depth  # depth 3 runs the table kernel's unrolled branch
    X = pipe.transform(df.iloc[:60])
    kernel.jit = False
    numpy_phi, numpy_pred = kernel.attribute(X)
    # The kernels as plain Python (what numba compiles), on the same arrays.
    phi, pred = np.zeros_like(numpy_phi), np.zeros(len(X))
    x32 = X.astype(np.float32).astype(np.float64)
    if table:
        # Rounding to float32 inside the kernel or before it: the same bits.
        for given, round32 in ((X, True), (x32, False)):
            out = np.zeros((len(X), kernel.n_groups + 1))
            out[:, -1] = kernel.init
            bad = _tree_jit.run_table(
                given, round32, kernel._slots, kernel._bounds, kernel._nan_flat, True,
                kernel._flat_table, kernel.leaf_value, out,
            )  # fmt: skip
            phi, pred = out[:, :-1], out[:, -1]
            assert bad == -1
            _same_bits(phi, numpy_phi)
            _same_bits(pred, numpy_pred)
    else:
        bad = _tree_jit.run_poly(
            x32, kernel.feat, kernel.lo, kernel.hi, kernel.nan, True, kernel.z, kernel.length,
            kernel._weights, kernel._group, kernel.leaf_value, phi, pred,
        )  # fmt: skip
    assert bad == -1
    same = _same_bits if table else _close
    same(phi, numpy_phi)
    same(pred, numpy_pred)
    if _tree_jit.compiled() is None:
        pytest.skip("numba (the 'fast' extra) is not installed: no compiled kernel to compare")
    kernel.jit = True
    jit_phi, jit_pred = kernel.attribute(X)
    same(jit_phi, numpy_phi)
    same(jit_pred, numpy_pred)
    # Compiled or not, a record runs the code of its batch row.
    rec = records(df.iloc[:60])[11]
    values, out = kernel.attribute_one(pipe.transform_record(rec))
    assert np.array(values).tobytes() == jit_phi[11].tobytes()
    assert out == jit_pred[11]
    # A forest routes NaN itself: compiled and numpy paths follow the same route.
    X[7, 3] = np.nan
    jit_phi, jit_pred = kernel.attribute(X)
    kernel.jit = False
    numpy_phi, numpy_pred = kernel.attribute(X)
    same(jit_phi, numpy_phi)
    same(jit_pred, numpy_pred)
    np.testing.assert_allclose(jit_pred, model.predict_proba(X)[:, 1], rtol=0, atol=1e-12)


def _boosters() -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        import lightgbm as lgb
    except ImportError:  # pragma: no cover - lightgbm is in the test venv
        pass
    else:
        out["lgbm_clf"] = lambda: lgb.LGBMClassifier(n_estimators=30, verbose=-1, random_state=0)
        out["lgbm_reg"] = lambda: lgb.LGBMRegressor(n_estimators=20, verbose=-1, random_state=0)
    try:
        import xgboost as xgb
    except ImportError:  # pragma: no cover - xgboost is in the test venv
        pass
    else:
        out["xgb_clf"] = lambda: xgb.XGBClassifier(n_estimators=30, max_depth=4, random_state=0)
        out["xgb_reg"] = lambda: xgb.XGBRegressor(n_estimators=20, random_state=0)
    return out


BOOSTERS = _boosters()


@pytest.mark.parametrize("name", sorted(BOOSTERS) or ["none"])
def test_xgboost_and_lightgbm_equal_shap(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline], name: str
) -> None:
    if name == "none":
        pytest.skip("neither xgboost nor lightgbm is installed")
    df, y, pipe = churn
    X = pipe.transform(df)
    target = y if name.endswith("clf") else df["income"].to_numpy()
    model = BOOSTERS[name]().fit(X, target)
    got = Explainer(pipe, model).fit().explain_batch(df)
    ref = shap.TreeExplainer(model)
    with warnings.catch_warnings():
        # shap's notice that LightGBM binary output changed shape (handled below).
        warnings.filterwarnings("ignore", "LightGBM binary classifier", UserWarning)
        values = np.asarray(ref.shap_values(X))
    values = values[..., 1] if values.ndim == 3 else values
    base = float(np.ravel(ref.expected_value)[-1])
    if name.startswith("xgb"):
        # shap delegates to XGBoost's own pred_contribs, computed in float32: agreement is
        # to float32 precision; prodml computes the same game in float64.
        margin = model.predict(X, output_margin=True)
        tol = 2e-6 * max(1.0, float(np.abs(margin).max()))
    else:
        margin = model.predict(X, raw_score=True) if name.endswith("clf") else model.predict(X)
        tol = 1e-9
    np.testing.assert_allclose(got.values, shap_grouped(values, pipe), rtol=0, atol=tol)
    assert got.base == pytest.approx(base, abs=tol)
    np.testing.assert_allclose(got.prediction, margin, rtol=0, atol=tol)
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), got.prediction, rtol=0, atol=1e-9)
    assert got.scale == ("margin" if name.endswith("clf") else "raw")


def test_lightgbm_multiclass_explains_the_chosen_class(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    lgb = pytest.importorskip("lightgbm", reason="needs lightgbm")
    df, _, pipe = churn
    X = pipe.transform(df)
    target = pd.cut(df["income"], [0, 10, 40, np.inf], labels=False).to_numpy()
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1, random_state=0).fit(X, target)
    got = Explainer(pipe, model, class_index=1).fit().explain_batch(df)
    values = np.asarray(shap.TreeExplainer(model).shap_values(X))[..., 1]
    np.testing.assert_allclose(got.values, shap_grouped(values, pipe), rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.prediction, model.predict(X, raw_score=True)[:, 1], atol=1e-9)
