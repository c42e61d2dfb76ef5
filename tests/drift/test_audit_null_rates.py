"""Independent checks of DriftDetector against scipy, and its false-positive rate.

End to end (a DataFrame in, a DriftResult out) on hypothesis inputs with the edges a
production table has: ties, one distinct value, nulls, whole-null columns, one row,
pandas 3 ``str`` columns and categoricals whose categories the reference never saw; and
seeded simulations of the rate at which it fires when nothing changed, at small n (exact
path) and at 10**6 rows (sketched path).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from prodml.drift import DriftDetector

small_floats = st.lists(
    st.one_of(st.none(), st.integers(-3, 3).map(float), st.floats(-1e6, 1e6)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(small_floats, small_floats)
def test_numeric_column_equals_scipy_on_its_non_null_values(a: list, b: list) -> None:
    ref = pd.DataFrame({"x": pd.Series(a, dtype="float64")})
    cur = pd.DataFrame({"x": pd.Series(b, dtype="float64")})
    r = DriftDetector().fit(ref).detect(cur)["x"]
    va, vb = ref["x"].dropna().to_numpy(), cur["x"].dropna().to_numpy()
    if va.size == 0 or vb.size == 0:
        assert not r.testable
        # Every value null on one side: drifted exactly when the null share test says so.
        assert r.drifted == (r.metrics.get("null_p_adjusted", 1.0) <= 0.05)
        return
    res = stats.ks_2samp(va, vb)
    assert r.statistic == res.statistic
    assert r.p_value == pytest.approx(res.pvalue, rel=1e-12, abs=1e-300)
    assert r.n_reference == va.size
    assert r.n_current == vb.size


categories = st.sampled_from(["a", "b", "c", "d", "é", ""])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), categories), min_size=1, max_size=40),
    st.lists(st.one_of(st.none(), categories), min_size=1, max_size=40),
    st.sampled_from(["str", "category", "object"]),
)
def test_categorical_column_equals_chi2_contingency(a: list, b: list, dtype: str) -> None:
    ref = pd.DataFrame({"c": pd.Series(a, dtype=dtype)})
    cur = pd.DataFrame({"c": pd.Series(b, dtype=dtype)})
    if dtype == "category":  # categories the reference declares but never holds, too
        ref["c"] = ref["c"].cat.add_categories(["never"])
    r = DriftDetector().fit(ref).detect(cur)["c"]
    ra, cb = ref["c"].dropna(), cur["c"].dropna()
    if ra.empty or cb.empty:
        assert not r.testable
        return
    cats = sorted({*map(str, ra), *map(str, cb)})
    table = np.array(
        [
            [int((ra.astype(str) == c).sum()) for c in cats],
            [int((cb.astype(str) == c).sum()) for c in cats],
        ]
    )
    if len(cats) < 2:
        assert (r.statistic, r.p_value) == (0.0, 1.0)
        return
    stat, p, *_ = stats.chi2_contingency(table, correction=False)
    assert r.statistic == pytest.approx(stat, rel=1e-12, abs=1e-12)
    assert r.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    tv = 0.5 * np.abs(table[0] / table[0].sum() - table[1] / table[1].sum()).sum()
    assert r.effect == pytest.approx(tv, abs=1e-15)


@pytest.mark.parametrize("frame", ["numeric", "categorical"])
def test_a_column_turning_all_null_drifts_like_one_turning_mostly_null(frame: str) -> None:
    # 99% null drifted by the null-share rule; 100% null must not be quieter than that.
    n = 1000
    values = np.arange(float(n)) if frame == "numeric" else np.array(["a", "b"] * (n // 2))
    ref = pd.DataFrame({"x": values})
    mostly = pd.DataFrame({"x": pd.Series([values[0]] * 10 + [None] * (n - 10))})
    entirely = pd.DataFrame({"x": pd.Series([None] * n, dtype=values.dtype)})
    det = DriftDetector().fit(ref)
    r_mostly, r_all = det.detect(mostly)["x"], det.detect(entirely)["x"]
    assert r_mostly.drifted
    assert r_all.drifted
    assert not r_all.testable
    assert r_all.metrics["null_effect"] == 1.0
    assert r_all.note == (
        "every current value is null; null share 0.0% -> 100.0% (p_adjusted 0): drifted"
    )
    # Back the other way: a column that was always null now holds values.
    assert DriftDetector().fit(entirely).detect(ref)["x"].drifted
    # Null on both sides: nothing changed, not drifted, not in the corrected family.
    both = DriftDetector().fit(entirely).detect(entirely)["x"]
    assert not both.drifted
    assert "null_p_value" not in both.metrics


def _null_tables(rng: np.random.Generator, n: int, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    def one() -> pd.DataFrame:
        return pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(k)})

    return one(), one()


def test_false_positive_rate_at_small_n_is_at_most_alpha() -> None:
    # No drift, 5 columns, Holm at alpha 0.05 with no effect floor: the family-wise rate
    # of "some column drifted" is at most alpha (KS p-values are exact here).
    rng = np.random.default_rng(37)
    runs, fired = 300, 0
    for _ in range(runs):
        ref, cur = _null_tables(rng, 200, 5)
        fired += bool(DriftDetector(min_effect=0.0).fit(ref).detect(cur).drifted_columns)
    # 300 runs: mean <= 0.05 with a binomial sd of 0.0126; 3 sd above alpha is 0.088.
    assert fired / runs <= 0.088


def test_sketched_p_values_are_conservative_and_defaults_never_fire_at_a_million() -> None:
    # Past max_exact both sides are sketched: D_sketch <= D_exact, so with the same sizes
    # the p-value is at least scipy's (the test is conservative, never anti-conservative),
    # and the exact statistic is within the reported error bound.
    rng = np.random.default_rng(3)
    for _ in range(3):
        a, b = rng.normal(size=1_000_000), rng.normal(size=1_000_000)
        report = DriftDetector(min_effect=0.0).fit(pd.DataFrame({"x": a}))
        r = report.detect(pd.DataFrame({"x": b}))["x"]
        exact = stats.ks_2samp(a, b)
        assert r.error_bound > 0  # really the sketched path
        assert r.statistic <= exact.statistic <= r.statistic + r.error_bound
        assert r.p_value >= exact.pvalue
        # The defaults' effect floor (0.02) is 20 times the null noise of D at this n.
        default = DriftDetector().fit(pd.DataFrame({"x": a})).detect(pd.DataFrame({"x": b}))
        assert default.drifted_columns == []


multitest = pytest.importorskip(
    "statsmodels.stats.multitest", reason="needs statsmodels (the 'test' extra)"
)

pvalues = st.lists(
    st.one_of(st.sampled_from([0.0, 1.0, 0.01, 0.05, 0.5]), st.floats(0, 1)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(pvalues, st.sampled_from(["holm", "bonferroni", "fdr_bh"]))
def test_adjusted_p_values_equal_multipletests_with_ties_and_ends(ps: list, method: str) -> None:
    from prodml.drift.stats import adjust_pvalues

    reject, expected, *_ = multitest.multipletests(ps, alpha=0.05, method=method)
    got = adjust_pvalues(ps, method)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert ((got <= 0.05) == reject).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["holm", "bonferroni", "fdr_bh"]))
def test_detector_corrects_values_and_null_shares_as_one_family(seed: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    n = 300

    def table(shift: float, null_share: float) -> pd.DataFrame:
        cols = {f"x{i}": rng.normal(shift * i / 4, size=n) for i in range(4)}
        cols["c"] = rng.choice(["a", "b", "c"], n)
        frame = pd.DataFrame(cols)
        frame.loc[rng.random(n) < null_share, "x1"] = np.nan
        return frame

    ref, cur = table(0.0, 0.05), table(rng.uniform(0, 0.5), rng.uniform(0, 0.3))
    report = DriftDetector(correction=method, min_effect=0.0).fit(ref).detect(cur)
    raw = [r.p_value for r in report.results]
    null_raw = [r.metrics["null_p_value"] for r in report.results if "null_p_value" in r.metrics]
    assert len(null_raw) == 1  # only x1 has nulls
    expected = multitest.multipletests(raw + null_raw, method=method)[1]
    got = [r.p_adjusted for r in report.results] + [report["x1"].metrics["null_p_adjusted"]]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 4)), min_size=1, max_size=15),
    st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 4)), min_size=1, max_size=15),
)
def test_weighted_statistics_equal_scipy_on_the_expanded_samples(a: list, b: list) -> None:
    from prodml.drift.stats import ks_2samp, wasserstein

    va, wa = np.array(sorted(dict(a).items()), dtype=np.float64).T.reshape(2, -1)
    vb, wb = np.array(sorted(dict(b).items()), dtype=np.float64).T.reshape(2, -1)
    if wa.sum() == 0 or wb.sum() == 0:
        return
    xa, xb = np.repeat(va, wa.astype(int)), np.repeat(vb, wb.astype(int))
    d, p = ks_2samp(va, vb, wa, wb)
    res = stats.ks_2samp(xa, xb)
    assert d == res.statistic
    assert p == pytest.approx(res.pvalue, rel=1e-12)
    w1 = wasserstein(va, vb, wa, wb)
    assert w1 == pytest.approx(stats.wasserstein_distance(va, vb, wa, wb), rel=1e-12, abs=1e-12)


counts = st.lists(st.integers(0, 50), min_size=2, max_size=12)


@settings(max_examples=150, deadline=None)
@given(counts, counts)
def test_binned_distances_equal_their_definitions(p: list, q: list) -> None:
    from scipy.spatial.distance import jensenshannon as scipy_js

    from prodml.drift.stats import hellinger, jensen_shannon, psi

    k = min(len(p), len(q))
    pc, qc = np.array(p[:k], dtype=float), np.array(q[:k], dtype=float)
    if pc.sum() == 0 or qc.sum() == 0:
        return
    pp, qq = pc / pc.sum(), qc / qc.sum()
    assert jensen_shannon(pc, qc) == pytest.approx(scipy_js(pp, qq, base=2), abs=1e-7)
    assert hellinger(pc, qc) == pytest.approx(
        np.sqrt(0.5 * np.sum((np.sqrt(pp) - np.sqrt(qq)) ** 2)), abs=1e-12
    )
    e, a = np.maximum(pp, 1e-4), np.maximum(qq, 1e-4)
    assert psi(pc, qc) == pytest.approx(np.sum((a - e) * np.log(a / e)), rel=1e-9, abs=1e-12)
