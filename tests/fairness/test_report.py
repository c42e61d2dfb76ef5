"""FairnessReport: the tables, the gaps and their tests, criteria, and the flat export."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prodml.errors import ConfigError
from prodml.fairness import FairnessReport, Gap, GroupMetrics, stats


@pytest.fixture(scope="module")
def report() -> FairnessReport:
    """Three groups; M's tpr is 0.15 above F's; fpr equal; group X is small."""
    rng = np.random.default_rng(5)
    parts = []
    for name, n, tpr in (("F", 3000, 0.65), ("M", 3000, 0.80), ("X", 12, 0.7)):
        y = rng.integers(0, 2, n)
        pred = np.where(y == 1, rng.random(n) < tpr, rng.random(n) < 0.1).astype(int)
        parts.append(pd.DataFrame({"y": y, "pred": pred, "sex": name}))
    df = pd.concat(parts, ignore_index=True)
    gm = GroupMetrics(["sex"], ["selection_rate", "tpr", "fpr", "count"])
    return gm.update(df["y"], df["pred"], df).report()


def test_tables_read_like_metricframe(report: FairnessReport) -> None:
    assert list(report.by_group.columns) == ["selection_rate", "tpr", "fpr", "count"]
    assert list(report.by_group.index) == ["F", "M", "X"]
    assert report.by_group.index.name == "sex"
    lower, upper = report.by_group_ci
    shown = report.by_group.notna()  # too-few values are nan
    assert (lower[shown].fillna(0) <= report.by_group[shown].fillna(0)).all().all()
    assert (report.by_group[shown].fillna(0) <= upper[shown].fillna(0)).all().all()
    assert lower.loc["X"].drop("count").isna().all()
    assert report.status.loc["X", "tpr"] == "too few to say"
    assert report.status.loc["F", "tpr"] == "ok"
    assert report.counts.loc["F", "count"] == 3000
    assert report.overall["count"] == 6012
    lo, hi = report.overall_ci
    assert lo["tpr"] < report.overall["tpr"] < hi["tpr"]
    frame = report.to_frame()
    assert list(frame.columns) == ["sex", "metric", "value", "lower", "upper", "n", "status"]
    assert len(frame) == 3 * 4
    row = frame[(frame["sex"] == "X") & (frame["metric"] == "tpr")].iloc[0]
    assert math.isnan(row["value"])
    assert row["status"] == "too few to say"


def test_difference_names_the_pair_with_a_widened_interval(report: FairnessReport) -> None:
    gap = report.difference("tpr")
    assert isinstance(gap, Gap)
    assert gap.groups == ("sex=M", "sex=F")
    tpr = report.by_group["tpr"]
    assert gap.value == pytest.approx(tpr["M"] - tpr["F"])
    assert float(gap) == gap.value
    assert gap.lower < gap.value < gap.upper
    assert gap.level == pytest.approx(0.95)  # one pair among two eligible groups
    assert gap.flagged
    assert gap.flagged_pairs == (("sex=F", "sex=M"),)
    assert gap.p_value < 1e-10
    assert gap.p_adjusted >= gap.p_value
    assert "flagged" in str(gap)
    assert "sex=M" in str(gap)
    nominal = report.difference("tpr", groups=("M", "F"))
    assert nominal.value == pytest.approx(gap.value)
    assert nominal.level == pytest.approx(0.95)
    fpr = report.difference("fpr")
    assert not fpr.flagged
    ratio = report.ratio("tpr")
    assert ratio.value == pytest.approx(tpr["F"] / tpr["M"])
    assert ratio.lower < ratio.value < ratio.upper < 1.0
    assert ratio.p_value == gap.p_value
    assert ratio.flagged


def test_criteria_take_the_worst_component(report: FairnessReport) -> None:
    eo = report.difference("equalized_odds")
    assert eo.component == "tpr"
    assert eo.value == report.difference("tpr").value
    assert eo.flagged
    assert report.ratio("equalized_odds").value == min(report.ratio()[["tpr", "fpr"]])
    assert (
        report.difference("demographic_parity").value == report.difference("selection_rate").value
    )
    assert report.difference("true_positive_rate").value == report.difference("tpr").value
    with pytest.raises(ConfigError, match="precision"):
        report.difference("precision")
    with pytest.raises(ConfigError, match="count"):
        report.difference("count")
    with pytest.raises(ConfigError, match="No group"):
        report.difference("tpr", groups=("F", "Z"))
    with pytest.raises(ConfigError, match="method"):
        report.difference("tpr", method="pairwise")  # type: ignore[arg-type]


def test_to_overall_gap_is_the_group_against_the_rest(report: FairnessReport) -> None:
    gap = report.difference("tpr", method="to_overall")
    tpr, overall = report.by_group["tpr"], report.overall["tpr"]
    eligible = tpr.dropna()
    assert gap.value == pytest.approx((eligible - overall).abs().max())
    assert gap.groups[1] == "overall"
    assert gap.lower <= gap.value <= gap.upper
    assert gap.p_value < 1e-6


def test_gaps_table_lists_every_pair_with_holm_adjustment(report: FairnessReport) -> None:
    gaps = report.gaps()
    assert set(gaps["metric"]) == {"selection_rate", "tpr", "fpr"}
    assert len(gaps) == 3  # one pair (F, M) per tested metric; X is too small
    np.testing.assert_allclose(gaps["p_adjusted"], stats.adjust_pvalues(gaps["p_value"], "holm"))
    assert gaps.loc[gaps["metric"] == "tpr", "flagged"].item()
    assert [g.metric for g in report.flagged] == ["selection_rate", "tpr"]


def test_to_metrics_is_flat_finite_and_complete(report: FairnessReport) -> None:
    m = report.to_metrics(prefix="fair.")
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert m["fair.tpr[sex=F]"] == report.by_group.loc["F", "tpr"]
    assert "fair.tpr[sex=X]" not in m  # too few to say
    assert m["fair.count[sex=X]"] == 12
    assert m["fair.tpr_difference"] == report.difference("tpr").value
    assert 0 < m["fair.tpr_difference_lower"] < m["fair.tpr_difference"]
    assert m["fair.fpr_difference_lower"] == 0.0
    assert m["fair.tpr_ratio"] < m["fair.tpr_ratio_upper"] < 1.0
    assert m["fair.tpr_flagged"] == 1.0
    assert m["fair.confusion[sex=X].tp"] + m["fair.confusion[sex=X].fn"] > 0
    assert not any(k.startswith("fair.confusion") for k in report.to_metrics(counts=False))


def test_report_settings_override_and_are_checked() -> None:
    gm = GroupMetrics(["sex"], ["tpr"]).update(
        [1] * 40, [1] * 20 + [0, 1] * 10, ["F"] * 20 + ["M"] * 20
    )
    assert gm.report().status.loc["F", "tpr"] == "too few to say"
    assert gm.report(min_count=10).status.loc["F", "tpr"] == "ok"
    assert gm.report(alpha=0.01).alpha == 0.01
    with pytest.raises(ConfigError, match="unknown setting 'beta'"):
        gm.report(beta=1)
    with pytest.raises(ConfigError, match="alpha"):
        gm.report(alpha=2.0)
    assert "FairnessReport(sensitive=['sex']" in repr(gm.report())
