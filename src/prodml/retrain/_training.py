"""The training phase of :class:`~prodml.retrain.RetrainController` (a mixin).

``_train`` runs the user's ``train`` on the training set of the run (or adopts the
version a crashed step registered, found by its :data:`RUN_TAG`), registers the result
with the run's lineage and tags, and moves the run to ``checking``; ``_fail`` ends a run
that failed (or was refused) and backs off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from prodml._data import type_name
from prodml._durations import describe
from prodml._quote import short_repr
from prodml._state import finite_float
from prodml.errors import ConfigError, ProdMLError
from prodml.registry import ModelRegistry, ModelVersion
from prodml.retrain._data import build, lineage_of
from prodml.retrain._guards import Guards
from prodml.retrain._state import MAX_CLOCK_S, ActionKind, RetrainState
from prodml.rollout import Canary
from prodml.schema import Schema

if TYPE_CHECKING:
    from prodml.retrain._controller import Action, RunContext

__all__ = ["RUN_TAG", "TRAINED_AT_TAG", "ControllerParts", "Training"]

RUN_TAG = "prodml.retrain.run"
"""Tag every candidate carries: the run id, the key that makes registration idempotent."""
TRAINED_AT_TAG = "prodml.retrain.trained_at"
"""Tag with the controller's clock (seconds) when the candidate's run started."""


def _fitted(obj: object) -> bool:
    """False for an object scikit-learn's convention says is not fitted yet."""
    says = getattr(obj, "__sklearn_is_fitted__", None)
    if callable(says):
        return bool(says())
    if isinstance(obj, BaseEstimator):
        try:
            check_is_fitted(obj)
        except NotFittedError:
            return False
    return True


def checked_metrics(metrics: Mapping[Any, Any]) -> dict[str, float]:
    """``train``'s metrics as ``{name: finite float}``, or a ConfigError naming the bad one."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(
                f"train's metrics must be named by non-empty strs. Got the key {short_repr(key)}.",
                parameter="train",
            )
        number = finite_float(value)
        if number is None:
            raise ConfigError(
                f"train's metric {short_repr(key)} must be a finite number. "
                f"Got {short_repr(value)}",
                parameter="train",
            )
        out[key] = number
    return out


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text[:200]}"


class ControllerParts:
    """The controller's parts its mixins use, declared for type checkers.

    :class:`Training` and :class:`~prodml.retrain._promotion.Promotion` are mixed into
    :class:`~prodml.retrain.RetrainController`; at run time this class is empty.
    """

    if TYPE_CHECKING:  # supplied by RetrainController
        registry: ModelRegistry
        model: str
        state: RetrainState
        _rollout: Canary | None

        def _log(
            self,
            kind: ActionKind,
            reason: str,
            *,
            run_id: str | None = None,
            version: int | None = None,
            trigger: str | None = None,
            save: bool = True,
        ) -> Action: ...

        def _save(self) -> None: ...

        def _checkpoint(self, point: str) -> None: ...


class Training(ControllerParts):
    """The training phase of :class:`~prodml.retrain.RetrainController` (a mixin)."""

    if TYPE_CHECKING:  # supplied by RetrainController
        train: Callable[[Any, RunContext], Any]
        data: Callable[[RunContext], Any] | None
        guards: Guards
        signature: Schema | None

        def _has_model(self) -> bool: ...

        def _context(self) -> RunContext: ...

    def _find(self, run_id: str) -> ModelVersion | None:
        if not self._has_model():
            return None
        found = list(self.registry.search(self.model, tags={RUN_TAG: run_id}, page_size=2))
        return found[0] if found else None

    def _train(self, t: float) -> Action:
        run = self.state.run
        assert run is not None  # noqa: S101
        existing = self._find(run["id"])  # registered before a crash: adopt it
        if existing is None:
            try:
                mv = self._train_and_register(run)
            except ProdMLError as err:
                return self._fail(t, f"run {run['id']} failed: {_short(err)}")
            except Exception as err:  # noqa: BLE001 - user code: any failure is a failed run
                return self._fail(t, f"train failed in run {run['id']}: {_short(err)}")
        else:
            mv = existing
        run["version"] = mv.version
        self.state.phase = "checking"
        action = self._log(
            "register", f"registered {mv.ref} ({run['trigger']}: {run['reason']})", save=False
        )
        self._save()
        self._checkpoint("registered_saved")
        return action

    def _train_and_register(self, run: dict[str, Any]) -> ModelVersion:
        context = self._context()
        training_set = build(self.data, context)
        out = self.train(training_set, context)
        if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[2], Mapping)):
            got = f"a tuple of {len(out)}" if isinstance(out, tuple) else type_name(out)
            raise ConfigError(
                "train must return (pipeline, model, metrics) with metrics a dict of floats. "
                f"Got {got}.",
                parameter="train",
            )
        pipeline, model, metrics = out
        if model is None:
            raise ConfigError(
                "train returned no model: (pipeline, None, metrics). Return the fitted model "
                "as the second item (the pipeline may be None)",
                parameter="train",
            )
        for what, obj in (("pipeline", pipeline), ("model", model)):
            if obj is not None and not _fitted(obj):
                raise ConfigError(
                    f"train returned a {what} that is not fitted ({type_name(obj)}): fit it "
                    "before returning it",
                    parameter="train",
                )
        checked = checked_metrics(metrics)
        lineage: dict[str, Any] = lineage_of(training_set)
        fp = getattr(pipeline, "fingerprint", None)
        if isinstance(fp, str):
            lineage["pipeline_fingerprint"] = fp
        lineage.update(
            parent_version=run["parent"],
            retrain={"run_id": run["id"], "trigger": run["trigger"], "reason": run["reason"]},
        )
        signature = self.signature
        if signature is None:
            signature = getattr(pipeline, "input_schema", None)
        self._checkpoint("trained")
        mv: ModelVersion = self.registry.register(
            self.model,
            model if pipeline is None else (pipeline, model),
            tags={
                RUN_TAG: run["id"],
                TRAINED_AT_TAG: repr(run["started_at"]),
                "prodml.retrain.trigger": run["trigger"][:200],
            },
            description=f"retrained by RetrainController: {run['reason']}"[:1000],
            signature=signature,
            metrics=checked,
            lineage=lineage,
        )
        self._checkpoint("registered")
        return mv

    def _fail(self, t: float, reason: str, *, kind: ActionKind | None = None) -> Action:
        st = self.state
        run_id = st.run["id"] if st.run else None
        trigger = st.run["trigger"] if st.run else None
        version = st.run["version"] if st.run else None
        st.failures += 1
        # A back-off beyond the largest clock is "forever"; capped, it stays a time the
        # state file can hold (a max_backoff of 1e300 s wrote a file refused on load).
        wait = min(self.guards.backoff_s(st.failures), MAX_CLOCK_S)
        st.backoff_until = t + wait
        st.phase, st.run, st.canary = "idle", None, None
        self._rollout = None
        reason = f"{reason}; backing off {describe(wait)}"
        return self._log(
            kind or ("fail" if version is None else "refuse"),
            reason,
            run_id=run_id,
            version=version,
            trigger=trigger,
        )
