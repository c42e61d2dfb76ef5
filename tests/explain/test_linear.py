"""Linear attributions: equal to shap's LinearExplainer summed per raw column, additive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from prodml.errors import ConfigError
from prodml.explain import Explainer
from prodml.features import FeaturePipeline

from .conftest import records, shap_grouped

shap = pytest.importorskip("shap", reason="the shap cross-check needs the 'bench' extra")


def _background(df: pd.DataFrame) -> pd.DataFrame:
    # shap's LinearExplainer keeps at most 100 background rows: give both the same 100.
    return df.iloc[:100]


@pytest.mark.parametrize("kind", ["logistic", "ridge", "ols"])
def test_equals_shap_linear_explainer_per_raw_column(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline], kind: str
) -> None:
    df, y, pipe = churn
    X = pipe.transform(df)
    if kind == "logistic":
        model = LogisticRegression(max_iter=2000).fit(X, y)
        out = model.decision_function(X)
    elif kind == "ridge":
        model = Ridge(alpha=0.5).fit(X, df["income"].to_numpy())
        out = model.predict(X)
    else:
        model = LinearRegression().fit(X, y.astype(float))
        out = model.predict(X)
    ex = Explainer(pipe, model, background=_background(df)).fit()
    got = ex.explain_batch(df)
    ref = shap.LinearExplainer(model, pipe.transform(_background(df)))
    np.testing.assert_allclose(
        got.values, shap_grouped(ref.shap_values(X), pipe), rtol=0, atol=1e-9
    )
    assert got.base == pytest.approx(float(np.ravel(ref.expected_value)[0]), abs=1e-9)
    np.testing.assert_allclose(got.prediction, out, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), got.prediction, rtol=0, atol=1e-9)
    assert got.scale == ("margin" if kind == "logistic" else "raw")
    assert got.columns == ["age", "income", "plan", "city", "tenure", "signup_at"]


def test_record_equals_batch_row_bit_for_bit(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    df, y, pipe = churn
    model = LogisticRegression(max_iter=2000).fit(pipe.transform(df), y)
    ex = Explainer(pipe, model, background=df).fit()
    batch = ex.explain_batch(df)
    frame = ex.explain(df)
    assert list(frame.columns) == batch.columns
    for i, rec in enumerate(records(df)):
        e = ex.explain_record(rec)
        assert np.array(list(e.values.values())).tobytes() == batch.values[i].tobytes()
        assert e.prediction == batch.prediction[i]
        assert e.base == batch.base
        assert list(frame.iloc[i]) == list(e.values.values())


def test_multiclass_needs_a_class_and_explains_that_row(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    df, _, pipe = churn
    X = pipe.transform(df)
    model = LogisticRegression(max_iter=2000).fit(X, df["plan"])
    with pytest.raises(ConfigError, match="class_index"):
        Explainer(pipe, model, background=df).fit()
    ex = Explainer(pipe, model, background=df, class_index=2).fit()
    got = ex.explain_batch(df)
    np.testing.assert_allclose(got.prediction, model.decision_function(X)[:, 2], atol=1e-9)
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), got.prediction, atol=1e-9)


def test_linear_model_needs_a_background(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    df, y, pipe = churn
    model = LogisticRegression(max_iter=500).fit(pipe.transform(df), y)
    with pytest.raises(ConfigError, match="background"):
        Explainer(pipe, model).fit()


def test_importance_is_mean_absolute_attribution_largest_first(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    df, y, pipe = churn
    model = LogisticRegression(max_iter=2000).fit(pipe.transform(df), y)
    ex = Explainer(pipe, model, background=df).fit()
    imp = ex.importance(df)
    values = ex.explain(df)
    assert list(imp) == list(values.abs().mean().sort_values(ascending=False).index)
    assert imp["age"] == pytest.approx(float(values["age"].abs().mean()), abs=1e-12)
