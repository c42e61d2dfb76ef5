"""Exporting sinks fed by a monitor per model version for weeks: what they hold is bounded."""

from __future__ import annotations

import pytest

from prodml.monitoring.sinks import MetricsSnapshot


def snap(model: str, predictions: float = 1.0) -> MetricsSnapshot:
    return MetricsSnapshot(model, 0.0, {}, {"predictions_total": predictions})


def test_prometheus_sink_holds_at_most_twice_its_label_values_in_snapshots() -> None:
    pytest.importorskip("prometheus_client", reason="needs the 'prometheus' extra")
    from prometheus_client import CollectorRegistry

    from prodml.monitoring.prometheus import PrometheusSink

    registry = CollectorRegistry()
    sink = PrometheusSink(registry, max_label_values=10)
    for i in range(10):
        sink.send_metrics(snap(f"v{i}"))
    registry.get_sample_value("prodml_predictions_total", {"model": "v0"})  # a scrape: slots
    for i in range(10, 10_000):  # a new model version every hour, for a year
        sink.send_metrics(snap(f"v{i}"))
        if i % 100 == 0:
            registry.get_sample_value("prodml_predictions_total", {"model": "v0"})
    assert len(sink._snapshots) == 20
    for i in range(10):  # the models with a label value of their own keep their series
        sink.send_metrics(snap(f"v{i}", predictions=5.0))
        assert registry.get_sample_value("prodml_predictions_total", {"model": f"v{i}"}) == 5.0
    overflow = registry.get_sample_value("prodml_predictions_total", {"model": "__overflow__"})
    assert overflow == 10.0  # the ten most recent of the others
    assert {f"v{i}" for i in range(9990, 10_000)} <= set(sink._snapshots)


def test_open_telemetry_sink_holds_at_most_twice_its_label_values_in_snapshots() -> None:
    pytest.importorskip("opentelemetry.sdk.metrics", reason="needs the 'otel' extra and the SDK")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from prodml.monitoring.otel import OpenTelemetrySink

    reader = InMemoryMetricReader()
    sink = OpenTelemetrySink(MeterProvider(metric_readers=[reader]), max_label_values=5)
    for i in range(5):
        sink.send_metrics(snap(f"v{i}"))
    reader.get_metrics_data()
    for i in range(5, 5000):
        sink.send_metrics(snap(f"v{i}"))
    assert len(sink._snapshots) == 10
    assert {f"v{i}" for i in range(5)} <= set(sink._snapshots)
    assert "v4999" in sink._snapshots
