"""Alert rules, alert events and the state machine that turns metric values into alerts.

Two kinds of rule:

* :class:`AlertRule`: a threshold on one monitor metric, with a ``for_s`` duration (the
  condition must hold that long before the alert fires), hysteresis (it fires beyond
  ``fire`` and resolves only once back past ``clear``) and a minimum-traffic guard.
* :class:`BurnRateRule`: a multi-window, multi-burn-rate SLO rule (Google SRE workbook,
  chapter "Alerting on SLOs"): it fires when the error budget burns faster than a factor
  over both a long and a short window, by default 14.4x over 1 h and 5 min, 6x over 6 h and
  30 min, 1x over 3 days and 6 h.

Each rule is in one state: ``inactive``, ``pending`` (condition true, waiting for
``for_s``) or ``firing``. Only transitions produce :class:`AlertEvent` s: one ``firing``
event when an alert starts and one ``resolved`` event when it ends, so sinks never see
duplicates however often the rule is evaluated.

Examples
--------
>>> rule = AlertRule("low-accuracy", metric="accuracy", op="<", fire=0.8, clear=0.85, for_s=60)
>>> state = RuleState()
>>> [state.step(rule, value, traffic=500, now=t) for t, value in [(0, 0.7), (30, 0.75)]]
[None, None]
>>> state.step(rule, 0.78, traffic=500, now=60.0)
'firing'
>>> state.step(rule, 0.83, traffic=500, now=90.0) is None  # between levels: still firing
True
>>> state.step(rule, 0.9, traffic=500, now=120.0)
'resolved'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from prodml._params import Interval, OneOf, TypeOf, check_params
from prodml._quote import short_repr
from prodml._state import Field
from prodml.errors import ConfigError

__all__ = [
    "AlertEvent",
    "AlertRule",
    "BurnRateRule",
    "BurnWindow",
    "RuleState",
    "rule_from_dict",
]

State = Literal["inactive", "pending", "firing"]


@dataclass(frozen=True)
class AlertEvent:
    """A change of an alert's state, as delivered to sinks.

    Attributes
    ----------
    rule
        Name of the rule.
    state
        ``"firing"`` or ``"resolved"``.
    value
        The metric value (or burn rate) that caused the transition.
    at
        Clock time of the transition, in seconds.
    severity
        The rule's severity (for burn-rate rules, that of the window pair that fired).
    model
        Name of the monitored model.
    message
        A sentence for people.
    """

    rule: str
    state: Literal["firing", "resolved"]
    value: float
    at: float
    severity: str
    model: str
    message: str

    @property
    def fingerprint(self) -> str:
        """Identity of the alert across its events (``model/rule``), for deduplication."""
        return f"{self.model}/{self.rule}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return asdict(self)


def _check_name(owner: str, name: object) -> None:
    check_params(owner, {"name": name}, {"name": [TypeOf(str, "a non-empty str")]})
    if not name:
        raise ConfigError(
            f"The 'name' parameter of {owner} must be a non-empty str. Got '' instead.",
            parameter="name",
        )


@dataclass(frozen=True)
class AlertRule:
    """Threshold alert on one monitor metric, with a duration and hysteresis.

    Parameters
    ----------
    name
        Unique name of the rule within a monitor.
    metric
        A key of :meth:`ModelMonitor.metrics`, e.g. ``"accuracy"``, ``"latency_p99"``.
    op
        ``"<"`` fires when the value drops below ``fire``; ``">"`` when it rises above.
    fire
        Level beyond which the condition holds.
    clear
        Level the value must get back to (inclusive) to resolve a firing alert; defaults
        to ``fire`` (no hysteresis). Must not be beyond ``fire`` in the firing direction.
    for_s
        Seconds the condition must hold continuously before the alert fires.
    min_count
        Minimum-traffic guard: the rule is evaluated only when the traffic behind the
        metric (labelled predictions in the window, predictions in the latency window, or
        rows in the drift window) is at least this. Below it a pending alert goes back to
        inactive and a firing alert holds its state.
    severity
        Free text passed to sinks (``"page"``, ``"ticket"``, ``"warning"``).
    """

    name: str
    metric: str
    op: Literal["<", ">"] = "<"
    fire: float = 0.0
    clear: float | None = None
    for_s: float = 0.0
    min_count: int = 0
    severity: str = "warning"

    def __post_init__(self) -> None:
        _check_name("AlertRule", self.name)
        check_params(
            "AlertRule",
            {
                "metric": self.metric,
                "op": self.op,
                "fire": self.fire,
                "for_s": self.for_s,
                "min_count": self.min_count,
                "severity": self.severity,
            },
            {
                "metric": [TypeOf(str, "a str")],
                "op": [OneOf(("<", ">"))],
                "fire": [Interval(float)],
                "for_s": [Interval(float, 0, None)],
                "min_count": [Interval(int, 0, None)],
                "severity": [TypeOf(str, "a str")],
            },
        )
        if self.clear is not None:
            check_params("AlertRule", {"clear": self.clear}, {"clear": [Interval(float)]})
            if (self.op == "<" and self.clear < self.fire) or (
                self.op == ">" and self.clear > self.fire
            ):
                side = ">=" if self.op == "<" else "<="
                raise ConfigError(
                    f"The 'clear' level of AlertRule {short_repr(self.name)} must be {side} fire="
                    f"{short_repr(self.fire)} for op={short_repr(self.op)}. Got "
                    f"{short_repr(self.clear)} instead.",
                    parameter="clear",
                )

    def breached(self, value: float) -> bool:
        """Whether ``value`` is beyond the firing level."""
        return value < self.fire if self.op == "<" else value > self.fire

    def cleared(self, value: float) -> bool:
        """Whether ``value`` is back at or past the clearing level."""
        level = self.fire if self.clear is None else self.clear
        return value >= level if self.op == "<" else value <= level

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe configuration."""
        return {"type": "threshold", **asdict(self)}


@dataclass(frozen=True)
class BurnWindow:
    """One long/short window pair of a burn-rate rule, with its factor and severity."""

    long_s: float
    short_s: float
    factor: float
    severity: str = "page"


#: The SRE workbook's recommended pairs for a 30-day, 99.9%-style SLO.
DEFAULT_BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow(3600.0, 300.0, 14.4, "page"),
    BurnWindow(21600.0, 1800.0, 6.0, "page"),
    BurnWindow(259200.0, 21600.0, 1.0, "ticket"),
)


@dataclass(frozen=True)
class BurnRateRule:
    """Multi-window burn-rate alert on an SLO.

    The burn rate over a window is ``bad / total / (1 - objective)``: 1 means the error
    budget is spent exactly at the end of the SLO period. The rule fires when, for some
    window pair, the burn rate exceeds the pair's factor over *both* the long and the
    short window (the short one makes the alert resolve soon after the problem stops), and
    resolves when no pair does.

    Parameters
    ----------
    name
        Unique name of the rule within a monitor.
    objective
        SLO target, the share of good events, in (0, 1), e.g. 0.999.
    sli
        ``"errors"``: a labelled prediction is bad when wrong (classification) or when its
        absolute error exceeds ``error_tolerance`` (regression). ``"latency"``: a
        prediction is bad when its latency exceeds ``latency_threshold_s``.
    latency_threshold_s
        Required for ``sli="latency"``.
    error_tolerance
        Absolute error counted as good, for regression monitors.
    windows
        Window pairs, most urgent first; defaults to 14.4x/1h+5m, 6x/6h+30m (page),
        1x/3d+6h (ticket). The first pair that holds gives the alert's severity; a firing
        alert escalates (fires again) when a more urgent pair starts to hold.
    min_count
        Minimum events in the long window for a pair to fire.
    resolution_s
        Width of the time buckets the good/bad counts are kept in (memory: one bucket
        per ``resolution_s`` of the longest window).
    """

    name: str
    objective: float = 0.999
    sli: Literal["errors", "latency"] = "errors"
    latency_threshold_s: float | None = None
    error_tolerance: float = 0.0
    windows: tuple[BurnWindow, ...] = field(default=DEFAULT_BURN_WINDOWS)
    min_count: int = 0
    resolution_s: float = 60.0

    def __post_init__(self) -> None:
        _check_name("BurnRateRule", self.name)
        check_params(
            "BurnRateRule",
            {
                "objective": self.objective,
                "sli": self.sli,
                "error_tolerance": self.error_tolerance,
                "min_count": self.min_count,
                "resolution_s": self.resolution_s,
            },
            {
                "objective": [Interval(float, 0, 1, "neither")],
                "sli": [OneOf(("errors", "latency"))],
                "error_tolerance": [Interval(float, 0, None)],
                "min_count": [Interval(int, 0, None)],
                "resolution_s": [Interval(float, 0, None, "neither")],
            },
        )
        if self.sli == "latency":
            check_params(
                "BurnRateRule",
                {"latency_threshold_s": self.latency_threshold_s},
                {"latency_threshold_s": [Interval(float, 0, None, "neither")]},
            )
        windows = tuple(BurnWindow(**w) if isinstance(w, Mapping) else w for w in self.windows)
        if not windows or not all(isinstance(w, BurnWindow) for w in windows):
            raise ConfigError(
                f"The 'windows' parameter of BurnRateRule must be a non-empty sequence of "
                f"BurnWindow. Got {short_repr(self.windows)} instead.",
                parameter="windows",
            )
        for w in windows:
            if not (0 < w.short_s <= w.long_s and w.factor > 0):
                raise ConfigError(
                    f"Each BurnWindow must have 0 < short_s <= long_s and factor > 0. "
                    f"Got {short_repr(w)} instead.",
                    parameter="windows",
                )
        object.__setattr__(self, "windows", windows)

    @property
    def horizon_s(self) -> float:
        """The longest window, which bounds how long counts are kept."""
        return max(w.long_s for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe configuration."""
        d = asdict(self)
        d["windows"] = [asdict(w) for w in self.windows]
        return {"type": "burn_rate", **d}


def rule_from_dict(data: Mapping[str, Any]) -> AlertRule | BurnRateRule:
    """Rebuild a rule saved by ``to_dict``."""
    d = dict(data)
    kind = d.pop("type", None)
    if kind == "threshold":
        return AlertRule(**d)
    if kind == "burn_rate":
        d["windows"] = tuple(BurnWindow(**w) for w in d["windows"])
        return BurnRateRule(**d)
    raise ConfigError(
        f"Unknown alert rule type {short_repr(kind)}; expected 'threshold' or 'burn_rate'."
    )


@dataclass
class RuleState:
    """Where one rule stands: its state, since when, and the last value seen."""

    state: State = "inactive"
    since: float | None = None
    fired_at: float | None = None
    value: float = math.nan
    severity: str = ""

    def step(
        self, rule: AlertRule, value: float, *, traffic: float, now: float
    ) -> Literal["firing", "resolved"] | None:
        """Advance the state machine of a threshold rule; return the transition, if any.

        A pending alert fires once ``now - since >= rule.for_s``. When the clock reads
        earlier than ``since`` (it stepped back), the wait restarts at ``now``.
        """
        self.value = value
        if traffic < rule.min_count or math.isnan(value):
            if self.state == "pending":
                self.state, self.since = "inactive", None
            return None
        if self.state == "firing":
            if rule.cleared(value):
                self.state, self.since, self.fired_at = "inactive", None, None
                return "resolved"
            return None
        if not rule.breached(value):
            self.state, self.since = "inactive", None
            return None
        if self.state == "inactive":
            self.state, self.since = "pending", now
        elif self.since is not None and now < self.since:
            # The clock stepped back past the start of the wait (one bad reading far
            # ahead would otherwise hold the alert pending until the clock got there):
            # the condition has held since at least now, by the clock as it reads now.
            self.since = now
        if self.since is not None and now - self.since >= rule.for_s:
            self.state, self.fired_at = "firing", now
            return "firing"
        return None

    def set_firing(
        self,
        firing: bool,
        value: float,
        now: float,
        severity: str = "",
        ranks: Sequence[str] = (),
    ) -> Literal["firing", "resolved"] | None:
        """Advance a condition without duration (burn-rate rules); return the transition.

        ``ranks`` lists severities most urgent first (a burn-rate rule's window order): a
        firing alert whose condition now holds at a more urgent severity escalates, and
        fires again at that severity; it never steps down until it resolves.
        """
        self.value = value
        if firing and self.state != "firing":
            self.state, self.since, self.fired_at = "firing", now, now
            self.severity = severity
            return "firing"
        if firing and severity != self.severity and severity in ranks:
            mine = ranks.index(self.severity) if self.severity in ranks else len(ranks)
            if ranks.index(severity) < mine:
                self.severity, self.fired_at = severity, now
                return "firing"
        if not firing and self.state == "firing":
            self.state, self.since, self.fired_at = "inactive", None, None
            return "resolved"
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (``nan`` becomes ``None``)."""
        d = asdict(self)
        d["value"] = None if math.isnan(self.value) else self.value
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleState:
        """Rebuild a state saved by :meth:`to_dict`, validating it.

        Raises
        ------
        StateError
            (also a ConfigError) naming the field at fault: an unknown state, a time
            that is not a finite number, ``since`` missing while pending or firing,
            ``fired_at`` set while not firing.
        """
        root = Field(data, owner="RuleState")
        root.dict(keys=("state", "since", "fired_at", "value", "severity"))
        state = root["state"].str(choices=("inactive", "pending", "firing"))
        since = root["since"].optional_float()
        fired_at = root["fired_at"].optional_float()
        root["since"].check((since is None) == (state == "inactive"), "null exactly when inactive")
        root["fired_at"].check(
            (fired_at is None) == (state != "firing"), "a time exactly when firing"
        )
        value = root["value"].optional_float()
        return cls(
            state=state,  # type: ignore[arg-type]  # one of the choices above
            since=since,
            fired_at=fired_at,
            value=math.nan if value is None else value,
            severity=root["severity"].str(max_len=200),
        )
