"""DriftDetector: verdicts on workload D1, scipy cross-checks, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats as sps

from prodml.drift import DriftDetector, DriftReport, Profile
from prodml.drift._workloads import D1_DRIFTED, make_d1
from prodml.errors import ConfigError, DriftError, NotFittedError, SchemaError


@pytest.fixture(scope="module")
def d1() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_d1(200_000, seed=0)


@pytest.fixture(scope="module")
def d1_report(d1: tuple[pd.DataFrame, pd.DataFrame]) -> DriftReport:
    ref, cur = d1
    return DriftDetector().fit(ref).detect(cur)


def test_d1_default_verdicts_are_exact(d1_report: DriftReport) -> None:
    assert d1_report.drifted_columns == D1_DRIFTED
    assert all(r.testable for r in d1_report.results)
    assert d1_report.drift_detected


@pytest.fixture(scope="module")
def d1_exact_report(d1: tuple[pd.DataFrame, pd.DataFrame]) -> DriftReport:
    ref, cur = d1
    return DriftDetector(max_exact=len(ref)).fit(ref).detect(cur)


def test_d1_statistics_equal_scipy(
    d1: tuple[pd.DataFrame, pd.DataFrame], d1_exact_report: DriftReport
) -> None:
    ref, cur = d1
    assert d1_exact_report.drifted_columns == D1_DRIFTED
    for name in ("num_0", "num_7"):
        res = sps.ks_2samp(ref[name], cur[name])
        got = d1_exact_report[name]
        assert got.error_bound == 0.0
        assert got.method == "ks"
        assert got.statistic == float(res.statistic)
        assert got.p_value == pytest.approx(float(res.pvalue), rel=1e-9, abs=1e-300)
        assert got.effect == got.statistic
        w = sps.wasserstein_distance(ref[name], cur[name]) / ref[name].std(ddof=0)
        assert got.metrics["wasserstein"] == pytest.approx(w, rel=1e-9)
    for name in ("cat_0", "cat_5"):
        table = pd.crosstab(
            np.r_[np.zeros(len(ref)), np.ones(len(cur))],
            np.r_[ref[name].to_numpy(), cur[name].to_numpy()],
        ).to_numpy()
        res = sps.chi2_contingency(table, correction=False)
        got = d1_exact_report[name]
        assert got.method == "chi2"
        assert got.statistic == pytest.approx(res.statistic, rel=1e-9)
        assert got.p_value == pytest.approx(res.pvalue, rel=1e-9, abs=1e-300)


def test_default_sketches_large_columns_within_the_reported_bound(
    d1: tuple[pd.DataFrame, pd.DataFrame], d1_report: DriftReport
) -> None:
    # 200,000 values per column is above the default max_exact (100,000): the KS
    # statistic comes from the sketch and the exact one lies in [D, D + error_bound].
    ref, cur = d1
    for name in ("num_0", "num_7"):
        exact = float(sps.ks_2samp(ref[name], cur[name]).statistic)
        got = d1_report[name]
        assert 0.0 < got.error_bound < 0.002
        assert got.statistic <= exact <= got.statistic + got.error_bound
        assert got.n_reference == len(ref)


def test_only_bonferroni_like_corrections_are_needed_with_the_effect_floor(
    d1: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = (t.iloc[:60_000] for t in d1)
    prof = Profile().update(ref)
    for correction in ("holm", "bonferroni", "fdr_bh"):
        report = DriftDetector(correction=correction).fit(prof).detect(cur)
        assert report.drifted_columns == D1_DRIFTED, correction


def test_effect_floor_ignores_negligible_shift_on_a_big_sample() -> None:
    rng = np.random.default_rng(5)
    n = 200_000
    ref = pd.DataFrame({"x": rng.normal(size=n)})
    cur = pd.DataFrame({"x": rng.normal(0.03, size=n)})  # significant, but negligible
    no_floor = DriftDetector(min_effect=0.0).fit(ref).detect(cur)
    assert no_floor["x"].p_adjusted < 1e-4
    assert no_floor.drifted_columns == ["x"]
    assert DriftDetector().fit(ref).detect(cur).drifted_columns == []


def test_holm_adjusts_across_columns() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=3000) for i in range(4)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.05 * i, size=3000) for i in range(4)})
    rep_none = DriftDetector(correction="none").fit(ref).detect(cur)
    rep_holm = DriftDetector(correction="holm").fit(ref).detect(cur)
    raw = np.array([r.p_value for r in rep_none.results])
    order = np.argsort(raw)
    expected = np.maximum.accumulate(raw[order] * (4 - np.arange(4)))
    got = np.array([r.p_adjusted for r in rep_holm.results])[order]
    np.testing.assert_allclose(got, np.minimum(expected, 1), rtol=1e-12)


def test_fit_from_chunks_profile_and_arrow_agree(d1: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = (t.iloc[:30_000] for t in d1)
    whole = DriftDetector().fit(ref).detect(cur).to_dict()
    chunks = (ref.iloc[i : i + 7_000] for i in range(0, len(ref), 7_000))
    chunked = DriftDetector().fit(chunks).detect(pa.Table.from_pandas(cur)).to_dict()
    from_profile = DriftDetector().fit(Profile().update(ref)).detect(Profile().update(cur))
    assert chunked == whole
    assert from_profile.to_dict() == whole


def test_detector_is_reusable(d1: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = (t.iloc[:20_000, 15:25] for t in d1)
    det = DriftDetector().fit(ref)
    first = det.detect(cur).to_dict()
    det.detect(ref)
    assert det.detect(cur).to_dict() == first
    assert det.detect(ref).drifted_columns == []


def test_sketched_profile_stays_within_its_error_bound(
    d1: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = (t[["num_0", "num_5", "cat_0"]].iloc[:60_000] for t in d1)
    exact = DriftDetector().fit(ref).detect(cur)
    sketched = DriftDetector(max_exact=10_000).fit(ref).detect(cur)
    assert sketched.drifted_columns == exact.drifted_columns == ["num_0", "cat_0"]
    for name in ("num_0", "num_5"):
        e, s = exact[name], sketched[name]
        assert e.error_bound == 0.0
        assert 0 < s.error_bound < 0.01
        assert s.statistic is not None
        assert e.statistic is not None
        assert s.statistic <= e.statistic + 1e-12
        assert e.statistic <= s.statistic + s.error_bound + 1e-12
        assert "sketched profile" in s.note
    assert sketched["cat_0"].statistic == exact["cat_0"].statistic


def test_cvm_option_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(size=800)})
    cur = pd.DataFrame({"x": rng.normal(0.3, size=600)})
    got = DriftDetector(numeric_test="cvm").fit(ref).detect(cur)["x"]
    res = sps.cramervonmises_2samp(ref["x"], cur["x"])
    assert got.method == "cvm"
    assert got.statistic == pytest.approx(res.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(res.pvalue, rel=1e-9)
    assert got.drifted


def test_not_testable_rows_and_nulls() -> None:
    ref = pd.DataFrame(
        {
            "empty_ref": pd.Series([None] * 4, dtype="float64"),
            "empty_cur": [1.0, 2.0, 3.0, 4.0],
            "const": [1.0] * 4,
            "c": ["a", "a", None, "b"],
        }
    )
    cur = pd.DataFrame(
        {
            "empty_ref": [1.0, 2.0, 3.0],
            "empty_cur": pd.Series([None] * 3, dtype=object),
            "const": [1.0] * 3,
            "c": ["a", None, None],
        }
    )
    report = DriftDetector().fit(ref).detect(cur)
    assert not report["empty_ref"].testable
    assert report["empty_ref"].note.startswith("every reference value is null; null share")
    assert not report["empty_cur"].testable
    assert report["empty_cur"].note.startswith("every current value is null; null share")
    assert report["empty_cur"].kind == "numeric"
    assert report["const"].testable
    assert (report["const"].statistic, report["const"].p_value) == (0.0, 1.0)
    assert report["c"].null_fraction_reference == 0.25
    assert report["c"].null_fraction_current == pytest.approx(2 / 3)
    # Values untestable, but every value null on one side is a null-share drift.
    assert report.drifted_columns == ["empty_ref", "empty_cur"]
    frame = report.to_frame()
    assert frame["statistic"].isna().sum() == 2


def test_constant_columns_that_differ_are_drift() -> None:
    ref = pd.DataFrame({"x": [1.0] * 50, "c": ["a"] * 50})
    cur = pd.DataFrame({"x": [2.0] * 50, "c": ["b"] * 50})
    report = DriftDetector().fit(ref).detect(cur)
    assert report.drifted_columns == ["x", "c"]
    assert report["x"].effect == 1.0
    assert report["c"].effect == 1.0


def test_mismatched_schemas() -> None:
    det = DriftDetector().fit(pd.DataFrame({"x": [1.0, 2.0], "y": [1, 2], "c": ["a", "b"]}))
    with pytest.raises(SchemaError) as info:
        det.detect(pd.DataFrame({"x": [1.0]}))
    assert info.value.columns == ["y", "c"]
    with pytest.raises(SchemaError, match="numeric in the reference but categorical") as info2:
        det.detect(pd.DataFrame({"x": ["a"], "y": [1], "c": ["a"]}))
    assert info2.value.column == "x"
    # Extra current columns are ignored; int vs float is the same kind.
    rep = det.detect(pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.5], "c": ["a", "b"], "z": [0, 0]}))
    assert [r.column for r in rep.results] == ["x", "y", "c"]


def test_columns_parameter_restricts_comparison() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    det = DriftDetector(columns=["x"]).fit(ref)
    assert [r.column for r in det.detect(pd.DataFrame({"x": [1.0, 3.0]})).results] == ["x"]
    with pytest.raises(SchemaError, match="'nope'"):
        DriftDetector(columns=["nope"]).fit(ref)
    with pytest.raises(SchemaError, match="'nope'"):
        DriftDetector(columns=["nope"]).fit(Profile().update(ref))


def test_empty_and_unfitted() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        DriftDetector().detect(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(DriftError, match="reference data has no rows"):
        DriftDetector().fit(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    det = DriftDetector().fit(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(DriftError, match="current data has no rows"):
        det.detect(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    with pytest.raises(DriftError, match="current data has no rows"):
        det.detect([])
    with pytest.raises(DriftError, match="infinite"):
        det.detect(pd.DataFrame({"x": [np.inf]}))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"alpha": 1.5}, "'alpha' parameter of DriftDetector must be a float in \\(0, 1\\)"),
        ({"correction": "sidak"}, "'correction' parameter"),
        ({"min_effect": -0.1}, "'min_effect'"),
        ({"numeric_test": "ad"}, "'numeric_test'"),
        ({"bins": 1}, "'bins'"),
        ({"columns": "x"}, "'columns'"),
        ({"max_exact": 5}, "'max_exact'"),
    ],
)
def test_bad_parameters(params: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DriftDetector(**params).fit(pd.DataFrame({"x": [1.0]}))  # type: ignore[arg-type]


def test_datetime_columns_are_compared_as_time() -> None:
    start = np.datetime64("2024-01-01")
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"t": start + rng.integers(0, 86_400, 2000).astype("timedelta64[s]")})
    cur = pd.DataFrame({"t": start + rng.integers(43_200, 130_000, 2000).astype("timedelta64[s]")})
    report = DriftDetector().fit(ref).detect(cur)
    assert report["t"].kind == "datetime"
    assert report.drifted_columns == ["t"]
    secs = ref["t"].astype("int64").to_numpy() / 1e9
    secs_cur = cur["t"].astype("int64").to_numpy() / 1e9
    assert report["t"].statistic == float(sps.ks_2samp(secs, secs_cur).statistic)


def _correlated(n: int, sign: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "y": sign * 0.9 * x + rng.normal(scale=0.45, size=n),
            "c": rng.choice(["a", "b", "c"], n),
        }
    )


def test_classifier_check_catches_joint_drift_that_marginals_miss() -> None:
    ref, cur = _correlated(3000, 1.0, 0), _correlated(3000, -1.0, 1)
    det = DriftDetector(multivariate=True, sample_rows=1000, random_state=3).fit(ref)
    report = det.detect(cur)
    assert report.drifted_columns == []  # marginals unchanged
    multi = report["<multivariate>"]
    assert (multi.kind, multi.method) == ("table", "classifier")
    assert multi.statistic is not None
    assert multi.statistic > 0.8
    assert multi.p_value is not None
    assert multi.p_value < 1e-10
    assert multi.drifted
    assert report.drift_detected
    # Same seed, same answer; chunked current data gives a valid result too.
    assert det.detect(cur)["<multivariate>"] == multi
    chunked = det.detect([cur.iloc[:1500], cur.iloc[1500:]])["<multivariate>"]
    assert chunked.drifted


def test_classifier_check_without_drift_and_bad_uses() -> None:
    ref, cur = _correlated(3000, 1.0, 0), _correlated(3000, 1.0, 1)
    report = DriftDetector(multivariate=True, sample_rows=1000).fit(ref).detect(cur)
    multi = report["<multivariate>"]
    assert not multi.drifted
    assert multi.p_value is not None
    assert multi.p_value > 0.01
    with pytest.raises(DriftError, match="needs the reference rows"):
        DriftDetector(multivariate=True).fit(Profile().update(ref))
    tiny = DriftDetector(multivariate=True).fit(ref.iloc[:10]).detect(cur.iloc[:10])
    assert not tiny["<multivariate>"].testable


def test_ks_statistic_of_identical_samples_is_positive_zero() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=20_000)})
    stat = DriftDetector().fit(ref).detect(ref)["x"].statistic
    assert stat == 0.0
    assert np.copysign(1.0, stat) == 1.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [
        [0.0] * 5 + [8.98e307] * 2,
        [0.0] * 13 + [1.44e154],
        [-1.7976931348623157e308, 1.7976931348623157e308, 0.0, 1.0],
        [1.7976931348623157e308] * 4,
        [5e-324, 0.0, 1e-300],
    ],
)
@pytest.mark.parametrize("max_exact", [2_000_000, 10_000])
def test_extreme_finite_values_do_not_overflow(values: list[float], max_exact: int) -> None:
    ref = pd.DataFrame({"a": values * (3000 if max_exact == 10_000 else 1)})
    cur = pd.DataFrame({"a": values})
    report = DriftDetector(max_exact=max_exact).fit(ref).detect(cur)
    res = report["a"]
    assert res.statistic == 0.0
    assert res.metrics["wasserstein"] == 0.0
    assert all(np.isfinite(res.plot["edges"]))
    assert "<svg" in report.to_html()


def test_chi_square_does_not_depend_on_the_order_categories_are_seen() -> None:
    rng = np.random.default_rng(7)
    values = rng.choice([f"c{i}" for i in range(40)], 5_000, p=np.full(40, 1 / 40))
    ref = pd.DataFrame({"cat": values})
    cur = pd.DataFrame({"cat": rng.choice(values, 4_000)})
    forward = DriftDetector().fit(ref).detect(cur)["cat"]
    backward = DriftDetector().fit(ref.iloc[::-1]).detect(cur.iloc[::-1])["cat"]
    merged = Profile().update(ref.iloc[2_500:]).merge(Profile().update(ref.iloc[:2_500]))
    from_merged = DriftDetector().fit(merged).detect(cur)["cat"]
    assert forward.statistic == backward.statistic == from_merged.statistic
    assert forward.p_value == backward.p_value == from_merged.p_value
