"""PrometheusSink: text exposition parsed back, names, units, values, label cardinality."""

from __future__ import annotations

import numpy as np
import pytest

prometheus_client = pytest.importorskip("prometheus_client", reason="needs the 'prometheus' extra")

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from prodml.errors import ConfigError  # noqa: E402
from prodml.monitoring import AlertRule, CountWindow, Histogram, ModelMonitor  # noqa: E402
from prodml.monitoring.prometheus import PrometheusSink  # noqa: E402

from .conftest import FakeClock  # noqa: E402

BUCKETS = (0.01, 0.05, 0.1, 0.5)


def scrape(registry: CollectorRegistry) -> dict[str, dict[tuple, float]]:
    """Parse the text exposition back: sample name -> {sorted label items: value}."""
    text = generate_latest(registry).decode()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def fed_monitor(registry: CollectorRegistry, name: str = "churn", **kw) -> ModelMonitor:
    clock = FakeClock()
    sink = kw.pop("sink", None) or PrometheusSink(registry)
    mon = ModelMonitor(
        name,
        window=CountWindow(100),
        latency_buckets=BUCKETS,
        rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.9, severity="page")],
        sinks=[sink],
        clock=clock,
        evaluate_every_s=None,
        **kw,
    )
    latencies = [0.004, 0.02, 0.03, 0.07, 0.2, 0.9]
    for i, lat in enumerate(latencies):
        clock.t = float(i)
        mon.log_prediction(i, None, 0.8 if i % 2 else 0.3, latency_s=lat)
    for i in range(4):
        mon.log_label(i, 1)  # 1 and 3 right, 0 and 2 wrong
    mon.log_label("ghost", 1)
    clock.t = 6.0
    mon.evaluate()
    return mon


def test_text_exposition_round_trips_names_and_values() -> None:
    registry = CollectorRegistry()
    fed_monitor(registry)
    got = scrape(registry)
    model = (("model", "churn"),)
    assert got["prodml_predictions_total"][model] == 6.0
    assert got["prodml_labels_total"][model] == 4.0
    assert got["prodml_labels_unmatched_total"][model] == 1.0
    assert got["prodml_predictions_evicted_total"][model] == 0.0
    assert got["prodml_predictions_pending"][model] == 2.0
    assert got["prodml_window_accuracy_ratio"][model] == 0.5
    assert got["prodml_window_labelled_predictions"][model] == 4.0
    assert got["prodml_alert_firing"][(("alertname", "acc"), *model, ("severity", "page"))] == 1.0
    # The latency histogram, in seconds, with our buckets and the +Inf one.
    ref = Histogram(BUCKETS)
    ref.observe_many([0.004, 0.02, 0.03, 0.07, 0.2, 0.9])
    buckets = got["prodml_prediction_latency_seconds_bucket"]
    for le, count in zip([*BUCKETS, "+Inf"], ref.cumulative_counts(), strict=True):
        key = (("le", le if le == "+Inf" else repr(float(le))), *model)
        assert buckets[key] == count
    assert got["prodml_prediction_latency_seconds_count"][model] == 6.0
    assert got["prodml_prediction_latency_seconds_sum"][model] == pytest.approx(1.224)
    # Quantile estimates exported as gauges agree with the histogram.
    q99 = got["prodml_window_latency_seconds"][(*model, ("quantile", "0.99"))]
    assert q99 == pytest.approx(ref.quantile(0.99))
    # Every exported name is prodml_*; undefined values (auc needs two classes) are absent.
    assert all(name.startswith("prodml_") for name in got)
    assert "prodml_window_roc_auc_ratio" not in got


def test_families_have_the_right_types() -> None:
    registry = CollectorRegistry()
    fed_monitor(registry)
    text = generate_latest(registry).decode()
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["prodml_predictions"] == "counter"
    assert types["prodml_prediction_latency_seconds"] == "histogram"
    assert types["prodml_throughput_per_second"] == "histogram"
    assert types["prodml_window_accuracy_ratio"] == "gauge"
    assert types["prodml_alert_firing"] == "gauge"


def test_registry_sample_value_and_several_models_on_one_sink() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    fed_monitor(registry, "a", sink=sink)
    fed_monitor(registry, "b", sink=sink)
    for m in ("a", "b"):
        assert registry.get_sample_value("prodml_predictions_total", {"model": m}) == 6.0


def test_label_cardinality_is_bounded_with_an_overflow_value() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry, max_label_values=2)
    for name in ("m1", "m2", "m3", "m4"):
        fed_monitor(registry, name, sink=sink)
    got = scrape(registry)
    series = got["prodml_predictions_total"]
    assert set(series) == {(("model", "m1"),), (("model", "m2"),), (("model", "__overflow__"),)}
    assert series[(("model", "__overflow__"),)] == 12.0  # m3 + m4, summed
    buckets = got["prodml_prediction_latency_seconds_count"]
    assert buckets[(("model", "__overflow__"),)] == 12.0
    assert got["prodml_label_overflow_values"][(("label", "model"),)] == 2.0


def test_drift_columns_are_exported() -> None:
    from prodml.monitoring._drift import DriftSummary
    from prodml.monitoring.sinks import MetricsSnapshot

    registry = CollectorRegistry()
    sink = PrometheusSink(registry, max_label_values=2)
    cols = {
        c: {
            "drifted": float(c == "x"),
            "testable": 1.0,
            "statistic": 0.1,
            "p_value": 0.5,
            "effect": 0.1,
        }
        for c in ("x", "y", "z")
    }
    summary = DriftSummary(at=1.0, n_rows=10, columns=cols)
    sink.send_metrics(
        MetricsSnapshot("m", 1.0, summary.values(), {}, drift_columns=summary.columns)
    )
    got = scrape(registry)
    drifted = got["prodml_drift_column_drifted"]
    assert drifted[(("column", "x"), ("model", "m"))] == 1.0
    assert drifted[(("column", "__overflow__"), ("model", "m"))] == 0.0
    assert got["prodml_drift_share_ratio"][(("model", "m"),)] == pytest.approx(1 / 3)


def test_bad_registry_and_double_registration() -> None:
    with pytest.raises(ConfigError, match="'registry' parameter of PrometheusSink"):
        PrometheusSink(object())
    with pytest.raises(ConfigError, match="'max_label_values' parameter"):
        PrometheusSink(CollectorRegistry(), max_label_values=0)
    registry = CollectorRegistry()
    PrometheusSink(registry)
    with pytest.raises(ConfigError, match="Use one sink per registry"):
        PrometheusSink(registry)


def test_alert_events_do_not_touch_prometheus_until_the_snapshot() -> None:
    registry = CollectorRegistry()
    mon = fed_monitor(registry)
    before = scrape(registry)
    mon.log_prediction(99, None, 0.5)  # hot path: nothing exported until evaluate
    assert scrape(registry)["prodml_predictions_total"] == before["prodml_predictions_total"]
    mon.evaluate()
    assert scrape(registry)["prodml_predictions_total"][(("model", "churn"),)] == 7.0
    assert np.isfinite(before["prodml_window_throughput_per_second"][(("model", "churn"),)])


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from prodml.errors import MissingExtraError

    monkeypatch.setitem(__import__("sys").modules, "prometheus_client", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'prodml\[prometheus\]'"):
        PrometheusSink(object())


def test_regression_metrics_and_throughput_histogram() -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    mon = ModelMonitor(
        "reg",
        task="regression",
        sinks=[PrometheusSink(registry)],
        clock=clock,
        stats_window_s=30.0,
        stats_interval_s=10.0,
        throughput_buckets=(1.0, 2.0, 5.0),
        evaluate_every_s=None,
    )
    for i in range(60):  # 2 predictions per second for 30 s
        clock.t = i / 2
        mon.log_prediction(i, None, float(i), latency_s=0.01)
        mon.log_label(i, float(i) + (1.0 if i % 2 else -3.0))
    clock.t = 30.0
    mon.evaluate()
    got = scrape(registry)
    model = (("model", "reg"),)
    assert got["prodml_window_mae"][model] == 2.0
    assert got["prodml_window_rmse"][model] == pytest.approx(np.sqrt(5.0))
    # Three closed 10 s slots, each at 2 predictions/s (in the (1, 2] bucket).
    assert got["prodml_throughput_per_second_count"][model] == 3.0
    assert got["prodml_throughput_per_second_bucket"][(("le", "1.0"), *model)] == 0.0
    assert got["prodml_throughput_per_second_bucket"][(("le", "2.0"), *model)] == 3.0
    assert got["prodml_throughput_per_second_sum"][model] == 6.0
    assert got["prodml_window_throughput_per_second"][model] == pytest.approx(2.0)
