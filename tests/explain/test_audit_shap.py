"""Independent audit: attributions equal shap's exact values on awkward, realistic inputs.

A FeaturePipeline with a one-hot column, an imputed column with missing values and a
constant column; models fitted with sample weights; a background of one row. Linear
explanations are compared with ``shap.LinearExplainer`` given the background's exact
mean (shap's default masker would subsample a large background to 100 rows), tree
explanations with ``shap.TreeExplainer`` (path-dependent), each summed per raw column
by hand; the sampling estimate with Shapley values of the raw columns by enumeration.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from prodml.explain import Explainer
from prodml.features import FeaturePipeline, steps

from .conftest import records, shap_grouped

shap = pytest.importorskip("shap", reason="the shap cross-check needs the 'bench' extra")

TOL = 1e-9


def _data(n: int = 240, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "a": np.where(rng.random(n) < 0.15, np.nan, rng.normal(size=n)),
            "plan": pd.Series(rng.choice(["x", "y", "z"], n), dtype="str"),
            "const": np.full(n, 5.0),
            "b": rng.normal(size=n),
        }
    )
    signal = df["a"].fillna(0).to_numpy() + (df["plan"] == "y").to_numpy() + 0.5 * df["b"]
    y_cls = (signal + 0.3 * rng.normal(size=n) > 0.5).astype(int).to_numpy()
    return df, y_cls, signal.to_numpy() + 0.1 * rng.normal(size=n)


def _pipeline(df: pd.DataFrame) -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["a"], strategy="median"),
            steps.OneHot(["plan"]),
            steps.StandardScale(["b"]),
            steps.Impute(["const"]),
        ]
    ).fit(df)


@pytest.mark.parametrize("model_name", ["logistic", "ridge"])
@pytest.mark.parametrize("background_rows", [1, 240])
def test_linear_equals_shap_on_one_hot_missing_and_constant_columns(
    model_name: str, background_rows: int
) -> None:
    df, y_cls, y_reg = _data()
    pipe = _pipeline(df)
    X = pipe.transform(df)
    model: Any = (
        LogisticRegression().fit(X, y_cls) if model_name == "logistic" else Ridge().fit(X, y_reg)
    )
    bg = df.iloc[:background_rows]
    got = Explainer(pipe, model, background=bg).fit().explain_batch(df)
    Xb = pipe.transform(bg)
    ref = shap.LinearExplainer(model, (Xb.mean(axis=0), np.cov(Xb.T) if len(Xb) > 1 else None))
    expected = shap_grouped(np.asarray(ref.shap_values(X)), pipe)
    np.testing.assert_allclose(got.values, expected, rtol=0, atol=TOL)
    assert abs(got.base - float(np.ravel(ref.expected_value)[0])) <= TOL
    margin = model.decision_function(X) if model_name == "logistic" else model.predict(X)
    np.testing.assert_allclose(got.prediction, margin, rtol=0, atol=TOL)
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), got.prediction, rtol=0, atol=TOL)
    # The constant column moves nothing; the one-hot column gets its outputs' sum.
    assert np.all(got.values[:, got.columns.index("const")] == 0.0)
    if background_rows == 1:  # every attribution is measured from that one row
        same = (Xb[0] == X).all(axis=1)
        assert np.all(got.values[same] == 0.0)


TREES: dict[str, Any] = {
    "forest_clf": lambda: RandomForestClassifier(n_estimators=12, max_depth=6, random_state=0),
    "forest_reg": lambda: RandomForestRegressor(n_estimators=8, random_state=0),
    "gb_clf": lambda: GradientBoostingClassifier(n_estimators=30, random_state=0),
    "gb_reg": lambda: GradientBoostingRegressor(n_estimators=30, max_depth=4, random_state=0),
    "hgb_clf": lambda: HistGradientBoostingClassifier(max_iter=25, random_state=0),
    "hgb_reg": lambda: HistGradientBoostingRegressor(max_iter=25, random_state=0),
}


@pytest.mark.parametrize("name", sorted(TREES))
@pytest.mark.parametrize("weighted", [False, True])
def test_trees_equal_shap_with_sample_weights_one_hot_and_constant_columns(
    name: str, weighted: bool
) -> None:
    df, y_cls, y_reg = _data()
    pipe = _pipeline(df)
    X = pipe.transform(df)
    weights = np.random.default_rng(1).integers(1, 5, len(df)).astype(float) if weighted else None
    model = TREES[name]().fit(X, y_cls if name.endswith("clf") else y_reg, sample_weight=weights)
    ex = Explainer(pipe, model).fit()
    got = ex.explain_batch(df)
    ref = shap.TreeExplainer(model)
    values = np.asarray(ref.shap_values(X, check_additivity=False))
    base = np.ravel(ref.expected_value)
    if values.ndim == 3:  # a forest classifier: the positive class's probability
        values, base = values[..., 1], base[1:]
    np.testing.assert_allclose(got.values, shap_grouped(values, pipe), rtol=0, atol=TOL)
    assert abs(got.base - float(base[0])) <= TOL
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), got.prediction, rtol=0, atol=TOL)
    assert np.all(got.values[:, got.columns.index("const")] == 0.0)
    # One record at a time: the bits of its batch row.
    for i, rec in enumerate(records(df.iloc[:20])):
        e = ex.explain_record(rec)
        assert list(e.values.values()) == got.values[i].tolist()


def _group_shapley(f: Any, x: np.ndarray, bg: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Interventional Shapley values of the raw columns, by enumerating every order."""
    phi = np.zeros(len(groups))
    orders = list(itertools.permutations(range(len(groups))))
    for order in orders:
        z = bg.copy()
        prev = f(z).mean()
        for col in order:
            z[:, groups[col]] = x[groups[col]]
            now = f(z).mean()
            phi[col] += now - prev
            prev = now
    return phi / math.factorial(len(groups))


def test_sampling_converges_to_the_exact_shapley_values_of_the_raw_columns() -> None:
    df, y_cls, _ = _data(n=200)
    pipe = _pipeline(df)
    X = pipe.transform(df)
    model = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0)
    model.fit(X, y_cls)
    bg = df.iloc[:20]
    Xbg = pipe.transform(bg)
    groups = list(pipe.output_groups().values())
    rows = df.iloc[50:56]

    def f(z: np.ndarray) -> np.ndarray:
        return model.predict_proba(z)[:, 1]

    exact = np.array([_group_shapley(f, X[50 + i], Xbg, groups) for i in range(len(rows))])
    errors = []
    for n_perm in (4, 16, 24):  # 24 = 4!: every order of the 4 columns, exact
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ex = Explainer(
                pipe,
                model,
                background=bg,
                method="sampling",
                n_permutations=n_perm,
                n_background=20,
                seed=3,
            ).fit()
        got = ex.explain_batch(rows)
        assert got.scale == "probability"
        np.testing.assert_allclose(
            got.base + got.values.sum(axis=1), got.prediction, rtol=0, atol=TOL
        )
        np.testing.assert_allclose(got.prediction, f(X[50:56]), rtol=0, atol=1e-12)
        assert abs(got.base - f(Xbg).mean()) <= 1e-12
        errors.append(float(np.abs(got.values - exact).max()))
        assert got.error is not None
        if n_perm == 16:  # 8 pairs: the stated standard errors are honest
            assert np.all(np.abs(got.values - exact) <= 5 * got.error + 1e-12)
    assert errors[1] < errors[0]
    assert errors[2] < 1e-12
    assert np.all(got.error == 0.0)
    # The constant column never moves the output.
    assert np.all(got.values[:, got.columns.index("const")] == 0.0)


@pytest.mark.parametrize("n_perm", [6, 8, 32])
def test_sampling_walks_every_order_when_there_are_few_columns(n_perm: int) -> None:
    # Three raw columns have 3! = 6 orders: 6 or more permutations walk each once, so the
    # values are the exact Shapley values and their stated error is truly 0 (a random
    # draw of 4 antithetic pairs repeats orders, misses others, and is off).
    df, y_cls, _ = _data(n=150)
    df = df.drop(columns="const")
    pipe = FeaturePipeline(
        [steps.Impute(["a"]), steps.OneHot(["plan"]), steps.StandardScale(["b"])]
    ).fit(df)
    X = pipe.transform(df)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)
    model.fit(X, y_cls)
    bg = df.iloc[:15]
    ex = Explainer(
        pipe, model, background=bg, method="sampling", n_permutations=n_perm, n_background=15
    ).fit()
    got = ex.explain_batch(df.iloc[40:45])
    Xbg = pipe.transform(bg)
    groups = list(pipe.output_groups().values())

    def f(z: np.ndarray) -> np.ndarray:
        return model.predict_proba(z)[:, 1]

    exact = np.array([_group_shapley(f, X[40 + i], Xbg, groups) for i in range(5)])
    np.testing.assert_allclose(got.values, exact, rtol=0, atol=1e-12)
    assert got.error is not None
    assert np.all(got.error == 0.0)
    assert ex.kernel_.permutations.shape == (6, 3)
    # The saved state keeps the orders, and a loaded explainer gives the same bits.
    again = Explainer.from_json(ex.to_json(), model=model)
    assert again.explain_batch(df.iloc[40:45]).values.tolist() == got.values.tolist()
    assert again.explain_record(records(df.iloc[40:41])[0]).error == dict.fromkeys(got.columns, 0.0)


def _log_link_models() -> dict[str, Any]:
    from sklearn.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor

    models: dict[str, Any] = {
        "hgb_poisson": HistGradientBoostingRegressor(loss="poisson", max_iter=15, random_state=0),
        "hgb_gamma": HistGradientBoostingRegressor(loss="gamma", max_iter=15, random_state=0),
        "poisson_glm": PoissonRegressor(),
        "gamma_glm": GammaRegressor(),
        "tweedie_glm": TweedieRegressor(power=1.5),
    }
    try:
        import lightgbm

        models["lgbm_poisson"] = lightgbm.LGBMRegressor(
            objective="poisson", n_estimators=10, verbose=-1, random_state=0
        )
    except ImportError:  # the lightgbm extra is optional
        pass
    try:
        import xgboost

        models["xgb_poisson"] = xgboost.XGBRegressor(
            objective="count:poisson", n_estimators=10, random_state=0
        )
    except ImportError:  # the xgboost extra is optional
        pass
    return models


@pytest.mark.parametrize("name", sorted(_log_link_models()))
def test_log_link_regressors_are_explained_on_the_log_scale_and_say_so(name: str) -> None:
    # A Poisson/Gamma/Tweedie model's trees or linear predictor give log(predict(X)):
    # the attributions add up to that, and the scale says "log", not "raw".
    df, _, y_reg = _data()
    pipe = _pipeline(df)
    X = pipe.transform(df)
    model = _log_link_models()[name].fit(X, np.exp(0.3 * y_reg))
    ex = Explainer(pipe, model, background=df).fit()
    got = ex.explain_batch(df)
    assert got.scale == "log"
    np.testing.assert_allclose(np.exp(got.prediction), model.predict(X), rtol=1e-6)
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), got.prediction, rtol=0, atol=TOL)
    e = ex.explain_record(records(df.iloc[:1])[0])
    assert e.scale == "log"
    assert "exp(prediction)" in e.to_markdown()
    again = Explainer.from_json(ex.to_json())
    assert again.scale == "log"
    # A plain regressor stays "raw": its output is the prediction itself.
    plain = Ridge().fit(X, y_reg)
    assert Explainer(pipe, plain, background=df).fit().scale == "raw"


def test_gradient_boosting_from_a_feature_dependent_init_model_is_refused() -> None:
    # GradientBoosting(init=LogisticRegression()) starts from that model's prediction,
    # which varies with the features: the trees' sum plus one constant is not the model.
    # Explaining it as one gave the same wrong prediction for every row.
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    from prodml.errors import ConfigError

    df, y_cls, y_reg = _data()
    pipe = _pipeline(df)
    X = pipe.transform(df)
    for model in (
        GradientBoostingClassifier(init=LogisticRegression(), n_estimators=5).fit(X, y_cls),
        GradientBoostingRegressor(init=LinearRegression(), n_estimators=5).fit(X, y_reg),
    ):
        with pytest.raises(ConfigError, match="method='sampling'"):
            Explainer(pipe, model).fit()
        sampled = Explainer(pipe, model, background=df.iloc[:10], method="sampling").fit()
        got = sampled.explain_batch(df.iloc[:5])
        out = (
            model.predict_proba(X[:5])[:, 1] if hasattr(model, "classes_") else model.predict(X[:5])
        )
        np.testing.assert_allclose(got.prediction, out, rtol=0, atol=1e-12)
    # A constant start (the default, "zero" or a Dummy model) is explained exactly.
    for init in (None, "zero", DummyRegressor(strategy="median")):
        model = GradientBoostingRegressor(init=init, n_estimators=5).fit(X, y_reg)
        got = Explainer(pipe, model).fit().explain_batch(df)
        np.testing.assert_allclose(got.prediction, model.predict(X), rtol=0, atol=1e-9)


def _unsupported_boosters() -> dict[str, Any]:
    models: dict[str, Any] = {}
    try:
        import lightgbm

        models["lgbm_linear_tree"] = lightgbm.LGBMRegressor(
            linear_tree=True, n_estimators=5, verbose=-1, random_state=0
        )
        models["lgbm_rf"] = lightgbm.LGBMRegressor(
            boosting_type="rf",
            n_estimators=5,
            bagging_freq=1,
            bagging_fraction=0.5,
            verbose=-1,
            random_state=0,
        )
    except ImportError:  # the lightgbm extra is optional
        pass
    try:
        import xgboost

        models["xgb_gblinear"] = xgboost.XGBRegressor(
            booster="gblinear", n_estimators=5, random_state=0
        )
    except ImportError:  # the xgboost extra is optional
        pass
    return models


@pytest.mark.parametrize("name", sorted(_unsupported_boosters()))
def test_boosters_whose_trees_do_not_add_up_to_the_output_are_refused(name: str) -> None:
    # LightGBM's linear trees (a linear model in each leaf) and random forests (trees
    # averaged, not added) were explained as plain boosted trees, with wrong predictions
    # (5x for a 5-tree forest); XGBoost's gblinear raised a bare KeyError.
    from prodml.errors import ConfigError

    df, _, y_reg = _data()
    pipe = _pipeline(df)
    X = pipe.transform(df)
    model = _unsupported_boosters()[name].fit(X, y_reg)
    with pytest.raises(ConfigError, match="method='sampling'"):
        Explainer(pipe, model).fit()
    sampled = Explainer(pipe, model, background=df.iloc[:10], method="sampling").fit()
    got = sampled.explain_batch(df.iloc[:5])
    np.testing.assert_allclose(got.prediction, model.predict(X[:5]), rtol=0, atol=1e-9)


def test_regressors_with_a_logistic_objective_are_explained_on_the_margin() -> None:
    # XGBoost's reg:logistic and LightGBM's cross_entropy predict a probability from a
    # sum of trees on the log-odds: the attributions are log-odds ("margin"), not "raw".
    from scipy.special import expit

    lightgbm = pytest.importorskip("lightgbm", reason="needs the lightgbm extra")
    xgboost = pytest.importorskip("xgboost", reason="needs the xgboost extra")
    df, _, y_reg = _data()
    pipe = _pipeline(df)
    X = pipe.transform(df)
    target = expit(y_reg)
    for model in (
        xgboost.XGBRegressor(objective="reg:logistic", n_estimators=5, random_state=0),
        lightgbm.LGBMRegressor(objective="cross_entropy", n_estimators=5, verbose=-1),
    ):
        model.fit(X, target)
        got = Explainer(pipe, model).fit().explain_batch(df)
        assert got.scale == "margin"
        np.testing.assert_allclose(expit(got.prediction), model.predict(X), rtol=1e-6)


def test_sampling_explains_a_classifier_without_probabilities_on_its_margin() -> None:
    # SVC() has no predict_proba: it used to be explained on its hard 0/1 labels as
    # "raw", and with string labels failed with a bare ValueError.
    from sklearn.svm import SVC

    df, y_cls, _ = _data(n=150)
    pipe = _pipeline(df)
    X = pipe.transform(df)
    labels = np.where(y_cls == 1, "churn", "stay")
    model = SVC().fit(X, labels)  # classes_ sorted: ["churn", "stay"]
    bg = df.iloc[:10]
    for class_index, sign in ((None, 1.0), (1, 1.0), (0, -1.0)):
        ex = Explainer(
            pipe, model, background=bg, method="sampling", n_permutations=4, class_index=class_index
        ).fit()
        got = ex.explain_batch(df.iloc[:5])
        assert got.scale == "margin"
        expected = sign * model.decision_function(X[:5])
        np.testing.assert_allclose(got.prediction, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            got.base + got.values.sum(axis=1), got.prediction, rtol=0, atol=TOL
        )
    multi = SVC().fit(X, np.array(["a", "b", "c"])[np.arange(len(X)) % 3])
    ex = Explainer(pipe, multi, background=bg, method="sampling", n_permutations=4, class_index=2)
    got = ex.fit().explain_batch(df.iloc[:5])
    np.testing.assert_allclose(
        got.prediction, multi.decision_function(X[:5])[:, 2], rtol=0, atol=1e-12
    )


def test_sampling_refuses_a_model_whose_predict_gives_no_numbers() -> None:
    from prodml.errors import ConfigError

    class LabelsOnly:
        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.where(X[:, 0] > 0, "yes", "no")

    df, _, _ = _data(n=60)
    pipe = _pipeline(df)
    with pytest.raises(ConfigError, match="needs numbers from the model's predict"):
        Explainer(pipe, LabelsOnly(), background=df.iloc[:5], method="sampling").fit()
