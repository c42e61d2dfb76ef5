"""Numerical cross-checks against scikit-learn on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from prodml.features import FeaturePipeline, steps

RTOL = 1e-12


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 3001
    x = rng.normal(50.0, 7.0, n)
    x[rng.random(n) < 0.05] = np.nan
    y = rng.exponential(3.0, n)
    zipf = np.minimum(rng.zipf(1.6, n), 40)
    cats = np.array([f"c{v:02d}" for v in zipf], dtype=object)
    cats[rng.random(n) < 0.03] = None
    return pd.DataFrame({"x": x, "y": y, "c": cats})


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent", "constant"])
def test_impute_matches_simple_imputer(frame: pd.DataFrame, strategy: str) -> None:
    pipe = FeaturePipeline([steps.Impute(["x", "y"], strategy=strategy)]).fit(frame)
    ref = SimpleImputer(strategy=strategy, fill_value=0.0).fit(frame[["x", "y"]])
    np.testing.assert_allclose(
        pipe.steps[0].statistics_["x"], ref.statistics_[0], rtol=RTOL, atol=0
    )
    np.testing.assert_allclose(
        pipe.transform(frame), ref.transform(frame[["x", "y"]]), rtol=RTOL, atol=0
    )


@pytest.mark.parametrize("strategy", ["most_frequent", "constant"])
def test_text_impute_matches_simple_imputer(frame: pd.DataFrame, strategy: str) -> None:
    pipe = FeaturePipeline([steps.Impute(["c"], strategy=strategy), steps.Ordinal(["c"])])
    pipe.fit(frame)
    ref = SimpleImputer(strategy=strategy, fill_value="missing", missing_values=None)
    raw = frame[["c"]].to_numpy(dtype=object).copy()
    raw[pd.isna(raw)] = None
    filled = ref.fit_transform(raw)
    assert pipe.steps[0].statistics_["c"] == ref.statistics_[0]
    enc = OrdinalEncoder().fit(filled)
    np.testing.assert_array_equal(pipe.transform(frame)[:, 0], enc.transform(filled)[:, 0])


def test_impute_then_standard_scale_matches_sklearn(frame: pd.DataFrame) -> None:
    pipe = FeaturePipeline(
        [steps.Impute(["x", "y"], strategy="median"), steps.StandardScale(["x", "y"])]
    ).fit(frame)
    imputed = SimpleImputer(strategy="median").fit_transform(frame[["x", "y"]])
    ref = StandardScaler().fit(imputed)
    np.testing.assert_allclose(
        [pipe.steps[1].mean_["x"], pipe.steps[1].mean_["y"]], ref.mean_, rtol=RTOL
    )
    np.testing.assert_allclose(
        [pipe.steps[1].scale_["x"], pipe.steps[1].scale_["y"]], ref.scale_, rtol=1e-10
    )
    np.testing.assert_allclose(
        pipe.transform(frame), ref.transform(imputed), rtol=1e-10, atol=1e-12
    )


def test_standard_scale_without_mean(frame: pd.DataFrame) -> None:
    pipe = FeaturePipeline([steps.StandardScale(["y"], with_mean=False)]).fit(frame)
    ref = StandardScaler(with_mean=False).fit(frame[["y"]])
    np.testing.assert_allclose(pipe.transform(frame), ref.transform(frame[["y"]]), rtol=1e-10)


def test_minmax_and_robust_match_sklearn(frame: pd.DataFrame) -> None:
    pipe = FeaturePipeline(
        [steps.MinMaxScale(["y"], feature_range=(-1, 3)), steps.RobustScale(["x"])]
    )
    data = frame.assign(x=frame["x"].fillna(50.0))
    X = pipe.fit(data).transform(data)
    mm = MinMaxScaler(feature_range=(-1, 3)).fit_transform(data[["y"]])
    rb = RobustScaler().fit_transform(data[["x"]])
    np.testing.assert_allclose(X[:, 0], mm[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(X[:, 1], rb[:, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("max_categories", "min_frequency"),
    [(None, None), (20, None), (5, None), (None, 30), (8, 0.01)],
)
def test_one_hot_matches_sklearn(
    frame: pd.DataFrame, max_categories: int | None, min_frequency: float | None
) -> None:
    data = frame.assign(c=frame["c"].fillna("none"))
    pipe = FeaturePipeline(
        [steps.OneHot(["c"], max_categories=max_categories, min_frequency=min_frequency)]
    ).fit(data)
    ref = OneHotEncoder(
        max_categories=max_categories,
        min_frequency=min_frequency,
        handle_unknown="infrequent_if_exist",
        sparse_output=False,
    ).fit(data[["c"]])
    X = pipe.transform(data)
    np.testing.assert_array_equal(X, ref.transform(data[["c"]]))
    names = [n.replace("c_", "c=", 1) for n in ref.get_feature_names_out()]
    names = [n.replace("infrequent_sklearn", "<infrequent>") for n in names]
    assert pipe.feature_names_out == names
    unseen = pd.DataFrame({"c": ["never-seen"]})
    assert pipe.transform(unseen).sum() == 0.0  # handle_unknown="ignore"


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_bucketize_matches_kbins(frame: pd.DataFrame, strategy: str) -> None:
    data = frame[["y"]]
    pipe = FeaturePipeline([steps.Bucketize(["y"], n_bins=6, strategy=strategy)]).fit(data)
    kwargs = {"quantile_method": "linear"} if strategy == "quantile" else {}
    ref = KBinsDiscretizer(n_bins=6, strategy=strategy, encode="ordinal", **kwargs).fit(data)
    np.testing.assert_allclose(pipe.steps[0].edges_["y"], ref.bin_edges_[0][1:-1], rtol=1e-12)
    # scikit-learn nudges values by 1e-5 relative before binning; compare away from edges.
    y = data["y"].to_numpy()
    near = np.isclose(y[:, None], ref.bin_edges_[0][None, :], rtol=1e-5, atol=1e-8).any(axis=1)
    assert near.sum() < 10
    got, want = pipe.transform(data)[:, 0], ref.transform(data)[:, 0]
    np.testing.assert_array_equal(got[~near], want[~near])


def test_date_parts_match_pandas() -> None:
    rng = np.random.default_rng(1)
    ns = rng.integers(0, 2_000_000_000, 500) * 1_000_000_000 - 500_000_000_000_000_000
    ts = pd.Series(pd.to_datetime(ns)).dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    df = pd.DataFrame({"t": ts})
    parts = ["year", "month", "day", "dayofweek", "dayofyear", "hour", "minute", "second"]
    attrs = ["year", "month", "day", "day_of_week", "day_of_year", "hour", "minute", "second"]
    X = (
        FeaturePipeline([steps.DateParts(["t"], parts=[*parts, "is_weekend"])])
        .fit(df)
        .transform(df)
    )
    for j, attr in enumerate(attrs):
        np.testing.assert_array_equal(X[:, j], getattr(ts.dt, attr).to_numpy(dtype=float), attr)
    np.testing.assert_array_equal(X[:, -1], (ts.dt.day_of_week >= 5).to_numpy(dtype=float))
