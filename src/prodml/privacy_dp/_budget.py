"""The privacy budget accountant: a total (epsilon, delta), spent release by release."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from prodml._pickle import LockedState
from prodml._state import Field, check_format_version, load_json
from prodml.errors import ConfigError, ProdMLError

__all__ = ["PrivacyBudget", "PrivacyBudgetError", "Spend"]

FORMAT_VERSION = 1
_SLACK = 1e-12  # relative: sums of floats that should meet the total exactly


class PrivacyBudgetError(ProdMLError, RuntimeError):
    """A release would spend more privacy budget than is left; nothing was released."""


@dataclass(frozen=True)
class Spend:
    """One entry of the ledger: what a release spent, with its label and time (UTC)."""

    label: str
    epsilon: float
    delta: float
    at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"label": self.label, "epsilon": self.epsilon, "delta": self.delta, "at": self.at}


def _sum(values: Iterable[float]) -> float:
    """The exact-then-rounded sum of ``values``; ``inf`` when it overflows the float range."""
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf


def _fits(total: float, limit: float) -> bool:
    """Whether ``total`` is at most ``limit`` give or take the relative tolerance.

    Written as a difference: ``limit * (1 + _SLACK)`` is ``inf`` for a limit near the
    largest float, which let any finite spend fit.
    """
    return total - limit <= limit * _SLACK


def _check_total(name: str, value: object, *, lo_open: bool, hi: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    try:
        x = float(value) if ok else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an int beyond the float range
        x = math.inf
    inside = (x > 0 if lo_open else x >= 0) and x < hi
    if not ok or not inside:
        bounds = "a float > 0" if hi == math.inf else f"a float in {'(' if lo_open else '['}0, 1)"
        shown = repr(value)[:40] if ok else type(value).__name__
        raise ConfigError(
            f"The {name!r} parameter of PrivacyBudget must be {bounds}. Got {shown} instead.",
            parameter=name,
        )
    return x


class PrivacyBudget(LockedState):
    """A total privacy budget and the ledger of what each release spent from it.

    Releases compose sequentially: their epsilons add up, and so do their deltas (basic
    composition, valid for any mix of mechanisms). A release that would go over either
    total is refused with :class:`PrivacyBudgetError` before any noise is drawn, and
    the ledger is left as it was. "Over" allows a relative tolerance of 1e-12, no more:
    float sums that meet a total on paper (0.1 + 0.2 against 0.3) fit, so the spent total
    can exceed the declared one by at most ``1e-12 * total`` (the ``exp(epsilon)`` bound
    on an attacker's odds grows by a factor ``exp(1e-12 * epsilon)``, nothing anyone could
    measure). Shared by threads under a lock: :meth:`spend` checks and records under it,
    so threads spending at once never overspend (those that do not fit get
    :class:`PrivacyBudgetError`); :meth:`can_spend` is only a hint. A pickle or
    ``copy.deepcopy`` is a separate ledger: spends on it do not count against this one.

    Parameters
    ----------
    epsilon
        Total epsilon, > 0.
    delta
        Total delta, in [0, 1); 0 allows only pure (Laplace) releases.

    Examples
    --------
    >>> budget = PrivacyBudget(epsilon=1.0)
    >>> budget.spend(0.75, label="site-a profile")
    >>> budget.remaining
    (0.25, 0.0)
    >>> try:
    ...     budget.spend(0.5, label="again")
    ... except PrivacyBudgetError as err:
    ...     print(type(err).__name__, budget.spent)
    PrivacyBudgetError (0.75, 0.0)
    >>> PrivacyBudget.from_json(budget.to_json()).spent
    (0.75, 0.0)
    """

    _new_lock = threading.Lock

    def __init__(self, epsilon: float, delta: float = 0.0) -> None:
        self.epsilon: float = _check_total("epsilon", epsilon, lo_open=True, hi=math.inf)
        self.delta: float = _check_total("delta", delta, lo_open=False, hi=1.0)
        self.ledger: list[Spend] = []
        self._lock = threading.Lock()

    @property
    def spent(self) -> tuple[float, float]:
        """(epsilon, delta) spent so far (``inf`` past the float range)."""
        return _sum(s.epsilon for s in self.ledger), _sum(s.delta for s in self.ledger)

    @property
    def remaining(self) -> tuple[float, float]:
        """(epsilon, delta) left, never below 0."""
        eps, dlt = self.spent
        return max(self.epsilon - eps, 0.0), max(self.delta - dlt, 0.0)

    def can_spend(self, epsilon: float, delta: float = 0.0) -> bool:
        """Whether a release of (epsilon, delta) fits in what is left."""
        eps, dlt = self.spent
        return _fits(eps + epsilon, self.epsilon) and _fits(dlt + delta, self.delta)

    def spend(self, epsilon: float, delta: float = 0.0, *, label: str = "release") -> None:
        """Record a release of (epsilon, delta), or refuse it.

        Raises
        ------
        PrivacyBudgetError
            When the release does not fit; the ledger is unchanged.
        ConfigError
            For epsilon <= 0 or delta outside [0, 1).
        """
        epsilon = _check_total("epsilon", epsilon, lo_open=True, hi=math.inf)
        delta = _check_total("delta", delta, lo_open=False, hi=1.0)
        label = str(label)[:200]
        with self._lock:
            if not self.can_spend(epsilon, delta):
                left = self.remaining
                raise PrivacyBudgetError(
                    f"{label!r} needs epsilon {epsilon!r}, delta {delta!r} but only epsilon "
                    f"{left[0]!r}, delta {left[1]!r} of the budget ({self.epsilon!r}, "
                    f"{self.delta!r}) is left; nothing was released"
                )
            at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self.ledger.append(Spend(label, epsilon, delta, at))

    # -- state -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: the totals and the ledger."""
        return {
            "format_version": FORMAT_VERSION,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "ledger": [s.to_dict() for s in self.ledger],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> PrivacyBudget:
        """Rebuild a budget saved by :meth:`to_dict`, validating it.

        Raises
        ------
        StateError
            (also a ConfigError) naming the field at fault: unknown version, totals out
            of range, a ledger entry with a negative or non-finite spend, or a ledger
            spending more than the totals.
        """
        root = Field(state, owner="PrivacyBudget")
        root.dict(keys=("format_version", "epsilon", "delta", "ledger"))
        check_format_version(root["format_version"].value, FORMAT_VERSION, owner="PrivacyBudget")
        eps = root["epsilon"].float(lo=0.0, lo_open=True)
        dlt = root["delta"].float(lo=0.0, hi=1.0, hi_open=True)
        out = cls(eps, dlt)
        for entry in root["ledger"].each(max_len=10_000_000):
            entry.dict(keys=("label", "epsilon", "delta", "at"))
            e = entry["epsilon"].float(lo=0.0, lo_open=True)
            d = entry["delta"].float(lo=0.0, hi=1.0, hi_open=True)
            at = entry["at"].str(max_len=64)
            try:
                datetime.fromisoformat(at)
            except ValueError:
                raise entry["at"].fail("an ISO 8601 time") from None
            out.ledger.append(Spend(entry["label"].str(max_len=200), e, d, at))
        root["ledger"].check(
            _fits(out.spent[0], eps) and _fits(out.spent[1], dlt),
            "a ledger spending at most the totals",
        )
        return out

    @classmethod
    def from_json(cls, text: str) -> PrivacyBudget:
        """Rebuild a budget saved by :meth:`to_json` (size- and depth-limited parsing)."""
        return cls.from_dict(load_json(text, owner="PrivacyBudget"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivacyBudget):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        eps, dlt = self.spent
        return (
            f"PrivacyBudget(epsilon={self.epsilon!r}, delta={self.delta!r}, "
            f"spent=({eps!r}, {dlt!r}), releases={len(self.ledger)})"
        )
