"""Where a monitor sends its alerts and metric snapshots.

A sink implements :meth:`Sink.send_alert`; :meth:`Sink.send_metrics` is optional (the base
ignores snapshots). The monitor calls both from :meth:`ModelMonitor.evaluate`, never from
the per-prediction hot path. A sink that raises does not stop the monitor: the error is
logged and counted in ``sink_errors_total``.

Shipped sinks: :class:`InMemorySink` (tests, notebooks), :class:`LoggingSink` (the
standard :mod:`logging` module), :class:`CallbackSink` (wrap plain functions, e.g. to post
to a pager) and, in :mod:`prodml.monitoring.prometheus`, ``PrometheusSink``.

Examples
--------
>>> from prodml.monitoring.alerts import AlertEvent
>>> sink = InMemorySink()
>>> sink.send_alert(AlertEvent("acc", "firing", 0.7, 10.0, "page", "churn", "accuracy low"))
>>> [(e.rule, e.state) for e in sink.events]
[('acc', 'firing')]
>>> sink.firing()
['churn/acc']
"""

from __future__ import annotations

import abc
import logging
import math
from collections import deque
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from prodml._params import Interval, check_params
from prodml.monitoring.alerts import AlertEvent
from prodml.monitoring.histogram import Histogram

__all__ = ["CallbackSink", "InMemorySink", "LoggingSink", "MetricsSnapshot", "Sink"]


@dataclass(frozen=True)
class MetricsSnapshot:
    """What a monitor knows at one evaluation, as handed to sinks.

    Attributes
    ----------
    model
        Name of the monitored model.
    at
        Clock time of the evaluation, in seconds.
    values
        Windowed values (``accuracy``, ``latency_p99``, ``drift_share``...); ``nan`` when
        undefined on the window.
    counters
        Monotonic totals since the monitor started (``predictions_total``...).
    histograms
        Cumulative histograms by name (``latency_seconds``, ``throughput_per_second``).
    drift_columns
        Per feature of the last drift window: ``{"drifted": 0/1, "statistic": ...,
        "p_value": ...}``.
    alerts
        State of each rule: ``"inactive"``, ``"pending"`` or ``"firing"``, and severity.
    """

    model: str
    at: float
    values: Mapping[str, float]
    counters: Mapping[str, float]
    histograms: Mapping[str, Histogram] = field(default_factory=dict)
    drift_columns: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    alerts: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def finite_values(self) -> dict[str, float]:
        """``values`` without the undefined (``nan``) ones."""
        return {k: v for k, v in self.values.items() if not math.isnan(v)}


class Sink(abc.ABC):
    """Destination of alert events and, optionally, metric snapshots."""

    @abc.abstractmethod
    def send_alert(self, event: AlertEvent) -> None:
        """Deliver one alert transition (``firing`` or ``resolved``)."""

    def send_metrics(self, snapshot: MetricsSnapshot) -> None:  # noqa: B027 - optional hook
        """Receive the snapshot of one evaluation; ignored unless overridden."""


MAX_SNAPSHOTS = 10_000_000
"""Most snapshots an :class:`InMemorySink` keeps (a ConfigError above)."""

MAX_EVENTS = 10_000_000
"""Most alert events an :class:`InMemorySink` keeps (a ConfigError above)."""


class InMemorySink(Sink):
    """Keeps the last ``max_events`` alert events and ``max_snapshots`` snapshots in memory.

    Monitors on several threads may share one: each delivery is one atomic append (and,
    past ``max_events``, one trim that keeps the newest).

    Parameters
    ----------
    max_snapshots
        How many snapshots to keep (oldest dropped first), at most ``MAX_SNAPSHOTS``
        (10,000,000).
    max_events
        How many alert events ``events`` keeps (oldest dropped first), at most
        ``MAX_EVENTS`` (10,000,000). The default, 10,000, holds more than a day of an
        alert flapping at every evaluation of a monitor evaluating every 10 s.
        :meth:`firing` still knows every alert's last state.
    """

    def __init__(self, max_snapshots: int = 100, max_events: int = 10_000) -> None:
        # The deque allocates nothing up front; check the bound it will be held to.
        check_params(
            "InMemorySink",
            {"max_snapshots": max_snapshots, "max_events": max_events},
            {
                "max_snapshots": [Interval(int, 0, MAX_SNAPSHOTS)],
                "max_events": [Interval(int, 0, MAX_EVENTS)],
            },
        )
        self.max_events = max_events
        self.events: list[AlertEvent] = []
        self.snapshots: deque[MetricsSnapshot] = deque(maxlen=max_snapshots)
        self._last: dict[str, str] = {}  # fingerprint -> state of its last event

    def send_alert(self, event: AlertEvent) -> None:
        """Append the event to ``events``, dropping the oldest past ``max_events``."""
        self._last[event.fingerprint] = event.state
        if self.max_events:
            events = self.events
            events.append(event)
            if len(events) > self.max_events:
                del events[: -self.max_events]  # keeps the newest: the same if two threads trim

    def send_metrics(self, snapshot: MetricsSnapshot) -> None:
        """Append the snapshot to ``snapshots``."""
        self.snapshots.append(snapshot)

    def firing(self) -> list[str]:
        """Fingerprints of alerts whose last event is ``firing``, sorted.

        Counted over every event received, also those ``events`` no longer holds.
        """
        last = self._last.copy()  # one C call: atomic while other threads deliver
        return sorted(k for k, s in last.items() if s == "firing")


class LoggingSink(Sink):
    """Logs alert events: ``firing`` at WARNING, ``resolved`` at INFO.

    Parameters
    ----------
    logger
        Logger to write to; defaults to ``logging.getLogger("prodml.monitoring")``.
    log_metrics
        Also log each snapshot's finite values at DEBUG.
    """

    def __init__(self, logger: logging.Logger | None = None, *, log_metrics: bool = False) -> None:
        self.logger: logging.Logger = (
            logger if logger is not None else logging.getLogger("prodml.monitoring")
        )
        self.log_metrics = log_metrics

    def send_alert(self, event: AlertEvent) -> None:
        """Log the event with its fingerprint, value and severity."""
        level = logging.WARNING if event.state == "firing" else logging.INFO
        self.logger.log(
            level,
            "alert %s %s (severity=%s, value=%.6g): %s",
            event.fingerprint,
            event.state,
            event.severity,
            event.value,
            event.message,
        )

    def send_metrics(self, snapshot: MetricsSnapshot) -> None:
        """Log the snapshot's finite values and counters at DEBUG if ``log_metrics``."""
        if self.log_metrics:
            self.logger.debug(
                "metrics %s: %s counters=%s",
                snapshot.model,
                snapshot.finite_values(),
                dict(snapshot.counters),
            )


class CallbackSink(Sink):
    """Calls plain functions: ``on_alert(event)`` and optionally ``on_metrics(snapshot)``.

    Parameters
    ----------
    on_alert
        Called with each :class:`~prodml.monitoring.alerts.AlertEvent`.
    on_metrics
        Called with each :class:`MetricsSnapshot`, when given.
    """

    def __init__(
        self,
        on_alert: Callable[[AlertEvent], Any],
        on_metrics: Callable[[MetricsSnapshot], Any] | None = None,
    ) -> None:
        self.on_alert = on_alert
        self.on_metrics = on_metrics

    def send_alert(self, event: AlertEvent) -> None:
        """Call ``on_alert(event)``."""
        self.on_alert(event)

    def send_metrics(self, snapshot: MetricsSnapshot) -> None:
        """Call ``on_metrics(snapshot)`` when set."""
        if self.on_metrics is not None:
            self.on_metrics(snapshot)


def keep_latest(  # private: the exporting sinks' helper
    snapshots: dict[str, MetricsSnapshot],
    snapshot: MetricsSnapshot,
    labelled: Container[str],
    limit: int,
) -> None:
    """Store ``snapshot`` as its model's latest, holding at most ``2 * limit`` models.

    Used by the exporting sinks (Prometheus, OpenTelemetry), whose ``model`` label takes
    at most ``limit`` values: past ``2 * limit`` models, the model that sent least
    recently among those without a label value of their own (``labelled``) is forgotten,
    so a service that creates a monitor per model version does not keep every snapshot
    it ever received. The caller holds the sink's lock.
    """
    snapshots.pop(snapshot.model, None)  # re-inserted last: the most recent sender
    snapshots[snapshot.model] = snapshot
    if len(snapshots) > 2 * limit:
        for model in snapshots:
            if model not in labelled:
                del snapshots[model]
                break
