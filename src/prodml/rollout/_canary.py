"""Canary rollout: a candidate takes growing shares of traffic while guardrails hold."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from prodml._params import Interval, OneOf, TypeOf, check_params
from prodml._quote import short_repr
from prodml._state import Field
from prodml.errors import PolicyError
from prodml.rollout import _load
from prodml.rollout._base import MetricPolicy
from prodml.rollout._decision import Action, Decision, listing, not_passed, operator_reason
from prodml.rollout._gates import CustomGate, Gate, MetricStore
from prodml.rollout._hashing import Key
from prodml.rollout._limits import MAX_GATES, MAX_SALT, MAX_STEPS, check_clock, check_size
from prodml.rollout._router import Router

__all__ = ["DEFAULT_GATES", "DEFAULT_STEPS", "Canary", "Step"]

CanaryState = Literal["running", "paused", "promoted", "rolled_back"]


_STATES = ("running", "paused", "promoted", "rolled_back")


@dataclass(frozen=True)
class Step:
    """One step of a canary: the candidate's share and how long to watch it.

    Parameters
    ----------
    weight
        Share of traffic routed to the candidate, in (0, 1].
    min_samples
        Candidate requests to observe during this step before it may advance.
    min_duration
        Seconds to stay at this step before it may advance.
    """

    weight: float
    min_samples: int = 1000
    min_duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the step as a JSON-safe dict."""
        return asdict(self)


DEFAULT_STEPS = (Step(0.05), Step(0.25), Step(0.5))
"""5 %, 25 %, 50 % of traffic, 1000 candidate requests each, then promote."""

DEFAULT_GATES = (Gate("error_rate", ratio=1.1),)
"""Candidate error rate at most 1.1 x the baseline's."""


def _as_step(step: object, i: int) -> Step:
    if isinstance(step, Step):
        s = step
    elif isinstance(step, Mapping):
        try:
            s = Step(**step)
        except TypeError as err:
            raise PolicyError(f"Canary: step {i} is not a valid step: {err}.") from err
    elif isinstance(step, int | float) and not isinstance(step, bool):
        s = Step(float(step))
    else:
        raise PolicyError(
            f"Canary: step {i} must be a Step, a dict or a weight. Got {short_repr(step)}."
        )
    try:
        check_params(
            f"Canary step {i}",
            asdict(s),
            {
                "weight": [Interval(float, 0, 1, "right")],
                "min_samples": [Interval(int, 0, None)],
                "min_duration": [Interval(float, 0, None)],
            },
        )
    except ValueError as err:
        raise PolicyError(str(err)) from err
    return s


class Canary(MetricPolicy):
    """Shift traffic to a candidate step by step, promoting or rolling back on guardrails.

    At each step the candidate gets ``step.weight`` of the keys (sticky: a key routed to
    the candidate at 5 % stays there at 25 %). :meth:`evaluate` tests every gate on all
    data observed so far and decides:

    * ``rollback`` (or ``pause`` with ``on_failure="pause"``) as soon as a gate *fails*;
    * ``hold`` while the step's ``min_samples`` / ``min_duration`` are not reached, or
      while a gate is *inconclusive* or has *no data* (neither ever counts as a pass);
    * ``advance`` to the next step when every gate passes, and ``promote`` after the
      last step. A canary without gates only ever holds: nothing was checked, so only
      :meth:`promote` or :meth:`rollback` end it.

    Gates use always-valid intervals by default, so evaluating after every request does
    not raise the chance of a false rollback above ``alpha``. At a deadline without a
    verdict, :meth:`conclude` promotes or rolls back on the gates' estimates.

    Parameters
    ----------
    steps
        Increasing candidate weights, as :class:`Step`, dicts or plain floats (at most
        1000 steps).
    gates
        Guardrails on the candidate's metrics (at most 1000); default
        ``error_rate <= 1.1 x baseline``.
        Besides :class:`Gate`, any gate that tests the summaries itself
        (:class:`~prodml.rollout._gates.CustomGate`, e.g.
        ``prodml.fairness.FairnessGate``, fed through :meth:`observe`).
    baseline, candidate
        Variant names, as used by :meth:`route` and :meth:`observe`.
    alpha
        Error probability of each gate's interval.
    min_samples
        Observations per variant a gate needs before it can pass or fail.
    sequential
        Use always-valid intervals (safe under continuous evaluation); ``False`` uses a
        fixed-horizon interval, valid only if you evaluate once per step.
    on_failure
        ``"rollback"`` or ``"pause"`` (stop and wait for :meth:`resume`, :meth:`promote`
        or :meth:`rollback`) when a gate fails.
    salt
        Routing salt (at most 10,000 characters); use one per rollout.
    clock
        Callable returning finite seconds (default :func:`time.time`); inject one in tests.

    Examples
    --------
    >>> now = [0.0]
    >>> canary = Canary(
    ...     steps=[Step(0.1, min_samples=200), Step(0.5, min_samples=200)],
    ...     gates=[Gate("error_rate", threshold=0.1)],
    ...     clock=lambda: now[0],
    ... )
    >>> canary.observe_summary("candidate", 2000, {"error_rate": 0.01})
    >>> canary.evaluate().action, canary.weight
    ('advance', 0.5)
    >>> canary.observe_summary("candidate", 2000, {"error_rate": 0.01})
    >>> canary.evaluate().action, canary.state, canary.weight
    ('promote', 'promoted', 1.0)
    """

    _kind = "Canary"
    _JSON_PARAMS = (
        "baseline",
        "candidate",
        "alpha",
        "min_samples",
        "sequential",
        "on_failure",
        "salt",
    )

    def __init__(
        self,
        steps: Sequence[Step | Mapping[str, Any] | float] = DEFAULT_STEPS,
        gates: Sequence[Gate | CustomGate] = DEFAULT_GATES,
        *,
        baseline: str = "baseline",
        candidate: str = "candidate",
        alpha: float = 0.05,
        min_samples: int = 100,
        sequential: bool = True,
        on_failure: str = "rollback",
        salt: str = "",
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.steps = steps
        self.gates = gates
        self.baseline = baseline
        self.candidate = candidate
        self.alpha = alpha
        self.min_samples = min_samples
        self.sequential = sequential
        self.on_failure = on_failure
        self.salt = salt
        self.clock = clock
        self._ready = False

    # -- setup -------------------------------------------------------------------------
    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            check_params(
                "Canary",
                self._params(),
                {
                    "baseline": [TypeOf(str, "a str")],
                    "candidate": [TypeOf(str, "a str")],
                    "alpha": [Interval(float, 0, 1, "neither")],
                    "min_samples": [Interval(int, 1, None)],
                    "sequential": [TypeOf(bool, "a bool")],
                    "on_failure": [OneOf(("rollback", "pause"))],
                    "salt": [TypeOf(str, "a str")],
                },
            )
            if self.baseline == self.candidate:
                raise PolicyError(
                    f"Canary: baseline and candidate are both {short_repr(self.baseline)}."
                )
            if isinstance(self.steps, str | bytes) or not self.steps:
                raise PolicyError(f"Canary needs at least one step. Got {short_repr(self.steps)}.")
            check_size("Canary", "steps", self.steps, MAX_STEPS)
            check_size("Canary", "salt", self.salt, MAX_SALT, "characters")
            self._steps = tuple(_as_step(s, i) for i, s in enumerate(self.steps))
            for i in range(1, len(self._steps)):
                if self._steps[i].weight <= self._steps[i - 1].weight:
                    raise PolicyError(
                        f"Canary: step weights must increase. Step {i} has weight "
                        f"{self._steps[i].weight} after {self._steps[i - 1].weight}."
                    )
            self._gates = tuple(self.gates)
            check_size("Canary", "gates", self._gates, MAX_GATES)
            for g in self._gates:
                if not isinstance(g, Gate | CustomGate):
                    raise PolicyError(
                        "Canary: gates must be Gate objects or have evaluate_rollout(). Got "
                        f"{short_repr(g)}."
                    )
            self._clock = self.clock or time.time
            self._store = MetricStore((self.baseline, self.candidate), self._gates)
            self._state = "running"
            self._step = 0
            self._router = Router(self._weights(), salt=self.salt)
            self._step_started = check_clock("Canary", self._clock())
            self._step_start_n = 0
            self._ready = True

    def _weights(self) -> dict[str, float]:
        w = {"running": None, "paused": None, "promoted": 1.0, "rolled_back": 0.0}[self._state]
        if w is None:
            w = self._steps[self._step].weight
        # Candidate first: its range starts at 0 and only grows with the weight.
        return {self.candidate: w, self.baseline: 1.0 - w}

    # -- properties --------------------------------------------------------------------
    @property
    def state(self) -> CanaryState:
        """``running``, ``paused``, ``promoted`` or ``rolled_back``."""
        self._setup()
        return cast("CanaryState", self._state)  # one of these, by construction

    @property
    def step(self) -> int:
        """Index of the current step (0-based)."""
        self._setup()
        return self._step

    @property
    def weight(self) -> float:
        """Share of traffic the candidate gets now."""
        self._setup()
        return self._weights()[self.candidate]

    # -- traffic -----------------------------------------------------------------------
    def route(self, key: Key) -> str:
        """Return ``baseline`` or ``candidate`` for ``key`` (sticky across steps)."""
        if not self._ready:
            self._setup()
        return self._router.route(key)

    # -- decisions ---------------------------------------------------------------------
    def evaluate(self) -> Decision:
        """Test the gates and decide; the decision is applied and logged.

        Returns
        -------
        Decision
            With ``evidence`` holding the step, weight, sample counts, elapsed time and
            every gate's verdict, estimate, limit and interval.
        """
        return self._decide(self._verdict)

    def _decide(self, verdict: Callable[[float, list[dict[str, Any]]], Decision]) -> Decision:
        """Apply ``verdict(now, gate results)`` under the lock, unless already decided."""
        if not self._ready:
            self._setup()
        with self._lock:
            if self._state in ("promoted", "rolled_back"):
                return self._log[-1]
            now = check_clock("Canary", self._clock())
            return self._apply(verdict(now, self._gate_results()), now)

    def _verdict(self, now: float, results: list[dict[str, Any]]) -> Decision:
        """:meth:`evaluate`'s rule: the step's gates, sample count and duration."""
        st = self._steps[self._step]
        n_step = self._store.requests[self.candidate] - self._step_start_n
        elapsed = now - self._step_started
        evidence: dict[str, Any] = {
            "step": self._step,
            "weight": st.weight,
            "state": self._state,
            "requests": dict(self._store.requests),
            "step_samples": n_step,
            "step_elapsed": elapsed,
            "gates": results,
        }
        where = f"step {self._step + 1} of {len(self._steps)} ({st.weight:g})"
        failed = [r["gate"] for r in results if r["verdict"] == "fail"]
        action: Action
        if self._state == "paused":
            action, reason = "pause", f"{where}: paused; waiting for resume or rollback"
        elif failed:
            action = "rollback" if self.on_failure == "rollback" else "pause"
            reason = f"{where}: gate failed: {listing(failed)}"
        elif n_step < st.min_samples or elapsed < st.min_duration:
            action = "hold"
            short = []  # only what is still missing, with the count that decides it
            if n_step < st.min_samples:
                short.append(f"{n_step:,} of {st.min_samples:,} candidate samples")
            if elapsed < st.min_duration:
                short.append(f"{elapsed:,.0f} of {st.min_duration:,g} s")
            reason = f"{where}: waiting, {' and '.join(short)} so far"
        elif not results:  # nothing was checked: never a pass
            action, reason = "hold", f"{where}: no gates to check; promote or roll back by hand"
        elif all(r["verdict"] == "pass" for r in results):
            last = self._step == len(self._steps) - 1
            action = "promote" if last else "advance"
            reason = f"{where}: every gate passed"
        else:
            action, reason = "hold", f"{where}: gates not passed yet: {not_passed(results)}"
        return Decision(action, reason, evidence, time=now)

    def _gate_results(self) -> list[dict[str, Any]]:
        return [
            self._store.evaluate(
                g,
                self.candidate,
                self.baseline,
                alpha=self.alpha,
                min_samples=self.min_samples,
                sequential=self.sequential,
            )
            for g in self._gates
        ]

    def conclude(self, reason: str = "concluded without a verdict") -> Decision:
        """Promote or roll back now, on the evidence so far: a deadline's decision.

        :meth:`evaluate` holds while a gate is inconclusive; a rollout that must end
        (a time limit, a retraining controller's ``max_canary``) can call this instead
        of :meth:`rollback`. It promotes when **no gate failed and every gate's estimate
        lies within its limit** (``candidate - limit``, the centre of the gate's
        interval, on the good side of 0: the side the data favour), whatever step the
        rollout is at; it rolls back otherwise: a failed gate, a gate with no data or
        fewer than ``min_samples`` observations, an estimate beyond its limit, or a
        custom gate that reports no estimate and did not pass, or no gates at all. A
        gate's limit is its
        margin of tolerated harm (``ratio=1.2``: at most 20 % more errors), so a promoted
        candidate is one the data show to be within that margin on the estimate, though
        not yet with the gate's confidence. A rollout already promoted or rolled back
        returns its last decision; a paused one is concluded too. ``reason`` is cleaned
        like every manual action's (see :meth:`rollback`).

        Examples
        --------
        >>> canary = Canary([Step(0.5, min_samples=100)], [Gate("error_rate", ratio=1.2)])
        >>> canary.observe_summary("baseline", 300, {"error_rate": 0.30})
        >>> canary.observe_summary("candidate", 300, {"error_rate": 0.32})
        >>> canary.evaluate().action  # within 1.2 x on the estimate, not yet with 95 %
        'hold'
        >>> d = canary.conclude("time limit")
        >>> d.action, canary.state, d.reason
        ('promote', 'promoted', 'time limit: every gate within its limit on the estimate')
        """
        reason = operator_reason(reason, "Canary")

        def verdict(now: float, results: list[dict[str, Any]]) -> Decision:
            evidence: dict[str, Any] = {
                "step": self._step,
                "state": self._state,
                "requests": dict(self._store.requests),
                "gates": results,
                "concluded": True,
            }
            beyond = [
                f"{r['gate']} ({r['verdict']})"
                for r in results
                if r["verdict"] != "pass"
                and not (r["verdict"] == "inconclusive" and r.get("within") is True)
            ]
            if not results:  # nothing was checked: no evidence to promote on
                action: Action = "rollback"
                why = f"{reason}: no gates to judge by"
            elif beyond:
                action = "rollback"
                why = f"{reason}: not within the limit on the estimate: {listing(beyond)}"
            else:
                action, why = "promote", f"{reason}: every gate within its limit on the estimate"
            return Decision(action, why, evidence, time=now)

        return self._decide(verdict)

    def _apply(self, decision: Decision, now: float) -> Decision:
        if decision.action == "advance":
            self._step += 1
            self._step_started = now
            self._step_start_n = self._store.requests[self.candidate]
        elif decision.action == "promote":
            self._state = "promoted"
        elif decision.action == "rollback":
            self._state = "rolled_back"
        elif decision.action == "pause":
            self._state = "paused"
        self._router.set_weights(self._weights())
        return self._record(decision)

    def _manual(self, action: Action, reason: str, allowed: tuple[str, ...]) -> Decision:
        reason = operator_reason(reason, "Canary")  # checked before anything changes
        if not self._ready:
            self._setup()
        with self._lock:
            if self._state not in allowed:
                raise PolicyError(f"Canary: cannot {action} a rollout that is {self._state}.")
            now = check_clock("Canary", self._clock())
            evidence = {"manual": True, "step": self._step, "requests": dict(self._store.requests)}
            if action == "advance":  # resume: restart the step's clock and samples
                self._state = "running"
                self._step_started = now
                self._step_start_n = self._store.requests[self.candidate]
                self._router.set_weights(self._weights())
                return self._record(Decision("hold", reason, evidence, time=now))
            return self._apply(Decision(action, reason, evidence, time=now), now)

    def pause(self, reason: str = "paused by operator") -> Decision:
        """Stop progressing (traffic stays where it is) until :meth:`resume`."""
        return self._manual("pause", reason, ("running",))

    def resume(self, reason: str = "resumed by operator") -> Decision:
        """Continue a paused rollout; the current step starts over."""
        return self._manual("advance", reason, ("paused",))

    def promote(self, reason: str = "promoted by operator") -> Decision:
        """Send all traffic to the candidate now."""
        return self._manual("promote", reason, ("running", "paused"))

    def rollback(self, reason: str = "rolled back by operator") -> Decision:
        """Send all traffic back to the baseline now.

        The ``reason`` of every manual action (:meth:`pause`, :meth:`resume`,
        :meth:`promote`, :meth:`rollback`, :meth:`conclude`) is logged with the decision:
        control characters become spaces, anything that looks like personal data becomes
        ``<redacted>``, and text beyond 1000 characters
        (:data:`~prodml.rollout._decision.MAX_REASON`) is cut, so a long reason never
        blocks a rollback nor makes the saved state unloadable.

        Raises
        ------
        PolicyError
            For a reason that is not a str or is blank (nothing changes), or when the
            rollout is already promoted or rolled back.
        """
        return self._manual("rollback", reason, ("running", "paused"))

    # -- state -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return settings, step, metric summaries and the decision log (JSON-safe)."""
        if not self._ready:
            self._setup()
        with self._lock:
            return {
                **self._header(),
                "params": self._params(),
                "steps": [s.to_dict() for s in self._steps],
                "gates": [g.to_dict() for g in self._gates],
                "state": self._state,
                "step": self._step,
                "step_started": self._step_started,
                "step_start_n": self._step_start_n,
                "metrics": self._store.to_dict(),
                "log": self._log_to_list(),
            }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        clock: Callable[[], float] | None = None,
        gates: Sequence[CustomGate | Gate] | None = None,
    ) -> Canary:
        """Rebuild a canary written by :meth:`to_dict`; ``clock`` is not stored.

        A saved custom gate (one with a ``"type"``, e.g. a ``FairnessGate``) cannot be
        rebuilt here: pass the gates again as ``gates``, equal to the saved ones.
        """
        top = _load.root(data, cls._kind)
        top.dict(
            keys=(
                "type",
                "format_version",
                "params",
                "steps",
                "gates",
                "state",
                "step",
                "step_started",
                "step_start_n",
                "metrics",
                "log",
            )
        )
        steps = [_load_step(s) for s in top["steps"].each(max_len=MAX_STEPS)]
        saved = [g.dict() for g in top["gates"].each(max_len=MAX_GATES)]
        params = _load.params(top["params"])
        canary = _load.build(
            top["params"],
            lambda: cls(steps, _saved_gates(saved, gates), clock=clock, **params),
        )
        _load.build(top, canary._setup)
        canary._state = top["state"].str(choices=_STATES)
        canary._step = top["step"].int(lo=0, hi=len(canary._steps) - 1)
        canary._step_started = top["step_started"].float()
        _load.metric_store(canary._store, top["metrics"])
        canary._step_start_n = top["step_start_n"].int(
            lo=0, hi=canary._store.requests[canary.candidate]
        )
        canary._log = _load.decision_log(top["log"])
        if canary._state in ("promoted", "rolled_back"):
            action = "promote" if canary._state == "promoted" else "rollback"
            _load.ended_by(top["state"], canary._log, (action,), repr(canary._state))
        canary._router.set_weights(canary._weights())
        return canary


def _load_step(field: Field) -> Step:
    params = field.dict()
    return _load.build(field, lambda: Step(**params))


def _saved_gates(saved: Sequence[Any], given: Sequence[Any] | None) -> list[Any]:
    """The gates of a saved canary: rebuilt, or ``given`` when they match the saved ones."""
    if given is not None:
        if [g.to_dict() for g in given] != list(saved):
            raise PolicyError("Canary.from_dict: gates= differ from the saved gates.")
        return list(given)
    for i, g in enumerate(saved):
        if isinstance(g, Mapping) and "type" in g:
            raise PolicyError(
                f"Canary.from_dict: saved gate {i} is a {str(g['type'])[:40]}; pass the gates "
                "again as from_dict(..., gates=[...])."
            )
    return [Gate.from_dict(g) for g in saved]
