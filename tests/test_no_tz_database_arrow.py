"""Arrow timestamp columns in an IANA zone where no tz database is installed.

pyarrow needs the zone's rules to turn such a column into pandas (wall-clock time); it
raised a raw ``pyarrow.ArrowInvalid`` out of ``Schema.validate`` (a datetime beyond the
nanosecond range) and out of every reader of the column. The ``no_tz_database`` fixture
of tests/conftest.py hides the database without clearing zoneinfo's cache,
so the zone here is one no other test loads (a cached zone would still convert).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from prodml._data import as_columns
from prodml.errors import SchemaError
from prodml.schema import Column, Schema

pytestmark = pytest.mark.usefixtures("no_tz_database")


ZONE = "Pacific/Marquesas"  # loaded by no other test: zoneinfo's cache does not hold it


def zoned(*values: dt.datetime | None, unit: str = "us") -> pa.Table:
    return pa.table({"t": pa.array(list(values), pa.timestamp(unit, tz=ZONE))})


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_validate_names_a_datetime_beyond_the_range_without_a_database(unit: str) -> None:
    table = zoned(dt.datetime(2024, 1, 1), None, dt.datetime(1, 1, 1), unit=unit)
    with pytest.raises(SchemaError) as info:
        Schema([Column("t", "datetime", timezone=ZONE)]).validate(table)
    (problem,) = info.value.problems
    assert (problem.column, problem.kind, problem.row) == ("t", "range", 2)
    assert "0001-01-01" in problem.message


def test_validate_in_range_needs_no_database() -> None:
    table = zoned(dt.datetime(2024, 1, 1), None)
    Schema([Column("t", "datetime", timezone=ZONE)]).validate(table)
    with pytest.raises(SchemaError) as info:
        Schema([Column("t", "datetime", timezone="Europe/Berlin")]).validate(table)
    assert info.value.problems[0].kind == "type"


def test_utc_values_read_without_a_database() -> None:
    cols = as_columns(zoned(dt.datetime(2024, 1, 1, 12), None))
    got = cols.datetime64("t", utc=True)
    assert got[0] == np.datetime64("2024-01-01T12:00:00", "ns")
    assert np.isnat(got[1])


def test_wall_clock_time_without_a_database_is_a_schema_error() -> None:
    cols = as_columns(zoned(dt.datetime(2024, 1, 1, 12), None))
    with pytest.raises(SchemaError) as info:
        cols.datetime64("t")
    (problem,) = info.value.problems
    assert (problem.column, problem.kind) == ("t", "type")
    assert "tz database" in problem.message
    assert "tzdata" in problem.message


def test_a_zoned_column_of_the_wrong_type_is_worded_without_a_database() -> None:
    with pytest.raises(SchemaError) as info:
        Schema([Column("t", "float")]).validate(zoned(None, dt.datetime(2024, 1, 1)))
    (problem,) = info.value.problems
    assert (problem.column, problem.kind, problem.row) == ("t", "type", 1)
    assert problem.message.startswith("expected float, got ")
