"""Gaps between groups: values as fairlearn computes them, intervals and tests (private).

For a metric with eligible groups ``E`` (enough records to say), every pair of groups is
tested (two-proportion z test; normal test for AUC) and gets an interval at the nominal
level (Newcombe for rates). The headline gap of :meth:`FairnessReport.difference` is
fairlearn's number (largest minus smallest value); its interval is that of the two
groups involved, at the Bonferroni level ``1 - alpha / m`` over the ``m`` pairs, so that
it still covers the two groups' true difference although they were chosen for differing
most.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from prodml.fairness import stats
from prodml.fairness._arrays import MetricArrays

__all__ = ["Gap", "PairTests", "between", "evidence", "pair", "pair_tests", "to_overall"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Gap:
    """One gap between groups for one metric: the value, its interval and its test.

    Attributes
    ----------
    metric
        The metric or fairness criterion asked for (``"tpr"``, ``"equalized_odds"``).
    kind
        ``"difference"`` or ``"ratio"``.
    method
        ``"between_groups"`` or ``"to_overall"``, as in fairlearn.
    value
        The gap as fairlearn computes it: largest minus smallest group value (or the
        smallest over the largest, for a ratio); ``nan`` with fewer than two groups that
        have enough records.
    lower, upper
        Confidence interval of the true gap between the two groups in ``groups``
        (for ``to_overall``: between the group and the whole population), at ``level``.
    level
        Confidence level of the interval: ``1 - alpha / m`` for the ``m`` comparisons
        the pair was picked from.
    groups
        The two groups the value compares (``"overall"`` for ``to_overall``).
    p_value, p_adjusted
        Two-sided p-value of "no gap" between those groups, raw and corrected across
        every pair of groups and every metric of the report.
    flagged
        Whether some pair of groups of this metric has a gap that is significant after
        correction *and* at least ``min_effect`` (for a criterion: some component).
    flagged_pairs
        Those pairs.
    component
        The metric the gap is computed on (for ``equalized_odds``: ``tpr`` or ``fpr``).
    status
        ``"ok"``; ``"too few to say"`` when fewer than two groups have enough records;
        ``"undefined"`` for a ratio whose denominator is 0 (every group's value is 0, so
        smallest over largest is 0/0; or, for ``to_overall``, the overall value is 0;
        or, for two chosen groups, the second one's value is 0). Its value, interval
        and p-values are then ``nan``: an undefined ratio is neither 0 nor 1 and takes
        no part in a criterion's worst case (for ``equalized_odds``, the other
        component is the worst; when all are undefined, so is the criterion).
    """

    metric: str
    kind: Literal["difference", "ratio"]
    method: str
    value: float
    lower: float
    upper: float
    level: float
    groups: tuple[str, str]
    p_value: float
    p_adjusted: float
    flagged: bool
    flagged_pairs: tuple[tuple[str, str], ...]
    component: str
    status: str

    def __float__(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields (``nan`` and infinities as ``None``)."""
        d = asdict(self)
        for k in ("value", "lower", "upper", "level", "p_value", "p_adjusted"):
            d[k] = _json_float(d[k])
        d["groups"] = list(self.groups)
        d["flagged_pairs"] = [list(p) for p in self.flagged_pairs]
        return d

    def __str__(self) -> str:
        if self.status != "ok":
            return f"{self.metric} {self.kind}: {self.status}"
        verdict = "flagged" if self.flagged else "not flagged"
        return (
            f"{self.metric} {self.kind} {self.value:.4g} "
            f"[{self.lower:.4g}, {self.upper:.4g}] ({self.level:.1%} interval) between "
            f"{self.groups[0]} and {self.groups[1]}; p={self.p_value:.3g}, adjusted "
            f"{self.p_adjusted:.3g}: {verdict}"
        )


def _json_float(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


@dataclass
class PairTests:
    """Every pair ``(i, j)``, ``i < j``, of eligible groups of one metric."""

    i: npt.NDArray[np.int64]
    j: npt.NDArray[np.int64]
    diff: FloatArray
    lower: FloatArray
    upper: FloatArray
    p: FloatArray
    p_adjusted: FloatArray | None = None


def pair_tests(m: MetricArrays, alpha: float) -> PairTests:
    """Value, nominal interval and p-value of ``v_i - v_j`` for every eligible pair."""
    idx = np.flatnonzero(m.ok)
    ii, jj = np.triu_indices(len(idx), k=1)
    i, j = idx[ii], idx[jj]
    diff = m.value[i] - m.value[j]
    if m.kind == "rate":
        lower, upper = stats.newcombe_interval(m.k[i], m.n[i], m.k[j], m.n[j], alpha)
        p = stats.two_proportion_test(m.k[i], m.n[i], m.k[j], m.n[j])
    else:
        var = m.variance[i] + m.variance[j]
        half = stats.z_value(alpha) * np.sqrt(var)
        lower, upper = diff - half, diff + half
        p = stats.normal_p_value(diff, var)
    return PairTests(i.astype(np.int64), j.astype(np.int64), diff, lower, upper, p)


def _pair_interval(m: MetricArrays, a: int, b: int, alpha: float, kind: str) -> tuple[float, float]:
    """Interval of ``v_a - v_b`` (difference) or ``v_a / v_b`` (ratio)."""
    if m.kind == "rate":
        f = stats.newcombe_interval if kind == "difference" else stats.ratio_interval
        lo, hi = f(m.k[a], m.n[a], m.k[b], m.n[b], alpha)
        return float(lo), float(hi)
    va, vb = m.value[a], m.value[b]
    z = stats.z_value(alpha)
    if kind == "difference":
        half = z * math.sqrt(m.variance[a] + m.variance[b])
        return float(va - vb - half), float(va - vb + half)
    if va <= 0 or vb <= 0:
        return math.nan, math.nan
    se = math.sqrt(m.variance[a] / va**2 + m.variance[b] / vb**2)
    r = va / vb
    return float(r * math.exp(-z * se)), float(r * math.exp(z * se))


def between(
    m: MetricArrays,
    kind: Literal["difference", "ratio"],
    tests: PairTests,
    alpha: float,
    labels: list[str],
) -> dict[str, Any]:
    """The between-groups gap: fairlearn's value, the pair, its Bonferroni interval."""
    idx = np.flatnonzero(m.ok)
    if len(idx) < 2:
        return _too_few(kind, "between_groups")
    values = m.value[idx]
    hi = int(idx[int(np.argmax(values))])
    lo = int(idx[int(np.argmin(values))])
    if hi == lo:
        lo = int(idx[1]) if hi == int(idx[0]) else int(idx[0])
    n_pairs = len(idx) * (len(idx) - 1) // 2
    level_alpha = alpha / n_pairs
    if kind == "difference":
        value = float(m.value[hi] - m.value[lo])
        lower, upper = _pair_interval(m, hi, lo, level_alpha, "difference")
        pair = (hi, lo)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(np.float64(m.value[lo]) / np.float64(m.value[hi]))
        if not m.value[hi] > 0:  # every eligible group's value is 0: 0/0
            return _undefined(kind, "between_groups")
        lower, upper = _pair_interval(m, lo, hi, level_alpha, "ratio")
        pair = (lo, hi)
    where = np.flatnonzero(
        ((tests.i == pair[0]) & (tests.j == pair[1]))
        | ((tests.i == pair[1]) & (tests.j == pair[0]))
    )
    p = float(tests.p[where[0]]) if len(where) else math.nan
    p_adj = float(tests.p_adjusted[where[0]]) if len(where) and tests.p_adjusted is not None else p
    return {
        "value": value,
        "lower": lower,
        "upper": upper,
        "level": 1.0 - level_alpha,
        "groups": (labels[pair[0]], labels[pair[1]]),
        "p_value": p,
        "p_adjusted": p_adj,
        "status": "ok",
    }


def pair(
    m: MetricArrays,
    kind: Literal["difference", "ratio"],
    tests: PairTests,
    groups: tuple[int, int],
    *,
    alpha: float,
    labels: list[str],
) -> dict[str, Any]:
    """The gap between two groups chosen beforehand, with its nominal-level interval."""
    a, b = groups
    where = np.flatnonzero(((tests.i == a) & (tests.j == b)) | ((tests.i == b) & (tests.j == a)))
    if not (m.ok[a] and m.ok[b]) or not len(where):
        return {**_too_few(kind, "pair"), "groups": (labels[a], labels[b])}
    if kind == "ratio" and not m.value[b] > 0:
        return {**_undefined(kind, "pair"), "groups": (labels[a], labels[b])}
    lower, upper = _pair_interval(m, a, b, alpha, kind)
    with np.errstate(divide="ignore", invalid="ignore"):
        va, vb = np.float64(m.value[a]), np.float64(m.value[b])
        value = float(va - vb) if kind == "difference" else float(va / vb)
    adjusted = tests.p if tests.p_adjusted is None else tests.p_adjusted
    return {
        "value": value,
        "lower": lower,
        "upper": upper,
        "level": 1.0 - alpha,
        "groups": (labels[a], labels[b]),
        "p_value": float(tests.p[where[0]]),
        "p_adjusted": float(adjusted[where[0]]),
        "status": "ok",
    }


def to_overall(
    m: MetricArrays, kind: Literal["difference", "ratio"], alpha: float, labels: list[str]
) -> dict[str, Any]:
    """The to-overall gap: the group farthest from the overall value (fairlearn's value).

    For a rate, a group's value minus the overall one is ``(1 - w)`` times its difference
    with the rest of the population (``w`` its share of the base), so the interval and
    the test are those of the group against the rest. AUC gets the value only.
    """
    idx = np.flatnonzero(m.ok)
    if len(idx) < 1 or not math.isfinite(m.overall_value):
        return _too_few(kind, "to_overall")
    overall = m.overall_value
    if kind == "ratio" and not overall > 0:  # every group's value is 0: 0/0
        return _undefined(kind, "to_overall")
    v = m.value[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "difference":
            gaps = np.abs(v - overall)
            pick = int(np.argmax(gaps))
        else:
            r = v / overall
            gaps = np.where(r > 1, 1.0 / r, r)
            pick = int(np.argmin(gaps))
    g = int(idx[pick])
    value = float(gaps[pick])
    level_alpha = alpha / len(idx)
    lower = upper = p = math.nan
    rest = _rest(m, g)
    if rest is not None:
        k_rest, n_rest, w = rest
        p = float(stats.two_proportion_test(m.k[g], m.n[g], k_rest, n_rest))
        if kind == "difference":
            lo, hi = stats.newcombe_interval(m.k[g], m.n[g], k_rest, n_rest, level_alpha)
            lower, upper = float((1 - w) * lo), float((1 - w) * hi)
            if m.value[g] < overall:
                lower, upper = -upper, -lower
        else:
            lo, hi = stats.ratio_interval(m.k[g], m.n[g], k_rest, n_rest, level_alpha)

            def to_r(rho: float) -> float:
                if math.isnan(rho):
                    return math.nan
                return rho / (w * rho + 1 - w) if math.isfinite(rho) else 1.0 / w

            lower, upper = to_r(float(lo)), to_r(float(hi))
            if m.value[g] > overall:
                lower, upper = 1.0 / upper, (1.0 / lower if lower > 0 else math.inf)
    return {
        "value": value,
        "lower": lower,
        "upper": upper,
        "level": 1.0 - level_alpha,
        "groups": (labels[g], "overall"),
        "p_value": p,
        "p_adjusted": p,
        "status": "ok",
    }


def _rest(m: MetricArrays, g: int) -> tuple[float, float, float] | None:
    """Effective hits and base of everyone outside group ``g``, and ``g``'s share.

    Weighted, the rest's effective base is Kish's from its own weight sums (effective
    counts do not add up across groups) and the share is ``g``'s share of the weight.
    """
    if m.kind != "rate":
        return None
    if m.w is None or m.w2 is None or m.wk is None:
        if not m.overall_n > m.n[g]:
            return None
        return m.overall_k - m.k[g], m.overall_n - m.n[g], float(m.n[g] / m.overall_n)
    w_rest = m.overall_w - float(m.w[g])
    q_rest = m.overall_w2 - float(m.w2[g])
    if not (w_rest > 0 and q_rest > 0):
        return None
    value_rest = min(max((m.overall_wk - float(m.wk[g])) / w_rest, 0.0), 1.0)
    n_rest = w_rest * w_rest / q_rest
    return value_rest * n_rest, n_rest, float(m.w[g]) / m.overall_w


def _too_few(kind: str, method: str, status: str = "too few to say") -> dict[str, Any]:
    return {
        "value": math.nan,
        "lower": math.nan,
        "upper": math.nan,
        "level": math.nan,
        "groups": ("", ""),
        "p_value": math.nan,
        "p_adjusted": math.nan,
        "status": status,
    }


def _undefined(kind: str, method: str) -> dict[str, Any]:
    """A ratio whose denominator is 0: no value, no interval (neither 0 nor 1)."""
    return _too_few(kind, method, "undefined")


def evidence(m: MetricArrays, tests: PairTests, alpha: float, family: int) -> tuple[float, float]:
    """What the data show for sure at family level ``alpha`` over ``family`` comparisons.

    Returns the largest lower bound of ``|v_i - v_j|`` over the pairs, and the smallest
    upper bound of the ratio (smaller over larger), both with Bonferroni-level intervals
    (``alpha / family``, the family being every pair of every metric of the report); 0
    and 1 when no pair shows a gap.
    """
    if len(tests.i) == 0:
        return math.nan, math.nan
    a = alpha / max(family, len(tests.i))
    if m.kind == "rate":
        lo, hi = stats.newcombe_interval(m.k[tests.i], m.n[tests.i], m.k[tests.j], m.n[tests.j], a)
    else:
        half = stats.z_value(a) * np.sqrt(m.variance[tests.i] + m.variance[tests.j])
        lo, hi = tests.diff - half, tests.diff + half
    low_abs = np.maximum(np.maximum(lo, -hi), 0.0)
    # Ratio upper bounds, smaller group value over larger.
    small = np.where(tests.diff <= 0, tests.i, tests.j)
    large = np.where(tests.diff <= 0, tests.j, tests.i)
    if m.kind == "rate":
        _, r_hi = stats.ratio_interval(m.k[small], m.n[small], m.k[large], m.n[large], a)
    else:
        r_hi = np.array(
            [
                _pair_interval(m, int(s), int(b), a, "ratio")[1]
                for s, b in zip(small, large, strict=True)
            ]
        )
    r_hi = np.where(np.isnan(r_hi), 1.0, np.minimum(r_hi, 1.0))
    return float(np.max(low_abs)), float(np.min(r_hi))
