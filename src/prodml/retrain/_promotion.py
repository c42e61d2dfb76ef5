"""The checks, the canary and the promotion of :class:`~prodml.retrain.RetrainController`.

A mixin. ``_check`` runs the promotion checks on the candidate and starts the canary (a
fresh copy of the ``canary`` template, whose clock is the controller's) or goes straight
to promotion; ``_restore_rollout`` and ``_sync_rollout`` keep the canary in flight and its
saved state together. ``_promote`` moves the alias (waiting for an approval on a protected
alias); ``_refuse`` and ``_roll_back`` archive the candidate and fail the run. The
candidate alias follows the candidate while its canary runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from prodml.errors import AuthorizationError, ConfigError, ConflictError, NotFoundError
from prodml.registry import ModelVersion, PromotionError
from prodml.retrain._state import ActionKind
from prodml.retrain._training import ControllerParts, _short
from prodml.rollout import Canary, Step

if TYPE_CHECKING:
    from prodml.retrain._controller import Action

__all__ = ["CandidateLost", "Promotion"]


class CandidateLost(Exception):  # noqa: N818 - internal signal, never leaves the controller
    """The run's candidate is not in the registry: deleted, or the state is another's."""


class Promotion(ControllerParts):
    """The checks, the canary and the promotion of a retraining run (a mixin)."""

    if TYPE_CHECKING:  # supplied by RetrainController
        alias: str
        candidate_alias: str
        checks: list[Callable[[ModelVersion, ModelVersion | None], str | None]]
        canary: Canary | None
        approved_by: str | None
        _now: float

        def _current(self) -> ModelVersion | None: ...

        def _reset_triggers(self) -> None: ...

        def _fail(self, t: float, reason: str, *, kind: ActionKind | None = None) -> Action: ...

    def _candidate(self) -> ModelVersion:
        run = self.state.run
        assert run is not None  # noqa: S101 - every phase after training has a run
        assert run["version"] is not None  # noqa: S101 - and its candidate
        try:
            mv: ModelVersion = self.registry.get(self.model, run["version"])
        except NotFoundError as err:
            raise CandidateLost from err
        return mv

    def _abandon(self, t: float) -> Action:
        """Fail the run whose candidate is gone from the registry (it backs off as a failure).

        A version deleted while the run was under way, or a state file restored beside a
        registry that never held it (another registry, a backup older than the state):
        no step can go on with the run, so it ends here rather than raising at every step.
        """
        run = self.state.run
        assert run is not None  # noqa: S101
        reason = (
            f"{self.model}@{run['version']} of run {run['id']} is no longer in the registry "
            "(deleted, or this state file belongs to another registry): the run is abandoned"
        )
        if run.get("refusing") is not None:
            reason += f" while it was being refused ({run['refusing']})"
        return self._fail(t, reason, kind="fail")

    def _check(self, t: float) -> Action:
        cand = self._candidate()
        current = self._current()
        failures = [msg for c in self._safe_checks() if (msg := c(cand, current)) is not None]
        if failures:
            return self._refuse(
                t, f"{cand.ref} refused by the promotion checks: " + "; ".join(failures)
            )
        if self.canary is None or current is None:
            self.state.phase = "promoting"
            why = "checks passed" + (
                "" if self.canary is None else "; no version to canary against"
            )
            action = self._log("advance", f"{cand.ref}: {why}", save=False)
            self._save()
            return action
        self._rollout = self._fresh_canary()
        assert self.state.run is not None  # noqa: S101
        self.state.run["canary_at"] = t
        self.state.phase = "canary"
        self.state.canary = self._rollout.to_dict()
        action = self._log(
            "canary", f"{cand.ref}: checks passed; canary against {current.ref} started", save=False
        )
        self._save()
        self._checkpoint("canary_saved")
        self._hold_candidate_alias(cand.version)
        return action

    def _safe_checks(self) -> list[Callable[[ModelVersion, ModelVersion | None], str | None]]:
        """The checks, each turning an exception it raises into a failure naming it.

        A check that cannot say yes says no: the candidate is refused with the reason,
        instead of the step raising and the run staying stuck at the checks.
        """

        def safe(
            i: int, check: Callable[[ModelVersion, ModelVersion | None], str | None]
        ) -> Callable[[ModelVersion, ModelVersion | None], str | None]:
            def run(cand: ModelVersion, current: ModelVersion | None) -> str | None:
                name = str(getattr(check, "__name__", type(check).__name__))[:100]
                try:
                    msg: object = check(cand, current)
                except Exception as err:  # noqa: BLE001 - user code
                    return f"checks[{i}] ({name}) raised {_short(err)}"
                if isinstance(msg, bool):  # `lambda c, cur: c.metrics["auc"] > 0.8`
                    return (
                        f"checks[{i}] ({name}) returned {msg}, not None (it passes) or a str "
                        "(why it fails)"
                    )
                return None if msg is None else str(msg)[:1000]

            return run

        return [safe(i, c) for i, c in enumerate(self.checks)]

    def _hold_candidate_alias(self, version: int) -> None:
        if self.registry.aliases(self.model).get(self.candidate_alias) != version:
            run = self.state.run
            self.registry.set_alias(
                self.model,
                self.candidate_alias,
                version,
                reason=None if run is None else self._why(run, "canary started"),
            )

    def _fresh_canary(self) -> Canary:
        template = self.canary
        assert template is not None  # noqa: S101
        data = template.to_dict()
        return Canary(
            [Step(**s) for s in data["steps"]],
            template.gates,
            clock=lambda: self._now,
            **data["params"],
        )

    def _restore_rollout(self) -> None:
        self._rollout = None
        if self.state.phase in ("canary", "rolling_back") and self.state.canary is not None:
            if self.canary is None:
                raise ConfigError(
                    "the saved state has a canary in flight; pass the same canary= again.",
                    parameter="canary",
                )
            self._rollout = Canary.from_dict(
                self.state.canary, clock=lambda: self._now, gates=list(self.canary.gates)
            )

    def _sync_rollout(self) -> None:
        if self._rollout is not None and self.state.phase in ("canary", "rolling_back"):
            self.state.canary = self._rollout.to_dict()

    def _promote(self, t: float) -> Action:
        run = self.state.run
        assert run is not None  # noqa: S101
        cand = self._candidate()
        if self.registry.aliases(self.model).get(self.alias) != cand.version:
            try:
                self.registry.promote(
                    self.model,
                    self.alias,
                    cand.version,
                    checks=self._safe_checks(),
                    expected_version=run["parent"],
                    reason=self._why(run, "promoted"),
                    **({} if self.approved_by is None else {"approved_by": self.approved_by}),
                )
            except PromotionError as err:
                return self._refuse(
                    t, f"{cand.ref} refused at promotion: " + "; ".join(err.failures)
                )
            except AuthorizationError as err:  # a protected alias: wait for approval
                return self._log("hold", f"{cand.ref} waits for approval: {err}")
            except ConflictError as err:
                return self._refuse(
                    t, f"{cand.ref} not promoted: {self.alias!r} moved meanwhile ({_short(err)})"
                )
            self._checkpoint("promoted")
        self._drop_candidate_alias("promoted")
        st = self.state
        st.phase, st.run, st.canary, st.failures, st.backoff_until = "idle", None, None, 0, None
        self._rollout = None
        self._reset_triggers()  # a new model: evidence about the old one no longer applies
        parent = "nothing" if run["parent"] is None else f"version {run['parent']}"
        return self._log(
            "promote",
            f"{cand.ref} promoted to {self.alias} (replacing {parent}): "
            f"{run['trigger']}: {run['reason']}",
            run_id=run["id"],
            version=cand.version,
            trigger=run["trigger"],
        )

    def _refuse(self, t: float, reason: str) -> Action:
        """Refuse the candidate, saving the intent first.

        The refusal and its reason are saved before the candidate's alias is dropped and
        it is archived, so a crash in between resumes with this refusal (a resumed step
        calls this again), not with the checks run again or an archived version promoted.
        """
        run = self.state.run
        assert run is not None  # noqa: S101
        if run.get("refusing") is None:
            run["refusing"] = reason[:4000]
            self._save()
            self._checkpoint("refuse_saved")
        self._drop_candidate_alias("refused")
        self._archive_candidate()
        self._checkpoint("refuse_archived")
        return self._fail(t, run["refusing"])

    def _roll_back(self, t: float) -> Action:
        run = self.state.run
        assert run is not None  # noqa: S101
        decisions = self._rollout.decisions if self._rollout is not None else []
        why = decisions[-1].reason if decisions else "the canary failed"
        version = run["version"]
        self._drop_candidate_alias(f"rolled back: {why}")
        self._checkpoint("rollback_alias")
        self._archive_candidate()
        return self._fail(t, f"{self.model}@{version} rolled back: {why}", kind="rollback")

    def _drop_candidate_alias(self, why: str) -> None:
        if self.candidate_alias in self.registry.aliases(self.model):
            run = self.state.run
            self.registry.delete_alias(
                self.model,
                self.candidate_alias,
                reason=None if run is None else self._why(run, why),
            )

    @staticmethod
    def _why(run: Mapping[str, Any], what: str) -> str:
        """The audit log's reason for a registry move made by ``run``."""
        return f"RetrainController run {run['id']}: {what}; {run['trigger']}: {run['reason']}"

    def _archive_candidate(self) -> None:
        cand = self._candidate()
        if cand.status == "ready":
            self.registry.archive(self.model, cand.version)
