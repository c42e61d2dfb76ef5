"""Arrow timestamp columns in a zone spelled as arrow cannot read ('+0530', 'Z', 'utc').

arrow converts wall-clock time only for zones it can look up; these spellings are plain
offsets or UTC, so prodml reads them through the canonical spelling (``canonical_zone``)
instead of calling them a missing tz database.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from prodml._data import Columns
from prodml._data_kinds import _first_non_null
from prodml._zones import canonical_arrow

INSTANT = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def _column(tz: str) -> pa.ChunkedArray:
    utc = pa.array([INSTANT, None], pa.timestamp("us", tz="UTC"))
    return pa.chunked_array([utc.cast(pa.timestamp("us", tz=tz))])


@pytest.mark.parametrize(
    ("tz", "wall"),
    [
        ("+0530", "2024-01-01T17:30"),
        ("UTC+05:30", "2024-01-01T17:30"),
        ("-0300", "2024-01-01T09:00"),
        ("Z", "2024-01-01T12:00"),
        ("utc", "2024-01-01T12:00"),
    ],
)
def test_wall_clock_of_an_offset_spelled_as_arrow_cannot_read(tz: str, wall: str) -> None:
    cols = Columns(pa.table({"t": _column(tz)}))
    got = cols.datetime64("t")
    assert got[0] == np.datetime64(wall, "ns")
    assert np.isnat(got[1])
    assert cols.datetime64("t", utc=True)[0] == np.datetime64("2024-01-01T12:00", "ns")


@pytest.mark.parametrize(("tz", "minutes"), [("+0530", 330), ("Z", 0), ("utc", 0)])
def test_a_value_shown_in_a_message_keeps_its_offset(tz: str, minutes: int) -> None:
    value, row = _first_non_null(_column(tz))
    assert row == 0
    assert isinstance(value, dt.datetime)
    assert value == INSTANT
    assert value.utcoffset() == dt.timedelta(minutes=minutes)


def test_canonical_arrow_keeps_instants_and_leaves_other_types_alone() -> None:
    raw = _column("+0530")
    out = canonical_arrow(raw)
    assert out.type == pa.timestamp("us", tz="+05:30")
    assert out.cast(pa.int64()).equals(raw.cast(pa.int64()))
    plain = pa.chunked_array([pa.array([1, 2])])
    assert canonical_arrow(plain) is plain
    named = _column("UTC")
    assert canonical_arrow(named) is named


@pytest.mark.parametrize("tz", ["+0530", "UTC+05:30", "+05:30"])
def test_generated_tables_hold_the_declared_offset(tz: str) -> None:
    from hypothesis import given, settings

    from prodml.schema import Column, Schema
    from prodml.testing.strategies import schemas_and_tables

    schema = Schema([Column("t", "datetime", timezone=tz)])

    @settings(max_examples=10, deadline=None)
    @given(schemas_and_tables(schema=schema, min_rows=1, max_rows=3))
    def check(pair: tuple[Schema, object]) -> None:
        _, df = pair
        assert str(df["t"].dt.tz) == "UTC+05:30"  # pandas' name for +05:30
        schema.validate(df)

    check()
