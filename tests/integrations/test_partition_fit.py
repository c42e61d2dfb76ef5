"""The FeaturePipeline partition-state protocol (what the Dask integration drives), no Dask."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, NotFittedError, SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Schema
from prodml.testing.strategies import chunkings, split_table


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(5.0, 2.0, n)
    x[rng.random(n) < 0.15] = np.nan
    c = rng.choice(["a", "b", "c", "d", "e"], n).astype(object)
    c[rng.random(n) < 0.1] = None
    d = rng.choice(["u", "v", "w"], n).astype(object)
    d[rng.random(n) < 0.2] = None
    return pd.DataFrame(
        {"x": x, "k": rng.integers(-50, 50, n), "b": rng.exponential(3.0, n), "c": c, "d": d}
    )


EXACT_STEPS = {
    "median": lambda: [steps.Impute(["x"], strategy="median"), steps.RobustScale(["x"])],
    "minmax": lambda: [steps.MinMaxScale(["k"]), steps.Clip(["k"], lower=0.1, upper=0.9)],
    "bucketize": lambda: [steps.Bucketize(["b"], n_bins=4, encode="onehot")],
    "onehot": lambda: [
        steps.Impute(["c"], strategy="most_frequent"),
        steps.OneHot(["c"], max_categories=3),
    ],
    "ordinal": lambda: [steps.Impute(["d"], strategy="constant"), steps.Ordinal(["d"])],
}


def _fit_by_partitions(
    pipe: FeaturePipeline, parts: list[Any], *, positions: bool = True, fan_in: int = 0
) -> FeaturePipeline:
    pipe.start_fit(Schema.infer(parts, nullable="always"))
    passes = 0
    while pipe.fit_pending:
        where: list[Any] = [None] * len(parts)
        if positions and pipe.fit_needs_positions:
            where = FeaturePipeline.plan_positions([pipe.partition_counts(p) for p in parts])
        # states travel pickled, as between processes
        states = [
            pickle.loads(pickle.dumps(pipe.partition_states(p, w)))
            for p, w in zip(parts, where, strict=True)
        ]
        while fan_in and len(states) > 1:  # a tree of in-order merges
            states = [
                FeaturePipeline.merge_states(states[i : i + fan_in])
                for i in range(0, len(states), fan_in)
            ]
        pipe.finish_pass(FeaturePipeline.merge_states(states))
        passes += 1
    assert passes <= 3
    return pipe


@settings(max_examples=30)
@given(
    keys=st.lists(st.sampled_from(sorted(EXACT_STEPS)), min_size=1, max_size=3, unique=True),
    n=st.integers(1, 300),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_partitions_fit_exactly_like_one_pass(keys, n, seed, data) -> None:
    df = _data(n, seed)
    parts = split_table(df, data.draw(chunkings(n, max_chunks=6)))

    def make() -> FeaturePipeline:
        return FeaturePipeline([s for k in keys for s in EXACT_STEPS[k]()])

    try:
        want = make().fit(df)
    except SchemaError:
        with pytest.raises(SchemaError):
            _fit_by_partitions(make(), parts)
        return
    got = _fit_by_partitions(make(), parts)
    assert got.fingerprint == want.fingerprint
    assert np.array_equal(got.transform(df), want.transform(df))


def _moments_pipeline() -> FeaturePipeline:
    return FeaturePipeline([steps.Impute(["x"], strategy="mean"), steps.StandardScale(["x", "k"])])


@settings(max_examples=40)
@given(
    n=st.integers(1, 5000),
    seed=st.integers(0, 2**16),
    fan_in=st.sampled_from([0, 2, 3]),
    data=st.data(),
)
def test_moments_with_positions_are_exact(n, seed, fan_in, data) -> None:
    df = _data(n, seed)
    parts = split_table(df, data.draw(chunkings(n, max_chunks=8)))
    try:
        want = _moments_pipeline().fit(df)
    except SchemaError:  # e.g. every x is null: no mean
        return
    got = _fit_by_partitions(_moments_pipeline(), parts, fan_in=fan_in)
    assert got.fingerprint == want.fingerprint


def test_positions_are_what_make_moments_exact() -> None:
    # the same cut without positions rounds differently (so the test above tests something)
    df = _data(5000, 11)
    parts = split_table(df, [1000, 1777, 3001])
    want = _moments_pipeline().fit(df)
    assert _fit_by_partitions(_moments_pipeline(), parts).fingerprint == want.fingerprint
    plain = _fit_by_partitions(_moments_pipeline(), parts, positions=False)
    assert plain.fingerprint != want.fingerprint
    assert plain.steps[1].mean_["x"] == pytest.approx(want.steps[1].mean_["x"], rel=1e-14)


def test_plan_positions() -> None:
    counts = [{"x": (0, None)}, {"x": (3, 2.5)}, {"x": (0, None)}, {"x": (4, 7.0)}]
    assert FeaturePipeline.plan_positions(counts) == [
        {"x": (0, 2.5)},
        {"x": (0, 2.5)},
        {"x": (3, 2.5)},
        {"x": (3, 2.5)},
    ]
    assert FeaturePipeline.plan_positions([{"x": (0, None)}]) == [{"x": (0, None)}]


@settings(max_examples=20)
@given(n=st.integers(2, 2500), seed=st.integers(0, 2**16), data=st.data())
def test_moments_without_positions_agree_to_rounding(n, seed, data) -> None:
    df = _data(n, seed)
    parts = split_table(df, data.draw(chunkings(n, max_chunks=6)))

    def make() -> FeaturePipeline:
        return FeaturePipeline(
            [steps.Impute(["x"], strategy="mean"), steps.StandardScale(["x", "k"])]
        )

    try:
        want = make().fit(df)
    except SchemaError:  # e.g. every x is null: no mean
        with pytest.raises(SchemaError):
            _fit_by_partitions(make(), parts, positions=False)
        return
    got = _fit_by_partitions(make(), parts, positions=False)
    assert got.steps[0].statistics_["x"] == pytest.approx(want.steps[0].statistics_["x"], rel=1e-14)
    for col in ("x", "k"):
        assert got.steps[1].mean_[col] == pytest.approx(want.steps[1].mean_[col], rel=1e-14)
        assert got.steps[1].scale_[col] == pytest.approx(want.steps[1].scale_[col], rel=1e-13)


def test_one_partition_of_chunks_is_exact_even_for_moments() -> None:
    df = _data(5000, 3)
    chunks = split_table(df, [700, 2048, 2049, 4100])

    def make() -> FeaturePipeline:
        return FeaturePipeline([steps.Impute(["x"], strategy="mean"), steps.StandardScale(["x"])])

    pipe = make().start_fit(Schema.infer(df, nullable="always"))
    while pipe.fit_pending:
        pipe.finish_pass(pipe.partition_states(chunks))  # one partition given as chunks
    got = pipe
    assert got.fingerprint == make().fit(df).fingerprint


def test_stateless_pipeline_needs_no_pass() -> None:
    pipe = FeaturePipeline([steps.Log1p(["k"]), steps.Hashing(["c"], n_features=4)])
    df = _data(50, 0).assign(k=lambda d: d["k"].abs())
    pipe.start_fit(Schema.infer(df, nullable="always"))
    assert not pipe.fit_pending
    assert (
        pipe.fingerprint
        == FeaturePipeline([steps.Log1p(["k"]), steps.Hashing(["c"], n_features=4)])
        .fit(df)
        .fingerprint
    )


def test_refit_with_start_fit_forgets_the_old_fit() -> None:
    df = _data(100, 1)
    pipe = FeaturePipeline([steps.Impute(["x"], strategy="median")]).fit(df)
    pipe.start_fit(Schema.infer(df, nullable="always"))
    assert pipe.fit_pending
    with pytest.raises(NotFittedError):
        pipe.transform(df)
    pipe.finish_pass(pipe.partition_states(df))
    assert not pipe.fit_pending
    assert pipe.transform(df).shape == (100, 1)


def test_protocol_errors() -> None:
    df = _data(100, 2)
    pipe = FeaturePipeline([steps.Impute(["x"], strategy="median"), steps.StandardScale(["x"])])
    with pytest.raises(NotFittedError, match="start_fit"):
        pipe.partition_states(df)
    with pytest.raises(NotFittedError, match="start_fit"):
        pipe.finish_pass({})
    with pytest.raises(NotFittedError, match="start_fit"):
        pipe.partition_counts(df)
    assert not pipe.fit_needs_positions
    with pytest.raises(SchemaError, match="'zz'"):
        FeaturePipeline([steps.Impute(["zz"], strategy="median")]).start_fit(
            Schema.infer(df, nullable="always")
        )
    with pytest.raises(ConfigError, match="at least one step"):
        FeaturePipeline([]).start_fit(Schema.infer(df, nullable="always"))
    pipe.start_fit(Schema.infer(df, nullable="always"))
    with pytest.raises(SchemaError, match="data must be"):
        pipe.partition_states(42)
    with pytest.raises(ConfigError, match=r"states of columns \['x'\]; got \['y'\]"):
        pipe.finish_pass({"y": object()})
    with pytest.raises(ConfigError, match="got list"):
        pipe.finish_pass([])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least one"):
        FeaturePipeline.merge_states([])
    with pytest.raises(SchemaError, match="'x'"):
        pipe.partition_states(df.assign(x=df["x"].astype(str)))
    assert pipe.partition_counts(df) == {}  # the median pass has no mean/variance state
    with pytest.raises(SchemaError, match="data must be"):
        pipe.partition_counts("table.csv")
    # a failed pass leaves the fit open: the caller can retry with good states
    pipe.finish_pass(pipe.partition_states(df))
    assert pipe.fit_pending  # StandardScale's pass is next
    assert pipe.fit_needs_positions
    first = float(pipe.steps[0].statistics_["x"]) if np.isnan(df["x"].iloc[0]) else df["x"].iloc[0]
    assert pipe.partition_counts(df) == {"x": (100, first)}
