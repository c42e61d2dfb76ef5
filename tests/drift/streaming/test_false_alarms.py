"""Defaults raise no false alarm on 500,000 in-control values (one seeded stream each)."""

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

N = 500_000


@pytest.fixture(scope="module")
def normal() -> np.ndarray:
    return np.random.default_rng(2026).standard_normal(N)


@pytest.fixture(scope="module")
def errors() -> np.ndarray:
    # An in-control error indicator: 20% errors, independent.
    return (np.random.default_rng(2026).random(N) < 0.2).astype(np.float64)


@pytest.mark.parametrize("cls", [ADWIN, PageHinkley, CUSUM, KSWIN], ids=lambda c: c.__name__)
def test_no_false_alarm_on_normal_values(cls, normal):
    assert cls().update_many(normal).size == 0


@pytest.mark.parametrize("cls", [DDM, EDDM, HDDM_A, HDDM_W], ids=lambda c: c.__name__)
def test_no_false_alarm_on_bernoulli_errors(cls, errors):
    det = cls()
    assert det.update_many(errors).size == 0


@pytest.mark.parametrize("cls", [HDDM_A, HDDM_W], ids=lambda c: c.__name__)
def test_no_false_alarm_on_bounded_scores(cls):
    scores = np.random.default_rng(7).beta(2.0, 5.0, N)
    assert cls(two_sided_test=True).update_many(scores).size == 0


def test_no_false_alarm_on_a_shifted_scaled_stream():
    # Scale-free detectors do not care about units; ADWIN's bound uses the variance.
    values = 1e6 + 250.0 * np.random.default_rng(3).standard_normal(N)
    assert CUSUM().update_many(values).size == 0
    assert ADWIN().update_many(values).size == 0
