"""Shadow deployment: mirror a share of traffic to a candidate and compare, never serve it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from hashlib import blake2b
from typing import Any, Literal, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from prodml._params import Interval, TypeOf, check_params
from prodml._quote import short_repr
from prodml.errors import PolicyError
from prodml.rollout import _load
from prodml.rollout._base import PolicyBase
from prodml.rollout._decision import Action, Decision, listing, not_passed
from prodml.rollout._gates import Gate, MetricStore
from prodml.rollout._hashing import SPACE, Key, key_bytes
from prodml.rollout._limits import (
    MAX_GATES,
    MAX_NAME,
    MAX_SALT,
    check_clock,
    check_name,
    check_size,
)
from prodml.rollout._summary import check_value, check_values

__all__ = ["Shadow", "ShadowReport"]

ShadowState = Literal["running", "promoted", "rolled_back"]
_STATES = ("running", "promoted", "rolled_back")
_END: dict[str, ShadowState] = {"promote": "promoted", "rollback": "rolled_back"}

_AGREEMENT = "agreement"
_ABS_DIFF = "abs_diff"
_LATENCY = "latency"


class ShadowReport(TypedDict):
    """What :meth:`Shadow.report` returns (a dict): NaN where nothing was compared yet."""

    compared: int
    agreement: float
    mean_abs_diff: float
    latency: dict[str, float]


class Shadow(PolicyBase):
    """Send a copy of some requests to a candidate and compare its answers and latency.

    :meth:`route` always answers ``primary``: the candidate's output is only compared,
    never served. :meth:`should_mirror` says (sticky, by salted hash) whether to also
    call the candidate for a key; the service then reports both answers with
    :meth:`compare`. Two outputs *agree* when they are equal, or for numbers when
    ``|a - b| <= tolerance``; numeric outputs also feed the mean absolute difference.

    :meth:`evaluate` tests the gates on the candidate's comparison metrics: by default
    the agreement rate must be at least ``min_agreement``; add gates on ``"abs_diff"``
    or ``"latency"`` (for example ``Gate("latency", ratio=1.2)`` against the primary).
    All pass: ``promote`` (the candidate is fit for a canary); a gate fails:
    ``rollback`` (stop mirroring); otherwise ``hold``.

    ``promote`` and ``rollback`` end the shadow, as they end a
    :class:`~prodml.rollout.Canary`: :attr:`state` becomes ``"promoted"`` or
    ``"rolled_back"``, :meth:`should_mirror` answers ``False`` for every key, and
    :meth:`evaluate` returns that final decision again without testing or logging
    anything. :meth:`compare`, :meth:`compare_many` and :meth:`observe` still check and
    record late answers (requests mirrored before the end), so :meth:`report` stays
    complete; they never change the decision.

    Parameters
    ----------
    primary, shadow
        Names of the serving model and the candidate (at most 1000 characters each).
    mirror
        Share of keys mirrored to the candidate, in [0, 1].
    min_agreement
        Lower bound on the agreement rate (``None``: no agreement gate).
    tolerance
        Numeric outputs within this absolute distance agree.
    gates
        Extra gates on ``"agreement"``, ``"abs_diff"`` or ``"latency"`` (at most 1000).
    alpha, min_samples, sequential
        As in :class:`~prodml.rollout.Canary`.
    salt
        Salt of the mirroring hash (at most 10,000 characters).
    clock
        Callable returning finite seconds, stamped on decisions.

    Examples
    --------
    >>> sh = Shadow(mirror=0.5, min_agreement=0.9, tolerance=0.01, clock=lambda: 0.0)
    >>> sh.route("user-7"), sum(sh.should_mirror(f"user-{i}") for i in range(1000))
    ('primary', 485)
    >>> sh.compare_many(
    ...     [1.0] * 400, [1.001] * 400, primary_latency=[10.0] * 400, shadow_latency=[12.0] * 400
    ... )
    >>> report = sh.report()
    >>> report["agreement"], round(report["mean_abs_diff"], 6), report["latency"]["shadow"]
    (1.0, 0.001, 12.0)
    >>> sh.evaluate().action, sh.state, sh.should_mirror("user-7")
    ('promote', 'promoted', False)
    """

    _kind = "Shadow"
    # The promote or rollback that ended the shadow; the state derives from it. A class
    # default, so shadows pickled before they had an end load as running.
    _final: Decision | None = None
    _JSON_PARAMS = (
        "mirror",
        "min_agreement",
        "tolerance",
        "alpha",
        "min_samples",
        "sequential",
        "salt",
    )

    def __init__(
        self,
        primary: str = "primary",
        shadow: str = "shadow",
        *,
        mirror: float = 0.1,
        min_agreement: float | None = 0.99,
        tolerance: float = 0.0,
        gates: Sequence[Gate] = (),
        alpha: float = 0.05,
        min_samples: int = 100,
        sequential: bool = True,
        salt: str = "",
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.primary = primary
        self.shadow = shadow
        self.mirror = mirror
        self.min_agreement = min_agreement
        self.tolerance = tolerance
        self.gates = gates
        self.alpha = alpha
        self.min_samples = min_samples
        self.sequential = sequential
        self.salt = salt
        self.clock = clock
        self._ready = False
        self._final = None

    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            check_params(
                "Shadow",
                {**self._params(), "primary": self.primary, "shadow": self.shadow},
                {
                    "primary": [TypeOf(str, "a str")],
                    "shadow": [TypeOf(str, "a str")],
                    "mirror": [Interval(float, 0, 1)],
                    "min_agreement": [Interval(float, 0, 1), TypeOf(type(None), "None")],
                    "tolerance": [Interval(float, 0, None)],
                    "alpha": [Interval(float, 0, 1, "neither")],
                    "min_samples": [Interval(int, 1, None)],
                    "sequential": [TypeOf(bool, "a bool")],
                    "salt": [TypeOf(str, "a str")],
                },
            )
            check_name("Shadow", "primary", self.primary)
            check_name("Shadow", "shadow", self.shadow)
            check_size("Shadow", "salt", self.salt, MAX_SALT, "characters")
            if self.primary == self.shadow:
                raise PolicyError(
                    f"Shadow: primary and shadow are both {short_repr(self.primary)}."
                )
            gates = list(self.gates)
            check_size("Shadow", "gates", gates, MAX_GATES)
            for g in gates:
                if not isinstance(g, Gate) or g.metric not in (_AGREEMENT, _ABS_DIFF, _LATENCY):
                    raise PolicyError(
                        "Shadow: gates must be Gate objects on 'agreement', 'abs_diff' or "
                        f"'latency'. Got {short_repr(g)}."
                    )
            if self.min_agreement is not None:
                gates.insert(
                    0, Gate(_AGREEMENT, threshold=self.min_agreement, higher_is_better=True)
                )
            self._gates = tuple(gates)
            self._store = MetricStore((self.primary, self.shadow), self._gates)
            try:
                self._salt = self.salt.encode() + b"\x1f"
            except UnicodeEncodeError:  # a lone surrogate ("\udcff" read from JSON)
                raise PolicyError(
                    "Shadow: salt must be valid Unicode text (it holds a lone surrogate)."
                ) from None
            self._cut = round(float(self.mirror) * SPACE)
            self._ready = True

    @property
    def state(self) -> ShadowState:
        """``running``, or ``promoted`` / ``rolled_back`` once :meth:`evaluate` decided."""
        return "running" if self._final is None else _END[self._final.action]

    # -- traffic -----------------------------------------------------------------------
    def route(self, key: Key) -> str:
        """Return ``primary``: the shadow never serves."""
        if not self._ready:
            self._setup()
        return self.primary

    def should_mirror(self, key: Key) -> bool:
        """Whether to also send ``key``'s request to the shadow (sticky per key).

        Always ``False`` once the shadow has ended (promoted or rolled back).
        """
        if not self._ready:
            self._setup()
        if self._final is not None:
            return False
        try:
            data = key.encode() if type(key) is str else key_bytes(key)
        except UnicodeEncodeError:  # a lone surrogate: key_bytes encodes it
            data = key_bytes(key)
        return int.from_bytes(blake2b(self._salt + data, digest_size=8).digest(), "big") < self._cut

    def _agree(self, a: object, b: object) -> tuple[float, float | None]:
        if isinstance(a, int | float) and isinstance(b, int | float):
            x = check_value(self.primary, "output", a)
            y = check_value(self.shadow, "output", b)
            diff = abs(x - y)
            return float(diff <= self.tolerance), diff
        if _vector(a) or _vector(b):
            return self._agree_vectors(a, b)
        try:
            return float(bool(a == b)), None
        except (TypeError, ValueError) as err:  # an == that is not a truth value
            raise PolicyError(
                f"Shadow.compare cannot compare {type(a).__name__} and {type(b).__name__} "
                "outputs; pass numbers, equal-length numeric vectors or comparable values."
            ) from err

    def _agree_vectors(self, a: object, b: object) -> tuple[float, float | None]:
        """Numeric vectors (probabilities per class, say): agree when every entry does."""
        try:
            x = np.asarray(a, dtype=np.float64)
            y = np.asarray(b, dtype=np.float64)
        except OverflowError:  # an int beyond the float range
            raise PolicyError("Shadow.compare: outputs must be finite numbers.") from None
        except (TypeError, ValueError):
            return float(_safe_equal(a, b)), None
        if x.shape != y.shape:
            raise PolicyError(
                f"Shadow.compare: the primary output has shape {x.shape} and the shadow "
                f"output {y.shape}; they must match."
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise PolicyError("Shadow.compare: outputs must be finite numbers.")
        diff = float(np.max(np.abs(x - y))) if x.size else 0.0
        return float(diff <= self.tolerance), diff

    def compare(
        self,
        primary_output: object,
        shadow_output: object,
        *,
        primary_latency: float | None = None,
        shadow_latency: float | None = None,
    ) -> bool:
        """Record one mirrored request; return whether the outputs agree.

        Numbers agree within ``tolerance``; numeric vectors (lists, tuples, arrays) of the
        same shape agree when every entry does (the largest difference is recorded);
        other values agree when they are equal.

        Raises
        ------
        PolicyError
            For vectors of different shapes, non-finite numbers, or values that cannot
            be compared.
        """
        self._setup()
        agree, diff = self._agree(primary_output, shadow_output)
        metrics: dict[str, float] = {_AGREEMENT: agree}
        if diff is not None:
            metrics[_ABS_DIFF] = diff
        if shadow_latency is not None:
            metrics[_LATENCY] = shadow_latency
        with self._lock:
            if primary_latency is not None:
                self._store.observe(self.primary, {_LATENCY: primary_latency})
            self._store.observe(self.shadow, metrics)
        return agree == 1.0

    def compare_many(
        self,
        primary_outputs: ArrayLike,
        shadow_outputs: ArrayLike,
        *,
        primary_latency: ArrayLike | None = None,
        shadow_latency: ArrayLike | None = None,
    ) -> None:
        """Record many mirrored requests (numeric outputs, compared with ``tolerance``)."""
        self._setup()
        # As compare: finite numbers, or a PolicyError naming the variant and position.
        a = check_values(self.primary, "output", primary_outputs)
        b = check_values(self.shadow, "output", shadow_outputs)
        if a.size != b.size:
            raise PolicyError(f"Shadow.compare_many: {a.size} primary and {b.size} shadow outputs.")
        diff = np.abs(a - b)
        metrics: dict[str, ArrayLike] = {
            _AGREEMENT: (diff <= self.tolerance).astype(np.float64),
            _ABS_DIFF: diff,
        }
        if shadow_latency is not None:
            metrics[_LATENCY] = shadow_latency
        with self._lock:
            if primary_latency is not None:
                self._store.observe_many(self.primary, {_LATENCY: primary_latency})
            self._store.observe_many(self.shadow, metrics)

    def observe(self, variant: str, **metrics: float) -> None:
        """Record other per-request metrics (e.g. ``latency=12.5``) for either variant."""
        if not self._ready:
            self._setup()
        with self._lock:
            self._store.observe(variant, metrics)

    # -- results -----------------------------------------------------------------------
    def report(self) -> ShadowReport:
        """Agreement rate, mean absolute difference and mean latency per variant."""
        if not self._ready:
            self._setup()
        with self._lock:
            agree = self._store.get(self.shadow, _AGREEMENT)
            diff = self._store.get(self.shadow, _ABS_DIFF)
            lat = {v: self._store.get(v, _LATENCY) for v in (self.primary, self.shadow)}
            return {
                "compared": agree.n,
                "agreement": agree.mean if agree.n else math.nan,
                "mean_abs_diff": diff.mean if diff.n else math.nan,
                "latency": {v: s.mean if s.n else math.nan for v, s in lat.items()},
            }

    def evaluate(self) -> Decision:
        """Test the gates on the comparisons so far and decide (logged).

        Once a decision was ``promote`` or ``rollback``, return that decision again:
        the shadow has ended and decides nothing more.
        """
        if not self._ready:
            self._setup()
        with self._lock:
            if self._final is not None:
                return self._final
            results = [
                self._store.evaluate(
                    g,
                    self.shadow,
                    self.primary,
                    alpha=self.alpha,
                    min_samples=self.min_samples,
                    sequential=self.sequential,
                )
                for g in self._gates
            ]
            evidence = {**self.report(), "gates": results}
            failed = [r["gate"] for r in results if r["verdict"] == "fail"]
            action: Action
            if failed:
                action, reason = "rollback", f"shadow failed: {listing(failed)}"
            elif not results:
                action, reason = "hold", "no gates to check"
            elif all(r["verdict"] == "pass" for r in results):
                action, reason = "promote", "shadow passed every gate"
            else:
                action, reason = "hold", f"gates not passed yet: {not_passed(results)}"
            now = check_clock("Shadow", (self.clock or time.time)())
            decision = self._record(Decision(action, reason, evidence, time=now))
            if action in _END:
                self._final = decision
            return decision

    # -- state -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return settings, comparison summaries and the decision log (JSON-safe)."""
        if not self._ready:
            self._setup()
        with self._lock:
            return {
                **self._header(),
                "primary": self.primary,
                "shadow": self.shadow,
                "params": self._params(),
                "gates": [g.to_dict() for g in self.gates],
                "state": self.state,
                "metrics": self._store.to_dict(),
                "log": self._log_to_list(),
            }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, clock: Callable[[], float] | None = None
    ) -> Shadow:
        """Rebuild a shadow policy written by :meth:`to_dict`.

        A state saved before shadows had an end (no ``"state"`` field) ends at the last
        ``promote`` or ``rollback`` of its log, if any.
        """
        top = _load.root(data, cls._kind)
        keys = ("type", "format_version", "primary", "shadow", "params", "gates", "metrics", "log")
        has_state = isinstance(data, Mapping) and "state" in data
        top.dict(keys=(*keys, "state") if has_state else keys)
        primary, shadow = top["primary"].str(max_len=MAX_NAME), top["shadow"].str(max_len=MAX_NAME)
        gates = [_load.gate(g) for g in top["gates"].each(max_len=MAX_GATES)]
        params = _load.params(top["params"])
        sh = _load.build(
            top["params"], lambda: cls(primary, shadow, gates=gates, clock=clock, **params)
        )
        _load.build(top, sh._setup)
        _load.metric_store(sh._store, top["metrics"])
        sh._log = _load.decision_log(top["log"])
        ends = [d for d in sh._log if d.action in _END]
        final = ends[-1] if ends else None
        state = _END[final.action] if final is not None else "running"
        if has_state:
            saved = top["state"].str(choices=_STATES)
            top["state"].check(
                saved == state,
                f"{state!r}, as the log says (its last promote or rollback)"
                if final is not None
                else "'running' (the log holds no promote or rollback)",
            )
        sh._final = final
        return sh


def _vector(x: object) -> bool:
    return isinstance(x, np.ndarray | list | tuple)


def _safe_equal(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
