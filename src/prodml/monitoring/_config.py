"""Checks of ModelMonitor settings and per-call inputs, with their error messages (private)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prodml._params import NONE, Constraint, Interval, OneOf, TypeOf, check_params
from prodml._quote import short_repr
from prodml.errors import ConfigError, SchemaError
from prodml.monitoring import _values
from prodml.monitoring._served import _T_MAX, _T_MIN
from prodml.monitoring.alerts import AlertRule, BurnRateRule
from prodml.monitoring.sinks import Sink
from prodml.monitoring.windows import Window
from prodml.privacy import redact

if TYPE_CHECKING:
    from prodml.monitoring.monitor import ModelMonitor

__all__ = [
    "bad_input",
    "check_config",
    "check_rules",
    "check_time",
    "checked",
    "checked_latency",
    "severity",
]


def severity(rule: AlertRule | BurnRateRule) -> str:
    """The severity a rule reports before it has fired."""
    return rule.severity if isinstance(rule, AlertRule) else rule.windows[0].severity


_FLOAT_MAX = sys.float_info.max


def _is_finite_number(x: object) -> bool:
    # NaN, infinities and ints beyond the float range (float() would overflow) fail.
    try:
        return -_FLOAT_MAX <= x <= _FLOAT_MAX  # type: ignore[operator]
    except TypeError:
        return False


def check_time(t: object, name: str = "timestamp") -> float:
    """``t`` as a float, or a SchemaError when it is not a finite number of seconds."""
    if not _is_finite_number(_values.as_seconds(t)):
        raise SchemaError(
            f"{name} must be a finite number of clock seconds. Got {short_repr(t)} instead.",
            column=name,
        )
    return _values.as_seconds(t)


def bad_input(task: str, prediction_id: object, t: object, output: object) -> SchemaError:
    """The error for a log_prediction call whose fast check failed (the slow path)."""
    if not _is_finite_number(_values.as_seconds(t)):
        return SchemaError(
            f"timestamp must be a finite number of clock seconds. Got {short_repr(t)} instead.",
            column="timestamp",
        )
    try:
        hash(prediction_id)
    except TypeError:
        return SchemaError(
            f"prediction_id must be hashable (a str or int). Got {redact(prediction_id)} instead.",
            column="prediction_id",
        )
    expected = "a score in [0, 1]" if task == "binary" else "a finite number"
    if task == "multiclass":
        expected = "a class label: a str, int, bool or finite float"
    return SchemaError(
        f"output of a {task} model must be {expected}. Got {short_repr(output)} instead.",
        column="output",
    )


def checked(
    mon: ModelMonitor, prediction_id: object, t: object, output: object
) -> tuple[float, Any]:
    """The time and output of a log_prediction call its fast check did not pass.

    Real numbers of any type (``np.int64``, ``np.float32``, ints) become Python floats
    (a numpy scalar kept as given made ``to_json`` fail); a multiclass output is checked
    as a class label (:func:`_values.check_class`). Raises :func:`bad_input`'s error,
    quoting the values as given, for a time or output out of bounds or an unhashable id.
    """
    seconds = t if type(t) is float else _values.as_seconds(t)
    value = output
    if mon._numeric_output and type(output) is not float:
        value = _values.as_number(mon.task, output)
    try:
        ok = _T_MIN <= seconds <= _T_MAX and (
            not mon._numeric_output or mon._out_low <= value <= mon._out_high  # type: ignore[operator]
        )
        hash(prediction_id)
    except TypeError:
        ok = False
    if not ok:
        raise bad_input(mon.task, prediction_id, t, output)
    if not mon._numeric_output:
        value = _values.check_class(value)
    return seconds, value


def checked_latency(latency_s: object) -> float:
    """A ``latency_s`` its fast check did not pass: as a float in [0, 1e100], or an error."""
    value = _values.as_number("regression", latency_s)
    try:
        ok = 0.0 <= value <= 1e100  # Histogram's MAX_VALUE: a finite sum
    except TypeError:
        ok = False
    if not ok:
        raise SchemaError(
            f"latency_s must be a number of seconds in [0, 1e100]. Got {short_repr(latency_s)} "
            "instead.",
            column="latency_s",
        )
    return float(value)


MAX_STATS_SLOTS = 100_000
"""Most slots (``stats_window_s / stats_interval_s``) of the latency and throughput window."""


def check_config(params: Mapping[str, Any]) -> None:
    """Check the constructor arguments of ModelMonitor (``locals()`` of ``__init__``)."""
    check_params(
        "ModelMonitor",
        {k: params[k] for k in _CONSTRAINTS},
        _CONSTRAINTS,
    )
    if not callable(params["clock"]):
        raise ConfigError(
            f"The 'clock' parameter of ModelMonitor must be a callable returning seconds. "
            f"Got {short_repr(params['clock'])} instead.",
            parameter="clock",
        )
    ratio = params["stats_window_s"] / params["stats_interval_s"]
    if not ratio <= MAX_STATS_SLOTS:  # also catches inf: the ring of slots is allocated
        raise ConfigError(
            "The 'stats_window_s' parameter of ModelMonitor must be at most "
            f"{MAX_STATS_SLOTS} x stats_interval_s={short_repr(params['stats_interval_s'])}. Got "
            f"{short_repr(params['stats_window_s'])} instead.",
            parameter="stats_window_s",
        )
    if abs(ratio - round(ratio)) > 1e-9:
        raise ConfigError(
            "The 'stats_window_s' parameter of ModelMonitor must be a multiple of "
            f"stats_interval_s={short_repr(params['stats_interval_s'])}. Got "
            f"{short_repr(params['stats_window_s'])} instead.",
            parameter="stats_window_s",
        )
    for sink in params["sinks"]:
        if not isinstance(sink, Sink):
            raise ConfigError(
                "Each sink of ModelMonitor must be a prodml.monitoring.Sink. Got "
                f"{short_repr(sink)}.",
                parameter="sinks",
            )
    det = params["concept_detector"]
    if det is not None and not callable(getattr(det, "update", None)):
        raise ConfigError(
            "The 'concept_detector' parameter of ModelMonitor must have an update(x) method "
            f"(a prodml.drift streaming detector). Got {short_repr(det)} instead.",
            parameter="concept_detector",
        )
    domain = getattr(det, "domain", "real")
    if params["task"] == "regression" and domain != "real":
        raise ConfigError(
            f"The concept detector {type(det).__name__} takes {domain} values, but a "
            "regression monitor feeds it absolute errors; use one for real values (ADWIN, "
            "PageHinkley, CUSUM).",
            parameter="concept_detector",
        )


def check_rules(mon: ModelMonitor) -> None:
    """Check the rules of a monitor: types, unique names, known metrics."""
    names: set[str] = set()
    known = _values.metric_names(
        mon.task,
        drift=mon.reference is not None,
        concept=mon.concept_detector is not None,
        attributions=mon.attribution_reference is not None,
    )
    for rule in mon.rules:
        if not isinstance(rule, (AlertRule, BurnRateRule)):
            raise ConfigError(
                "Each rule of ModelMonitor must be an AlertRule or a BurnRateRule. Got "
                f"{short_repr(rule)}.",
                parameter="rules",
            )
        if rule.name in names:
            raise ConfigError(
                f"Two alert rules are named {short_repr(rule.name)}.", parameter="rules"
            )
        names.add(rule.name)
        groups = mon._groups
        if isinstance(rule, AlertRule) and groups is not None and groups.accepts(rule.metric):
            continue
        if isinstance(rule, AlertRule) and rule.metric not in known:
            raise ConfigError(
                f"Alert rule {short_repr(rule.name)} watches unknown metric "
                f"{short_repr(rule.metric)} for a "
                f"{mon.task} monitor; known metrics: {sorted(known)}.",
                parameter="rules",
            )
        if (
            isinstance(rule, BurnRateRule)
            and mon.task != "regression"
            and rule.sli == "errors"
            and rule.error_tolerance != 0.0
        ):
            raise ConfigError(
                f"Burn-rate rule {short_repr(rule.name)}: error_tolerance applies to regression "
                f"monitors only.",
                parameter="rules",
            )


_CONSTRAINTS: dict[str, list[Constraint]] = {
    "model": [TypeOf(str, "a str")],
    "task": [OneOf(("binary", "multiclass", "regression"))],
    "window": [TypeOf(Window, "a CountWindow or TimeWindow"), NONE],
    "threshold": [Interval(float, 0, 1)],
    "max_pending": [Interval(int, 1, None)],
    "pending_ttl_s": [Interval(float, 0, None, "neither"), NONE],
    "stats_window_s": [Interval(float, 0, None, "neither")],
    "stats_interval_s": [Interval(float, 0, None, "neither")],
    "evaluate_every_s": [Interval(float, 0, None), NONE],
    "drift_window": [Interval(int, 2, None)],
    "drift_window_bytes": [Interval(int, 1024, None)],
    "attribution_window": [Interval(int, 2, None)],
    "concept_window_s": [Interval(float, 0, None, "neither")],
    "group_window": [TypeOf(Window, "a CountWindow or TimeWindow"), NONE],
}
