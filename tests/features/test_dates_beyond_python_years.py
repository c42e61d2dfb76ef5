"""A record Timestamp beyond Python's years is a SchemaError, as its batch row would be.

pandas holds Timestamps in coarser units past Python's ``datetime`` (years 0 and 10000,
e.g. ``9999-12-31T23:59:59-10:00`` in UTC); the record path compared one with its range
bounds and raised a bare ``ValueError: year 10000 is out of range`` (serving answered 500).
"""

from __future__ import annotations

import pandas as pd
import pytest

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps

EDGES = [
    pd.Timestamp("9999-12-31T23:59:59-10:00").tz_convert("UTC"),  # 10000-01-01 in UTC
    pd.Timestamp("0001-01-01T00:00:00+01:00").tz_convert("UTC"),  # year 0 in UTC
]


@pytest.mark.parametrize("fitted", ["UTC", "Europe/Paris", None])
@pytest.mark.parametrize("value", EDGES, ids=["year-10000", "year-0"])
def test_a_record_past_pythons_years_is_refused_naming_the_column(fitted, value) -> None:
    times = pd.to_datetime(["2024-01-01T00:00:00", "2024-06-01T12:00:00"])
    if fitted is not None:
        times = times.tz_localize("UTC").tz_convert(fitted)
    pipe = FeaturePipeline([steps.DateParts(["t"])]).fit(pd.DataFrame({"t": times}))
    with pytest.raises(SchemaError, match=r"column 't'.*outside the range prodml computes"):
        pipe.transform_record({"t": value})
