"""The controller's JSON state: phase, the run in flight, guards and the decision log.

The state is the controller's write-ahead log: every intent (start a run, promote this
version, roll back) is written, atomically, before the side effect it announces, so a
process killed anywhere resumes by finishing what the state says it was doing. Read
back, it is validated field by field before use (principle 7).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from prodml._files import PATH_QUOTE, make_folder, os_reason, write_text
from prodml._quote import short_repr
from prodml._state import check_depth, check_format_version, finite_float
from prodml.errors import ConfigError, ProdMLError

__all__ = [
    "ACTIONS",
    "FORMAT_VERSION",
    "MAX_CLOCK_S",
    "MAX_TEXT",
    "MAX_TIME_S",
    "PHASES",
    "ActionKind",
    "Phase",
    "RetrainState",
]

FORMAT_VERSION = 1
KIND = "RetrainController"
MAX_DECISIONS = 1000
MAX_TEXT = 4000  # characters of a stored str (model, alias, reasons)
MAX_CLOCK_S = 1e15
"""Largest clock the controller takes (about 30 million years): the run id starts with the
clock's digits, and a run id of more than 200 characters (a clock of 1e200) was saved but
refused when read back, so a run in flight at such a time could not be resumed."""
MAX_TIME_S = 2 * MAX_CLOCK_S
"""Largest time in a state file: a clock, or a clock plus a back-off (at most
:data:`MAX_CLOCK_S`). A hostile 1e300 is refused on load instead of blocking every run
with a 300-digit reason."""
_MAX_INT = 2**53  # counts and versions: exact in every JSON reader

Phase = Literal["idle", "training", "checking", "canary", "promoting", "rolling_back"]
PHASES: tuple[str, ...] = get_args(Phase)
ActionKind = Literal[
    "none",
    "skip",
    "retrain",
    "fail",
    "register",
    "refuse",
    "canary",
    "hold",
    "advance",
    "promote",
    "rollback",
]
ACTIONS: tuple[str, ...] = get_args(ActionKind)


class RetrainStateError(ProdMLError, ValueError):
    """Stored controller state that cannot be trusted: the message names the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _bad(name: str, expected: str, value: object) -> RetrainStateError:
    if isinstance(value, str):
        shown = repr(value[:40]) + ("..." if len(value) > 40 else "")
    elif isinstance(value, int | float | bool):
        shown = repr(value)
    else:
        shown = type(value).__name__
    return RetrainStateError(
        f"Stored RetrainController state: {name!r} must be {expected}. Got {shown}.", field=name
    )


def _num(
    d: Mapping[str, Any],
    key: str,
    *,
    optional: bool = False,
    name: str = "",
    low: float = -math.inf,
    high: float = math.inf,
    expected: str = "a finite number",
) -> Any:
    v = d.get(key)
    label = name or key
    if v is None and optional:
        return None
    x = finite_float(v)
    if x is None or not low <= x <= high:
        raise _bad(label, expected + (" or null" if optional else ""), v)
    return x


def _time(d: Mapping[str, Any], key: str, *, optional: bool = False, name: str = "") -> Any:
    """A time on the controller's clock: none it writes is beyond :data:`MAX_TIME_S`."""
    return _num(
        d,
        key,
        optional=optional,
        name=name,
        low=-MAX_TIME_S,
        high=MAX_TIME_S,
        expected=f"a time within {MAX_TIME_S:.0e} s of the epoch",
    )


def _int(
    d: Mapping[str, Any], key: str, *, optional: bool = False, name: str = "", low: int = 0
) -> Any:
    v = d.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= _MAX_INT:
        raise _bad(name or key, f"an int >= {low}" + (" or null" if optional else ""), v)
    return v


def _str(d: Mapping[str, Any], key: str, *, optional: bool = False, name: str = "") -> Any:
    v = d.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str) or len(v) > 4000:
        raise _bad(name or key, "a str (at most 4000 characters)", v)
    return v


def _json_dict(d: Mapping[str, Any], key: str, name: str) -> dict[str, Any]:
    v = d.get(key, {})
    if not isinstance(v, dict):
        raise _bad(name, "an object", v)
    return v


def check_run(run: object) -> dict[str, Any] | None:
    """A validated run record (or ``None``)."""
    if run is None:
        return None
    if not isinstance(run, dict):
        raise _bad("run", "an object or null", run)
    out = {
        "id": _str(run, "id", name="run.id"),
        "trigger": _str(run, "trigger", name="run.trigger"),
        "reason": _str(run, "reason", name="run.reason"),
        "started_at": _time(run, "started_at", name="run.started_at"),
        "parent": _int(run, "parent", optional=True, name="run.parent", low=1),
        "version": _int(run, "version", optional=True, name="run.version", low=1),
        "signal": _json_dict(run, "signal", "run.signal"),
        "canary_at": _time(run, "canary_at", optional=True, name="run.canary_at"),
    }
    if "refusing" in run:  # a refusal saved before its side effects (absent: none)
        out["refusing"] = _str(run, "refusing", optional=True, name="run.refusing")
    if not out["id"] or len(out["id"]) > 200:
        raise _bad("run.id", "a non-empty str of at most 200 characters", out["id"])
    return out


def check_decision(d: object, i: int) -> dict[str, Any]:
    """A validated decision record."""
    if not isinstance(d, dict):
        raise _bad(f"decisions[{i}]", "an object", d)
    action = d.get("action")
    if action not in ACTIONS:
        raise _bad(f"decisions[{i}].action", f"one of {', '.join(ACTIONS)}", action)
    return {
        "action": action,
        "reason": _str(d, "reason", name=f"decisions[{i}].reason"),
        "at": _time(d, "at", name=f"decisions[{i}].at"),
        "run_id": _str(d, "run_id", optional=True, name=f"decisions[{i}].run_id"),
        "version": _int(d, "version", optional=True, name=f"decisions[{i}].version", low=1),
        "trigger": _str(d, "trigger", optional=True, name=f"decisions[{i}].trigger"),
        "repeats": _int(d, "repeats", name=f"decisions[{i}].repeats", low=1)
        if "repeats" in d
        else 1,
    }


def check_triggers(triggers: object) -> dict[str, dict[str, Any]]:
    """The triggers' saved states by name, each an object (its trigger validates it)."""
    if not isinstance(triggers, dict) or len(triggers) > 1000:
        raise _bad("triggers", "an object of at most 1000 trigger states", triggers)
    out = {}
    for name, value in triggers.items():
        if not isinstance(name, str) or not name or len(name) > 200:
            raise _bad("triggers", "keyed by trigger names (at most 200 characters)", name)
        if not isinstance(value, dict):
            raise _bad(f"triggers.{name}", "an object", value)
        out[name] = value
    return out


def check_trigger_failures(records: object) -> dict[str, dict[str, Any]]:
    """The failing triggers' records by trigger name (see :class:`RetrainState`)."""
    if not isinstance(records, dict) or len(records) > 1000:
        raise _bad("trigger_failures", "an object of at most 1000 trigger records", records)
    out = {}
    for name, rec in records.items():
        if not isinstance(name, str) or not name or len(name) > 200:
            raise _bad("trigger_failures", "keyed by trigger names (at most 200 characters)", name)
        path = f"trigger_failures.{name}"
        if not isinstance(rec, dict):
            raise _bad(path, "an object", rec)
        checked = {
            "count": _int(rec, "count", name=f"{path}.count", low=1),
            "first_at": _time(rec, "first_at", name=f"{path}.first_at"),
            "last_at": _time(rec, "last_at", name=f"{path}.last_at"),
            "reason": _str(rec, "reason", name=f"{path}.reason"),
        }
        out[name] = checked
    return out


@dataclass
class RetrainState:
    """Everything the controller must remember across restarts (JSON, versioned).

    ``triggers`` holds the state of each trigger that has one (``state_dict`` and
    ``load_state_dict``, e.g. :class:`ErrorRateTrigger`), by trigger name; a trigger
    validates its own part when the controller restores it.

    ``trigger_failures`` holds, by trigger name, each trigger whose last answer was a
    failure (it raised, returned junk or its reset raised): ``count`` (failures in a row),
    ``first_at`` and ``last_at`` (the controller's clock) and ``reason`` (the last
    failure). A trigger leaves it when it answers again. Saved only when not empty, so a
    controller whose triggers never failed writes the same file as before it existed.

    Examples
    --------
    >>> s = RetrainState(model="churn", alias="production")
    >>> RetrainState.from_dict(s.to_dict()) == s
    True
    """

    model: str
    alias: str
    phase: Phase = "idle"
    run: dict[str, Any] | None = None
    canary: dict[str, Any] | None = None
    runs: list[float] = field(default_factory=list)
    spent: list[list[float]] = field(default_factory=list)
    last_run_at: float | None = None
    failures: int = 0
    backoff_until: float | None = None
    last_step_at: float | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    trigger_failures: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("model", "alias"):  # what from_dict reads back: at most 4000 characters
            v = getattr(self, name)
            if not isinstance(v, str) or len(v) > MAX_TEXT:
                raise ConfigError(
                    f"RetrainState: {name} must be a str of at most {MAX_TEXT} characters. "
                    f"Got {short_repr(v)}.",
                    parameter=name,
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state with its type and format version."""
        out = {
            "type": KIND,
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "alias": self.alias,
            "phase": self.phase,
            "run": None if self.run is None else dict(self.run),
            "canary": self.canary,
            "runs": list(self.runs),
            "spent": [list(s) for s in self.spent],
            "last_run_at": self.last_run_at,
            "failures": self.failures,
            "backoff_until": self.backoff_until,
            "last_step_at": self.last_step_at,
            "decisions": [dict(d) for d in self.decisions],
            "triggers": {name: dict(t) for name, t in self.triggers.items()},
        }
        if self.trigger_failures:
            out["trigger_failures"] = {k: dict(r) for k, r in self.trigger_failures.items()}
        return out

    @classmethod
    def from_dict(cls, data: object) -> RetrainState:
        """Validate and rebuild state written by :meth:`to_dict`.

        Raises
        ------
        RetrainStateError
            Naming the first field that is missing, of the wrong type or out of range.
        """
        if not isinstance(data, Mapping):
            raise _bad("state", "an object", data)
        try:
            check_depth(data, owner="RetrainController", error=RetrainStateError)
        except RetrainStateError as err:
            err.field = getattr(err, "path", None)  # a StateError that is also this
            raise
        if data.get("type") != KIND:
            raise RetrainStateError(
                f"Stored state is of type {short_repr(data.get('type'), 40)}, not {KIND!r}.",
                field="type",
            )
        try:
            check_format_version(
                data.get("format_version"),
                FORMAT_VERSION,
                owner="RetrainController",
                error=RetrainStateError,
            )
        except RetrainStateError as err:
            err.field = "format_version"
            raise
        phase = data.get("phase")
        if phase not in PHASES:
            raise _bad("phase", f"one of {', '.join(PHASES)}", phase)
        run = check_run(data.get("run"))
        if (phase == "idle") != (run is None):
            raise RetrainStateError(
                f"Stored RetrainController state: phase {phase!r} "
                + ("has a run in flight" if run else "has no run"),
                field="run",
            )
        if phase in ("checking", "canary", "promoting", "rolling_back") and (
            run is None or run["version"] is None
        ):
            raise RetrainStateError(
                f"Stored RetrainController state: phase {phase!r} needs the run's version.",
                field="run.version",
            )
        canary = data.get("canary")
        if canary is not None and not isinstance(canary, dict):
            raise _bad("canary", "an object or null", canary)
        runs = data.get("runs")
        if not isinstance(runs, list) or len(runs) > 100_000:
            raise _bad("runs", "a list of times", runs)
        spent = data.get("spent")
        if not isinstance(spent, list) or len(spent) > 100_000:
            raise _bad("spent", "a list of [time, cost] pairs", spent)
        decisions = data.get("decisions")
        if not isinstance(decisions, list) or len(decisions) > MAX_DECISIONS:
            raise _bad("decisions", f"a list of at most {MAX_DECISIONS} decisions", decisions)
        pairs = []
        for i, s in enumerate(spent):
            if not isinstance(s, list) or len(s) != 2:
                raise _bad(f"spent[{i}]", "a [time, cost] pair", s)
            when = _time({"v": s[0]}, "v", name=f"spent[{i}]")
            cost = _num({"v": s[1]}, "v", name=f"spent[{i}]", low=0.0, expected="a cost >= 0")
            pairs.append([when, cost])
        return cls(
            model=_str(data, "model"),
            alias=_str(data, "alias"),
            phase=phase,
            run=run,
            canary=canary,
            runs=[_time({"v": r}, "v", name=f"runs[{i}]") for i, r in enumerate(runs)],
            spent=pairs,
            last_run_at=_time(data, "last_run_at", optional=True),
            failures=_int(data, "failures"),
            backoff_until=_time(data, "backoff_until", optional=True),
            last_step_at=_time(data, "last_step_at", optional=True),
            decisions=[check_decision(d, i) for i, d in enumerate(decisions)],
            triggers=check_triggers(data.get("triggers", {})),
            trigger_failures=check_trigger_failures(data.get("trigger_failures", {})),
        )

    # -- files ---------------------------------------------------------------------------
    def save(self, path: Path) -> str:
        """Write atomically and durably: a fresh file, fsync, then a rename over ``path``.

        Returns the text written (the controller compares the file with it before its
        next write: one writer per state file).

        A new state file is created ``0600`` (owner only): it holds the decisions, their
        reasons and run ids, which an operator may not want others on the host to read.
        An existing one keeps its mode, so an operator who opened it up keeps it open.

        Raises
        ------
        ConfigError
            Naming the path and the OS's reason when the folder cannot be made or the file
            written; the state file already there is kept as it was.
        """
        text = json.dumps(self.to_dict(), allow_nan=False, sort_keys=True)
        make_folder(path.parent, "the RetrainController state folder", parameter="state_path")
        write_text(path, text, "the RetrainController state file", fsync=True, mode=0o600)
        return text

    @classmethod
    def load(cls, path: Path, text: str | None = None) -> RetrainState:
        """Read and validate a state file (``text``: its content, already read)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8") if text is None else text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RetrainStateError(
                f"cannot read the RetrainController state file "
                f"{short_repr(str(path), limit=PATH_QUOTE)}: {os_reason(err)}",
                field="state",
            ) from err
        return cls.from_dict(data)
