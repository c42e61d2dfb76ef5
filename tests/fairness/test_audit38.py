"""fairmon38: group values that Python deems equal across types, and the equalized odds
functions' ``agg="mean"`` (and ``"worst_case"``) where a rate or a ratio is undefined.

fairlearn (0.13+) is the reference: its ``MetricFrame`` groups with pandas, which merges
``True``, ``1`` and ``1.0`` into one group labelled by whichever row came first; prodml
refuses such a column, naming it, in every path (batch, record, merge, Dask, saved state).
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, SchemaError
from prodml.fairness import (
    GroupMetrics,
    _chunks,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)
from prodml.monitoring import ModelMonitor

from .conftest import Case, cases

fairlearn = pytest.importorskip("fairlearn.metrics", reason="parity needs fairlearn (test extra)")

Y = np.array([1, 0, 1, 1, 0, 1])
P = np.array([1, 0, 0, 1, 1, 1])
COLLIDING = [
    (True, 1),
    (1, True),
    (True, 1.0),
    (np.True_, 1),
    (False, 0),
    (0.0, False),
]


def _gm(**kw: Any) -> GroupMetrics:
    return GroupMetrics(["s"], ["selection_rate", "tpr"], min_count=1, **kw)


def _quiet(f: Any, *args: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kw)


# ---------------------------------------------------------------- colliding labels
def test_fairlearn_merges_true_and_1_under_the_first_label() -> None:
    # The reference's behaviour, which prodml refuses rather than copy: one group, its
    # label decided by the order of the rows.
    g1 = np.array([True, 1, 1.0, "a", True, 0], dtype=object)
    g2 = np.array([1, True, 1.0, "a", True, 0], dtype=object)
    by1 = _quiet(fairlearn.MetricFrame, metrics=fairlearn.selection_rate, y_true=Y, y_pred=P,
                 sensitive_features=g1).by_group  # fmt: skip
    by2 = _quiet(fairlearn.MetricFrame, metrics=fairlearn.selection_rate, y_true=Y, y_pred=P,
                 sensitive_features=g2).by_group  # fmt: skip
    assert len(by1) == len(by2) == 3
    assert any(v is True for v in by1.index)
    assert not any(v is True for v in by2.index)


@pytest.mark.parametrize(("first", "second"), COLLIDING)
def test_a_batch_with_equal_values_of_two_types_is_refused_naming_the_column(
    first: object, second: object
) -> None:
    g = np.array([first, "x", second, "x", first, second], dtype=object)
    gm = _gm()
    gm.update([1, 0], [1, 0], {"s": ["x", "y"]})
    before = gm.to_dict()
    with pytest.raises(SchemaError, match="seen in this column") as err:
        gm.update(Y, P, {"s": g})
    assert err.value.problems[0].column == "s"
    assert err.value.problems[0].row == 2
    assert gm.to_dict() == before  # all or nothing


@pytest.mark.parametrize(
    "values",
    [
        [True, 0, True, 0, True, 2],  # True != 0 and != 2: no collision
        ["a", 1, "a", 1, "b", 2],  # strings never equal numbers
        [np.True_, True, False, np.False_, True, False],  # one type
        [np.int64(3), 3, np.int32(3), 4, 4, 3],  # one type, numpy or not
        [1.5, 2.5, 1.5, 2.5, 1.5, 2.5],
        [1, 1.0, 2, 2.0, np.float64(1.0), np.int64(2)],  # numbers of any type: one value each
    ],
)
def test_values_of_one_type_or_unequal_ones_stay_apart_as_in_fairlearn(values: list) -> None:
    g = np.array(values, dtype=object)
    report = _gm().update(Y, P, {"s": g}).report()
    theirs = _quiet(fairlearn.MetricFrame, metrics=fairlearn.selection_rate, y_true=Y,
                    y_pred=P, sensitive_features=g).by_group  # fmt: skip
    assert len(report.by_group) == len(theirs)
    for key, value in theirs.items():
        assert report.by_group.loc[key, "selection_rate"] == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize(("first", "second"), COLLIDING)
def test_a_record_equal_to_a_group_of_another_type_is_refused(
    first: object, second: object
) -> None:
    gm = _gm()
    gm.update_record(1, 1, {"s": first})
    before = gm.to_dict()
    for groups in ({"s": second}, (second,), second):
        with pytest.raises(SchemaError, match="seen in this column") as err:
            gm.update_record(1, 0, groups)
        assert err.value.problems[0].column == "s"
        with pytest.raises(SchemaError):
            gm.remove_record(1, 1, groups)
        with pytest.raises(SchemaError):
            gm.group_of(groups)
    assert gm.to_dict() == before


def test_numpy_scalars_join_the_group_of_their_python_type() -> None:
    gm = _gm()
    for v in (True, np.True_, np.bool_(1)):
        gm.update_record(1, 1, {"s": v})
    for v in (7, np.int64(7), np.int8(7)):
        gm.update_record(1, 1, {"s": v})
    assert gm.counts() == {(True,): [0, 0, 0, 3], (7,): [0, 0, 0, 3]}


def test_a_merge_of_equal_values_of_two_types_is_refused_and_changes_nothing() -> None:
    a = _gm().update([1, 0], [1, 1], {"s": np.array([True, False])})
    b = _gm().update([1, 0], [1, 1], {"s": np.array([1, 2])})
    before = a.to_dict()
    with pytest.raises(SchemaError, match="seen in this column"):
        a.merge(b)
    assert a.to_dict() == before
    # In the other order too: merge(a, b) and merge(b, a) both refuse.
    with pytest.raises(SchemaError):
        b.merge(a)


def test_equal_values_in_two_slices_of_a_large_chunk_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(_chunks, "_SLICE", 4)
    g = pd.Series([True, True, False, True, 1, 1], dtype=object)
    with pytest.raises(SchemaError, match="seen in this column"):
        _gm().update(Y, P, {"s": g})
    # Each slice alone is one type; the int 1 collides with the bool of the first slice.
    g2 = pd.Series([True, True, False, True, 2, 3], dtype=object)
    assert set(_gm().update(Y, P, {"s": g2}).counts()) == {(True,), (False,), (2,), (3,)}


def test_a_marginal_report_never_merges_two_groups() -> None:
    gm = GroupMetrics(["s", "t"], ["selection_rate"], min_count=1)
    gm.update_record(1, 1, {"s": True, "t": "a"})
    with pytest.raises(SchemaError) as err:
        gm.update_record(1, 0, {"s": 1, "t": "b"})  # another group, but s=1 is s=True
    assert err.value.problems[0].column == "s"
    assert gm.report(by="s").by_group.shape[0] == 1


def test_saved_state_with_colliding_group_values_is_refused() -> None:
    gm = GroupMetrics(["s", "t"], ["selection_rate"], min_count=1)
    gm.update([1, 0], [1, 1], {"s": np.array([True, False]), "t": ["a", "b"]})
    data = gm.to_dict()
    assert GroupMetrics.from_dict(copy.deepcopy(data)) == gm
    for extra in ([1, "c"], [0.0, "a"]):
        bad = copy.deepcopy(data)
        bad["state"]["groups"].append(extra)
        bad["state"]["confusion"].append([0, 0, 0, 1])
        with pytest.raises(ConfigError, match=r"state\.groups\[2\]\[0\]"):
            GroupMetrics.from_dict(bad)


def test_declared_categories_fix_the_type_of_their_values() -> None:
    with pytest.raises(ConfigError, match="categories of 's' mix equal values"):
        _gm(categories={"s": [True, 1]})
    gm = _gm(categories={"s": [1, 2]}, unseen="group")
    gm.update_record(1, 1, {"s": 2})
    gm.update_record(1, 1, {"s": 5})  # unseen: the <other> group
    gm.update_record(1, 1, {"s": 2.0})  # a number equal to a category: that category
    labels = [v for v in gm.report().by_group.index if v != "<other>"]
    assert labels == [2]  # one group for 2 and 2.0, labelled as declared
    assert type(labels[0]) is int
    for value in (True, np.True_):
        with pytest.raises(SchemaError, match="seen in this column"):
            gm.update_record(1, 1, {"s": value})
        with pytest.raises(SchemaError, match="seen in this column"):
            gm.update([1], [1], {"s": np.array([value], dtype=object)})


def test_groups_forgotten_as_idle_free_their_values_type() -> None:
    gm = _gm(max_groups=2)
    gm.update_record(1, 1, {"s": 1})
    gm.remove_record(1, 1, {"s": 1})
    assert gm._drop_idle(set()) == 1
    gm.update_record(1, 1, {"s": True})
    assert gm.counts() == {(True,): [0, 0, 0, 1]}


def test_a_monitor_refuses_a_record_whose_group_value_collides() -> None:
    mon = ModelMonitor("m", group_by=["s"], evaluate_every_s=None, clock=lambda: 0.0)
    mon.log_prediction(1, None, 0.9, groups={"s": True})
    with pytest.raises(SchemaError, match="seen in this column"):
        mon.log_prediction(2, None, 0.9, groups={"s": 1})
    assert mon.pending_count == 1
    assert mon.log_label(1, 1) is True
    data = mon.to_dict()
    data["state"]["groups"]["window"].append([0.0, [1], 1, 0.9])
    with pytest.raises(ConfigError, match=r"state\.groups"):
        ModelMonitor.from_dict(data, clock=lambda: 0.0)


def test_dask_partitions_with_equal_values_of_two_types_are_refused() -> None:
    dask = pytest.importorskip("dask", reason="needs the 'dask' extra")
    dd = pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
    pdask = pytest.importorskip("prodml.integrations.dask")
    df = pd.DataFrame({"y": Y, "p": P, "s": pd.Series([True, False, True, 1, 2, 1], dtype=object)})
    gm = _gm()
    # Dask turns object columns into strings by default ("True", "1": no collision);
    # kept as objects, each partition is one type and their merge refuses.
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(df, npartitions=2)
        with pytest.raises(SchemaError, match="seen in this column"):
            pdask.group_metrics(gm, ddf, y_true="y", y_pred="p")
    assert gm.count == 0


# ---------------------------------------------------------------- equalized odds
def test_equalized_odds_ratio_mean_skips_a_0_over_0_component_as_fairlearn() -> None:
    # fpr is 0 in every group (0/0 ratio): the mean was nan, fairlearn's is the tpr ratio.
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    g = np.array(list("aaaabbbb"))
    for method in ("between_groups", "to_overall"):
        theirs = _quiet(fairlearn.equalized_odds_ratio, y, p, sensitive_features=g,
                        method=method, agg="mean")  # fmt: skip
        ours = equalized_odds_ratio(y, p, sensitive_features=g, method=method, agg="mean")
        assert ours == pytest.approx(theirs, abs=1e-12)
        assert not math.isnan(ours)


@pytest.mark.parametrize(
    "fn",
    [
        equalized_odds_difference,
        equalized_odds_ratio,
        equal_opportunity_difference,
        equal_opportunity_ratio,
    ],
)
@pytest.mark.parametrize("agg", ["worst_case", "mean"])
def test_a_group_without_positives_is_refused_not_counted_as_a_0_rate(fn: Any, agg: str) -> None:
    # Group b has no actual positives: fairlearn says its tpr is 0 (0.583 = mean of a
    # 0.5 tpr gap to that invented 0 and the fpr gap); the mean was nan, the worst case
    # a number computed without b.
    y, p, g = [1, 0, 1, 0, 0, 0], [1, 0, 0, 1, 0, 1], list("aaabbb")
    kw = {"agg": agg} if "odds" in fn.__name__ else {}
    with pytest.raises(SchemaError, match="'s=b' has no actual positives") as err:
        fn(y, p, sensitive_features=pd.Series(g, name="s"), **kw)
    assert err.value.problems[0].column == "y_true"


@pytest.mark.parametrize("agg", ["worst_case", "mean"])
def test_a_group_without_negatives_is_refused_by_equalized_odds(agg: str) -> None:
    y, p, g = [1, 0, 1, 1, 1, 1], [1, 0, 0, 1, 0, 1], list("aaabbb")
    with pytest.raises(SchemaError, match="'s=b' has no actual negatives"):
        equalized_odds_difference(y, p, sensitive_features=pd.Series(g, name="s"), agg=agg)
    # equal opportunity needs positives only: defined, fairlearn's number
    ours = equal_opportunity_difference(y, p, sensitive_features=g)
    assert ours == _quiet(fairlearn.equal_opportunity_difference, y, p, sensitive_features=g)


def _defined(case: Case) -> bool:
    """Every group has actual positives and actual negatives."""
    gm = GroupMetrics(case.names, ["tpr"], min_count=1).update(
        case.y_true, case.y_pred, case.groups
    )
    return all(c[0] + c[1] > 0 and c[2] + c[3] > 0 for c in gm.counts().values())


@settings(max_examples=60, deadline=None)
@given(
    case=cases(min_size=2, max_size=120),
    method=st.sampled_from(["between_groups", "to_overall"]),
    agg=st.sampled_from(["worst_case", "mean"]),
    kind=st.sampled_from(["difference", "ratio"]),
)
def test_equalized_odds_equal_fairlearns_or_refuse(
    case: Case, method: str, agg: str, kind: str
) -> None:
    y, p, sf = case.y_true, case.y_pred, case.groups
    ours_fn = equalized_odds_difference if kind == "difference" else equalized_odds_ratio
    theirs_fn = getattr(fairlearn, f"equalized_odds_{kind}")
    if not _defined(case):
        with pytest.raises(SchemaError, match="has no actual"):
            ours_fn(y, p, sensitive_features=sf, method=method, agg=agg)
        return
    ours = ours_fn(y, p, sensitive_features=sf, method=method, agg=agg)
    theirs = _quiet(theirs_fn, y, p, sensitive_features=sf, method=method, agg=agg)
    n_groups = len(GroupMetrics(case.names, ["tpr"]).update(y, p, sf).groups)
    if n_groups < 2 and method == "between_groups":  # no gap: nan (fairlearn: 0 and 1)
        assert math.isnan(ours)
        return
    frame = _quiet(fairlearn.MetricFrame, metrics={"tpr": fairlearn.true_positive_rate,
                   "fpr": fairlearn.false_positive_rate}, y_true=y, y_pred=p,
                   sensitive_features=sf)  # fmt: skip
    if agg == "worst_case" and kind == "ratio" and math.isnan(frame.ratio(method=method)["tpr"]):
        # fairlearn's min() over [nan, fpr_ratio] is nan (order-dependent builtin min);
        # prodml takes the defined component, as its mean (and fairlearn's) does.
        assert math.isnan(theirs)
        assert ours == pytest.approx(frame.ratio(method=method)["fpr"], abs=1e-12)
        return
    if math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)
