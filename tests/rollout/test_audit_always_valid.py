"""Always-valid inference, checked by simulation (fixed seeds) and against scipy quadrature.

The confidence sequence of :func:`always_valid_halfwidth` must hold the true mean at every
sample size at once with probability >= 1 - alpha, and the mSPRT p-value's running
minimum must cross alpha with probability <= alpha under the null, however often one
looks. Both are checked on 4000 simulated streams of 2000 observations each.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from prodml.rollout.stats import always_valid_halfwidth, msprt_p_value

R, N = 4000, 2000


@pytest.fixture(scope="module")
def running_means() -> np.ndarray:
    rng = np.random.default_rng(20261205)
    x = rng.standard_normal((R, N))
    return np.cumsum(x, axis=1) / np.arange(1, N + 1)


def _upper(rate: float) -> float:
    """A 4-sigma upper bound on a rate estimated from R streams."""
    return rate + 4 * math.sqrt(rate * (1 - rate) / R)


@pytest.mark.parametrize("alpha", [0.05, 0.2])
@pytest.mark.parametrize("n_tuning", [10, 100, 1000])
def test_confidence_sequence_covers_at_all_sizes_at_once(
    running_means: np.ndarray, alpha: float, n_tuning: int
) -> None:
    n = np.arange(1, N + 1)
    hw = np.array([always_valid_halfwidth(1.0 / k, k / n_tuning, alpha) for k in n.tolist()])
    ever_missed = (np.abs(running_means) > hw).any(axis=1).mean()
    assert ever_missed <= _upper(alpha)
    # and it is not vacuous: it shrinks like sqrt(log n / n)
    assert hw[-1] < hw[0] / 10


@pytest.mark.parametrize("n_tuning", [10, 100, 1000])
def test_msprt_false_rejections_stay_below_alpha_under_continuous_peeking(
    running_means: np.ndarray, n_tuning: int
) -> None:
    alpha = 0.05
    n = np.arange(1, N + 1)
    tau2, variance = 1.0 / n_tuning, 1.0 / n
    stream = running_means[:1000]  # the scalar function, at every look of 1000 streams
    looks = variance.tolist()
    rejected = [
        any(msprt_p_value(e, v, tau2) <= alpha for e, v in zip(row, looks, strict=True))
        for row in stream.tolist()
    ]
    rate = float(np.mean(rejected))
    assert rate <= alpha + 4 * math.sqrt(alpha * (1 - alpha) / len(stream))


@pytest.mark.parametrize(
    ("effect", "variance", "tau2"),
    [(0.0, 1.0, 1.0), (0.3, 0.04, 0.01), (3.0, 0.25, 0.25), (-0.2, 0.01, 0.1), (1e-3, 1e-4, 1.0)],
)
def test_msprt_p_value_is_one_over_the_mixture_likelihood_ratio(
    effect: float, variance: float, tau2: float
) -> None:
    # Reference: integrate the normal likelihood over the N(0, tau2) mixture with scipy.
    sd, td = math.sqrt(variance), math.sqrt(tau2)

    def integrand(theta: float) -> float:
        return float(stats.norm.pdf(effect, theta, sd) * stats.norm.pdf(theta, 0.0, td))

    lo, hi = min(-8 * td, effect - 8 * sd), max(8 * td, effect + 8 * sd)
    mixture = integrate.quad(integrand, lo, hi, points=[0.0, effect], limit=200)[0]
    ratio = mixture / float(stats.norm.pdf(effect, 0.0, sd))
    assert msprt_p_value(effect, variance, tau2) == pytest.approx(min(1.0, 1.0 / ratio), rel=1e-7)
