"""Audit of the linear explainer against ``shap.LinearExplainer`` (interventional).

LogisticRegression (binary and multi-class, each class), LinearRegression and Ridge,
behind a prodml pipeline with an imputed column holding NaN, a scaled column, a
one-hot column read back from Parquet (pandas 3 reads strings as the Arrow-backed
``str`` dtype; ``pd.ArrowDtype`` strings and dictionary categoricals too) and a
constant column. shap is given the background's exact mean, and its per-feature values
are summed per raw column by hand; everything agrees to 1e-9, and adds up to the
model's own margin to 1e-9. shap's ``correlation_dependent`` perturbation has no prodml
counterpart (prodml's linear explanations are interventional only).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from prodml.explain import Explainer
from prodml.features import FeaturePipeline, steps

from .conftest import records, shap_grouped

shap = pytest.importorskip("shap", reason="the shap cross-check needs the 'bench' extra")

TOL = 1e-9


def _frame(n: int, seed: int, plan_dtype: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro", "team"], n)
    df = pd.DataFrame(
        {
            "age": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(18, 80, n)),
            "income": rng.lognormal(3.0, 1.0, n),
            "plan": plan,
            "const": np.full(n, 3.0),
        }
    )
    buf = io.BytesIO()
    if plan_dtype == "category":
        df["plan"] = df["plan"].astype("category")
    df.to_parquet(buf)
    buf.seek(0)
    if plan_dtype == "arrow":
        back = pd.read_parquet(buf, dtype_backend="pyarrow")
    else:
        back = pd.read_parquet(buf)  # pandas 3: Arrow-backed ``str``
    return back


def _pipeline(df: pd.DataFrame) -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["age"], strategy="median"),
            steps.StandardScale(["age", "income"]),
            steps.OneHot(["plan"]),
            steps.Impute(["const"]),
        ]
    ).fit(df)


def _target(df: pd.DataFrame, kind: str) -> np.ndarray:
    age = df["age"].astype("float64").fillna(40.0).to_numpy()
    plan = df["plan"].astype("object").to_numpy()
    signal = (
        0.05 * (age - 45)
        + 0.7 * (plan == "pro")
        - 0.4 * np.log(df["income"].astype("float64").to_numpy())
    )
    rng = np.random.default_rng(9)
    if kind == "regression":
        return signal + 0.1 * rng.normal(size=len(df))
    if kind == "binary":
        return (signal + 0.3 * rng.normal(size=len(df)) > -1.2).astype(int)
    return np.digitize(signal + 0.3 * rng.normal(size=len(df)), [-1.6, -1.0])  # 3 classes


MODELS: dict[str, tuple[Any, str]] = {
    "logistic": (lambda: LogisticRegression(max_iter=2000), "binary"),
    "multiclass": (lambda: LogisticRegression(max_iter=2000), "multiclass"),
    "linear": (LinearRegression, "regression"),
    "ridge": (lambda: Ridge(alpha=3.0), "regression"),
}


@pytest.mark.parametrize("plan_dtype", ["str", "arrow", "category"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_equals_shap_linear_explainer_through_the_pipeline(name: str, plan_dtype: str) -> None:
    factory, kind = MODELS[name]
    df = _frame(300, 0, plan_dtype)
    pipe = _pipeline(df)
    X = pipe.transform(df)
    model = factory().fit(X, _target(df, kind))
    bg, test = df.iloc[:80], _frame(40, 1, plan_dtype)
    Xb, Xt = pipe.transform(bg), pipe.transform(test)
    ref = shap.LinearExplainer(model, (Xb.mean(axis=0), None))
    ref_values = np.asarray(ref.shap_values(Xt))
    ref_base = np.ravel(ref.expected_value)
    margin = model.decision_function(Xt) if kind != "regression" else model.predict(Xt)
    classes = range(3) if kind == "multiclass" else [None]
    for k in classes:
        ex = Explainer(pipe, model, background=bg, class_index=k).fit()
        got = ex.explain_batch(test)
        values = ref_values if k is None else ref_values[..., k]
        np.testing.assert_allclose(got.values, shap_grouped(values, pipe), rtol=0, atol=TOL)
        assert abs(got.base - float(ref_base[0 if k is None else k])) <= TOL
        out = margin if k is None else margin[:, k]
        np.testing.assert_allclose(got.prediction, out, rtol=0, atol=TOL)
        np.testing.assert_allclose(got.base + got.values.sum(axis=1), out, rtol=0, atol=TOL)
        assert np.all(got.values[:, got.columns.index("const")] == 0.0)
        for i, rec in enumerate(records(test)[:5]):  # a record: the bits of its batch row
            one = ex.explain_record(rec)
            assert list(one.values.values()) == got.values[i].tolist()
            assert one.prediction == got.prediction[i]
