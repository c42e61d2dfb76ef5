"""Monitoring and alerting: a ModelMonitor that turns predictions, labels and drift into alerts.

:class:`ModelMonitor` joins predictions with their late labels by id in bounded memory,
keeps windowed performance metrics (count or time windows), latency and throughput
histograms, data drift through :mod:`prodml.drift` and concept drift through a streaming
detector on the error stream. :class:`AlertRule` (threshold, ``for`` duration, hysteresis,
minimum traffic) and :class:`BurnRateRule` (multi-window SLO burn rates) turn those values
into deduplicated firing/resolved events, delivered to sinks: in memory, logging,
callbacks, Prometheus (:mod:`prodml.monitoring.prometheus`) or OpenTelemetry
(:mod:`prodml.monitoring.otel`).

Examples
--------
>>> from prodml.monitoring import AlertRule, CountWindow, InMemorySink, ModelMonitor
>>> t = [0.0]
>>> sink = InMemorySink()
>>> mon = ModelMonitor(
...     "churn",
...     window=CountWindow(100),
...     rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.8, clear=0.9, for_s=5)],
...     sinks=[sink],
...     clock=lambda: t[0],
...     evaluate_every_s=1.0,
... )
>>> for i in range(300):
...     t[0] = float(i)
...     score = 0.9 if i < 150 else 0.1  # the model starts getting everything wrong
...     mon.log_prediction(i, {"x": 1.0}, score, latency_s=0.01)
...     _ = mon.log_label(i, 1)
>>> [(e.rule, e.state, e.at) for e in sink.events]
[('acc', 'firing', 176.0)]
"""

from __future__ import annotations

from prodml.monitoring.alerts import (
    AlertEvent,
    AlertRule,
    BurnRateRule,
    BurnWindow,
)
from prodml.monitoring.histogram import (
    Histogram,
)
from prodml.monitoring.monitor import ModelMonitor
from prodml.monitoring.sinks import (
    CallbackSink,
    InMemorySink,
    LoggingSink,
    MetricsSnapshot,
    Sink,
)
from prodml.monitoring.windows import CountWindow, TimeWindow

__all__ = [
    "AlertEvent",
    "AlertRule",
    "BurnRateRule",
    "BurnWindow",
    "CallbackSink",
    "CountWindow",
    "Histogram",
    "InMemorySink",
    "LoggingSink",
    "MetricsSnapshot",
    "ModelMonitor",
    "Sink",
    "TimeWindow",
]
