"""Triggers: what may start a retraining, each returning a :class:`Signal` or ``None``.

A trigger looks at evidence (monitor alerts, a drift report, a streaming detector on the
error stream, the calendar, the cost model) and says whether it calls for a retraining,
why, and, when it can, how much the model's metric has dropped (``drop``), which the
controller weighs against the cost of retraining.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from prodml._durations import describe, seconds
from prodml._quote import short_repr
from prodml.cost import DecayCurve, should_retrain
from prodml.errors import ConfigError

if TYPE_CHECKING:
    from prodml.retrain._cost import RetrainCost

__all__ = [
    "AlertTrigger",
    "ConceptDriftTrigger",
    "CostTrigger",
    "DriftTrigger",
    "ScheduleTrigger",
    "Signal",
    "Trigger",
    "TriggerContext",
]


@dataclass(frozen=True)
class TriggerContext:
    """What a trigger may look at when the controller asks it.

    Attributes
    ----------
    now
        The controller's clock, in seconds since the epoch.
    trained_at
        When the version the alias points at was trained (its registration time), or
        ``None`` when there is none.
    last_run_at
        When the controller last started a retraining (``None`` if never): evidence
        older than this was already acted on.
    cost
        The controller's cost model, or ``None``.
    current
        The :class:`~prodml.registry.ModelVersion` the alias points at, or ``None``.
    """

    now: float
    trained_at: float | None
    last_run_at: float | None
    cost: RetrainCost | None = None
    current: Any = None

    @property
    def age(self) -> float | None:
        """Seconds since the current version was trained, or ``None``."""
        return None if self.trained_at is None else max(0.0, self.now - self.trained_at)


@dataclass(frozen=True)
class Signal:
    """A trigger's call for a retraining.

    Attributes
    ----------
    trigger
        Name of the trigger that fired.
    reason
        One sentence a person reads in an incident review.
    drop
        How much the metric has dropped, when the trigger knows (``None`` otherwise): the
        controller compares the loss it causes over the cost model's horizon with the
        cost of one retraining.
    evidence
        JSON-safe numbers behind the call.
    """

    trigger: str
    reason: str
    drop: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "trigger": self.trigger,
            "reason": self.reason,
            "drop": self.drop,
            "evidence": dict(self.evidence),
        }


@runtime_checkable
class Trigger(Protocol):
    """Anything with a ``name`` and ``check(context) -> Signal | None``."""

    name: str

    def check(self, context: TriggerContext) -> Signal | None:
        """A :class:`Signal` when a retraining is called for, else ``None``."""


class AlertTrigger:
    """Fire on a monitor alert that started firing after the last retraining.

    Parameters
    ----------
    events
        Where the alert events are: a sink with an ``events`` list (an
        :class:`~prodml.monitoring.InMemorySink` given to the
        :class:`~prodml.monitoring.ModelMonitor`) or a function returning the events.
        Their ``at`` must be on the controller's clock (seconds since the epoch).
    rules
        Rule names that count (default: every rule).
    baseline
        The metric's value when the model was trained (e.g. its validation accuracy):
        with it, ``drop = baseline - value`` of the alert (``value - baseline`` when
        ``higher_is_better=False``), for the controller's cost check.
    name
        The trigger's name in decisions.

    Examples
    --------
    >>> from prodml.monitoring import AlertEvent
    >>> ev = AlertEvent("acc", "firing", 0.81, 100.0, "page", "churn", "accuracy < 0.85")
    >>> trig = AlertTrigger(lambda: [ev], baseline=0.9)
    >>> sig = trig.check(TriggerContext(now=200.0, trained_at=0.0, last_run_at=None))
    >>> sig.trigger, round(sig.drop, 2)
    ('alert', 0.09)
    >>> trig.check(TriggerContext(now=200.0, trained_at=0.0, last_run_at=150.0)) is None
    True
    """

    def __init__(
        self,
        events: Any,
        *,
        rules: Sequence[str] | None = None,
        baseline: float | None = None,
        higher_is_better: bool = True,
        name: str = "alert",
    ) -> None:
        if not (callable(events) or hasattr(events, "events")):
            raise ConfigError(
                "AlertTrigger needs a sink with .events or a function returning alert events. "
                f"Got {type(events).__name__}.",
                parameter="events",
            )
        self.events = events
        self.rules: tuple[str, ...] | None = None if rules is None else tuple(rules)
        self.baseline = baseline
        self.higher_is_better = higher_is_better
        self.name = name

    def _events(self) -> Iterable[Any]:
        return self.events() if callable(self.events) else self.events.events

    def check(self, context: TriggerContext) -> Signal | None:
        """The newest firing event since the last retraining, as a signal."""
        since = -math.inf if context.last_run_at is None else context.last_run_at
        firing = [
            e
            for e in self._events()
            if e.state == "firing"
            and e.at > since
            and e.at <= context.now
            and (self.rules is None or e.rule in self.rules)
        ]
        if not firing:
            return None
        ev = max(firing, key=lambda e: e.at)
        drop = None
        if self.baseline is not None and math.isfinite(ev.value):
            sign = 1.0 if self.higher_is_better else -1.0
            drop = max(0.0, sign * (self.baseline - float(ev.value)))
        return Signal(
            self.name,
            f"rule {ev.rule!r} firing since {ev.at:.0f}: {ev.message}",
            drop,
            {"rule": ev.rule, "value": float(ev.value), "at": float(ev.at), "alerts": len(firing)},
        )


class DriftTrigger:
    """Fire when a data drift report shows enough drifted columns.

    Parameters
    ----------
    report
        A function returning the current :class:`~prodml.drift.DriftReport` (the
        serving window against the training data), or ``None`` when there is no data yet.
    min_share
        Share of the tested columns that must have drifted (``0.5``: Evidently's
        "dataset drift" rule).
    columns
        Or: fire when any of these columns drifted.
    name
        The trigger's name in decisions.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift import DriftDetector
    >>> rng = np.random.default_rng(0)
    >>> import pandas as pd
    >>> ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    >>> cur = pd.DataFrame({"a": rng.normal(1.0, size=2000), "b": rng.normal(size=2000)})
    >>> det = DriftDetector().fit(ref)
    >>> trig = DriftTrigger(lambda: det.detect(cur), min_share=0.5)
    >>> trig.check(TriggerContext(now=1.0, trained_at=0.0, last_run_at=None)).reason
    '1 of 2 columns drifted (a)'
    """

    def __init__(
        self,
        report: Callable[[], Any],
        *,
        min_share: float | None = 0.5,
        columns: Sequence[str] | None = None,
        name: str = "drift",
    ) -> None:
        if not callable(report):
            raise ConfigError("DriftTrigger needs a function returning a DriftReport.")
        if min_share is None and not columns:
            raise ConfigError(
                "DriftTrigger needs min_share, columns or both.", parameter="min_share"
            )
        if min_share is not None and not (
            isinstance(min_share, int | float) and 0.0 < min_share <= 1.0
        ):
            raise ConfigError(
                "The 'min_share' parameter of DriftTrigger must be a float in (0, 1]. "
                f"Got {short_repr(min_share)} instead.",
                parameter="min_share",
            )
        self.report = report
        self.min_share = min_share
        self.columns: tuple[str, ...] = tuple(columns or ())
        self.name = name

    def check(self, context: TriggerContext) -> Signal | None:
        """A signal when the report's drifted share or watched columns say so."""
        report = self.report()
        if report is None:
            return None
        drifted = list(report.drifted_columns)
        tested = max(1, len(report.results))
        share = len(drifted) / tested
        watched = [c for c in self.columns if c in drifted]
        fire = bool(watched) or (self.min_share is not None and share >= self.min_share)
        if not fire:
            return None
        shown = ", ".join(drifted[:5]) + (", ..." if len(drifted) > 5 else "")
        return Signal(
            self.name,
            f"{len(drifted)} of {tested} columns drifted ({shown})",
            None,
            {"drifted": drifted, "share": share, "tested": tested},
        )


class ConceptDriftTrigger:
    """Fire when a streaming detector on the model's error stream raised an alarm.

    Feed it each labelled prediction's error (``0``/``1``, or a loss) with
    :meth:`update` or :meth:`update_many`; an alarm is kept until the controller starts
    a retraining.

    Parameters
    ----------
    detector
        A streaming detector (:class:`~prodml.drift.DDM`, :class:`~prodml.drift.ADWIN`...).
    baseline_error
        The error rate when the model was trained: with it, the drop is the error rate
        since the alarm minus this baseline.
    name
        The trigger's name in decisions.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift import DDM
    >>> rng = np.random.default_rng(0)
    >>> trig = ConceptDriftTrigger(DDM(), baseline_error=0.1)
    >>> trig.update_many(rng.random(3000) < 0.1)
    []
    >>> alarms = trig.update_many(rng.random(3000) < 0.3)
    >>> sig = trig.check(TriggerContext(now=1.0, trained_at=0.0, last_run_at=None))
    >>> sig.trigger, len(alarms) > 0, 0.1 < sig.drop < 0.3
    ('concept_drift', True, True)
    """

    def __init__(
        self, detector: Any, *, baseline_error: float | None = None, name: str = "concept_drift"
    ) -> None:
        if not (hasattr(detector, "update") and hasattr(detector, "update_many")):
            raise ConfigError(
                "ConceptDriftTrigger needs a streaming detector (update / update_many). "
                f"Got {type(detector).__name__}.",
                parameter="detector",
            )
        self.detector = detector
        self.baseline_error = baseline_error
        self.name = name
        self.alarms: int = 0
        self._since_alarm = [0, 0.0]  # count, sum of errors since the first alarm

    def update(self, error: float) -> bool:
        """Feed one error; ``True`` when the detector raises an alarm now."""
        alarm = bool(self.detector.update(float(error)))
        self._observe(1, float(error), alarm)
        return alarm

    def update_many(self, errors: Any) -> list[int]:
        """Feed many errors; the positions of the alarms they raised."""
        arr = np.asarray(errors, dtype=np.float64).ravel()
        alarms = [int(i) for i in self.detector.update_many(arr)]
        if self.alarms:  # already alarmed: every error counts towards the rate since
            self._since_alarm[0] += arr.size
            self._since_alarm[1] += float(arr.sum())
        elif alarms:
            tail = arr[alarms[0] :]
            self._since_alarm = [tail.size, float(tail.sum())]
        self.alarms += len(alarms)
        return alarms

    def _observe(self, n: int, total: float, alarm: bool) -> None:
        if alarm and not self.alarms:
            self._since_alarm = [0, 0.0]
        self.alarms += int(alarm)
        if self.alarms:
            self._since_alarm[0] += n
            self._since_alarm[1] += total

    def reset(self) -> None:
        """Forget the alarms (the controller calls it when a retraining starts)."""
        self.alarms = 0
        self._since_alarm = [0, 0.0]

    def check(self, context: TriggerContext) -> Signal | None:
        """A signal when the detector alarmed since the last reset."""
        if not self.alarms:
            return None
        n, total = self._since_alarm
        rate = total / n if n else math.nan
        drop = None
        if self.baseline_error is not None and n:
            drop = max(0.0, rate - self.baseline_error)
        return Signal(
            self.name,
            f"{type(self.detector).__name__} raised {self.alarms} alarm(s) on the error stream"
            + (f"; error rate {rate:.3f} since" if n else ""),
            drop,
            {
                "alarms": self.alarms,
                "samples_since": int(n),
                "error_rate_since": rate if n else None,
            },
        )


class ScheduleTrigger:
    """Fire when the current version is older than ``every``.

    Examples
    --------
    >>> trig = ScheduleTrigger(timedelta(days=7))
    >>> trig.check(TriggerContext(now=8 * 86400.0, trained_at=0.0, last_run_at=None)).reason
    'the model is 8 days old; the schedule retrains every 7 days'
    """

    def __init__(self, every: float | timedelta, *, name: str = "schedule") -> None:
        self.every: float = seconds(every, "every", "ScheduleTrigger")
        self.name = name

    def check(self, context: TriggerContext) -> Signal | None:
        """A signal when the model's age reached the schedule's interval."""
        age = context.age
        if age is None:
            return Signal(self.name, "no version is in production yet", None, {})
        if age < self.every:
            return None
        return Signal(
            self.name,
            f"the model is {describe(age)} old; the schedule retrains every {describe(self.every)}",
            None,
            {"age_s": age, "every_s": self.every},
        )


class CostTrigger:
    """Fire when retraining pays: :func:`prodml.cost.should_retrain` on a decay curve.

    The curve (the metric's drop against the model's age, in the cost model's time
    unit) comes from ``curve`` or the controller's :class:`RetrainCost`. With
    ``optimal=True`` it fires instead once the model is older than
    :func:`prodml.cost.optimal_retrain_interval`.

    Examples
    --------
    >>> from prodml.retrain import RetrainCost
    >>> cost = RetrainCost(
    ...     500.0,
    ...     value_per_unit=10_000.0,
    ...     horizon=timedelta(days=7),
    ...     curve=DecayCurve("linear", initial=0.9, rate=0.001),
    ... )
    >>> ctx = TriggerContext(now=30 * 86400.0, trained_at=0.0, last_run_at=None, cost=cost)
    >>> CostTrigger().check(ctx).reason
    'expected avoidable loss over the next 7 days (2,100.00) > retraining cost (500.00)'
    >>> CostTrigger(optimal=True).check(ctx).evidence["interval"]
    10.0
    >>> CostTrigger(optimal=True).check(ctx).reason
    'the model is 30 days old, past the cheapest retraining interval of 10 days'
    """

    def __init__(
        self, curve: DecayCurve | None = None, *, optimal: bool = False, name: str = "cost"
    ) -> None:
        self.curve = curve
        self.optimal = optimal
        self.name = name

    def check(self, context: TriggerContext) -> Signal | None:
        """A signal when the avoidable loss exceeds the retraining cost."""
        cost = context.cost
        curve = self.curve if self.curve is not None else (cost.curve if cost else None)
        if cost is None or curve is None:
            raise ConfigError(
                "CostTrigger needs the controller's cost=RetrainCost(...) with a curve "
                "(or curve= on the trigger).",
                parameter="cost",
            )
        age = context.age
        if age is None:
            return None
        age_u = age / cost.time_unit_s
        if self.optimal:
            plan = cost.plan(curve)
            if age_u < plan.interval:
                return None
            return Signal(
                self.name,
                f"the model is {describe(age)} old, past the cheapest retraining interval "
                f"of {describe(plan.interval * cost.time_unit_s)}",
                None,
                {"age": age_u, "interval": plan.interval, "cost_rate": plan.cost_rate},
            )
        decision = should_retrain(
            age_u,
            curve=curve,
            horizon=cost.horizon_units,
            retrain_cost=cost.retrain_cost,
            value_per_unit=cost.value_per_unit,
        )
        if not decision.retrain:
            return None
        horizon = describe(cost.horizon_units * cost.time_unit_s)
        return Signal(
            self.name,
            f"expected avoidable loss over the next {horizon} "
            f"({decision.expected_loss:,.2f}) > retraining cost ({decision.retrain_cost:,.2f})",
            None,
            {"age": age_u, "expected_loss": decision.expected_loss, "cost_checked": True},
        )
