"""OpenTelemetry export of monitor snapshots through observable instruments (optional).

:class:`OpenTelemetrySink` creates observable counters and gauges on a meter of the
``MeterProvider`` you pass (or the global one) and reports, at each collection, the last
snapshot of every monitor that sends to it. Like the Prometheus sink it costs nothing on
the per-prediction path. Names are dotted (``prodml.predictions``, ``prodml.window.accuracy``)
with UCUM units (``s``, ``1``, ``{prediction}``); the monitored model is the ``model``
attribute, bounded to ``max_label_values`` distinct values (later ones are reported as
``overflow_value``, last write wins); the sink holds the last snapshot of at most
``2 * max_label_values`` models (past that, the overflowed model that sent least recently
is forgotten).

OpenTelemetry's API records histograms one value at a time and cannot take pre-aggregated
buckets, so latency is exported as quantile gauges (``prodml.window.latency`` with a
``quantile`` attribute); use the Prometheus sink for full histograms.

Examples
--------
The example needs ``opentelemetry-sdk`` (not part of prodml's test extra yet, so it is
skipped as a doctest; ``tests/monitoring/test_otel.py`` runs the same steps):

>>> from opentelemetry.sdk.metrics import MeterProvider
>>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
>>> from prodml.monitoring import ModelMonitor
>>> reader = InMemoryMetricReader()
>>> sink = OpenTelemetrySink(MeterProvider(metric_readers=[reader]))
>>> mon = ModelMonitor("churn", sinks=[sink], clock=lambda: 0.0)
>>> mon.log_prediction("a", None, 0.9, latency_s=0.02)
>>> points = {
...     m.name: m.data.data_points[0].value
...     for rm in reader.get_metrics_data().resource_metrics
...     for sm in rm.scope_metrics
...     for m in sm.metrics
... }
>>> points["prodml.predictions"]
1.0
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

from prodml._extras import require
from prodml._params import Interval, TypeOf, check_params
from prodml._pickle import NotPicklable
from prodml.monitoring.alerts import AlertEvent
from prodml.monitoring.sinks import MetricsSnapshot, Sink, keep_latest

__all__ = ["OpenTelemetrySink"]

_COUNTERS = {
    "predictions_total": ("prodml.predictions", "{prediction}", "Predictions logged."),
    "labels_total": ("prodml.labels", "{label}", "Labels joined to their prediction."),
    "unmatched_total": ("prodml.labels.unmatched", "{label}", "Labels with no prediction."),
    "duplicate_labels_total": ("prodml.labels.duplicate", "{label}", "Labels sent twice."),
    "evicted_total": ("prodml.predictions.evicted", "{prediction}", "Evicted (cap)."),
    "expired_total": ("prodml.predictions.expired", "{prediction}", "Expired (TTL)."),
    "alerts_fired_total": ("prodml.alerts.fired", "{alert}", "Alerts that started firing."),
    "concept_drift_total": ("prodml.concept_drift.alarms", "{alarm}", "Detector alarms."),
}
_GAUGES = {
    "pending": ("prodml.predictions.pending", "{prediction}", "Waiting for a label."),
    "accuracy": ("prodml.window.accuracy", "1", "Accuracy over the window."),
    "precision": ("prodml.window.precision", "1", "Precision over the window."),
    "recall": ("prodml.window.recall", "1", "Recall over the window."),
    "auc": ("prodml.window.roc_auc", "1", "ROC AUC over the window."),
    "log_loss": ("prodml.window.log_loss", "1", "Mean log loss over the window."),
    "mae": ("prodml.window.mae", "1", "Mean absolute error over the window."),
    "rmse": ("prodml.window.rmse", "1", "Root mean squared error over the window."),
    "throughput": ("prodml.window.throughput", "{prediction}/s", "Predictions per second."),
    "drift_share": ("prodml.drift.share", "1", "Share of drifted features, last window."),
}
_QUANTILES = {"latency_p50": "0.5", "latency_p95": "0.95", "latency_p99": "0.99"}


class OpenTelemetrySink(NotPicklable, Sink):
    """Report monitor snapshots as OpenTelemetry observable instruments.

    Parameters
    ----------
    meter_provider
        An OpenTelemetry ``MeterProvider``; ``None`` uses the global one.
    max_label_values
        Distinct ``model`` values reported before later ones go to ``overflow_value``.
    overflow_value
        Attribute value standing in for every model beyond the limit.

    Raises
    ------
    MissingExtraError
        When ``opentelemetry-api`` is not installed (extra ``otel``).
    ConfigError
        When ``max_label_values`` is not a positive int.
    """

    _SHIP_INSTEAD = (
        "its settings (a new sink in the worker registers with that process's MeterProvider)"
    )

    def __init__(
        self,
        meter_provider: Any = None,
        *,
        max_label_values: int = 100,
        overflow_value: str = "__overflow__",
    ) -> None:
        otel = require("opentelemetry.metrics", extra="otel", feature="OpenTelemetrySink")
        check_params(
            "OpenTelemetrySink",
            {"max_label_values": max_label_values, "overflow_value": overflow_value},
            {
                "max_label_values": [Interval(int, 1, None)],
                "overflow_value": [TypeOf(str, "a str")],
            },
        )
        self.max_label_values = max_label_values
        self.overflow_value = overflow_value
        self._observation = otel.Observation
        self._lock = threading.Lock()
        self._snapshots: dict[str, MetricsSnapshot] = {}
        self._models: dict[str, None] = {}
        provider = meter_provider if meter_provider is not None else otel.get_meter_provider()
        meter = provider.get_meter("prodml.monitoring")
        for key, (name, unit, doc) in _COUNTERS.items():
            meter.create_observable_counter(
                name, callbacks=[self._callback("counters", key)], unit=unit, description=doc
            )
        for key, (name, unit, doc) in _GAUGES.items():
            meter.create_observable_gauge(
                name, callbacks=[self._callback("values", key)], unit=unit, description=doc
            )
        meter.create_observable_gauge(
            "prodml.window.latency",
            callbacks=[self._latency],
            unit="s",
            description="Latency quantile estimates over the stats window.",
        )
        meter.create_observable_gauge(
            "prodml.alert.firing",
            callbacks=[self._alerts],
            unit="1",
            description="1 while the alert is firing.",
        )

    def send_alert(self, event: AlertEvent) -> None:
        """Alerts are reported as ``prodml.alert.firing`` from the next snapshot."""

    def send_metrics(self, snapshot: MetricsSnapshot) -> None:
        """Keep the snapshot as the model's current state for the next collection."""
        with self._lock:
            keep_latest(self._snapshots, snapshot, self._models, self.max_label_values)

    def _model(self, name: str) -> str:
        if name in self._models:
            return name
        if len(self._models) < self.max_label_values:
            self._models[name] = None
            return name
        return self.overflow_value

    def _current(self) -> list[tuple[str, MetricsSnapshot]]:
        with self._lock:
            return [(self._model(m), s) for m, s in self._snapshots.items()]

    def _callback(self, source: str, key: str) -> Any:
        def observe(options: Any) -> Iterator[Any]:
            for model, snap in self._current():
                value = getattr(snap, source).get(key)
                if value is not None and not math.isnan(value):
                    yield self._observation(value, {"model": model})

        return observe

    def _latency(self, options: Any) -> Iterator[Any]:
        for model, snap in self._current():
            for key, q in _QUANTILES.items():
                value = snap.values.get(key, math.nan)
                if not math.isnan(value):
                    yield self._observation(value, {"model": model, "quantile": q})

    def _alerts(self, options: Any) -> Iterator[Any]:
        for model, snap in self._current():
            for rule, (state, severity) in snap.alerts.items():
                attrs = {"model": model, "alertname": rule, "severity": severity}
                yield self._observation(float(state == "firing"), attrs)
