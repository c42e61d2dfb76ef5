"""Alert rules read as Prometheus' alerting rules, windows at their edges, odd clocks.

Prometheus: an alert is pending from the first evaluation whose expression holds, fires
at the first evaluation at least ``for`` after that, and resolves at the first one that
no longer holds; it never sends a second firing or resolved in a row. Where prodml
deliberately differs (NaN and too little traffic hold a firing alert; hysteresis), the
tests say so, as docs/monitoring.md does.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.monitoring import AlertRule, BurnRateRule, BurnWindow, ModelMonitor
from prodml.monitoring._slo import SLOCounter
from prodml.monitoring._stats import SlotStats
from prodml.monitoring.alerts import RuleState
from prodml.monitoring.windows import CountWindow, TimeWindow, window_from_dict

from .conftest import FakeClock


def steps(rule: AlertRule, seq: list[tuple[float, float]]) -> list[tuple[float, str]]:
    state = RuleState()
    out = []
    for t, v in seq:
        change = state.step(rule, v, traffic=1e9, now=t)
        if change:
            out.append((t, change))
    return out


def test_pending_for_the_duration_then_firing_then_resolved_like_prometheus() -> None:
    rule = AlertRule("r", metric="error_rate", op=">", fire=0.1, for_s=60)
    state = RuleState()
    assert state.step(rule, 0.2, traffic=1, now=100) is None
    assert (state.state, state.since) == ("pending", 100)
    assert state.step(rule, 0.2, traffic=1, now=159.999) is None  # not yet for_s
    assert state.step(rule, 0.2, traffic=1, now=160) == "firing"  # at exactly for_s
    assert state.fired_at == 160
    assert state.step(rule, 0.2, traffic=1, now=161) is None  # no second firing
    assert state.step(rule, 0.05, traffic=1, now=170) == "resolved"
    assert state.step(rule, 0.05, traffic=1, now=171) is None  # no second resolved
    assert (state.state, state.since, state.fired_at) == ("inactive", None, None)


@pytest.mark.parametrize(("op", "level"), [("<", 0.8), (">", 0.8)])
def test_a_value_exactly_at_the_threshold_neither_fires_nor_flaps(op: str, level: float) -> None:
    rule = AlertRule("r", metric="m", op=op, fire=level)  # type: ignore[arg-type]
    assert steps(rule, [(float(t), level) for t in range(10)]) == []
    # Firing, then the value sits at the threshold: one resolved, then quiet.
    beyond = level - 0.1 if op == "<" else level + 0.1
    seq = [(0.0, beyond)] + [(float(t), level) for t in range(1, 10)]
    assert steps(rule, seq) == [(0.0, "firing"), (1.0, "resolved")]


@given(st.lists(st.sampled_from([0.7, 0.8, 0.9, math.nan]), max_size=80))
def test_events_alternate_whatever_the_values(values: list[float]) -> None:
    rule = AlertRule("r", metric="m", op="<", fire=0.8, clear=0.85, for_s=2)
    changes = [c for _, c in steps(rule, [(float(t), v) for t, v in enumerate(values)])]
    assert all(a != b for a, b in itertools.pairwise(changes))
    assert not changes or changes[0] == "firing"


def test_nan_restarts_a_pending_timer_and_holds_a_firing_alert() -> None:
    # prodml's "no data": neither fires nor resolves (Prometheus would resolve on an
    # empty result); a pending alert starts over, as after any evaluation without it.
    rule = AlertRule("r", metric="m", op="<", fire=0.8, for_s=10)
    seq = [(0, 0.5), (5, math.nan), (9, 0.5), (15, 0.5), (19, 0.5), (20, math.nan), (30, 0.9)]
    assert steps(rule, seq) == [(19, "firing"), (30, "resolved")]


def test_repeated_timestamps_give_one_event() -> None:
    rule = AlertRule("r", metric="m", op="<", fire=0.8, for_s=0)
    assert steps(rule, [(5.0, 0.5)] * 4 + [(5.0, 0.9)] * 3) == [(5.0, "firing"), (5.0, "resolved")]
    timed = AlertRule("r", metric="m", op="<", fire=0.8, for_s=1)
    assert steps(timed, [(5.0, 0.5)] * 4) == []  # no time passed: still pending


def test_a_pending_alert_is_not_stalled_by_a_clock_reading_far_ahead() -> None:
    # One bad clock reading (a year ahead) while pending, then the clock is right again
    # and the condition holds on: the alert fires for_s after the clock came back, not a
    # year later (as the evaluation schedule and the SLO buckets already recover).
    rule = AlertRule("r", metric="m", op="<", fire=0.8, for_s=60)
    year = 365 * 86400.0
    seq = [(1000.0 + year, 0.5)] + [(1000.0 + 10 * i, 0.5) for i in range(1, 20)]
    assert steps(rule, seq) == [(1070.0, "firing")]


def test_a_small_step_back_while_pending_restarts_the_wait_at_the_earlier_reading() -> None:
    rule = AlertRule("r", metric="m", op="<", fire=0.8, for_s=60)
    seq = [(100.0, 0.5), (99.5, 0.5), (150.0, 0.5), (159.4, 0.5), (159.5, 0.5)]
    # for_s after the earliest reading of the wait: the step (0.5 s) earlier, no sooner.
    assert steps(rule, seq) == [(159.5, "firing")]


def test_monitor_alert_lifecycle_with_a_fake_clock() -> None:
    clock = FakeClock(0.0)
    mon = ModelMonitor(
        "m",
        window=CountWindow(10),
        rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.6, for_s=30)],
        clock=clock,
        evaluate_every_s=None,
    )
    for i in range(10):  # all wrong: accuracy 0
        mon.log_prediction(i, None, 0.9)
        mon.log_label(i, 0)
    assert mon.evaluate(now=0.0) == []
    assert mon.evaluate(now=0.0) == []  # repeated timestamp
    assert [e.state for e in mon.evaluate(now=30.0)] == ["firing"]
    assert mon.evaluate(now=31.0) == []
    for i in range(10, 20):  # all right: accuracy 1
        mon.log_prediction(i, None, 0.9)
        mon.log_label(i, 1)
    assert [(e.state, e.at) for e in mon.evaluate(now=40.0)] == [("resolved", 40.0)]
    assert mon.evaluate(now=40.0) == []


def test_time_window_is_left_open_and_right_closed() -> None:
    # (now - seconds, now]: a triple exactly one window old is out, one tick newer is in.
    w = TimeWindow(seconds=10.0)
    w.add(0.0, 1, 1)
    w.add(math.nextafter(0.0, 1.0), 1, 1)
    w.expire(now=10.0)
    assert w.times() == [math.nextafter(0.0, 1.0)]
    w.expire(now=math.nextafter(10.0, 11.0))
    assert len(w) == 0


def test_an_event_on_a_slot_boundary_is_counted_in_one_slot() -> None:
    stats = SlotStats([0.1, 1.0], [1.0, 10.0], interval_s=10.0, n_slots=3)
    for t in (0.0, 9.999, 10.0, 20.0, 29.0, 30.0):
        if not stats.floor <= t < stats.slot_end:
            stats.rotate(t)
        stats.current.observe(0.05)
        stats.current_count += 1
    assert stats.window_count() == 6
    assert [n for _, n in stats.slots] == [2, 1, 2]  # [0,10) [10,20) [20,30)
    assert stats.current_count == 1  # 30.0 opens [30, 40)


def test_an_event_on_a_bucket_boundary_is_counted_in_one_bucket() -> None:
    # A bucket stamped s holds (s, s + 60]: an event on a boundary ends a bucket.
    slo = SLOCounter(resolution_s=60.0, horizon_s=600.0)
    for t in (0.0, 59.0, 60.0, 119.999, 120.0):
        slo.record(t, bad=t == 60.0)
    assert slo.buckets() == [[-60.0, 1.0, 0.0], [0.0, 2.0, 1.0], [60.0, 2.0, 0.0]]
    assert slo.window(now=120.0, seconds=600.0) == (5.0, 1.0)
    # The window is (now - seconds, now]: at 180, the last 120 s are (60, 180], and the
    # bad event exactly 120 s old is out (Prometheus' range selectors, the SRE workbook).
    assert slo.window(now=180.0, seconds=120.0) == (2.0, 0.0)
    assert slo.window(now=179.0, seconds=120.0) == (2.0, 0.0)  # the bucket across 59 s: out
    assert slo.window(now=180.0, seconds=120.001) == (2.0, 0.0)
    assert slo.window(now=180.0, seconds=180.0) == (4.0, 1.0)  # (0, 180]: 0.0 is out
    assert slo.window(now=180.0, seconds=240.0) == (5.0, 1.0)


def test_a_burn_rate_alert_resolves_when_traffic_stops_as_in_prometheus() -> None:
    # Unlike threshold rules, a pair whose short window holds no event does not hold
    # (Prometheus: the ratio has no result), so the alert resolves once traffic stops.
    clock = FakeClock(0.0)
    rule = BurnRateRule(
        "slo",
        objective=0.99,
        windows=(BurnWindow(600.0, 60.0, 10.0, "page"),),
        resolution_s=10.0,
    )
    mon = ModelMonitor(rules=[rule], clock=clock, evaluate_every_s=None)
    for i in range(100):  # every prediction wrong: a 100x burn
        clock.t = float(i)
        mon.log_prediction(i, None, 0.9)
        mon.log_label(i, 0)
    assert [e.state for e in mon.evaluate(now=100.0)] == ["firing"]
    assert mon.evaluate(now=150.0) == []  # short window [90, 150] still holds events
    assert [(e.state, e.at) for e in mon.evaluate(now=170.0)] == [("resolved", 170.0)]


def test_time_window_drops_stale_triples_behind_newer_ones_after_a_step_back() -> None:
    # Labels at 0..99 s, then the clock steps back 50 s: labels at 50..59 s sit behind
    # newer ones. At 119 s the window is (59, 119]: the 40 triples of 60..99 s only.
    w = TimeWindow(seconds=60.0)
    for t in range(100):
        w.add(float(t), 1, 1)
    for t in range(50, 60):
        w.add(float(t), 0, 1)
    w.expire(now=100.0)  # (40, 100]: 41..99 s, and the ten stamped 50..59 s after them
    assert len(w) == 59 + 10
    w.expire(now=119.0)
    assert w.times() == [float(t) for t in range(60, 100)]
    assert w.labels() == [1] * 40
    assert not w._unsorted  # in order again: back to expiring from the oldest end only


def test_monitor_accuracy_after_a_clock_step_back_counts_only_the_window() -> None:
    clock = FakeClock(0.0)
    mon = ModelMonitor("m", window=TimeWindow(60.0), clock=clock, evaluate_every_s=None)
    for i in range(100):  # right
        clock.t = float(i)
        mon.log_prediction(i, None, 0.9)
        mon.log_label(i, 1)
    for i in range(100, 110):  # wrong, stamped 50..59 s by a clock that stepped back
        clock.t = float(i - 50)
        mon.log_prediction(i, None, 0.1)
        mon.log_label(i, 1)
    m = mon.metrics(now=119.0)
    assert (m["window_count"], m["accuracy"]) == (40.0, 1.0)


def test_a_saved_window_out_of_order_still_drops_its_stale_triples() -> None:
    w = TimeWindow(seconds=60.0)
    for t in (90.0, 95.0, 40.0, 97.0):  # 40 s: after a step back
        w.add(t, 1, 1)
    again = window_from_dict(json.loads(json.dumps(w.to_dict())))
    again.expire(now=110.0)
    assert again.times() == [90.0, 95.0, 97.0]
