"""GroupMetrics: record and chunk updates agree, merge equals one pass, inputs and policies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, SchemaError
from prodml.fairness import GroupMetrics

from .conftest import Case, cases, chunks


def one_pass(case: Case, **kw: object) -> GroupMetrics:
    return GroupMetrics(case.names, **kw).update(case.y_true, case.y_pred, case.groups)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(case=cases(), cuts=st.lists(st.integers(0, 400), max_size=5), scores=st.booleans())
def test_merge_of_chunks_equals_one_pass(case: Case, cuts: list[int], scores: bool) -> None:
    kw: dict[str, object] = {"threshold": 0.5, "bins": 7} if scores else {}
    if scores:
        case.y_pred = np.random.default_rng(len(case.y_true)).random(len(case.y_true))
    whole = one_pass(case, **kw)
    parts = [
        GroupMetrics(case.names, **kw).update(  # type: ignore[arg-type]
            case.y_true[s], case.y_pred[s], case.groups.iloc[s]
        )
        for s in chunks(len(case.y_true), cuts)
    ]
    merged = GroupMetrics(case.names, **kw)  # type: ignore[arg-type]
    for p in reversed(parts):  # order does not matter
        merged.merge(p)
    assert merged == whole
    assert merged.to_dict() == whole.to_dict()
    assert merged.count == len(case.y_true)


@settings(max_examples=40, deadline=None)
@given(case=cases(max_size=120))
def test_record_updates_equal_the_chunk_update(case: Case) -> None:
    whole = one_pass(case)
    by_record = GroupMetrics(case.names)
    rows = case.groups.to_dict(orient="records")
    for y, p, row in zip(case.y_true.tolist(), case.y_pred.tolist(), rows, strict=True):
        by_record.update(y, p, row)
    assert by_record == whole
    tuples = GroupMetrics(case.names)
    for y, p, row in zip(case.y_true, case.y_pred, rows, strict=True):  # numpy scalars
        tuples.update_record(y, p, tuple(row.values()))
    assert tuples == whole


@settings(max_examples=40, deadline=None)
@given(case=cases(max_size=150), cut=st.integers(0, 150))
def test_remove_takes_back_exactly_what_was_added(case: Case, cut: int) -> None:
    cut = min(cut, len(case.y_true))
    head = GroupMetrics(case.names).update(
        case.y_true[:cut], case.y_pred[:cut], case.groups.iloc[:cut]
    )
    whole = one_pass(case)
    whole.remove(case.y_true[cut:], case.y_pred[cut:], case.groups.iloc[cut:])
    assert whole.counts() == dict(head.counts()) | {
        k: [0, 0, 0, 0] for k in whole.counts() if k not in head.counts()
    }


def test_scores_keep_histograms_and_records_match_chunks() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = rng.random(500)
    sex = rng.choice(["F", "M"], 500)
    chunk = GroupMetrics(["sex"], ["tpr", "auc"], threshold=0.3, bins=10).update(y, s, sex)
    rec = GroupMetrics(["sex"], ["tpr", "auc"], threshold=0.3, bins=10)
    for a, b, c in zip(y.tolist(), s.tolist(), sex.tolist(), strict=True):
        rec.update_record(a, b, c)
    assert rec == chunk
    hist = chunk.histograms()[("F",)]
    f = sex == "F"
    expected_pos = np.bincount(np.minimum((s[f & (y == 1)] * 10).astype(int), 9), minlength=10)
    assert hist.shape == (2, 10)
    assert hist[1].tolist() == expected_pos.tolist()
    _, _, _, tp = chunk.counts()[("F",)]
    assert tp == int(((s >= 0.3) & (y == 1) & f).sum())
    rec.remove_record(int(y[0]), float(s[0]), (str(sex[0]),))
    assert rec.count == 499


def test_remove_of_records_never_added_is_refused_and_changes_nothing() -> None:
    gm = GroupMetrics(["sex"]).update([1, 0], [1, 1], ["F", "M"])
    before = gm.to_dict()
    with pytest.raises(SchemaError, match="never added"):
        gm.remove([1, 1], [1, 1], ["F", "F"])
    with pytest.raises(SchemaError, match="never added"):
        gm.remove_record(0, 0, ("F",))
    with pytest.raises(SchemaError, match="never added"):
        gm.remove_record(1, 1, ("X",))
    assert gm.to_dict() == before


def test_every_kind_of_groups_input_gives_the_same_counts() -> None:
    y = np.array([1, 0, 1, 1, 0, 0])
    p = np.array([1, 1, 0, 1, 0, 1])
    sex = ["F", "F", "M", "M", "F", "M"]
    age = [1, 2, 1, 2, 1, 2]
    ref = GroupMetrics(["sex", "age"]).update(y, p, pd.DataFrame({"sex": sex, "age": age}))
    inputs = [
        {"sex": sex, "age": age},
        {"sex": np.array(sex), "age": np.array(age), "other": np.zeros(6)},
        pd.DataFrame({"age": age, "sex": pd.array(sex, dtype="str")}),
        pd.DataFrame({"sex": pd.Categorical(sex), "age": age}),
        pa.table({"sex": sex, "age": age}),
        np.array(list(zip(sex, age, strict=True)), dtype=object),
    ]
    for groups in inputs:
        gm = GroupMetrics(["sex", "age"]).update(y.tolist(), pd.Series(p), groups)
        assert gm == ref, type(groups)
    one = GroupMetrics(["sex"]).update(y, p, pd.Series(sex))
    assert one == GroupMetrics(["sex"]).update(y, p, {"sex": sex})
    assert one == GroupMetrics(["sex"]).update(y.astype(bool), p.astype(float), tuple(sex))


def test_bad_labels_and_scores_name_the_column_and_row() -> None:
    gm = GroupMetrics(["sex"])
    with pytest.raises(SchemaError, match=r"y_true.*0 or 1.*2.*row 1") as err:
        gm.update([1, 2], [1, 0], ["F", "M"])
    assert err.value.column == "y_true"
    with pytest.raises(SchemaError, match=r"y_pred.*0 or 1.*0.5"):
        gm.update([1, 0], [1, 0.5], ["F", "M"])
    with pytest.raises(SchemaError, match=r"y_true.*missing"):
        gm.update(pd.Series([1.0, None]), [1, 0], ["F", "M"])
    with pytest.raises(SchemaError, match=r"y_pred.*number"):
        gm.update([1, 0], ["yes", "no"], ["F", "M"])
    with pytest.raises(SchemaError, match=r"y_true.*0 or 1"):
        gm.update(3, 1, "F")
    with pytest.raises(SchemaError, match=r"y_pred.*0 or 1"):
        gm.update(1, "1", "F")
    scored = GroupMetrics(["sex"], threshold=0.5)
    with pytest.raises(SchemaError, match=r"y_pred.*score in \[0, 1\].*1.5"):
        scored.update([1, 0], [0.2, 1.5], ["F", "M"])
    with pytest.raises(SchemaError, match=r"y_pred.*score in \[0, 1\]"):
        scored.update(1, float("nan"), "F")
    with pytest.raises(SchemaError, match="lengths must match"):
        gm.update([1, 0, 1], [1, 0], ["F", "M", "F"])
    with pytest.raises(SchemaError, match=r"'sex'.*lengths must match"):
        gm.update([1, 0], [1, 0], ["F"])
    assert gm.count == 0
    assert scored.count == 0


def test_missing_sensitive_column_and_bad_values_are_named() -> None:
    gm = GroupMetrics(["sex", "age"])
    with pytest.raises(SchemaError, match=r"age.*sensitive column is missing") as err:
        gm.update([1], [1], pd.DataFrame({"sex": ["F"]}))
    assert err.value.column == "age"
    with pytest.raises(SchemaError, match=r"sex.*str, int, bool or finite float.*list"):
        gm.update(1, 1, {"sex": ["F"], "age": 3})
    with pytest.raises(SchemaError, match="2 values"):
        gm.update(1, 1, ("F",))
    with pytest.raises(SchemaError, match="DataFrame, a dict of columns or a 2-D array"):
        gm.update([1], [1], ["F"])
    with pytest.raises(SchemaError, match=r"sex.*hashable"):
        gm.update([1], [1], {"sex": np.array([{"a": 1}], dtype=object), "age": [1]})
    long = "x" * 10_000
    with pytest.raises(SchemaError) as err:
        GroupMetrics(["sex"], categories={"sex": ["F"]}).update(1, 1, long)
    assert len(str(err.value)) < 400  # quotes a prefix, never the whole value


@pytest.mark.parametrize("chunked", [True, False])
def test_missing_values_follow_the_policy(chunked: bool) -> None:
    y, p = [1, 0, 1, 1], [1, 1, 0, 1]
    sex = ["F", None, "M", float("nan")]

    def run(gm: GroupMetrics) -> GroupMetrics:
        if chunked:
            return gm.update(y, p, {"sex": sex})
        for a, b, c in zip(y, p, sex, strict=True):
            gm.update(a, b, {"sex": c})
        return gm

    with pytest.raises(SchemaError, match=r"sex.*missing") as err:
        run(GroupMetrics(["sex"]))
    assert err.value.column == "sex"
    if chunked:
        assert err.value.problems[0].row == 1
    grouped = run(GroupMetrics(["sex"], missing="group", min_count=1))
    assert grouped.counts()[(None,)] == [0, 1, 0, 1]
    assert "<missing>" in grouped.report().by_group.index
    dropped = run(GroupMetrics(["sex"], missing="drop"))
    assert dropped.count == 2
    assert dropped.dropped == {"sex": 2}


@pytest.mark.parametrize("chunked", [True, False])
def test_unseen_values_follow_the_policy(chunked: bool) -> None:
    y, p = [1, 0, 1], [1, 1, 0]
    band = ["18-30", "31-50", "90+"]

    def run(gm: GroupMetrics) -> GroupMetrics:
        if chunked:
            return gm.update(y, p, {"age": band})
        for a, b, c in zip(y, p, band, strict=True):
            gm.update(a, b, {"age": c})
        return gm

    declared = {"age": ["18-30", "31-50"]}
    with pytest.raises(SchemaError, match=r"age.*'90\+' is not one of the declared") as err:
        run(GroupMetrics(["age"], categories=declared))
    assert err.value.column == "age"
    other = run(GroupMetrics(["age"], categories=declared, unseen="group"))
    assert other.counts()[("<other>",)] == [0, 0, 1, 0]
    dropped = run(GroupMetrics(["age"], categories=declared, unseen="drop"))
    assert dropped.dropped == {"age": 1}
    assert dropped.count == 2


def test_a_failed_chunk_changes_nothing() -> None:
    gm = GroupMetrics(["sex"], max_groups=2).update([1], [1], ["F"])
    before = gm.to_dict()
    with pytest.raises(SchemaError):
        gm.update([1, 0, 1], [1, 0, 1], ["F", "M", None])  # a missing value at the end
    with pytest.raises(SchemaError, match="max_groups=2"):
        gm.update([1, 0, 1], [1, 0, 1], ["F", "M", "X"])  # a third group
    assert gm.to_dict() == before
    gm.update([0], [0], ["M"])
    with pytest.raises(SchemaError, match=r"max_groups=2.*sex=X"):
        gm.update(1, 1, "X")


def test_marginal_reports_sum_over_the_other_features() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], 400), "age": rng.integers(0, 3, 400)})
    y, p = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    both = GroupMetrics(["sex", "age"], min_count=1).update(y, p, df)
    marginal = GroupMetrics(["sex"], min_count=1).update(y, p, df)
    pd.testing.assert_frame_equal(both.report(by="sex").by_group, marginal.report().by_group)
    with pytest.raises(ConfigError, match="by"):
        both.report(by=["income"])


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"sensitive": "sex"}, "sensitive"),
        ({"sensitive": []}, "sensitive"),
        ({"sensitive": ["a", "a"]}, "sensitive"),
        ({"metrics": ["tpr", "nope"]}, "metrics"),
        ({"metrics": ["auc"]}, "metrics"),
        ({"threshold": 1.5}, "threshold"),
        ({"bins": 0}, "bins"),
        ({"missing": "ignore"}, "missing"),
        ({"unseen": "keep"}, "unseen"),
        ({"categories": {"income": ["x"]}}, "categories"),
        ({"categories": {"sex": [None]}}, "categories"),
        ({"categories": {"sex": ["<other>"]}}, "categories"),
        ({"max_groups": 0}, "max_groups"),
        ({"alpha": 1.0}, "alpha"),
        ({"min_count": -1}, "min_count"),
        ({"min_effect": 2.0}, "min_effect"),
        ({"correction": "fdr"}, "correction"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, object], parameter: str) -> None:
    args: dict[str, object] = {"sensitive": ["sex"], **kwargs}
    with pytest.raises(ConfigError) as err:
        GroupMetrics(**args)  # type: ignore[arg-type]
    assert err.value.parameter == parameter


def test_fairlearn_names_are_accepted_as_written() -> None:
    gm = GroupMetrics(["sex"], ["true_positive_rate", "recall_score"], min_count=1)
    r = gm.update([1, 1, 1, 0], [1, 0, 1, 0], ["F", "F", "M", "M"]).report()
    assert list(r.by_group.columns) == ["true_positive_rate", "recall_score"]
    assert r.difference("tpr").value == pytest.approx(0.5)


def test_merge_refuses_other_settings_and_types() -> None:
    gm = GroupMetrics(["sex"])
    with pytest.raises(ConfigError, match="min_count"):
        gm.merge(GroupMetrics(["sex"], min_count=5))
    with pytest.raises(ConfigError, match="needs a GroupMetrics"):
        gm.merge({"sex": 1})  # type: ignore[arg-type]
    a = GroupMetrics(["sex"], max_groups=2).update([1, 1], [1, 1], ["F", "M"])
    b = GroupMetrics(["sex"], max_groups=2).update([1], [1], ["X"])
    before = a.to_dict()
    with pytest.raises(SchemaError, match="max_groups=2"):
        a.merge(b)
    assert a.to_dict() == before
    with pytest.raises(ConfigError, match="no score histograms"):
        a.histograms()


@settings(max_examples=40, deadline=None)
@given(case=cases(), scores=st.booleans(), size=st.integers(1, 50))
def test_large_chunks_counted_in_slices_equal_one_slice(
    case: Case, scores: bool, size: int
) -> None:
    from unittest import mock

    from prodml.fairness import _chunks

    kw: dict[str, object] = {"threshold": 0.5, "bins": 5, "missing": "drop"} if scores else {}
    if scores:
        case.y_pred = np.random.default_rng(size).random(len(case.y_true))
    groups = case.groups.astype(object)
    groups.iloc[::9, 0] = None  # some missing values, dropped when scores are on
    whole = GroupMetrics(case.names, **kw)  # type: ignore[arg-type]
    if not scores:
        groups = case.groups
    whole.update(case.y_true, case.y_pred, groups)
    with mock.patch.object(_chunks, "_SLICE", size):
        sliced = GroupMetrics(case.names, **kw).update(case.y_true, case.y_pred, groups)  # type: ignore[arg-type]
        assert sliced == whole
        bad = groups.astype(object)
        bad.iloc[-1, 0] = complex(1, 1)  # a bad value in the last slice: nothing is counted
        before = sliced.to_dict()
        with pytest.raises(SchemaError, match="s0"):
            sliced.update(case.y_true, case.y_pred, bad)
        assert sliced.to_dict() == before
