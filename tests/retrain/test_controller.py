"""RetrainController: decisions, lineage, checks, canary, guards, cost and the audit log."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from prodml.errors import ConfigError
from prodml.fingerprint import fingerprint_table
from prodml.monitoring import AlertEvent
from prodml.registry import MetricThreshold, NotWorseThanCurrent
from prodml.retrain import (
    AlertTrigger,
    ConceptDriftTrigger,
    DriftTrigger,
    ErrorRateTrigger,
    Guards,
    RetrainController,
    RetrainCost,
    ScheduleTrigger,
    Signal,
)
from prodml.retrain._controller import RUN_TAG
from prodml.rollout import Canary, Gate, Step

from .helpers import DAY, Trainer, data, registry

NO_GUARDS = Guards(min_interval=0, backoff=3600, max_backoff=4 * 3600)


def controller(reg, **kw):
    kw.setdefault("train", Trainer())
    kw.setdefault("triggers", [ScheduleTrigger(timedelta(days=7))])
    kw.setdefault("data", lambda ctx: data(seed=int(ctx.now // DAY)))
    return RetrainController(registry=reg, model="churn", alias="production", **kw)


def test_first_run_registers_with_full_lineage_and_promotes():
    reg = registry()
    trainer = Trainer()
    ctl = controller(reg, train=trainer)
    action = ctl.step(0.0)
    assert (action.action, action.version, action.trigger) == ("promote", 1, "schedule")
    mv = reg.get("churn@production")
    assert mv.version == 1
    assert mv.tags[RUN_TAG] == action.run_id == trainer.calls[0]
    assert mv.lineage.data_fingerprint == fingerprint_table(data(seed=0))
    assert mv.lineage.pipeline_fingerprint is not None
    assert mv.lineage.parent_version is None
    extra = mv.lineage.model_extra or {}
    assert extra["retrain"]["trigger"] == "schedule"
    assert mv.signature is not None
    assert "plan" in mv.signature.names
    assert [d.action for d in ctl.decisions] == ["retrain", "register", "advance", "promote"]


def test_second_run_names_its_parent_and_the_audit_log_holds_the_reason():
    reg = registry()
    ctl = controller(reg)
    ctl.step(0.0)
    action = ctl.step(8 * DAY)
    assert action.action == "promote"
    mv = reg.get("churn@production")
    assert (mv.version, mv.lineage.parent_version) == (2, 1)
    assert mv.description.startswith("retrained by RetrainController: the model is 8 days old")
    event = reg.history("churn", alias="production").items[0]
    assert event.version == 2
    assert event.previous_version == 1
    assert event.detail["checks"] == []  # the reason is the move's own, not a check's text
    assert event.detail["reason"].startswith("RetrainController run ")
    assert "promoted; schedule: the model is 8 days old" in event.detail["reason"]
    moves = [e for e in reg.history("churn").items if e.alias == "production-candidate"]
    assert all("RetrainController run " in e.detail["reason"] for e in moves)


def test_step_twice_does_nothing_twice():
    reg = registry()
    ctl = controller(reg, guards=Guards(min_interval=0))
    ctl.step(0.0)
    events = len(reg.history("churn").items)
    again = ctl.step(0.0)
    assert again.action == "none"
    assert len(reg.history("churn").items) == events
    assert len(list(reg.search("churn"))) == 1
    ctl.step(0.0)
    assert ctl.decisions[-1].repeats == 2  # repeated "none" folds into one entry


def test_refused_candidate_is_archived_and_backs_off_exponentially():
    reg = registry()
    ctl = controller(reg, guards=NO_GUARDS)
    ctl.step(0.0)
    ctl.train = Trainer(accuracy=0.1)
    ctl.checks = [MetricThreshold("accuracy", min=0.6)]
    refused = ctl.step(8 * DAY)
    assert refused.action == "refuse"
    assert "below the minimum 0.6" in refused.reason
    assert "backing off 1 h" in refused.reason
    assert reg.get("churn@production").version == 1
    assert reg.get("churn@2").status == "archived"
    assert ctl.step(8 * DAY + 1800).reason.startswith("backing off after 1 failed run")
    waits = []
    t = 8 * DAY
    for _ in range(4):
        t = ctl.state.backoff_until
        ctl.step(t)
        waits.append((ctl.state.backoff_until - t) / 3600)
    assert waits == [2.0, 4.0, 4.0, 4.0]  # doubled, then capped by max_backoff
    ctl.train = Trainer()
    assert ctl.step(ctl.state.backoff_until).action == "promote"
    assert (ctl.state.failures, ctl.state.backoff_until) == (0, None)


def test_failing_train_is_a_failed_run_with_the_cause():
    reg = registry()
    ctl = controller(reg, train=Trainer(fail=True), guards=NO_GUARDS)
    action = ctl.step(0.0)
    assert action.action == "fail"
    assert "RuntimeError: the training cluster is down" in action.reason
    assert "churn" not in reg.models()
    assert ctl.state.phase == "idle"
    assert ctl.state.failures == 1


def test_train_returning_the_wrong_shape_fails_the_run():
    ctl = controller(registry(), train=lambda d, c: (None, None), guards=NO_GUARDS)
    action = ctl.step(0.0)
    assert action.action == "fail"
    assert "(pipeline, model, metrics)" in action.reason


def _canary() -> Canary:
    return Canary(
        [Step(0.2, min_samples=200), Step(0.5, min_samples=300)],
        [Gate("error_rate", ratio=1.1)],
        min_samples=100,
        salt="t",
    )


def _traffic(ctl: RetrainController, candidate_error: float, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        variant = ctl.rollout.route(f"c-{seed}-{i}")
        rate = candidate_error if variant == "candidate" else 0.2
        ctl.rollout.observe(variant, error_rate=float(rng.random() < rate))


def test_canary_promotes_a_good_candidate():
    reg = registry()
    ctl = controller(reg, canary=_canary())
    assert ctl.step(0.0).action == "promote"  # nothing to canary against: checks only
    started = ctl.step(8 * DAY)
    assert started.action == "canary"
    assert reg.aliases("churn")["production-candidate"] == 2
    actions = []
    for k in range(10):
        _traffic(ctl, 0.1, 1000, seed=k)
        actions.append(ctl.step(8 * DAY + (k + 1) * 3600).action)
        if actions[-1] == "promote":
            break
    assert actions[-1] == "promote"
    assert "advance" in actions
    assert reg.aliases("churn") == {"production": 2}
    assert ctl.rollout is None


def test_canary_rolls_back_a_bad_candidate():
    reg = registry()
    ctl = controller(reg, canary=_canary(), guards=NO_GUARDS)
    ctl.step(0.0)
    ctl.step(8 * DAY)
    for k in range(10):
        _traffic(ctl, 0.5, 1000, seed=k)
        action = ctl.step(8 * DAY + (k + 1) * 3600)
        if action.action == "rollback":
            break
    assert action.action == "rollback"
    assert "gate failed" in action.reason
    assert reg.aliases("churn") == {"production": 1}
    assert reg.get("churn@2").status == "archived"
    assert ctl.state.failures == 1


def test_canary_state_survives_a_restart(tmp_path):
    reg = registry()
    path = tmp_path / "state.json"
    ctl = controller(reg, canary=_canary(), state_path=path)
    ctl.step(0.0)
    ctl.step(8 * DAY)
    _traffic(ctl, 0.1, 500, seed=1)
    ctl.save()
    requests = ctl.rollout.to_dict()["metrics"]
    again = controller(reg, canary=_canary(), state_path=path)
    assert again.state.phase == "canary"
    assert again.rollout.to_dict()["metrics"] == requests
    with pytest.raises(ConfigError, match="pass the same canary"):
        controller(reg, state_path=path)


def test_guards_min_interval_cap_and_budget():
    reg = registry()
    events: list[AlertEvent] = []
    trig = AlertTrigger(lambda: events)
    cost = RetrainCost(100.0, value_per_unit=1.0)
    ctl = controller(
        reg,
        triggers=[trig],
        cost=cost,
        guards=Guards(min_interval=DAY, max_runs=3, period=timedelta(days=10), budget=250.0),
    )

    def fire(t: float) -> str:
        events.append(AlertEvent("acc", "firing", 0.5, t - 1, "page", "churn", "accuracy low"))
        return ctl.step(t).reason

    fire(0.0)
    assert "started 1 h ago, less than the minimum interval of 1 day" in fire(3600.0)
    fire(DAY)
    assert "would exceed the budget of 250.00" in fire(2 * DAY)
    ctl.guards = Guards(min_interval=DAY, max_runs=2, period=timedelta(days=10))
    assert "2 runs in the last 10 days reached the cap of 2" in fire(3 * DAY)
    assert len(list(reg.search("churn"))) == 2
    assert fire(11 * DAY).startswith("churn@3 promoted")  # the period has passed


def test_cost_model_skips_a_drop_not_worth_a_retraining():
    reg = registry()
    ctl = controller(reg, guards=NO_GUARDS)
    ctl.step(0.0)
    value = [0.84]
    ctl.triggers = [AlertTrigger(
        lambda: [AlertEvent("acc", "firing", value[0], DAY, "page", "churn", "acc < 0.85")],
        baseline=0.85,
    )]  # fmt: skip
    ctl.cost = RetrainCost(1000.0, value_per_unit=10_000.0, horizon=timedelta(days=7))
    skipped = ctl.step(2 * DAY)
    assert skipped.action == "skip"
    assert "a drop of 0.01 costs 700.00 over the horizon" in skipped.reason
    value[0] = 0.8  # 0.05 * 10_000 * 7 = 3500 > 1000
    assert ctl.step(2 * DAY + 60).action == "promote"


def test_alert_trigger_counts_only_new_events_of_its_rules():
    reg = registry()
    events = [AlertEvent("latency", "firing", 2.0, 10.0, "page", "churn", "slow")]
    ctl = controller(reg, triggers=[AlertTrigger(lambda: events, rules=["acc"])])
    assert ctl.step(100.0).reason == "no trigger fired"
    events.append(AlertEvent("acc", "firing", 0.5, 50.0, "page", "churn", "bad"))
    assert ctl.step(200.0).action == "promote"
    ctl.guards = Guards(min_interval=0)
    assert ctl.step(300.0).reason == "no trigger fired"  # acted on already


def test_concept_drift_trigger_is_reset_by_the_run():
    from prodml.drift import DDM

    reg = registry()
    trig = ConceptDriftTrigger(DDM(), baseline_error=0.1)
    ctl = controller(reg, triggers=[trig])
    rng = np.random.default_rng(3)
    trig.update_many(rng.random(3000) < 0.1)
    assert ctl.step(0.0).action == "none"
    trig.update_many(rng.random(3000) < 0.4)
    action = ctl.step(DAY)
    assert action.action == "promote"
    assert action.trigger == "concept_drift"
    assert trig.alarms == 0
    assert ctl.decisions[-4].reason.startswith("concept_drift: DDM raised")


def test_single_updates_match_update_many():
    from prodml.drift import DDM

    x = (np.random.default_rng(5).random(6000) < np.repeat([0.1, 0.4], 3000)).astype(float)
    a, b = (
        ConceptDriftTrigger(DDM(), baseline_error=0.1),
        ConceptDriftTrigger(DDM(), baseline_error=0.1),
    )
    a.update_many(x[:4000])
    a.update_many(x[4000:])
    for v in x:
        b.update(v)
    ctx_args = (1.0, 0.0, None)
    from prodml.retrain import TriggerContext

    sa, sb = a.check(TriggerContext(*ctx_args)), b.check(TriggerContext(*ctx_args))
    assert sa is not None
    assert sb is not None
    assert sa.evidence == sb.evidence
    assert sa.drop == pytest.approx(sb.drop)


def test_drift_trigger_columns_and_share():
    from prodml.drift import DriftDetector

    rng = np.random.default_rng(0)
    import pandas as pd

    ref = pd.DataFrame(
        {"a": rng.normal(size=3000), "b": rng.normal(size=3000), "c": rng.normal(size=3000)}
    )
    cur = ref.assign(a=rng.normal(1.0, size=3000))
    det = DriftDetector().fit(ref)
    from prodml.retrain import TriggerContext

    ctx = TriggerContext(1.0, 0.0, None)
    assert DriftTrigger(lambda: det.detect(cur), min_share=0.5).check(ctx) is None
    sig = DriftTrigger(lambda: det.detect(cur), min_share=None, columns=["a"]).check(ctx)
    assert sig is not None
    assert sig.evidence["drifted"] == ["a"]
    assert DriftTrigger(lambda: None).check(ctx) is None


def test_fairness_gate_refuses_a_candidate_without_group_counts():
    from prodml.fairness import FairnessGate

    reg = registry()
    ctl = controller(reg, checks=[FairnessGate("tpr", max_difference=0.1)], guards=NO_GUARDS)
    action = ctl.step(0.0)
    assert action.action == "refuse"
    assert "has no per-group counts recorded" in action.reason


def test_not_worse_than_current_is_checked_against_production():
    reg = registry()
    ctl = controller(reg, guards=NO_GUARDS)
    ctl.step(0.0)
    ctl.train = Trainer(accuracy=0.0)
    ctl.checks = [NotWorseThanCurrent("accuracy")]
    action = ctl.step(8 * DAY)
    assert action.action == "refuse"
    assert "worse than" in action.reason


def test_datetime_clock_and_bad_clock():
    ctl = controller(registry())
    assert ctl.step(datetime(2026, 1, 1, tzinfo=timezone.utc)).action == "promote"
    with pytest.raises(ConfigError, match="timezone-aware"):
        ctl.step(datetime(2026, 1, 1))
    for bad in ("tomorrow", math.nan, math.inf, 10**400, True):
        with pytest.raises(ConfigError, match="seconds since the epoch") as err:
            ctl.step(bad)  # type: ignore[arg-type]
        assert len(str(err.value)) < 200


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train": 3}, "train must be a function"),
        ({"triggers": [object()]}, "must have a name and check"),
        ({"checks": [3]}, "checks\\[0\\] is not callable"),
        ({"canary": "yes"}, "prodml.rollout.Canary"),
        ({"cost": 3.0}, "must be a RetrainCost"),
        ({"guards": Guards(budget=10.0)}, "needs cost=RetrainCost"),
        ({"candidate_alias": "production"}, "must differ from alias"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        controller(registry(), **kwargs)


def test_decisions_are_json():
    ctl = controller(registry())
    ctl.step(0.0)
    text = json.dumps(ctl.to_dict(), allow_nan=False)
    assert json.loads(text)["decisions"][0]["action"] == "retrain"


def test_a_canary_without_a_verdict_is_rolled_back_at_the_limit():
    reg = registry()
    guards = Guards(min_interval=0, max_canary=timedelta(days=2))
    ctl = controller(reg, canary=_canary(), guards=guards)
    ctl.step(0.0)
    assert ctl.step(8 * DAY).action == "canary"
    assert ctl.state.run["canary_at"] == 8 * DAY
    assert ctl.step(9 * DAY).action == "hold"  # no traffic, no verdict
    action = ctl.step(10 * DAY)
    assert action.action == "rollback"
    assert "no verdict after 2 days (the limit is 2 days)" in action.reason
    assert reg.aliases("churn") == {"production": 1}


def _summaries(ctl: RetrainController, baseline: float, candidate: float, n: int) -> None:
    """Constructed canary evidence: ``n`` requests per variant at the given error rates."""
    ctl.rollout.observe_summary("baseline", n, {"error_rate": baseline})
    ctl.rollout.observe_summary("candidate", n, {"error_rate": candidate})


def _concluding(**kw: object) -> RetrainController:
    guards = Guards(min_interval=0, max_canary=timedelta(days=2), canary_timeout="conclude")
    one_step = Canary([Step(0.5, min_samples=100)], [Gate("error_rate", ratio=1.2)], salt="t")
    return controller(registry(), canary=one_step, guards=guards, **kw)


def test_at_the_limit_conclude_promotes_a_candidate_within_the_margin_on_the_estimate():
    ctl = _concluding()
    ctl.step(0.0)
    assert ctl.step(8 * DAY).action == "canary"
    # 0.32 against 0.30: within 1.2 x (0.36) on the estimate, not with 95 % on 300 each
    _summaries(ctl, 0.30, 0.32, 300)
    assert ctl.step(9 * DAY).action == "hold"
    action = ctl.step(10 * DAY)
    assert action.action == "promote"
    assert ctl.registry.aliases("churn") == {"production": 2}
    advance = ctl.decisions[-2]
    assert advance.action == "advance"
    assert "no verdict after 2 days (the limit is 2 days)" in advance.reason
    assert "every gate within its limit on the estimate" in advance.reason
    assert ctl.state.failures == 0


def test_at_the_limit_conclude_rolls_back_a_candidate_beyond_the_margin_on_the_estimate():
    ctl = _concluding()
    ctl.step(0.0)
    ctl.step(8 * DAY)
    # 0.37 against 0.30: beyond 1.2 x (0.36) on the estimate, yet not a failed gate
    _summaries(ctl, 0.30, 0.37, 300)
    ctl.step(9 * DAY)
    assert ctl.rollout.decisions[-1].evidence["gates"][0]["verdict"] == "inconclusive"
    action = ctl.step(10 * DAY)
    assert action.action == "rollback"
    assert "not within the limit on the estimate" in action.reason
    assert ctl.registry.aliases("churn") == {"production": 1}
    assert ctl.registry.get("churn@2").status == "archived"


def test_at_the_limit_the_default_rolls_back_even_a_candidate_within_the_margin():
    guards = Guards(min_interval=0, max_canary=timedelta(days=2))
    assert guards.canary_timeout == "rollback"
    one_step = Canary([Step(0.5, min_samples=100)], [Gate("error_rate", ratio=1.2)], salt="t")
    ctl = controller(registry(), canary=one_step, guards=guards)
    ctl.step(0.0)
    ctl.step(8 * DAY)
    _summaries(ctl, 0.30, 0.32, 300)
    ctl.step(9 * DAY)
    assert ctl.step(10 * DAY).action == "rollback"


@pytest.mark.parametrize("bad", ["promote", "", None, 1, "ROLLBACK"])
def test_guards_reject_an_unknown_canary_timeout(bad):
    with pytest.raises(ConfigError, match="'canary_timeout' parameter of Guards") as info:
        Guards(canary_timeout=bad)
    assert info.value.parameter == "canary_timeout"


def test_a_protected_alias_waits_for_approval_without_archiving():
    from prodml.registry import ModelRegistry
    from prodml.registry.authz import RequireApproval

    reg = ModelRegistry(
        "memory://",
        "memory://retrain-authz",
        authorizer=RequireApproval({"production"}),
        actor="retrain-bot",
    )
    ctl = controller(reg)
    waiting = ctl.step(0.0)
    assert waiting.action == "hold"
    assert "waits for approval" in waiting.reason
    assert "needs approved_by=" in waiting.reason
    assert ctl.state.phase == "promoting"
    assert ctl.step(3600.0).repeats == 2  # still waiting, one folded log entry
    assert reg.get("churn@1").status == "ready"
    ctl.approved_by = "alice"
    assert ctl.step(7200.0).action == "promote"
    event = reg.history("churn", alias="production").items[0]
    assert event.detail.get("approved_by") == "alice"


def test_error_rate_trigger_retrains_then_learns_the_new_models_baseline():
    reg = registry()
    errors = ErrorRateTrigger(baseline_metric="accuracy", baseline_samples=400, warmup=500)
    ctl = controller(
        reg,
        triggers=[ScheduleTrigger(timedelta(days=7)), errors],
        cost=RetrainCost(100.0, value_per_unit=10_000.0),
        guards=NO_GUARDS,
    )
    assert ctl.step(0.0).action == "promote"  # nothing in production: the schedule fires
    assert errors.seen == 0
    assert errors.baseline_ is None
    ctl.step(DAY)  # the first check reads the held-out accuracy: the baseline's cap
    held_out = reg.get("churn@production").metrics["accuracy"]
    assert errors.baseline_ == pytest.approx(
        min(0.99, 1 - held_out + 2 * np.sqrt(max(held_out * (1 - held_out), 1 / 400) / 400))
    )
    rng = np.random.default_rng(0)
    assert errors.update_many(rng.random(3_000) < min(0.95, 1 - held_out + 0.3))
    action = ctl.step(2 * DAY)
    assert (action.action, action.trigger, action.version) == ("promote", "error_rate", 2)
    assert "labelled predictions against a baseline of" in action.reason
    assert errors.alarm_ is None
    assert errors.seen == 0


class DriftOn:
    """A data-drift co-signal that fires until told otherwise."""

    name = "drift"

    def __init__(self) -> None:
        self.fire = True

    def check(self, context: object) -> Signal | None:
        return Signal("drift", "2 of 3 columns drifted (a, b)") if self.fire else None


def test_a_follow_up_retrains_while_the_data_still_drifts_from_the_new_training_data():
    reg = registry()
    drift = DriftOn()
    errors = ErrorRateTrigger(
        baseline_metric="accuracy", baseline_samples=400, warmup=500, drift=drift
    )
    ctl = controller(
        reg,
        triggers=[ScheduleTrigger(timedelta(days=7)), errors],
        cost=RetrainCost(100.0, value_per_unit=10_000.0),
        guards=NO_GUARDS,
    )
    assert ctl.step(0.0).action == "promote"
    ctl.step(DAY)
    before = errors.baseline_
    assert before is not None
    rng = np.random.default_rng(0)
    assert errors.update_many(rng.random(3_000) < min(0.95, before + 0.3))
    assert ctl.step(2 * DAY).version == 2  # the alarm: retrained and promoted
    errors.update_many(rng.random(600) < min(0.95, before + 0.2))  # version 2's warm-up
    action = ctl.step(3 * DAY)  # the data still drifts against version 2's training data
    assert (action.action, action.trigger, action.version) == ("promote", "error_rate", 3)
    assert "follow-up: data still drifted" in action.reason
    drift.fire = False  # settled: version 3 serves on
    errors.update_many(rng.random(600) < min(0.95, before + 0.2))
    assert ctl.step(4 * DAY).action == "none"
    assert reg.get("churn@production").version == 3
