"""Durations: seconds or a timedelta in (checked), one wording out in messages."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml._durations import describe, seconds
from prodml.errors import ConfigError

_UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0, "days": 86400.0}


@pytest.mark.parametrize(
    ("secs", "text"),
    [
        (0.0, "0 s"),
        (0.25, "0.25 s"),
        (59.0, "59 s"),
        (60.0, "1 min"),
        (90.0, "1.5 min"),
        (3599.0, "60 min"),  # 59.98 min at three significant digits
        (3600.0, "1 h"),
        (7200.0, "2 h"),
        (86399.0, "24 h"),
        (86400.0, "1 day"),
        (129600.0, "1.5 days"),
        (7 * 86400.0, "7 days"),
        (365 * 86400.0, "365 days"),
        (12345 * 86400.0, "12,345 days"),
        (-7200.0, "-2 h"),
        (math.inf, "inf s"),
    ],
)
def test_describe_picks_the_largest_unit(secs: float, text: str) -> None:
    assert describe(secs) == text


@given(st.floats(min_value=1e-3, max_value=1e12, allow_nan=False))
def test_describe_reads_back_within_its_rounding(secs: float) -> None:
    amount, unit = describe(secs).split(" ")
    value = float(amount.replace(",", "")) * _UNIT[unit]
    # Three significant digits (or whole units from 100 up): at most half a unit in
    # the last digit kept, relative to the value.
    assert value == pytest.approx(secs, rel=5e-3)
    assert "e" not in amount


@pytest.mark.parametrize(
    ("value", "positive", "expected"),
    [
        (1, True, 1.0),
        (2.5, True, 2.5),
        (timedelta(hours=2), True, 7200.0),
        (0, False, 0.0),
        (timedelta(0), False, 0.0),
    ],
)
def test_seconds_accepts_numbers_and_timedeltas(
    value: object, positive: bool, expected: float
) -> None:
    got = seconds(value, "every", "ScheduleTrigger", positive=positive)
    assert got == expected
    assert type(got) is float


@pytest.mark.parametrize(
    ("value", "positive", "shown"),
    [
        (0, True, "Got 0 instead"),
        (-1.0, False, "Got -1.0 instead"),
        (timedelta(seconds=-1), False, "Got datetime.timedelta(days=-1, seconds=86399)"),
        (True, True, "Got True instead"),
        (math.nan, True, "Got nan instead"),
        (math.inf, True, "Got inf instead"),
        ("7d", True, "Got '7d' instead"),
        (None, True, "Got None instead"),
        (10**400, True, "Got 1000000000"),  # an int beyond float: cut, not a float error
    ],
)
def test_seconds_refuses_with_the_parameter_and_owner(
    value: object, positive: bool, shown: str
) -> None:
    with pytest.raises(ConfigError) as err:
        seconds(value, "every", "ScheduleTrigger", positive=positive)
    bound = "> 0" if positive else ">= 0"
    assert str(err.value).startswith(
        f"The 'every' parameter of ScheduleTrigger must be seconds {bound} or a timedelta."
    )
    assert shown in str(err.value)
    assert err.value.parameter == "every"
    assert len(str(err.value)) < 200
