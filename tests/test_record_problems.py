"""A dict record's problems read from the dict equal those of its one-row table.

``record_problems`` (``prodml._data_records``) words an invalid record's problems without
building a DataFrame; the property pins it to the table path, ``Schema.problems`` on
``as_columns(record)``, over random schemas and random (mostly wrong) records.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml._data import as_columns, record_problems
from prodml.schema import Column, Schema
from prodml.testing.strategies import column_names

PARIS = ZoneInfo("Europe/Paris")
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))

# Values of every kind a request brings, the awkward ones included.
VALUES: list[Any] = [
    None, math.nan, math.inf, -math.inf, True, False,
    0, 1, -7, 3, 2**53 + 1, 2**60 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63),
    -(2**63) - 1, 2**70 + 1, -(2**70), 10**20, 2**1023 - 1, 2**1023, 2**1024,
    0.0, -0.0, 1.5, 3.0, -2.5, 1e20, 5e-324, 1.7976931348623157e308,
    2.0**60, 2.0**60 + 256, 2.0**63, 1e300, 2**60 + 256, 2**70 + 2**17 + 1,
    "", "a", "b", "gold", "1.5", "ann@example.com",
    pd.Timestamp("2024-03-01 12:00"), pd.Timestamp("2024-03-01 12:00", tz="UTC"),
    pd.Timestamp("2024-03-01 12:00", tz="Europe/Paris"),
    pd.Timestamp("2024-03-01 12:00:00.000000001"),
    dt.datetime(2024, 3, 1, 12), dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc),
    dt.datetime(2024, 3, 1, tzinfo=PLUS_ONE), dt.datetime(2024, 7, 1, tzinfo=PARIS),
    dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31), pd.Timestamp("2262-04-10"),
    dt.date(2024, 1, 1), decimal.Decimal("1.5"), np.int64(3), np.float64(1.5), [1], {"a": 1},
]  # fmt: skip
BOUNDS: list[Any] = [
    0,
    1,
    -1,
    2.5,
    -0.5,
    3,
    1e20,
    2**60 + 1,
    2**60 + 129,
    2**63,
    10**20,
    -(2**70),
    1e300,
]
ALLOWED = {
    "float": [0.0, 1.5, 3.0, 1, 1e20],
    "int": [0, 1, 3, 2**63, 2**70 + 1],
    "bool": [True, False],
    "string": ["a", "gold", "", "ann@example.com"],
    "category": ["a", "gold", ""],
}


@st.composite
def columns(draw: st.DrawFn, name: str) -> Column:
    dtype = draw(st.sampled_from(["float", "int", "bool", "string", "category", "datetime"]))
    kw: dict[str, Any] = {
        "nullable": draw(st.booleans()),
        "sensitive": draw(st.booleans()) and draw(st.booleans()),
    }
    if dtype in ("float", "int"):
        low, high = draw(st.sampled_from([None, *BOUNDS])), draw(st.sampled_from([None, *BOUNDS]))
        if low is not None and high is not None and low > high:
            low, high = high, low
        kw.update(min=low, max=high)
    if dtype == "datetime":
        kw["timezone"] = draw(st.sampled_from([None, "UTC", "Europe/Paris", "+01:00"]))
    elif draw(st.booleans()):
        kw["allowed"] = draw(st.lists(st.sampled_from(ALLOWED[dtype]), min_size=1, unique=True))
    return Column(name, dtype, **kw)


@st.composite
def schemas_and_records(draw: st.DrawFn) -> tuple[Schema, dict[str, Any], bool]:
    names = draw(st.lists(column_names(), min_size=1, max_size=5, unique=True))
    schema = Schema([draw(columns(n)) for n in names])
    # Most schema columns present (some missing), plus a few unknown keys.
    keys = [n for n in names if draw(st.integers(0, 5))] + draw(
        st.lists(st.sampled_from(["zz", "id", "extra"]), max_size=2, unique=True)
    )
    record = {k: draw(st.sampled_from(VALUES)) for k in keys}
    return schema, record, draw(st.booleans())


def table_problems(schema: Schema, record: dict[str, Any], strict: bool) -> list[Any]:
    return schema.problems(as_columns(record), strict=strict)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=schemas_and_records())
def test_direct_problems_equal_the_table_path(case: tuple[Schema, dict[str, Any], bool]) -> None:
    schema, record, strict = case
    direct = record_problems(schema.columns, record, strict=strict)
    if direct is not None:
        assert direct == table_problems(schema, record, strict)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (Column("x", "float", nullable=False), None),
        (Column("x", "float"), "1.5"),
        (Column("x", "float"), True),
        (Column("x", "float"), math.inf),
        (Column("x", "float", min=0, max=1), 2.5),
        (Column("x", "int"), 1.5),
        (Column("x", "int", max=2**60), 2**60 + 1),
        (Column("x", "int", min=0, sensitive=True), -3),
        (Column("x", "string", allowed=["a", "b"]), "c"),
        (Column("x", "string"), math.nan),
        (Column("x", "bool"), 1),
        (Column("x", "datetime"), pd.Timestamp("2024-01-01", tz="UTC")),
        (Column("x", "datetime", timezone="Europe/Paris"), dt.datetime(2024, 1, 1)),
        (Column("x", "datetime"), "2024-01-01"),
    ],
)
def test_the_common_problems_are_decided_without_a_table(column: Column, value: Any) -> None:
    schema = Schema([column, Column("y", "float")])
    record = {"x": value, "zz": 1}
    direct = record_problems(schema.columns, record, strict=True)
    assert direct is not None  # decided from the dict
    assert direct == table_problems(schema, record, True)
    assert [p.column for p in direct] == ["x", "y", "zz"]
    assert [p.kind for p in direct][1:] == ["missing", "extra"]


@pytest.mark.parametrize(
    "value",
    [np.int64(3), decimal.Decimal("1"), dt.date(2024, 1, 1), 2**1024, dt.datetime(1, 1, 1)],
)
def test_what_only_the_table_path_decides_is_left_to_it(value: Any) -> None:
    schema = Schema([Column("x", "float")])
    assert record_problems(schema.columns, {"x": value}, strict=False) is None
    assert record_problems(schema.columns, {1: 2.0, "x": 1.0}, strict=False) is None


NUMBERS = [v for v in VALUES if type(v) in (int, float)]


@pytest.mark.parametrize("dtype", ["float", "int"])
@pytest.mark.parametrize("side", ["min", "max"])
def test_every_bound_against_every_number(dtype: str, side: str) -> None:
    # Exhaustive where the property samples: bounds float64 cannot hold (2**60 + 129
    # rounds up, 2**60 + 1 down) against floats next to them and ints beyond 64 bits.
    for bound in BOUNDS:
        schema = Schema([Column("x", dtype, **{side: bound})])
        for value in NUMBERS:
            direct = record_problems(schema.columns, {"x": value}, strict=False)
            if direct is not None:
                assert direct == table_problems(schema, {"x": value}, False), (bound, value)
