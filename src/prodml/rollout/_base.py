"""Shared machinery of rollout policies: a lock, a decision log and JSON round-trips."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from prodml._pickle import LockedState
from prodml._quote import short_repr
from prodml._state import check_format_version, load_json
from prodml.errors import PolicyError
from prodml.rollout._decision import Decision

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from prodml.rollout._gates import MetricStore

__all__ = ["FORMAT_VERSION", "MetricPolicy", "PolicyBase", "check_state"]

FORMAT_VERSION = 1
"""Version of the JSON state format written by every policy's ``to_dict``."""

_P = TypeVar("_P", bound="PolicyBase")

_WAITS = ("hold", "pause")
# A number in a reason ('9,999', '0.05', '1e-06'): reasons differing only there are one wait.
_NUMBER = re.compile(r"[-+]?\d[\d,_]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def check_state(data: Mapping[str, Any], kind: str) -> None:
    """Check that stored state was written by ``kind`` in a format this version reads."""
    if not isinstance(data, Mapping):
        raise PolicyError(f"Stored {kind} state must be a dict. Got {type(data).__name__}.")
    if data.get("type") != kind:
        raise PolicyError(f"Stored state is of type {short_repr(data.get('type'))}, not {kind!r}.")
    check_format_version(data.get("format_version"), FORMAT_VERSION, owner=kind, error=PolicyError)


class PolicyBase(LockedState):
    """A lock around mutations, an auditable decision log and JSON helpers.

    Policies pickle and deep-copy (without the lock; the copy gets its own).
    """

    _kind: ClassVar[str] = "PolicyBase"
    _JSON_PARAMS: ClassVar[tuple[str, ...]] = ()
    """The settings saved in ``to_dict()["params"]`` (gates, steps and clocks are not data)."""

    def __init__(self) -> None:
        # Re-entrant: evaluate() calls helpers that take the lock themselves.
        self._lock = threading.RLock()
        self._log: list[Decision] = []

    @property
    def decisions(self) -> list[Decision]:
        """Every decision taken so far, oldest first (a copy: the audit log)."""
        with self._lock:
            return list(self._log)

    def _record(self, decision: Decision) -> Decision:
        """Append ``decision`` to the log and return it.

        A ``hold`` or ``pause`` repeating an entry of the trailing run of holds and
        pauses (same action, same reason up to the numbers in it: ``"9,999 of 10,000
        samples"`` repeats ``"12 of 10,000 samples"``) replaces that entry, moved to the
        end with its evidence and time and a ``repeats`` count. So a service that
        evaluates after every request keeps one entry per kind of wait, not one per
        evaluation, and the log grows only with actual moves (advance, promote, ...).
        """
        log = self._log
        if decision.action in _WAITS:
            pattern = _NUMBER.sub("#", decision.reason)
            i = len(log) - 1
            while i >= 0 and log[i].action in _WAITS:
                last = log[i]
                if last.action == decision.action and _NUMBER.sub("#", last.reason) == pattern:
                    repeats = int(last.evidence.get("repeats", 1)) + 1
                    decision = Decision(
                        decision.action,
                        decision.reason,
                        {**decision.evidence, "repeats": repeats},
                        time=decision.time,
                    )
                    if i == len(log) - 1:
                        log[i] = decision
                    else:
                        del log[i]
                        log.append(decision)
                    return decision
                i -= 1
        log.append(decision)
        return decision

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every policy overrides
        """Return the full state as a JSON-safe dict."""
        raise NotImplementedError

    def to_json(self) -> str:
        """Return the full state as a JSON string (see ``to_dict``)."""
        return json.dumps(self.to_dict(), allow_nan=False, sort_keys=True)

    @classmethod
    def from_json(cls: type[_P], text: str, **kwargs: Any) -> _P:
        """Rebuild a policy from :meth:`to_json` output; ``kwargs`` go to ``from_dict``."""
        data = load_json(text, owner=cls._kind, error=PolicyError)
        builder: Callable[..., _P] = getattr(cls, "from_dict")  # noqa: B009 - typed hook
        return builder(data, **kwargs)

    def _params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._JSON_PARAMS}

    def _header(self) -> dict[str, Any]:
        return {"type": self._kind, "format_version": FORMAT_VERSION}

    def _log_to_list(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self._log]

    def _log_from_list(self, items: list[dict[str, Any]]) -> None:
        self._log = [Decision.from_dict(d) for d in items]


class MetricPolicy(PolicyBase):
    """A policy that collects per-variant metrics for its gates (canary, blue-green, A/B)."""

    _ready: bool
    _store: MetricStore

    def _setup(self) -> None:  # pragma: no cover - every policy overrides
        raise NotImplementedError

    def observe(self, variant: str, **metrics: float) -> None:
        """Record one request's metrics for ``variant`` (e.g. ``error_rate=0.0``).

        Raises
        ------
        PolicyError
            For an unknown variant or a NaN, infinite or non-numeric value.
        """
        if not self._ready:
            self._setup()
        with self._lock:
            self._store.observe(variant, metrics)

    def observe_many(self, variant: str, **metrics: ArrayLike) -> None:
        """Record many requests' metrics at once (equal-length arrays)."""
        if not self._ready:
            self._setup()
        with self._lock:
            self._store.observe_many(variant, metrics)

    def observe_summary(
        self,
        variant: str,
        count: int,
        means: Mapping[str, float],
        stds: Mapping[str, float] | None = None,
    ) -> None:
        """Record ``count`` requests from pre-aggregated means (and stds for non-rates)."""
        if not self._ready:
            self._setup()
        with self._lock:
            self._store.observe_summary(variant, count, means, stds)
