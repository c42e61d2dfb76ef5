"""The served-prediction queue of :class:`~prodml.monitoring.ModelMonitor` (a mixin).

:class:`prodml.serving.Predictor` logs through ``_log_served``: it checks a prediction
and reads the clock without the lock, then queues it; ``_flush`` applies the queue in call
order (with the lock held) before any public method reads or changes the state, so every
figure is what ``log_prediction`` calls would give. ``_apply`` is one prediction of a
flush that cannot take the batched path.
"""

from __future__ import annotations

import sys
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from functools import reduce
from operator import add, gt
from typing import TYPE_CHECKING, Any

import numpy as np

from prodml.monitoring import _values
from prodml.monitoring._slo import SLOCounter
from prodml.monitoring._stats import SlotStats

if TYPE_CHECKING:
    from prodml.monitoring.alerts import AlertEvent

__all__ = ["ServedQueue"]

# Bounds of a finite timestamp on the hot paths: `_T_MIN <= t <= _T_MAX` fails NaN, the
# infinities and an int beyond the float range (whose float() would overflow later).
_T_MAX = sys.float_info.max
_T_MIN = -_T_MAX
_BUFFERED = 32  # predictions queued by ModelMonitor._log_served before they are applied
# numpy scalar types whose float() is exact, cannot fail and is what _values.as_number and
# as_seconds return for them (bools excluded: what a bool means depends on the task), so
# _log_served converts them without those functions' isinstance checks against numbers.Real.
_NUMPY_REALS = frozenset(
    (
        *(np.float64, np.float32, np.float16),
        *(np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8),
    )
)


class ServedQueue:
    """The served-prediction queue of :class:`~prodml.monitoring.ModelMonitor` (a mixin)."""

    # Set by ModelMonitor.__init__.
    clock: Callable[[], float]
    task: str
    max_pending: int
    _lock: Any
    _buffer: deque[tuple[Hashable, Any, Any, float, float]]
    _buffers: bool
    _pending: OrderedDict[Hashable, tuple[float, Any]]
    _pending_unsorted: bool
    _pending_last: float
    _counters: dict[str, int]
    _stats: SlotStats
    _latency_slos: list[tuple[float | None, SLOCounter]]
    _latency_bounds: np.ndarray
    _drift_rows: list[Mapping[str, Any]] | None
    _n_predictions: int
    _out_low: float
    _out_high: float
    _eval_from: float
    _next_eval: float

    if TYPE_CHECKING:

        def log_prediction(
            self,
            prediction_id: Hashable,
            features: Mapping[str, Any] | None,
            output: Any,
            *,
            latency_s: float | None = None,
            timestamp: float | None = None,
        ) -> None:
            """See ``ModelMonitor.log_prediction``."""

        def evaluate(self, now: float | None = None) -> list[AlertEvent]:
            """See ``Evaluation.evaluate``."""

        def _add_drift_row(self, features: Mapping[str, Any]) -> None:
            """See ``Evaluation._add_drift_row``."""

    def _log_served(
        self, prediction_id: Hashable, features: Any, output: Any, latency_s: float
    ) -> None:
        """``log_prediction(prediction_id, features, output, latency_s=latency_s)``, deferred.

        The entry point of :class:`prodml.serving.Predictor`. The call checks what
        :meth:`log_prediction` checks and reads the clock, then queues the prediction; the
        queue is applied in call order (:meth:`_flush`) before any public method reads or
        changes the state, when :data:`_BUFFERED` predictions wait, and when an evaluation
        is due; so every figure, alert and saved state is what :meth:`log_prediction` calls
        would give. Lock-free (``deque.append`` is atomic); a monitor with ``group_by``
        and any call failing a check take :meth:`log_prediction` itself.
        """
        t = self.clock()
        if type(t) is not float:
            t = float(t) if type(t) in _NUMPY_REALS else _values.as_seconds(t)
        given = output
        if type(output) is not float:
            if type(output) in _NUMPY_REALS or (type(output) is int and output.bit_length() < 1024):
                output = float(output)  # as as_number, without its ABC checks
            else:
                output = _values.as_number(self.task, output)
        if type(latency_s) is not float:
            if type(latency_s) in _NUMPY_REALS:
                latency_s = float(latency_s)
            else:
                latency_s = _values.as_number("regression", latency_s)
        try:
            # As log_prediction's check, and latency_s a number >= 0. hash() raises
            # TypeError for an unhashable id (a str's hash is cached).
            ok = (
                self._buffers
                and _T_MIN <= t <= _T_MAX
                and self._out_low <= output <= self._out_high
                and 0.0 <= latency_s <= 1e100
                and (type(prediction_id) is str or hash(prediction_id) is not None)
            )
        except TypeError:
            ok = False
        if not ok:  # log_prediction applies the queue first, then raises or logs
            self.log_prediction(prediction_id, features, given, latency_s=latency_s, timestamp=t)
            return
        buffer = self._buffer
        buffer.append((prediction_id, features, output, latency_s, t))
        if len(buffer) >= _BUFFERED or not self._eval_from <= t < self._next_eval:
            with self._lock:
                self._flush()
                if not self._eval_from <= t < self._next_eval:
                    self.evaluate(t)

    def _flush(self) -> None:
        """Apply the predictions queued by :meth:`_log_served`, oldest first (lock held).

        The result is what :meth:`log_prediction` gives for each in turn. When they all
        fall in the open statistics slot and no latency SLO is set, the histogram is
        updated at once: buckets counted with ``numpy.searchsorted`` (the index
        ``bisect_left`` gives), the sum added in call order (the same float).
        """
        buffer = self._buffer
        n = len(buffer)  # those queued meanwhile wait for the next flush
        if not n:
            return
        popleft = buffer.popleft
        ids, features, outputs, latencies, times = zip(*[popleft() for _ in range(n)], strict=True)
        stats = self._stats
        if max(times) >= stats.slot_end or min(times) < stats.floor or self._latency_slos:
            for prediction_id, output, latency_s, t in zip(
                ids, outputs, latencies, times, strict=True
            ):
                self._apply(prediction_id, output, latency_s, t)
        else:
            pending, counters, max_pending = self._pending, self._counters, self.max_pending
            for prediction_id, entry in zip(ids, zip(times, outputs, strict=True), strict=True):
                if prediction_id in pending:
                    counters["duplicate_predictions_total"] += 1
                    del pending[prediction_id]
                pending[prediction_id] = entry
                if len(pending) > max_pending:
                    pending.popitem(last=False)
                    counters["evicted_total"] += 1
            if times[0] < self._pending_last or any(map(gt, times, times[1:])):
                self._pending_unsorted = True
            self._pending_last = times[-1]
            stats.current_count += n
            h = stats.current
            found = np.bincount(
                np.searchsorted(self._latency_bounds, latencies), minlength=len(h.bucket_counts)
            )
            h.bucket_counts[:] = map(add, h.bucket_counts, found.tolist())
            h.count += n
            h.sum = reduce(add, latencies, h.sum)
            low, high = min(latencies), max(latencies)
            if low < h.min:  # noqa: PLR1730 - as log_prediction
                h.min = low
            if high > h.max:  # noqa: PLR1730
                h.max = high
        if self._drift_rows is not None:
            for row in features:
                if row is not None:
                    self._add_drift_row(row)
        self._n_predictions += n

    def _apply(self, prediction_id: Hashable, output: Any, latency_s: float, t: float) -> None:
        """One checked prediction, as :meth:`log_prediction` applies it (but drift rows)."""
        pending, counters, stats = self._pending, self._counters, self._stats
        if prediction_id in pending:
            counters["duplicate_predictions_total"] += 1
            del pending[prediction_id]
        pending[prediction_id] = (t, output)
        if t < self._pending_last:  # as log_prediction
            self._pending_unsorted = True
        self._pending_last = t
        if len(pending) > self.max_pending:
            pending.popitem(last=False)
            counters["evicted_total"] += 1
        if not stats.floor <= t < stats.slot_end:
            stats.rotate(t)
        stats.current_count += 1
        stats.current.observe(latency_s)  # what log_prediction inlines
        for limit, counter in self._latency_slos:
            counter.record(t, latency_s > limit)  # type: ignore[operator]
