"""The outcome of evaluating a rollout policy, with the evidence behind it.

A :class:`Decision` is what a service acts on (advance the canary, promote, roll back)
and what an auditor reads later: every decision a policy takes is appended to its
decision log with the metric values, intervals and sample sizes that led to it.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from prodml._quote import cut, short_repr
from prodml.errors import PolicyError

__all__ = [
    "ACTIONS",
    "MAX_EVIDENCE_DEPTH",
    "MAX_REASON",
    "MAX_STORED_REASON",
    "Action",
    "Decision",
    "jsonable",
    "listing",
    "operator_reason",
]

Action = Literal["advance", "hold", "promote", "rollback", "pause"]
ACTIONS: tuple[str, ...] = get_args(Action)
"""Every action a policy can decide: ``advance``, ``hold``, ``promote``, ``rollback``, ``pause``."""


MAX_REASON = 1000
"""Characters of an operator's ``reason`` a decision keeps (longer text is cut, ``...``)."""

MAX_STORED_REASON = 100_000
"""Longest reason a :class:`Decision` holds: the cap the saved-state loader applies."""

_MAX = sys.float_info.max  # a finite time, also for an int (NaN fails the comparison)
_MAX_LISTING = 10_000  # characters of a generated list (failed gates...) in a reason


def operator_reason(reason: object, owner: str) -> str:
    """An operator's ``reason`` for a manual action, made safe to log and to save.

    Every rollout policy's manual actions (``Canary.pause/resume/promote/rollback/
    conclude``, ``BlueGreen.switch/rollback``) pass their ``reason`` through here before
    they change anything. Control characters become spaces, anything that looks like
    personal data becomes ``<redacted>``, and text longer than :data:`MAX_REASON`
    characters is cut (ending in ``...``): an operator is never blocked from rolling
    back by a long reason.

    Raises
    ------
    PolicyError
        For a reason that is not a str, or is empty or blank.

    Examples
    --------
    >>> operator_reason("  paged by ann@example.com  ", "Canary")
    'paged by <redacted>'
    >>> len(operator_reason("x" * 5000, "Canary"))
    1000
    """
    if not isinstance(reason, str) or not reason.strip():
        raise PolicyError(
            f"{owner}: reason must be a non-empty str. Got {short_repr(reason)} instead."
        )
    from prodml.privacy import clean_note  # noqa: PLC0415 - pydantic, loaded on use

    return clean_note(reason, MAX_REASON)


def listing(items: list[str]) -> str:
    """``items`` joined by ``"; "`` for a generated reason, cut to a bounded length.

    Gate descriptions quote metric names of any length; a reason listing a thousand of
    them must still fit in a saved decision (:data:`MAX_STORED_REASON`).
    """
    return cut("; ".join(items), _MAX_LISTING)


def not_passed(results: list[dict[str, Any]]) -> str:
    """The gates of ``results`` that did not pass, as ``"name (verdict)"``, listed.

    A hold's reason says which gates it still waits for, and on what.
    """
    return listing([f"{r['gate']} ({r['verdict']})" for r in results if r["verdict"] != "pass"])


MAX_EVIDENCE_DEPTH = 32
"""Deepest nesting of dicts and lists in evidence: saved state holds evidence inside a
decision log inside a policy's (or a controller's) state, under the loader's limit of
:data:`prodml._state.MAX_DEPTH` (64) levels in all."""


def jsonable(value: Any) -> Any:
    """Return ``value`` with numpy scalars unwrapped and non-finite floats as ``None``.

    Evidence goes into JSON logs; ``NaN`` is not valid JSON, so an undefined number
    (a ratio with no baseline) is written as ``null``.

    Raises
    ------
    PolicyError
        For dicts and lists nested deeper than :data:`MAX_EVIDENCE_DEPTH` (a structure
        that contains itself among them): saved, it would not load back.
    """
    return _jsonable(value, 0)


def _jsonable(value: Any, depth: int) -> Any:
    t = type(value)
    if t is float:
        return value if math.isfinite(value) else None
    if t is int or t is str or t is bool or value is None:
        return value
    if isinstance(value, Mapping | list | tuple):
        if depth >= MAX_EVIDENCE_DEPTH:
            raise PolicyError(
                f"Evidence is nested more than {MAX_EVIDENCE_DEPTH} levels deep (or contains "
                "itself); saved state could not load it back. Flatten what the gate reports."
            )
        if isinstance(value, Mapping):
            return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item"):  # numpy scalar
        return _jsonable(value.item(), depth)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


@dataclass(frozen=True)
class Decision:
    """What a policy decided, why, and on which numbers.

    Parameters
    ----------
    action
        One of ``advance``, ``hold``, ``promote``, ``rollback``, ``pause``.
    reason
        One sentence a person can read in an incident review: a str of at most
        :data:`MAX_STORED_REASON` (100,000) characters, the most a saved decision log
        holds. Policies cut an operator's reason to :data:`MAX_REASON` characters.
    evidence
        JSON-safe details: per-gate estimates, intervals, sample sizes, step, weights.
    time
        Clock reading (seconds) when the decision was taken.

    Examples
    --------
    >>> d = Decision("hold", "waiting for 1000 samples", {"n": 12}, time=5.0)
    >>> d.action, Decision.from_dict(d.to_dict()) == d
    ('hold', True)
    """

    action: Action
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    time: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.action, str) or self.action not in ACTIONS:
            raise PolicyError(
                f"A decision's action must be one of {ACTIONS}. Got {short_repr(self.action)}."
            )
        if not isinstance(self.reason, str) or len(self.reason) > MAX_STORED_REASON:
            raise PolicyError(
                f"A decision's reason must be a str of at most {MAX_STORED_REASON} characters. "
                f"Got {short_repr(self.reason)}."
            )
        t: object = self.time  # checked at run time: callers pass what their clock gave
        if t is not None:
            ok = isinstance(t, numbers.Real) and not isinstance(t, bool)
            if not (ok and -_MAX <= t <= _MAX):  # type: ignore[operator]  # a Real: ordered
                raise PolicyError(
                    f"A decision's time must be a finite number or None. Got {short_repr(t)}."
                )
            object.__setattr__(self, "time", float(t))  # type: ignore[arg-type]
        object.__setattr__(self, "evidence", jsonable(dict(self.evidence)))

    @property
    def is_terminal(self) -> bool:
        """Whether the action ends the rollout (``promote`` or ``rollback``)."""
        return self.action in ("promote", "rollback")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "action": self.action,
            "reason": self.reason,
            "evidence": self.evidence,
            "time": self.time,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Rebuild a decision written by :meth:`to_dict`, validating it.

        Raises
        ------
        StateError
            (also a PolicyError) naming the field at fault.
        """
        from prodml._state import Field  # noqa: PLC0415 - _load imports this module
        from prodml.rollout._load import decision  # noqa: PLC0415

        return decision(Field(data, owner="Decision", error=PolicyError))
