"""ModelMonitor: join, bounded memory, window metrics vs sklearn, latency, errors, sinks."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from prodml.errors import ConfigError, SchemaError
from prodml.monitoring import (
    AlertRule,
    BurnRateRule,
    CallbackSink,
    CountWindow,
    Histogram,
    InMemorySink,
    LoggingSink,
    ModelMonitor,
    Sink,
    TimeWindow,
)

from .conftest import FakeClock, binary_stream


def test_labels_join_by_id_in_any_order() -> None:
    clock = FakeClock()
    mon = ModelMonitor(window=CountWindow(10), clock=clock, evaluate_every_s=None)
    for i in range(5):
        mon.log_prediction(f"p{i}", None, 0.9 if i % 2 else 0.1)
    assert mon.pending_count == 5
    assert mon.log_label("p3", 1)
    assert mon.log_label("p0", 1)
    assert not mon.log_label("p0", 1)  # already labelled
    assert not mon.log_label("nope", 0)  # never logged
    m = mon.metrics()
    assert (m["labels_total"], m["unmatched_total"], m["pending"]) == (2.0, 1.0, 3.0)
    assert m["duplicate_labels_total"] == 1.0
    assert m["window_count"] == 2.0
    assert m["accuracy"] == 0.5  # p3 (0.9, 1) right, p0 (0.1, 1) wrong


def test_pending_is_bounded_and_evictions_are_counted() -> None:
    mon = ModelMonitor(max_pending=3, clock=FakeClock(), evaluate_every_s=None)
    for i in range(10):
        mon.log_prediction(i, None, 0.5)
    assert mon.pending_count == 3
    assert mon.metrics()["evicted_total"] == 7.0
    assert not mon.log_label(0, 1)  # evicted: reported as unmatched, not lost silently
    assert mon.log_label(9, 1)
    assert mon.metrics()["unmatched_total"] == 1.0


def test_pending_ttl_expires_old_predictions() -> None:
    clock = FakeClock()
    mon = ModelMonitor(pending_ttl_s=60.0, clock=clock, evaluate_every_s=None)
    mon.log_prediction("old", None, 0.5)
    clock.t = 30.0
    mon.log_prediction("new", None, 0.5)
    clock.t = 61.0
    m = mon.metrics()
    assert (m["expired_total"], m["pending"]) == (1.0, 1.0)
    assert not mon.log_label("old", 1)
    assert mon.log_label("new", 1)


def test_duplicate_prediction_id_replaces_and_counts() -> None:
    mon = ModelMonitor(clock=FakeClock(), evaluate_every_s=None)
    mon.log_prediction("a", None, 0.1)
    mon.log_prediction("a", None, 0.9)
    assert mon.pending_count == 1
    assert mon.log_label("a", 1)
    m = mon.metrics()
    assert m["duplicate_predictions_total"] == 1.0
    assert m["accuracy"] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_window_metrics_match_sklearn_on_window_contents(seed: int) -> None:
    rng = np.random.default_rng(seed)
    clock = FakeClock()
    mon = ModelMonitor(window=CountWindow(150), clock=clock, evaluate_every_s=None)
    pairs = binary_stream(rng, 400, lambda i: 0.8)
    for i, (s, _) in enumerate(pairs):
        clock.t = float(i)
        mon.log_prediction(i, {"x": 1.0}, s)
        if i >= 3:  # labels arrive three predictions late
            mon.log_label(i - 3, pairs[i - 3][1])
    y = np.array(mon.window.labels(), dtype=float)
    s = np.array(mon.window.outputs(), dtype=float)
    assert y.size == 150
    np.testing.assert_array_equal(y, [p[1] for p in pairs[-153:-3]])
    pred = (s >= 0.5).astype(float)
    m = mon.metrics()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert m["error_rate"] == pytest.approx(1 - skm.accuracy_score(y, pred), abs=1e-12)
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, s), abs=1e-12)


def test_regression_time_window_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    clock = FakeClock()
    mon = ModelMonitor(
        task="regression", window=TimeWindow(seconds=100.0), clock=clock, evaluate_every_s=None
    )
    ys = rng.normal(size=300)
    outs = ys + rng.normal(scale=0.3, size=300)
    for i in range(300):
        clock.t = float(i)
        mon.log_prediction(i, None, float(outs[i]))
        mon.log_label(i, float(ys[i]))
    m = mon.metrics()
    assert m["window_count"] == 100.0  # labels at t in (199, 299]
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(ys[200:], outs[200:]), abs=1e-12)
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(ys[200:], outs[200:]), abs=1e-12)


def test_multiclass_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(4)
    clock = FakeClock()
    mon = ModelMonitor(
        task="multiclass", window=CountWindow(50), clock=clock, evaluate_every_s=None
    )
    classes = ["cat", "dog", "eel"]
    y = rng.choice(classes, 80)
    p = np.where(rng.random(80) < 0.7, y, rng.choice(classes, 80))
    for i in range(80):
        mon.log_prediction(i, None, str(p[i]))
        mon.log_label(i, np.str_(y[i]))
    got = mon.metrics()
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y[30:], p[30:]), abs=1e-12)
    kw = {"average": "macro", "zero_division": 0}
    assert got["precision"] == pytest.approx(skm.precision_score(y[30:], p[30:], **kw))
    assert got["recall"] == pytest.approx(skm.recall_score(y[30:], p[30:], **kw))


def test_latency_quantiles_and_throughput_over_the_stats_window() -> None:
    clock = FakeClock()
    buckets = (0.01, 0.02, 0.05, 0.1)
    mon = ModelMonitor(
        latency_buckets=buckets,
        stats_window_s=60.0,
        stats_interval_s=10.0,
        clock=clock,
        evaluate_every_s=None,
    )
    rng = np.random.default_rng(5)
    lat = rng.uniform(0.0, 0.12, 1200)
    for i in range(1200):  # 10 predictions per second for 120 s
        clock.t = i / 10.0
        mon.log_prediction(i, None, 0.5, latency_s=float(lat[i]))
    clock.t = 120.0
    m = mon.metrics()
    # Window: the last 6 closed 10 s slots = predictions 600..1199.
    ref = Histogram(buckets)
    ref.observe_many(lat[600:].tolist())
    assert m["latency_count"] == 600.0
    for q in (50, 95, 99):
        assert m[f"latency_p{q}"] == pytest.approx(ref.quantile(q / 100), abs=1e-12)
    assert m["latency_mean"] == pytest.approx(lat[600:].mean(), abs=1e-12)
    assert m["throughput"] == pytest.approx(10.0)
    assert m["throughput_p50"] == pytest.approx(10.0)
    # The cumulative histogram (what Prometheus gets) holds every observation.
    snap = mon._snapshot(120.0, m)
    assert snap.histograms["latency_seconds"].count == 1200
    assert snap.histograms["throughput_per_second"].count == 12  # 12 closed slots


def test_idle_time_lowers_throughput() -> None:
    clock = FakeClock()
    mon = ModelMonitor(
        stats_window_s=60.0, stats_interval_s=10.0, clock=clock, evaluate_every_s=None
    )
    for i in range(100):
        clock.t = i / 10.0  # 10/s for 10 s
        mon.log_prediction(i, None, 0.5)
    clock.t = 40.0
    m = mon.metrics()
    assert m["stats_count"] == 100.0
    assert m["throughput"] == pytest.approx(100 / 40.0)
    clock.t = 1000.0  # long idle: everything left the window
    m = mon.metrics()
    assert (m["stats_count"], m["throughput"]) == (0.0, 0.0)
    assert math.isnan(m["latency_p99"])


def test_automatic_evaluation_every_n_seconds() -> None:
    clock = FakeClock()
    sink = InMemorySink()
    mon = ModelMonitor(sinks=[sink], clock=clock, evaluate_every_s=10.0)
    for i in range(35):
        clock.t = float(i)
        mon.log_prediction(i, None, 0.5)
    assert [s.at for s in sink.snapshots] == [0.0, 10.0, 20.0, 30.0]


def test_sinks_receive_events_and_a_failing_sink_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list = []
    snaps: list = []

    class Broken(Sink):
        def send_alert(self, event: object) -> None:
            raise RuntimeError("pager down")

    clock = FakeClock()
    rule = AlertRule("acc", metric="accuracy", op="<", fire=0.9)
    mon = ModelMonitor(
        rules=[rule],
        sinks=[Broken(), CallbackSink(got.append, snaps.append), LoggingSink()],
        clock=clock,
        evaluate_every_s=None,
    )
    mon.log_prediction(1, None, 0.2)
    mon.log_label(1, 1)
    with caplog.at_level(logging.INFO, logger="prodml.monitoring"):
        events = mon.evaluate()
    assert (
        [(e.rule, e.state) for e in got]
        == [("acc", "firing")]
        == [(e.rule, e.state) for e in events]
    )
    assert len(snaps) == 1
    assert mon.metrics()["sink_errors_total"] == 1.0
    assert "alert model/acc firing" in caplog.text
    assert "pager down" in caplog.text
    assert mon.alert_states() == {"acc": "firing"}


def test_logging_sink_logs_metrics_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    mon = ModelMonitor(
        sinks=[LoggingSink(log_metrics=True)], clock=FakeClock(), evaluate_every_s=None
    )
    mon.log_prediction(1, None, 0.7)
    with caplog.at_level(logging.DEBUG, logger="prodml.monitoring"):
        mon.evaluate()
    assert "metrics model:" in caplog.text
    assert "'predictions_total': 1.0" in caplog.text


@pytest.mark.parametrize(
    ("task", "output", "match"),
    [
        ("binary", 1.5, r"score in \[0, 1\]. Got 1.5"),
        ("binary", math.nan, r"score in \[0, 1\]"),
        ("binary", "0.5", r"score in \[0, 1\]. Got '0.5'"),
        ("binary", None, r"score in \[0, 1\]. Got None"),
        ("regression", math.inf, "finite number"),
        ("regression", "3", "finite number"),
    ],
)
def test_bad_outputs(task: str, output: object, match: str) -> None:
    mon = ModelMonitor(task=task, clock=FakeClock(), evaluate_every_s=None)  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=match) as info:
        mon.log_prediction(1, None, output)
    assert info.value.column == "output"
    assert mon.pending_count == 0


@pytest.mark.parametrize("latency", [-0.1, math.nan, "fast", math.inf, 1e101])
def test_bad_latency(latency: object) -> None:
    # (an infinite latency once made the histogram's sum inf: to_dict was not JSON)
    mon = ModelMonitor(clock=FakeClock(), evaluate_every_s=None)
    mon.log_prediction(0, None, 0.5, latency_s=0.1)
    before = mon.to_dict()
    with pytest.raises(SchemaError, match=r"latency_s must be a number of seconds in \[0, 1e100\]"):
        mon.log_prediction(1, None, 0.5, latency_s=latency)  # type: ignore[arg-type]
    assert mon.to_dict() == before  # nothing was counted (it once counted the prediction)


@pytest.mark.parametrize(
    ("task", "label", "match"),
    [
        ("binary", 2, "binary model must be 0 or 1. Got 2"),
        ("binary", "yes", "binary model must be 0 or 1"),
        ("regression", math.nan, "finite number"),
        ("regression", True, "finite number"),
        ("multiclass", [1], "multiclass model must be a str"),
        ("multiclass", math.inf, "multiclass model must be a str"),
    ],
)
def test_bad_labels_keep_the_prediction_pending(task: str, label: object, match: str) -> None:
    out = "a" if task == "multiclass" else 0.5
    mon = ModelMonitor(task=task, clock=FakeClock(), evaluate_every_s=None)  # type: ignore[arg-type]
    mon.log_prediction(1, None, out)
    with pytest.raises(SchemaError, match=match):
        mon.log_label(1, label)
    assert mon.pending_count == 1


def test_binary_accepts_numpy_and_bool_labels() -> None:
    mon = ModelMonitor(clock=FakeClock(), evaluate_every_s=None)
    for i, label in enumerate([np.int64(1), True, np.float64(0.0)]):
        mon.log_prediction(i, None, np.float64(0.8))
        assert mon.log_label(i, label)
    assert mon.window.labels() == [1, 1, 0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "ranking"}, "'task' parameter of ModelMonitor must be one of"),
        ({"model": 3}, "'model' parameter"),
        ({"window": 100}, "'window' parameter of ModelMonitor must be a CountWindow or TimeWindow"),
        ({"threshold": 1.5}, "'threshold' parameter"),
        ({"max_pending": 0}, "'max_pending' parameter"),
        ({"pending_ttl_s": 0}, "'pending_ttl_s' parameter"),
        ({"stats_window_s": 25.0}, "must be a multiple of stats_interval_s=10.0"),
        ({"stats_interval_s": -1.0}, "'stats_interval_s' parameter"),
        ({"evaluate_every_s": -1}, "'evaluate_every_s' parameter"),
        ({"drift_window": 1}, "'drift_window' parameter"),
        ({"clock": 5}, "'clock' parameter of ModelMonitor must be a callable"),
        ({"sinks": [print]}, "Each sink of ModelMonitor must be a prodml.monitoring.Sink"),
        ({"concept_detector": object()}, "must have an update"),
        ({"latency_buckets": (0.2, 0.1)}, "'latency_buckets' parameter must be strictly"),
        ({"rules": ["acc < 0.9"]}, "must be an AlertRule or a BurnRateRule"),
        (
            {"rules": [AlertRule("a", metric="accuracy"), AlertRule("a", metric="auc")]},
            "Two alert rules are named 'a'",
        ),
        ({"rules": [AlertRule("a", metric="mae")]}, "unknown metric 'mae' for a binary monitor"),
        ({"rules": [AlertRule("a", metric="drift_share")]}, "unknown metric 'drift_share'"),
        (
            {"rules": [BurnRateRule("b", error_tolerance=0.1)]},
            "error_tolerance applies to regression monitors only",
        ),
    ],
)
def test_bad_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ModelMonitor(**kwargs)


def test_repr() -> None:
    mon = ModelMonitor("churn", rules=[AlertRule("a", metric="accuracy")])
    assert repr(mon) == (
        "ModelMonitor('churn', task='binary', window=CountWindow(size=1000), rules=1, sinks=0)"
    )


@pytest.mark.parametrize(
    ("kwargs", "column"),
    [
        ({"timestamp": "noon"}, "timestamp"),
        ({"timestamp": math.nan}, "timestamp"),
        ({"timestamp": math.inf}, "timestamp"),
        ({"timestamp": 10**400}, "timestamp"),  # an int beyond the float range
        ({"prediction_id": ["not", "hashable"]}, "prediction_id"),
    ],
)
def test_bad_timestamps_and_ids_leave_no_trace(kwargs: dict, column: str) -> None:
    mon = ModelMonitor(clock=FakeClock(), evaluate_every_s=None)
    call = {"prediction_id": 1, "timestamp": 5.0, **kwargs}
    with pytest.raises(SchemaError) as info:
        mon.log_prediction(call["prediction_id"], None, 0.5, timestamp=call["timestamp"])
    assert info.value.column == column
    assert mon.pending_count == 0
    assert mon.metrics(now=6.0)["predictions_total"] == 0.0
    with pytest.raises(SchemaError) as info:
        mon.log_label(call["prediction_id"], 1, timestamp=call["timestamp"])
    assert info.value.column == column


def test_a_clock_returning_garbage_is_reported() -> None:
    mon = ModelMonitor(clock=lambda: "soon", evaluate_every_s=None)  # type: ignore[arg-type,return-value]
    with pytest.raises(SchemaError, match="timestamp must be a finite number"):
        mon.log_prediction(1, None, 0.5)
    with pytest.raises(SchemaError, match="now must be a finite number"):
        mon.evaluate()
    with pytest.raises(SchemaError, match="now must be a finite number"):
        mon.evaluate(now=10**400)  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="now must be a finite number"):
        mon.metrics(now=math.nan)
