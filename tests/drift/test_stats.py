"""Cross-checks of prodml.drift.stats against scipy (1e-9) and hand-verified values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from prodml.drift import stats
from prodml.errors import DriftError

SIZES = [(5, 7), (300, 200), (9_999, 10_000), (10_001, 3_000), (40_000, 40_000), (25_000, 60_001)]


@pytest.mark.parametrize(("n1", "n2"), SIZES)
@pytest.mark.parametrize("ties", ["none", "both", "current"])
def test_ks_equals_scipy(n1: int, n2: int, ties: str) -> None:
    rng = np.random.default_rng(n1 + n2)
    a = np.sort(rng.normal(size=n1))
    b = np.sort(rng.normal(0.03, 1.1, size=n2))
    if ties == "both":
        a, b = np.round(a, 1), np.round(b, 1)
    elif ties == "current":
        b = np.round(b, 2) + 1e-9  # ties within b only: the fast path
    d, p = stats.ks_2samp(a, b)
    ref = sps.ks_2samp(a, b)
    assert d == float(ref.statistic)  # bit-identical
    assert p == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-300)


def test_ks_weighted_equals_expanded() -> None:
    rng = np.random.default_rng(1)
    va = np.unique(rng.integers(0, 50, 40).astype(float))
    vb = np.unique(rng.integers(5, 60, 40).astype(float))
    wa = rng.integers(100, 900, va.size)
    wb = rng.integers(100, 900, vb.size)
    d, p = stats.ks_2samp(va, vb, wa, wb)
    ref = sps.ks_2samp(np.repeat(va, wa), np.repeat(vb, wb))
    assert d == pytest.approx(float(ref.statistic), abs=1e-12)
    assert p == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-300)


def test_ks_rejects_empty() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        stats.ks_2samp(np.array([]), np.array([1.0]))


@pytest.mark.parametrize(("n1", "n2"), [(1000, 1000), (1200, 3001), (30_000, 20_000)])
def test_wasserstein_equals_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1)
    a = np.sort(rng.exponential(size=n1))
    b = np.sort(rng.exponential(1.2, size=n2))
    ours = stats.wasserstein(a, b)
    assert ours == pytest.approx(sps.wasserstein_distance(a, b), rel=1e-9)
    wa = np.ones(n1, np.int64)
    assert stats.wasserstein(a, b, wa, None) == pytest.approx(ours, rel=1e-9)


def test_cvm_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = np.sort(rng.normal(size=400)), np.sort(rng.normal(0.2, size=300))
    t, p = stats.cramervonmises_2samp(a, b)
    ref = sps.cramervonmises_2samp(a, b)
    assert (t, p) == (pytest.approx(ref.statistic, rel=1e-9), pytest.approx(ref.pvalue, rel=1e-9))
    with pytest.raises(ValueError, match="at least two"):
        stats.cramervonmises_2samp(a[:1], b)


@pytest.mark.parametrize("k", [2, 3, 50])
def test_chi2_equals_scipy_contingency(k: int) -> None:
    rng = np.random.default_rng(k)
    rc = rng.integers(0, 400, k)
    cc = rng.integers(1, 400, k)
    rc[0] = 0  # a category seen only in current
    stat, p, dof = stats.chi2_homogeneity(rc, cc)
    ref = sps.chi2_contingency(np.vstack([rc, cc]), correction=False)
    assert stat == pytest.approx(ref.statistic, rel=1e-9)
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert dof == ref.dof


def test_chi2_drops_empty_categories_and_single_category() -> None:
    s1 = stats.chi2_homogeneity(np.array([10, 0, 5]), np.array([8, 0, 9]))
    s2 = stats.chi2_homogeneity(np.array([10, 5]), np.array([8, 9]))
    assert s1 == s2
    assert stats.chi2_homogeneity(np.array([10, 0]), np.array([4, 0])) == (0.0, 1.0, 0)


def test_distances_hand_values() -> None:
    # PSI: (0.6-0.5) ln(1.2) + (0.4-0.5) ln(0.8)
    assert stats.psi([50, 50], [60, 40]) == pytest.approx(0.1 * np.log(1.2) - 0.1 * np.log(0.8))
    assert stats.psi([1, 0], [1, 0]) == 0.0
    assert stats.jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    assert stats.hellinger([1, 0], [0, 1]) == pytest.approx(1.0)
    assert stats.hellinger([0.5, 0.5], [0.5, 0.5]) == 0.0
    p, q = [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    assert stats.jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2), rel=1e-12)
    bc = sum(np.sqrt(np.multiply(p, q)))
    assert stats.hellinger(p, q) == pytest.approx(np.sqrt(1 - bc), rel=1e-12)


@pytest.mark.parametrize("bad", [[], [-1, 2], [0, 0], [[1, 2]], [np.nan, 1]])
def test_distances_reject_bad_vectors(bad: list[float]) -> None:
    with pytest.raises(DriftError, match=r"bins|counts|total|1-D"):
        stats.psi(bad, [1, 1])


@st.composite
def count_pairs(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    k = draw(st.integers(1, 12))
    vec = st.lists(st.integers(0, 1000), min_size=k, max_size=k).map(
        lambda c: [c[0] + 1, *c[1:]]  # at least one non-zero count
    )
    return draw(vec), draw(vec)


@given(count_pairs())
def test_distances_are_non_negative_and_zero_on_equal(pair: tuple[list[int], list[int]]) -> None:
    p, q = pair
    for f in (stats.psi, stats.jensen_shannon, stats.hellinger):
        assert f(p, q) >= 0.0
        assert f(p, p) == pytest.approx(0.0, abs=1e-7)
    assert stats.jensen_shannon(p, q) <= 1.0 + 1e-12
    assert stats.hellinger(p, q) <= 1.0 + 1e-12


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_adjust_pvalues_properties(ps: list[float]) -> None:
    raw = np.array(ps)
    for method in ("holm", "bonferroni", "fdr_bh"):
        adj = stats.adjust_pvalues(raw, method)
        assert (adj >= raw - 1e-15).all()
        assert (adj <= 1.0).all()
    # Holm is never more conservative than Bonferroni; BH never more than Holm.
    assert (
        stats.adjust_pvalues(raw, "holm") <= stats.adjust_pvalues(raw, "bonferroni") + 1e-15
    ).all()
    assert (stats.adjust_pvalues(raw, "fdr_bh") <= stats.adjust_pvalues(raw, "holm") + 1e-15).all()


def test_adjust_pvalues_hand_values() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> cummax 0.02, 0.03, 0.06, 0.06
    assert stats.adjust_pvalues(p, "holm").tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.adjust_pvalues(p, "bonferroni").tolist() == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # BH: sorted p*m/rank = 0.02, 0.02, 0.04, 0.04 -> cummin from the top
    assert stats.adjust_pvalues(p, "fdr_bh").tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.adjust_pvalues(p, "none").tolist() == p
    assert stats.adjust_pvalues([], "holm").size == 0
    with pytest.raises(ValueError, match=r"method.*parameter of adjust_pvalues"):
        stats.adjust_pvalues(p, "sidak")


def test_adjust_pvalues_matches_statsmodels() -> None:
    multitest = pytest.importorskip(
        "statsmodels.stats.multitest", reason="needs statsmodels (the 'test' extra)"
    )
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 0.2, 25)
    for method in ("holm", "bonferroni", "fdr_bh"):
        expected = multitest.multipletests(p, alpha=0.05, method=method)[1]
        np.testing.assert_allclose(stats.adjust_pvalues(p, method), expected, rtol=1e-12)
