"""RetrainController: from a trigger to a promoted (or refused) version, crash-safe."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

from prodml._durations import describe
from prodml._files import PATH_QUOTE, checked_path, os_reason
from prodml._pickle import NotPicklable
from prodml._quote import short_repr
from prodml._state import finite_float
from prodml.errors import ConfigError
from prodml.registry import ModelRegistry, ModelVersion
from prodml.registry.entities import check_alias, check_name
from prodml.retrain import _saved
from prodml.retrain._cost import RetrainCost
from prodml.retrain._guards import Guards
from prodml.retrain._promotion import CandidateLost, Promotion
from prodml.retrain._state import MAX_CLOCK_S as MAX_CLOCK_S  # noqa: PLC0414
from prodml.retrain._state import MAX_DECISIONS, ActionKind, RetrainState
from prodml.retrain._training import RUN_TAG as RUN_TAG  # noqa: PLC0414
from prodml.retrain._training import TRAINED_AT_TAG as TRAINED_AT_TAG  # noqa: PLC0414
from prodml.retrain._training import Training
from prodml.retrain._training import _short as _short  # noqa: PLC0414
from prodml.retrain._trigger_loop import TriggerLoop
from prodml.retrain._triggers import Signal, Trigger
from prodml.retrain._writer import StateWriter
from prodml.rollout import Canary
from prodml.rollout._decision import jsonable
from prodml.schema import Schema

# RUN_TAG, TRAINED_AT_TAG and _short moved to _training with the training phase, the
# checks, canary and promotion to _promotion, the trigger loop to _trigger_loop (mixins of
# RetrainController); the three still import from here.
__all__ = ["Action", "RetrainController", "RunContext"]


@dataclass(frozen=True)
class Action:
    """What one :meth:`RetrainController.step` did, and why.

    Attributes
    ----------
    action
        ``none`` (nothing to do), ``skip`` (a trigger fired but a guard or the cost
        model said no), ``retrain`` (a run started), ``fail`` (training or registration
        failed; without a run id: a trigger raised or returned junk), ``register``
        (candidate registered), ``refuse`` (a promotion check failed), ``canary``
        (canary started), ``hold`` / ``advance`` (canary in progress), ``promote``,
        ``rollback``.
    reason
        One sentence a person reads in an incident review.
    at
        The controller's clock (seconds since the epoch).
    run_id, version, trigger
        The run, the candidate version and the trigger concerned, when there is one.
    repeats
        How many consecutive steps took this same decision (repeated ``none``,
        ``skip``, ``hold`` and a trigger's same failure are folded into one log entry).
    """

    action: ActionKind
    reason: str
    at: float
    run_id: str | None = None
    version: int | None = None
    trigger: str | None = None
    repeats: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "action": self.action,
            "reason": self.reason,
            "at": self.at,
            "run_id": self.run_id,
            "version": self.version,
            "trigger": self.trigger,
            "repeats": self.repeats,
        }


@dataclass(frozen=True)
class RunContext:
    """What ``train`` and a data function know about the run they serve."""

    run_id: str
    trigger: str
    reason: str
    now: float
    parent: ModelVersion | None
    signal: dict[str, Any] = field(default_factory=dict)


def _clock(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ConfigError(
                "RetrainController.step: now must be timezone-aware (UTC). Got a naive datetime.",
                parameter="now",
            )
        return now.timestamp()
    t = finite_float(now)
    if t is None or abs(t) > MAX_CLOCK_S:
        raise ConfigError(
            f"RetrainController.step: now must be a datetime or seconds since the epoch "
            f"(at most {MAX_CLOCK_S:.0e} from it). Got {short_repr(now)}.",
            parameter="now",
        )
    return t


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError as err:  # a name too long for the system (Python 3.11 raises)
        shown = short_repr(str(path), limit=PATH_QUOTE)
        raise ConfigError(
            f"cannot read the state file {shown}: {os_reason(err)}", parameter="state_path"
        ) from err


class RetrainController(TriggerLoop, Training, Promotion, NotPicklable):
    """Keep ``model@alias`` fresh: triggers -> training -> registry -> checks -> canary.

    Call :meth:`step` from a cron job, an Airflow or Prefect task, or a service's
    background thread. Each call looks at the triggers (monitor alerts, drift reports,
    concept-drift detectors, a schedule, the cost model), weighs them against the
    guards (minimum interval, cap per period, budget, back-off after a failure) and the
    cost of retraining (a trigger that raises is logged as a ``fail`` naming it, counted
    in :attr:`trigger_failures`, and the others are still asked: one broken sensor does
    not silence the rest), and when it decides to retrain: builds the training set (through
    the feature store when configured), calls ``train``, registers the candidate with
    its lineage, runs the promotion checks, runs a canary and promotes or rolls back.
    Every decision and its reason goes into the controller's JSON state and, for the
    registry moves, into the registry's audit log.

    With ``state_path`` every intent is written (atomically) before the side effect it
    announces: a process killed at any point resumes where it stopped, never registers
    a candidate twice (each carries its run id as a tag, looked up on resume) and never
    loses a decision. The triggers' own state (those with ``state_dict`` and
    ``load_state_dict``, e.g. :class:`ErrorRateTrigger`'s sums, baseline and follow-up
    watch) is saved with it by trigger name and restored, validated, on start.

    Parameters
    ----------
    registry
        The :class:`~prodml.registry.ModelRegistry`.
    model, alias
        The model name and the alias the controller keeps fresh (``"production"``).
    train
        ``train(training_set, context) -> (pipeline, model, metrics)``: user code.
        ``pipeline`` may be ``None``; the pair is registered as one version. A result
        of another shape, a missing model (``None``) or one the registry cannot store
        (a path given as a ``str``, a dict) fails the run with a reason saying so.
    triggers
        :class:`Trigger` objects, asked in order. Those with a saved state need
        distinct names.
    checks
        Promotion checks (``MetricThreshold``, ``NotWorseThanCurrent``, a
        ``FairnessGate``...): run before the canary and again at promotion.
    canary
        A :class:`~prodml.rollout.Canary` used as a template: each run gets a fresh
        copy (its steps, gates and settings), reachable as :attr:`rollout` while it
        runs; route traffic and observe metrics through it. ``None``: promote once the
        checks pass.
    cost
        A :class:`RetrainCost`: a trigger that measured a metric drop retrains only
        when the drop costs more over the horizon than one retraining.
    data
        The training set: a function of the :class:`RunContext` returning a table, or
        :class:`StoreTrainingData`.
    guards
        :class:`Guards` (minimum interval, cap per period, budget, back-off).
    state_path
        The JSON state file. ``None`` keeps the state in memory (not crash-safe; use
        :meth:`to_dict`).
    signature
        The candidates' input schema; default the pipeline's ``input_schema``.
    candidate_alias
        The alias the candidate holds while its canary runs (default ``<alias>-candidate``).
    approved_by
        Passed to the promotion, for a registry whose authorizer protects ``alias``
        (:class:`~prodml.registry.authz.RequireApproval`). Without the approval the run waits in
        ``hold`` (nothing is archived) until a later step brings it.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from prodml.registry import ModelRegistry, MetricThreshold
    >>> from datetime import timedelta
    >>> from prodml.retrain import RetrainController, ScheduleTrigger
    >>> reg = ModelRegistry("memory://", "memory://retrain-doc")
    >>> from sklearn.dummy import DummyRegressor
    >>> def train(data, context):
    ...     model = DummyRegressor().fit(data[["y"]], data["y"])
    ...     return None, model, {"rows": float(len(data))}
    >>> ctl = RetrainController(
    ...     registry=reg,
    ...     model="demand",
    ...     alias="production",
    ...     train=train,
    ...     triggers=[ScheduleTrigger(timedelta(days=7))],
    ...     checks=[MetricThreshold("rows", min=10)],
    ...     data=lambda ctx: pd.DataFrame({"y": np.arange(20.0)}),
    ... )
    >>> a = ctl.step(0.0)
    >>> a.action, a.version, reg.get("demand@production").version
    ('promote', 1, 1)
    >>> ctl.step(86400.0).action
    'none'
    >>> ctl.step(8 * 86400.0).version
    2
    """

    _SHIP_INSTEAD = "the registry URLs, its settings and its state (to_dict())"

    def __init__(  # noqa: PLR0917 - the issue's contract: RetrainController(registry, model, ...)
        self,
        registry: ModelRegistry,
        model: str,
        alias: str,
        train: Callable[[Any, RunContext], Any],
        triggers: Sequence[Trigger] = (),
        checks: Sequence[Callable[[ModelVersion, ModelVersion | None], str | None]] = (),
        canary: Canary | None = None,
        cost: RetrainCost | None = None,
        *,
        data: Callable[[RunContext], Any] | None = None,
        guards: Guards | None = None,
        state_path: str | PathLike[str] | None = None,
        signature: Schema | None = None,
        candidate_alias: str | None = None,
        approved_by: str | None = None,
    ) -> None:
        self.registry = registry
        self.model: str = check_name(model)
        self.alias: str = check_alias(alias)
        self.candidate_alias: str = check_alias(candidate_alias or f"{alias}-candidate")
        if self.candidate_alias == self.alias:
            raise ConfigError(
                "candidate_alias must differ from alias.", parameter="candidate_alias"
            )
        if not callable(train):
            raise ConfigError(
                "train must be a function (training_set, context).", parameter="train"
            )
        self.train = train
        self.triggers: list[Trigger] = list(triggers)
        for i, t in enumerate(self.triggers):
            if not isinstance(t, Trigger):
                raise ConfigError(
                    f"triggers[{i}] must have a name and check(context). Got {type(t).__name__}.",
                    parameter="triggers",
                )
        _saved.check_stateful(self.triggers)
        self.checks: list[Callable[[ModelVersion, ModelVersion | None], str | None]] = list(checks)
        for i, c in enumerate(self.checks):
            if not callable(c):
                raise ConfigError(f"checks[{i}] is not callable.", parameter="checks")
        if canary is not None and not isinstance(canary, Canary):
            raise ConfigError(
                f"canary must be a prodml.rollout.Canary. Got {type(canary).__name__}.",
                parameter="canary",
            )
        self.canary = canary
        if cost is not None and not isinstance(cost, RetrainCost):
            raise ConfigError(
                f"cost must be a RetrainCost. Got {type(cost).__name__}.", parameter="cost"
            )
        self.cost = cost
        if guards is not None and guards.budget is not None and cost is None:
            raise ConfigError("Guards(budget=...) needs cost=RetrainCost(...).", parameter="cost")
        if (
            guards is not None
            and cost is not None
            and None not in (guards.currency, cost.currency)
            and guards.currency != cost.currency
        ):
            raise ConfigError(
                f"Guards(currency={guards.currency!r}) and RetrainCost(currency="
                f"{cost.currency!r}) differ: the budget and the retraining cost are compared "
                "as numbers, and prodml does not convert currencies. State both in one.",
                parameter="guards",
            )
        self.data = data
        self.guards: Guards = guards if guards is not None else Guards()
        if not isinstance(self.guards, Guards):
            raise ConfigError("guards must be a Guards.", parameter="guards")
        self.state_path: Path | None = (
            None
            if state_path is None
            else checked_path(state_path, "the state file", parameter="state_path")
        )
        self.signature = signature
        self.approved_by = approved_by
        self._lock = threading.RLock()
        self._now = 0.0
        self._rollout: Canary | None = None
        self._writer: StateWriter | None = None
        if self.state_path is not None and _exists(self.state_path):
            self._writer = StateWriter(self.state_path)
            self.state: RetrainState = RetrainState.load(self.state_path, self._writer.known)
            if (self.state.model, self.state.alias) != (self.model, self.alias):
                shown = short_repr(str(self.state_path), limit=PATH_QUOTE)
                raise ConfigError(
                    f"the state file {shown} belongs to "
                    f"{self.state.model[:128]}@{self.state.alias[:64]}, not "
                    f"{self.model}@{self.alias}.",
                    parameter="state_path",
                )
            self._adopt(self.state)
        else:
            if self.state_path is not None:
                self._writer = StateWriter(self.state_path)
            self.state = RetrainState(model=self.model, alias=self.alias)

    def __repr__(self) -> str:
        return f"RetrainController({self.model}@{self.alias}, phase={self.state.phase!r})"

    # ------------------------------------------------------------------ public
    @property
    def rollout(self) -> Canary | None:
        """The canary of the run in flight (route and observe traffic through it)."""
        return self._rollout

    @property
    def decisions(self) -> list[Action]:
        """Every decision kept in the state, oldest first (the last 1000)."""
        return [Action(**d) for d in self.state.decisions]

    @property
    def trigger_failures(self) -> dict[str, dict[str, Any]]:
        """The triggers failing now, by name, with their failures in a row.

        Each record: ``count`` (failures in a row), ``first_at``, ``last_at`` and the last
        ``reason``; a trigger leaves when it answers again (its failures stay in
        :attr:`decisions`).
        """
        return {name: dict(rec) for name, rec in self.state.trigger_failures.items()}

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-safe data (see :class:`RetrainState`)."""
        with self._lock:
            self._sync_rollout()
            self.state.triggers = _saved.collect(self.triggers)
            return self.state.to_dict()

    def load_state(self, data: Mapping[str, Any]) -> None:
        """Replace the state with validated ``data`` (written by :meth:`to_dict`)."""
        state = RetrainState.from_dict(data)
        if (state.model, state.alias) != (self.model, self.alias):
            raise ConfigError("load_state: the state belongs to another model or alias.")
        with self._lock:
            self._adopt(state)

    def _writing(self) -> contextlib.AbstractContextManager[None]:
        if self.state_path is None:
            return contextlib.nullcontext()
        if self._writer is None or self._writer.path != self.state_path:
            self._writer = StateWriter(self.state_path, fresh=True)  # set after __init__
        return self._writer.hold()

    def save(self) -> None:
        """Write the state now (with the canary's latest observations).

        Raises
        ------
        RetrainConflictError
            Another controller holds the state file or wrote it since this one read it.
        """
        with self._lock, self._writing():
            self._sync_rollout()
            self._save()

    def step(self, now: float | datetime | None = None) -> Action:
        """Decide and act once; returns the last decision taken.

        Safe to call again at any time: a step finishes what the state says is in
        flight, then looks at the triggers only when nothing is.

        Raises
        ------
        RetrainConflictError
            With a ``state_path``: another controller is stepping on the same file (its
            lock is held), or wrote it since this controller read it. Nothing was done;
            one writer per state file (build a new controller from the file).
        """
        t = _clock(now)
        with self._lock, self._writing():
            try:
                return self._step(t)
            except BaseException:
                # What escapes a step (a state write that failed, a registry down, an
                # interrupt) leaves the in-memory state where the file is, as a crash
                # would: a run decided in memory but never saved must not go on to
                # train and register a candidate the file does not know (a restart
                # would decide again and register a second one).
                self._back_to_file()
                raise

    def _back_to_file(self) -> None:
        writer = self._writer
        if self.state_path is None or writer is None:
            return  # no file: the state in memory is the only one
        known = writer.known
        self._adopt(
            RetrainState(model=self.model, alias=self.alias)
            if known is None
            else RetrainState.load(self.state_path, known)
        )

    def _adopt(self, state: RetrainState) -> None:
        """Take ``state`` as this controller's: its triggers' and canary's state too."""
        _saved.restore(self.triggers, state.triggers)
        self.state = state
        self._restore_rollout()

    def _step(self, t: float) -> Action:
        self._now = t
        self.state.last_step_at = t
        last: Action | None = None
        previous: str | None = None
        start = self.state.phase
        for _ in range(8):  # at most one pass through each phase
            phase = self.state.phase
            if last is not None and phase == previous:
                break  # the phase is waiting (canary traffic, an approval)
            previous = phase
            try:
                action = self._phase(t, phase, start)
            except CandidateLost:
                action = self._abandon(t)
            if action is None:
                break
            last = action
            if phase in ("checking", "canary") and self.state.phase == "canary":
                break  # traffic first, then evaluate; the canary waits for traffic
            if self.state.phase == "idle":
                break
        assert last is not None  # noqa: S101 - the loop runs at least once
        return last

    def _phase(self, t: float, phase: str, start: str) -> Action | None:
        """One phase's step: its action, or None when an idle step began in another phase."""
        run = self.state.run
        if run is not None and run.get("refusing") is not None:
            return self._refuse(t, run["refusing"])  # interrupted by a crash
        if phase == "idle":
            return None if start != "idle" else self._decide(t)
        if phase == "training":
            return self._train(t)
        if phase == "checking":
            return self._check(t)
        if phase == "canary":
            return self._advance(t)
        if phase == "promoting":
            return self._promote(t)
        return self._roll_back(t)  # "rolling_back": the state's phases are checked on load

    # ------------------------------------------------------------------ decide
    def _current(self) -> ModelVersion | None:
        version = self.registry.aliases(self.model).get(self.alias) if self._has_model() else None
        return None if version is None else self.registry.get(self.model, version)

    def _has_model(self) -> bool:
        return self.model in self.registry.models()

    def _start_run(self, t: float, chosen: Signal, current: ModelVersion | None) -> Action:
        """Start a run (idle -> training), saved with the triggers' reset state first."""
        st = self.state
        run_id = f"{t:.0f}-{uuid.uuid4().hex[:12]}"
        st.run = {
            "id": run_id,
            "trigger": chosen.trigger,
            "reason": chosen.reason,
            "started_at": t,
            "parent": None if current is None else current.version,
            "version": None,
            "signal": jsonable(chosen.to_dict()),
        }
        st.phase = "training"
        st.last_run_at = t
        st.runs.append(t)
        if self.cost is not None:
            st.spent.append([t, float(self.cost.retrain_cost)])
        self.guards.trim(st, t)
        action = self._log("retrain", f"{chosen.trigger}: {chosen.reason}", save=False)
        # The evidence is consumed by this run: the triggers' reset state is saved with it
        # (one write), so a crash before it resumes with the evidence, after it with the run.
        self._reset_triggers()
        self._save()
        self._checkpoint("decided")
        return action

    # ------------------------------------------------------------------ train
    def _context(self) -> RunContext:
        run = self.state.run
        assert run is not None  # noqa: S101 - every phase but idle has a run
        parent = None if run["parent"] is None else self.registry.get(self.model, run["parent"])
        return RunContext(
            run["id"], run["trigger"], run["reason"], self._now, parent, dict(run["signal"])
        )

    # ------------------------------------------------------------------ checks, canary
    def _advance(self, t: float) -> Action:
        if self._rollout is None:
            self._restore_rollout()
        canary = self._rollout
        assert canary is not None  # noqa: S101
        self._hold_candidate_alias(self._candidate().version)
        decision = canary.evaluate()
        run = self.state.run
        limit = self.guards.max_canary_s
        started = None if run is None else run.get("canary_at")
        if (
            decision.action not in ("promote", "rollback")
            and limit is not None
            and started is not None
            and t - started >= limit
        ):
            why = (
                f"no verdict after {describe(t - started)} (the limit is {describe(limit)}); "
                f"last: {decision.reason}"
            )
            if self.guards.canary_timeout == "conclude":
                decision = canary.conclude(why)
            else:
                decision = canary.rollback(why)
        self.state.canary = canary.to_dict()
        cand = self._candidate()
        if decision.action == "promote":
            self.state.phase = "promoting"
        elif decision.action == "rollback":
            self.state.phase = "rolling_back"
        reason = f"canary of {cand.ref}: {decision.reason}"
        if decision.action == "rollback":  # logged once, by the rollback itself
            self._save()
            run = self.state.run
            action = Action("hold", reason, t, None if run is None else run["id"])
        else:
            # "promote" means the canary passed: the promotion itself is logged next.
            kind: ActionKind = "hold" if decision.action in ("pause", "hold") else "advance"
            action = self._log(kind, reason, save=False)
            self._save()
        self._checkpoint(f"canary_{decision.action}")
        return action

    # ------------------------------------------------------------------ log, state
    def _log(
        self,
        kind: ActionKind,
        reason: str,
        *,
        run_id: str | None = None,
        version: int | None = None,
        trigger: str | None = None,
        save: bool = True,
    ) -> Action:
        run = self.state.run
        if run is not None:
            run_id = run_id or run["id"]
            version = version if version is not None else run["version"]
            trigger = trigger or run["trigger"]
        entry = Action(kind, reason[:4000], self._now, run_id, version, trigger).to_dict()
        log = self.state.decisions
        last = log[-1] if log else None
        if (
            last is not None
            and (kind in ("none", "skip", "hold") or (kind == "fail" and run_id is None))
            and (last["action"], last["reason"], last["run_id"]) == (kind, entry["reason"], run_id)
        ):
            entry["repeats"] = last["repeats"] + 1
            log[-1] = entry
        else:
            log.append(entry)
            del log[:-MAX_DECISIONS]
        if save:
            self._save()
        return Action(**entry)

    def _save(self) -> None:
        if self.state_path is not None and self._writer is not None:
            self.state.triggers = _saved.collect(self.triggers)
            path = self.state_path
            self._writer.write(lambda: self.state.save(path))  # compare-and-swap

    def _checkpoint(self, point: str) -> None:
        """A named point between side effects (tests kill the process here)."""
