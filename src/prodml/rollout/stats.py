"""Statistics for experiments: SRM, fixed-horizon tests, always-valid intervals, sample sizes.

Every function works on summary statistics (counts, means, variances), so a service keeps
O(1) state per variant and the same functions serve streaming and batch analyses.

The always-valid interval is the normal-mixture confidence sequence (the mSPRT of
Johari et al., 2017, in the asymptotic form of Waudby-Smith et al., 2021): it holds at
every sample size simultaneously, so it may be checked after every observation without
inflating the false-positive rate, at the cost of being wider than a fixed-horizon interval.

The sequential SRM check (:func:`srm_sequential_test`) is of the same family for the
assignment counts: a Dirichlet-multinomial mixture likelihood ratio (Lindon & Malek,
2022), a nonnegative martingale under the intended split, so by Ville's inequality the
chance that it *ever* exceeds ``1 / alpha`` is at most ``alpha``: a service may check it
on every evaluation.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import optimize, special

from prodml._params import Interval, OneOf, check_params
from prodml.errors import PolicyError

__all__ = [
    "Alternative",
    "SRMResult",
    "TestResult",
    "always_valid_halfwidth",
    "mde_means",
    "mde_proportions",
    "means_ttest",
    "msprt_p_value",
    "proportions_ztest",
    "sample_size_means",
    "sample_size_proportions",
    "srm_sequential_test",
    "srm_test",
]

Alternative = Literal["two-sided", "larger", "smaller"]
_ALTERNATIVES = OneOf(("two-sided", "larger", "smaller"))
_PROB = [Interval(float, 0, 1, "neither")]


@dataclass(frozen=True)
class SRMResult:
    """Outcome of a sample-ratio-mismatch check.

    Attributes
    ----------
    statistic, p_value, df
        The statistic (Pearson chi-square for :func:`srm_test`, the log Bayes factor for
        :func:`srm_sequential_test`), its p-value and the degrees of freedom.
    mismatch
        ``True`` when the test rejects the intended split at its ``alpha``: the split is
        broken and results are not trustworthy.
    observed, expected
        Counts per variant, in the order given.
    """

    statistic: float
    p_value: float
    df: int
    mismatch: bool
    observed: tuple[int, ...]
    expected: tuple[float, ...]


@dataclass(frozen=True)
class TestResult:
    """Outcome of a two-sample test of B against A (effect = B - A).

    Attributes
    ----------
    statistic, p_value
        Test statistic (z or t) and p-value for the chosen alternative.
    effect
        Estimated difference ``B - A``.
    ci_low, ci_high
        Two-sided ``1 - alpha`` confidence interval of the difference.
    """

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float
    effect: float
    ci_low: float
    ci_high: float


def _z(p: float) -> float:
    return float(special.ndtri(p))


def _p_value(stat: float, alternative: str, sf: float, cdf: float) -> float:
    if alternative == "larger":
        return sf
    if alternative == "smaller":
        return cdf
    return min(1.0, 2.0 * min(sf, cdf)) if not math.isnan(stat) else math.nan


def srm_test(
    observed: Sequence[int] | Mapping[str, int],
    weights: Sequence[float] | Mapping[str, float],
    *,
    alpha: float = 0.001,
) -> SRMResult:
    """Check whether observed assignment counts match the intended split (chi-square).

    Parameters
    ----------
    observed
        Count of units assigned to each variant (a sequence, or a mapping keyed by variant).
    weights
        Intended share of each variant, in the same order (or the same keys).
    alpha
        Significance level; 0.001 is the usual choice, as SRM checks run continuously.

    Returns
    -------
    SRMResult

    Raises
    ------
    PolicyError
        When the counts and weights do not line up or a count is negative.

    Examples
    --------
    >>> r = srm_test([52_000, 48_000], [0.5, 0.5])
    >>> r.mismatch, round(r.statistic, 1)
    (True, 160.0)
    """
    check_params("srm_test", {"alpha": alpha}, {"alpha": _PROB})
    counts, shares = _srm_inputs("srm_test", observed, weights)
    n = sum(counts)
    total = sum(shares)
    expected = tuple(n * w / total for w in shares)
    if n == 0:
        return SRMResult(0.0, 1.0, len(counts) - 1, False, tuple(counts), expected)
    stat = sum((c - e) ** 2 / e for c, e in zip(counts, expected, strict=True))
    df = len(counts) - 1
    p = float(special.chdtrc(df, stat))
    return SRMResult(float(stat), p, df, p < alpha, tuple(int(c) for c in counts), expected)


def _is_count(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Integral)


def _srm_inputs(
    owner: str,
    observed: Sequence[int] | Mapping[str, int],
    weights: Sequence[float] | Mapping[str, float],
) -> tuple[list[int], list[float]]:
    """Counts and intended shares in one order, checked."""
    if isinstance(observed, Mapping) and (
        not isinstance(weights, Mapping) or set(weights) != set(observed)
    ):
        raise PolicyError(f"{owner}: observed counts and weights must name the same variants.")
    try:
        raw: list[object]
        if isinstance(observed, Mapping) and isinstance(weights, Mapping):
            keys = list(weights)
            raw = [observed[k] for k in keys]
            shares = [float(weights[k]) for k in keys]
        else:
            raw = list(observed)  # a Mapping here was refused above
            given = weights.values() if isinstance(weights, Mapping) else weights
            shares = [float(w) for w in given]
    except (TypeError, ValueError) as err:
        raise PolicyError(f"{owner}: counts and weights must be sequences of numbers.") from err
    if len(raw) != len(shares) or len(raw) < 2:
        raise PolicyError(f"{owner} needs at least two variants with one weight per count.")
    counts = [int(c) for c in raw if _is_count(c)]  # type: ignore[call-overload]
    if (
        len(counts) != len(raw)
        or min(counts) < 0
        or not all(math.isfinite(w) and w > 0 for w in shares)
    ):
        raise PolicyError(f"{owner}: counts must be ints >= 0 and weights finite and > 0.")
    return counts, shares


def srm_sequential_test(
    observed: Sequence[int] | Mapping[str, int],
    weights: Sequence[float] | Mapping[str, float],
    *,
    alpha: float = 0.001,
    concentration: float = 1000.0,
) -> SRMResult:
    """Always-valid sample-ratio-mismatch check: safe to run on every evaluation.

    The statistic is the log of the Bayes factor of a Dirichlet-multinomial mixture
    (prior ``Dirichlet(concentration * p)`` centred on the intended shares ``p``)
    against the multinomial with shares ``p``:

    ``log BF = lnG(c) - lnG(c + N) + sum_i [lnG(c p_i + n_i) - lnG(c p_i) - n_i ln p_i]``

    Under the intended split the Bayes factor is a nonnegative martingale with mean 1 in
    the stream of assignments, so ``P(BF ever >= 1 / alpha) <= alpha`` (Ville's
    inequality): looking after every unit keeps the false alarm rate at most ``alpha``,
    where a chi-square test checked repeatedly raises it far above. The p-value is
    ``min(1, 1 / BF)``, valid at any stopping time.

    Parameters
    ----------
    observed
        Count of units assigned to each variant (a sequence, or a mapping by variant).
    weights
        Intended share of each variant, in the same order (or the same keys).
    alpha
        False alarm rate over the whole experiment, however often it is checked.
    concentration
        Prior concentration ``c``: the prior sd of a share is about
        ``sqrt(p (1 - p) / c)``; the default (1000) is most powerful for mismatches of
        about 1.5 points on a 50/50 split, and detects a 52/48 split within about
        15,000 units at ``alpha=0.001``.

    Returns
    -------
    SRMResult
        ``statistic`` is ``log BF``, ``df`` the number of variants minus one.

    Raises
    ------
    PolicyError
        When the counts and weights do not line up or a count is negative.
    ConfigError
        For ``alpha`` outside (0, 1) or a concentration that is not positive.

    Examples
    --------
    >>> r = srm_sequential_test([52_000, 48_000], [0.5, 0.5])
    >>> r.mismatch, r.p_value < 1e-20
    (True, True)
    >>> srm_sequential_test([5_010, 4_990], [0.5, 0.5]).mismatch
    False
    """
    check_params(
        "srm_sequential_test",
        {"alpha": alpha, "concentration": concentration},
        {"alpha": _PROB, "concentration": [Interval(float, 0, 1e12, "neither")]},
    )
    counts, shares = _srm_inputs("srm_sequential_test", observed, weights)
    total_share = sum(shares)
    p = [w / total_share for w in shares]
    n = sum(counts)
    expected = tuple(n * q for q in p)
    c = float(concentration)
    log_bf = special.gammaln(c) - special.gammaln(c + n)
    for ni, pi in zip(counts, p, strict=True):
        a = c * pi
        log_bf += special.gammaln(a + ni) - special.gammaln(a) - ni * math.log(pi)
    log_bf = float(log_bf)
    p_value = 1.0 if log_bf <= 0 else math.exp(-log_bf)
    mismatch = log_bf >= -math.log(alpha)
    return SRMResult(log_bf, p_value, len(counts) - 1, mismatch, tuple(counts), expected)


def proportions_ztest(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> TestResult:
    """Two-proportion z-test of B against A (pooled variance for the test, Wald CI).

    Examples
    --------
    >>> r = proportions_ztest(500, 10_000, 580, 10_000)
    >>> round(r.statistic, 3), round(r.p_value, 4)
    (2.503, 0.0123)
    """
    check_params(
        "proportions_ztest",
        {"alternative": alternative, "alpha": alpha},
        {"alternative": [_ALTERNATIVES], "alpha": _PROB},
    )
    for name, x, n in (("a", successes_a, n_a), ("b", successes_b, n_b)):
        if n <= 0 or not 0 <= x <= n:
            raise PolicyError(
                f"proportions_ztest: group {name} needs 0 <= successes <= n and n > 0."
            )
    pa, pb = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    effect = pb - pa
    stat = effect / se0 if se0 > 0 else (0.0 if effect == 0 else math.copysign(math.inf, effect))
    p = _p_value(stat, alternative, float(special.ndtr(-stat)), float(special.ndtr(stat)))
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    z = _z(1 - alpha / 2)
    return TestResult(stat, p, effect, effect - z * se, effect + z * se)


def means_ttest(  # noqa: PLR0917 - same order as scipy.stats.ttest_ind_from_stats
    mean_a: float,
    std_a: float,
    n_a: int,
    mean_b: float,
    std_b: float,
    n_b: int,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> TestResult:
    """Welch's t-test of B against A from summary statistics.

    Parameters
    ----------
    mean_a, std_a, n_a
        Mean, sample standard deviation (ddof=1) and size of group A.
    mean_b, std_b, n_b
        The same for group B.
    alternative
        ``"larger"`` tests B > A, ``"smaller"`` B < A.
    alpha
        Level of the confidence interval of ``B - A``.

    Returns
    -------
    TestResult

    Raises
    ------
    PolicyError
        When a group has fewer than 2 samples or a standard deviation is negative or
        not finite.

    Notes
    -----
    With both standard deviations 0 the difference is known exactly: the statistic is
    0 (equal means: p = 1 two-sided, 0.5 one-sided) or +-inf (p = 0, or 1 for the
    alternative pointing away from the difference), where scipy answers nan for 0/0.

    Examples
    --------
    >>> r = means_ttest(10.0, 2.0, 200, 10.5, 2.0, 200)
    >>> round(r.statistic, 3), round(r.p_value, 4)
    (2.5, 0.0128)
    """
    check_params(
        "means_ttest",
        {"alternative": alternative, "alpha": alpha},
        {"alternative": [_ALTERNATIVES], "alpha": _PROB},
    )
    values = (mean_a, std_a, mean_b, std_b)
    if n_a < 2 or n_b < 2 or not all(math.isfinite(v) for v in values) or min(std_a, std_b) < 0:
        raise PolicyError(
            "means_ttest needs n >= 2, finite means and finite standard deviations >= 0 "
            f"in both groups. Got n=({n_a}, {n_b}), std=({std_a}, {std_b})."
        )
    va, vb = std_a**2 / n_a, std_b**2 / n_b
    se = math.sqrt(va + vb)
    effect = mean_b - mean_a
    if se == 0:
        # No spread: the difference is known exactly. z = 0 or +-inf, read as the
        # proportions test reads it (so "smaller" on a certainly larger B has p = 1).
        stat = 0.0 if effect == 0 else math.copysign(math.inf, effect)
        p = _p_value(stat, alternative, float(special.ndtr(-stat)), float(special.ndtr(stat)))
        return TestResult(stat, p, effect, effect, effect)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    stat = effect / se
    p = _p_value(stat, alternative, float(special.stdtr(df, -stat)), float(special.stdtr(df, stat)))
    t = float(special.stdtrit(df, 1 - alpha / 2))
    return TestResult(stat, p, effect, effect - t * se, effect + t * se)


def always_valid_halfwidth(variance: float, ratio: float, alpha: float) -> float:
    """Half-width of the normal-mixture confidence sequence.

    Parameters
    ----------
    variance
        Variance of the estimate (for a mean, ``sigma**2 / n``).
    ratio
        ``n / n_tuning``: the mixture is tuned so the sequence is tightest near
        ``n_tuning`` samples; any positive value gives a valid sequence.
    alpha
        Probability that the true value ever leaves the interval, over all sample sizes.

    Examples
    --------
    >>> round(always_valid_halfwidth(1.0, 1.0, 0.05), 4)
    3.6564
    """
    if variance <= 0:
        return 0.0
    r = max(ratio, 1e-12)
    return math.sqrt(variance * (1 + r) / r * (2 * math.log(1 / alpha) + math.log1p(r)))


def msprt_p_value(effect: float, variance: float, tau2: float) -> float:
    """Always-valid p-value of ``effect == 0`` at one look (normal-mixture mSPRT).

    The mixture likelihood ratio is
    ``sqrt(V / (V + tau2)) * exp(tau2 * effect**2 / (2 V (V + tau2)))`` with ``V`` the
    variance of the estimate; the p-value at one look is ``min(1, 1 / ratio)``. The
    running minimum over looks is the sequential p-value: rejecting when it drops below
    ``alpha`` keeps the false-positive rate <= ``alpha`` however often one looks.

    Parameters
    ----------
    effect
        Estimated difference.
    variance
        Variance of that estimate (``sigma_a**2 / n_a + sigma_b**2 / n_b``).
    tau2
        Variance of the normal mixture over effects; ``sigma**2 / n_tuning`` makes the
        test most powerful near ``n_tuning`` samples.

    Examples
    --------
    >>> round(msprt_p_value(0.0, 1.0, 1.0), 4)
    1.0
    >>> round(msprt_p_value(3.0, 0.25, 0.25), 6)
    0.000175
    """
    if variance <= 0:
        return 1.0 if effect == 0 else 0.0
    v, t = variance, max(tau2, 1e-300)
    log_ratio = 0.5 * math.log(v / (v + t)) + t * effect * effect / (2 * v * (v + t))
    return 1.0 if log_ratio <= 0 else math.exp(-log_ratio)


def _z_sum(alpha: float, power: float, alternative: str) -> float:
    a = alpha / 2 if alternative == "two-sided" else alpha
    return _z(1 - a) + _z(power)


def _check_design(owner: str, alpha: float, power: float, ratio: float, alternative: str) -> None:
    check_params(
        owner,
        {"alpha": alpha, "power": power, "ratio": ratio, "alternative": alternative},
        {
            "alpha": _PROB,
            "power": _PROB,
            "ratio": [Interval(float, 0, None, "neither")],
            "alternative": [_ALTERNATIVES],
        },
    )


def sample_size_means(
    std: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> tuple[int, int]:
    """Sample sizes ``(n_a, n_b = ratio * n_a)`` to detect a mean difference of ``mde``.

    Examples
    --------
    >>> sample_size_means(std=1.0, mde=0.1)
    (1570, 1570)
    """
    _check_design("sample_size_means", alpha, power, ratio, alternative)
    check_params(
        "sample_size_means",
        {"std": std, "mde": mde},
        {
            "std": [Interval(float, 0, None, "neither")],
            "mde": [Interval(float, 0, None, "neither")],
        },
    )
    n_a = math.ceil((_z_sum(alpha, power, alternative) * std / mde) ** 2 * (1 + 1 / ratio))
    return n_a, math.ceil(ratio * n_a)


def mde_means(
    std: float,
    n_a: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> float:
    """Smallest mean difference detectable with ``n_a`` (and ``ratio * n_a``) samples.

    Examples
    --------
    >>> round(mde_means(std=1.0, n_a=1570), 4)
    0.1
    """
    _check_design("mde_means", alpha, power, ratio, alternative)
    check_params("mde_means", {"n_a": n_a}, {"n_a": [Interval(float, 0, None, "neither")]})
    return _z_sum(alpha, power, alternative) * std * math.sqrt((1 + 1 / ratio) / n_a)


def _power_gap(p_a: float, p_b: float, n_a: float, ratio: float, z_alpha: float) -> float:
    n_b = ratio * n_a
    p_bar = (p_a + ratio * p_b) / (1 + ratio)
    se0 = math.sqrt(p_bar * (1 - p_bar) * (1 / n_a + 1 / n_b))
    se1 = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    return (abs(p_b - p_a) - z_alpha * se0) / se1


def sample_size_proportions(
    baseline_rate: float,
    mde: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> tuple[int, int]:
    """Sample sizes ``(n_a, n_b)`` for the two-proportion z-test to detect ``mde``.

    Parameters
    ----------
    baseline_rate
        Rate in group A, in (0, 1).
    mde
        Smallest difference worth detecting: absolute (``0.01`` = one point), or
        relative to ``baseline_rate`` when ``relative=True`` (``0.1`` = +10 %).
    relative, alpha, power, ratio, alternative
        Design of the test; ``ratio = n_b / n_a``.

    Returns
    -------
    tuple[int, int]
        ``(n_a, n_b)`` such that the pooled z-test reaches ``power``.

    Examples
    --------
    >>> sample_size_proportions(0.10, 0.02)
    (3841, 3841)
    """
    _check_design("sample_size_proportions", alpha, power, ratio, alternative)
    check_params(
        "sample_size_proportions",
        {"baseline_rate": baseline_rate, "mde": mde},
        {"baseline_rate": _PROB, "mde": [Interval(float, 0, None, "neither")]},
    )
    p_b = baseline_rate * (1 + mde) if relative else baseline_rate + mde
    if not 0 < p_b < 1:
        raise PolicyError(f"sample_size_proportions: the treatment rate {p_b!r} is outside (0, 1).")
    p_bar = (baseline_rate + ratio * p_b) / (1 + ratio)
    z_a = _z(1 - (alpha / 2 if alternative == "two-sided" else alpha))
    z_b = _z(power)
    num = z_a * math.sqrt(p_bar * (1 - p_bar) * (1 + 1 / ratio)) + z_b * math.sqrt(
        baseline_rate * (1 - baseline_rate) + p_b * (1 - p_b) / ratio
    )
    n_a = math.ceil((num / (p_b - baseline_rate)) ** 2)
    return n_a, math.ceil(ratio * n_a)


def mde_proportions(
    baseline_rate: float,
    n_a: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> float:
    """Smallest absolute increase over ``baseline_rate`` detectable with ``n_a`` samples.

    Examples
    --------
    >>> round(mde_proportions(0.10, 3841), 4)
    0.02
    """
    _check_design("mde_proportions", alpha, power, ratio, alternative)
    check_params(
        "mde_proportions",
        {"baseline_rate": baseline_rate, "n_a": n_a},
        {"baseline_rate": _PROB, "n_a": [Interval(float, 0, None, "neither")]},
    )
    z_a = _z(1 - (alpha / 2 if alternative == "two-sided" else alpha))
    z_b = _z(power)
    hi = 1 - baseline_rate - 1e-12
    if _power_gap(baseline_rate, baseline_rate + hi, n_a, ratio, z_a) < z_b:
        raise PolicyError(f"mde_proportions: {n_a} samples cannot reach power {power}.")
    return float(
        optimize.brentq(
            lambda d: _power_gap(baseline_rate, baseline_rate + d, n_a, ratio, z_a) - z_b,
            1e-12,
            hi,
            xtol=1e-12,
        )
    )
