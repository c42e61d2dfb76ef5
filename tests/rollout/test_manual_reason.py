"""An operator's ``reason`` for a manual action: checked first, cleaned, cut, and it loads back.

A 200,000-character reason once saved with the decision and then made
``Canary.from_dict(canary.to_dict())`` raise, so a service could not restore its own
rollout after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from prodml.errors import PolicyError
from prodml.rollout import BlueGreen, Canary, Decision, Gate, Step
from prodml.rollout._decision import MAX_REASON, MAX_STORED_REASON, operator_reason

LONG = "why " * 50_000  # 200,000 characters


def _canary() -> Canary:
    c = Canary([Step(0.1, min_samples=10), Step(0.5)], [Gate("err", threshold=0.1)])
    c.clock = lambda: 3.0
    c.observe_summary("candidate", 20, {"err": 0.01})
    return c


def _bluegreen() -> BlueGreen:
    bg = BlueGreen(gates=[Gate("err", threshold=0.1)], clock=lambda: 1.0)
    bg.observe_many("green", err=[0.0] * 20)
    return bg


def _reload(policy: Any) -> Any:
    return type(policy).from_dict(json.loads(json.dumps(policy.to_dict())))


# (policy factory, manual action) for every manual action that takes a reason
MANUAL: list[tuple[Callable[[], Any], str]] = [
    (_canary, "pause"),
    (_canary, "promote"),
    (_canary, "rollback"),
    (_canary, "conclude"),
    (_bluegreen, "switch"),
    (_bluegreen, "rollback"),
]


@pytest.mark.parametrize(("make", "action"), MANUAL)
def test_a_200k_reason_is_cut_and_the_state_loads_back(
    make: Callable[[], Any], action: str
) -> None:
    policy = make()
    decision = getattr(policy, action)(LONG)
    assert len(decision.reason) <= MAX_REASON + 200  # conclude appends its verdict
    assert decision.reason.startswith("why why")
    assert "..." in decision.reason
    back = _reload(policy)
    assert back.to_dict() == policy.to_dict()
    assert back.decisions[-1].reason == decision.reason


def test_resume_with_a_long_reason_round_trips() -> None:
    c = _canary()
    c.pause("short")
    d = c.resume(LONG)
    assert len(d.reason) == MAX_REASON
    assert d.reason.endswith("...")
    assert _reload(c).to_dict() == c.to_dict()


@pytest.mark.parametrize(("make", "action"), MANUAL)
def test_personal_data_is_redacted_in_the_log_and_in_to_dict(
    make: Callable[[], Any], action: str
) -> None:
    policy = make()
    getattr(policy, action)("asked by ann@example.com\non call +44 20 7946 0958")
    saved = json.dumps(policy.to_dict())
    assert "ann@example.com" not in saved
    assert "7946" not in saved
    assert policy.decisions[-1].reason.startswith("asked by <redacted> on call <redacted>")


@pytest.mark.parametrize(("make", "action"), MANUAL)
@pytest.mark.parametrize("bad", ["", "   \n", 42, None, b"bytes", ["x"]])
def test_a_bad_reason_is_refused_and_nothing_changes(
    make: Callable[[], Any], action: str, bad: object
) -> None:
    policy = make()
    before = policy.to_dict()
    route = policy.route("user-7")
    with pytest.raises(PolicyError, match="reason must be a non-empty str"):
        getattr(policy, action)(bad)
    assert policy.to_dict() == before
    assert policy.route("user-7") == route


def test_the_cut_reason_is_exactly_the_documented_maximum() -> None:
    assert operator_reason("x" * (MAX_REASON + 1), "Canary") == "x" * (MAX_REASON - 3) + "..."
    assert operator_reason("x" * MAX_REASON, "Canary") == "x" * MAX_REASON
    assert operator_reason("  a\tb\x00c  ", "Canary") == "a b c"


@pytest.mark.parametrize("bad", [42, None, "x" * (MAX_STORED_REASON + 1)])
def test_a_decision_refuses_a_reason_the_loader_would_refuse(bad: object) -> None:
    with pytest.raises(PolicyError, match="reason must be a str of at most 100000"):
        Decision("hold", bad, {})  # type: ignore[arg-type]
    ok = Decision("hold", "x" * MAX_STORED_REASON, {})
    assert Decision.from_dict(json.loads(json.dumps(ok.to_dict()))) == ok


def test_many_failed_gates_with_long_names_still_load_back() -> None:
    """A generated reason listing failed gates is bounded too (gate names can be long)."""
    gates = [Gate("m" * 2000 + str(i), threshold=0.1) for i in range(60)]
    c = Canary([Step(0.5, min_samples=1)], gates, min_samples=5, clock=lambda: 0.0)
    c.observe_summary("candidate", 500, {g.metric: 0.9 for g in gates})
    d = c.evaluate()
    assert d.action == "rollback"
    assert len(d.reason) < 11_000
    assert _reload(c).to_dict() == c.to_dict()


@pytest.mark.parametrize("action", ["evaluate", "switch", "rollback"])
def test_a_broken_clock_changes_nothing(action: str) -> None:
    """BlueGreen read its clock after switching phase: a NaN clock left it half-switched."""
    bg = BlueGreen(gates=[Gate("err", threshold=0.1)], clock=lambda: float("nan"))
    bg.observe_many("green", err=[0.0] * 200)  # verification would pass: evaluate switches
    before = bg.to_dict()
    with pytest.raises(PolicyError, match="clock must return a finite number"):
        getattr(bg, action)()
    assert bg.to_dict() == before
    assert bg.route("k") == "blue"
