"""Independent audit of the canary / blue-green / shadow state machines."""

from __future__ import annotations

import pytest

from prodml.errors import PolicyError
from prodml.rollout import BlueGreen, Canary, Gate, Shadow, Step


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_canary_without_gates_never_advances_on_its_own() -> None:
    # Nothing is checked, so nothing may pass: requests alone are no evidence.
    clock = Clock()
    c = Canary([Step(0.1, min_samples=10), Step(0.5, min_samples=10)], [], clock=clock)
    c.observe_summary("candidate", 1000, {"error_rate": 1.0})  # every request failed
    for _ in range(3):
        clock.t += 600
        d = c.evaluate()
        assert d.action == "hold"
        assert "no gates" in d.reason
    assert (c.state, c.weight) == ("running", 0.1)
    assert c.promote("checked by hand").action == "promote"


def test_a_blue_green_without_gates_never_switches_on_its_own() -> None:
    bg = BlueGreen("blue", "green", clock=lambda: 1.0)  # the default: no gates
    bg.observe_many("green", error=[1.0] * 500)
    d = bg.evaluate()
    assert (d.action, bg.phase, bg.live) == ("hold", "preview", "blue")
    assert "no gates" in d.reason
    assert bg.switch().action == "promote"
    assert bg.live == "green"


@pytest.mark.parametrize("policy", ["canary", "bluegreen", "shadow"])
def test_gates_with_no_data_never_pass(policy: str) -> None:
    gate = Gate("latency", ratio=1.2)
    clock = Clock()
    p: Canary | BlueGreen | Shadow
    if policy == "canary":
        p = Canary([Step(0.5, min_samples=0)], [gate], clock=clock)
        p.observe_summary("candidate", 10_000, {"other": 0.0})  # samples, not of the metric
    elif policy == "bluegreen":
        p = BlueGreen(gates=[gate], clock=clock)
        p.observe_summary("green", 10_000, {"other": 0.0})
    else:
        p = Shadow(min_agreement=None, gates=[gate], clock=clock)
        p.observe("shadow", latency=1.0)  # the primary side has no latency: no baseline
    for _ in range(3):
        clock.t += 60
        d = p.evaluate()
        assert d.action == "hold"
        assert d.evidence["gates"][0]["verdict"] == "no_data"


def test_evaluate_is_idempotent_once_decided_and_holds_are_logged_once() -> None:
    clock = Clock()
    c = Canary([Step(0.5, min_samples=100)], [Gate("e", threshold=0.1)], clock=clock)
    c.observe_summary("candidate", 50, {"e": 0.0})
    holds = [c.evaluate() for _ in range(5)]
    assert {d.action for d in holds} == {"hold"}
    assert len(c.decisions) == 1  # one wait, counted
    assert c.decisions[0].evidence["repeats"] == 5
    c.observe_summary("candidate", 5000, {"e": 0.0})
    first = c.evaluate()
    assert first.action == "promote"
    again = [c.evaluate() for _ in range(3)]
    assert all(d == first for d in again)
    assert len(c.decisions) == 2
    c.observe_summary("candidate", 5000, {"e": 1.0})  # late data changes nothing
    assert c.evaluate() == first
    assert c.state == "promoted"


def test_rollbacks_and_the_deadline_are_logged_with_reasons() -> None:
    clock = Clock()
    c = Canary([Step(0.5, min_samples=100)], [Gate("e", threshold=0.1)], clock=clock)
    c.observe_summary("candidate", 5000, {"e": 0.5})
    clock.t = 30.0
    d = c.evaluate()
    assert (d.action, c.state) == ("rollback", "rolled_back")
    assert "gate failed" in d.reason
    assert "mean(e) <= 0.1" in d.reason
    assert d.time == 30.0
    assert c.decisions[-1] == d
    # A deadline without data is a rollback, never a promotion.
    late = Canary([Step(0.5, min_samples=100)], [Gate("e", ratio=1.1)], clock=clock)
    late.observe_summary("candidate", 5000, {"e": 0.0})  # no baseline: no data
    d = late.conclude("deadline reached")
    assert (d.action, late.state) == ("rollback", "rolled_back")
    assert d.reason.startswith("deadline reached")
    assert "no_data" in d.reason


def test_restore_mid_rollout_then_evaluate_decides_as_the_original() -> None:
    clock = Clock()
    steps = [Step(0.1, min_samples=500), Step(0.5, min_samples=500)]
    a = Canary(steps, [Gate("e", threshold=0.1)], clock=clock)
    a.observe_summary("baseline", 4000, {"e": 0.05})
    a.observe_summary("candidate", 600, {"e": 0.01})
    assert a.evaluate().action == "advance"
    b = Canary.from_json(a.to_json(), clock=clock)
    for p in (a, b):
        p.observe_summary("baseline", 4000, {"e": 0.05})
        p.observe_summary("candidate", 600, {"e": 0.01})
    clock.t += 10
    da, db = a.evaluate(), b.evaluate()
    assert da == db
    assert a.to_dict() == b.to_dict()


def test_a_deadline_without_gates_rolls_back() -> None:
    # conclude() promotes on the gates' estimates; with no gate there is no estimate.
    c = Canary([Step(0.5, min_samples=10)], [], clock=Clock())
    c.observe_summary("candidate", 1000, {"error_rate": 1.0})
    d = c.conclude("time limit")
    assert (d.action, c.state) == ("rollback", "rolled_back")
    assert d.reason == "time limit: no gates to judge by"


def test_a_verified_preview_waiting_for_its_switch_is_not_promoted_again() -> None:
    bg = BlueGreen(gates=[Gate("error", threshold=0.05)], auto_switch=False, clock=lambda: 1.0)
    bg.observe_many("green", error=[0.0] * 500)
    first = bg.evaluate()
    assert (first.action, bg.phase) == ("promote", "verified")
    assert [bg.evaluate() for _ in range(3)] == [first] * 3
    assert bg.decisions == [first]  # one promote in the audit log, not four
    bg.observe_many("green", error=[1.0] * 500)  # re-checked until the switch
    assert bg.evaluate().action == "rollback"
    assert (bg.phase, bg.live) == ("discarded", "blue")


class _Custom:
    def __init__(self, result: object) -> None:
        self.result = result

    def describe(self) -> str:
        return "custom"

    def to_dict(self) -> dict[str, object]:
        return {"type": "Custom"}

    def evaluate_rollout(self, *_: object, **__: object) -> object:
        return self.result


@pytest.mark.parametrize(
    "result",
    [
        {"gate": "custom", "metric": "m"},  # no verdict: was a bare KeyError
        {"gate": "custom", "metric": "m", "verdict": "pass "},  # would hold for ever
        {"gate": "custom", "metric": "m", "verdict": None},
        ["pass"],
    ],
)
def test_a_custom_gate_with_an_unknown_verdict_is_refused(result: object) -> None:
    c = Canary([Step(0.5, 0)], [_Custom(result)], clock=Clock())  # type: ignore[list-item]
    c.observe("candidate", m=1.0)
    with pytest.raises(PolicyError, match="'verdict' in"):
        c.evaluate()
    assert c.decisions == []
    assert c.state == "running"


def test_a_custom_gate_passing_moves_the_canary() -> None:
    gate = _Custom({"gate": "custom", "metric": "m", "verdict": "pass"})
    c = Canary([Step(0.5, 0)], [gate], clock=Clock())  # type: ignore[list-item]
    assert c.evaluate().action == "promote"
