"""A Timestamp at the ns range's edge years is never "clean": the range check decides.

``Schema.validate``'s fast path (``_record_is_clean``) and serving's compiled check took a
naive Timestamp in a naive column (or one in the column's own zone) as clean without a
range check, so ``validate({"t": pd.Timestamp("2262-04-12")})`` passed while
``transform_record`` refused it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prodml.errors import SchemaError
from prodml.schema import Column, LogicalType, Schema
from prodml.serving._check import compile_check

OUTSIDE = [
    pd.Timestamp("2262-04-12"),  # after the last ns instant (2262-04-11T23:47:16.854775807)
    pd.Timestamp("1677-09-20"),  # before the first (1677-09-21T00:12:43.145224193)
    pd.Timestamp(np.datetime64("10000-01-01", "s")),  # beyond Python's years too
]


def _schema(zone: str | None) -> Schema:
    return Schema([Column("t", LogicalType.DATETIME, nullable=False, timezone=zone)])


@pytest.mark.parametrize("value", OUTSIDE, ids=str)
@pytest.mark.parametrize("zone", [None, "UTC"])
def test_an_edge_year_timestamp_is_a_range_problem(value: pd.Timestamp, zone: str | None) -> None:
    stamp = value if zone is None else value.tz_localize(zone)
    with pytest.raises(SchemaError) as caught:
        _schema(zone).validate({"t": stamp})
    assert [p.kind for p in caught.value.problems] == ["range"]
    assert compile_check(_schema(zone))({"t": stamp}) is False  # the full check answers


@pytest.mark.parametrize("zone", [None, "UTC"])
def test_inside_the_range_stays_valid(zone: str | None) -> None:
    """Edge years take the full check (which accepts them); other years stay fast."""
    edge = pd.Timestamp("2262-04-11T00:00:00", tz=zone)
    _schema(zone).validate({"t": edge})  # no SchemaError: inside the ns range
    assert compile_check(_schema(zone))({"t": edge}) is False  # not "clean": checked in full
    assert compile_check(_schema(zone))({"t": pd.Timestamp("2261-12-31", tz=zone)}) is True
