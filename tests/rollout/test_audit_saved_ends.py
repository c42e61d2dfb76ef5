"""Hostile saved states: an end (promoted, switched, done) the log does not back is refused.

``evaluate()`` of an ended policy returns its last decision; a saved end state with an
empty log used to load and then raise IndexError from ``evaluate()``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from prodml.errors import PolicyError
from prodml.rollout import ABTest, BlueGreen, Canary, Gate, Step


def clock() -> float:
    return 1.0


def _state(policy: Any) -> dict[str, Any]:
    return json.loads(policy.to_json())


@pytest.mark.parametrize("state", ["promoted", "rolled_back"])
def test_canary_end_without_its_decision_is_refused(state: str) -> None:
    data = {**_state(Canary(clock=clock)), "state": state}
    with pytest.raises(PolicyError, match=f"field 'state' must be '{state}' only after a logged"):
        Canary.from_dict(data, clock=clock)


def test_canary_ends_that_the_log_backs_still_load() -> None:
    c = Canary([Step(0.5, min_samples=0)], [Gate("error", threshold=0.1)], clock=clock)
    c.observe_summary("candidate", 1000, {"error": 0.0})
    final = c.evaluate()
    assert c.state == "promoted"
    back = Canary.from_dict(_state(c), clock=clock)
    assert back.evaluate() == final
    r = Canary(clock=clock)
    r.rollback("bad")
    assert Canary.from_dict(_state(r), clock=clock).state == "rolled_back"
    with pytest.raises(PolicyError, match="'state' must be 'promoted' only after"):
        Canary.from_dict({**_state(r), "state": "promoted"}, clock=clock)


@pytest.mark.parametrize(
    ("phase", "live", "match"),
    [
        ("switched", "green", "field 'phase' must be 'switched' only after a logged promote"),
        ("discarded", "blue", "field 'phase' must be 'discarded' only after a logged rollback"),
        ("verified", "blue", "field 'phase' must be 'verified' only after a logged promote"),
        ("preview", "green", "field 'live' must be 'green' when the phase is 'switched'"),
        ("switched", "blue", "field 'live' must be 'green' when the phase is 'switched'"),
    ],
)
def test_blue_green_phase_the_log_does_not_back_is_refused(
    phase: str, live: str, match: str
) -> None:
    data = {**_state(BlueGreen(clock=clock)), "phase": phase, "live": live}
    with pytest.raises(PolicyError, match=match):
        BlueGreen.from_dict(data, clock=clock)


def test_blue_green_real_ends_still_load() -> None:
    bg = BlueGreen(gates=[Gate("error", threshold=0.1)], clock=clock)
    bg.observe_many("green", error=np.zeros(2000))
    final = bg.evaluate()
    assert bg.phase == "switched"
    assert BlueGreen.from_dict(_state(bg), clock=clock).evaluate() == final
    bg.rollback()
    back = BlueGreen.from_dict(_state(bg), clock=clock)
    assert (back.phase, back.live) == ("discarded", "blue")
    manual = BlueGreen(auto_switch=False, clock=clock)
    manual.switch()
    assert BlueGreen.from_dict(_state(manual), clock=clock).live == "green"


def test_ab_test_done_without_a_decision_is_refused() -> None:
    data = {**_state(ABTest({"A": 0.5, "B": 0.5}, metric="m", clock=clock)), "done": True}
    with pytest.raises(PolicyError, match="field 'done' must be true only after a logged"):
        ABTest.from_dict(data, clock=clock)


def test_blue_green_passing_again_after_a_hold_is_a_promote_not_the_old_hold() -> None:
    bg = BlueGreen(gates=[Gate("error", threshold=0.05)], auto_switch=False, clock=clock)
    bg.observe_many("green", error=np.zeros(3000))
    first = bg.evaluate()
    assert (first.action, bg.phase) == ("promote", "verified")
    assert bg.evaluate() is first  # still passing: the logged promote stands
    bg.observe_many("green", error=np.r_[np.ones(250), np.zeros(1750)])
    assert bg.evaluate().action == "hold"  # inconclusive now
    bg.observe_many("green", error=np.zeros(30_000))
    again = bg.evaluate()  # used to return the logged hold, "gates not passed yet"
    assert (again.action, again.reason) == ("promote", "verification passed")
    assert [d.action for d in bg.decisions] == ["promote", "hold", "promote"]
    assert bg.evaluate() is again
