"""The trigger loop of :class:`~prodml.retrain.RetrainController` (a mixin).

``_decide`` is the idle phase: unless the controller is backing off after a failed run,
it asks every trigger (user code: what it returns is checked before it goes into the
saved state; a trigger that raises or returns junk is logged and counted, and the others
are still asked), weighs the signals' measured drops against the cost model, asks the guards
(minimum interval, cap, budget) and hands the chosen signal to the controller's
``_start_run``. ``_reset_triggers`` clears the evidence a run consumed (and starts the
follow-up watches of the triggers that keep one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from prodml._durations import describe
from prodml._quote import short_repr
from prodml._state import finite_float
from prodml.registry import ModelVersion
from prodml.retrain._state import MAX_TEXT
from prodml.retrain._training import TRAINED_AT_TAG, ControllerParts, _short
from prodml.retrain._triggers import Signal, Trigger, TriggerContext

if TYPE_CHECKING:
    from prodml.retrain._controller import Action
    from prodml.retrain._cost import RetrainCost
    from prodml.retrain._guards import Guards
    from prodml.retrain._state import ActionKind

__all__ = ["TriggerLoop", "signal_problem", "trigger_key"]


def trigger_key(trigger: object, i: int) -> str:
    """The trigger's name, its key in the state's ``trigger_failures`` (or ``triggers[i]``)."""
    name = getattr(trigger, "name", None)  # user code: the Protocol is not a guarantee
    return name if isinstance(name, str) and 0 < len(name) <= 200 else f"triggers[{i}]"


def signal_problem(signal: Signal) -> str | None:
    """What makes a trigger's signal unusable (it goes into the saved state), or None."""
    trigger: object = signal.trigger  # user code: the annotations are not a guarantee
    reason: object = signal.reason
    evidence: object = signal.evidence
    if not isinstance(trigger, str) or not 0 < len(trigger) <= 200:
        shown = short_repr(trigger)
        return f"trigger must be a non-empty str of at most 200 characters, not {shown}"
    if not isinstance(reason, str):
        return f"reason must be a str, not {type(reason).__name__}"
    if signal.drop is not None and finite_float(signal.drop) is None:
        return f"drop must be a finite number or None, not {short_repr(signal.drop)}"
    if not isinstance(evidence, Mapping):
        return f"evidence must be a dict, not {type(evidence).__name__}"
    return None


class TriggerLoop(ControllerParts):
    """The idle phase of :class:`~prodml.retrain.RetrainController`: ask, weigh, start."""

    if TYPE_CHECKING:  # supplied by RetrainController
        triggers: list[Trigger]
        cost: RetrainCost | None
        guards: Guards
        _now: float

        def _current(self) -> ModelVersion | None: ...

        def _start_run(self, t: float, chosen: Signal, current: ModelVersion | None) -> Action: ...

        def _fail(self, t: float, reason: str, *, kind: ActionKind | None = None) -> Action: ...

    def _trained_at(self, mv: ModelVersion | None) -> float | None:
        if mv is None:
            return None
        tag = mv.tags.get(TRAINED_AT_TAG)
        if tag is not None:
            try:
                return float(tag)
            except ValueError:
                pass
        return mv.created_at.timestamp()

    def _decide(self, t: float) -> Action:
        st = self.state
        if st.backoff_until is not None and t < st.backoff_until:
            return self._log(
                "none",
                f"backing off after {st.failures} failed run(s): "
                f"{describe(st.backoff_until - t)} to go (until {st.backoff_until:.0f})",
            )
        current = self._current()
        ctx = TriggerContext(t, self._trained_at(current), st.last_run_at, self.cost, current)
        signals, failed = self._ask(ctx)
        if not signals:
            if failed is not None:  # logged without a save: one write for the step
                self._save()
                return failed
            return self._log("none", "no trigger fired")
        chosen, refused = self._worth_it(signals)
        if chosen is None:
            return self._log("skip", refused, trigger=signals[0].trigger)
        blocked = self.guards.blocked(st, t, self.cost)
        if blocked is not None:
            return self._log(
                "skip", f"{chosen.trigger}: {chosen.reason}; but {blocked}", trigger=chosen.trigger
            )
        return self._start_run(t, chosen, current)

    def _ask(self, ctx: TriggerContext) -> tuple[list[Signal], Action | None]:
        """Every trigger's valid signal, and the last trigger failure logged (or None).

        A trigger that raises or returns junk is one failed sensor, not a failed run: its
        failure is logged (``fail``, naming it and why) and counted in the state's
        ``trigger_failures`` until it answers again, and the other triggers are still
        asked. It backs nothing off: it is asked again at the next step.
        """
        signals: list[Signal] = []
        failed: Action | None = None
        records = self.state.trigger_failures
        asked = set()
        for i, trig in enumerate(self.triggers):
            key = trigger_key(trig, i)
            asked.add(key)
            try:
                signal: object = trig.check(ctx)  # user code: checked below
            except Exception as err:  # noqa: BLE001 - user code: a failed sensor, logged
                problem: str | None = f"failed: {_short(err)}"
            else:
                problem = None
                if isinstance(signal, Signal):
                    bad = signal_problem(signal)
                    if bad is None:
                        signals.append(signal)
                    else:
                        problem = f"returned a Signal whose {bad}"
                elif signal is not None:
                    problem = f"returned {type(signal).__name__}, not a Signal or None"
            if problem is None:
                records.pop(key, None)  # it answers again (its failures stay in the log)
            else:
                failed = self._trigger_failed(ctx.now, key, trig, i, problem)
        for gone in [k for k in records if k not in asked]:  # a trigger no longer configured
            del records[gone]
        return signals, failed

    def _trigger_failed(self, t: float, key: str, trig: object, i: int, problem: str) -> Action:
        records = self.state.trigger_failures
        record = records.get(key) or {"count": 0, "first_at": t}
        records[key] = {
            "count": record["count"] + 1,
            "first_at": record["first_at"],
            "last_at": t,
            "reason": problem[:MAX_TEXT],
        }
        name = short_repr(getattr(trig, "name", f"triggers[{i}]"), 100)
        return self._log(
            "fail",
            f"trigger {name} {problem}; the other triggers were asked",
            trigger=key,
            save=False,
        )

    def _worth_it(self, signals: list[Signal]) -> tuple[Signal | None, str]:
        if self.cost is None:
            return signals[0], ""
        why = []
        for s in signals:
            if s.drop is None or self.cost.pays(s.drop):
                return s, ""
            why.append(
                f"{s.trigger}: {s.reason}; a drop of {s.drop:.4g} costs "
                f"{self.cost.expected_loss(s.drop):,.2f} over the horizon, not more than one "
                f"retraining ({self.cost.retrain_cost:,.2f})"
            )
        return None, "; ".join(why)

    def _reset_triggers(self) -> None:
        """Clear the evidence a run consumed; a ``reset`` that raises is a trigger failure.

        Before, it left the step before the run was saved: the next step decided the same
        run again and its reset raised again, so every step raised while that trigger fired.
        """
        for i, trig in enumerate(self.triggers):
            reset = getattr(trig, "reset", None)
            if not callable(reset):
                continue
            try:
                reset()
            except Exception as err:  # noqa: BLE001 - user code: a failed sensor, logged
                key = trigger_key(trig, i)
                self._trigger_failed(self._now, key, trig, i, f"failed to reset: {_short(err)}")
