"""OpenTelemetrySink: observable instruments read back through the SDK's in-memory reader."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "opentelemetry.sdk.metrics", reason="needs the 'otel' extra and opentelemetry-sdk"
)

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from prodml.errors import ConfigError
from prodml.monitoring import AlertRule, Histogram, ModelMonitor
from prodml.monitoring.otel import OpenTelemetrySink

from .conftest import FakeClock

BUCKETS = (0.01, 0.05, 0.1, 0.5)


def read(reader: InMemoryMetricReader) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    out.setdefault(m.name, {})[tuple(sorted(p.attributes.items()))] = p.value
    return out


def feed(sink: OpenTelemetrySink, model: str) -> ModelMonitor:
    clock = FakeClock()
    mon = ModelMonitor(
        model,
        latency_buckets=BUCKETS,
        rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.9, severity="page")],
        sinks=[sink],
        clock=clock,
        evaluate_every_s=None,
    )
    for i, lat in enumerate([0.004, 0.02, 0.03, 0.07]):
        clock.t = float(i)
        mon.log_prediction(i, None, 0.8 if i % 2 else 0.3, latency_s=lat)
        mon.log_label(i, 1)
    mon.evaluate()
    return mon


def test_values_round_trip_through_the_sdk() -> None:
    reader = InMemoryMetricReader()
    sink = OpenTelemetrySink(MeterProvider(metric_readers=[reader]))
    feed(sink, "churn")
    got = read(reader)
    model = (("model", "churn"),)
    assert got["prodml.predictions"][model] == 4.0
    assert got["prodml.labels"][model] == 4.0
    assert got["prodml.window.accuracy"][model] == 0.5
    assert got["prodml.predictions.pending"][model] == 0.0
    ref = Histogram(BUCKETS)
    ref.observe_many([0.004, 0.02, 0.03, 0.07])
    p99 = got["prodml.window.latency"][(("model", "churn"), ("quantile", "0.99"))]
    assert p99 == pytest.approx(ref.quantile(0.99))
    firing = got["prodml.alert.firing"]
    assert firing[(("alertname", "acc"), ("model", "churn"), ("severity", "page"))] == 1.0
    assert "prodml.window.roc_auc" not in got  # one class in the window: undefined, not sent


def test_model_attribute_is_bounded() -> None:
    reader = InMemoryMetricReader()
    sink = OpenTelemetrySink(MeterProvider(metric_readers=[reader]), max_label_values=1)
    feed(sink, "a")
    feed(sink, "b")
    models = {dict(k)["model"] for k in read(reader)["prodml.predictions"]}
    assert models == {"a", "__overflow__"}


def test_bad_limit() -> None:
    with pytest.raises(ConfigError, match="'max_label_values' parameter of OpenTelemetrySink"):
        OpenTelemetrySink(MeterProvider(), max_label_values=0)


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from prodml.errors import MissingExtraError

    monkeypatch.setitem(__import__("sys").modules, "opentelemetry.metrics", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'prodml\[otel\]'"):
        OpenTelemetrySink()
