"""Independent audit of gaps: an undefined ratio is reported as undefined, never 0 or 1.

A ratio is smallest over largest value; when every group's value is 0 (no positive
predictions anywhere, say) it is 0/0. fairlearn returns ``nan`` then; prodml returns
``nan`` *and* says so in ``status``, with no interval, instead of a number that looks
like a verdict.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.fairness import GroupMetrics, equalized_odds_ratio

from .conftest import Case, cases

fairlearn = pytest.importorskip(
    "fairlearn.metrics", reason="parity tests need fairlearn (test extra)"
)


def _no_positive_predictions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.array([1, 0, 1, 0, 1, 0, 1, 1])
    return y, np.zeros_like(y), np.array(list("aabbccab"))


@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
def test_ratio_of_all_zero_rates_is_undefined_with_no_interval(method: str) -> None:
    y, p, g = _no_positive_predictions()
    report = GroupMetrics(["s"], ["selection_rate", "tpr"], min_count=1).update(y, p, g).report()
    for metric in ("selection_rate", "tpr"):
        gap = report.ratio(metric, method=method)
        assert gap.status == "undefined"
        assert math.isnan(gap.value)
        assert math.isnan(gap.lower)
        assert math.isnan(gap.upper)
        assert not gap.flagged
        assert str(gap) == f"{metric} ratio: undefined"
        assert gap.to_dict()["value"] is None
        # The difference is defined: every group is at 0, no gap.
        diff = report.difference(metric, method=method)
        assert diff.status == "ok"
        assert diff.value == 0.0
    # fairlearn's value is nan too; ours is the same number, with the reason.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = fairlearn.demographic_parity_ratio(y, p, sensitive_features=g, method=method)
    assert math.isnan(theirs)
    assert np.isnan(report.ratio(method=method)["selection_rate"])
    assert "selection_rate_ratio" not in report.to_metrics()


def test_ratio_to_a_chosen_group_at_zero_is_undefined() -> None:
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([1, 1, 0, 0, 0, 1])
    g = np.array(list("aabbcc"))
    report = GroupMetrics(["s"], ["selection_rate"], min_count=1).update(y, p, g).report()
    gap = report.ratio("selection_rate", groups=("s=a", "s=b"))  # 1.0 / 0.0
    assert gap.status == "undefined"
    assert math.isnan(gap.value)
    assert math.isnan(gap.upper)
    fine = report.ratio("selection_rate", groups=("s=b", "s=a"))  # 0.0 / 1.0
    assert fine.status == "ok"
    assert fine.value == 0.0


def test_equalized_odds_ratio_skips_an_all_zero_component() -> None:
    # Nobody negative is predicted positive: fpr is 0 in every group (0/0 ratio); the
    # tpr ratio is the worst case, as in fairlearn.
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    g = np.array(list("aaaabbbb"))
    report = GroupMetrics(["s"], ["tpr", "fpr"], min_count=1).update(y, p, g).report()
    assert report.ratio("fpr").status == "undefined"
    gap = report.ratio("equalized_odds")
    assert gap.status == "ok"
    assert gap.component == "tpr"
    assert gap.value == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = fairlearn.equalized_odds_ratio(y, p, sensitive_features=g)
    assert equalized_odds_ratio(y, p, sensitive_features=g) == theirs == 0.5


@settings(max_examples=60, deadline=None)
@given(case=cases(min_size=1, max_size=120), zero=st.booleans())
def test_every_gap_is_ok_with_its_value_inside_its_interval_or_nan_with_a_reason(
    case: Case, zero: bool
) -> None:
    y_pred = np.zeros_like(case.y_pred) if zero else case.y_pred
    metrics = ["selection_rate", "tpr", "fpr", "precision", "accuracy"]
    report = GroupMetrics(case.names, metrics, min_count=1).update(case.y_true, y_pred, case.groups)
    report = report.report()
    for m in metrics:
        for method in ("between_groups", "to_overall"):
            for gap in (report.difference(m, method=method), report.ratio(m, method=method)):
                if gap.status == "ok":
                    assert math.isfinite(gap.value), gap
                    if not (math.isnan(gap.lower) and math.isnan(gap.upper)):
                        assert gap.lower - 1e-12 <= gap.value <= gap.upper + 1e-12, gap
                else:
                    assert gap.status in ("too few to say", "undefined"), gap
                    assert math.isnan(gap.value), gap
                    assert math.isnan(gap.lower), gap
                    assert math.isnan(gap.upper), gap


def test_auc_of_a_group_with_one_class_is_undefined_not_too_few() -> None:
    # Group a has only positives: its AUC is undefined ("no data"), however many records
    # it has; group c has both classes but fewer than min_count: "too few to say".
    y = np.array([1] * 40 + [1, 0] * 20 + [1, 0])
    scores = np.linspace(0.01, 0.99, len(y))
    g = np.array(["a"] * 40 + ["b"] * 40 + ["c"] * 2)
    gm = GroupMetrics(["g"], ["auc", "fpr"], threshold=0.5, min_count=5)
    report = gm.update(y, scores, g).report()
    assert report.status.loc["a", "auc"] == "no data"
    assert report.status.loc["a", "fpr"] == "no data"
    assert report.status.loc["b", "auc"] == "ok"
    assert report.status.loc["c", "auc"] == "too few to say"
    assert np.isnan(report.by_group.loc["a", "auc"])
    frame = report.to_frame().set_index(["g", "metric"])
    assert frame.loc[("a", "auc"), "status"] == "no data"


def test_to_overall_intervals_cover_the_true_distance_to_the_overall_value() -> None:
    """The group farthest from the overall value is picked by the data; its interval
    (group against the rest, scaled to the overall value, Bonferroni over the groups)
    still covers that group's true distance at least 95% of the time."""
    rng = np.random.default_rng(5)
    n = np.array([300, 800, 150, 500])
    p = np.array([0.3, 0.4, 0.45, 0.35])
    g = np.repeat(np.arange(4), n)
    y = np.ones(n.sum(), dtype=int)
    true_overall = float((n * p).sum() / n.sum())
    sims = 300
    covered = {"difference": 0, "ratio": 0}
    for _ in range(sims):
        pred = (rng.random(n.sum()) < p[g]).astype(int)
        report = GroupMetrics(["g"], ["tpr"]).update(y, pred, {"g": g}).report()
        for kind in covered:
            gap = getattr(report, kind)("tpr", method="to_overall")
            a = int(gap.groups[0].split("=")[1])
            truth = (
                abs(p[a] - true_overall)
                if kind == "difference"
                else min(p[a] / true_overall, true_overall / p[a])
            )
            covered[kind] += gap.lower <= truth <= gap.upper
    assert covered["difference"] / sims >= 0.95
    assert covered["ratio"] / sims >= 0.95


def test_a_value_spelled_like_the_missing_label_is_refused_under_missing_group() -> None:
    from prodml.errors import SchemaError

    y = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([1, 1, 0, 0, 0, 0])
    g = np.array(["<missing>", "<missing>", None, None, "a", "a"], dtype=object)
    gm = GroupMetrics(["s"], ["selection_rate"], min_count=1, missing="group")
    with pytest.raises(SchemaError, match="label of the missing-values group") as info:
        gm.update(y, p, g)
    assert info.value.problems[0].column == "s"
    assert info.value.problems[0].row == 0
    assert gm.count == 0  # all or nothing
    with pytest.raises(SchemaError, match="label of the missing-values group"):
        gm.update_record(1, 1, {"s": "<missing>"})
    gm.update_record(1, 1, {"s": None})
    assert gm.counts() == {(None,): [0, 0, 0, 1]}
    with pytest.raises(SchemaError, match="label of the missing-values group"):
        gm.update_record(1, 1, {"s": "<missing>"})  # the fast path, once a group exists
    # Under the other policies there is no <missing> group: the value is a group like any.
    for policy in ("error", "drop"):
        kept = GroupMetrics(["s"], ["selection_rate"], min_count=1, missing=policy)
        kept.update(y[[0, 1, 4, 5]], p[[0, 1, 4, 5]], g[[0, 1, 4, 5]])
        assert kept.report().to_metrics()["selection_rate[s=<missing>]"] == 1.0


def test_a_saved_state_with_a_group_spelled_like_the_missing_label_is_refused() -> None:
    from prodml.errors import ConfigError

    gm = GroupMetrics(["s"], ["selection_rate"], min_count=1, missing="group")
    gm.update(np.array([1, 0]), np.array([1, 0]), np.array([None, "a"], dtype=object))
    state = gm.to_dict()
    text = gm.to_json().replace('"a"', '"<missing>"')
    assert GroupMetrics.from_dict(state) == gm
    with pytest.raises(ConfigError, match="missing group's label"):
        GroupMetrics.from_json(text)


def test_gate_shows_no_number_for_an_undefined_ratio() -> None:
    import json
    from types import SimpleNamespace

    from prodml.fairness import FairnessGate

    rng = np.random.default_rng(0)
    n = 4000
    g = rng.choice(["a", "b"], n)
    y = rng.integers(0, 2, n)
    gm = GroupMetrics(["g"], ["selection_rate"]).update(y, np.zeros(n, dtype=int), {"g": g})
    gate = FairnessGate("demographic_parity", min_ratio=0.8)
    # A canary's summaries (confidence sequences) of the same: no positive prediction.
    summaries = {
        "selection_rate[g=a]": SimpleNamespace(n=2000, mean=0.0),
        "selection_rate[g=b]": SimpleNamespace(n=2000, mean=0.0),
    }
    rollout = gate.evaluate_rollout(summaries, summaries, alpha=0.05, min_samples=1)
    for verdict in (gate.evaluate(gm), rollout):
        assert verdict["verdict"] == "inconclusive"
        assert verdict["candidate"] is None
        assert verdict["lower"] is None
        assert verdict["upper"] is None
        assert verdict["groups"] == ["g=a", "g=b"]
        json.dumps(verdict, allow_nan=False)  # no nan: a verdict is JSON
    assert rollout["baseline"] is None
    # The difference is defined (0) and within the limit.
    ok = FairnessGate("demographic_parity", max_difference=0.1).evaluate(gm)
    assert ok["verdict"] == "pass"
    assert ok["candidate"] == 0.0


def test_two_groups_shown_alike_are_refused_rather_than_merged_in_to_metrics() -> None:
    # An object column holding 1 and "1" (a messy CSV) makes two groups, both labelled
    # "s=1": to_metrics() kept one and dropped the other, and a FairnessGate reading the
    # counts back saw one group.
    from prodml.errors import SchemaError

    g = np.array([1, "1", 1, "1"], dtype=object)
    gm = GroupMetrics(["s"], ["selection_rate"], min_count=1)
    gm.update(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]), g)
    assert len(gm.groups) == 2
    with pytest.raises(SchemaError, match="shown alike") as info:
        gm.report()
    assert info.value.problems[0].column == "s"
    assert "(int)" in str(info.value)
    assert "(str)" in str(info.value)
    # Marginal reports check too: a second feature does not hide the clash.
    two = GroupMetrics(["s", "t"], ["selection_rate"], min_count=1)
    two.update(np.array([1, 0]), np.array([1, 0]), {"s": g[:2], "t": ["x", "x"]})
    with pytest.raises(SchemaError, match="shown alike"):
        two.report(by="s")
    with pytest.raises(SchemaError, match="shown alike"):
        two.report()
