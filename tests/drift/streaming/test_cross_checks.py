"""Cross-checks against river (same algorithm and settings: same alarms) and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from prodml.drift.streaming import ADWIN, CUSUM, DDM, EDDM, HDDM_A, HDDM_W, KSWIN, PageHinkley
from prodml.drift.streaming.kswin import _ks_rows, _ks_scaled

river_drift = pytest.importorskip("river.drift", reason="needs river (the 'test' extra)")
river_binary = pytest.importorskip("river.drift.binary", reason="needs river (the 'test' extra)")


def river_alarms(det, values: np.ndarray) -> list[int]:
    out = []
    for i, x in enumerate(values.tolist()):
        det.update(x)
        if det.drift_detected:
            out.append(i)
    return out


def mean_shifts(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, 3000), rng.normal(1, 1, 3000), rng.normal(0, 2, 3000)])


def error_rates(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = np.repeat([0.1, 0.3, 0.1, 0.5], 5000)
    return (rng.random(20_000) < rates).astype(np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_adwin_with_clock_1_is_rivers_adwin(seed):
    # With clock=1 a block is one value, so the bucket structure is river's exactly.
    values = mean_shifts(seed)
    expected = river_alarms(river_drift.ADWIN(clock=1), values)
    assert len(expected) >= 2
    assert ADWIN(clock=1).update_many(values).tolist() == expected


@pytest.mark.parametrize("seed", range(4))
def test_adwin_defaults_find_rivers_first_alarm(seed):
    # Cuts fall on block boundaries; the first alarm (same test times) still matches.
    values = mean_shifts(seed)
    expected = river_alarms(river_drift.ADWIN(), values)
    got = ADWIN().update_many(values).tolist()
    assert got[0] == expected[0]
    assert len(got) == len(expected)
    assert all(abs(a - b) <= 64 for a, b in zip(got, expected, strict=True))


@pytest.mark.parametrize("seed", range(3))
def test_page_hinkley_is_rivers_without_forgetting(seed):
    values = mean_shifts(seed)
    river = river_drift.PageHinkley(alpha=1.0, delta=0.25, threshold=30.0)
    assert PageHinkley().update_many(values).tolist() == river_alarms(river, values)


RIVER_BINARY = [
    (
        "DDM",
        lambda: DDM(warm_start=30, warning_threshold=2.0, drift_threshold=3.0),
        river_binary.DDM,
    ),
    ("EDDM", lambda: EDDM(warm_start=30, alpha=0.95, beta=0.9), river_binary.EDDM),
    ("HDDM_A", lambda: HDDM_A(0.001, 0.005), river_binary.HDDMA),
    (
        "HDDM_A-2",
        lambda: HDDM_A(0.001, 0.005, two_sided_test=True),
        lambda: river_binary.HDDMA(two_sided_test=True),
    ),
    ("HDDM_W", lambda: HDDM_W(0.001, 0.005), river_binary.HDDMW),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), RIVER_BINARY, ids=[r[0] for r in RIVER_BINARY])
@pytest.mark.parametrize("seed", range(3))
def test_error_rate_detectors_match_river_with_rivers_settings(name, ours, theirs, seed):
    values = error_rates(seed)
    expected = river_alarms(theirs(), values.astype(int))
    assert expected
    assert ours().update_many(values).tolist() == expected


@pytest.mark.parametrize("seed", range(3))
def test_warnings_match_river(seed):
    values = error_rates(seed)
    ours, theirs = (
        DDM(warm_start=30, warning_threshold=2.0, drift_threshold=3.0),
        river_binary.DDM(),
    )
    for x in values.astype(int).tolist():
        ours.update(x)
        theirs.update(x)
        assert ours.warning_detected == theirs.warning_detected
        assert ours.drift_detected == theirs.drift_detected


@pytest.mark.parametrize("seed", range(5))
def test_ks_statistic_is_scipys(seed):
    rng = np.random.default_rng(seed)
    window = np.round(
        rng.normal(0, 1, 120) + np.r_[np.zeros(80), np.full(40, rng.uniform(0, 2))], 1
    )
    old, new = window[:80], window[80:]
    expected = stats.ks_2samp(old, new).statistic
    assert _ks_scaled(np.sort(old), np.sort(new)) / (80 * 40) == pytest.approx(expected, abs=1e-12)
    ranks = np.unique(window, return_inverse=True)[1].astype(np.int32)
    assert _ks_rows(ranks[None, :], 80, True)[0] / (80 * 40) == pytest.approx(expected, abs=1e-12)


def test_kswin_alarm_means_scipy_p_value_below_alpha():
    # The asymptotic critical value is close to scipy's asymptotic p-value test.
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 400), rng.normal(1.5, 1, 400)])
    det = KSWIN(alpha=0.001, window_size=150, stat_size=50)
    (alarm,) = det.update_many(values)[:1]
    window = values[alarm - 149 : alarm + 1]
    p = stats.ks_2samp(window[:100], window[100:], method="asymp").pvalue
    assert p < 0.001
    before = values[alarm - 150 : alarm]
    assert stats.ks_2samp(before[:100], before[100:], method="asymp").pvalue > 0.0005


def test_cusum_with_known_target_is_the_textbook_recursion():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(10, 2, 2000), rng.normal(11, 2, 2000)])
    k, h = 0.25, 8.0
    expected, hi, lo = [], 0.0, 0.0
    started = 0
    for i, x in enumerate(values.tolist()):
        if i - started < 30:  # warmup values are not tested
            continue
        z = (x - 10.0) / 2.0
        hi, lo = max(0.0, hi + z - k), max(0.0, lo - z - k)
        if hi > h or lo > h:
            expected.append(i)
            hi = lo = 0.0
            started = i + 1
    got = CUSUM(k=k, h=h, target=10.0, sigma=2.0).update_many(values).tolist()
    assert got == expected
    assert len(expected) >= 2


def test_adwin_detects_workload_d2_at_rivers_index():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(1_000_000)
    values[500_000:] += 0.5
    expected = river_alarms(river_drift.ADWIN(), values)
    assert expected == [500_159]
    assert ADWIN().update_many(values).tolist() == expected


def tied_shifts(seed: int) -> np.ndarray:
    """Mean and scale shifts, rounded to one decimal so that values tie often."""
    rng = np.random.default_rng(100 + seed)
    mid = rng.normal(rng.uniform(-1.5, 1.5), rng.uniform(0.5, 2), 2000)
    return np.round(np.concatenate([rng.normal(0, 1, 2000), mid, rng.normal(0, 1, 2000)]), 1)


@pytest.mark.parametrize("mode", ["up", "down", "both"])
@pytest.mark.parametrize("seed", range(4))
def test_page_hinkley_each_mode_is_rivers_at_rivers_levels(mode, seed):
    values = tied_shifts(seed)
    river = river_drift.PageHinkley(mode=mode, alpha=1.0)  # river's delta 0.005, threshold 50
    ours = PageHinkley(mode=mode, min_instances=30, delta=0.005, threshold=50.0)
    expected = river_alarms(river, values)
    assert expected
    assert ours.update_many(values).tolist() == expected


@pytest.mark.parametrize("seed", range(4))
def test_adwin_clock_1_is_rivers_on_tied_and_binary_streams(seed):
    tied = tied_shifts(seed)
    binary = (tied > 0).astype(np.float64)
    for values in (tied, binary):
        assert ADWIN(clock=1).update_many(values).tolist() == river_alarms(
            river_drift.ADWIN(clock=1), values
        )


@pytest.mark.parametrize("seed", range(4))
def test_hddm_a_is_rivers_on_values_inside_the_unit_interval(seed):
    values = np.clip(tied_shifts(seed) / 4 + 0.5, 0.0, 1.0)
    expected = river_alarms(river_binary.HDDMA(), values)
    assert HDDM_A(0.001, 0.005).update_many(values).tolist() == expected
