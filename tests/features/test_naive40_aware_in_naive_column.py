"""An aware value in a column fitted naive is refused by every path (stop 40).

Before, ``transform`` and ``transform_record`` read such a value as wall-clock time in its
own zone while ``Schema.validate`` refused it. Now the batch path (pandas and Arrow typed
columns, object columns of Python datetimes, several chunks) and the record path (the
compiled function and its slow path) refuse it as validate does: a ``type`` problem naming
the column and the zone found, saying how to fix it. Nulls are not aware values: they
pass validate and reach DateParts' null refusal, as before.
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

ZONES = ["Europe/Paris", "UTC", "America/New_York", "Asia/Kathmandu", "+05:30", "-03:30"]
PARTS = ["year", "month", "day", "hour", "minute"]


def _fitted() -> FeaturePipeline:
    naive = pd.DataFrame({"t": pd.to_datetime(["2024-01-15 12:00", "2024-07-15 12:00"])})
    return FeaturePipeline([steps.DateParts(["t"], parts=PARTS)]).fit(naive)


PIPE = _fitted()


def _tz(zone: str) -> dt.tzinfo:
    if zone[0] in "+-":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    return ZoneInfo(zone)


def _batches(value: dt.datetime, zone: str) -> dict[str, Any]:
    """One aware value as each kind of batch column, behind a naive row."""
    stamps = pd.DatetimeIndex([value]).tz_convert(zone)
    return {
        "pandas typed": pd.DataFrame({"t": stamps}),
        "arrow typed": pa.table({"t": pa.array(stamps, pa.timestamp("us", tz=stamps.tz))}),
        "ArrowDtype": pd.DataFrame(
            {
                "t": pd.Series(
                    pa.array(stamps), dtype=pd.ArrowDtype(pa.timestamp("ns", tz=stamps.tz))
                )
            }
        ),
        "object": pd.DataFrame({"t": pd.Series([value.replace(tzinfo=None), value], dtype=object)}),
        "object Timestamps": pd.DataFrame(
            {"t": pd.Series([pd.NaT, pd.Timestamp(value)], dtype=object)}
        ),
    }


def _refusal(call: Any) -> tuple[str, str, int | None, str]:
    with pytest.raises(SchemaError) as err:
        call()
    [problem] = err.value.problems
    return problem.column, problem.kind, problem.row, problem.message


def _check(message: str, zone_found: str) -> None:
    assert f"got time zone {zone_found!r}" in message
    assert "fitted naive" in message
    assert ".dt.tz_localize(None)" in message  # the fix
    assert "2024" not in message  # names the zone, never the value


@settings(max_examples=40, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.sampled_from(ZONES),
)
def test_every_path_refuses_an_aware_value_as_validate_does(naive: dt.datetime, zone: str) -> None:
    value = naive.replace(tzinfo=_tz(zone))
    record = _refusal(lambda: PIPE.transform_record({"t": value}))
    validate = _refusal(lambda: PIPE.input_schema.validate({"t": pd.Timestamp(value)}))
    assert record[:3] == validate[:3] == ("t", "type", None)
    found = validate[3].split("got time zone ")[1].split(";")[0]  # the zone validate names
    _check(record[3], found.strip("'"))
    for kind, batch in _batches(value, zone).items():
        column, problem, row, message = _refusal(lambda b=batch: PIPE.transform(b))
        assert (column, problem) == ("t", "type"), kind
        assert row == (1 if kind.startswith("object") else None), kind
        checked = _refusal(lambda b=batch: PIPE.input_schema.validate(b))
        assert checked[:2] == ("t", "type"), kind
        if kind == "object":  # naive, then aware: the mixture, as validate names it (stop 41)
            assert (row, message) == checked[2:], kind
        else:
            assert "fitted naive" in message, kind
    # Made naive (its wall-clock time), the value is read by both paths alike.
    wall = pd.Timestamp(naive)
    got = PIPE.transform_record({"t": naive})
    assert got.tolist() == PIPE.transform(pd.DataFrame({"t": [wall]}))[0].tolist()
    assert got.tolist() == [wall.year, wall.month, wall.day, wall.hour, wall.minute]


@pytest.mark.parametrize(
    ("value", "zone"),
    [
        (dt.datetime(2024, 3, 4, 5, tzinfo=ZoneInfo("Europe/Paris")), "Europe/Paris"),
        (pd.Timestamp("2024-03-04 05:00", tz="America/New_York"), "America/New_York"),
        (dt.datetime(2024, 3, 4, 5, tzinfo=dt.timezone.utc), "UTC"),
    ],
    ids=["zoneinfo", "Timestamp", "utc"],
)
def test_the_compiled_record_function_refuses_after_a_naive_record(value: Any, zone: str) -> None:
    # The compiled function's fast path took naive datetimes and Timestamps alike; an aware
    # one must now leave it for record_time, which refuses it (every call, not the first).
    pipe = _fitted()
    assert pipe.transform_record({"t": dt.datetime(2024, 3, 4, 5)}).tolist()[3] == 5.0
    for _ in range(3):
        _, kind, _, message = _refusal(lambda: pipe.transform_record({"t": value}))
        assert kind == "type"
        _check(message, zone)
    assert pipe.transform_record({"t": pd.Timestamp("2024-03-04 06:00")}).tolist()[3] == 6.0


def test_a_later_chunk_with_a_zone_is_refused() -> None:
    naive = pd.DataFrame({"t": pd.to_datetime(["2024-01-15 12:00"])})
    aware = pd.DataFrame({"t": pd.to_datetime(["2024-01-15 12:00"]).tz_localize("UTC")})
    assert PIPE.transform([naive, naive]).shape == (2, len(PARTS))
    _, kind, _, message = _refusal(lambda: PIPE.transform([naive, aware]))
    assert kind == "type"
    _check(message, "UTC")


def test_out_of_range_is_still_a_range_problem_before_the_zone() -> None:
    # The range is checked before the zone (stop 40, records40): both paths say range.
    late = pd.Timestamp("2262-04-12 05:00", tz="Asia/Tokyo")  # in range as an instant
    for call in (
        lambda: PIPE.transform_record({"t": late}),
        lambda: PIPE.transform(pd.DataFrame({"t": pd.Series([late], dtype=object)})),
    ):
        assert _refusal(call)[1] == "range"


@pytest.mark.parametrize(
    "nulls",
    [
        pd.Series([pd.NaT], dtype="datetime64[ns, Europe/Paris]"),
        pd.Series([None], dtype=object),
        pd.Series([pd.NaT, None], dtype=object),
        pd.Series([np.datetime64("NaT")], dtype=object),
    ],
    ids=["typed aware NaT", "None", "NaT and None", "datetime64 NaT"],
)
def test_nulls_are_not_aware_values(nulls: pd.Series) -> None:
    # A column of nulls has no zone to refuse: validate passes it, and DateParts refuses
    # the null itself (kind null, row 0), as before this change.
    frame = pd.DataFrame({"t": nulls})
    PIPE.input_schema.validate(frame)
    column, kind, row, _ = _refusal(lambda: PIPE.transform(frame))
    assert (column, kind, row) == ("t", "null", 0)
    for value in (None, pd.NaT):
        assert _refusal(lambda v=value: PIPE.transform_record({"t": v}))[1] == "null"


def test_a_zoned_column_still_converts_a_value_in_another_zone() -> None:
    # The mirror: only a column fitted naive refuses aware values.
    paris = pd.DataFrame({"t": pd.to_datetime(["2024-07-15 12:00"]).tz_localize("Europe/Paris")})
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=PARTS)]).fit(paris)
    utc = dt.datetime(2024, 7, 15, 10, tzinfo=dt.timezone.utc)
    assert pipe.transform_record({"t": utc}).tolist()[3] == 12.0
    assert pipe.transform(pd.DataFrame({"t": [pd.Timestamp(utc)]}))[0, 3] == 12.0
