"""The evaluation side of :class:`~prodml.monitoring.ModelMonitor` (a mixin).

Drift windows (``_add_drift_row`` closes one when it is full), the work done at an
evaluation or a read (``_advance``: expire windows and pending predictions, run the data
and attribution drift tests), the values (:meth:`Evaluation.metrics`), the rules and the
sinks (:meth:`Evaluation.evaluate`), and the counters and alert states.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from prodml.errors import ProdMLError
from prodml.monitoring import _config, _drift, _groups, _values
from prodml.monitoring._attributions import AttributionDrift
from prodml.monitoring._slo import SLOCounter
from prodml.monitoring._stats import SlotStats
from prodml.monitoring.alerts import AlertEvent, AlertRule, BurnRateRule, RuleState
from prodml.monitoring.sinks import MetricsSnapshot, Sink
from prodml.monitoring.windows import Window, _time_order

if TYPE_CHECKING:
    from prodml.drift.streaming import StreamingDetector

__all__ = ["Evaluation"]

_log = logging.getLogger("prodml.monitoring")
_T = TypeVar("_T")


def _time_of_entry(entry: tuple[float, Any]) -> float:
    return entry[0]


def _time_of_label(t: float) -> float:
    return t


def _expire(
    entries: OrderedDict[Hashable, _T],
    cutoff: float,
    ahead: float,
    unsorted: bool,
    time_of: Callable[[_T], float],
) -> tuple[int, bool, float]:
    """Drop the entries stamped outside ``(cutoff, ahead]``: how many, and the order flags.

    Entries are in the order they were added, which is time order unless the clock
    stepped back (``unsorted``): then an entry stamped before the step hides the older
    ones added after it from a scan that stops at the first live entry, and they would
    outstay ``pending_ttl_s`` by up to the step (a year, for one reading a year ahead).
    While unsorted, every entry is checked. An entry stamped more than the TTL ahead of
    ``now`` comes from a clock that has since stepped back, and goes (as a TimeWindow's).
    Returns how many went, whether the rest is still out of order, and the last one's time.
    """
    gone = 0
    while entries:
        t = time_of(entries[next(iter(entries))])
        if cutoff < t <= ahead:
            break
        entries.popitem(last=False)
        gone += 1
    while entries and time_of(entries[next(reversed(entries))]) > ahead:
        entries.popitem(last=True)  # in order, the ones ahead are the newest
        gone += 1
    if not unsorted:
        return gone, False, time_of(entries[next(reversed(entries))]) if entries else -math.inf
    stale = [key for key, e in entries.items() if not cutoff < time_of(e) <= ahead]
    for key in stale:
        del entries[key]
    still, last = _time_order(map(time_of, entries.values()))
    return gone + len(stale), still, last


class Evaluation:
    """The evaluation side of :class:`~prodml.monitoring.ModelMonitor` (a mixin)."""

    # Set by ModelMonitor.__init__.
    model: str
    task: str
    window: Window
    rules: tuple[AlertRule | BurnRateRule, ...]
    sinks: list[Sink]
    clock: Callable[[], float]
    threshold: float
    pending_ttl_s: float | None
    evaluate_every_s: float | None
    reference: object
    drift_window: int
    drift_window_bytes: int
    concept_detector: StreamingDetector | None
    concept_window_s: float
    _lock: Any
    _groups: _groups.GroupWindows | None
    _pending: OrderedDict[Hashable, tuple[float, Any]]
    _labelled: OrderedDict[Hashable, float]
    # Whether _pending (_labelled) holds entries out of time order, and the time of the
    # last one added (see _expire); a monitor pickled before them sets them on load.
    _pending_unsorted: bool = False
    _pending_last: float = -math.inf
    _labelled_unsorted: bool = False
    _labelled_last: float = -math.inf
    _stats: SlotStats
    _counters: dict[str, int]
    _states: dict[str, RuleState]
    _slo: dict[str, SLOCounter]
    _drift_rows: list[Mapping[str, Any]] | None
    _drift_ready: list[Mapping[str, Any]] | None
    _drift_bytes: int
    _drift_fitted: Any
    _drift_summary: _drift.DriftSummary
    _attributions: AttributionDrift | None
    _concept_alarms: deque[float]
    _eval_from: float
    _next_eval: float
    _last_eval: float | None
    _n_predictions: int

    if TYPE_CHECKING:

        def _flush(self) -> None:
            """See ``ServedQueue._flush``."""

    def _add_drift_row(self, features: Mapping[str, Any]) -> None:
        rows = self._drift_rows
        assert rows is not None  # noqa: S101 - checked by the caller
        rows.append(features)
        self._drift_bytes += _drift.row_bytes(features)
        if len(rows) >= self.drift_window or self._drift_bytes >= self.drift_window_bytes:
            self._close_drift_window()

    def _close_drift_window(self) -> None:
        if self._drift_ready is not None:
            self._counters["drift_windows_skipped_total"] += 1
        self._drift_ready, self._drift_rows = self._drift_rows, []
        self._drift_bytes = 0

    def _advance(self, now: float) -> None:
        if not self._stats.floor <= now < self._stats.slot_end:
            self._stats.rotate(now)
        self.window.expire(now)
        if self._groups is not None:
            self._groups.expire(now)
        if self.pending_ttl_s is not None:
            cutoff, ahead = now - self.pending_ttl_s, now + self.pending_ttl_s
            gone, self._pending_unsorted, self._pending_last = _expire(
                self._pending, cutoff, ahead, self._pending_unsorted, _time_of_entry
            )
            self._counters["expired_total"] += gone
            # the record of labelled ids expires alike, uncounted
            _, self._labelled_unsorted, self._labelled_last = _expire(
                self._labelled, cutoff, ahead, self._labelled_unsorted, _time_of_label
            )
        if self._drift_ready is not None:
            rows, self._drift_ready = self._drift_ready, None
            try:
                self._drift_summary = _drift.run(self._drift_fitted, rows, now)
            except ProdMLError:  # bad live features must not take the server down
                self._counters["drift_errors_total"] += 1
                _log.exception("prodml monitor %r: data-drift window failed", self.model)
            else:
                self._counters["drift_windows_total"] += 1
        if self._attributions is not None:
            self._attributions.advance(now, self._counters, _log, self.model)

    def metrics(self, now: float | None = None) -> dict[str, float]:
        """Current windowed values and counters by name (``nan`` when undefined).

        Expires old window contents at ``now`` (default ``clock()``) first.
        """
        with self._lock:
            self._flush()
            now = _config.check_time(self.clock() if now is None else now, "now")
            self._advance(now)
            return self._values(now)

    def _values(self, now: float) -> dict[str, float]:
        values = _values.performance(self.task, self.window, self.threshold)
        values.update(_values.latency(self._stats, now))
        values.update({k: float(v) for k, v in self._totals().items()})
        values["pending"] = float(len(self._pending))
        if self.reference is not None:
            values.update(self._drift_summary.values())
        if self._attributions is not None:
            values.update(self._attributions.values())
        if self._groups is not None:
            values.update(self._groups.values())
        if self.concept_detector is not None:
            cutoff = now - self.concept_window_s
            values["concept_drift_events"] = float(
                sum(1 for a in self._concept_alarms if a > cutoff)
            )
        return values

    def evaluate(self, now: float | None = None) -> list[AlertEvent]:
        """Evaluate every rule, send transitions and a snapshot to the sinks.

        Returns
        -------
        list of AlertEvent
            The transitions of this evaluation (already sent to the sinks).
        """
        with self._lock:
            self._flush()
            now = _config.check_time(self.clock() if now is None else now, "now")
            if self.evaluate_every_s is not None:
                self._next_eval = now + self.evaluate_every_s
                self._eval_from = now - self.evaluate_every_s
            self._last_eval = now
            self._advance(now)
            values = self._values(now)
            events: list[AlertEvent] = []
            for rule in self.rules:
                state = self._states[rule.name]
                if isinstance(rule, AlertRule):
                    value = values.get(rule.metric, math.nan)
                    traffic = values[
                        _groups.TRAFFIC
                        if self._groups is not None and self._groups.accepts(rule.metric)
                        else _values.traffic_metric(rule.metric)
                    ]
                    change = state.step(rule, value, traffic=traffic, now=now)
                    severity = rule.severity
                    what = f"{rule.metric}={value:.6g} ({rule.op} {rule.fire:g} fires)"
                else:
                    firing, value, severity = _values.burn_rate(rule, self._slo[rule.name], now)
                    ranks = [w.severity for w in rule.windows]
                    change = state.set_firing(firing, value, now, severity, ranks)
                    severity = state.severity or severity
                    what = f"burn rate {value:.4g}x of the {rule.objective:g} objective"
                if change is not None:
                    if change == "firing":
                        self._counters["alerts_fired_total"] += 1
                    events.append(
                        AlertEvent(rule.name, change, value, now, severity, self.model, what)
                    )
            snapshot = self._snapshot(now, values)
            for sink in self.sinks:
                for event in events:
                    self._deliver(sink.send_alert, event)
                self._deliver(sink.send_metrics, snapshot)
            return events

    def _deliver(self, send: Callable[[Any], Any], payload: object) -> None:
        try:
            send(payload)
        except Exception:  # noqa: BLE001 - a broken sink must not take the server down
            self._counters["sink_errors_total"] += 1
            _log.exception("prodml monitor %r: sink %r failed", self.model, send)

    def _snapshot(self, now: float, values: Mapping[str, float]) -> MetricsSnapshot:
        counters = {k: float(v) for k, v in self._totals().items()}
        return MetricsSnapshot(
            model=self.model,
            at=now,
            values={k: v for k, v in values.items() if k not in counters},
            counters=counters,
            histograms={
                "latency_seconds": self._stats.cumulative_latency(),
                "throughput_per_second": self._stats.throughput_total.copy(),
            },
            drift_columns=self._drift_summary.columns,
            alerts={
                r.name: (
                    self._states[r.name].state,
                    self._states[r.name].severity or _config.severity(r),
                )
                for r in self.rules
            },
        )

    def counters(self) -> dict[str, int]:
        """Monotonic totals since the monitor started, by name."""
        with self._lock:
            self._flush()
            return self._totals()

    def _totals(self) -> dict[str, int]:
        """:meth:`counters` without applying the queue (lock held, queue just applied).

        Readers of a whole state (values, snapshot, saved state) flush once, first: a
        second flush in the middle would count predictions queued meanwhile by request
        threads that the parts already read (pending, histograms) do not hold.
        """
        self._counters["predictions_total"] = self._n_predictions
        return dict(self._counters)

    def alert_states(self) -> dict[str, Literal["inactive", "pending", "firing"]]:
        """State of each rule by name: ``inactive``, ``pending`` or ``firing``."""
        with self._lock:
            return {name: s.state for name, s in self._states.items()}

    @property
    def pending_count(self) -> int:
        """Predictions waiting for their label."""
        with self._lock:
            self._flush()
            return len(self._pending)
