"""Long runs of a ModelMonitor: clocks that step back, bounded state after many events."""

from __future__ import annotations

import numpy as np
import pytest

from prodml.errors import ConfigError, SchemaError
from prodml.fairness import GroupMetrics
from prodml.monitoring import CountWindow, InMemorySink, ModelMonitor, TimeWindow
from prodml.monitoring._slo import SLOCounter
from prodml.monitoring.alerts import AlertEvent
from prodml.monitoring.sinks import MAX_EVENTS


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _jumped_monitor(**kwargs: object) -> tuple[ModelMonitor, Clock, InMemorySink]:
    """A monitor that saw 100 s of traffic, one reading 30 years ahead, then the real time."""
    clock, sink = Clock(), InMemorySink(max_snapshots=100_000)
    mon = ModelMonitor("m", sinks=[sink], clock=clock, evaluate_every_s=10.0, **kwargs)  # type: ignore[arg-type]
    for i in range(100):
        clock.t = float(i)
        mon.log_prediction(i, None, 0.5, latency_s=0.01)
    clock.t = 1e9
    mon.log_prediction("bad clock", None, 0.5, latency_s=0.01)
    return mon, clock, sink


def test_evaluations_resume_after_the_clock_steps_back() -> None:
    mon, clock, sink = _jumped_monitor()
    before = len(sink.snapshots)
    for i in range(100, 3700):  # one hour of real time after the bad reading
        clock.t = float(i)
        mon.log_prediction(i, None, 0.5, latency_s=0.01)
    # Every 10 s, as before the jump: the bad reading does not postpone them 30 years.
    assert len(sink.snapshots) - before == 360
    assert sink.snapshots[-1].at == 3690.0


def test_latency_and_throughput_windows_roll_after_the_clock_steps_back() -> None:
    mon, clock, _ = _jumped_monitor(stats_window_s=300.0, stats_interval_s=10.0)
    for i in range(100, 3700):
        clock.t = float(i)
        mon.log_prediction(i, None, 0.5, latency_s=0.01)
    # The 5-minute window holds 5 minutes of predictions (one a second), not the hour
    # gathered in one slot stamped 30 years ahead.
    assert mon.metrics()["stats_count"] <= 310
    assert mon.metrics()["predictions_total"] == 3701


def test_the_served_entry_also_resumes_evaluations() -> None:
    mon, clock, sink = _jumped_monitor()
    before = len(sink.snapshots)
    for i in range(100, 400):
        clock.t = float(i)
        mon._log_served(i, None, 0.5, 0.01)
    assert len(sink.snapshots) - before == 30


def test_a_time_window_drops_labels_stamped_over_a_window_ahead() -> None:
    clock = Clock()
    mon = ModelMonitor("m", window=TimeWindow(60.0), clock=clock, evaluate_every_s=None)
    clock.t = 1e9
    mon.log_prediction("x", None, 0.9)
    mon.log_label("x", 1)
    for i in range(1000):
        clock.t = float(i)
        mon.log_prediction(i, None, 0.9)
        mon.log_label(i, 1)
    mon.evaluate()
    # The last 60 s of labels, not everything since the bad reading.
    assert mon.metrics()["window_count"] == 60


def test_slo_buckets_keep_their_counts_and_roll_after_the_clock_steps_back() -> None:
    slo = SLOCounter(resolution_s=60.0, horizon_s=3600.0)
    for i in range(600):
        slo.record(float(i), bad=i % 10 == 0)
    slo.record(1e9, bad=True)
    for i in range(600, 7800):
        slo.record(float(i), bad=False)
    total, bad = slo.window(7800.0, 3600.0)
    # One hour of events (one a second, in 60 s buckets), (4200, 7800]: the bucket
    # stamped 30 years ahead no longer swallows them all.
    assert total == 3599.0  # 4201 ... 7799
    assert bad == 0.0
    starts = [b[0] for b in slo.buckets()]
    assert starts == sorted(starts)
    assert max(starts) == 7740.0


def test_slo_rewind_keeps_the_running_totals() -> None:
    slo = SLOCounter(resolution_s=60.0, horizon_s=1000.0)
    for t in (0.0, 60.0, 120.0, 5000.0):
        slo.record(t, bad=True)
    slo.record(90.0, bad=False)  # back by more than the horizon
    # The bucket stamped 5000 became 90's bucket (60): its event is kept, with 90's.
    assert slo.buckets() == [[60.0, 2.0, 1.0]]
    assert slo.window(90.0, 1e6) == (2.0, 1.0)
    slo.record(4500.0, bad=False)  # back by less than the horizon: no rewind
    slo.record(4000.0, bad=True)
    assert slo.buckets()[-1] == [4440.0, 2.0, 1.0]  # (4440, 4500]


def test_late_timestamps_within_a_period_are_no_clock_step() -> None:
    # Events logged up to 1.4 s after they happened (evaluations every 10 s, 5 s slots):
    # counted as before the fix (these figures are main's), no extra evaluation or slot.
    clock, sink = Clock(), InMemorySink(max_snapshots=10_000)
    mon = ModelMonitor(
        "m", sinks=[sink], clock=clock, evaluate_every_s=10.0, stats_window_s=60.0,
        stats_interval_s=5.0,
    )  # fmt: skip
    for i in range(5000):
        clock.t = i * 0.2
        mon.log_prediction(i, None, 0.5, latency_s=0.01, timestamp=clock.t - 0.2 * (i % 8))
    assert len(sink.snapshots) == 90
    assert mon.metrics()["stats_count"] == 320.0


def test_group_values_that_left_the_window_stop_counting_against_max_groups() -> None:
    clock = Clock()
    mon = ModelMonitor(
        "m",
        group_by=["version"],
        group_window=CountWindow(500),
        clock=clock,
        evaluate_every_s=60.0,
    )
    for i in range(300_000):  # 300 app versions, one after the other; max_groups is 100
        clock.t = i * 0.01
        mon.log_prediction(i, {"version": f"v{i // 1000}"}, 0.7, latency_s=0.01)
        mon.log_label(i, 1)
    groups = mon._groups.metrics.groups  # type: ignore[union-attr]
    assert ("v299",) in groups
    assert len(groups) <= 100
    values = mon.metrics()
    assert values["group_window_count"] == 500
    assert values["tpr[version=v299]"] == 1.0
    # The saved state replays into a monitor with the same groups in use.
    restored = ModelMonitor.from_json(mon.to_json(), clock=clock)
    assert restored.metrics()["tpr[version=v299]"] == 1.0


def test_groups_still_in_use_are_never_forgotten_and_the_limit_still_holds() -> None:
    mon = ModelMonitor(
        "m", group_by=["g"], group_window=CountWindow(1000), clock=Clock(), evaluate_every_s=None
    )
    for i in range(100):
        mon.log_prediction(i, {"g": f"g{i}"}, 0.7)
        if i % 2:
            mon.log_label(i, 1)  # half in the window, half waiting for their label
    with pytest.raises(SchemaError, match="max_groups=100"):
        mon.log_prediction("new", {"g": "g100"}, 0.7)
    assert len(mon._groups.metrics.groups) == 100  # type: ignore[union-attr]
    mon.log_label(0, 0)  # labels of waiting predictions still find their group
    mon.evaluate()
    assert mon.metrics()["group_window_count"] == 51


def test_dropping_idle_groups_keeps_the_counts_of_the_others() -> None:
    gm = GroupMetrics(["g"], threshold=0.5, bins=4)
    rng = np.random.default_rng(0)
    for i in range(400):
        gm.update_record(int(rng.integers(2)), float(rng.random()), (f"g{i % 8}",))
    before_counts, before_hist = gm.counts(), gm.histograms()
    rng = np.random.default_rng(0)  # the same records again: take back g1's and g5's
    for i in range(400):
        y, s = int(rng.integers(2)), float(rng.random())
        if i % 8 in (1, 5):
            gm.remove_record(y, s, (f"g{i % 8}",))
    assert gm._drop_idle({("g5",)}) == 1  # g1 goes; g5 is kept (a prediction waits)
    assert gm.groups == [(f"g{k}",) for k in (0, 2, 3, 4, 5, 6, 7)]
    for k in (0, 2, 3, 4, 6, 7):
        assert gm.counts()[(f"g{k}",)] == before_counts[(f"g{k}",)]
        assert (gm.histograms()[(f"g{k}",)] == before_hist[(f"g{k}",)]).all()
    assert gm.counts()[("g5",)] == [0, 0, 0, 0]
    gm.update_record(1, 0.9, ("g1",))  # a forgotten group comes back as a new one
    assert gm.counts()[("g1",)] == [0, 0, 0, 1]


def test_in_memory_sink_keeps_the_newest_events_and_every_alerts_state() -> None:
    sink = InMemorySink()
    sink.send_alert(AlertEvent("down", "firing", 0.0, 0.0, "page", "m", "service down"))
    for i in range(50_000):  # an alert flapping at every evaluation, for days
        state = "firing" if i % 2 == 0 else "resolved"
        sink.send_alert(AlertEvent("acc", state, 0.5, float(i), "ticket", "m", "accuracy"))
    assert len(sink.events) == 10_000
    assert sink.events[-1].at == 49_999.0
    assert sink.events[0].at == 40_000.0
    # "down" fired first and never resolved: its event is gone, its state is not.
    assert sink.firing() == ["m/down"]
    assert not any(e.rule == "down" for e in sink.events)


def test_in_memory_sink_max_events_is_checked_and_zero_keeps_none() -> None:
    with pytest.raises(ConfigError, match="max_events") as err:
        InMemorySink(max_events=MAX_EVENTS + 1)
    assert err.value.parameter == "max_events"
    sink = InMemorySink(max_events=0)
    sink.send_alert(AlertEvent("acc", "firing", 0.5, 1.0, "ticket", "m", "accuracy"))
    assert sink.events == []
    assert sink.firing() == ["m/acc"]
