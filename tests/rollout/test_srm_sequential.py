"""The sequential SRM check: false pause rate under continuous peeking, and power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from prodml.errors import ConfigError, PolicyError
from prodml.rollout import ABTest
from prodml.rollout.stats import srm_sequential_test, srm_test

LOOK_EVERY = 200  # units between two evaluations
LOOKS = 100  # 20,000 units per experiment


def _paths(share_a: float, experiments: int, seed: int, looks: int = LOOKS) -> np.ndarray:
    """Cumulative units assigned to A at each look, one row per simulated experiment."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.binomial(LOOK_EVERY, share_a, size=(experiments, looks)), axis=1)


def _first_alarm(path: np.ndarray, test: object, alpha: float) -> int | None:
    for look, a in enumerate(path):
        n = (look + 1) * LOOK_EVERY
        if test([int(a), n - int(a)], [0.5, 0.5], alpha=alpha).mismatch:  # type: ignore[operator]
            return look
    return None


def test_false_pause_rate_under_continuous_peeking_stays_below_alpha() -> None:
    alpha = 0.05
    paths = _paths(0.5, experiments=300, seed=7)
    sequential = [_first_alarm(p, srm_sequential_test, alpha) for p in paths]
    rate = sum(a is not None for a in sequential) / len(paths)
    assert rate <= alpha, rate
    # The fixed-horizon chi-square checked at every look pauses far more often: the
    # failure the sequential test removes.
    chi2 = [_first_alarm(p, srm_test, alpha) for p in paths[:100]]
    assert sum(a is not None for a in chi2) / 100 > 2 * alpha


def test_power_to_catch_a_52_48_mismatch() -> None:
    paths = _paths(0.52, experiments=100, seed=11, looks=150)
    alarms = [_first_alarm(p, srm_sequential_test, 0.001) for p in paths]
    caught = [a for a in alarms if a is not None]
    assert len(caught) >= 95  # within 30,000 units at the default alpha
    assert np.median(caught) * LOOK_EVERY < 12_000


def test_the_statistic_is_the_dirichlet_multinomial_bayes_factor() -> None:
    counts, shares, c = [530, 470], [0.5, 0.5], 1000.0
    expected = (
        special.gammaln(c)
        - special.gammaln(c + 1000)
        + sum(
            special.gammaln(c * p + n) - special.gammaln(c * p) - n * math.log(p)
            for n, p in zip(counts, shares, strict=True)
        )
    )
    r = srm_sequential_test(counts, shares, concentration=c)
    assert r.statistic == pytest.approx(expected, rel=1e-12)
    assert r.p_value == pytest.approx(min(1.0, math.exp(-expected)))
    assert r.df == 1
    assert r.expected == (500.0, 500.0)
    # Mappings in any key order, three variants, and no units at all.
    assert srm_sequential_test({"b": 470, "a": 530}, {"a": 0.5, "b": 0.5}) == r
    assert srm_sequential_test([0, 0, 0], [0.2, 0.3, 0.5]).p_value == 1.0
    assert srm_sequential_test([200, 300, 500], [0.2, 0.3, 0.5]).p_value == 1.0


def test_bad_inputs() -> None:
    with pytest.raises(PolicyError):
        srm_sequential_test([1, -2], [0.5, 0.5])
    with pytest.raises(PolicyError):
        srm_sequential_test([1, 2, 3], [0.5, 0.5])
    with pytest.raises(PolicyError, match="same variants"):
        srm_sequential_test({"a": 1}, [0.5])
    with pytest.raises(ConfigError, match="concentration"):
        srm_sequential_test([1, 2], [0.5, 0.5], concentration=0.0)


def test_abtest_pauses_on_the_sequential_check() -> None:
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", clock=lambda: 0.0)
    ab.observe_summary("A", 5_060, {"y": 0.1})
    ab.observe_summary("B", 4_940, {"y": 0.1})
    # 50.6/49.4 over 10,000 units: chi-square p ~0.23, sequential p = 1; no pause.
    assert ab.evaluate().action != "pause"
    ab.observe_summary("A", 52_000, {"y": 0.1})
    ab.observe_summary("B", 48_000, {"y": 0.1})
    d = ab.evaluate()
    assert d.action == "pause"
    assert d.evidence["srm_p_value"] < 1e-10
