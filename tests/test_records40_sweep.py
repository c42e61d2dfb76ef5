"""Every datetime-ish value a record can carry, through validate, the record and the batch.

numpy ``datetime64`` of every unit (``Y``, ``M`` and ``W`` to ``as``), dates, ``NaT``
and ``pd.NaT``, datetimes and Timestamps with ``fold=1``, zones of ``zoneinfo``,
``dateutil``, ``pytz`` and fixed offsets, ISO strings with ``Z``: ``Schema.validate`` of
the record and of its one-row DataFrame, ``transform_record`` and ``transform`` give one
answer (the same accept/refuse and the same kind of problem; equal rows when accepted).

Two differences are designed, and pinned here as such: a null passes validate (the
column is nullable) and is refused by ``DateParts``, by both paths alike; an aware value
in another zone than a zoned column's is refused by validate and converted to that zone
by the pipeline (stop 39). An aware value in a column fitted naive is refused by every
path (stop 40; the record path's compiled test sends it to ``record_time``, which refuses
it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import dateutil.tz
import numpy as np
import pandas as pd
import pytest
import pytz

from prodml._data import column_kind
from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps

PARTS = ["year", "month", "day", "dayofweek", "hour", "minute", "second"]
PARIS = ZoneInfo("Europe/Paris")
_PIPES: dict[str | None, FeaturePipeline] = {}


def _pipe(zone: str | None) -> FeaturePipeline:
    if zone not in _PIPES:
        t = pd.to_datetime(["2024-01-15 12:00", "2024-07-15 12:00"])
        if zone is not None:
            t = t.tz_localize(zone)
        _PIPES[zone] = FeaturePipeline([steps.DateParts(["t"], parts=PARTS)]).fit(
            pd.DataFrame({"t": t})
        )
    return _PIPES[zone]


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        out = fn()
    except SchemaError as err:
        return "refused", sorted({p.kind for p in err.problems})
    return "ok", None if out is None else np.asarray(out).ravel().tolist()


def _answers(zone: str | None, value: Any) -> dict[str, tuple[str, Any]]:
    pipe, frame = _pipe(zone), pd.DataFrame({"t": [value]})
    return {
        "validate": _outcome(lambda: pipe.input_schema.validate({"t": value})),
        "validate frame": _outcome(lambda: pipe.input_schema.validate(frame)),
        "record": _outcome(lambda: pipe.transform_record({"t": value})),
        "batch": _outcome(lambda: pipe.transform(frame)),
    }


_UNITS = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"]
NAIVE: dict[str, Any] = {
    **{
        f"datetime64[{u}]": np.datetime64("2024-03-04T05:06:07", "s").astype(f"datetime64[{u}]")
        for u in _UNITS
        if u not in ("fs", "as")  # 2024 is past what fs and as hold (from 1970: 2.6 h, 9 s)
    },
    "datetime64[fs]": np.datetime64(7_200 * 10**15, "fs"),
    "datetime64[as]": np.datetime64(5 * 10**18, "as"),
    "date": dt.date(2024, 3, 4),
    "datetime": dt.datetime(2024, 3, 4, 5, 6, 7),
    "datetime fold=1": dt.datetime(2024, 10, 27, 2, 30, fold=1),
    "Timestamp": pd.Timestamp("2024-03-04 05:06:07"),
    "Timestamp fold=1": pd.Timestamp(dt.datetime(2024, 10, 27, 2, 30, fold=1)),
    "Timestamp[s]": pd.Timestamp("2024-03-04 05:06:07").as_unit("s"),
}
IN_PARIS: dict[str, Any] = {
    "zoneinfo": dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=PARIS),
    "dateutil": dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dateutil.tz.gettz("Europe/Paris")),
    "pytz": pytz.timezone("Europe/Paris").localize(dt.datetime(2024, 3, 4, 5, 6, 7)),
    "Timestamp": pd.Timestamp("2024-03-04 05:06:07", tz="Europe/Paris"),
    "fold=0": dt.datetime(2024, 10, 27, 2, 30, tzinfo=PARIS),
    "fold=1": dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=PARIS),
    "Timestamp fold=1": pd.Timestamp(dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=PARIS)),
    "pytz fold": pytz.timezone("Europe/Paris").localize(dt.datetime(2024, 10, 27, 2, 30), False),
}
IN_OFFSET: dict[str, Any] = {
    "timezone": dt.datetime(2024, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    "dateutil": dt.datetime(2024, 3, 4, 5, tzinfo=dateutil.tz.tzoffset(None, 19_800)),
    "pytz": dt.datetime(2024, 3, 4, 5, tzinfo=pytz.FixedOffset(330)),
    "Timestamp": pd.Timestamp("2024-03-04 05:00+05:30"),
}
IN_UTC: dict[str, Any] = {
    "timezone.utc": dt.datetime(2024, 3, 4, 5, tzinfo=dt.timezone.utc),
    "zoneinfo": dt.datetime(2024, 3, 4, 5, tzinfo=ZoneInfo("UTC")),
    "dateutil": dt.datetime(2024, 3, 4, 5, tzinfo=dateutil.tz.tzutc()),
    "pytz": dt.datetime(2024, 3, 4, 5, tzinfo=pytz.utc),
    "Timestamp": pd.Timestamp("2024-03-04 05:00Z"),
}
NULLS = {
    "None": None,
    "pd.NaT": pd.NaT,
    "NaT": np.datetime64("NaT"),
    "NaT[ns]": np.datetime64("NaT", "ns"),
}
STRINGS = {"ISO Z": "2024-03-04T05:06:07Z", "ISO offset": "2024-03-04T05:06:07+01:00",
           "ISO naive": "2024-03-04T05:06:07"}  # fmt: skip


def _agree(answers: dict[str, tuple[str, Any]]) -> None:
    """One answer: every path accepts (with equal rows) or refuses with one problem kind."""
    verdicts = {name: out[0] for name, out in answers.items()}
    assert len(set(verdicts.values())) == 1, answers
    if verdicts["record"] == "refused":
        assert len({str(out[1]) for out in answers.values()}) == 1, answers
    else:
        assert answers["record"] == answers["batch"], answers


@pytest.mark.parametrize("name", list(NAIVE))
def test_naive_values_in_a_naive_column(name: str) -> None:
    _agree(_answers(None, NAIVE[name]))


@pytest.mark.parametrize("zone", ["Europe/Paris", "+05:30", "UTC"])
@pytest.mark.parametrize("name", list(NAIVE))
def test_naive_values_in_a_zoned_column_are_refused_by_every_path(zone: str, name: str) -> None:
    answers = _answers(zone, NAIVE[name])
    _agree(answers)
    assert answers["record"] == ("refused", ["type"])


@pytest.mark.parametrize(
    ("zone", "values"),
    [("Europe/Paris", IN_PARIS), ("+05:30", IN_OFFSET), ("UTC", IN_UTC)],
    ids=["Europe/Paris", "+05:30", "UTC"],
)
def test_values_in_the_column_zone_from_every_zone_library(zone: str, values: dict) -> None:
    for value in values.values():
        answers = _answers(zone, value)
        _agree(answers)
        assert answers["record"][0] == "ok"


@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
@pytest.mark.parametrize("name", list(STRINGS))
def test_iso_strings_are_refused_by_every_path(zone: str | None, name: str) -> None:
    # Strings are not parsed (serving parses ISO 8601 before the record reaches here).
    answers = _answers(zone, STRINGS[name])
    _agree(answers)
    assert answers["record"] == ("refused", ["type"])


@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
@pytest.mark.parametrize("name", list(NULLS))
def test_nulls_pass_validate_and_both_paths_refuse_them_alike(zone: str | None, name: str) -> None:
    answers = _answers(zone, NULLS[name])
    assert answers["validate"] == answers["validate frame"] == ("ok", None)
    assert answers["record"] == answers["batch"] == ("refused", ["null"])


def test_a_value_in_another_zone_is_converted_by_the_pipeline_and_refused_by_validate() -> None:
    # Designed (stop 39): the pipeline reads one instant alike in every zone it arrives in.
    answers = _answers("Europe/Paris", IN_UTC["zoneinfo"])
    assert answers["validate"] == answers["validate frame"] == ("refused", ["type"])
    assert answers["record"] == answers["batch"]
    assert answers["record"][1][4] == 6.0  # 05:00 UTC is 06:00 in Paris


# -------------------------------------------------- object columns of several kinds


_MIXED = [
    [dt.datetime(2024, 3, 4, 5), np.datetime64("2024-03-05T06:00", "s")],
    [dt.date(2024, 3, 4), np.datetime64("2024-03-05", "D")],
    [pd.Timestamp("2024-03-04 05:00"), np.datetime64("2024-03-05T06", "h"), None],
    [np.datetime64("2024-03-05", "D"), dt.datetime(2024, 3, 4, 5)],
]


@pytest.mark.parametrize("values", _MIXED, ids=range(len(_MIXED)))
def test_an_object_column_of_datetimes_and_datetime64s_is_a_datetime_column(values: list) -> None:
    # pandas infers such a column as "mixed"; it was refused with "expected datetime, got
    # datetime.datetime ...", though each value alone (a record) is read.
    column = pd.Series(values, dtype=object)
    assert column_kind(column).kind == "datetime"
    pipe = _pipe(None)
    frame = pd.DataFrame({"t": column}).dropna()
    pipe.input_schema.validate(frame)
    rows = [pipe.transform_record({"t": v}).tolist() for v in frame["t"]]
    assert pipe.transform(frame).tolist() == rows


def test_an_object_column_of_datetimes_and_an_outside_datetime64_is_a_range_problem() -> None:
    column = pd.Series([dt.datetime(2024, 3, 4), np.datetime64("3000-01-01", "s")], dtype=object)
    frame = pd.DataFrame({"t": column})
    for zone in (None, "Europe/Paris"):
        for fn in (_pipe(zone).input_schema.validate, _pipe(zone).transform):
            with pytest.raises(SchemaError) as err:
                fn(frame)
            assert [(p.kind, p.row) for p in err.value.problems] == [("range", 1)]


def test_the_two_refusals_keep_their_words() -> None:
    # _no_rules and _naive were folded into one builder (stop 40): the words are unchanged.
    from prodml.features._dates import _refused

    naive = _refused("naive", "t", "+0530", 3).problems[0]
    assert (naive.column, naive.kind, naive.row) == ("t", "type", 3)
    assert naive.message == (
        "expected datetimes in time zone '+0530' (the zone the column was fitted in), got a "
        "naive datetime; localize it to the zone it was recorded in (pandas: "
        ".dt.tz_localize(<zone>), then .dt.tz_convert('+05:30'))"
    )
    rules = _refused("no rules", "t", "Mars/Olympus").problems[0]
    assert (rules.column, rules.kind, rules.row) == ("t", "type", None)
    assert rules.message == (
        "values in another time zone must be converted to the zone the column was fitted in, "
        "'Mars/Olympus', and no installed tz database holds it; install one (pip install "
        "tzdata), or pass values in that zone"
    )


@pytest.mark.parametrize(
    "value", [*IN_PARIS.values(), *IN_OFFSET.values(), *IN_UTC.values()], ids=repr
)
def test_aware_values_in_a_naive_column_are_refused_by_every_path(value: Any) -> None:
    answers = _answers(None, value)
    _agree(answers)
    assert answers["record"] == ("refused", ["type"])
