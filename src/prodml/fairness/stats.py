"""Intervals and tests for per-group rates and the gaps between groups.

Every function takes counts (``k`` hits out of ``n``) as scalars or numpy arrays and
works elementwise, so a report of many groups and metrics is a handful of array
operations. Levels are two-sided: ``alpha=0.05`` gives 95 % intervals.

* :func:`wilson_interval`: the Wilson score interval of one proportion. Unlike the
  normal ("Wald") interval it stays inside [0, 1] and keeps its coverage near nominal
  for small groups and rates near 0 or 1 (Brown, Cai & DasGupta, 2001).
* :func:`newcombe_interval`: Newcombe's hybrid score interval of the difference of two
  independent proportions (method 10 of Newcombe, 1998), built from the two Wilson
  intervals.
* :func:`ratio_interval`: the MOVER-R interval of the ratio of two proportions (Donner &
  Zou, 2012), built from the same Wilson intervals.
* :func:`two_proportion_test`: the pooled two-proportion z test (the score test; the
  same p-value as a 2 x 2 chi-square test without continuity correction).
* :func:`adjust_pvalues`: Holm's step-down or Bonferroni's correction.
* :func:`auc_and_variance`: ROC AUC from score histograms, with DeLong's variance.
* :func:`sequence_halfwidth`: the half-width of a normal-mixture confidence sequence,
  valid however often it is looked at (used by rollout gates, evaluated continuously).

Examples
--------
>>> low, high = wilson_interval(45, 50)
>>> round(float(low), 4), round(float(high), 4)
(0.7864, 0.9565)
>>> low, high = newcombe_interval(45, 50, 30, 50)
>>> round(float(low), 4), round(float(high), 4)
(0.1319, 0.4493)
>>> round(float(two_proportion_test(45, 50, 30, 50)), 6)
0.000532
>>> adjust_pvalues([0.01, 0.04, 0.03], "holm").tolist()
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = [
    "CORRECTIONS",
    "adjust_pvalues",
    "auc_and_variance",
    "newcombe_interval",
    "normal_p_value",
    "ratio_interval",
    "sequence_halfwidth",
    "two_proportion_test",
    "wilson_interval",
    "z_value",
]

FloatArray = npt.NDArray[np.float64]
Counts = npt.ArrayLike

#: Multiple-testing corrections :func:`adjust_pvalues` knows.
CORRECTIONS = ("bonferroni", "holm", "none")


def z_value(alpha: float) -> float:
    """The two-sided standard normal quantile ``z`` with ``P(|Z| > z) = alpha``.

    Examples
    --------
    >>> round(z_value(0.05), 6)
    1.959964
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(
            f"alpha must be in (0, 1). Got {short_repr(alpha)} instead.", parameter="alpha"
        )
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def _arrays(k: Counts, n: Counts) -> tuple[FloatArray, FloatArray]:
    return np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)


def wilson_interval(k: Counts, n: Counts, alpha: float = 0.05) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval of the proportion ``k / n`` at level ``1 - alpha``.

    Returns ``(lower, upper)``; both are ``nan`` where ``n == 0``.
    """
    kf, nf = _arrays(k, n)
    z = z_value(alpha)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        p = kf / nf
        denom = 1.0 + z2 / nf
        center = (p + z2 / (2.0 * nf)) / denom
        half = z * np.sqrt(p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)) / denom
        lower = np.where(kf <= 0, 0.0, np.maximum(center - half, 0.0))
        upper = np.where(kf >= nf, 1.0, np.minimum(center + half, 1.0))
    empty = nf <= 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def newcombe_interval(
    k1: Counts, n1: Counts, k2: Counts, n2: Counts, alpha: float = 0.05
) -> tuple[FloatArray, FloatArray]:
    """Newcombe's hybrid score interval of ``k1/n1 - k2/n2`` at level ``1 - alpha``.

    The two groups must be independent samples. ``nan`` where either ``n`` is 0.
    """
    k1f, n1f = _arrays(k1, n1)
    k2f, n2f = _arrays(k2, n2)
    l1, u1 = wilson_interval(k1f, n1f, alpha)
    l2, u2 = wilson_interval(k2f, n2f, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1f / n1f, k2f / n2f
    d = p1 - p2
    lower = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper


def ratio_interval(
    k1: Counts, n1: Counts, k2: Counts, n2: Counts, alpha: float = 0.05
) -> tuple[FloatArray, FloatArray]:
    """MOVER-R interval of the ratio ``(k1/n1) / (k2/n2)`` at level ``1 - alpha``.

    The upper limit is ``inf`` when ``k2`` is 0 (the ratio is unbounded); both limits are
    ``nan`` where either ``n`` is 0 or both proportions are 0.
    """
    k1f, n1f = _arrays(k1, n1)
    k2f, n2f = _arrays(k2, n2)
    l1, u1 = wilson_interval(k1f, n1f, alpha)
    l2, u2 = wilson_interval(k2f, n2f, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1f / n1f, k2f / n2f
        pp = p1 * p2
        low_disc = np.maximum(pp * pp - l1 * u2 * (2.0 * p1 - l1) * (2.0 * p2 - u2), 0.0)
        high_disc = np.maximum(pp * pp - u1 * l2 * (2.0 * p1 - u1) * (2.0 * p2 - l2), 0.0)
        lower = (pp - np.sqrt(low_disc)) / (u2 * (2.0 * p2 - u2))
        upper = (pp + np.sqrt(high_disc)) / (l2 * (2.0 * p2 - l2))
    upper = np.where(k2f <= 0, np.inf, upper)
    lower = np.where(k2f <= 0, np.where(k1f > 0, lower, 0.0), lower)
    undefined = (n1f <= 0) | (n2f <= 0) | ((k1f <= 0) & (k2f <= 0))
    return np.where(undefined, np.nan, lower), np.where(undefined, np.nan, upper)


def two_proportion_test(k1: Counts, n1: Counts, k2: Counts, n2: Counts) -> FloatArray:
    """Two-sided p-value of ``p1 == p2`` from the pooled two-proportion z test.

    1 where the pooled proportion is 0 or 1 (nothing to tell apart); ``nan`` where
    either ``n`` is 0.
    """
    k1f, n1f = _arrays(k1, n1)
    k2f, n2f = _arrays(k2, n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (k1f + k2f) / (n1f + n2f)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f))
        z = np.abs(k1f / n1f - k2f / n2f) / se
    p = _normal_sf2(z)
    p = np.where(se > 0, p, 1.0)
    return np.where((n1f <= 0) | (n2f <= 0), np.nan, p)


def normal_p_value(effect: Counts, variance: Counts) -> FloatArray:
    """Two-sided p-value of ``effect == 0`` for a normal estimate of ``variance``."""
    e = np.asarray(effect, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(e) / np.sqrt(v)
    return np.where(v > 0, _normal_sf2(z), np.where(e == 0, 1.0, 0.0))


def _normal_sf2(z: FloatArray) -> FloatArray:
    """``P(|Z| > z)`` for a standard normal ``Z``, elementwise."""
    from scipy import special  # noqa: PLC0415 - keeps importing prodml.fairness light

    return np.asarray(special.erfc(np.asarray(z, dtype=np.float64) / math.sqrt(2.0)))


def adjust_pvalues(pvalues: Counts, method: str = "holm") -> FloatArray:
    """P-values adjusted for testing them all at once (``nan`` entries are left out).

    Parameters
    ----------
    pvalues
        Raw p-values.
    method
        ``"holm"`` (step-down, controls the family-wise error rate, never less powerful
        than Bonferroni), ``"bonferroni"`` or ``"none"``.
    """
    if method not in CORRECTIONS:
        raise ConfigError(
            f"The 'correction' must be one of {list(CORRECTIONS)}. Got {short_repr(method)} "
            "instead.",
            parameter="correction",
        )
    p = np.asarray(pvalues, dtype=np.float64).copy()
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if method == "none" or m == 0:
        return p
    q = p[ok]
    if method == "bonferroni":
        p[ok] = np.minimum(q * m, 1.0)
        return p
    order = np.argsort(q, kind="mergesort")
    stepped = np.minimum(np.maximum.accumulate(q[order] * (m - np.arange(m))), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = stepped
    p[ok] = adjusted
    return p


def auc_and_variance(pos: Counts, neg: Counts) -> tuple[float, float]:
    """ROC AUC of binned scores and DeLong's variance of it.

    Parameters
    ----------
    pos, neg
        Counts of positive and negative records per score bin, bins in increasing score
        order. Records in the same bin are ties (counted as one half).

    Returns
    -------
    tuple of float
        ``(auc, variance)``; ``(nan, nan)`` unless both classes are present.

    Examples
    --------
    >>> auc, var = auc_and_variance([0, 1, 3], [2, 1, 0])
    >>> auc
    0.9583333333333334
    """
    p = np.asarray(pos, dtype=np.float64)
    q = np.asarray(neg, dtype=np.float64)
    n_pos, n_neg = float(p.sum()), float(q.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan, math.nan
    below = np.cumsum(q) - q
    above = n_pos - np.cumsum(p)
    v10 = (below + 0.5 * q) / n_neg  # per positive: share of negatives ranked below it
    v01 = (above + 0.5 * p) / n_pos  # per negative: share of positives ranked above it
    auc = float((p * v10).sum() / n_pos)
    s10 = float((p * (v10 - auc) ** 2).sum() / (n_pos - 1)) if n_pos > 1 else 0.0
    s01 = float((q * (v01 - auc) ** 2).sum() / (n_neg - 1)) if n_neg > 1 else 0.0
    return auc, s10 / n_pos + s01 / n_neg


def sequence_halfwidth(variance: Counts, tau2: Counts, alpha: float) -> FloatArray:
    """Half-width of the normal-mixture confidence sequence of an estimate.

    The interval ``estimate +- halfwidth`` covers the true value at every sample size at
    once with probability ``1 - alpha`` (Robbins' normal mixture; Howard et al., 2021),
    so it may be checked after every new record.

    Parameters
    ----------
    variance
        Variance of the estimate now (``sigma**2 / n`` for a mean).
    tau2
        Variance of the mixture: the sequence is tightest where ``variance`` is near it
        (``sigma**2 / n_tuning``).
    alpha
        Chance that the true value ever leaves the interval.

    Examples
    --------
    >>> round(float(sequence_halfwidth(1.0, 1.0, 0.05)), 4)
    3.6564
    """
    v = np.asarray(variance, dtype=np.float64)
    t = np.maximum(np.asarray(tau2, dtype=np.float64), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = t / v
        half = np.sqrt(v * (1.0 + r) / r * (2.0 * math.log(1.0 / alpha) + np.log1p(r)))
    return np.where(v > 0, half, 0.0)
