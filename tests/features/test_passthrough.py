"""steps.Passthrough: number columns handed on unchanged, NaN kept, in batches and records.

Cross-checked against scikit-learn's ``ColumnTransformer`` ``"passthrough"``, and with a
model that routes missing values itself (HistGradientBoosting).
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from prodml.errors import ConfigError, SchemaError, StateError
from prodml.explain import Explainer
from prodml.features import FeaturePipeline, steps


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.25] = np.nan
    w = rng.normal(size=n) * 1e6
    w[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "w": w,
            "k": rng.integers(-5, 5, n),
            "c": rng.choice(["a", "b", "c"], n),
        }
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return list(frame.astype(object).where(frame.notna(), None).to_dict("records"))


def test_matches_column_transformer_passthrough_with_nan_in_both_paths() -> None:
    df = _frame()
    ours = FeaturePipeline([steps.Passthrough(["x", "w", "k"]), steps.OneHot(["c"])]).fit(df)
    theirs = ColumnTransformer(
        [("p", "passthrough", ["x", "w", "k"]), ("c", OneHotEncoder(), ["c"])]
    ).fit(df)
    expected = np.asarray(theirs.transform(df), dtype=np.float64)
    assert np.isnan(expected[:, 0]).sum() > 0
    out = ours.transform(df)
    np.testing.assert_array_equal(out, expected)  # NaN == NaN here, positions too
    np.testing.assert_array_equal(ours.transform(pa.Table.from_pandas(df)), expected)
    for i, rec in enumerate(_records(df)):
        np.testing.assert_array_equal(ours.transform_record(rec), out[i])
    assert ours.feature_names_out[:3] == ["x", "w", "k"]


def test_nullable_and_arrow_columns_give_nan_for_their_nulls() -> None:
    df = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "f": pd.array([0.5, 1.5, None], dtype=pd.ArrowDtype(pa.float64())),
        }
    )
    pipe = FeaturePipeline([steps.Passthrough(["i", "b", "f"])]).fit(df)
    expected = np.array([[1.0, 1.0, 0.5], [np.nan, np.nan, 1.5], [3.0, 0.0, np.nan]])
    np.testing.assert_array_equal(pipe.transform(df), expected)
    for null in (None, float("nan"), pd.NA):
        out = pipe.transform_record({"i": null, "b": None, "f": null})
        assert np.isnan(out).all()


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(allow_infinity=False)))
def test_batch_equals_record_and_keeps_every_value(values: np.ndarray) -> None:
    df = pd.DataFrame({"x": values})
    pipe = FeaturePipeline([steps.Passthrough(["x"])]).fit(df)
    out = pipe.transform(df)
    np.testing.assert_array_equal(out[:, 0], values)
    for i, v in enumerate(values):
        rec = pipe.transform_record({"x": float(v)})
        assert rec.tobytes() == out[i].tobytes() or (np.isnan(rec[0]) and np.isnan(out[i, 0]))


def test_a_nan_native_model_gives_the_predictions_of_the_raw_columns() -> None:
    df = _frame(500, seed=1)
    y = (np.nan_to_num(df["x"].to_numpy(), nan=2.0) + df["k"] > 0.5).astype(int)
    raw = df[["x", "w", "k"]].to_numpy(dtype=float)
    reference = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(raw, y)
    model = make_pipeline(
        FeaturePipeline([steps.Passthrough(["x", "w", "k"])]),
        HistGradientBoostingClassifier(max_iter=30, random_state=0),
    ).fit(df, y)
    np.testing.assert_array_equal(model.predict_proba(df), reference.predict_proba(raw))
    features = model[0]
    for rec, want in zip(_records(df.head(50)), reference.predict_proba(raw[:50]), strict=True):
        got = model[-1].predict_proba(features.transform_record(rec)[None, :])[0]
        np.testing.assert_array_equal(got, want)


def test_tree_explanations_follow_the_missing_value_route() -> None:
    df = _frame(400, seed=2)
    y = np.where(df["x"].isna(), 5.0, df["x"]) + df["k"]
    pipe = FeaturePipeline([steps.Passthrough(["x", "k"])]).fit(df)
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    model.fit(pipe.transform(df), y)
    ex = Explainer(pipe, model, background=df).fit()
    e = ex.explain_record({"x": None, "k": 1})
    want = model.predict(pipe.transform_record({"x": None, "k": 1})[None, :])[0]
    assert e.prediction == pytest.approx(want, abs=1e-9)
    attributions = e.values  # a dict per raw column  # noqa: PD011 - not pandas
    assert e.base + attributions["x"] + attributions["k"] == pytest.approx(want, abs=1e-9)


def test_state_round_trips_through_json_and_pickle() -> None:
    df = _frame(50)
    pipe = FeaturePipeline([steps.Passthrough(["x", "k"]), steps.OneHot(["c"])]).fit(df)
    d = pipe.to_dict()
    assert d["steps"][0] == {"type": "Passthrough", "params": {"columns": ["x", "k"]}, "fitted": {}}
    for again in (FeaturePipeline.from_json(pipe.to_json()), pickle.loads(pickle.dumps(pipe))):
        np.testing.assert_array_equal(again.transform(df), pipe.transform(df))
        rec = {"x": None, "k": 2, "c": "a"}
        np.testing.assert_array_equal(again.transform_record(rec), pipe.transform_record(rec))
        assert again.fingerprint == pipe.fingerprint
    d["steps"][0]["params"] = {"columns": ["x"], "keep_nan": True}
    with pytest.raises(StateError, match=r"steps\[0\]\.params"):
        FeaturePipeline.from_dict(d)


def test_what_passthrough_refuses() -> None:
    df = _frame(20)
    with pytest.raises(SchemaError, match="column 'c': Passthrough needs number values"):
        FeaturePipeline([steps.Passthrough(["c"])]).fit(df)
    with pytest.raises(ConfigError, match="already encoded by Passthrough"):
        FeaturePipeline([steps.Passthrough(["x"]), steps.StandardScale(["x"])]).fit(df)
    # A step before it still refuses nulls: only Passthrough's output may hold NaN.
    with pytest.raises(SchemaError, match="null value nan reached StandardScale"):
        FeaturePipeline([steps.StandardScale(["x"]), steps.Passthrough(["x"])]).fit(df)
    pipe = FeaturePipeline([steps.Passthrough(["x"])]).fit(df)
    with pytest.raises(SchemaError, match="infinite value inf"):
        pipe.transform(df.assign(x=np.inf))
    with pytest.raises(SchemaError, match="infinite value inf"):
        pipe.transform_record({"x": float("inf")})
    with pytest.raises(SchemaError, match="column 'x'"):
        pipe.transform_record({"x": "1.5"})
    with pytest.raises(ConfigError, match="'columns' parameter of Passthrough"):
        FeaturePipeline([steps.Passthrough([])]).fit(df)


def test_a_column_no_step_names_is_left_out() -> None:
    # As ColumnTransformer's remainder="drop": only columns some step names are output.
    df = _frame(10)
    pipe = FeaturePipeline([steps.Passthrough(["k"])]).fit(df)
    assert pipe.feature_names_out == ["k"]
    assert pipe.transform(df).shape == (10, 1)
