"""ModelMonitor._log_served (Predictor's entry) against log_prediction: the same monitor.

The serving entry checks a prediction as ``log_prediction`` does and queues it; the queue
is applied before anything reads or changes the state. Two monitors fed the same calls,
one through each entry, must agree on everything: state, metrics, counters, alerts,
errors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError
from prodml.monitoring import AlertRule, BurnRateRule, CountWindow, ModelMonitor, TimeWindow
from prodml.monitoring.alerts import BurnWindow

from .conftest import FakeClock, same_values

IDS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", 1, 2])
OUTPUTS = st.one_of(
    st.floats(0, 1),
    st.sampled_from([0.0, 1.0, 1.5, -0.1, math.nan, math.inf, "x", None]),
)
LATENCIES = st.one_of(
    st.floats(0, 20), st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf, 0.001, 10.0])
)
STEPS = st.one_of(st.just(0.0), st.floats(0, 0.1), st.floats(0, 4))  # clock moves
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("log"), IDS, OUTPUTS, LATENCIES, STEPS),
        st.tuples(st.just("label"), IDS, st.sampled_from([0, 1, 2, 0.5])),
        st.tuples(st.just("read"), st.sampled_from(["metrics", "counters", "pending", "evaluate"])),
        st.tuples(st.just("forget"), IDS),
        st.tuples(st.just("log_unhashable"), st.just(None)),
    ),
    max_size=150,
)


def monitor(config: dict[str, Any], clock: FakeClock) -> ModelMonitor:
    rules: list[Any] = [AlertRule("acc", metric="accuracy", op="<", fire=0.6, clear=0.8)]
    if config["slo"]:
        window = BurnWindow(60, 10, 2.0, "page")
        rules.append(
            BurnRateRule(
                "lat", sli="latency", latency_threshold_s=2.0, windows=(window,), min_count=1
            )
        )
    reference = pd.DataFrame({"x": np.linspace(0, 1, 50)}) if config["drift"] else None
    return ModelMonitor(
        "m",
        window=CountWindow(5) if config["count"] else TimeWindow(30.0),
        rules=rules,
        clock=clock,
        max_pending=config["max_pending"],
        pending_ttl_s=config["ttl"],
        stats_interval_s=5.0,
        stats_window_s=20.0,
        evaluate_every_s=config["every"],
        reference=reference,
        drift_window=7,
    )


def outcome(fn: Any) -> Any:
    try:
        value = fn()
    except Exception as err:  # noqa: BLE001 - both monitors must raise the same
        return ("raised", type(err), str(err))
    if isinstance(value, dict):
        return ("dict", sorted(value), [v for _, v in sorted(value.items())])
    return ("value", value)


def same(a: Any, b: Any) -> bool:
    """Equal outcomes, nan equal to nan."""
    if a[0] == "dict" and b[0] == "dict":
        return a[1] == b[1] and all(
            x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
            for x, y in zip(a[2], b[2], strict=True)
        )
    return bool(a == b)


@settings(max_examples=150, deadline=None)
@given(
    OPS,
    st.fixed_dictionaries(
        {
            "count": st.booleans(),
            "slo": st.booleans(),
            "drift": st.booleans(),
            "max_pending": st.sampled_from([3, 100]),
            "ttl": st.sampled_from([None, 15.0]),
            "every": st.sampled_from([None, 6.0]),
        }
    ),
)
def test_served_entry_gives_the_state_log_prediction_gives(
    ops: list[tuple[Any, ...]], config: dict[str, Any]
) -> None:
    clocks = FakeClock(), FakeClock()
    plain, served = monitor(config, clocks[0]), monitor(config, clocks[1])
    for k, op in enumerate(ops):
        if op[0] == "log":
            _, pid, output, latency, dt = op
            features = {"x": (k % 10) / 10}
            for c in clocks:
                c.t += dt
            a = outcome(lambda: plain.log_prediction(pid, features, output, latency_s=latency))  # noqa: B023
            b = outcome(lambda: served._log_served(pid, features, output, latency))  # noqa: B023
        elif op[0] == "log_unhashable":
            a = outcome(lambda: plain.log_prediction(["x"], None, 0.5, latency_s=0.1))
            b = outcome(lambda: served._log_served(["x"], None, 0.5, 0.1))
        elif op[0] == "label":
            _, pid, label = op
            a = outcome(lambda: plain.log_label(pid, label))  # noqa: B023
            b = outcome(lambda: served.log_label(pid, label))  # noqa: B023
        elif op[0] == "forget":
            a, b = outcome(lambda: plain.forget(op[1])), outcome(lambda: served.forget(op[1]))  # noqa: B023
        else:
            name = op[1]
            if name == "pending":
                a, b = outcome(lambda: plain.pending_count), outcome(lambda: served.pending_count)
            else:
                a = outcome(getattr(plain, name))
                b = outcome(getattr(served, name))
        assert same(a, b), (op, a, b)
    assert served.to_dict() == plain.to_dict()
    assert same_values(served.metrics(), plain.metrics())


def test_a_group_monitor_logs_at_the_call() -> None:
    # Sensitive values are checked (and may be refused) by log_prediction at the call.
    mon = ModelMonitor("m", group_by=["sex"], evaluate_every_s=None, clock=FakeClock())
    mon._log_served("p2", {"sex": "F"}, 0.5, 0.01)
    assert not mon._buffer
    assert list(mon._pending) == ["p2"]
    with pytest.raises(SchemaError):  # and bad values raise at once, as log_prediction's
        mon._log_served("p3", {"sex": "F"}, 0.5, -1.0)


def test_queued_predictions_are_bounded_and_applied_in_order() -> None:
    clock = FakeClock()
    mon = ModelMonitor("m", evaluate_every_s=None, clock=clock, max_pending=1000)
    for i in range(100):
        clock.t = i / 10
        mon._log_served(f"p{i}", None, 0.5, 0.001 * i)
        assert len(mon._buffer) < 32
    assert list(mon._pending) == [f"p{i}" for i in range(100 - len(mon._buffer))]
    assert mon.counters()["predictions_total"] == 100  # and the rest are applied now
    assert list(mon._pending) == [f"p{i}" for i in range(100)]


def test_an_evaluation_falls_due_at_the_call_that_passes_it() -> None:
    clock = FakeClock()
    events: list[float] = []
    mon = ModelMonitor("m", evaluate_every_s=10.0, clock=clock)
    evaluate = mon.evaluate

    def spy(now: float | None = None) -> Any:
        events.append(clock.t)
        return evaluate(now)

    mon.evaluate = spy  # type: ignore[method-assign]
    for i in range(30):
        clock.t = float(i)
        mon._log_served(i, None, 0.5, 0.01)
    assert events == [0.0, 10.0, 20.0]
    assert mon._last_eval == 20.0


@pytest.mark.parametrize("slo", [False, True])
def test_many_queued_predictions_in_bulk_and_one_by_one(slo: bool) -> None:
    """Long runs of predictions: bulk flushes with evictions and slot changes, and SLOs."""
    config = {"count": True, "slo": slo, "drift": True, "max_pending": 40, "ttl": 30.0}
    clocks = FakeClock(), FakeClock()
    plain, served = (
        monitor({**config, "every": 6.0}, clocks[0]),
        monitor({**config, "every": 6.0}, clocks[1]),
    )
    rng = np.random.default_rng(0)
    for i in range(2000):
        dt, out, lat = rng.exponential(0.02), rng.random(), rng.exponential(0.5)
        for c in clocks:
            c.t += dt
        pid = f"p{i}" if i % 97 else "p5"  # and some ids logged again
        plain.log_prediction(pid, {"x": out}, out, latency_s=lat)
        served._log_served(pid, {"x": out}, out, lat)
        if i % 3 == 0:
            label = int(rng.random() < out)
            assert plain.log_label(f"p{i - 20}", label) == served.log_label(f"p{i - 20}", label)
    assert served.to_dict() == plain.to_dict()
    assert served.counters()["evicted_total"] > 0
    assert same_values(served.metrics(), plain.metrics())
