"""``Schema.validate`` checks a datetime column's range from its type or its min and max.

Every ``[us]`` column (pandas 3's default unit) used to be converted to ``[ns]`` on each
validate only to check that it fits; now only a column whose extremes may not fit is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml._data import Columns
from prodml.errors import SchemaError
from prodml.schema import Column, Schema


def _frames(values: list[str], unit: str, tz: str | None) -> list[object]:
    naive = pd.Series(np.array(values, dtype=f"datetime64[{unit}]"))
    series = naive.dt.tz_localize(tz) if tz else naive
    table = pa.table({"t": pa.array(series)})
    return [pd.DataFrame({"t": series}), table]


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
@pytest.mark.parametrize("tz", [None, "Europe/Paris"])
def test_an_in_range_column_is_not_converted(
    unit: str, tz: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = Columns.datetime64

    def counted(self: Columns, name: str) -> object:
        calls.append(name)
        return real(self, name)

    monkeypatch.setattr(Columns, "datetime64", counted)
    schema = Schema([Column("t", "datetime", timezone=tz)])
    for data in _frames(["1970-01-01", "NaT", "2262-04-09"], unit, tz):
        assert schema.validate(data) is None
    assert calls == []


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
@pytest.mark.parametrize("tz", [None, "Europe/Paris"])
@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "2262-04-12", "1677-09-20"])
def test_an_out_of_range_value_is_still_found_and_named(
    unit: str, tz: str | None, value: str
) -> None:
    schema = Schema([Column("t", "datetime", timezone=tz)])
    for data in _frames(["2020-01-01", "NaT", value], unit, tz):
        with pytest.raises(SchemaError) as info:
            schema.validate(data)
        (problem,) = info.value.problems
        assert (problem.column, problem.kind, problem.row) == ("t", "range", 2)
