"""ModelMonitor: predictions, late labels and drift in; windowed metrics and alerts out.

The per-call paths (:meth:`ModelMonitor.log_prediction`, :meth:`ModelMonitor.log_label`)
do O(1) work in plain Python: a dict insert or pop, a histogram bisect, a counter. All
heavier work (metrics over the window, drift tests, rule evaluation, sinks) happens in
:meth:`ModelMonitor.evaluate`, which the monitor calls itself once every
``evaluate_every_s`` seconds of its clock, or which the caller runs on a schedule.

Examples
--------
>>> clock = iter(range(1000)).__next__  # a fake clock: 0, 1, 2, ... seconds
>>> mon = ModelMonitor(
...     "churn",
...     window=CountWindow(4),
...     rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.6, clear=0.8)],
...     clock=clock,
...     evaluate_every_s=None,
... )
>>> for i, (score, label) in enumerate([(0.9, 1), (0.2, 0), (0.8, 0), (0.7, 0)]):
...     mon.log_prediction(i, None, score, latency_s=0.004)
...     _ = mon.log_label(i, label)
>>> m = mon.metrics()
>>> m["accuracy"], m["window_count"]
(0.5, 4.0)
>>> [(e.rule, e.state) for e in mon.evaluate()]
[('acc', 'firing')]
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from bisect import bisect_left
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from prodml._pickle import LockedState
from prodml._quote import short_repr
from prodml.errors import SchemaError
from prodml.monitoring import _config, _drift, _groups, _values
from prodml.monitoring._attributions import AttributionDrift
from prodml.monitoring._evaluation import Evaluation
from prodml.monitoring._evaluation import _log as _log  # noqa: PLC0414
from prodml.monitoring._served import _BUFFERED as _BUFFERED  # noqa: PLC0414
from prodml.monitoring._served import _T_MAX, _T_MIN, ServedQueue
from prodml.monitoring._slo import SLOCounter
from prodml.monitoring._stats import SlotStats
from prodml.monitoring.alerts import AlertRule, BurnRateRule, RuleState
from prodml.monitoring.histogram import (
    DEFAULT_LATENCY_BUCKETS,
    DEFAULT_THROUGHPUT_BUCKETS,
    check_buckets,
)
from prodml.monitoring.sinks import Sink
from prodml.monitoring.windows import CountWindow, Window

if TYPE_CHECKING:
    from prodml.drift import DriftDetector
    from prodml.drift.streaming import StreamingDetector
    from prodml.fairness import GroupMetrics

# The `X as X` imports above re-export what moved to the two mixins' modules, so every
# name this module had still imports from here.
__all__ = ["ModelMonitor"]

_BAD: tuple[float, Any] = (math.nan, None)  # sentinel: an invalid log_label call

Task = Literal["binary", "multiclass", "regression"]
Rule = AlertRule | BurnRateRule


class ModelMonitor(ServedQueue, Evaluation, LockedState):
    """Monitor one model in production: performance, latency, throughput, drift, alerts.

    Thread-safe: request threads may share one monitor (each public method holds a
    re-entrant lock; sinks are called while it is held, once per evaluation). Pickles
    and deep-copies when its clock and sinks do (see ``docs/state.md``).

    Parameters
    ----------
    model
        Name of the model, used in alert fingerprints and as the ``model`` label.
    task
        ``"binary"``: outputs are scores (probability of the positive class) in [0, 1],
        labels 0/1, the predicted class is ``score >= threshold``; metrics accuracy,
        error_rate, precision, recall, auc, log_loss. ``"multiclass"``: outputs and labels
        are class labels; metrics accuracy, error_rate and macro precision/recall.
        ``"regression"``: outputs and labels are numbers; metrics mae and rmse.
    window
        :class:`~prodml.monitoring.windows.CountWindow` or
        :class:`~prodml.monitoring.windows.TimeWindow` over labelled predictions (keyed by
        the label's arrival time). Default ``CountWindow(1000)``.
    rules
        Alert rules (:class:`~prodml.monitoring.alerts.AlertRule`,
        :class:`~prodml.monitoring.alerts.BurnRateRule`); names must be unique.
    sinks
        Where alert events and snapshots go.
    clock
        Callable returning the current time in seconds; inject a fake one for tests.
    threshold
        Decision threshold on binary scores.
    max_pending
        Bound on predictions waiting for a label; beyond it the oldest is evicted and
        counted in ``evicted_total``.
    pending_ttl_s
        Predictions older than this without a label are expired at evaluation and counted
        in ``expired_total``; ``None`` keeps them until evicted.
    latency_buckets, throughput_buckets
        Histogram upper bounds, in seconds and predictions per second.
    stats_window_s, stats_interval_s
        Latency and throughput are windowed over the last ``stats_window_s`` seconds, in
        slots of ``stats_interval_s`` (a multiple of it, at most 100,000 slots).
    evaluate_every_s
        The monitor evaluates itself when this many clock seconds have passed since the
        last evaluation; ``None`` leaves evaluation to the caller.
    reference
        Reference data (any tabular input of ``prodml.drift``) that turns data drift on:
        every ``drift_window`` feature rows logged form a window tested against it.
    drift_detector
        An unfitted ``prodml.drift.DriftDetector`` with the settings to use; default
        ``DriftDetector()``. Fitted on ``reference`` at the first drift window.
    drift_window
        Rows of features per data-drift window.
    drift_window_bytes
        Bytes of features per data-drift window (default 64 MiB): a window also closes
        when the feature rows it holds reach this size, so that rows with large values
        (long strings) cannot hold unbounded memory. Sizes are counted per value as
        ``sys.getsizeof`` does (a 10 MB string counts 10 MB). The monitor holds at most
        two windows (one open, one waiting for evaluation).
    concept_detector
        A streaming detector of ``prodml.drift`` (``ADWIN()``, ``DDM()``...) fed with the
        error of each labelled prediction (0/1 for classification, absolute error for
        regression); its alarms count in ``concept_drift_events`` over
        ``concept_window_s``.
    concept_window_s
        Seconds over which detector alarms are counted.
    group_by
        Sensitive features to watch per group (binary monitors): a list of names, or a
        :class:`prodml.fairness.GroupMetrics` whose settings (metrics, policies,
        ``alpha``, ``min_count``...) to use. Each prediction's values come from
        ``log_prediction(..., groups=...)`` or, when not given, from its ``features``.
        Per-group values (``tpr[sex=F]``) and gaps (``tpr_difference``,
        ``tpr_difference_lower``, ``selection_rate_ratio``...) join :meth:`metrics`;
        see :mod:`prodml.monitoring._groups`. A list uses ``missing="group"``,
        ``max_groups=100`` and ``alpha=1e-4`` (each evaluation is one more look at the
        window; ``docs/fairness.md`` shows the false alert rate and the delay).
    group_window
        Window of labelled predictions the group metrics are computed on; default: the
        same kind and size as ``window``. Groups split the data, so it is often larger.
    attribution_reference
        Reference attributions (a table, one column per input column: e.g.
        ``prodml.explain.Explainer.explain(reference_data)``) that turn attribution drift
        on: every ``attribution_window`` predictions logged with ``attributions=`` form a
        window tested against it with ``drift_detector``'s settings (what drives the
        model changing), reported as ``attribution_drift_share``,
        ``attribution_drifted_columns`` and ``attribution_drift_count``.
    attribution_window
        Predictions with attributions per attribution-drift window.
    """

    def __init__(
        self,
        model: str = "model",
        *,
        task: Task = "binary",
        window: Window | None = None,
        rules: Sequence[Rule] = (),
        sinks: Sequence[Sink] = (),
        clock: Callable[[], float] = time.time,
        threshold: float = 0.5,
        max_pending: int = 100_000,
        pending_ttl_s: float | None = None,
        latency_buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS,
        throughput_buckets: Sequence[float] = DEFAULT_THROUGHPUT_BUCKETS,
        stats_window_s: float = 300.0,
        stats_interval_s: float = 10.0,
        evaluate_every_s: float | None = 10.0,
        reference: object = None,
        drift_detector: DriftDetector | None = None,
        drift_window: int = 1000,
        drift_window_bytes: int = 64 * 2**20,
        concept_detector: StreamingDetector | None = None,
        concept_window_s: float = 3600.0,
        group_by: Sequence[str] | GroupMetrics | None = None,
        group_window: Window | None = None,
        attribution_reference: object = None,
        attribution_window: int = 1000,
    ) -> None:
        _config.check_config(locals())
        self.model = model
        self.task: Task = task
        self.window: Window = window if window is not None else CountWindow(1000)
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.sinks: list[Sink] = list(sinks)
        self.clock = clock
        self.threshold: float = float(threshold)
        self.max_pending = max_pending
        self.pending_ttl_s = pending_ttl_s
        self.stats_window_s: float = float(stats_window_s)
        self.stats_interval_s: float = float(stats_interval_s)
        self.evaluate_every_s = evaluate_every_s
        self.reference = reference
        self.drift_detector = drift_detector
        self.drift_window = drift_window
        self.drift_window_bytes = drift_window_bytes
        self.concept_detector = concept_detector
        self.concept_window_s: float = float(concept_window_s)
        self.group_by = group_by
        self.group_window = group_window
        self.attribution_reference = attribution_reference
        self.attribution_window = attribution_window
        self._groups = _groups.build(
            group_by,
            group_window=group_window,
            window=self.window,
            task=task,
            threshold=self.threshold,
            max_pending=max_pending,
        )
        _config.check_rules(self)

        # OrderedDicts, not dicts: evicting the oldest entry is O(1) (a dict's first key
        # is found by scanning past the slots of deleted entries, O(n) per eviction).
        # _labelled maps the ids of recently labelled predictions to their label times,
        # bounded as _pending is (max_pending, pending_ttl_s): a second label for one of
        # them is a duplicate (duplicate_labels_total), not a label for an unknown id
        # (unmatched_total). Their types are declared on the Evaluation mixin.
        self._pending, self._labelled = OrderedDict(), OrderedDict()
        self._stats = SlotStats(
            check_buckets(latency_buckets, "latency_buckets"),
            check_buckets(throughput_buckets, "throughput_buckets"),
            self.stats_interval_s,
            round(self.stats_window_s / self.stats_interval_s),
        )
        self._counters: dict[str, int] = dict.fromkeys(_values.COUNTERS, 0)
        self._states: dict[str, RuleState] = {r.name: RuleState() for r in self.rules}
        self._slo: dict[str, SLOCounter] = {
            r.name: SLOCounter(r.resolution_s, r.horizon_s)
            for r in self.rules
            if isinstance(r, BurnRateRule)
        }
        self._latency_slos = [
            (r.latency_threshold_s, self._slo[r.name])
            for r in self.rules
            if isinstance(r, BurnRateRule) and r.sli == "latency"
        ]
        self._error_slos = [
            (r.error_tolerance, self._slo[r.name])
            for r in self.rules
            if isinstance(r, BurnRateRule) and r.sli == "errors"
        ]
        self._drift_rows: list[Mapping[str, Any]] | None = [] if reference is not None else None
        self._drift_ready: list[Mapping[str, Any]] | None = None
        self._drift_bytes = 0  # size of the open window's rows (see drift_window_bytes)
        # The reference is profiled once, here, so a bad reference fails at construction
        # rather than inside a later log_prediction call.
        self._drift_fitted: Any = (
            _drift.fit_detector(drift_detector, reference) if reference is not None else None
        )
        self._drift_summary = _drift.DriftSummary.empty()
        self._attributions = (
            AttributionDrift(
                attribution_reference, _drift.unfitted_copy(drift_detector), attribution_window
            )
            if attribution_reference is not None
            else None
        )
        self._concept_alarms: deque[float] = deque(maxlen=10_000)
        # Evaluations are due outside [_eval_from, _next_eval): also when the clock steps
        # back over a period before the last evaluation (late timestamps within one period
        # are not a step), or one bad reading far ahead stops them for good.
        self._eval_from, self._next_eval = (
            -math.inf,
            -math.inf if evaluate_every_s is not None else math.inf,
        )
        self._last_eval: float | None = None
        self._numeric_output = task != "multiclass"
        self._binary = task == "binary"
        big = sys.float_info.max
        # Multiclass: no float is in range, so a class label takes the checked path.
        self._out_low, self._out_high = {"regression": (-big, big), "binary": (0.0, 1.0)}.get(
            task, (math.inf, -math.inf)
        )
        # The hottest counter is an attribute (cheaper than a dict item); see counters().
        self._n_predictions = 0
        # Predictions logged through _log_served wait here (checked, in call order) until
        # the next public call or until _BUFFERED of them are waiting; see _flush.
        self._buffer: deque[tuple[Hashable, Any, Any, float, float]] = deque()
        # Group values are checked at the call; class labels have no range to check.
        self._buffers = self._groups is None and task != "multiclass"
        self._latency_bounds = np.asarray(self._stats.current.bounds, dtype=np.float64)
        # Every public method holds this lock, so that request threads can share one
        # monitor; re-entrant, for evaluate() inside log_* and for sinks calling back.
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ hot paths
    def log_prediction(
        self,
        prediction_id: Hashable,
        features: Mapping[str, Any] | None,
        output: Any,
        *,
        latency_s: float | None = None,
        timestamp: float | None = None,
        groups: Mapping[str, Any] | None = None,
        attributions: Mapping[str, float] | None = None,
    ) -> None:
        """Record one prediction; its label may come later through :meth:`log_label`.

        Parameters
        ----------
        prediction_id
            Hashable id joining the prediction to its label (a str or int to be saved).
        features
            The model's input record, used for data drift; may be ``None``.
        output
            A score in [0, 1] (binary), a class label (multiclass) or a number (regression).
        latency_s
            Time the model took, in seconds.
        timestamp
            Event time in clock seconds; defaults to ``clock()``.
        groups
            The sensitive values of the person the prediction is about, by name, for a
            monitor with ``group_by``; defaults to reading them from ``features``.
        attributions
            The prediction's attributions per input column (``explanation.values``), for
            a monitor with ``attribution_reference``; ignored otherwise.

        Raises
        ------
        SchemaError
            When ``output`` or ``latency_s`` is not what the task expects, or a sensitive
            value is missing (``missing="error"``) or not valid.
        """
        with self._lock:
            if self._buffer:
                self._flush()
            t = self.clock() if timestamp is None else timestamp
            pending = self._pending
            # One cheap check for the usual case: a finite float time (t - t is 0.0 for
            # those only, NaN for NaN and infinities) and a float output in range (no float
            # is, for multiclass). Anything else (ints and numpy scalars, stored as Python
            # floats; class labels; bad values) takes _config.checked, which converts what
            # it may and raises for the rest.
            if (
                type(t) is float
                and t - t == 0.0
                and type(output) is float
                # Not chained: a chained comparison costs two more bytecodes (SWAP, COPY).
                and self._out_low <= output  # noqa: PLR1716
                and output <= self._out_high
            ):
                try:
                    seen = prediction_id in pending
                except TypeError:  # an unhashable id
                    raise _config.bad_input(self.task, prediction_id, t, output) from None
            else:
                t, output = _config.checked(self, prediction_id, t, output)
                seen = prediction_id in pending
            # Checked before anything changes; a float32 or int is stored as a float (a
            # float32 sum would lose the seconds).
            if (
                # Not chained either; 1e100 is Histogram.MAX_VALUE (a finite sum).
                not (type(latency_s) is float and latency_s >= 0.0 and latency_s <= 1e100)
                and latency_s is not None
            ):
                latency_s = _config.checked_latency(latency_s)
            if self._groups is not None:
                self._groups.predict(prediction_id, features if groups is None else groups)
            if seen:
                self._counters["duplicate_predictions_total"] += 1
                del pending[prediction_id]
            pending[prediction_id] = (t, output)
            if t < self._pending_last:  # the clock stepped back: see _evaluation._expire
                self._pending_unsorted = True
            self._pending_last = t
            if len(pending) > self.max_pending:
                pending.popitem(last=False)
                self._counters["evicted_total"] += 1
            self._n_predictions += 1
            stats = self._stats
            if not stats.floor <= t < stats.slot_end:  # also a clock stepping back a window
                stats.rotate(t)
            stats.current_count += 1
            if latency_s is not None:
                # Histogram.observe, inlined: this is the hottest line of the monitor.
                h = stats.current
                h.bucket_counts[bisect_left(h.bounds, latency_s)] += 1
                h.count += 1
                h.sum += latency_s
                if latency_s < h.min:  # noqa: PLR1730 - cheaper than min() here
                    h.min = latency_s
                if latency_s > h.max:  # noqa: PLR1730
                    h.max = latency_s
                for limit, counter in self._latency_slos:
                    counter.record(t, latency_s > limit)  # type: ignore[operator]
            if self._drift_rows is not None and features is not None:
                self._add_drift_row(features)
            if attributions is not None and self._attributions is not None:
                self._attributions.log(attributions, self._counters)
            if not self._eval_from <= t < self._next_eval:
                self.evaluate(t)

    def log_label(
        self, prediction_id: Hashable, label: Any, *, timestamp: float | None = None
    ) -> bool:
        """Join a (late) label to its prediction and add the pair to the window.

        Returns
        -------
        bool
            ``True`` when the prediction was pending. ``False`` otherwise, counted in
            ``duplicate_labels_total`` when the prediction was already labelled (a
            client sending a label twice; recently labelled ids are remembered as
            pending ones are: at most ``max_pending`` of them, for ``pending_ttl_s``),
            else in ``unmatched_total`` (an id never logged, evicted or expired, or
            labelled longer ago than that record reaches). A label counted in either is
            not added to the window.

        Raises
        ------
        SchemaError
            When ``label`` is not what the task expects (0/1 for binary, a number for
            regression); the prediction then stays pending.
        """
        with self._lock:
            if self._buffer:
                self._flush()
            t = stamp = self.clock() if timestamp is None else timestamp
            if type(t) is not float:
                t = _values.as_seconds(t)
            try:
                entry = self._pending.get(prediction_id) if _T_MIN <= t <= _T_MAX else _BAD
            except TypeError:
                entry = _BAD
            if entry is _BAD:
                raise _config.bad_input(self.task, prediction_id, stamp, 0.0)
            labelled = self._labelled
            if entry is None:
                if prediction_id in labelled:
                    self._counters["duplicate_labels_total"] += 1
                else:
                    self._counters["unmatched_total"] += 1
                return False
            if not (self._binary and type(label) is int and label in (0, 1)):
                label = _values.check_label(self.task, label)  # the general (slower) check
            del self._pending[prediction_id]
            if prediction_id in labelled:  # an id logged again after its label: now newest
                del labelled[prediction_id]
            labelled[prediction_id] = t
            if t < self._labelled_last:
                self._labelled_unsorted = True
            self._labelled_last = t
            if len(labelled) > self.max_pending:
                labelled.popitem(last=False)
            output = entry[1]
            self.window.add(t, label, output)
            if self._groups is not None:
                self._groups.label(prediction_id, t, label, output)
            self._counters["labels_total"] += 1
            if self.task == "binary":
                err = float((output >= self.threshold) != (label == 1))
            elif self.task == "multiclass":
                err = float(output != label)
            else:
                err = abs(float(output) - float(label))
            for tolerance, counter in self._error_slos:
                counter.record(t, err > tolerance)
            det = self.concept_detector
            if det is not None and det.update(err):
                self._concept_alarms.append(t)
                self._counters["concept_drift_total"] += 1
            if not self._eval_from <= t < self._next_eval:
                self.evaluate(t)
            return True

    # ------------------------------------------------------------------ erasure
    def forget(self, key: Hashable, *, field: str | None = None) -> int:
        """Erase what the monitor holds about one entity: the hook for deletion requests.

        Removes the pending prediction whose id is ``key`` (with its sensitive group
        values) and the record that it was labelled, and, when ``field`` is given, every
        buffered drift feature record whose ``field`` equals ``key`` (the entity's id
        among the features). Labelled windows
        hold only (time, label, output) triples and counts, nothing that names the
        entity. Pending predictions are found by their ids only: for a deletion request,
        call ``forget`` with each of the entity's prediction ids and once with its id
        and ``field``. Save the monitor again (:meth:`to_json`) to erase it from stored
        state.

        Returns
        -------
        int
            How many records were removed.

        Examples
        --------
        >>> import pandas as pd
        >>> ref = pd.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0]})
        >>> mon = ModelMonitor(evaluate_every_s=None, reference=ref)
        >>> mon.log_prediction("p1", {"id": "a", "x": 1.0}, 0.3)
        >>> mon.log_prediction("p2", {"id": "b", "x": 2.0}, 0.6)
        >>> mon.forget("p1"), mon.forget("b", field="id"), mon.pending_count
        (1, 1, 1)
        """
        with self._lock:
            self._flush()
            try:
                removed = int(self._pending.pop(key, None) is not None)
                removed += int(self._labelled.pop(key, None) is not None)
            except TypeError:
                raise SchemaError(
                    "forget needs a hashable key (a prediction id or an entity id).",
                    column="key",
                ) from None
            if self._groups is not None:
                self._groups.forget(key)
            if field is not None:
                for attr in ("_drift_rows", "_drift_ready"):
                    rows = getattr(self, attr)
                    if rows:
                        kept = [r for r in rows if r.get(field) != key]
                        removed += len(rows) - len(kept)
                        setattr(self, attr, kept)
            return removed

    # ------------------------------------------------------------------ state
    def _copy_state(self, memo: dict[int, Any]) -> dict[str, Any]:
        # _log_served appends to the queue without the lock, and copying a deque that
        # grows meanwhile raises RuntimeError: apply the queue, give the copy an empty one
        # (what is queued after this point belongs to the original only).
        with self._lock:
            self._flush()
            memo[id(self._buffer)] = deque()
            return super()._copy_state(memo)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A monitor pickled by an older prodml lacks what was added since: give it what a
        # fresh monitor starts with. Before duplicate_labels_total, a monitor had no
        # record of labelled ids and no such counter (log_label raised AttributeError).
        state.setdefault("_labelled", OrderedDict())
        # Before the order flags (see _evaluation._expire), entries were not tracked:
        # check them once, at the next expiry.
        state.setdefault("_pending_unsorted", True)
        state.setdefault("_labelled_unsorted", True)
        if state.get("_numeric_output") is False:  # multiclass: see __init__'s bounds
            state["_out_low"], state["_out_high"] = math.inf, -math.inf
        counters = state.get("_counters")
        if isinstance(counters, dict) and not counters.keys() >= set(_values.COUNTERS):
            state["_counters"] = {n: counters.get(n, 0) for n in _values.COUNTERS} | counters
        super().__setstate__(state)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe configuration and state (see :mod:`prodml.monitoring._state`)."""
        with self._lock:
            self._flush()
            from prodml.monitoring import _state  # noqa: PLC0415 - _state imports this module

            return _state.dump(self)

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        sinks: Iterable[Sink] = (),
        clock: Callable[[], float] = time.time,
        reference: object = None,
        drift_detector: DriftDetector | None = None,
        concept_detector: StreamingDetector | None = None,
        attribution_reference: object = None,
    ) -> ModelMonitor:
        """Rebuild a monitor saved by :meth:`to_dict`; alerts keep their states.

        Sinks, the clock and the drift references are not saved: pass them again (data
        and attribution drift stay off without them). A concept detector with ``to_dict`` is
        restored from the state; ``concept_detector`` is used only when none was saved.
        Alerts that were firing stay firing without a new event; resolved ones stay quiet.
        """
        from prodml.monitoring import _state  # noqa: PLC0415 - _state imports this module

        return _state.load(
            cls,
            data,
            sinks=sinks,
            clock=clock,
            reference=reference,
            drift_detector=drift_detector,
            concept_detector=concept_detector,
            attribution_reference=attribution_reference,
        )

    @classmethod
    def from_json(cls, text: str, **kwargs: Any) -> ModelMonitor:
        """Rebuild a monitor from :meth:`to_json` output (keywords as :meth:`from_dict`)."""
        from prodml._state import load_json  # noqa: PLC0415 - only on reload

        return cls.from_dict(load_json(text, owner="ModelMonitor"), **kwargs)

    def __repr__(self) -> str:
        return (
            f"ModelMonitor({short_repr(self.model)}, task={self.task!r}, window={self.window!r}, "
            f"rules={len(self.rules)}, sinks={len(self.sinks)})"
        )
