"""Datetimes near and beyond the ends of datetime64[ns]: one answer from every path.

``Schema.validate`` of a dict record, ``Schema.validate`` of the one-row DataFrame (where
pandas builds it faithfully), ``transform_record`` and ``transform`` of a fitted
``DateParts`` pipeline accept the same values and refuse the others with the same kind
of problem. Before stop 40 a record's value of a year outside 1678..2260 was handed to
the one-row table, where pandas wraps a Timestamp beyond Python's years
(``9999-12-31T23:59:59-10:00`` in UTC) to 1972: validate passed what
``transform_record`` refused; and a naive value out of range in a zoned column was a
``"type"`` problem for ``transform_record`` but a ``"range"`` one for validate and the
batch.
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
from hypothesis import given
from hypothesis import strategies as st

from prodml._data import NS_FIRST, NS_LAST
from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Column, Schema

PARTS = ["year", "month", "day", "hour", "minute", "second"]
FITTED = [None, "Europe/Paris", "UTC", "+05:30"]
_PIPES: dict[str | None, FeaturePipeline] = {}


def _pipe(zone: str | None) -> FeaturePipeline:
    if zone not in _PIPES:
        t = pd.to_datetime(["2024-01-15 12:00", "2024-07-15 12:00"])
        if zone is not None:
            t = t.tz_localize("UTC").tz_convert(zone)
        _PIPES[zone] = FeaturePipeline([steps.DateParts(["t"], parts=PARTS)]).fit(
            pd.DataFrame({"t": t})
        )
    return _PIPES[zone]


def _outcome(fn: Any) -> Any:
    """``("ok", result)`` or ``("refused", kinds of the problems of column 't')``."""
    try:
        out = fn()
    except SchemaError as err:
        return ("refused", sorted({p.kind for p in err.problems if p.column == "t"}))
    return ("ok", None if out is None else np.asarray(out).ravel().tolist())


def _validate_record(zone: str | None, value: Any) -> Any:
    """validate of a dict record, through record_problems (the invalid 'other' column
    keeps the record off the clean-record fast path, which is prodml.schema's)."""
    schema = Schema([_pipe(zone).input_schema["t"], Column("other", "int")])
    out = _outcome(lambda: schema.validate({"t": value, "other": "x"}))
    return ("ok", None) if out == ("refused", []) else out


def _faithful_frame(value: Any) -> pd.DataFrame | None:
    """The one-row DataFrame of ``value``, or None where pandas misbuilds it (wraps it)."""
    frame = pd.DataFrame({"t": [value]})
    held, given = pd.Timestamp(frame["t"].iloc[0]), pd.Timestamp(value)
    fields = ("year", "month", "day", "hour", "minute", "second")
    same = all(getattr(held, f) == getattr(given, f) for f in fields)
    return frame if same else None


def _check_agree(zone: str | None, value: Any) -> None:
    pipe = _pipe(zone)
    validated = _validate_record(zone, value)
    record = _outcome(lambda: pipe.transform_record({"t": value}))
    assert (validated[0], validated[1] if validated[0] == "refused" else None) == (
        record[0],
        record[1] if record[0] == "refused" else None,
    ), (zone, value, validated, record)
    frame = _faithful_frame(value)
    if frame is None:
        return
    batch_valid = _outcome(lambda: pipe.input_schema.validate(frame))
    batch = _outcome(lambda: pipe.transform(frame))
    assert batch_valid[0] == validated[0], (zone, value, batch_valid, validated)
    if validated[0] == "refused":
        assert batch_valid[1] == validated[1] == batch[1], (zone, value, batch_valid, batch)
    else:
        assert batch == record, (zone, value, batch, record)


# Wall times near both ends of datetime64[ns], and far beyond them (Python's own years).
_NEAR = st.one_of(
    st.datetimes(NS_FIRST - dt.timedelta(days=2), NS_FIRST + dt.timedelta(days=2)),
    st.datetimes(NS_LAST - dt.timedelta(days=2), NS_LAST + dt.timedelta(days=2)),
    st.datetimes(dt.datetime(1, 1, 1), dt.datetime(1700, 1, 1)),
    st.datetimes(dt.datetime(2240, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)),
)
_TZINFOS = {
    "Europe/Paris": [
        ZoneInfo("Europe/Paris"),
        dateutil.tz.gettz("Europe/Paris"),
        pytz.timezone("Europe/Paris"),
    ],
    "UTC": [dt.timezone.utc, ZoneInfo("UTC"), pytz.utc, dateutil.tz.tzutc()],
    "+05:30": [dt.timezone(dt.timedelta(hours=5, minutes=30))],
}


def _in_zone(wall: dt.datetime, tz: Any) -> dt.datetime:
    localize = getattr(tz, "localize", None)  # pytz: the zone's offset at that wall time
    return localize(wall) if localize is not None else wall.replace(tzinfo=tz)


@given(
    wall=_NEAR,
    zone=st.sampled_from(FITTED),
    tz_pick=st.integers(0, 3),
    form=st.sampled_from(["datetime", "Timestamp", "Timestamp[s]"]),
    naive_in_zoned=st.booleans(),
)
def test_validate_record_and_batch_agree_near_the_ns_edges(
    wall: dt.datetime, zone: str | None, tz_pick: int, form: str, naive_in_zoned: bool
) -> None:
    value: Any = wall
    if zone is not None and not naive_in_zoned:
        tzs = _TZINFOS[zone]
        value = _in_zone(wall, tzs[tz_pick % len(tzs)])
    if form != "datetime":
        value = pd.Timestamp(value)
        if form == "Timestamp[s]":
            value = value.as_unit("s")
    _check_agree(zone, value)


def _beyond_python() -> list[pd.Timestamp]:
    """Timestamps whose wall time (in UTC) is past Python's years: pandas holds them."""
    return [
        pd.Timestamp("9999-12-31T23:59:59-10:00").tz_convert("UTC"),  # 10000-01-01 09:59:59
        pd.Timestamp("9999-12-31T14:00:00-10:00").tz_convert("UTC"),  # 10000-01-01 00:00
        pd.Timestamp("0001-01-01T00:00:00+01:00").tz_convert("UTC"),  # year 0
    ]


@pytest.mark.parametrize("zone", FITTED)
@pytest.mark.parametrize("naive", [False, True])
@pytest.mark.parametrize("value", _beyond_python(), ids=["10000-late", "10000-early", "year-0"])
def test_a_timestamp_beyond_pythons_years_is_a_range_problem_everywhere(
    value: pd.Timestamp, naive: bool, zone: str | None
) -> None:
    if naive:
        value = value.tz_localize(None)
    _check_agree(zone, value)
    assert _validate_record(zone, value) == ("refused", ["range"])


def test_the_known_hole_validate_refused_what_transform_record_refuses() -> None:
    # Before: the one-row table held 1972-01-01 09:59:59 UTC, in the column's zone and in
    # range, so validate passed; transform_record refused the value.
    value = pd.Timestamp("9999-12-31T23:59:59-10:00").tz_convert("UTC")
    schema = Schema([Column("t", "datetime", timezone="UTC"), Column("other", "int")])
    with pytest.raises(SchemaError) as err:
        schema.validate({"t": value, "other": "x"})
    (problem,) = [p for p in err.value.problems if p.column == "t"]
    assert problem.kind == "range"
    assert problem.row is None
    # The words of the batch path's range problem (record_datetime64's).
    assert problem.message == (
        "datetime 10000-01-01T09:59:59.000000 is outside the range prodml computes with "
        "(1677-09-21 to 2262-04-11, datetime64[ns]); clip or null such values first"
    )
    with pytest.raises(SchemaError, match="outside the range prodml computes with"):
        _pipe("UTC").transform_record({"t": value})


def test_a_year_outside_ns_in_a_number_column_never_shows_a_wrapped_value() -> None:
    # The one-row table held 1972-01-01 09:59:59 UTC and the message showed that date.
    value = pd.Timestamp("9999-12-31T23:59:59-10:00").tz_convert("UTC")
    with pytest.raises(SchemaError) as err:
        Schema([Column("x", "float")]).validate({"x": value, "y": 1}, strict=True)
    (problem,) = [p for p in err.value.problems if p.column == "x"]
    assert problem.kind == "type"
    assert problem.message.startswith("expected float, got pandas.Timestamp ")
    assert "1972" not in problem.message


@pytest.mark.parametrize("zone", ["Europe/Paris", "UTC", "+05:30"])
@pytest.mark.parametrize(
    "value",
    [
        pd.Timestamp("2262-04-12"),
        pd.Timestamp("1677-09-20"),
        dt.datetime(2262, 4, 12),
        dt.datetime(9999, 12, 31),
        pd.Timestamp(dt.datetime(1, 1, 1)).as_unit("s"),
        dt.date(3000, 1, 1),
        np.datetime64("3000-01-01", "s"),
        np.datetime64("1000-01-01", "D"),
        np.datetime64("9000", "Y"),
    ],
    ids=repr,
)
def test_a_naive_value_out_of_range_in_a_zoned_column_is_a_range_problem(
    value: Any, zone: str
) -> None:
    # Range first, then the zone: what validate and the batch path name; the record path
    # said "naive datetime" ("type") for these.
    pipe = _pipe(zone)
    with pytest.raises(SchemaError) as err:
        pipe.transform_record({"t": value})
    assert [p.kind for p in err.value.problems] == ["range"]
    with pytest.raises(SchemaError) as err:
        pipe.input_schema.validate({"t": value})
    assert [p.kind for p in err.value.problems] == ["range"]
    objects = pd.DataFrame({"t": pd.Series([dt.datetime(2024, 1, 1), value], dtype=object)})
    for frame in (pd.DataFrame({"t": [value]}), objects):
        with pytest.raises(SchemaError) as err:
            pipe.transform(frame)
        assert [p.kind for p in err.value.problems] == ["range"], frame


def test_an_object_column_names_the_first_naive_row_once_the_range_is_checked() -> None:
    pipe = _pipe("Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    column = [dt.datetime(2024, 1, 1, tzinfo=paris), None, dt.date(2024, 1, 2)]
    frame = pd.DataFrame({"t": pd.Series(column, dtype=object)})
    with pytest.raises(SchemaError) as err:
        pipe.transform(frame)
    assert [(p.kind, p.row) for p in err.value.problems] == [("type", 2)]
    # A mixture of aware values and a naive one, as validate names it (stop 41).
    assert "several time zones ('Europe/Paris', naive)" in err.value.problems[0].message
    with pytest.raises(SchemaError) as checked:
        pipe.input_schema.validate(frame)
    assert checked.value.problems == err.value.problems


@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Tokyo", "+05:30"])
def test_the_first_second_of_the_ns_range_in_another_zone_reads_as_its_record(zone: str) -> None:
    # numpy's cast of datetime64[ns] to seconds wrapped the first second of the range
    # (1677-09-21 00:12:43 UTC became 2262-04-11 23:47:15): the batch refused, naming a
    # date in 2262, what the record path read.
    pipe = _pipe(zone)
    values = [pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp(NS_FIRST).tz_localize("UTC")]
    for value in values:
        row = pipe.transform_record({"t": value})
        batch = pipe.transform(pd.DataFrame({"t": [value]}))
        assert batch.tolist() == [row.tolist()]
        want = value.tz_convert(zone)  # its fields: the second floored, as every part
        assert row.tolist() == [want.year, want.month, want.day, want.hour, want.minute,
                                want.second]  # fmt: skip


@pytest.mark.parametrize("zone", ["UTC", "+05:30", "-03:00"])
@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-10:00", "0001-01-01T00:00:00+01:00"])
def test_a_record_the_table_path_checks_holds_its_timestamp_unwrapped(text: str, zone: str) -> None:
    # A numpy scalar elsewhere in the record sends it to the one-row table, where pandas
    # wrapped the Timestamp (10000-01-01 became 1972-01-01) and validate passed it.
    value = pd.Timestamp(text).tz_convert(zone)
    schema = Schema([Column("t", "datetime", timezone=zone), Column("x", "float")])
    with pytest.raises(SchemaError) as err:
        schema.validate({"t": value, "x": np.float64(1.0)})
    assert [(p.column, p.kind) for p in err.value.problems] == [("t", "range")]
    with pytest.raises(SchemaError, match="outside the range prodml computes with"):
        _pipe(zone).transform_record({"t": value})
