"""Near-constant columns scale by 1 in new fits; saved pipelines keep their scales.

``data/pipeline_saved_before_constant_rule.json`` was written by main at 1cd8a62, before
the rule: its StandardScale divides a column of 1e9 by a deviation of 9.9e-8, its
MinMaxScale multiplies a range of 1.4e-17 by 7.2e16 (and a constant column with
``feature_range=(-1, 1)`` by 1.0), its RobustScale divides by 4.4e-16. It must load with
the same fingerprint and transform to the same bits.

Fits in chunks, by partition states (with and without positions) and on Dask take the
same constant-feature decision as the in-memory fit.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Schema
from prodml.testing.strategies import chunkings, split_table

SAVED = Path(__file__).parent / "data" / "pipeline_saved_before_constant_rule.json"
SAVED_FINGERPRINT = "422966fa4b989ebf578c692426057898c8ce73c17850e2e020b5318e4a7754c8"
FIT = pd.DataFrame(
    {
        "a": [1e9, 1e9 + 2**-23, 1e9 + 2**-22, 1e9],
        "b": [3.0, 3.0, 3.0, 3.0],
        "c": [0.1, 0.1 + 2**-56, 0.1, 0.1],
        "d": [2.0, 2.0 + 2**-51, 2.0 + 2**-51, 2.0],
        "e": [1.0, 2.0, 4.0, 8.0],
    }
)
PROBE = pd.DataFrame(
    {
        "a": [1e9, 1e9 + 2**-23, 999999999.0],
        "b": [3.0, 4.0, 2.0],
        "c": [0.1, 0.1 + 2**-56, 0.2],
        "d": [2.0, 2.0 + 2**-51, 3.0],
        "e": [1.0, 3.0, 8.0],
    }
)
# PROBE transformed by main at 1cd8a62 (the blown-up values are the point).
SAVED_OUT = [
    [-1.2060453783110545, -1.025755289064345, -1.0, 0.0, 0.0],
    [0.0, -0.27975144247209416, 0.0, 1.0, 1.0],
    [-10117043.114908516, 1.5852581740085334, -2.0, 7205759403792794.0, 2251799813685248.0],
]


def _pipeline() -> FeaturePipeline:
    # The steps main saved in the golden file.
    return FeaturePipeline(
        [
            steps.StandardScale(["a", "e"]),
            steps.MinMaxScale(["b"], feature_range=(-1.0, 1.0)),
            steps.MinMaxScale(["c"]),
            steps.RobustScale(["d"]),
        ]
    )


def test_a_pipeline_saved_before_the_rule_loads_and_transforms_as_before() -> None:
    text = SAVED.read_text().strip()
    pipe = FeaturePipeline.from_json(text)
    assert pipe.fingerprint == SAVED_FINGERPRINT
    assert pipe.to_json() == text
    assert pipe.transform(PROBE).tolist() == SAVED_OUT
    for i, row in enumerate(PROBE.to_dict("records")):
        assert pipe.transform_record(row).tolist() == SAVED_OUT[i]


def test_the_same_data_fitted_now_scales_near_constant_columns_by_1() -> None:
    old = FeaturePipeline.from_json(SAVED.read_text())
    new = _pipeline().fit(FIT)
    assert new.fingerprint != old.fingerprint
    assert new.steps[0].scale_ == {"a": 1.0, "e": old.steps[0].scale_["e"]}
    assert new.steps[1].scale_ == {"b": 2.0}  # scikit-learn's: high - low
    assert new.steps[2].scale_ == {"c": 1.0}  # a range of 1.4e-17, below 10 * eps
    assert new.steps[3].scale_ == {"d": 1.0}  # an interquartile range of 4.4e-16
    X = new.transform(PROBE)
    # Columns a, e, b, c, d. Nothing blown up: x - mean, x - min, x - median.
    assert np.abs(X[:2, [0, 3, 4]]).max() < 1e-6
    assert X[:, 2].tolist() == [-1.0, 1.0, -3.0]  # b: (x - 3) * 2 - 1, as scikit-learn
    assert X[:, 1].tolist() == old.transform(PROBE)[:, 1].tolist()  # e: unchanged


# -- the message when a value scales beyond float64 ---------------------------------------


def _overflow_message(step: Any, fit: list[float], value: float) -> str:
    pipe = FeaturePipeline([step]).fit(pd.DataFrame({"x": fit}))
    with pytest.raises(SchemaError) as batch:
        pipe.transform(pd.DataFrame({"x": [value]}))
    with pytest.raises(SchemaError) as record:
        pipe.transform_record({"x": value})
    assert batch.value.problems[0].message == record.value.problems[0].message
    return batch.value.problems[0].message


def test_minmax_overflow_says_clip_true_keeps_values_in_the_feature_range() -> None:
    wide = steps.MinMaxScale(["x"], feature_range=(-1e300, 1e300))
    message = _overflow_message(wide, [0.0, 1.0], 1e9)
    assert "MinMaxScale(clip=True)" in message
    assert "keeps values in feature_range" in message
    assert "Clip" in message  # the remedy every step has stays
    other = _overflow_message(steps.StandardScale(["x"]), [1e-300, 2e-300, 3e-300], 1e307)
    assert "clip=True" not in other


# -- streaming and partitioned fits take the in-memory decision ------------------------------

BASES = [1e9, -3.5e12, 0.1, 7.0, 1e-300, 1e300, 0.0]
STEPS = {
    "standard": lambda: steps.StandardScale(["x"]),
    "standard_no_mean": lambda: steps.StandardScale(["x"], with_mean=False),
    "minmax": lambda: steps.MinMaxScale(["x"], feature_range=(-1.0, 1.0)),
    "robust": lambda: steps.RobustScale(["x"]),
}


def _column(base: float, n: int, spread: int, widen: int, seed: int) -> pd.DataFrame:
    """n values of ``base`` plus up to ``spread`` ulps of it, times ``2**widen``."""
    rng = np.random.default_rng(seed)
    ulp = float(np.spacing(abs(base))) if base else 5e-324
    ks = rng.integers(-spread, spread + 1, n)
    return pd.DataFrame({"x": base + ks * ulp * 2.0**widen})


def _by_partitions(pipe: FeaturePipeline, parts: list[pd.DataFrame], *, positions: bool) -> Any:
    pipe.start_fit(Schema.infer(parts, nullable="always"))
    while pipe.fit_pending:
        where: list[Any] = [None] * len(parts)
        if positions and pipe.fit_needs_positions:
            where = FeaturePipeline.plan_positions([pipe.partition_counts(p) for p in parts])
        states = [
            pickle.loads(pickle.dumps(pipe.partition_states(p, w)))  # as between processes
            for p, w in zip(parts, where, strict=True)
        ]
        pipe.finish_pass(FeaturePipeline.merge_states(states))
    return pipe


@settings(deadline=None, max_examples=60)
@given(
    name=st.sampled_from(sorted(STEPS)),
    base=st.sampled_from(BASES),
    n=st.integers(1, 2500),
    spread=st.integers(0, 40),
    widen=st.one_of(st.integers(-4, 4), st.integers(0, 30)),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_chunked_and_partitioned_fits_take_the_in_memory_decision(
    *, name: str, base: float, n: int, spread: int, widen: int, seed: int, data: Any
) -> None:
    df = _column(base, n, spread, widen, seed)
    make = lambda: FeaturePipeline([STEPS[name]()])  # noqa: E731
    try:
        one = make().fit(df)
    except SchemaError:  # a range or sum beyond float64 (the 1e300 base): refused
        with pytest.raises(SchemaError):
            make().fit(iter(split_table(df, data.draw(chunkings(n)))))
        return
    # The scale of a constant column: high - low for MinMaxScale, 1 for the others.
    constant_scale = 2.0 if name == "minmax" else 1.0
    constant = one.steps[0].scale_["x"] == constant_scale
    parts = split_table(df, data.draw(chunkings(n, max_chunks=6)))
    chunked = make().fit(iter(parts))
    exact = _by_partitions(make(), parts, positions=True)
    assert chunked.fingerprint == one.fingerprint
    assert exact.fingerprint == one.fingerprint
    # Without positions the sums round differently; the decision is the same.
    plain = _by_partitions(make(), parts, positions=False)
    assert (plain.steps[0].scale_["x"] == constant_scale) == constant
    assert plain.steps[0].scale_["x"] == pytest.approx(one.steps[0].scale_["x"], rel=1e-12)


def test_the_decision_is_taken_on_the_merged_count() -> None:
    # Each half alone is not near-constant at its own n; the whole is (the bound grows
    # with n, the variance does not): partitions must not decide on their own.
    df = pd.DataFrame({"x": 1e9 + np.tile([0.0, 2**-18], 8)})
    whole = FeaturePipeline([steps.StandardScale(["x"])]).fit(df)
    parts = split_table(df, [8])
    merged = _by_partitions(FeaturePipeline([steps.StandardScale(["x"])]), parts, positions=True)
    assert merged.fingerprint == whole.fingerprint
    half = FeaturePipeline([steps.StandardScale(["x"])]).fit(parts[0])
    assert (half.steps[0].scale_["x"] == 1.0) != (whole.steps[0].scale_["x"] == 1.0)


@pytest.mark.parametrize("name", sorted(STEPS))
@pytest.mark.parametrize(("base", "widen"), [(1e9, 0), (1e9, 12), (0.1, 0), (7.0, 30)])
def test_dask_fit_takes_the_in_memory_decision(name: str, base: float, widen: int) -> None:
    dd = pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
    import dask

    from prodml.integrations import dask as pdask

    df = _column(base, 3000, 20, widen, seed=7)
    want = FeaturePipeline([STEPS[name]()]).fit(df)
    with dask.config.set(scheduler="sync"):
        got = pdask.fit_pipeline(
            FeaturePipeline([STEPS[name]()]), dd.from_pandas(df, npartitions=4), progress=False
        )
    assert got.fingerprint == want.fingerprint
