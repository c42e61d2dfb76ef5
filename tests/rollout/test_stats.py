from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from prodml.errors import ConfigError, PolicyError
from prodml.rollout.stats import (
    always_valid_halfwidth,
    mde_means,
    mde_proportions,
    means_ttest,
    msprt_p_value,
    proportions_ztest,
    sample_size_means,
    sample_size_proportions,
    srm_test,
)


def _statsmodels_power() -> Any:
    return pytest.importorskip(
        "statsmodels.stats.power", reason="needs statsmodels (the 'test' extra)"
    )


def test_srm_flags_52_48_at_100k() -> None:
    r = srm_test([52_000, 48_000], [0.5, 0.5])
    assert r.mismatch
    assert r.p_value < 1e-30
    assert srm_test({"a": 52_000, "b": 48_000}, {"b": 0.5, "a": 0.5}).mismatch


def test_srm_accepts_a_fair_split_and_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    counts = rng.multinomial(100_000, [0.2, 0.3, 0.5])
    r = srm_test(counts.tolist(), [0.2, 0.3, 0.5])
    ref = stats.chisquare(counts, np.array([0.2, 0.3, 0.5]) * 100_000)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.df == 2
    assert not r.mismatch
    assert not srm_test([0, 0], [0.5, 0.5]).mismatch


@pytest.mark.parametrize(
    ("observed", "weights"),
    [([1, 2, 3], [0.5, 0.5]), ([10], [1.0]), ([-1, 5], [0.5, 0.5]), ([1, 2], [0.0, 1.0])],
)
def test_srm_bad_input(observed: list[int], weights: list[float]) -> None:
    with pytest.raises(PolicyError):
        srm_test(observed, weights)
    with pytest.raises(PolicyError, match="same variants"):
        srm_test({"a": 1, "b": 2}, {"a": 0.5, "c": 0.5})


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_proportions_ztest_matches_statsmodels(alternative: str) -> None:
    sm_ztest = pytest.importorskip(
        "statsmodels.stats.proportion", reason="needs statsmodels (the 'test' extra)"
    ).proportions_ztest
    r = proportions_ztest(500, 10_000, 580, 10_000, alternative=alternative)  # type: ignore[arg-type]
    z, p = sm_ztest([580, 500], [10_000, 10_000], alternative=alternative)
    assert r.statistic == pytest.approx(z, rel=1e-9)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    assert r.effect == pytest.approx(0.008)
    assert r.ci_low < r.effect < r.ci_high


def test_proportions_ztest_bad_input() -> None:
    with pytest.raises(PolicyError, match="group a"):
        proportions_ztest(11, 10, 1, 10)
    with pytest.raises(PolicyError, match="group b"):
        proportions_ztest(1, 10, 1, 0)
    with pytest.raises(ConfigError, match="alternative"):
        proportions_ztest(1, 10, 1, 10, alternative="bigger")  # type: ignore[arg-type]


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_welch_matches_scipy(alternative: str) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 300), rng.normal(0.2, 1.7, 150)
    r = means_ttest(
        a.mean(),
        a.std(ddof=1),
        a.size,
        b.mean(),
        b.std(ddof=1),
        b.size,
        alternative=alternative,  # type: ignore[arg-type]
    )
    scipy_alt = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]
    ref = stats.ttest_ind(b, a, equal_var=False, alternative=scipy_alt)
    assert r.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, abs=1e-9)
    if alternative == "two-sided":
        ci = ref.confidence_interval(0.95)
        assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_welch_degenerate_and_bad_input() -> None:
    r = means_ttest(1.0, 0.0, 5, 1.0, 0.0, 5)
    assert (r.statistic, r.p_value) == (0.0, 1.0)
    assert means_ttest(1.0, 0.0, 5, 2.0, 0.0, 5).p_value == 0.0
    with pytest.raises(PolicyError, match="n >= 2"):
        means_ttest(1.0, 1.0, 1, 1.0, 1.0, 5)
    with pytest.raises(PolicyError, match="finite"):
        means_ttest(math.nan, 1.0, 5, 1.0, 1.0, 5)
    with pytest.raises(PolicyError):
        means_ttest(1.0, -1.0, 5, 1.0, 1.0, 5)


def test_sample_size_means_matches_statsmodels() -> None:
    smp = _statsmodels_power()
    n_a, n_b = sample_size_means(std=2.0, mde=0.5, power=0.9)
    ref = smp.NormalIndPower().solve_power(effect_size=0.25, alpha=0.05, power=0.9, ratio=1.0)
    assert n_a == math.ceil(ref)
    assert mde_means(std=2.0, n_a=ref, power=0.9) == pytest.approx(0.5, rel=1e-6)
    n_a, n_b = sample_size_means(std=1.0, mde=0.1, ratio=2.0, alternative="larger")
    ref = smp.NormalIndPower().solve_power(
        0.1, alpha=0.05, power=0.8, ratio=2.0, alternative="larger"
    )
    assert n_a == math.ceil(ref)
    assert n_b == math.ceil(2 * n_a)


def test_sample_size_proportions_textbook() -> None:
    # Fleiss (pooled-variance) formula: 3841 per group for 10% -> 12% at 5% / 80%.
    assert sample_size_proportions(0.10, 0.02) == (3841, 3841)
    assert sample_size_proportions(0.10, 0.2, relative=True) == (3841, 3841)
    # Cohen's h approximation (statsmodels) lands within 1 %.
    smp = _statsmodels_power()
    h = 2 * math.asin(math.sqrt(0.12)) - 2 * math.asin(math.sqrt(0.10))
    ref = smp.NormalIndPower().solve_power(h, alpha=0.05, power=0.8)
    assert abs(3841 - ref) / ref < 0.01
    assert mde_proportions(0.10, 3841) == pytest.approx(0.02, abs=1e-5)


def test_power_helpers_bad_input() -> None:
    with pytest.raises(ConfigError, match="'power' parameter"):
        sample_size_means(std=1.0, mde=0.1, power=1.5)
    with pytest.raises(ConfigError, match="'mde' parameter"):
        sample_size_means(std=1.0, mde=0.0)
    with pytest.raises(PolicyError, match="outside"):
        sample_size_proportions(0.95, 0.1)
    with pytest.raises(PolicyError, match="cannot reach power"):
        mde_proportions(0.5, 2, power=0.999)


def test_msprt_p_value_is_monotone_in_effect() -> None:
    ps = [msprt_p_value(e, 1.0, 1.0) for e in np.linspace(0, 6, 50)]
    assert all(a >= b for a, b in itertools.pairwise(ps))
    assert msprt_p_value(0.0, 0.0, 1.0) == 1.0
    assert msprt_p_value(1.0, 0.0, 1.0) == 0.0


def test_always_valid_interval_matches_p_value() -> None:
    # The interval half-width is exactly where the p-value crosses alpha.
    v, tau2, alpha = 0.04, 0.1, 0.05
    half = always_valid_halfwidth(v, tau2 / v, alpha)
    assert msprt_p_value(half, v, tau2) == pytest.approx(alpha, rel=1e-9)
    assert always_valid_halfwidth(0.0, 1.0, alpha) == 0.0


def test_sequential_false_positive_rate_under_continuous_peeking() -> None:
    # 2000 A/A experiments, 0/1 outcomes at 10 %, peeking after every 50 units per arm,
    # 200 looks each: the always-valid test rejects in <= alpha of them.
    rng = np.random.default_rng(12345)
    seeds, looks, batch, p, alpha = 2000, 200, 50, 0.10, 0.05
    a = rng.binomial(batch, p, size=(seeds, looks)).cumsum(axis=1)
    b = rng.binomial(batch, p, size=(seeds, looks)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1)
    pooled = (a + b) / (2 * n)
    var = np.maximum(pooled * (1 - pooled), 1e-12)
    v = 2 * var / n
    tau2 = 2 * var / 10_000
    effect = (b - a) / n
    log_lr = 0.5 * np.log(v / (v + tau2)) + tau2 * effect**2 / (2 * v * (v + tau2))
    rejected = (log_lr >= math.log(1 / alpha)).any(axis=1)
    rate = rejected.mean()
    assert rate <= alpha
    # The naive fixed-horizon z-test, peeked at the same looks, is far above alpha.
    z = effect / np.sqrt(v)
    naive = (np.abs(z) > stats.norm.ppf(1 - alpha / 2)).any(axis=1).mean()
    assert naive > 3 * alpha
    # Same decisions as the scalar function at one cell.
    i, j = 7, 123
    assert msprt_p_value(effect[i, j], v[i, j], tau2[i, j]) == pytest.approx(
        min(1.0, math.exp(-log_lr[i, j])), rel=1e-9
    )
