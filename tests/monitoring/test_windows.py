"""Count and time windows: contents, bounds, expiry, state round trip, bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError
from prodml.monitoring import CountWindow, TimeWindow
from prodml.monitoring.windows import window_from_dict


@given(st.integers(1, 50), st.lists(st.integers(0, 1), max_size=200))
def test_count_window_keeps_the_last_size(size: int, labels: list[int]) -> None:
    w = CountWindow(size)
    for i, y in enumerate(labels):
        w.add(float(i), y, 1 - y)
    assert w.labels() == labels[-size:] if labels else w.labels() == []
    assert len(w) == min(size, len(labels))
    assert w.dropped == 0  # a count window slides; nothing is "dropped"


def test_time_window_expires_and_caps() -> None:
    w = TimeWindow(seconds=10.0, max_size=3)
    for t in range(5):
        w.add(float(t), t, t)
    assert w.labels() == [2, 3, 4]
    assert w.dropped == 2
    w.expire(now=13.0)  # keeps t > 3
    assert w.times() == [4.0]
    w.expire(now=100.0)
    assert len(w) == 0


@pytest.mark.parametrize("window", [CountWindow(3), TimeWindow(60.0, max_size=2)])
def test_round_trip(window: CountWindow | TimeWindow) -> None:
    for t in range(4):
        window.add(float(t), t % 2, 0.25 * t)
    back = window_from_dict(json.loads(json.dumps(window.to_dict())))
    assert type(back) is type(window)
    assert back.to_dict() == window.to_dict()
    assert repr(back) == repr(window)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CountWindow(0), "'size' parameter of CountWindow must be an int >= 1"),
        (lambda: CountWindow(2.5), "'size' parameter of CountWindow"),
        (lambda: TimeWindow(0.0), "'seconds' parameter of TimeWindow must be a float > 0"),
        (lambda: TimeWindow(5.0, max_size=0), "'max_size' parameter of TimeWindow"),
        (lambda: window_from_dict({"kind": "hourly"}), "Unknown window kind 'hourly'"),
        (
            lambda: window_from_dict(
                {
                    "kind": "count",
                    "config": {"size": 2},
                    "times": [1.0],
                    "labels": [],
                    "outputs": [],
                }
            ),
            "differ in length",
        ),
    ],
)
def test_bad_windows(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]
