"""Integer columns compare exactly: values past 2**53 are not rounded to float64.

As float64, 2**53 + 1 reads as 2**53 and, at 2**60, every value within 128 of another
reads as it: two samples of large ids that differ compared as identical (KS 0, no drift).
Exact (unsketched) integer columns are now held as int64, and the KS test, CvM test and
Wasserstein distance compare the integers. Cross-checked against scipy, which keeps int64
samples exact in ``ks_2samp`` and ``cramervonmises_2samp``, and against exact rational
arithmetic for the Wasserstein distance (scipy's converts to float64).
"""

from __future__ import annotations

import base64
import itertools
import json
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from prodml.drift import DriftDetector, Profile, stats
from prodml.errors import DriftError

BIG = 2**60


def test_2_53_and_2_53_plus_1_are_different_values() -> None:
    ref = pd.DataFrame({"id": np.full(200, 2**53, dtype=np.int64)})
    cur = pd.DataFrame({"id": np.full(200, 2**53 + 1, dtype=np.int64)})
    (result,) = DriftDetector().fit(ref).detect(cur).results
    assert result.statistic == 1.0
    assert result.drifted


def test_ids_at_2_60_that_differ_by_one() -> None:
    rng = np.random.default_rng(0)
    ref = BIG + rng.integers(0, 2, 5_000)  # 2**60 and 2**60 + 1
    cur = ref + 1  # 2**60 + 1 and 2**60 + 2: as float64 all three are 2**60
    report = DriftDetector().fit(pd.DataFrame({"id": ref})).detect(pd.DataFrame({"id": cur}))
    (result,) = report.results
    expected = sps.ks_2samp(ref, cur)
    assert result.statistic == pytest.approx(float(expected.statistic), rel=0, abs=0)
    assert result.p_value == pytest.approx(float(expected.pvalue), rel=1e-12, abs=1e-300)
    assert result.statistic > 0.4
    assert result.drifted
    # The Wasserstein distance is 1 exactly, over the reference's spread (std ~0.5).
    std = float(np.std(ref - BIG))
    assert result.metrics["wasserstein"] == pytest.approx(1.0 / std, rel=1e-12)


def test_the_statistics_keep_int64_samples_exact() -> None:
    a = np.array([BIG, BIG + 2, BIG + 4], dtype=np.int64)
    b = a + 1
    d, _ = stats.ks_2samp(a, b)
    assert d == float(sps.ks_2samp(a, b).statistic) == pytest.approx(1 / 3)
    assert stats.wasserstein(a, b) == 1.0
    t, _ = stats.cramervonmises_2samp(a, b)
    assert t == pytest.approx(float(sps.cramervonmises_2samp(a, b).statistic), rel=1e-12)
    assert t > 0
    # Extremes of int64: differences past int64 itself, still exact.
    lo = np.array([-(2**63)], dtype=np.int64)
    hi = np.array([2**63 - 1], dtype=np.int64)
    assert stats.wasserstein(lo, hi) == float(2**64 - 1)
    assert stats.wasserstein(hi, lo) == float(2**64 - 1)


def test_an_unsorted_int_sample_is_refused() -> None:
    with pytest.raises(DriftError, match="a must be sorted"):
        stats.ks_2samp(np.array([3, 1], dtype=np.int64), np.array([1, 2], dtype=np.int64))


def test_ints_against_floats_compare_as_floats() -> None:
    a = np.array([1, 2, 3], dtype=np.int64)
    b = np.array([1.5, 2.5, 3.5])
    assert stats.ks_2samp(a, b) == stats.ks_2samp(a.astype(float), b)
    assert stats.wasserstein(a, b) == stats.wasserstein(a.astype(float), b)
    ref = pd.DataFrame({"x": np.arange(100, dtype=np.int64)})
    cur = pd.DataFrame({"x": np.arange(100, dtype=np.float64) + 0.5})
    (result,) = DriftDetector().fit(ref).detect(cur).results
    assert result.statistic == pytest.approx(0.01)


def test_uint64_past_int64_is_read_as_float() -> None:
    big = np.array([2**63, 2**64 - 1], dtype=np.uint64)
    assert stats.wasserstein(big, big) == 0.0  # compared as float64, no error
    prof = Profile().update(pd.DataFrame({"u": big})).finalize()
    assert prof.columns["u"].points.dtype == np.float64
    fits = Profile().update(pd.DataFrame({"u": np.array([1, 2], dtype=np.uint64)})).finalize()
    assert fits.columns["u"].points.dtype == np.int64


# -- the profile ------------------------------------------------------------------------------


def test_a_profile_keeps_integers_exact_through_merge_and_json() -> None:
    a = pd.DataFrame({"id": np.array([BIG + 1, BIG + 3], dtype=np.int64)})
    b = pd.DataFrame({"id": pd.array([BIG + 2, None], dtype="Int64")})  # a nullable chunk
    merged = Profile().update(a).merge(Profile().update(b))
    assert merged == Profile().update([a, b])
    col = merged.columns["id"]
    assert col.points.dtype == np.int64
    assert col.points.tolist() == [BIG + 1, BIG + 2, BIG + 3]
    assert col.n_null == 1
    state = json.loads(merged.to_json())
    assert state["format_version"] == 3
    back = Profile.from_json(merged.to_json())
    assert back == merged
    assert back.columns["id"].points.tolist() == [BIG + 1, BIG + 2, BIG + 3]
    table = pa.table({"id": pa.array([BIG + 1, None, BIG + 3], pa.int64())})
    from_arrow = Profile().update(table).finalize()
    assert from_arrow.columns["id"].points.tolist() == [BIG + 1, BIG + 3]


def test_an_empty_chunk_or_partition_does_not_make_integers_float() -> None:
    ids = pd.DataFrame({"id": np.array([BIG + 1, BIG], dtype=np.int64)})
    empty = ids.iloc[:0]
    whole = Profile().update(ids).finalize()
    assert whole.columns["id"].points.dtype == np.int64
    for merged in (
        Profile().update(empty).merge(Profile().update(ids)),
        Profile().update(ids).merge(Profile().update(empty)),
        Profile().update([empty, ids, empty]),
    ):
        assert merged == whole


def test_an_int_chunk_and_a_float_chunk_make_a_float_column() -> None:
    a = pd.DataFrame({"x": np.array([1, 2], dtype=np.int64)})
    b = pd.DataFrame({"x": np.array([2.5, np.nan])})
    one = Profile().update([a, b]).finalize()
    assert one.columns["x"].points.dtype == np.float64
    assert one == Profile().update(a).merge(Profile().update(b))
    assert one == Profile().update(b).merge(Profile().update(a))
    assert json.loads(one.to_json())["format_version"] == 2


def test_past_max_exact_an_integer_column_is_sketched_as_floats() -> None:
    ids = pd.DataFrame({"id": np.arange(BIG, BIG + 20_001, dtype=np.int64)})
    prof = Profile(max_exact=10_000).update(ids)
    col = prof.columns["id"]
    assert not col.exact
    assert col.count == 20_001


def test_a_saved_integer_column_is_validated() -> None:
    state = json.loads(Profile().update(pd.DataFrame({"id": [3, 1, 2]})).to_json())
    unsorted = json.loads(json.dumps(state))
    raw = np.array([3, 1, 2], dtype="<i8").tobytes()
    unsorted["columns"]["id"]["int_points"] = base64.b64encode(raw).decode()
    with pytest.raises(DriftError, match=r"'columns.id.int_points' must be sorted values"):
        Profile.from_dict(unsorted)
    odd = json.loads(json.dumps(state))
    odd["columns"]["id"]["int_points"] = base64.b64encode(b"1234567").decode()
    with pytest.raises(DriftError, match=r"int_points' must be base64 of little-endian int64"):
        Profile.from_dict(odd)
    as_datetime = json.loads(json.dumps(state))
    as_datetime["columns"]["id"]["kind"] = "datetime"
    with pytest.raises(DriftError):
        Profile.from_dict(as_datetime)


# -- against scipy and exact arithmetic --------------------------------------------------------


def _exact_wasserstein(a: list[int], b: list[int]) -> Fraction:
    """integral |F_a - F_b| dx over the pooled points, in rationals."""
    pooled = sorted(set(a) | set(b))
    total = Fraction(0)
    for lo, hi in itertools.pairwise(pooled):
        fa = Fraction(sum(v <= lo for v in a), len(a))
        fb = Fraction(sum(v <= lo for v in b), len(b))
        total += abs(fa - fb) * (hi - lo)
    return total


offsets = st.sampled_from([0, 2**53 - 50, BIG, -(2**62), 2**63 - 1_000])
spreads = st.sampled_from([3, 100, 10**6])


@settings(max_examples=80, deadline=None)
@given(
    base=offsets,
    spread=spreads,
    sizes=st.tuples(st.integers(1, 60), st.integers(1, 60)),
    shift=st.integers(-2, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_int64_statistics_match_scipy_and_exact_arithmetic(
    base: int, spread: int, sizes: tuple[int, int], shift: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n1, n2 = sizes
    top = min(spread, 2**63 - 1 - base - 3)
    a = np.sort(base + rng.integers(0, top, n1)).astype(np.int64)
    b = np.sort(base + np.clip(rng.integers(0, top, n2) + shift, 0, top)).astype(np.int64)
    with warnings.catch_warnings():
        # scipy says so when its exact p-value fails and it falls back to the asymptotic
        # one (on many ties); prodml passes that on, as on float samples.
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation unsuccessful")
        d, p = stats.ks_2samp(a, b)
        ref = sps.ks_2samp(a, b)
    assert d == float(ref.statistic)
    assert p == pytest.approx(float(ref.pvalue), rel=1e-12, abs=1e-300)
    exact = _exact_wasserstein(a.tolist(), b.tolist())
    assert stats.wasserstein(a, b) == pytest.approx(float(exact), rel=1e-12, abs=0)
    # scipy on the same samples shifted to small numbers (exact in float64 there).
    shifted = sps.wasserstein_distance((a - a[0]).astype(float), (b - a[0]).astype(float))
    assert stats.wasserstein(a, b) == pytest.approx(shifted, rel=1e-12, abs=1e-12)
    weights_a = np.ones(a.size, dtype=np.int64)
    assert stats.wasserstein(a, b, weights_a, None) == pytest.approx(float(exact), rel=1e-12)


def test_the_detector_matches_scipy_on_large_int64_samples() -> None:
    # Past 10,000 values: the asymptotic p-value path, on integers at 2**60.
    rng = np.random.default_rng(7)
    ref = BIG + rng.integers(0, 1_000, 30_000)
    cur = BIG + rng.integers(3, 1_003, 20_000)
    frames = pd.DataFrame({"id": ref}), pd.DataFrame({"id": cur})
    detector = DriftDetector(max_exact=50_000)
    (result,) = detector.fit(frames[0]).detect(frames[1]).results
    expected = sps.ks_2samp(ref, cur)
    assert result.statistic == float(expected.statistic)
    assert result.p_value == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-300)
    assert result.statistic > 0  # as float64 every value is 2**60: no difference at all
