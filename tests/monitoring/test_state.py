"""Monitor state: JSON round trip, format version, malformed input; the SLO counter."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError, StateError
from prodml.monitoring import (
    AlertRule,
    BurnRateRule,
    BurnWindow,
    InMemorySink,
    ModelMonitor,
    TimeWindow,
)
from prodml.monitoring._slo import SLOCounter

from .conftest import FakeClock


@given(
    st.lists(
        st.tuples(st.floats(0.0, 50.0, allow_nan=False), st.booleans()), min_size=1, max_size=200
    ),
    st.floats(1.0, 20.0),
    st.sampled_from([5.0, 30.0, 100.0]),
)
def test_slo_counter_matches_brute_force(
    steps: list[tuple[float, bool]], resolution: float, seconds: float
) -> None:
    c = SLOCounter(resolution, horizon_s=100.0)
    t = 0.0
    buckets: list[list[float]] = []  # reference: [start, total, bad], (start, start + res]
    for dt, bad in steps:
        t += dt
        c.record(t, bad)
        start = t - t % resolution
        start -= resolution if start == t else 0.0
        if buckets and t <= buckets[-1][0] + resolution:
            buckets[-1][1] += 1
            buckets[-1][2] += bad
        else:
            buckets.append([start, 1, float(bad)])
        live = [b for b in buckets if b[0] >= t - 100.0 - resolution]
        # (t - seconds, t] to a bucket; one shorter than a bucket counts t's bucket
        in_window = [b for b in live if b[0] >= min(t - seconds, start)]
        assert c.window(t, seconds) == (
            sum(b[1] for b in in_window),
            sum(b[2] for b in in_window),
        )
    back = SLOCounter(resolution, 100.0)
    back.load(json.loads(json.dumps(c.to_dict())))
    assert back.window(t, seconds) == c.window(t, seconds)
    assert back.buckets() == c.buckets()


def test_slo_counter_memory_is_bounded() -> None:
    c = SLOCounter(1.0, horizon_s=60.0)
    for i in range(20_000):
        c.record(float(i), i % 3 == 0)
    assert len(c._starts) < 1200  # compaction keeps O(horizon) buckets
    assert c.window(19_999.0, 30.0) == (30.0, 10.0)  # (19969, 19999]
    with pytest.raises(ConfigError, match="a bucket needs 3 numbers"):
        c.load({"buckets": [[1.0, 2.0]]})


def rich_monitor(clock: FakeClock) -> ModelMonitor:
    rules = [
        AlertRule("acc", metric="accuracy", op="<", fire=0.7, clear=0.8, for_s=5, min_count=5),
        BurnRateRule("slo", objective=0.9, windows=(BurnWindow(120, 20, 2.0),), resolution_s=5),
        BurnRateRule("lat", sli="latency", latency_threshold_s=0.1, objective=0.9),
    ]
    return ModelMonitor(
        "m",
        window=TimeWindow(60.0, max_size=30),
        rules=rules,
        clock=clock,
        max_pending=20,
        pending_ttl_s=50.0,
        evaluate_every_s=3.0,
    )


def drive(mon: ModelMonitor, clock: FakeClock, start: int, stop: int) -> None:
    rng = np.random.default_rng(start)
    for i in range(start, stop):
        clock.t = float(i)
        mon.log_prediction(f"id{i}", None, float(rng.random()), latency_s=float(rng.random() / 5))
        if i % 4:
            mon.log_label(f"id{i - 2}", int(rng.integers(0, 2)))


def test_round_trip_is_exact_and_json() -> None:
    clock = FakeClock()
    mon = rich_monitor(clock)
    drive(mon, clock, 0, 200)
    text = mon.to_json()
    back = ModelMonitor.from_json(text, clock=clock)
    assert json.loads(back.to_json()) == json.loads(text)
    d = json.loads(text)
    assert d["format_version"] == 2
    assert d["kind"] == "ModelMonitor"
    drive(mon, clock, 200, 400)
    drive(back, clock, 200, 400)
    assert back.to_dict() == mon.to_dict()


def test_fresh_monitor_round_trip() -> None:
    mon = ModelMonitor(clock=FakeClock(), rules=[AlertRule("a", metric="latency_p99", op=">")])
    back = ModelMonitor.from_dict(json.loads(mon.to_json()), sinks=[InMemorySink()])
    assert back.to_dict() == mon.to_dict()
    assert len(back.sinks) == 1


def test_ids_must_be_json_scalars_to_save() -> None:
    mon = ModelMonitor(clock=FakeClock(), evaluate_every_s=None)
    mon.log_prediction(("tuple", 1), None, 0.5)
    with pytest.raises(ConfigError, match="ids must be str or int"):
        mon.to_dict()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(format_version=99), "'format_version' must be one of 1, 2"),
        (lambda d: d.update(kind="Pipeline"), "'kind' must be one of 'ModelMonitor'"),
        (lambda d: d["state"].pop("window"), "'state.window' must be present"),
        (lambda d: d["config"].update(task="ranking"), "'config.task' must be a valid setting"),
        (
            lambda d: d["state"]["rule_states"].update(acc={"state": "on fire"}),
            "'state.rule_states.acc.fired_at' must be present",
        ),
        (
            lambda d: d["state"]["stats"]["current"].update(count=5),
            "'state.stats.current.count' must be the sum",
        ),
        (lambda d: d["state"].update(concept_detector={"class": "Nope", "state": {}}), "'Nope'"),
        (lambda d: d["config"].update(stats_window_s=1e18), "at most 100000 x stats_interval_s"),
        (lambda d: d["state"]["counters"].update(labels_total=-1), "counters.labels_total"),
        (lambda d: d["state"]["pending"].append([None, 1.0, 0.5]), "a str or int id"),
    ],
)
def test_bad_saved_state(mutate, match: str) -> None:
    clock = FakeClock()
    mon = rich_monitor(clock)
    drive(mon, clock, 0, 50)
    d = json.loads(mon.to_json())
    mutate(d)
    with pytest.raises(ConfigError, match=match):
        ModelMonitor.from_dict(d, clock=clock)


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(StateError, match="'<root>' must be a dict"):
        ModelMonitor.from_dict([1, 2])  # type: ignore[arg-type]


def test_numpy_outputs_and_labels_are_saved_as_json() -> None:
    clock = FakeClock()
    mon = ModelMonitor(task="multiclass", clock=clock, evaluate_every_s=None)
    mon.log_prediction(1, None, np.int64(3))
    mon.log_prediction(2, None, np.int64(4))
    mon.log_label(1, np.int64(3))
    d = json.loads(mon.to_json())
    assert d["state"]["window"]["outputs"] == [3]
    assert d["state"]["pending"] == [[2, 0.0, 4]]
    bin_mon = ModelMonitor(clock=clock, evaluate_every_s=None)
    bin_mon.log_prediction(1, None, np.float32(0.25))
    bin_mon.log_label(1, 0)
    assert json.loads(bin_mon.to_json())["state"]["window"]["outputs"] == [0.25]


ops = st.lists(
    st.one_of(
        st.tuples(st.just("pred"), st.integers(0, 30), st.floats(0, 1), st.floats(0, 3)),
        st.tuples(st.just("label"), st.integers(0, 30), st.integers(0, 1), st.floats(0, 3)),
        st.tuples(st.just("eval"), st.just(0), st.just(0), st.floats(0, 30)),
    ),
    max_size=120,
)


@given(ops, st.integers(0, 120))
def test_every_prediction_is_accounted_for_and_restarts_are_seamless(
    script: list[tuple], cut: int
) -> None:
    clock = FakeClock()
    rules = [
        AlertRule("acc", metric="accuracy", op="<", fire=0.5, clear=0.6, for_s=2, min_count=3),
        BurnRateRule("slo", objective=0.8, windows=(BurnWindow(30, 5, 2.0),), resolution_s=1),
    ]
    kw = {"rules": rules, "max_pending": 8, "pending_ttl_s": 20.0, "evaluate_every_s": 4.0}
    a = ModelMonitor(window=TimeWindow(15.0, max_size=10), clock=clock, **kw)
    sink_a, sink_b = InMemorySink(), InMemorySink()
    a.sinks.append(sink_a)
    b = None
    label_calls = 0
    for step, (op, pid, value, dt) in enumerate(script):
        if step == cut:
            b = ModelMonitor.from_json(a.to_json(), clock=clock, sinks=[sink_b])
            n_before = len(sink_a.events)
        clock.t += dt
        for mon in (a, b) if b is not None else (a,):
            if op == "pred":
                mon.log_prediction(pid, None, value, latency_s=dt / 10)
            elif op == "label":
                mon.log_label(pid, value)
            else:
                mon.evaluate()
        label_calls += op == "label"
    c = a.metrics()
    assert c["predictions_total"] == (
        c["pending"]
        + c["labels_total"]
        + c["evicted_total"]
        + c["expired_total"]
        + c["duplicate_predictions_total"]
    )
    assert label_calls == c["labels_total"] + c["unmatched_total"] + c["duplicate_labels_total"]
    assert c["pending"] <= 8
    events = [(e.rule, e.state) for e in sink_a.events]
    for rule in ("acc", "slo"):  # per alert, events alternate firing/resolved: no duplicates
        states = [s for r, s in events if r == rule]
        assert all(x != y for x, y in itertools.pairwise(states))
        assert not states or states[0] == "firing"
    if b is not None:
        b.metrics()  # metrics() advances the clock-driven state, as it did on a
        assert b.to_dict() == a.to_dict()
        assert sink_b.events == sink_a.events[n_before:]
