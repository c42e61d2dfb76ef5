"""Drift verdicts that say what happened (issue 15 §5)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from prodml.drift import DriftDetector, Profile
from prodml.errors import ConfigError


def _with_nulls(rng: np.random.Generator, n: int, share: float) -> pd.DataFrame:
    x = rng.normal(size=n)
    x[rng.random(n) < share] = np.nan
    c = rng.choice(np.array(["a", "b", "c"], dtype=object), n)
    c[rng.random(n) < share] = None
    return pd.DataFrame({"x": x, "c": c})


def test_a_rising_null_share_with_unchanged_values_is_drift() -> None:
    rng = np.random.default_rng(0)
    ref, cur = _with_nulls(rng, 5000, 0.01), _with_nulls(rng, 5000, 0.20)
    report = DriftDetector().fit(ref).detect(cur)
    assert report.drifted_columns == ["x", "c"]
    for name in ("x", "c"):
        r = report[name]
        assert r.effect is not None
        assert r.effect < 0.02  # the values themselves did not move
        assert r.metrics["null_effect"] == pytest.approx(
            r.null_fraction_current - r.null_fraction_reference
        )
        expected = f"null share {r.null_fraction_reference:.1%} -> {r.null_fraction_current:.1%}"
        assert r.note.startswith(expected)
        assert r.note.endswith("drifted")
    # Its own floor: a 19-point rise is below a floor of 0.25, so no drift.
    assert DriftDetector(min_null_effect=0.25).fit(ref).detect(cur).drifted_columns == []


def test_null_test_p_value_equals_scipy_two_by_two_chi_square() -> None:
    rng = np.random.default_rng(1)
    ref, cur = _with_nulls(rng, 3000, 0.05), _with_nulls(rng, 2000, 0.07)
    r = DriftDetector(correction="none").fit(ref).detect(cur)["x"]
    x1, x2 = int(ref["x"].isna().sum()), int(cur["x"].isna().sum())
    table = [[x1, 3000 - x1], [x2, 2000 - x2]]
    expected = sps.chi2_contingency(table, correction=False).pvalue
    assert r.metrics["null_p_value"] == pytest.approx(expected, rel=1e-9)
    assert r.metrics["null_p_adjusted"] == r.metrics["null_p_value"]


def test_null_tests_join_the_corrected_family_only_when_there_are_nulls() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})
    cur = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})
    cur.loc[:9, "y"] = np.nan
    report = DriftDetector(correction="bonferroni").fit(ref).detect(cur)
    assert "null_p_value" not in report["x"].metrics
    # Three tests in the family: two value tests and y's null test.
    assert report["x"].p_adjusted == pytest.approx(min(1.0, 3 * report["x"].p_value))
    assert report["y"].metrics["null_p_adjusted"] == pytest.approx(
        min(1.0, 3 * report["y"].metrics["null_p_value"])
    )


def test_significant_but_below_min_effect_gets_a_note() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=200_000)})
    cur = pd.DataFrame({"x": rng.normal(0.03, size=200_000)})
    r = DriftDetector(min_effect=0.05, max_exact=200_000).fit(ref).detect(cur)["x"]
    assert r.p_adjusted is not None
    assert r.p_adjusted <= 0.05
    assert r.effect is not None
    assert r.effect < 0.05
    assert not r.drifted
    assert "below min_effect 0.05: not drifted" in r.note
    loud = DriftDetector(min_effect=0.0, max_exact=200_000).fit(ref).detect(cur)["x"]
    assert loud.drifted
    assert "min_effect" not in loud.note


@pytest.mark.parametrize("side", ["reference", "current"])
def test_cvm_with_one_value_on_a_side_is_not_testable(side: str) -> None:
    many = pd.DataFrame({"x": np.arange(50.0)})
    one = pd.DataFrame({"x": [1.0]})
    ref, cur = (one, many) if side == "reference" else (many, one)
    r = DriftDetector(numeric_test="cvm").fit(ref).detect(cur)["x"]
    assert r.testable is False
    assert r.drifted is False
    assert f"the {side} has one" in r.note
    # KS runs on one value: only cvm needs two.
    assert DriftDetector().fit(ref).detect(cur)["x"].testable
    # The null share is tested whether or not the values can be: 2 of 3 null is drift.
    nulls = pd.DataFrame({"x": [1.0, None, None]})
    ref, cur = (nulls, many) if side == "reference" else (many, nulls)
    r = DriftDetector(numeric_test="cvm").fit(ref).detect(cur)["x"]
    assert r.testable is False
    assert r.drifted is True
    assert r.metrics["null_effect"] == pytest.approx(2 / 3)


def test_min_null_effect_is_validated() -> None:
    with pytest.raises(ConfigError, match="min_null_effect"):
        DriftDetector(min_null_effect=2.0).fit(pd.DataFrame({"x": [1.0, 2.0]}))


def test_profile_json_keeps_the_column_order() -> None:
    df = pd.DataFrame({"zeta": [1.0, 2.0], "alpha": ["a", "b"], "mid": [3, 4]})
    prof = Profile().update(df)
    text = prof.to_json()
    assert list(json.loads(text)["columns"]) == ["zeta", "alpha", "mid"]
    back = Profile.from_json(text)
    assert list(back.columns) == ["zeta", "alpha", "mid"]
    assert back == prof


def test_an_object_column_of_strings_with_one_int_says_it_mixes_types() -> None:
    from prodml.errors import SchemaError

    with pytest.raises(SchemaError) as info:
        Profile().update(pd.DataFrame({"c": ["a", "b", 1]}))
    (problem,) = info.value.problems
    assert problem.column == "c"
    assert problem.row == 2
    assert "the column mixes types: str values and int 1;" in problem.message


def test_sketched_column_of_few_values_reports_no_error_and_the_exact_statistic() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"k": rng.integers(0, 4, 30_000), "x": rng.normal(size=30_000)})
    cur = pd.DataFrame(
        {"k": rng.choice(4, 30_000, p=[0.3, 0.3, 0.2, 0.2]), "x": rng.normal(size=30_000)}
    )
    # max_exact=10_000 < 30_000: both columns are sketched.
    report = DriftDetector(max_exact=10_000).fit(ref).detect(cur)
    k, x = report["k"], report["x"]
    assert k.error_bound == 0.0
    assert "sketched" not in k.note
    exact = sps.ks_2samp(ref["k"], cur["k"])
    assert k.statistic == pytest.approx(exact.statistic, abs=1e-12)
    assert 0.0 < x.error_bound < 0.01  # a continuous column keeps a real bound
    assert "sketched profile" in x.note
    # Merged and reloaded profiles keep the purity (and so the zero bound).
    halves = [Profile(max_exact=10_000).update(p) for p in (ref.iloc[:15_000], ref.iloc[15_000:])]
    merged = Profile.from_json(halves[0].merge(halves[1]).to_json())
    again = DriftDetector(max_exact=10_000).fit(merged).detect(cur)["k"]
    assert again.error_bound == 0.0
    assert again.statistic == k.statistic
