"""Shadow has an end: after promote or rollback it mirrors nothing and decides nothing more."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prodml.errors import PolicyError
from prodml.rollout import Shadow


def clock() -> float:
    return 7.0


def _rolled_back() -> Shadow:
    sh = Shadow(min_agreement=0.9, min_samples=100, mirror=1.0, clock=clock)
    sh.compare_many(np.zeros(200), np.r_[np.zeros(100), np.ones(100)])  # 50 % agreement
    return sh


def test_a_rollback_ends_the_shadow_and_is_not_decided_again() -> None:
    sh = _rolled_back()
    assert sh.state == "running"
    assert sh.should_mirror("u1")
    final = sh.evaluate()
    assert (final.action, sh.state) == ("rollback", "rolled_back")
    # Overwhelming agreement afterwards used to turn the rollback into a promote.
    sh.compare_many(np.zeros(100_000), np.zeros(100_000))
    assert sh.evaluate() is final
    assert [d.action for d in sh.decisions] == ["rollback"]
    assert not any(sh.should_mirror(f"u{i}") for i in range(1000))
    # late answers are still recorded for the report, never decided on
    assert sh.report()["compared"] == 100_200
    assert sh.compare(1.0, 1.0)
    sh.observe("primary", latency=3.0)
    assert sh.report()["compared"] == 100_201
    assert sh.evaluate() is final


def test_a_promotion_ends_the_shadow_too() -> None:
    sh = Shadow(min_agreement=0.9, min_samples=100, mirror=1.0, clock=clock)
    sh.compare_many(np.zeros(1000), np.zeros(1000))
    final = sh.evaluate()
    assert (final.action, sh.state) == ("promote", "promoted")
    sh.compare_many(np.zeros(10_000), np.ones(10_000))  # would fail the gate now
    assert sh.evaluate() is final
    assert [d.action for d in sh.decisions] == ["promote"]
    assert not sh.should_mirror("u1")


def test_holds_do_not_end_it() -> None:
    sh = Shadow(min_agreement=0.9, min_samples=100, mirror=1.0, clock=clock)
    assert sh.evaluate().action == "hold"
    assert sh.state == "running"
    assert sh.should_mirror("u1")


def test_the_end_round_trips_and_old_states_still_load() -> None:
    sh = _rolled_back()
    final = sh.evaluate()
    data = json.loads(sh.to_json())
    assert data["state"] == "rolled_back"
    back = Shadow.from_dict(data, clock=clock)
    assert back.state == "rolled_back"
    assert back.evaluate() == final
    assert not back.should_mirror("u1")
    assert json.loads(back.to_json()) == data
    # running states round-trip as running
    fresh = json.loads(Shadow(clock=clock).to_json())
    assert fresh["state"] == "running"
    assert Shadow.from_dict(fresh).state == "running"
    # A state saved before the field existed: it ends at its log's last promote/rollback.
    old = {k: v for k, v in data.items() if k != "state"}
    assert Shadow.from_dict(old, clock=clock).state == "rolled_back"
    old_running = {k: v for k, v in fresh.items() if k != "state"}
    assert Shadow.from_dict(old_running).state == "running"
    rolled_then_promoted = {**old, "log": [*old["log"], {**old["log"][0], "action": "promote"}]}
    restored = Shadow.from_dict(rolled_then_promoted, clock=clock)
    assert restored.state == "promoted"
    assert restored.evaluate().action == "promote"


@pytest.mark.parametrize(
    ("state", "log_from", "match"),
    [
        ("running", "ended", "field 'state' must be 'rolled_back', as the log says"),
        ("rolled_back", "running", "field 'state' must be 'running'"),
        ("promoted", "ended", "field 'state' must be 'rolled_back'"),
        ("done", "ended", "field 'state' must be one of 'running'"),
        (1, "ended", "field 'state' must be one of"),
    ],
)
def test_hostile_saved_state_is_refused(state: object, log_from: str, match: str) -> None:
    ended = json.loads(_rolled_back_and_decided().to_json())
    running = json.loads(Shadow(clock=clock).to_json())
    base = ended if log_from == "ended" else running
    data = {**base, "state": state}
    with pytest.raises(PolicyError, match=match):
        Shadow.from_dict(data)


def _rolled_back_and_decided() -> Shadow:
    sh = _rolled_back()
    sh.evaluate()
    return sh
