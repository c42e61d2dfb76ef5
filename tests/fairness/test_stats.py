"""Intervals and tests: equal to statsmodels' and scikit-learn's, with nominal coverage."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError
from prodml.fairness import GroupMetrics, stats

sm = pytest.importorskip("statsmodels.stats.proportion", reason="statsmodels is a test reference")
multitest = pytest.importorskip("statsmodels.stats.multitest")

counts = st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=100, deadline=None)
@given(a=counts, b=counts, alpha=st.sampled_from([0.01, 0.05, 0.1]))
def test_intervals_and_test_equal_statsmodels(
    a: tuple[int, int], b: tuple[int, int], alpha: float
) -> None:
    lo, hi = stats.wilson_interval(a[0], a[1], alpha)
    ref = sm.proportion_confint(a[0], a[1], alpha=alpha, method="wilson")
    assert abs(lo - ref[0]) < 1e-12
    assert abs(hi - ref[1]) < 1e-12
    lo, hi = stats.newcombe_interval(a[0], a[1], b[0], b[1], alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.confint_proportions_2indep(a[0], a[1], b[0], b[1], method="newcomb", alpha=alpha)
    assert abs(lo - ref[0]) < 1e-12
    assert abs(hi - ref[1]) < 1e-12
    p = stats.two_proportion_test(a[0], a[1], b[0], b[1])
    pooled = (a[0] + b[0]) / (a[1] + b[1])
    if 0 < pooled < 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_p = sm.test_proportions_2indep(
                a[0], a[1], b[0], b[1], method="score", correction=False
            ).pvalue
        assert abs(p - ref_p) < 1e-10
    else:
        assert p == 1.0


def test_wilson_is_inside_unit_interval_and_nan_without_data() -> None:
    lo, hi = stats.wilson_interval([0, 5, 5, 0], [5, 5, 0, 0])
    assert lo[0] == 0.0
    assert hi[1] == 1.0
    assert np.isnan(lo[2])
    assert np.isnan(hi[3])
    with pytest.raises(ConfigError, match="alpha"):
        stats.wilson_interval(1, 2, alpha=0.0)


def brute_force_holm(p: list[float]) -> list[float]:
    """Holm's adjusted p-values straight from the definition (O(m^2))."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    rank = {i: r for r, i in enumerate(order)}
    return [
        min(1.0, max((m - rank[j]) * p[j] for j in range(m) if rank[j] <= rank[i]))
        for i in range(m)
    ]


@settings(max_examples=60, deadline=None)
@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_holm_and_bonferroni_follow_their_definitions(p: list[float]) -> None:
    np.testing.assert_allclose(stats.adjust_pvalues(p, "holm"), brute_force_holm(p), atol=1e-12)
    np.testing.assert_allclose(
        stats.adjust_pvalues(p, "bonferroni"), np.minimum(np.array(p) * len(p), 1.0), atol=1e-12
    )
    assert stats.adjust_pvalues(p, "none").tolist() == p


def test_adjusted_pvalues_equal_statsmodels() -> None:
    p = [0.001, 0.04, 0.03, 0.2, 0.011, 0.5]
    for method in ("holm", "bonferroni"):
        ref = multitest.multipletests(p, method=method)[1]
        np.testing.assert_allclose(stats.adjust_pvalues(p, method), ref, rtol=0, atol=1e-12)
    assert stats.adjust_pvalues([0.2, np.nan], "holm")[0] == 0.2  # nan is left out
    with pytest.raises(ConfigError, match="correction"):
        stats.adjust_pvalues(p, "fdr")


def test_auc_and_delong_variance_equal_a_direct_computation() -> None:
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    bins = 20
    y = rng.integers(0, 2, 400)
    s = (
        np.minimum(rng.normal(0.5 + 0.2 * y, 0.2).clip(0, 0.999) * bins, bins - 1).astype(int) + 0.5
    ) / bins
    pos = np.bincount((s[y == 1] * bins).astype(int), minlength=bins)
    neg = np.bincount((s[y == 0] * bins).astype(int), minlength=bins)
    auc, var = stats.auc_and_variance(pos, neg)
    assert abs(auc - skm.roc_auc_score(y, s)) < 1e-12
    # DeLong from the placement values of every record, computed pair by pair.
    xp, xn = s[y == 1], s[y == 0]
    psi = (xp[:, None] > xn[None, :]) + 0.5 * (xp[:, None] == xn[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    direct = v10.var(ddof=1) / len(xp) + v01.var(ddof=1) / len(xn)
    assert abs(var - direct) < 1e-12
    assert np.isnan(stats.auc_and_variance([1, 2], [0, 0])[0])


def test_interval_coverage_is_within_one_point_of_nominal() -> None:
    """1,000 simulated reports of 10 groups: every Wilson, Newcombe and MOVER-R interval."""
    rng = np.random.default_rng(20)
    sims, groups = 1000, 10
    for n_low, n_high in ((30, 200), (200, 5000)):
        n = rng.integers(n_low, n_high, groups)
        p = rng.uniform(0.05, 0.95, groups)
        k = rng.binomial(n, p, size=(sims, groups))
        lo, hi = stats.wilson_interval(k, n)
        assert abs(((lo <= p) & (p <= hi)).mean() - 0.95) <= 0.01
        i, j = np.triu_indices(groups, 1)
        lo, hi = stats.newcombe_interval(k[:, i], n[i], k[:, j], n[j])
        d = p[i] - p[j]
        assert abs(((lo <= d) & (d <= hi)).mean() - 0.95) <= 0.01
        lo, hi = stats.ratio_interval(k[:, i], n[i], k[:, j], n[j])
        r = p[i] / p[j]
        assert abs(((lo <= r) & (r <= hi)).mean() - 0.95) <= 0.01


def test_headline_gap_interval_covers_although_the_pair_was_picked() -> None:
    """The largest gap's pair is chosen by the data; its Bonferroni interval still covers."""
    rng = np.random.default_rng(7)
    sims, groups = 400, 6
    n = np.full(groups, 300)
    p = np.array([0.5, 0.5, 0.52, 0.55, 0.5, 0.48])
    covered = 0
    for _ in range(sims):
        y = np.ones(n.sum(), dtype=int)
        g = np.repeat(np.arange(groups), n)
        pred = (rng.random(n.sum()) < p[g]).astype(int)
        gap = GroupMetrics(["g"], ["tpr"]).update(y, pred, {"g": g}).report().difference("tpr")
        a, b = (int(s.split("=")[1]) for s in gap.groups)
        covered += gap.lower <= p[a] - p[b] <= gap.upper
    assert covered / sims >= 0.95


def test_gap_tests_keep_the_family_wise_error_rate_without_gaps() -> None:
    rng = np.random.default_rng(11)
    sims, flagged = 300, 0
    for _ in range(sims):
        n = 3000
        g = rng.integers(0, 6, n)
        y = rng.integers(0, 2, n)
        pred = (rng.random(n) < np.where(y == 1, 0.7, 0.2)).astype(int)
        r = (
            GroupMetrics(["g"], ["selection_rate", "tpr", "fpr"], min_effect=0.0)
            .update(y, pred, {"g": g})
            .report()
        )
        flagged += bool(r.flagged)
    assert flagged / sims <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / sims)


def test_effect_floor_keeps_a_tiny_gap_in_a_huge_sample_from_being_flagged() -> None:
    half = 500_000
    g = np.repeat(["F", "M"], half)
    y = np.ones(2 * half, dtype=int)
    # tpr 0.700 and 0.705: a 0.005 gap, certain at this size
    pred = np.r_[np.arange(half) < 0.700 * half, np.arange(half) < 0.705 * half].astype(int)
    r = GroupMetrics(["sex"], ["tpr"]).update(y, pred, {"sex": g}).report()
    gap = r.difference("tpr")
    assert gap.p_adjusted < 1e-6  # significant...
    assert not gap.flagged  # ...but under the 0.02 effect floor
    assert r.gaps()["flagged"].sum() == 0
    strict = GroupMetrics(["sex"], ["tpr"], min_effect=0.001).update(y, pred, {"sex": g})
    assert strict.report().difference("tpr").flagged


def test_small_groups_are_too_few_to_say_and_take_no_part_in_gaps() -> None:
    y = [1] * 205
    pred = [1] * 100 + [0] * 100 + [0] * 5
    sex = ["F"] * 100 + ["M"] * 100 + ["X"] * 5
    r = GroupMetrics(["sex"], ["tpr", "count"]).update(y, pred, {"sex": sex}).report()
    assert np.isnan(r.by_group.loc["X", "tpr"])
    assert r.status.loc["X", "tpr"] == "too few to say"
    assert r.by_group.loc["X", "count"] == 5
    assert np.isnan(r.by_group_ci[0].loc["X", "tpr"])
    gap = r.difference("tpr")
    assert set(gap.groups) == {"sex=F", "sex=M"}
    assert gap.value == 1.0
    assert "sex=X" not in set(r.gaps()["group_a"]) | set(r.gaps()["group_b"])
    alone = GroupMetrics(["sex"], ["tpr"]).update(y[:100], pred[:100], {"sex": sex[:100]})
    lonely = alone.report().difference("tpr")
    assert lonely.status == "too few to say"
    assert np.isnan(lonely.value)
    assert not lonely.flagged
