"""JSON-safe save and restore of a ModelMonitor (private).

Layout: ``{"format_version": 1, "kind": "ModelMonitor", "config": {...}, "state": {...}}``.
Sinks, the clock and the drift reference are runtime objects and are not saved. A
streaming concept detector is saved through its own ``to_dict`` with its class name and
rebuilt from :mod:`prodml.drift`. The data-drift detector's settings are saved and it is
refitted on the reference passed to ``from_dict`` (data drift stays off without one).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prodml.errors import ConfigError
from prodml.monitoring import _groups
from prodml.monitoring._drift import DriftSummary, row_bytes
from prodml.monitoring.alerts import RuleState, rule_from_dict
from prodml.monitoring.sinks import Sink
from prodml.monitoring.windows import _py_scalar, window_from_dict

if TYPE_CHECKING:
    from prodml.monitoring.monitor import ModelMonitor

__all__ = ["FORMAT_VERSION", "dump", "load"]

FORMAT_VERSION = 1


def _check_id(pid: object) -> object:
    if isinstance(pid, (str, int)) and not isinstance(pid, bool):
        return pid
    raise ConfigError(
        f"Cannot save a pending prediction id {pid!r} of type {type(pid).__name__}: "
        "ids must be str or int for the monitor state to be JSON.",
        parameter="prediction_id",
    )


def _object_state(obj: Any) -> dict[str, Any] | None:
    if obj is None or not callable(getattr(obj, "to_dict", None)):
        return None
    return {"class": type(obj).__name__, "state": obj.to_dict()}


def _object_from_state(saved: Mapping[str, Any] | None) -> Any:
    if saved is None:
        return None
    import prodml.drift  # noqa: PLC0415 - lazy: composed module
    import prodml.drift.streaming  # noqa: PLC0415 - lazy: composed module

    cls = getattr(prodml.drift, saved["class"], None) or getattr(
        prodml.drift.streaming, saved["class"], None
    )
    if cls is None or not callable(getattr(cls, "from_dict", None)):
        raise ConfigError(
            f"Saved monitor state names {saved['class']!r}, which prodml.drift does not "
            "provide with a from_dict().",
            parameter="state",
        )
    return cls.from_dict(saved["state"])


def _detector_settings(detector: Any) -> dict[str, Any] | None:
    """Class name and settings of the data-drift detector, to rebuild it unfitted."""
    if detector is None or not callable(getattr(detector, "get_params", None)):
        return None
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in detector.get_params().items()}
    return {"class": type(detector).__name__, "params": params}


def _detector_from_settings(saved: Mapping[str, Any] | None) -> Any:
    if saved is None:
        return None
    import prodml.drift  # noqa: PLC0415 - lazy: composed module

    cls = getattr(prodml.drift, saved["class"], None)
    if cls is None:
        raise ConfigError(
            f"Saved monitor state names drift detector {saved['class']!r}, which "
            "prodml.drift does not provide.",
            parameter="state",
        )
    return cls(**saved["params"])


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else x


def dump(mon: ModelMonitor) -> dict[str, Any]:
    """Configuration and state of ``mon``, JSON-safe."""
    stats = mon._stats
    config = {
        "model": mon.model,
        "task": mon.task,
        "window": {"kind": mon.window.kind, "config": mon.window.config()},
        "rules": [r.to_dict() for r in mon.rules],
        "threshold": mon.threshold,
        "max_pending": mon.max_pending,
        "pending_ttl_s": mon.pending_ttl_s,
        "latency_buckets": list(stats.latency_total.bounds),
        "throughput_buckets": list(stats.throughput_total.bounds),
        "stats_window_s": mon.stats_window_s,
        "stats_interval_s": mon.stats_interval_s,
        "evaluate_every_s": mon.evaluate_every_s,
        "drift_window": mon.drift_window,
        "drift_window_bytes": mon.drift_window_bytes,
        "concept_window_s": mon.concept_window_s,
        "drift_detector": _detector_settings(mon._drift_fitted),
        "group_by": None if mon._groups is None else mon._groups.config(),
        "attribution_window": mon.attribution_window,
    }
    rows = mon._drift_rows
    state = {
        "pending": [[_check_id(pid), t, _py_scalar(out)] for pid, (t, out) in mon._pending.items()],
        "window": mon.window.to_dict(),
        "stats": stats.to_dict(),
        "counters": mon.counters(),
        "rule_states": {name: s.to_dict() for name, s in mon._states.items()},
        "slo": {name: c.to_dict() for name, c in mon._slo.items()},
        "drift_rows": None if rows is None else [_record(r) for r in rows],
        "drift_ready": None if mon._drift_ready is None else [_record(r) for r in mon._drift_ready],
        "drift_summary": mon._drift_summary.to_dict(),
        "concept_detector": _object_state(mon.concept_detector),
        "concept_alarms": list(mon._concept_alarms),
        "next_eval": _nan_none(mon._next_eval),
        "last_eval": mon._last_eval,
        "groups": None if mon._groups is None else mon._groups.to_dict(),
        "attributions": None if mon._attributions is None else mon._attributions.to_dict(),
    }
    return {
        "format_version": FORMAT_VERSION,
        "kind": "ModelMonitor",
        "config": config,
        "state": state,
    }


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _py_scalar(v) for k, v in row.items()}


def load(
    cls: type[ModelMonitor],
    data: Mapping[str, Any],
    *,
    sinks: Iterable[Sink],
    clock: Callable[[], float],
    reference: object,
    drift_detector: Any,
    concept_detector: Any,
    attribution_reference: object = None,
) -> ModelMonitor:
    """Rebuild a monitor from :func:`dump` output."""
    if not isinstance(data, Mapping) or data.get("kind") != "ModelMonitor":
        raise ConfigError("Not a saved ModelMonitor: expected a dict with kind='ModelMonitor'.")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"Saved ModelMonitor has format_version {version!r}; this prodml reads "
            f"version {FORMAT_VERSION}.",
            parameter="format_version",
        )
    try:
        return _load(
            cls,
            data["config"],
            data["state"],
            runtime={
                "sinks": list(sinks),
                "clock": clock,
                "reference": reference,
                "drift_detector": drift_detector,
                "attribution_reference": attribution_reference,
            },
            concept_detector=concept_detector,
        )
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"Saved ModelMonitor state is malformed: {err!r}.") from err


def _load(
    cls: type[ModelMonitor],
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    *,
    runtime: Mapping[str, Any],
    concept_detector: Any,
) -> ModelMonitor:
    saved_concept = _object_from_state(state["concept_detector"])
    kwargs = dict(config)
    saved_drift = kwargs.pop("drift_detector", None)
    drift_on = runtime["reference"] is not None or runtime["attribution_reference"] is not None
    if drift_on and runtime["drift_detector"] is None:
        runtime = {**runtime, "drift_detector": _detector_from_settings(saved_drift)}
    _groups.load_config(kwargs)
    kwargs["window"] = window_from_dict(state["window"])
    kwargs["rules"] = [rule_from_dict(r) for r in config["rules"]]
    mon = cls(
        **kwargs,
        **runtime,
        concept_detector=saved_concept if saved_concept is not None else concept_detector,
    )
    mon._pending = OrderedDict((pid, (float(t), out)) for pid, t, out in state["pending"])
    mon._stats.load(state["stats"])
    for name, value in state["counters"].items():
        mon._counters[name] = int(value)
    mon._n_predictions = mon._counters["predictions_total"]
    for name, saved in state["rule_states"].items():
        if name in mon._states:
            mon._states[name] = RuleState.from_dict(saved)
    for name, saved in state["slo"].items():
        if name in mon._slo:
            mon._slo[name].load(saved)
    if mon._drift_rows is not None and state["drift_rows"] is not None:
        mon._drift_rows = list(state["drift_rows"])
        mon._drift_bytes = sum(row_bytes(r) for r in mon._drift_rows)
        mon._drift_ready = state["drift_ready"]
    mon._drift_summary = DriftSummary.from_dict(state["drift_summary"])
    mon._concept_alarms.extend(float(a) for a in state["concept_alarms"])
    if state["next_eval"] is not None:
        mon._next_eval = float(state["next_eval"])
    mon._last_eval = state["last_eval"]
    if mon._groups is not None and state.get("groups") is not None:
        mon._groups.load(state["groups"])
    if mon._attributions is not None and state.get("attributions") is not None:
        mon._attributions.load(state["attributions"])
    return mon
