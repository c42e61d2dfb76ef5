"""A run whose candidate is gone from the registry ends, instead of raising at every step."""

from __future__ import annotations

import json

import pytest

from prodml.retrain import Guards

from .helpers import DAY, registry
from .test_controller import _canary, _traffic, controller

GUARDS = Guards(min_interval=0, backoff=3600, max_backoff=4 * 3600)


def _in_canary(tmp_path, reg):
    ctl = controller(reg, canary=_canary(), guards=GUARDS, state_path=tmp_path / "state.json")
    assert ctl.step(0.0).action == "promote"
    assert ctl.step(8 * DAY).action == "canary"
    return ctl


def test_state_beside_another_registry_abandons_the_run_once(tmp_path):
    _in_canary(tmp_path, registry())
    other = registry()  # a registry that never held the candidate (v2)
    ctl = controller(other, canary=_canary(), guards=GUARDS, state_path=tmp_path / "state.json")
    action = ctl.step(9 * DAY)
    assert action.action == "fail"
    assert "churn@2" in action.reason
    assert "no longer in the registry" in action.reason
    assert ctl.state.phase == "idle"
    assert ctl.state.run is None
    assert ctl.rollout is None
    assert ctl.state.failures == 1
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["phase"] == "idle"
    # The next steps wait out the back-off, then decide again instead of raising again:
    # this registry has no production version, so the schedule trains its first.
    waiting = ctl.step(9 * DAY + 60)
    assert (waiting.action, "backing off" in waiting.reason) == ("none", True)
    fresh = ctl.step(9 * DAY + 7200)
    assert (fresh.action, fresh.version) == ("promote", 1)


def test_candidate_deleted_during_its_canary(tmp_path):
    reg = registry()
    ctl = _in_canary(tmp_path, reg)
    _traffic(ctl, 0.1, 200, seed=0)
    reg.delete_alias("churn", "production-candidate")
    reg.delete("churn", 2)
    action = ctl.step(8 * DAY + 3600)
    assert (action.action, action.version) == ("fail", 2)
    assert ctl.state.phase == "idle"
    assert reg.aliases("churn") == {"production": 1}  # production untouched


@pytest.mark.parametrize("phase", ["checking", "promoting", "rolling_back"])
def test_every_phase_with_a_candidate_abandons_it(tmp_path, phase):
    _in_canary(tmp_path, registry())
    state = json.loads((tmp_path / "state.json").read_text())
    state["phase"] = phase
    state["canary"] = None
    (tmp_path / "state.json").write_text(json.dumps(state))
    other = registry()
    again = controller(other, canary=_canary(), guards=GUARDS, state_path=tmp_path / "state.json")
    action = again.step(9 * DAY)
    assert action.action == "fail"
    assert "no longer in the registry" in action.reason
    assert again.state.phase == "idle"


def test_refusal_interrupted_then_candidate_gone(tmp_path):
    reg = registry()
    _in_canary(tmp_path, reg)
    state = json.loads((tmp_path / "state.json").read_text())
    state["run"]["refusing"] = "churn@2 refused by the promotion checks: accuracy too low"
    (tmp_path / "state.json").write_text(json.dumps(state))
    again = controller(
        registry(), canary=_canary(), guards=GUARDS, state_path=tmp_path / "state.json"
    )
    action = again.step(9 * DAY)
    assert action.action == "fail"
    assert "while it was being refused (churn@2 refused by the promotion checks" in action.reason
    assert again.state.phase == "idle"
