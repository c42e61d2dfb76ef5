"""fairmon38: expiry after a clock step back, burn-rate windows' edges and exact thresholds,
hostile burn-rate state, and saved states written before these fixes.

``golden/monitor_slo_before38.json`` was written by main's code before this change
(commit aec7c8f, buckets ``[start, start + 60)``, closed windows)::

    rule = BurnRateRule(
        "slo", objective=0.9, resolution_s=60.0, windows=(BurnWindow(600.0, 120.0, 2.0, "page"),)
    )
    mon = ModelMonitor(
        "golden",
        rules=[rule],
        window=TimeWindow(600.0),
        pending_ttl_s=300.0,
        evaluate_every_s=None,
        clock=lambda: 0.0,
    )
    for k in range(1, 11):  # one labelled prediction a minute, on the minute
        mon.log_prediction(f"p{k}", None, 0.9, timestamp=60.0 * k)
        mon.log_label(f"p{k}", 0 if k in (4, 5) else 1, timestamp=60.0 * k)
    mon.log_prediction("waiting", None, 0.2, timestamp=600.0)
    json.dumps(mon.to_dict(), indent=1, sort_keys=True)
"""

from __future__ import annotations

import copy
import json
import math
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError
from prodml.monitoring import BurnRateRule, ModelMonitor
from prodml.monitoring._slo import SLOCounter
from prodml.monitoring._values import burn_rate
from prodml.monitoring.alerts import BurnWindow
from prodml.monitoring.windows import CountWindow, TimeWindow

from .conftest import FakeClock

GOLDEN = Path(__file__).parent / "golden"


# ---------------------------------------------------------------- pending expiry
def _mon(**kw: object) -> ModelMonitor:
    return ModelMonitor("m", evaluate_every_s=None, clock=FakeClock(), **kw)  # type: ignore[arg-type]


def test_a_pending_prediction_expires_on_time_behind_one_stamped_before_a_step_back() -> None:
    mon = _mon(pending_ttl_s=100.0)
    mon.log_prediction("a", None, 0.5, timestamp=1000.0)
    mon.log_prediction("b", None, 0.5, timestamp=950.0)  # the clock stepped back 50 s
    mon.evaluate(now=1049.0)
    assert mon.pending_count == 2
    mon.evaluate(now=1050.0)  # b is 100 s old: out; a (50 s later) waits behind no one
    assert (mon.pending_count, mon.counters()["expired_total"]) == (1, 1)
    assert list(mon._pending) == ["a"]
    mon.evaluate(now=1100.0)
    assert (mon.pending_count, mon.counters()["expired_total"]) == (0, 2)


def test_a_prediction_stamped_over_a_ttl_ahead_expires_and_frees_the_rest() -> None:
    # One reading a year ahead held every later prediction until the clock got there.
    mon = _mon(pending_ttl_s=100.0)
    mon.log_prediction("ahead", None, 0.5, timestamp=3e7)
    for i in range(5):
        mon.log_prediction(i, None, 0.5, timestamp=100.0 + i)
    mon.evaluate(now=150.0)  # "ahead" is 3e7 - 150 s in the future: from a wrong clock
    assert list(mon._pending) == [0, 1, 2, 3, 4]
    mon.evaluate(now=202.0)
    assert list(mon._pending) == [3, 4]
    assert mon.counters()["expired_total"] == 4
    assert not mon._pending_unsorted  # in order again: back to the oldest-first scan


def test_pending_predictions_served_through_the_queue_track_their_order() -> None:
    clock = FakeClock(1000.0)
    mon = ModelMonitor("m", evaluate_every_s=None, clock=clock, pending_ttl_s=100.0)
    for i in range(3):
        mon._log_served(i, None, 0.5, 0.01)
    clock.t = 900.0  # steps back within one queue of predictions
    for i in range(3, 6):
        mon._log_served(i, None, 0.5, 0.01)
    mon.evaluate(now=1000.0)  # 3..5 are exactly 100 s old
    assert list(mon._pending) == [0, 1, 2]


def test_labelled_ids_expire_on_time_after_a_step_back() -> None:
    mon = _mon(pending_ttl_s=100.0)
    for pid, t in (("a", 1000.0), ("b", 950.0)):
        mon.log_prediction(pid, None, 0.5, timestamp=t)
        mon.log_label(pid, 1, timestamp=t)
    mon.evaluate(now=1050.0)
    assert list(mon._labelled) == ["a"]
    assert mon.log_label("b", 1, timestamp=1050.0) is False
    assert mon.counters()["unmatched_total"] == 1  # b's record expired: not a duplicate


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.floats(0.0, 1000.0, allow_nan=False), min_size=1, max_size=30),
    checks=st.lists(st.floats(0.0, 1200.0, allow_nan=False), min_size=1, max_size=5),
)
def test_pending_predictions_are_those_stamped_within_a_ttl_of_each_evaluation(
    times: list[float], checks: list[float]
) -> None:
    ttl = 100.0
    mon = _mon(pending_ttl_s=ttl)
    alive = {}
    for i, t in enumerate(times):
        mon.log_prediction(i, None, 0.5, timestamp=t)
        alive[i] = t
    for now in checks:
        mon.evaluate(now=now)
        alive = {i: t for i, t in alive.items() if now - ttl < t <= now + ttl}
        assert set(mon._pending) == set(alive)
    assert mon.counters()["expired_total"] == len(times) - len(alive)


def test_group_window_records_leave_on_time_after_a_step_back() -> None:
    mon = _mon(group_by=["sex"], group_window=TimeWindow(100.0))
    for i, (t, sex) in enumerate([(1000.0, "F"), (950.0, "M"), (960.0, "M")]):
        mon.log_prediction(i, None, 0.9, groups={"sex": sex}, timestamp=t)
        mon.log_label(i, 1, timestamp=t)
    values = mon.metrics(now=1055.0)  # 950 is out, 960 and 1000 in
    assert values["group_window_count"] == 2.0
    assert mon._groups is not None
    assert mon._groups.metrics.counts() == {("F",): [0, 0, 0, 1], ("M",): [0, 0, 0, 1]}
    assert mon.metrics(now=1060.0)["group_window_count"] == 1.0
    assert mon._groups.metrics.counts()[("M",)] == [0, 0, 0, 0]


def test_a_monitor_saved_after_a_step_back_restores() -> None:
    # Its window's times are out of order; the check on load required them sorted and
    # refused the monitor's own state.
    for window in (TimeWindow(100.0), CountWindow(10)):
        mon = _mon(window=window, pending_ttl_s=100.0)
        for i, t in enumerate([50.0, 60.0, 40.0]):
            mon.log_prediction(i, None, 0.9, timestamp=t)
            mon.log_label(i, 1, timestamp=t)
        mon.log_prediction("x", None, 0.5, timestamp=70.0)
        mon.log_prediction("y", None, 0.5, timestamp=65.0)
        back = ModelMonitor.from_dict(mon.to_dict(), clock=FakeClock())
        assert back.window.times() == [50.0, 60.0, 40.0]
        assert back._pending_unsorted
        assert back._pending_last == 65.0
        back.evaluate(now=155.0)
        if isinstance(window, TimeWindow):
            assert back.window.times() == [60.0]  # 40 and 50 expired, in any order
        back.evaluate(now=165.0)
        assert list(back._pending) == ["x"]


def test_a_monitor_pickled_before_the_order_flags_checks_its_pending_once() -> None:
    mon = _mon(pending_ttl_s=100.0)
    mon.log_prediction("a", None, 0.5, timestamp=1000.0)
    mon.log_prediction("b", None, 0.5, timestamp=950.0)
    state = mon.__getstate__()
    for name in ("_pending_unsorted", "_pending_last", "_labelled_unsorted", "_labelled_last"):
        state.pop(name, None)
    old = ModelMonitor.__new__(ModelMonitor)
    old.__setstate__(state)
    old.evaluate(now=1050.0)
    assert list(old._pending) == ["a"]
    assert old.counters()["expired_total"] == 1
    assert pickle.loads(pickle.dumps(old))._pending_unsorted is False


# ---------------------------------------------------------------- burn-rate windows
def test_a_burn_rate_window_is_left_open_right_closed() -> None:
    # Prometheus' range selectors and the SRE workbook's rates: (now - window, now].
    slo = SLOCounter(resolution_s=60.0, horizon_s=3600.0)
    slo.record(300.0, bad=True)  # exactly 5 min before 600
    slo.record(300.5, bad=False)
    slo.record(600.0, bad=False)
    assert slo.window(600.0, 300.0) == (2.0, 0.0)
    assert slo.window(600.5, 300.0) == (1.0, 0.0)  # bucket (300, 360] partly out: left out
    assert slo.window(660.0, 360.0) == (2.0, 0.0)
    assert slo.window(600.0, 360.0) == (3.0, 1.0)


def test_a_window_shorter_than_a_bucket_counts_the_bucket_holding_now() -> None:
    slo = SLOCounter(resolution_s=60.0, horizon_s=3600.0)
    for t in (61.0, 100.0, 119.0):
        slo.record(t, bad=t == 61.0)
    assert slo.window(119.0, 10.0) == (3.0, 1.0)
    assert slo.window(120.0, 10.0) == (3.0, 1.0)
    assert slo.window(121.0, 10.0) == (0.0, 0.0)


def _steady(rule: BurnRateRule, bad_from: float, until: float) -> list[float]:
    """One event a second from 1 to ``until``, bad from ``bad_from`` on; firing times."""
    counter = SLOCounter(rule.resolution_s, rule.horizon_s)
    fired = []
    t = 1.0
    while t <= until:
        counter.record(t, bad=t >= bad_from)
        if burn_rate(rule, counter, t)[0]:
            fired.append(t)
        t += 1.0
    return fired


def test_time_to_detect_a_total_outage_is_the_sre_workbooks() -> None:
    # SRE workbook, "Alerting on SLOs": with a 99.9% SLO a 100% error rate burns at 1000x;
    # the 1 h / 14.4x pair detects it after 0.001 * 3600 s * 14.4 / 1 = 51.84 s, so at the
    # 52nd bad event of a steady second-by-second stream (51 of 3600: 14.17x, 52: 14.44x).
    rule = BurnRateRule(
        "slo", objective=0.999, windows=(BurnWindow(3600.0, 300.0, 14.4),), resolution_s=1.0
    )
    fired = _steady(rule, bad_from=3601.0, until=3700.0)
    assert fired[0] == 3601.0 + 51.0
    # The 6 h / 6x pair alone: 0.001 * 21600 * 6 = 129.6 s -> at the 130th bad second.
    rule6 = BurnRateRule(
        "slo", objective=0.999, windows=(BurnWindow(21600.0, 1800.0, 6.0),), resolution_s=1.0
    )
    assert _steady(rule6, bad_from=21601.0, until=21800.0)[0] == 21601.0 + 129.0


@pytest.mark.parametrize(
    ("objective", "factor", "total", "bad", "fires"),
    [
        (0.9, 1.0, 100, 10, False),  # burns exactly at 1x: not above it
        (0.9, 1.0, 100, 11, True),
        (0.9, 6.0, 1000, 600, False),  # exactly 6x (float division said 6.000000000000001)
        (0.9, 6.0, 1000, 601, True),
        (0.999, 14.4, 10_000, 144, False),  # exactly 14.4x
        (0.999, 14.4, 10_000, 145, True),
        (0.99, 2.0, 3600, 72, False),
        (0.99, 2.0, 3600, 73, True),
    ],
)
def test_a_pair_fires_only_above_its_factor_exactly(
    objective: float, factor: float, total: int, bad: int, fires: bool
) -> None:
    rule = BurnRateRule(
        "slo", objective=objective, windows=(BurnWindow(600.0, 600.0, factor),), resolution_s=60.0
    )
    counter = SLOCounter(60.0, 600.0)
    for i in range(total):
        counter.record(100.0, bad=i < bad)
    assert burn_rate(rule, counter, 120.0)[0] is fires


# ---------------------------------------------------------------- saved burn-rate state
def _golden() -> dict:
    return json.loads((GOLDEN / "monitor_slo_before38.json").read_text())


def test_a_state_saved_before_the_left_open_windows_loads_and_goes_on() -> None:
    data = _golden()
    mon = ModelMonitor.from_dict(data, clock=FakeClock())
    counter = mon._slo["slo"]
    # Its buckets load as saved; an event stamped on a boundary (all of these) now reads
    # as in the bucket after it: 300's bad one as in (300, 360], 600's as in (600, 660]
    # (after now, which windows count too), so (300, 600] holds 6 events, 1 bad.
    assert counter.buckets() == data["state"]["slo"]["slo"]["buckets"]
    assert counter.window(600.0, 600.0) == (10.0, 2.0)
    assert counter.window(600.0, 300.0) == (6.0, 1.0)
    assert list(mon._pending) == ["waiting"]
    assert not mon._pending_unsorted
    # New events follow the new buckets; the state saves and loads again unchanged.
    mon.log_prediction("late", None, 0.9, timestamp=660.0)
    mon.log_label("late", 0, timestamp=660.0)
    assert counter.buckets()[-1] == [600.0, 2.0, 1.0]  # (600, 660]: with 600's old event
    again = ModelMonitor.from_dict(json.loads(mon.to_json()), clock=FakeClock())
    assert again._slo["slo"].buckets() == counter.buckets()
    # (60, 660]: 3 bad of 11, (540, 660]: 1 of 3, both above 2 * (1 - 0.9)
    events = again.evaluate(now=660.0)
    assert [(e.rule, e.state) for e in events] == [("slo", "firing")]
    assert again.evaluate(now=1300.0)[0].state == "resolved"  # (700, 1300] holds nothing


def _slo_state(buckets: object, **extra: object) -> dict:
    data = _golden()
    data["state"]["slo"]["slo"]["buckets"] = buckets
    data["state"]["slo"]["slo"].update(extra)
    return data


@pytest.mark.parametrize(
    ("buckets", "extra", "match"),
    [
        ([[math.nan, 1.0, 1.0]], {}, "finite numbers"),
        ([[60.0, 1.0, math.inf]], {}, "finite numbers"),
        ([[60.0, -5.0, 0.0]], {}, "0 <= bad <= total"),
        ([[60.0, 1.0, 5.0]], {}, "0 <= bad <= total"),
        ([[60.0, 1.5, 0.0]], {}, "whole numbers"),
        ([[120.0, 1.0, 0.0], [60.0, 1.0, 1.0]], {}, "must increase"),
        ([[60.0, 1.0, 0.0], [60.0, 1.0, 1.0]], {}, "must increase"),
        ([[60.0, True, 0.0]], {}, "finite numbers"),
        ([[60.0, "1", 0.0]], {}, "finite numbers"),
        ([[60.0, 1.0]], {}, "needs 3 numbers"),
        ([[60.0 * i, 1.0, 0.0] for i in range(20)], {}, "at most 13 buckets"),
        ("buckets", {}, "must be a list"),
        ([[60.0, 2.0**53, 0.0]], {}, "beyond 2\\*\\*53"),
        ([], {"resolution_s": 1.0}, "resolution_s=1.0, not the rule's 60.0"),
        ([], {"horizon_s": 1e9}, "horizon_s"),
    ],
)
def test_hostile_burn_rate_state_is_refused_naming_the_rule(
    buckets: object, extra: dict, match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        ModelMonitor.from_dict(_slo_state(buckets, **extra), clock=FakeClock())
    assert "state.slo.slo" in str(err.value)


def test_a_refused_burn_rate_state_leaves_the_counter_as_it_was() -> None:
    counter = SLOCounter(60.0, 600.0)
    counter.record(100.0, bad=True)
    before = copy.deepcopy(counter.to_dict())
    with pytest.raises(ConfigError):
        counter.load({"buckets": [[60.0, 1.0, 0.0], [0.0, 1.0, 0.0]]})
    assert counter.to_dict() == before
