"""The privacy budget accountant: a total (epsilon, delta), spent release by release.

Amounts are added exactly: each epsilon and delta counts as the shortest decimal that
reads back as the same float (what ``repr`` prints, so ``0.1`` is one tenth), summed in
decimal without rounding. The releases of this package calibrate their noise so that
OpenDP's privacy loss is at most that decimal (:func:`~prodml.privacy_dp.calibrate`).
"""

from __future__ import annotations

import hmac
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np

from prodml._pickle import LockedState
from prodml._state import Field, check_format_version, load_json
from prodml.errors import ConfigError, ProdMLError
from prodml.privacy_dp._amounts import ZERO, add, decimal_floor, exact, subtract
from prodml.privacy_dp._integrity import KEY_ENV, BudgetIntegrityError, mac_of, resolve_key

__all__ = ["BudgetIntegrityError", "PrivacyBudget", "PrivacyBudgetError", "Spend"]

FORMAT_VERSION = 1
MAC_FORMAT_VERSION = 2  # the state carries a MAC (written only with a key)


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


def _as_float(x: Decimal) -> float:
    return float(x)  # inf past the float range


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


def _check_amount(name: str, value: object) -> float:
    """An amount asked about by :meth:`PrivacyBudget.can_spend`: a number >= 0 (or inf)."""
    number = isinstance(value, int | float | np.integer | np.floating)
    ok = number and not isinstance(value, bool)
    try:
        x = float(value) if ok else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an int beyond the float range: far too much to fit
        x = math.inf
    if not ok or not x >= 0:
        shown = repr(value)[:40] if ok else type(value).__name__
        raise ConfigError(
            f"The {name!r} parameter of PrivacyBudget.can_spend must be a float >= 0. "
            f"Got {shown} instead.",
            parameter=name,
        )
    return x


class PrivacyBudget(LockedState):
    """A total privacy budget and the ledger of what each release spent from it.

    Releases compose sequentially: their epsilons add up, and so do their deltas (basic
    composition, valid for any mix of mechanisms). A release that would go over either
    total is refused with :class:`PrivacyBudgetError` before any noise is drawn, and
    the ledger is left as it was. The sums are exact, with no tolerance: every amount
    counts as the decimal it prints as (``0.1`` is one tenth, so ten spends of ``0.1``
    fill a total of ``1.0`` and nothing more fits), added without rounding; the spends granted
    never add up to more than the total. Shared by threads under a lock: :meth:`spend`
    checks and records under it, so threads spending at once never overspend (those that
    do not fit get :class:`PrivacyBudgetError`); :meth:`can_spend` is only a hint. A
    pickle or ``copy.deepcopy`` is a separate ledger: spends on it do not count against
    this one.

    Saved with a key (:meth:`to_json`'s ``key=`` or the environment variable
    ``PRODML_BUDGET_KEY``), the state carries an HMAC-SHA256 that :meth:`from_json`
    checks, so a ledger edited by whoever can write the file is refused
    (:class:`BudgetIntegrityError`); pin :attr:`releases` with ``min_releases=`` to refuse
    an older copy put back.

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
    >>> key = "a secret of 32 bytes, not this one"
    >>> text = budget.to_json(key=key)
    >>> PrivacyBudget.from_json(text, key=key, min_releases=budget.releases).spent
    (0.75, 0.0)
    >>> try:
    ...     PrivacyBudget.from_json(text.replace("0.75", "0.05"), key=key)
    ... except BudgetIntegrityError as err:
    ...     print(type(err).__name__)
    BudgetIntegrityError
    """

    _new_lock = threading.Lock

    def __init__(self, epsilon: float, delta: float = 0.0) -> None:
        self.epsilon: float = _check_total("epsilon", epsilon, lo_open=True, hi=math.inf)
        self.delta: float = _check_total("delta", delta, lo_open=False, hi=1.0)
        self._ledger: list[Spend] = []
        self._spent: tuple[Decimal, Decimal] = (ZERO, ZERO)
        self._lock = threading.Lock()

    @property
    def ledger(self) -> list[Spend]:
        """The spends so far, oldest first (a copy: the ledger changes only by :meth:`spend`)."""
        return list(self._ledger)

    @property
    def releases(self) -> int:
        """Number of spends recorded: it only grows, so it can be pinned against rollback."""
        return len(self._ledger)

    @property
    def spent(self) -> tuple[float, float]:
        """(epsilon, delta) spent so far, each the float nearest the exact sum."""
        return _as_float(self._spent[0]), _as_float(self._spent[1])

    @property
    def remaining(self) -> tuple[float, float]:
        """(epsilon, delta) left, rounded down: spending exactly this always fits."""
        eps, dlt = self._spent
        return (
            decimal_floor(subtract(exact(self.epsilon), eps)),
            decimal_floor(subtract(exact(self.delta), dlt)),
        )

    def can_spend(self, epsilon: float, delta: float = 0.0) -> bool:
        """Whether a release of (epsilon, delta) fits in what is left.

        An amount too large to fit (infinity included) gives ``False``.

        Raises
        ------
        ConfigError
            For an amount that is not a number (a str such as ``"0.1"``, a bool, None),
            NaN or negative, as :meth:`spend` refuses it.
        """
        e = exact(_check_amount("epsilon", epsilon))
        d = exact(_check_amount("delta", delta))
        if not (e.is_finite() and d.is_finite()):
            return False
        eps, dlt = self._spent
        return add(eps, e) <= exact(self.epsilon) and add(dlt, d) <= exact(self.delta)

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
            self._record(Spend(label, epsilon, delta, at))

    def _record(self, entry: Spend) -> None:
        self._ledger.append(entry)
        eps, dlt = self._spent
        self._spent = (add(eps, exact(entry.epsilon)), add(dlt, exact(entry.delta)))

    # -- state -------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "ledger": [s.to_dict() for s in self._ledger],
        }

    def to_dict(self, *, key: str | bytes | None = None) -> dict[str, Any]:
        """JSON-safe state: the totals and the ledger, with a MAC when there is a key.

        Parameters
        ----------
        key
            Secret of at least 16 bytes; ``None`` reads ``PRODML_BUDGET_KEY``. With a
            key the state is written as ``format_version`` 2 with ``mac``, the
            HMAC-SHA256 of the rest; without one, as format 1 (no MAC). The key itself
            is never written.
        """
        state = self._state()
        raw = resolve_key(key, "PrivacyBudget.to_dict")
        if raw is not None:
            state["format_version"] = MAC_FORMAT_VERSION
            mac = mac_of(raw, state)
            assert mac is not None  # noqa: S101 - our own state is JSON-safe
            state["mac"] = mac
        return state

    def to_json(self, *, key: str | bytes | None = None) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(key=key), allow_nan=False)

    @classmethod
    def from_dict(
        cls,
        state: Mapping[str, Any],
        *,
        key: str | bytes | None = None,
        min_releases: int | None = None,
    ) -> PrivacyBudget:
        """Rebuild a budget saved by :meth:`to_dict`, checking its MAC, then validating it.

        Parameters
        ----------
        state
            What :meth:`to_dict` returned.
        key
            The key the state was saved with; ``None`` reads ``PRODML_BUDGET_KEY``. With
            a key, a state without a MAC is refused (stripping the MAC is an edit too).
        min_releases
            Refuse a state holding fewer releases than this: the :attr:`releases` you
            kept from the last save, so an older, valid copy put back is refused.

        Raises
        ------
        BudgetIntegrityError
            (also a StateError) when the MAC does not match, is missing while a key is
            given, or a MAC-protected state is loaded without a key, or the state holds
            fewer than ``min_releases`` releases. Messages never show the key or the MAC.
        StateError
            (also a ConfigError) naming the field at fault: unknown version, totals out
            of range, a ledger entry with a negative or non-finite spend, or a ledger
            spending more than the totals.
        """
        pinned = _check_min_releases(min_releases)
        root = Field(state, owner="PrivacyBudget")
        body = root.dict()
        version = check_format_version(
            root["format_version"].value, (FORMAT_VERSION, MAC_FORMAT_VERSION),
            owner="PrivacyBudget",
        )  # fmt: skip
        _verify(body, version, resolve_key(key, "PrivacyBudget.from_dict"))
        keys = ("format_version", "epsilon", "delta", "ledger")
        root.dict(keys=(*keys, "mac") if version == MAC_FORMAT_VERSION else keys)
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
            out._record(Spend(entry["label"].str(max_len=200), e, d, at))
        spent_eps, spent_dlt = out._spent
        root["ledger"].check(
            spent_eps <= exact(eps) and spent_dlt <= exact(dlt),
            "a ledger spending at most the totals",
        )
        if out.releases < pinned:
            raise BudgetIntegrityError(
                f"PrivacyBudget state holds {out.releases} release(s), fewer than the "
                f"min_releases={pinned} pinned: it is an older copy of the ledger (rolled "
                "back), or not this budget's; nothing was loaded",
                path="ledger",
                owner="PrivacyBudget",
            )
        return out

    @classmethod
    def from_json(
        cls, text: str, *, key: str | bytes | None = None, min_releases: int | None = None
    ) -> PrivacyBudget:
        """Rebuild a budget saved by :meth:`to_json` (size- and depth-limited parsing).

        ``key`` and ``min_releases`` as in :meth:`from_dict`.
        """
        return cls.from_dict(
            load_json(text, owner="PrivacyBudget"), key=key, min_releases=min_releases
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivacyBudget):
            return NotImplemented
        return self._state() == other._state()

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        eps, dlt = self.spent
        return (
            f"PrivacyBudget(epsilon={self.epsilon!r}, delta={self.delta!r}, "
            f"spent=({eps!r}, {dlt!r}), releases={self.releases})"
        )


def _check_min_releases(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            "The 'min_releases' parameter of PrivacyBudget.from_dict must be an int >= 0 "
            f"or None. Got {repr(value)[:40]} instead.",
            parameter="min_releases",
        )
    return value


def _verify(body: Mapping[str, Any], version: int, key: bytes | None) -> None:
    """Refuse a state whose MAC is missing, unexpected or wrong (before reading it)."""
    where = f"(pass key= or set {KEY_ENV})"
    if version == FORMAT_VERSION:
        if key is not None:
            raise BudgetIntegrityError(
                "PrivacyBudget state has no MAC but a key was given: it was saved without "
                "a key, or its MAC was stripped. If you trust it, load it once without a "
                f"key (unset {KEY_ENV}) and save it with one; nothing was loaded",
                path="mac",
                owner="PrivacyBudget",
            )
        return
    if key is None:
        raise BudgetIntegrityError(
            "PrivacyBudget state is protected by a MAC (format_version 2) but no key was "
            f"given {where}; nothing was loaded",
            path="mac",
            owner="PrivacyBudget",
        )
    given = body.get("mac")
    expected = mac_of(key, {k: v for k, v in body.items() if k != "mac"})
    text = given.encode("ascii", "replace") if isinstance(given, str) else b""
    if expected is None or not hmac.compare_digest(text, expected.encode("ascii")):
        raise BudgetIntegrityError(
            "PrivacyBudget state does not match its MAC: it was changed after it was "
            "saved, or saved with another key; nothing was loaded",
            path="mac",
            owner="PrivacyBudget",
        )
