"""sample_weight: fairlearn's weighted values, Kish intervals, zero-weight groups, bad weights."""

from __future__ import annotations

import json
import math
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, ProdMLError, SchemaError
from prodml.fairness import (
    FairnessGate,
    GroupMetrics,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    selection_rate,
    stats,
)

from .conftest import Case, cases, chunks

fairlearn = pytest.importorskip(
    "fairlearn.metrics", reason="parity tests need fairlearn (test extra)"
)
skm = pytest.importorskip("sklearn.metrics")

METRICS = ["selection_rate", "tpr", "fpr", "fnr", "tnr", "precision", "accuracy", "error_rate"]
REL = 1e-9

# A weight: 0, tiny, huge, ordinary or a small integer.
WEIGHT = st.one_of(
    st.just(0.0),
    st.floats(1e-100, 1e-90),
    st.floats(1e90, 1e100),
    st.floats(0.01, 100.0),
    st.integers(1, 5).map(float),
)
POSITIVE = st.one_of(st.floats(1e-100, 1e-90), st.floats(1e90, 1e100), st.floats(0.01, 100.0))


def quiet(f: Any, *args: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kw)


def close(a: Any, b: Any) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.allclose(a, b, rtol=REL, atol=1e-12, equal_nan=True))


def close_where_defined(ours: Any, theirs: Any) -> bool:
    """Close where ours is defined (fairlearn says 0 for an empty base, ours nan)."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    ok = ~np.isnan(a)
    return close(a[ok], b[ok])


def weighted(case: Case, w: np.ndarray, metrics: list[str] = METRICS, **kw: Any) -> GroupMetrics:
    gm = GroupMetrics(case.names, metrics, min_count=1, weighted=True, **kw)
    return gm.update(case.y_true, case.y_pred, case.groups, sample_weight=w)


def metricframe(case: Case, w: np.ndarray) -> Any:
    fl = fairlearn
    functions = {
        "selection_rate": fl.selection_rate,
        "tpr": fl.true_positive_rate,
        "fpr": fl.false_positive_rate,
        "fnr": fl.false_negative_rate,
        "tnr": fl.true_negative_rate,
        "precision": lambda y, p, sample_weight: skm.precision_score(
            y, p, sample_weight=sample_weight, zero_division=np.nan
        ),
        "accuracy": skm.accuracy_score,
        "error_rate": skm.zero_one_loss,
    }
    return quiet(
        fl.MetricFrame,
        metrics={m: functions[m] for m in METRICS},
        y_true=case.y_true,
        y_pred=case.y_pred,
        sensitive_features=case.groups,
        sample_params={m: {"sample_weight": w} for m in METRICS},
    )


# ---------------------------------------------------------------- fairlearn's numbers
@settings(max_examples=25, deadline=None)
@given(case=cases(min_size=2, max_size=150), data=st.data())
def test_weighted_metricframe_numbers_equal_fairlearns(case: Case, data: st.DataObject) -> None:
    w = np.array(
        data.draw(st.lists(POSITIVE, min_size=len(case.y_true), max_size=len(case.y_true)))
    )
    report = weighted(case, w).report()
    mf = metricframe(case, w)
    theirs = mf.by_group.reindex(report.by_group.index)
    assert close_where_defined(report.by_group[METRICS], theirs[METRICS])
    assert close_where_defined(report.overall[METRICS], mf.overall[METRICS])
    if report.by_group[METRICS].isna().any().any() or len(report.by_group) < 2:
        return  # fairlearn counts an empty base as 0 (see test_fairlearn_parity)
    for method in ("between_groups", "to_overall"):
        assert close(report.difference(method=method), quiet(mf.difference, method=method))
        assert close(report.ratio(method=method), quiet(mf.ratio, method=method))


@settings(max_examples=20, deadline=None)
@given(
    case=cases(min_size=2, max_size=150),
    method=st.sampled_from(["between_groups", "to_overall"]),
    data=st.data(),
)
def test_weighted_disparity_functions_equal_fairlearns(
    case: Case, method: str, data: st.DataObject
) -> None:
    n = len(case.y_true)
    w = np.array(data.draw(st.lists(POSITIVE, min_size=n, max_size=n)))
    y, p, sf = case.y_true, case.y_pred, case.groups
    kw = {"sensitive_features": sf, "method": method, "sample_weight": w}
    r = weighted(case, w, ["selection_rate", "tpr", "fpr"]).report()
    if len(r.keys) < 2:
        return  # one group: fairlearn says 0 and 1, prodml nan (no gap to measure)
    pairs = [
        (demographic_parity_difference, fairlearn.demographic_parity_difference),
        (demographic_parity_ratio, fairlearn.demographic_parity_ratio),
    ]
    if not (r.by_group.isna().any().any() or r.ratio().isna().any()):
        pairs += [
            (equalized_odds_difference, fairlearn.equalized_odds_difference),
            (equalized_odds_ratio, fairlearn.equalized_odds_ratio),
            (equal_opportunity_difference, fairlearn.equal_opportunity_difference),
            (equal_opportunity_ratio, fairlearn.equal_opportunity_ratio),
        ]
    for ours, theirs in pairs:
        assert close(ours(y, p, **kw), quiet(theirs, y, p, **kw)), ours.__name__
    assert close(
        selection_rate(y, p, sample_weight=w), fairlearn.selection_rate(y, p, sample_weight=w)
    )


# ---------------------------------------------------------------- weights as repeated rows
@settings(max_examples=40, deadline=None)
@given(case=cases(min_size=1, max_size=120), data=st.data())
def test_integer_weights_give_the_values_of_repeated_rows(case: Case, data: st.DataObject) -> None:
    n = len(case.y_true)
    reps = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
    w_report = weighted(case, reps.astype(np.float64)).report()
    rep = Case(
        np.repeat(case.y_true, reps),
        np.repeat(case.y_pred, reps),
        case.groups.loc[np.repeat(np.arange(n), reps)].reset_index(drop=True),
    )
    r_report = (
        GroupMetrics(case.names, METRICS, min_count=1)
        .update(rep.y_true, rep.y_pred, rep.groups)
        .report()
    )
    ours = w_report.by_group.reindex(r_report.by_group.index)
    # Exactly the same numbers, not merely close: integer sums are exact.
    assert ours.equals(r_report.by_group)
    assert w_report.overall.equals(r_report.overall) or len(rep.y_true) == 0
    # A group whose records all weigh 0 has no value: it is not 0, and it is not dropped.
    status = w_report.status
    for i, key in enumerate(w_report.keys):
        if key not in {tuple(k) for k in r_report.keys}:
            assert ((status.iloc[i] == "zero weight") | (status.iloc[i] == "no data")).all()
            assert "zero weight" in set(status.iloc[i])
    if len(w_report.keys) == len(r_report.keys) and len(rep.y_true):
        for m in METRICS:
            a, b = w_report.difference(m), r_report.difference(m)
            assert a.value == b.value or (math.isnan(a.value) and math.isnan(b.value))
    if len(rep.y_true) and reps.min() > 0:
        y, p, sf = case.y_true, case.y_pred, case.groups
        assert demographic_parity_difference(
            y, p, sensitive_features=sf, sample_weight=reps
        ) == demographic_parity_difference(rep.y_true, rep.y_pred, sensitive_features=rep.groups)


@settings(max_examples=30, deadline=None)
@given(case=cases(min_size=1, max_size=150), data=st.data())
def test_zero_tiny_and_huge_weights_against_the_definition(case: Case, data: st.DataObject) -> None:
    n = len(case.y_true)
    w = np.array(data.draw(st.lists(WEIGHT, min_size=n, max_size=n)))
    report = weighted(case, w, ["selection_rate", "tpr", "precision"]).report()
    col = [tuple(r) for r in case.groups.to_numpy().tolist()]
    y, p = case.y_true, case.y_pred
    for metric, base, hit in [
        ("selection_rate", np.ones(n, bool), p == 1),
        ("tpr", y == 1, p == 1),
        ("precision", p == 1, y == 1),
    ]:
        for i, key in enumerate(report.keys):
            rows = np.array([c == key for c in col]) & base
            value, status = report.by_group[metric].iloc[i], report.status[metric].iloc[i]
            if not rows.any():
                assert status == "no data"
            elif w[rows].sum() == 0:
                assert status == "zero weight"
                assert math.isnan(value)
            else:
                assert status == "ok"
                assert value == pytest.approx(w[rows & hit].sum() / w[rows].sum(), rel=REL)


# ---------------------------------------------------------------- merging and chunks
@settings(max_examples=30, deadline=None)
@given(
    case=cases(min_size=1, max_size=150),
    cuts=st.lists(st.integers(0, 200), max_size=4),
    data=st.data(),
)
def test_chunks_and_merges_equal_one_pass(case: Case, cuts: list[int], data: st.DataObject) -> None:
    n = len(case.y_true)
    ints = np.array(data.draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n)), float)
    floats = np.array(data.draw(st.lists(WEIGHT, min_size=n, max_size=n)))
    for w, exact in ((ints, True), (floats, False)):
        whole = weighted(case, w)
        streamed = GroupMetrics(case.names, METRICS, min_count=1, weighted=True)
        merged = streamed.clone()
        for s in chunks(n, cuts):
            part = (case.y_true[s], case.y_pred[s], case.groups.iloc[s])
            streamed.update(*part, sample_weight=w[s])
            merged.merge(streamed.clone().update(*part, sample_weight=w[s]))
        for other in (streamed, merged):
            assert other.counts() == whole.counts()
            if exact:  # integer weights: float sums are exact, so is the state
                assert other == whole
                assert other.to_json() == whole.to_json()
            else:
                assert close(other.report().by_group, whole.report().by_group)


def test_records_one_at_a_time_equal_a_chunk_and_remove_takes_them_back() -> None:
    y, p, s = [1, 0, 1, 1, 0], [1, 1, 0, 1, 0], ["a", "a", "b", "b", "b"]
    w = [0.5, 2.0, 0.0, 3.25, 1.0]
    chunk = GroupMetrics(["g"], min_count=1, weighted=True).update(y, p, s, sample_weight=w)
    records = GroupMetrics(["g"], min_count=1, weighted=True)
    for row in zip(y, p, s, w, strict=True):
        records.update(*row)
    assert records == chunk
    records.remove(1, 1, "a", 0.5)
    records.remove([1, 0], [1, 0], ["b", "b"], sample_weight=[3.25, 1.0])
    assert records.weights() == {("a",): [0.0, 2.0, 0.0, 0.0], ("b",): [0.0, 0.0, 0.0, 0.0]}
    assert records.counts() == {("a",): [0, 1, 0, 0], ("b",): [0, 0, 1, 0]}
    # Unweighted records in a weighted GroupMetrics weigh 1.
    ones = GroupMetrics(["g"], min_count=1, weighted=True).update(y, p, s)
    assert ones.report().by_group.equals(
        GroupMetrics(["g"], min_count=1).update(y, p, s).report().by_group
    )


def test_scores_with_weights() -> None:
    gm = GroupMetrics(["g"], ["selection_rate"], threshold=0.5, bins=4, min_count=1, weighted=True)
    gm.update([1, 0, 1], [0.9, 0.6, 0.1], ["a", "a", "a"], sample_weight=[1.0, 3.0, 4.0])
    gm.update(0, 0.7, "a", sample_weight=2.0)
    assert gm.report().by_group.loc["a", "selection_rate"] == pytest.approx(6 / 10)
    assert gm.histograms()[("a",)].sum() == 4  # histograms count records
    back = GroupMetrics.from_json(gm.to_json())
    assert back == gm


# ---------------------------------------------------------------- intervals
def test_kish_effective_sample_size_and_equal_weights_give_the_plain_intervals() -> None:
    gm = GroupMetrics(["g"], ["selection_rate"], min_count=1, weighted=True)
    gm.update([0, 0, 0, 0], [1, 0, 1, 0], ["a"] * 4, sample_weight=[1.0, 1.0, 2.0, 4.0])
    r = gm.report()
    assert r.effective_counts.loc["a", "selection_rate"] == pytest.approx(64 / 22)
    assert r.weight_sums.loc["a", "selection_rate"] == 8.0
    assert r.counts.loc["a", "selection_rate"] == 4
    frame = r.to_frame()
    assert frame.loc[0, "n"] == 4
    assert frame.loc[0, "n_effective"] == pytest.approx(64 / 22)

    rng = np.random.default_rng(3)
    n = 3000
    y, p, s = rng.integers(0, 2, n), rng.integers(0, 2, n), rng.choice(["a", "b", "c"], n)
    plain = GroupMetrics(["g"]).update(y, p, s).report()
    same = GroupMetrics(["g"], weighted=True).update(y, p, s, sample_weight=np.full(n, 7.5))
    same_r = same.report()
    for a, b in zip(plain.by_group_ci, same_r.by_group_ci, strict=True):
        assert close(a, b)
    assert close(
        plain.gaps()[["lower", "upper", "p_value"]], same_r.gaps()[["lower", "upper", "p_value"]]
    )
    for method in ("between_groups", "to_overall"):
        g1, g2 = plain.difference("tpr", method=method), same_r.difference("tpr", method=method)
        assert close([g1.lower, g1.upper, g1.p_value], [g2.lower, g2.upper, g2.p_value])


def test_unequal_weights_widen_the_intervals() -> None:
    rng = np.random.default_rng(4)
    n = 4000
    y, p, s = rng.integers(0, 2, n), rng.integers(0, 2, n), rng.choice(["a", "b"], n)
    plain = GroupMetrics(["g"]).update(y, p, s).report()
    uneven = GroupMetrics(["g"], weighted=True).update(
        y, p, s, sample_weight=rng.choice([1.0, 10.0], n)
    )
    lo0, hi0 = plain.by_group_ci
    lo1, hi1 = uneven.report().by_group_ci
    assert ((hi1 - lo1) > (hi0 - lo0)).all().all()


# ---------------------------------------------------------------- zero-weight groups
def test_a_group_weighing_zero_is_undefined_not_zero() -> None:
    y, p, s = [1, 1, 1, 0, 1, 0], [1, 1, 0, 1, 1, 0], list("aabbcc")
    w = [0.0, 0.0, 1.0, 2.0, 3.0, 1.0]
    r = (
        GroupMetrics(["g"], ["selection_rate", "tpr"], min_count=1, weighted=True)
        .update(y, p, s, sample_weight=w)
        .report()
    )
    assert r.status.loc["a", "selection_rate"] == "zero weight"
    assert math.isnan(r.by_group.loc["a", "selection_rate"])
    assert "g=a" not in r.difference("selection_rate").groups
    assert r.difference("selection_rate").value == pytest.approx(0.75 - 2 / 3)
    for f in (demographic_parity_difference, equalized_odds_ratio, equal_opportunity_difference):
        with pytest.raises(SchemaError, match="sample_weight") as info:
            f(y, p, sensitive_features=s, sample_weight=w)
        assert "'sensitive_feature_0=a'" in str(info.value)
    with pytest.raises(SchemaError, match="sample_weight"):
        selection_rate(y, p, sample_weight=[0.0] * 6)


# ---------------------------------------------------------------- bad weights
BAD = [
    ([1.0, -1.0, 1.0], "range"),
    ([1.0, math.nan, 1.0], "range"),
    ([1.0, math.inf, 1.0], "range"),
    ([1.0, 1e101, 1.0], "range"),
    ([1.0, 1e-101, 1.0], "range"),
    ([1.0, 1.0], "input"),
    (["1", "2", "3"], "input"),
    ([True, False, True], "input"),
    (np.ones((3, 1)), "input"),
    ([1.0, None, 1.0], "range"),
    (pd.Series([1.0, None, 1.0]), "range"),
    ("abc", "input"),
    (3.0, "input"),
]


@pytest.mark.parametrize(("weights", "kind"), BAD)
def test_bad_weights_name_sample_weight_and_change_nothing(weights: Any, kind: str) -> None:
    gm = GroupMetrics(["g"], min_count=1, weighted=True).update(
        [1], [1], ["a"], sample_weight=[2.0]
    )
    before = gm.to_json()
    with pytest.raises(SchemaError) as info:
        gm.update([1, 0, 1], [1, 0, 0], ["a", "b", "a"], sample_weight=weights)
    assert isinstance(info.value, ProdMLError)
    assert [p.column for p in info.value.problems] == ["sample_weight"]
    assert info.value.problems[0].kind == kind
    assert gm.to_json() == before
    with pytest.raises(SchemaError, match="sample_weight"):
        demographic_parity_difference(
            [1, 0, 1], [1, 0, 0], sensitive_features=["a", "b", "a"], sample_weight=weights
        )


@pytest.mark.parametrize("weight", [-1.0, math.nan, math.inf, "2", None, True, [1.0]])
def test_bad_record_weights(weight: Any) -> None:
    gm = GroupMetrics(["g"], min_count=1, weighted=True)
    with pytest.raises(SchemaError, match="sample_weight"):
        gm.update_record(1, 1, "a", weight if weight is not None else math.nan)
    assert gm.count == 0


def test_weights_need_a_weighted_group_metrics() -> None:
    gm = GroupMetrics(["g"], min_count=1)
    with pytest.raises(ConfigError, match="weighted=True") as info:
        gm.update([1, 0], [1, 0], ["a", "b"], sample_weight=[1.0, 2.0])
    assert info.value.parameter == "sample_weight"
    with pytest.raises(ConfigError, match="weighted=True"):
        gm.update(1, 1, "a", sample_weight=2.0)
    with pytest.raises(ConfigError, match="weighted=True"):
        gm.weights()
    assert gm.count == 0
    with pytest.raises(ConfigError, match="weighted"):
        gm.merge(GroupMetrics(["g"], min_count=1, weighted=True))
    with pytest.raises(ConfigError, match="weighted"):
        GroupMetrics(["g"], min_count=1, weighted=True).merge(gm)
    with pytest.raises(ConfigError, match="auc"):
        GroupMetrics(["g"], ["auc"], threshold=0.5, weighted=True)
    with pytest.raises(ConfigError, match="weighted"):
        GroupMetrics(["g"], weighted="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------- saved state
def test_state_unweighted_is_unchanged_and_weighted_says_so() -> None:
    plain = GroupMetrics(["g"], min_count=1).update([1, 0], [1, 1], ["a", "b"])
    d = plain.to_dict()
    assert "weighted" not in d["config"]
    assert "weights" not in d["state"]
    assert GroupMetrics.from_dict(d) == plain
    gm = GroupMetrics(["g"], min_count=1, weighted=True).update(
        [1, 0], [1, 1], ["a", "b"], sample_weight=[0.25, 3.0]
    )
    d = json.loads(gm.to_json())
    assert d["config"]["weighted"] is True
    assert d["state"]["weights"] == [[0.0, 0.0, 0.0, 0.25], [0.0, 3.0, 0.0, 0.0]]
    assert d["state"]["weights_squared"] == [[0.0, 0.0, 0.0, 0.0625], [0.0, 9.0, 0.0, 0.0]]
    back = GroupMetrics.from_dict(d)
    assert back == gm
    assert back.weighted
    assert back.report().by_group.equals(gm.report().by_group)


def _weighted_state() -> dict[str, Any]:
    gm = GroupMetrics(["g"], min_count=1, weighted=True)
    return json.loads(gm.update([1, 0], [1, 1], ["a", "b"], sample_weight=[0.5, 2.0]).to_json())


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["state"]["weights"][0].__setitem__(3, -1.0), "state.weights[0][3]"),
        (lambda d: d["state"]["weights"][0].__setitem__(3, "x"), "state.weights[0][3]"),
        (lambda d: d["state"]["weights"][0].__setitem__(0, 1.0), "state.weights[0][0]"),
        (
            lambda d: d["state"]["weights_squared"][0].__setitem__(3, 0.0),
            "state.weights_squared[0][3]",
        ),
        (lambda d: d["state"].pop("weights_squared"), "state.weights_squared"),
        (lambda d: d["state"]["weights"].pop(), "state.weights"),
        (lambda d: d["config"].pop("weighted"), "state.weights"),
        (lambda d: d["config"].__setitem__("weighted", 1), "config.weighted"),
    ],
)
def test_hostile_weighted_state_is_refused(edit: Any, field: str) -> None:
    d = _weighted_state()
    edit(d)
    with pytest.raises(ConfigError) as info:
        GroupMetrics.from_dict(d)
    assert info.value.parameter == field


# ---------------------------------------------------------------- gates
def test_gate_on_weighted_data_uses_effective_counts_and_refuses_bare_numbers() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    s = rng.choice(["F", "M"], n)
    y = np.ones(n, dtype=int)
    p = (rng.random(n) < np.where(s == "F", 0.6, 0.9)).astype(int)
    w = rng.choice([0.5, 1.0, 4.0], n)
    gm = GroupMetrics(["sex"], ["tpr"], weighted=True).update(y, p, s, sample_weight=w)
    gate = FairnessGate("tpr", max_difference=0.05)
    verdict = gate.evaluate(gm)
    assert verdict["verdict"] == "fail"
    assert verdict["candidate"] == pytest.approx(gm.report().difference("tpr").value)
    assert verdict["n_candidate"] == pytest.approx(gm.report().effective_counts["tpr"].sum())
    assert gate.evaluate(gm.report()) == verdict
    numbers = gm.report().to_metrics()
    assert numbers["weighted"] == 1.0
    assert not [k for k in numbers if k.startswith("confusion[")]
    with pytest.raises(ConfigError, match="weighted"):
        gate.evaluate(numbers)
    reason = gate(SimpleNamespace(name="m", version=1, metrics=numbers), None)
    assert reason is not None
    assert "weighted" in reason


def test_a_batch_counted_in_slices_equals_one_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    from prodml.fairness import _chunks

    rng = np.random.default_rng(6)
    n = 200
    y, p, s = rng.integers(0, 2, n), rng.integers(0, 2, n), rng.choice(["a", "b", "c"], n)
    w = rng.integers(0, 50, n).astype(float)
    whole = GroupMetrics(["g"], weighted=True).update(y, p, s, sample_weight=w)
    monkeypatch.setattr(_chunks, "_SLICE", 7)
    sliced = GroupMetrics(["g"], weighted=True).update(y, p, s, sample_weight=w)
    assert sliced == whole
    bad = w.copy()
    bad[150] = -1.0
    with pytest.raises(SchemaError, match="sample_weight"):
        sliced.update(y, p, s, sample_weight=bad)
    assert sliced == whole


def test_weighted_records_follow_the_policies() -> None:
    gm = GroupMetrics(["g"], min_count=1, weighted=True, missing="drop", max_groups=1)
    gm.update_record(1, 0, None, 2.0)
    gm.update([1, 0], [1, 1], [None, "a"], sample_weight=[5.0, 0.5])
    assert gm.dropped == {"g": 2}
    assert gm.weights() == {("a",): [0.0, 0.5, 0.0, 0.0]}
    with pytest.raises(SchemaError):
        gm.update_record(1, 1, "b", 1.0)  # a second group, beyond max_groups
    with pytest.raises(SchemaError, match="never added"):
        gm.remove_record(1, 1, "a", 0.5)
    assert gm.weights() == {("a",): [0.0, 0.5, 0.0, 0.0]}
    assert gm.count == 1


def test_kish_intervals_cover_the_weighted_rate_and_counting_records_would_not() -> None:
    """Weights that go with the outcome: the Kish interval keeps its 95 %, records do not."""
    rng = np.random.default_rng(7)
    n, reps = 200, 600
    big = rng.lognormal(0.0, 1.0, 2_000_000)
    target = float((big * (0.2 + 0.3 * (big > 1))).sum() / big.sum())
    kish = plain = 0
    for _ in range(reps):
        w = rng.lognormal(0.0, 1.0, n)
        y = np.ones(n, dtype=int)
        p = (rng.random(n) < 0.2 + 0.3 * (w > 1)).astype(int)
        r = GroupMetrics(["g"], ["tpr"], weighted=True).update(y, p, ["a"] * n, sample_weight=w)
        lo, hi = (b.loc["a", "tpr"] for b in r.report().by_group_ci)
        kish += lo <= target <= hi
        # The same interval on the record count, as if the weights were not there.
        value = r.report().by_group.loc["a", "tpr"]
        lo2, hi2 = stats.wilson_interval(value * n, n)
        plain += lo2 <= target <= hi2
    assert 0.92 <= kish / reps <= 0.975
    assert plain / reps < 0.85
