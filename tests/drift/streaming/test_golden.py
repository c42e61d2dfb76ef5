"""Golden tests: exact alarm indices of the default detectors on seeded streams.

A change in any of these numbers changes what users see; update them only on purpose
(and say so in the changelog).
"""

from __future__ import annotations

import numpy as np
import pytest

from prodml.drift.streaming import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    HDDM_W,
    KSWIN,
    PageHinkley,
)


def small_d2(seed: int) -> np.ndarray:
    """D2 in small: N(0, 1), then N(0.5, 1) from index 10,000 of 20,000."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(20_000)
    x[10_000:] += 0.5
    return x


def shifts(seed: int) -> np.ndarray:
    """N(0, 1), N(1, 1), N(1, 3), N(-1, 1): 3,000 values each."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.normal(0, 1, 3000),
            rng.normal(1, 1, 3000),
            rng.normal(1, 3, 3000),
            rng.normal(-1, 1, 3000),
        ]
    )


def error_rates(seed: int) -> np.ndarray:
    """0/1 errors at rates 0.1, 0.25, 0.1, 0.4: 10,000 values each."""
    rng = np.random.default_rng(seed)
    rates = np.repeat([0.1, 0.25, 0.1, 0.4], 10_000)
    return (rng.random(40_000) < rates).astype(np.float64)


GOLDEN_D2 = {
    ADWIN: [[10175], [10111], [10143]],
    PageHinkley: [[10164], [10101], [10118]],
    CUSUM: [[10164], [10101], [10118]],
    KSWIN: [[], [], []],  # a 0.5 sd shift is below what its 100-value test can see
}

GOLDEN_SHIFTS = {
    ADWIN: [[3039, 6079, 9087], [3039, 6239, 9055]],
    CUSUM: [[3027, 6066, 9079], [3036, 6120, 9056]],
    KSWIN: [[3047, 6092, 9055], [3074, 9058]],
}

GOLDEN_ERRORS = {
    DDM: [[11374, 30576], [11155, 30730], [10341, 30741]],
    EDDM: [[18241, 33919], [17702, 33795], [17981, 33831]],
    HDDM_A: [[10484, 30073], [10619, 30110], [10638, 30162]],
    HDDM_W: [[32569], [35492], [36892]],
}


@pytest.mark.parametrize("cls", list(GOLDEN_D2), ids=lambda c: c.__name__)
def test_small_d2(cls):
    for seed, expected in enumerate(GOLDEN_D2[cls]):
        values = small_d2(seed)
        assert cls().update_many(values).tolist() == expected
        if cls is KSWIN:
            continue  # its loop is slow; test_detectors checks it equals update_many
        det = cls()
        assert [i for i, x in enumerate(values.tolist()) if det.update(x)] == expected


@pytest.mark.parametrize("cls", list(GOLDEN_SHIFTS), ids=lambda c: c.__name__)
def test_mean_and_scale_shifts(cls):
    for seed, expected in enumerate(GOLDEN_SHIFTS[cls]):
        assert cls().update_many(shifts(seed)).tolist() == expected


def test_page_hinkley_reads_a_scale_change_as_many_mean_changes():
    # Raw units: the N(1, 3) segment's swings exceed the threshold again and again.
    alarms = PageHinkley().update_many(shifts(0)).tolist()
    assert alarms[:2] == [3027, 6065]
    assert len(alarms) == 31
    assert all(6000 <= a < 9100 for a in alarms[1:])


@pytest.mark.parametrize("cls", list(GOLDEN_ERRORS), ids=lambda c: c.__name__)
def test_error_rates(cls):
    for seed, expected in enumerate(GOLDEN_ERRORS[cls]):
        assert cls().update_many(error_rates(seed)).tolist() == expected


def test_two_sided_hddm_a_also_sees_the_fall():
    assert HDDM_A(two_sided_test=True).update_many(error_rates(0)).tolist() == [
        10484,
        20586,
        30072,
    ]


def d2() -> np.ndarray:
    """Workload D2, seed 0: N(0, 1), then N(0.5, 1) from index 500,000 of 1,000,000."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1_000_000)
    x[500_000:] += 0.5
    return x


def test_workload_d2_no_false_alarm_and_delays():
    values = d2()
    # river's ADWIN raises its alarm at 500,159 on this stream too (test_cross_checks).
    assert ADWIN().update_many(values).tolist() == [500_159]
    assert PageHinkley().update_many(values).tolist() == [500_160]
    assert CUSUM().update_many(values).tolist() == [500_160]
