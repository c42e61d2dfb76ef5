"""One conversion to the fitted zone for batches and records, checked against pandas.

Every kind of value a user passes for a datetime column (naive and aware datetimes,
Timestamps, ``numpy.datetime64``, ISO 8601 strings with and without an offset, Arrow
timestamps with and without a zone) is read by ``transform`` and ``transform_record``
alike, around the DST edges of many zones (wall times that happened twice, wall times
that were skipped): an aware value gives the parts pandas gives for its instant in the
fitted zone; a naive value, a date or a string is refused by both, as ``Schema.validate``
refuses it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.features._dates import PARTS, shift_days

ALL = list(PARTS)
# Local dates on which each zone's offset changed (both directions), and a zone with none.
EDGES = {
    "Europe/Paris": ["2024-03-31", "2024-10-27", "1996-03-31", "2037-10-25", "2100-03-28"],
    "America/New_York": ["2024-03-10", "2024-11-03", "2007-03-11", "1974-01-06"],
    "Australia/Lord_Howe": ["2024-04-07", "2024-10-06"],  # 30-minute DST, at 02:00
    "America/Santiago": ["2024-04-06", "2024-09-07", "2024-04-07", "2024-09-08"],
    "Pacific/Apia": ["2011-12-29", "2011-12-31", "2012-04-01"],  # a skipped day
    "America/Sao_Paulo": ["2018-11-04", "2019-02-16"],  # a skipped midnight
    "Asia/Kathmandu": ["1986-01-01"],  # +05:30 to +05:45
    "Europe/London": ["2024-03-31", "2024-10-27"],
}
ZONES = [*EDGES, "UTC", "+05:30", "-03:30"]
_PIPES: dict[str, FeaturePipeline] = {}


def _fitted(zone: str) -> FeaturePipeline:
    if zone not in _PIPES:
        t = pd.DatetimeIndex(["2024-01-15 12:00"]).tz_localize("UTC").tz_convert(zone)
        _PIPES[zone] = FeaturePipeline([steps.DateParts(["t"], parts=ALL)]).fit(
            pd.DataFrame({"t": t})
        )
    return _PIPES[zone]


def _parts(stamp: pd.Timestamp) -> list[float]:
    """The parts pandas gives for a normalized Timestamp (in the zone it is in)."""
    fields = (stamp.year, stamp.month, stamp.day, stamp.day_of_week, stamp.day_of_year,
              stamp.hour, stamp.minute, stamp.second, stamp.day_of_week >= 5)  # fmt: skip
    return [float(v) for v in fields]


def _expected(value: dt.datetime, fitted: str) -> list[float]:
    """pandas' reading: the value's instant (its utcoffset, fold included) in ``fitted``."""
    utc = pd.to_datetime(pd.Series([value], dtype=object), utc=True)
    return _parts(utc.dt.tz_convert(fitted).iloc[0])


@st.composite
def edge_values(draw: Any) -> tuple[str, dt.datetime]:
    """(zone, aware datetime): wall times around a DST edge of the zone, either fold."""
    zone = draw(st.sampled_from(list(EDGES)))
    day = pd.Timestamp(draw(st.sampled_from(EDGES[zone]))).to_pydatetime()
    wall = day + dt.timedelta(minutes=draw(st.integers(-180, 27 * 60)))
    second = draw(st.sampled_from([0, 1, 59]))
    return zone, wall.replace(second=second, fold=draw(st.integers(0, 1)), tzinfo=ZoneInfo(zone))


def _aware_kinds(value: dt.datetime) -> dict[str, Any]:
    """One aware value as every aware kind of record value."""
    stamp = pd.Timestamp(value)
    utc = stamp.tz_convert("UTC")
    zone = str(value.tzinfo)
    arrow = pa.array([utc], pa.timestamp("us", tz=zone))
    iso = utc.tz_convert(dt.timezone(stamp.utcoffset())).isoformat()  # what serving parses
    return {
        "datetime": value,
        "Timestamp": stamp,
        "Timestamp in UTC": utc,
        "Arrow scalar": arrow[0].as_py(),
        "ISO string parsed": pd.Timestamp(dt.datetime.fromisoformat(iso)),
    }


def _aware_batches(value: dt.datetime) -> dict[str, Any]:
    stamp = pd.Timestamp(value)
    zone = str(value.tzinfo)
    utc = stamp.tz_convert("UTC")
    us = pa.timestamp("us", tz=zone)
    kinds = _aware_kinds(value)
    batches = {
        f"object column of {k}": pd.DataFrame({"t": pd.Series([v], dtype=object)})
        for k, v in kinds.items()
    }
    batches["pandas column"] = pd.DataFrame({"t": pd.DatetimeIndex([utc]).tz_convert(zone)})
    batches["Arrow table"] = pa.table({"t": pa.array([utc], us)})
    batches["ArrowDtype column"] = pd.DataFrame({"t": pd.array([utc], dtype=pd.ArrowDtype(us))})
    return batches


@settings(max_examples=300, deadline=None)
@given(edge_values(), st.sampled_from(ZONES))
def test_every_aware_kind_gives_pandas_parts_in_both_paths(
    drawn: tuple[str, dt.datetime], fitted: str
) -> None:
    _, value = drawn
    pipe = _fitted(fitted)
    expected = _expected(value, fitted)
    for name, v in _aware_kinds(value).items():
        np.testing.assert_array_equal(pipe.transform_record({"t": v}), expected, err_msg=name)
    for name, batch in _aware_batches(value).items():
        np.testing.assert_array_equal(pipe.transform(batch), [expected], err_msg=name)


@settings(max_examples=100, deadline=None)
@given(edge_values(), st.sampled_from(ZONES))
def test_every_naive_kind_is_refused_by_both_paths(
    drawn: tuple[str, dt.datetime], fitted: str
) -> None:
    _, value = drawn
    wall = value.replace(tzinfo=None)
    pipe = _fitted(fitted)
    records = {
        "datetime": wall,
        "Timestamp": pd.Timestamp(wall),
        "datetime64": np.datetime64(wall, "us"),
        "date": wall.date(),
        "Arrow scalar": pa.array([wall], pa.timestamp("us"))[0].as_py(),
    }
    batches = {f"object column of {k}": pd.Series([v], dtype=object) for k, v in records.items()}
    batches["pandas column"] = pd.Series(pd.DatetimeIndex([wall]))
    for v in records.values():
        with pytest.raises(SchemaError, match=r"column 't': expected datetimes in time zone"):
            pipe.transform_record({"t": v})
    for column in batches.values():
        with pytest.raises(SchemaError, match=r"column 't': expected datetimes in .* row 0"):
            pipe.transform(pd.DataFrame({"t": column}))
    for arrow in (pa.array([wall], pa.timestamp("us")), pa.array([wall.date()], pa.date32())):
        with pytest.raises(SchemaError, match=r"expected datetimes in time zone .* row 0"):
            pipe.transform(pa.table({"t": arrow}))


@pytest.mark.parametrize("text", ["2024-03-31T02:30:00", "2024-03-31T02:30:00+02:00"])
def test_iso_strings_are_refused_by_both_paths(text: str) -> None:
    # Neither path parses strings (serving does, to a Timestamp, before transform_record).
    pipe = _fitted("Europe/Paris")
    with pytest.raises(SchemaError, match=r"column 't': expected datetime, got str"):
        pipe.transform_record({"t": text})
    for column in (pd.Series([text], dtype=object), pd.Series([text], dtype="str")):
        with pytest.raises(SchemaError, match=r"column 't'.*datetime"):
            pipe.transform(pd.DataFrame({"t": column}))


SKIPPED = dt.datetime(2024, 3, 31, 2, 30)  # a wall time Paris skipped


@pytest.mark.parametrize("fold", [0, 1])
def test_a_skipped_wall_time_in_the_zone_moves_as_pandas_moves_it(fold: int) -> None:
    # Before: a value whose tzinfo was the fitted zone was read as written (02:30, a time
    # that never happened), as a record and in an object column, while pandas' columns
    # and an object column of Timestamps gave 03:30 (fold=0) or 01:30 (fold=1).
    value = SKIPPED.replace(fold=fold, tzinfo=ZoneInfo("Europe/Paris"))
    hour = {0: 3.0, 1: 1.0}[fold]
    assert _expected(value, "Europe/Paris")[ALL.index("hour")] == hour
    pipe = _fitted("Europe/Paris")
    for v in (value, pd.Timestamp(value)):
        assert pipe.transform_record({"t": v})[ALL.index("hour")] == hour
        batch = pd.DataFrame({"t": pd.Series([v], dtype=object)})
        assert pipe.transform(batch)[0, ALL.index("hour")] == hour


def test_a_record_of_another_spelling_reads_the_instant_too() -> None:
    # US/Eastern is America/New_York: kept as written, except a skipped wall time.
    value = dt.datetime(2024, 3, 10, 2, 30, tzinfo=ZoneInfo("US/Eastern"))
    pipe = _fitted("America/New_York")
    assert pipe.transform_record({"t": value})[ALL.index("hour")] == 3.0
    ok = value.replace(hour=12)
    assert pipe.transform_record({"t": ok})[ALL.index("hour")] == 12.0


def test_a_naive_column_of_nulls_still_reaches_the_null_rule() -> None:
    # Nothing to misread: as Schema.validate, a column of nulls has no zone problem.
    pipe = _fitted("Europe/Paris")
    nulls = pd.DataFrame({"t": pd.Series(pd.DatetimeIndex([None, None]))})
    with pytest.raises(SchemaError, match=r"null value NaT reached DateParts.*row 0"):
        pipe.transform(nulls)


@pytest.mark.parametrize("zone", list(EDGES))
def test_shift_days_hold_every_edge(zone: str) -> None:
    days = shift_days(zone)
    for day in EDGES[zone]:
        assert pd.Timestamp(day).to_pydatetime().toordinal() in days
    # ... and few others: a zone with DST shifts twice a year at most.
    assert len(days) <= 3 * 2 * 3 * (2262 - 1677)
    assert shift_days("UTC") == shift_days("+05:30") == frozenset()
