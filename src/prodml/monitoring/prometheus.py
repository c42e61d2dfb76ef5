"""Prometheus exposition of monitor snapshots through an injected ``CollectorRegistry``.

:class:`PrometheusSink` registers one custom collector in the registry you give it (never
the global default one behind your back) and answers scrapes from the last snapshot of
each monitor that sends to it, so the per-prediction hot path never touches
``prometheus_client``. One sink serves any number of monitors; each is told apart by the
``model`` label.

Names follow the Prometheus conventions: prefix ``prodml_``, base units (seconds, ratios
in [0, 1]), ``_total`` counters. Exported families:

=========================================== =========== =====================================
name                                        type        labels
=========================================== =========== =====================================
``prodml_predictions_total``                counter     model
``prodml_labels_total``                     counter     model
``prodml_labels_unmatched_total``           counter     model
``prodml_labels_duplicate_total``           counter     model
``prodml_predictions_evicted_total``        counter     model
``prodml_predictions_expired_total``        counter     model
``prodml_predictions_pending``              gauge       model
``prodml_prediction_latency_seconds``       histogram   model
``prodml_throughput_per_second``            histogram   model
``prodml_window_<metric>``                  gauge       model (accuracy_ratio, mae, ...)
``prodml_window_latency_seconds``           gauge       model, quantile
``prodml_drift_share_ratio``                gauge       model
``prodml_drift_column_drifted``             gauge       model, column
``prodml_alert_firing``                     gauge       model, alertname, severity
``prodml_label_overflow_values``            gauge       label
``prodml_fairness_group_ratio``             gauge       model, metric, group
``prodml_fairness_group_records``           gauge       model, group
``prodml_fairness_gap_ratio``               gauge       model, metric, gap
``prodml_fairness_flagged_pairs``           gauge       model, metric
=========================================== =========== =====================================

The fairness families come from a monitor with ``group_by`` (:mod:`prodml.monitoring._groups`):
each group's value of each metric (``group="sex=F"``), and each metric's gaps
(``gap`` is ``difference``, ``difference_lower``, ``ratio`` or ``ratio_upper``).

Bounded cardinality: each label (``model``, ``column``, ``alertname``, ``group``) takes at most
``max_label_values`` distinct values over the sink's life; later values are exported as
``overflow_value`` (series colliding there are summed for counters and histograms, last
write wins for gauges) and counted in ``prodml_label_overflow_values``. The sink holds the
last snapshot of at most ``2 * max_label_values`` models: past that, the overflowed model
that sent least recently is forgotten (its counters leave the overflow sums), so a monitor
per model version, created for weeks, does not keep every snapshot in memory.

Examples
--------
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from prodml.monitoring import ModelMonitor
>>> registry = CollectorRegistry()
>>> mon = ModelMonitor("churn", sinks=[PrometheusSink(registry)], clock=lambda: 0.0)
>>> mon.log_prediction("a", None, 0.9, latency_s=0.02)
>>> _ = mon.evaluate()
>>> registry.get_sample_value("prodml_predictions_total", {"model": "churn"})
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
from prodml.errors import ConfigError
from prodml.monitoring import _groups
from prodml.monitoring.alerts import AlertEvent
from prodml.monitoring.histogram import Histogram
from prodml.monitoring.sinks import MetricsSnapshot, Sink, keep_latest

__all__ = ["PrometheusSink"]

_COUNTERS = {
    "predictions_total": ("prodml_predictions", "Predictions logged."),
    "labels_total": ("prodml_labels", "Labels joined to their prediction."),
    "unmatched_total": ("prodml_labels_unmatched", "Labels with no pending prediction."),
    "duplicate_labels_total": ("prodml_labels_duplicate", "Labels of labelled predictions."),
    "evicted_total": ("prodml_predictions_evicted", "Pending predictions evicted (cap)."),
    "expired_total": ("prodml_predictions_expired", "Pending predictions expired (TTL)."),
    "duplicate_predictions_total": ("prodml_predictions_duplicate", "Repeated prediction ids."),
    "alerts_fired_total": ("prodml_alerts_fired", "Alerts that started firing."),
    "concept_drift_total": ("prodml_concept_drift_alarms", "Concept-drift detector alarms."),
    "drift_windows_total": ("prodml_drift_windows", "Feature windows tested for data drift."),
    "drift_windows_skipped_total": ("prodml_drift_windows_skipped", "Drift windows skipped."),
    "drift_errors_total": ("prodml_drift_errors", "Drift windows that failed."),
    "sink_errors_total": ("prodml_sink_errors", "Errors raised by sinks."),
}
_GAUGES = {
    "pending": ("prodml_predictions_pending", "Predictions waiting for a label."),
    "window_count": ("prodml_window_labelled_predictions", "Labelled predictions in window."),
    "accuracy": ("prodml_window_accuracy_ratio", "Accuracy over the window."),
    "error_rate": ("prodml_window_error_ratio", "Error rate over the window."),
    "precision": ("prodml_window_precision_ratio", "Precision over the window."),
    "recall": ("prodml_window_recall_ratio", "Recall over the window."),
    "auc": ("prodml_window_roc_auc_ratio", "ROC AUC over the window."),
    "log_loss": ("prodml_window_log_loss", "Mean log loss (nats) over the window."),
    "mae": ("prodml_window_mae", "Mean absolute error over the window."),
    "rmse": ("prodml_window_rmse", "Root mean squared error over the window."),
    "throughput": ("prodml_window_throughput_per_second", "Predictions per second."),
    "drift_share": ("prodml_drift_share_ratio", "Share of drifted features, last window."),
    "drifted_columns": ("prodml_drift_columns_drifted", "Drifted features, last window."),
    "concept_drift_events": ("prodml_concept_drift_events", "Concept-drift alarms, recent."),
}
_EXTRA_GAUGES = [
    ("prodml_window_latency_seconds", "Latency quantile estimate."),
    ("prodml_drift_column_drifted", "1 if the feature drifted, last window."),
    ("prodml_alert_firing", "1 while the alert is firing."),
    ("prodml_label_overflow_values", "Distinct label values exported as the overflow value."),
]
_FAIRNESS = {
    "group": ("prodml_fairness_group_ratio", "A group's value of a metric, over the group window."),
    "records": ("prodml_fairness_group_records", "Records of a group in the group window."),
    "gap": ("prodml_fairness_gap_ratio", "Gap of a metric between groups, group window."),
    "flagged": ("prodml_fairness_flagged_pairs", "Pairs of groups with a flagged gap."),
}
_QUANTILES = {"latency_p50": "0.5", "latency_p95": "0.95", "latency_p99": "0.99"}
_HISTOGRAMS = {
    "latency_seconds": ("prodml_prediction_latency_seconds", "Model latency in seconds."),
    "throughput_per_second": ("prodml_throughput_per_second", "Predictions/s per interval."),
}


class PrometheusSink(NotPicklable, Sink):
    """Expose monitor snapshots to Prometheus through ``registry``.

    Parameters
    ----------
    registry
        A ``prometheus_client.CollectorRegistry``; the sink registers its collector in it.
    max_label_values
        Distinct values each label may take before values go to ``overflow_value``.
    overflow_value
        Label value standing in for every value beyond the limit.

    Raises
    ------
    MissingExtraError
        When ``prometheus_client`` is not installed (extra ``prometheus``).
    ConfigError
        When ``registry`` is not a ``CollectorRegistry`` or the limit is not a positive int.
    """

    _SHIP_INSTEAD = (
        "its settings (a new sink in the worker registers with that process's CollectorRegistry)"
    )

    def __init__(
        self,
        registry: Any,
        *,
        max_label_values: int = 100,
        overflow_value: str = "__overflow__",
    ) -> None:
        prom = require("prometheus_client", extra="prometheus", feature="PrometheusSink")
        check_params(
            "PrometheusSink",
            {
                "registry": registry,
                "max_label_values": max_label_values,
                "overflow_value": overflow_value,
            },
            {
                "registry": [
                    TypeOf(prom.CollectorRegistry, "a prometheus_client.CollectorRegistry")
                ],
                "max_label_values": [Interval(int, 1, None)],
                "overflow_value": [TypeOf(str, "a str")],
            },
        )
        self.registry = registry
        self.max_label_values = max_label_values
        self.overflow_value = overflow_value
        self._lock = threading.Lock()
        self._snapshots: dict[str, MetricsSnapshot] = {}
        self._seen: dict[str, dict[str, None]] = {}
        self._overflowed: dict[str, set[str]] = {}
        try:
            registry.register(_Collector(self))
        except ValueError as err:
            raise ConfigError(
                f"Cannot register a PrometheusSink in this registry: {err}. Use one sink "
                "per registry and send every monitor to it.",
                parameter="registry",
            ) from err

    def send_alert(self, event: AlertEvent) -> None:
        """Alerts are exported as ``prodml_alert_firing`` from the next snapshot."""

    def send_metrics(self, snapshot: MetricsSnapshot) -> None:
        """Keep the snapshot as the model's current state for scrapes."""
        with self._lock:
            keep_latest(
                self._snapshots, snapshot, self._seen.get("model", {}), self.max_label_values
            )

    def label(self, name: str, value: str) -> str:
        """``value`` if label ``name`` has room for it, else the overflow value."""
        seen = self._seen.setdefault(name, {})
        if value in seen:
            return value
        if len(seen) < self.max_label_values:
            seen[value] = None
            return value
        # Only the current scrape's overflowed values are kept, so memory stays bounded.
        self._overflowed.setdefault(name, set()).add(value)
        return self.overflow_value

    def _set_fairness(
        self, acc: _Accumulator, model: str, fair: tuple[str, str, str], value: float
    ) -> None:
        kind, metric, group = fair
        if kind == "group" and metric == "count":
            acc.set(
                _FAIRNESS["records"], ("model", "group"), (model, self.label("group", group)), value
            )
        elif kind == "group":
            labels = (model, metric, self.label("group", group))
            acc.set(_FAIRNESS["group"], ("model", "metric", "group"), labels, value)
        elif kind == "flagged":
            acc.set(_FAIRNESS["flagged"], ("model", "metric"), (model, metric), value)
        else:
            acc.set(_FAIRNESS["gap"], ("model", "metric", "gap"), (model, metric, kind), value)

    def collect_families(self) -> list[Any]:
        """The metric families of the current snapshots (what a scrape returns)."""
        from prometheus_client.core import (  # noqa: PLC0415 - optional extra, lazy
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        with self._lock:
            self._overflowed = {}
            snapshots = list(self._snapshots.values())
            acc = _Accumulator()
            for snap in snapshots:
                model = self.label("model", snap.model)
                for key, value in snap.counters.items():
                    if key in _COUNTERS:
                        acc.add_sum(_COUNTERS[key], ("model",), (model,), value)
                for key, value in snap.values.items():
                    if math.isnan(value):
                        continue
                    if key in _GAUGES:
                        acc.set(_GAUGES[key], ("model",), (model,), value)
                    elif key in _QUANTILES:
                        acc.set(
                            _EXTRA_GAUGES[0], ("model", "quantile"), (model, _QUANTILES[key]), value
                        )
                    elif (fair := _groups.series(key)) is not None:
                        self._set_fairness(acc, model, fair, value)
                for key, hist in snap.histograms.items():
                    if key in _HISTOGRAMS:
                        acc.add_histogram(_HISTOGRAMS[key], model, hist)
                for column, info in snap.drift_columns.items():
                    col = self.label("column", column)
                    acc.set(
                        _EXTRA_GAUGES[1],
                        ("model", "column"),
                        (model, col),
                        info.get("drifted", 0.0),
                    )
                for rule, (state, severity) in snap.alerts.items():
                    alert = (model, self.label("alertname", rule), severity)
                    acc.set(
                        _EXTRA_GAUGES[2],
                        ("model", "alertname", "severity"),
                        alert,
                        float(state == "firing"),
                    )
            overflow = {name: len(values) for name, values in self._overflowed.items()}
        families: list[Any] = []
        for (name, doc), (labelnames, series) in acc.counters.items():
            fam = CounterMetricFamily(name, doc, labels=labelnames)
            for labels, value in series.items():
                fam.add_metric(labels, value)
            families.append(fam)
        for (name, doc), (labelnames, series) in acc.gauges.items():
            gfam = GaugeMetricFamily(name, doc, labels=labelnames)
            for labels, value in series.items():
                gfam.add_metric(labels, value)
            families.append(gfam)
        for (name, doc), by_model in acc.histograms.items():
            hfam = HistogramMetricFamily(name, doc, labels=("model",))
            for model, hist in by_model.items():
                cumulative = hist.cumulative_counts()
                buckets = [
                    (_le(b), float(c)) for b, c in zip(hist.bounds, cumulative, strict=False)
                ]
                buckets.append(("+Inf", float(cumulative[-1])))
                hfam.add_metric((model,), buckets, hist.sum)
            families.append(hfam)
        ofam = GaugeMetricFamily(*_EXTRA_GAUGES[3], labels=("label",))
        for name, count in sorted(overflow.items()):
            ofam.add_metric((name,), float(count))
        families.append(ofam)
        return families


def _le(bound: float) -> str:
    return repr(float(bound))


class _Accumulator:
    """Series by family, merging series that collide on the overflow label value."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str], tuple[tuple[str, ...], dict[tuple[str, ...], float]]]
        self.counters = {}
        self.gauges: dict[tuple[str, str], tuple[tuple[str, ...], dict[tuple[str, ...], float]]]
        self.gauges = {}
        self.histograms: dict[tuple[str, str], dict[str, Histogram]] = {}

    def add_sum(
        self, spec: tuple[str, str], names: tuple[str, ...], labels: tuple[str, ...], v: float
    ) -> None:
        series = self.counters.setdefault(spec, (names, {}))[1]
        series[labels] = series.get(labels, 0.0) + v

    def set(
        self, spec: tuple[str, str], names: tuple[str, ...], labels: tuple[str, ...], v: float
    ) -> None:
        self.gauges.setdefault(spec, (names, {}))[1][labels] = v

    def add_histogram(self, spec: tuple[str, str], model: str, hist: Histogram) -> None:
        by_model = self.histograms.setdefault(spec, {})
        if model in by_model:
            by_model[model].merge(hist)
        else:
            by_model[model] = hist.copy()


class _Collector:
    """The object registered in the ``CollectorRegistry``; delegates to the sink."""

    def __init__(self, sink: PrometheusSink) -> None:
        self._sink = sink

    def collect(self) -> Iterator[Any]:
        yield from self._sink.collect_families()

    def describe(self) -> Iterator[Any]:
        """Every family name the sink may export, so the registry rejects clashes."""
        from prometheus_client.core import (  # noqa: PLC0415 - optional extra, lazy
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        for name, doc in _COUNTERS.values():
            yield CounterMetricFamily(name, doc)
        for name, doc in [*_GAUGES.values(), *_EXTRA_GAUGES, *_FAIRNESS.values()]:
            yield GaugeMetricFamily(name, doc)
        for name, doc in _HISTOGRAMS.values():
            yield HistogramMetricFamily(name, doc)
