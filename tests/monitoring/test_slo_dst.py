"""Burn-rate buckets across a daylight-saving step back (Europe/Berlin, 2026-10-25).

At 03:00 CEST the wall clock goes back to 02:00 CET: 02:00-02:59 happens twice. The
monitor's clock is seconds: tz-aware timestamps (``datetime.timestamp()`` of an aware
time, or ``time.time``) never step back; a naive local wall time read as UTC (what
pandas does with a naive ``Timestamp``) steps back 3600 s. Four hours of one event a
minute (true time 23:00-03:00 UTC); the events of the true hour 00:00-01:00 UTC (the
first 02:00-02:59, CEST) are bad.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from prodml.monitoring import BurnRateRule, ModelMonitor
from prodml.monitoring._slo import SLOCounter

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 10, 24, 23, 0, tzinfo=timezone.utc)  # 01:00 CEST
EVENTS = [START + timedelta(minutes=k) for k in range(240)]
CHECKS = (89, 119, 149, 179, 239)  # 02:29 CEST, 02:59 CEST, 02:29 CET, 02:59 CET, 03:59 CET


def _aware(e: datetime) -> float:
    return e.astimezone(BERLIN).timestamp()


def _naive_as_utc(e: datetime) -> float:
    wall = e.astimezone(BERLIN).replace(tzinfo=None)
    return wall.replace(tzinfo=timezone.utc).timestamp()


def _run(stamp) -> tuple[SLOCounter, dict[int, tuple]]:
    counter = SLOCounter(60.0, 3 * 86_400.0)
    seen = {}
    for k, e in enumerate(EVENTS):
        t = stamp(e)
        counter.record(t, bad=60 <= k < 120)
        if k in CHECKS:
            seen[k] = (counter.window(t, 300), counter.window(t, 3600))
    return counter, seen


def test_tz_aware_timestamps_give_the_exact_windows_through_the_change() -> None:
    counter, seen = _run(_aware)
    # a window is (now - seconds, now]: one event a minute gives 5 in 5 min, 60 in 1 h
    assert seen == {
        89: ((5, 5), (60, 30)),
        119: ((5, 5), (60, 60)),
        149: ((5, 0), (60, 30)),
        179: ((5, 0), (60, 0)),
        239: ((5, 0), (60, 0)),
    }
    buckets = counter.buckets()
    assert len(buckets) == 240
    assert all(b[1] == 1 for b in buckets)
    assert sum(b[2] for b in buckets) == 60


def test_naive_local_timestamps_neither_drop_nor_double_count_an_event() -> None:
    counter, seen = _run(_naive_as_utc)
    buckets = counter.buckets()
    # The repeated wall hour is late by less than the horizon: its 60 events count once,
    # in the last bucket open before the step (02:59 CEST's, 02:58-02:59), until the wall
    # clock passes it again. Every event is in exactly one bucket: 240 events, 60 bad,
    # 180 buckets.
    assert len(buckets) == 180
    assert sum(b[1] for b in buckets) == 240
    assert sum(b[2] for b in buckets) == 60
    assert buckets[119][1:] == [61, 1]  # 02:59 CEST's own event, and the 60 repeated
    # The windows read wall time, which repeated: during the second 02:00-02:59 a window
    # still holds the first pass's buckets after "now", so the 5-minute window at 02:29
    # CET counts 02:25-02:59 CEST (35 events, all bad) plus the 30 repeated ones. The
    # burn rate of the short window stays high for that hour: pass tz-aware times (or the
    # default clock, time.time) to avoid it. At 03:59 CET the hour (02:59, 03:59] no
    # longer holds the bucket of the repeated hour (stamped 02:58-02:59).
    assert seen == {
        89: ((5, 5), (60, 30)),
        119: ((5, 5), (60, 60)),
        149: ((65, 35), (120, 60)),
        179: ((65, 5), (120, 60)),
        239: ((5, 0), (60, 0)),
    }


@pytest.mark.parametrize("stamp", [_aware, _naive_as_utc], ids=["aware", "naive"])
def test_a_monitor_counts_every_latency_event_once_across_the_change(stamp) -> None:
    rule = BurnRateRule("lat", objective=0.99, sli="latency", latency_threshold_s=0.1)
    mon = ModelMonitor("m", rules=[rule], clock=lambda: stamp(EVENTS[-1]), evaluate_every_s=None)
    for k, e in enumerate(EVENTS):
        mon.log_prediction(
            k, None, 0.5, latency_s=0.5 if 60 <= k < 120 else 0.01, timestamp=stamp(e)
        )
    buckets = mon._slo["lat"].buckets()
    assert sum(b[1] for b in buckets) == 240
    assert sum(b[2] for b in buckets) == 60
