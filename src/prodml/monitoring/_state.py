"""JSON-safe save and restore of a ModelMonitor (private).

Layout: ``{"format_version": 2, "kind": "ModelMonitor", "config": {...}, "state": {...}}``.
Sinks, the clock and the drift reference are runtime objects and are not saved. A
streaming concept detector is saved through its own ``to_dict`` with its class name and
rebuilt from :mod:`prodml.drift`. The data-drift detector's settings are saved and it is
refitted on the reference passed to ``from_dict`` (data drift stays off without one).

``state.labelled`` holds the ids of recently labelled predictions with their label times
(``[[id, t], ...]``, str and int ids only), so that a second label still counts as a
duplicate after a restart. Format 2 added it and the ``duplicate_labels_total`` counter; a
format 1 state (without either) still loads, with an empty record and the counter at 0. A
prodml that reads only format 1 refuses a format 2 state with the advice to upgrade,
rather than on the unknown counter.

Feature rows of an open drift window are saved through the drift detector's privacy
policy (:mod:`prodml.privacy`): values that are sensitive or look personal, and values of
columns the fitted reference keeps hashed (text past the cardinality limit), are saved as
their salted hashes (numbers of sensitive columns as null), never raw.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from prodml._quote import short_repr
from prodml._state import Field, check_format_version
from prodml.errors import ConfigError, ProdMLError, SchemaError, StateError
from prodml.monitoring import _groups, _values
from prodml.monitoring._drift import DriftSummary, row_bytes
from prodml.monitoring.alerts import RuleState, rule_from_dict
from prodml.monitoring.sinks import Sink
from prodml.monitoring.windows import _py_scalar, _time_order, window_from_dict
from prodml.privacy import Privacy, redact

if TYPE_CHECKING:
    from prodml.monitoring.monitor import ModelMonitor

__all__ = ["FORMAT_VERSION", "READABLE_VERSIONS", "dump", "load"]

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: before state.labelled and duplicate_labels_total
_T = TypeVar("_T")


def _check_id(pid: object) -> object:
    if isinstance(pid, (str, int)) and not isinstance(pid, bool):
        return pid
    raise ConfigError(
        f"Cannot save a pending prediction id {redact(pid)} of type {type(pid).__name__}: "
        "ids must be str or int for the monitor state to be JSON.",
        parameter="prediction_id",
    )


def _savable(pid: object) -> bool:
    return type(pid) is str or type(pid) is int


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
            f"Saved monitor state names {short_repr(saved['class'])}, which prodml.drift does not "
            "provide with a from_dict().",
            parameter="state",
        )
    return cls.from_dict(saved["state"])


def _detector_settings(detector: Any) -> dict[str, Any] | None:
    """Class name and settings of the data-drift detector, to rebuild it unfitted."""
    if detector is None or not callable(getattr(detector, "get_params", None)):
        return None
    params = {
        k: list(v) if isinstance(v, tuple) else v.to_dict() if isinstance(v, Privacy) else v
        for k, v in detector.get_params().items()
    }
    return {"class": type(detector).__name__, "params": params}


def _detector_from_settings(saved: Mapping[str, Any] | None) -> Any:
    if saved is None:
        return None
    import prodml.drift  # noqa: PLC0415 - lazy: composed module

    cls = getattr(prodml.drift, saved["class"], None)
    if cls is None:
        raise ConfigError(
            f"Saved monitor state names drift detector {short_repr(saved['class'])}, which "
            "prodml.drift does not provide.",
            parameter="state",
        )
    params = dict(saved["params"])
    if isinstance(params.get("privacy"), Mapping):
        params["privacy"] = Privacy.from_dict(params["privacy"])
    return cls(**params)


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
    policy = privacy_of(mon._drift_fitted)
    hashed = hashed_columns(mon._drift_fitted)
    state = {
        "pending": [[_check_id(pid), t, _py_scalar(out)] for pid, (t, out) in mon._pending.items()],
        # Only str and int ids: the record of labelled ids is a bound-limited hint (it
        # forgets the oldest anyway), so an id JSON cannot hold is dropped, not an error.
        "labelled": [[pid, t] for pid, t in mon._labelled.items() if _savable(pid)],
        "window": mon.window.to_dict(),
        "stats": stats.to_dict(),
        "counters": mon._totals(),  # to_dict applied the queue
        "rule_states": {name: s.to_dict() for name, s in mon._states.items()},
        "slo": {name: c.to_dict() for name, c in mon._slo.items()},
        "drift_rows": None if rows is None else [_record(r, policy, hashed) for r in rows],
        "drift_ready": (
            None
            if mon._drift_ready is None
            else [_record(r, policy, hashed) for r in mon._drift_ready]
        ),
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


def privacy_of(detector: Any) -> Privacy:
    """The privacy policy of a drift detector (the default one when it has none)."""
    policy = getattr(detector, "privacy", None)
    return policy if isinstance(policy, Privacy) else Privacy()


def hashed_columns(detector: Any) -> frozenset[str]:
    """Columns a fitted detector's reference keeps only as salted hashes.

    Besides sensitive columns, these are text columns past the policy's cardinality limit
    (``Privacy.max_categories``): identifiers such as customer ids that match no personal
    data pattern. Saved window rows hash them too, so a saved monitor never keeps a raw id
    that its own reference does not keep.
    """
    columns = getattr(getattr(detector, "reference_", None), "columns", None)
    if not isinstance(columns, Mapping):
        return frozenset()
    return frozenset(str(n) for n, s in columns.items() if getattr(s, "hashed", False) is True)


def _record(row: Mapping[str, Any], policy: Privacy, hashed: frozenset[str]) -> dict[str, Any]:
    out = policy.protect_record(row)
    for name in hashed.intersection(out):
        if out[name] is not None and not policy.is_raw(name):
            out[name] = policy.token(out[name])  # a token maps to itself
    return {str(k): _py_scalar(v) for k, v in out.items()}


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
    """Rebuild a monitor from :func:`dump` output, validating it.

    Raises
    ------
    StateError
        (also a ConfigError) naming the field path at fault: settings the constructor
        refuses (``config.stats_window_s``), a pending prediction with a bad id or time,
        a negative counter, a rule state or drift summary outside its invariants.
    """
    root = Field(data, owner="ModelMonitor")
    root.dict(keys=("format_version", "kind", "config", "state"))
    root["kind"].str(choices=("ModelMonitor",))
    check_format_version(root["format_version"].value, READABLE_VERSIONS, owner="ModelMonitor")
    config, state = root["config"], root["state"]
    config.dict(keys=_CONFIG_KEYS)
    state.dict()
    runtime = {
        "sinks": list(sinks),
        "clock": clock,
        "reference": reference,
        "attribution_reference": attribution_reference,
    }
    return _load(
        cls, config, state, runtime=runtime, drift_detector=drift_detector,
        concept_detector=concept_detector,
    )  # fmt: skip


_CONFIG_KEYS = (
    "model", "task", "window", "rules", "threshold", "max_pending", "pending_ttl_s",
    "latency_buckets", "throughput_buckets", "stats_window_s", "stats_interval_s",
    "evaluate_every_s", "drift_window", "drift_window_bytes", "concept_window_s",
    "drift_detector", "group_by", "attribution_window",
)  # fmt: skip
_RAW = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


def _part(field: Field, load_part: Callable[[], _T]) -> _T:
    """Run a loader of one part of the state; a raw exception names the part's path."""
    try:
        return load_part()
    except StateError as err:
        raise field.within(err) from None
    except ProdMLError as err:
        raise field.fail(f"valid ({str(err)[:300]})") from None
    except _RAW as err:
        raise field.fail(f"valid saved state ({type(err).__name__}: {str(err)[:200]})") from None


def _load(
    cls: type[ModelMonitor],
    config: Field,
    state: Field,
    *,
    runtime: Mapping[str, Any],
    drift_detector: Any,
    concept_detector: Any,
) -> ModelMonitor:
    saved_concept = _part(
        state["concept_detector"],
        lambda: _object_from_state(_optional_dict(state["concept_detector"])),
    )
    kwargs = dict(config.dict())
    saved_drift = kwargs.pop("drift_detector", None)
    drift_on = runtime["reference"] is not None or runtime["attribution_reference"] is not None
    if drift_on and drift_detector is None:
        drift_detector = _part(
            config["drift_detector"], lambda: _detector_from_settings(saved_drift)
        )
    _part(config["group_by"], lambda: _groups.load_config(kwargs))
    kwargs["window"] = _part(state["window"], lambda: window_from_dict(state["window"].dict()))
    kwargs["rules"] = [
        _part(r, lambda r=r: rule_from_dict(r.dict()))  # type: ignore[misc]
        for r in config["rules"].each(max_len=10_000)
    ]
    try:
        mon = cls(
            **kwargs,
            **runtime,
            drift_detector=drift_detector,
            concept_detector=saved_concept if saved_concept is not None else concept_detector,
        )
    except ConfigError as err:
        name = err.parameter
        at = config[name] if name is not None and name in kwargs else config
        raise at.fail(f"a valid setting ({str(err)[:300]})") from None
    except _RAW as err:
        raise config.fail(f"valid settings ({type(err).__name__})") from None
    _check_window(mon, state["window"])
    _restore_ids(mon, state)
    _part(state["stats"], lambda: mon._stats.load(state["stats"].dict(), "state.stats"))
    for name, value in state["counters"].items(max_len=1000):
        value.check(name in mon._counters, "absent (not a monitor counter)")
        mon._counters[name] = value.count()
    mon._n_predictions = mon._counters["predictions_total"]
    for name, saved in state["rule_states"].items(max_len=10_000):
        if name in mon._states:
            mon._states[name] = _part(saved, lambda s=saved: RuleState.from_dict(s.dict()))  # type: ignore[misc]
    for name, saved in state["slo"].items(max_len=10_000):
        if name in mon._slo:
            _part(saved, lambda n=name, s=saved: mon._slo[n].load(s.dict()))  # type: ignore[misc]
    if mon._drift_rows is not None and state["drift_rows"].value is not None:
        mon._drift_rows = [_row(r) for r in state["drift_rows"].each(max_len=mon.drift_window)]
        mon._drift_bytes = sum(row_bytes(r) for r in mon._drift_rows)
        ready = state["drift_ready"]
        mon._drift_ready = (
            None if ready.value is None else [_row(r) for r in ready.each(max_len=mon.drift_window)]
        )
    mon._drift_summary = _part(
        state["drift_summary"], lambda: DriftSummary.from_dict(state["drift_summary"].dict())
    )
    mon._concept_alarms.extend(state["concept_alarms"].floats(max_len=10_000_000))
    next_eval = state["next_eval"].optional_float()
    if next_eval is not None:
        mon._next_eval = next_eval
    mon._last_eval = state["last_eval"].optional_float()
    if mon.evaluate_every_s is not None and mon._last_eval is not None:
        mon._eval_from = mon._last_eval - mon.evaluate_every_s
    groups = state.get("groups")
    if mon._groups is not None and groups is not None:
        _part(groups, lambda: mon._groups.load(groups.dict()))  # type: ignore[union-attr]
    attributions = state.get("attributions")
    if mon._attributions is not None and attributions is not None:
        _part(attributions, lambda: mon._attributions.load(attributions.dict()))  # type: ignore[union-attr]
    return mon


def _pending(mon: ModelMonitor, field: Field) -> OrderedDict[object, tuple[float, object]]:
    """Saved pending predictions: plain checks per item, a Field only for the one at fault."""
    pending: OrderedDict[object, tuple[float, object]] = OrderedDict()
    numeric, low, high = mon._numeric_output, mon._out_low, mon._out_high
    for i, item in enumerate(field.list(max_len=mon.max_pending)):
        ok = type(item) is list and len(item) == 3
        if ok:
            pid, t, out = item
            ok = (
                (type(pid) is str or type(pid) is int)
                and pid not in pending
                and type(t) is float
                and math.isfinite(t)
                and (
                    (type(out) is float and low <= out <= high)
                    if numeric
                    else (
                        type(out) in (str, int, bool) or (type(out) is float and math.isfinite(out))
                    )
                )
            )
        if ok:
            pending[pid] = (t, out)
            continue
        pid_f, t_f, out_f = field[i].each(length=3)  # slow path: name what is wrong
        pid = pid_f.value
        pid_f.check(isinstance(pid, str | int) and not isinstance(pid, bool), "a str or int id")
        pid_f.check(pid not in pending, "an id not listed before")
        pending[pid] = (t_f.float(), _output(mon, out_f))
    return pending


def _labelled(mon: ModelMonitor, field: Field) -> OrderedDict[object, float]:
    """Saved ids of labelled predictions with their label times.

    Plain checks per item, a Field only for the one at fault (as :func:`_pending`).
    """
    labelled: OrderedDict[object, float] = OrderedDict()
    for i, item in enumerate(field.list(max_len=mon.max_pending)):
        if type(item) is list and len(item) == 2:
            pid, t = item
            if _savable(pid) and pid not in labelled and type(t) is float and math.isfinite(t):
                labelled[pid] = t
                continue
        pid_f, t_f = field[i].each(length=2)  # slow path: name what is wrong
        pid = pid_f.value
        pid_f.check(_savable(pid), "a str or int id")
        pid_f.check(pid not in labelled, "an id not listed before")
        labelled[pid] = t_f.float()
    return labelled


def _restore_ids(mon: ModelMonitor, state: Field) -> None:
    """The pending predictions and the record of labelled ids, with their order flags."""
    mon._pending = _pending(mon, state["pending"])
    mon._pending_unsorted, mon._pending_last = _time_order(t for t, _ in mon._pending.values())
    labelled = state.get("labelled")  # absent from format 1 states
    if labelled is not None:
        mon._labelled = _labelled(mon, labelled)
        mon._labelled_unsorted, mon._labelled_last = _time_order(mon._labelled.values())


def _optional_dict(field: Field) -> Mapping[str, Any] | None:
    return None if field.value is None else field.dict()


def _output(mon: ModelMonitor, field: Field) -> object:
    """A saved prediction output, checked as ``log_prediction`` checks it."""
    out = field.value
    if mon._numeric_output:
        return field.float(lo=mon._out_low, hi=mon._out_high)
    ok = isinstance(out, str | bool | int) or (isinstance(out, float) and math.isfinite(out))
    field.check(ok, "a str, int, bool or finite float")
    return out


def _label(mon: ModelMonitor, field: Field) -> None:
    try:
        _values.check_label(mon.task, field.value)
    except SchemaError:
        raise field.fail(f"a label of a {mon.task} model") from None


def _check_window(mon: ModelMonitor, field: Field) -> None:
    """The window's times, labels and outputs are what the monitor itself stores."""
    # Finite; in any order: after the clock stepped back, the times of the labelled pairs
    # are out of order (a TimeWindow notes it on load), and such a state is the
    # monitor's own. Requiring order refused to restore it.
    field["times"].floats()
    labels = field["labels"].list()
    if _all_binary(mon.task, labels):
        pass  # the common case, checked at C speed
    else:
        for i, bad in enumerate(_bad_labels(mon.task, labels)):
            if bad:
                _label(mon, field["labels"][i])
    if mon._numeric_output:
        field["outputs"].floats(lo=mon._out_low, hi=mon._out_high)
    else:
        for out in field["outputs"].each():
            _output(mon, out)


def _all_binary(task: str, labels: list[Any]) -> bool:
    """Whether ``labels`` are all 0/1 ints of a binary task (type and value sets, C speed)."""
    return task == "binary" and set(map(type, labels)) <= {int} and set(labels) <= {0, 1}


def _bad_labels(task: str, labels: list[Any]) -> list[bool]:
    """For each label, whether the task refuses it (plain Python, one pass)."""
    if task == "binary":
        return [not (type(y) is int and y in (0, 1)) for y in labels]
    return [not _is_label(task, y) for y in labels]


def _is_label(task: str, label: object) -> bool:
    try:
        _values.check_label(task, label)
    except SchemaError:
        return False
    return True


def _row(field: Field) -> dict[str, Any]:
    """One saved drift row: column name to a JSON scalar."""
    row = dict(field.dict())
    for k, v in field.items():
        v.check(v.value is None or isinstance(v.value, str | bool | int | float), "a scalar")
        del k
    return row
