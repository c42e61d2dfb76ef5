"""Long runs of rollout policies: the decision log grows with moves, not evaluations."""

from __future__ import annotations

import itertools
import json

import pytest

from prodml.errors import StateError
from prodml.rollout import Canary, Decision, Gate, Step
from prodml.rollout._base import PolicyBase


def _clock() -> object:
    ticks = itertools.count()
    return lambda: float(next(ticks))


def test_holds_whose_reasons_differ_only_in_numbers_are_one_entry() -> None:
    # Each hold says "k of 1,000,000,000 candidate samples so far": a new reason at every
    # evaluation. Before the fix the log kept one entry (with its evidence) per call.
    c = Canary(steps=[Step(0.05, min_samples=10**9)], clock=_clock())
    for i in range(5000):
        c.observe("candidate" if i % 2 else "baseline", error_rate=float(i % 7 == 0))
        c.evaluate()
    log = c.decisions
    assert len(log) == 1
    assert log[0].action == "hold"
    assert log[0].evidence["repeats"] == 5000
    assert "2,500 of 1,000,000,000" in log[0].reason  # the latest reason and evidence
    assert log[0].evidence["step_samples"] == 2500
    restored = Canary.from_json(c.to_json(), clock=_clock())
    assert restored.decisions == log


def test_moves_are_kept_and_alternating_waits_stay_bounded() -> None:
    p = PolicyBase()
    p._record(Decision("advance", "gates passed at 5 %", {}))
    for i in range(3000):
        # Two kinds of wait taking turns: each keeps one entry, moved to the end.
        reason = f"waiting, {i} of 100 samples" if i % 2 else f"gate inconclusive at n={i}"
        p._record(Decision("hold", reason, {"i": i}))
    p._record(Decision("pause", "paused by hand", {}))
    p._record(Decision("hold", "waiting, 1 of 100 samples", {}))
    actions = [(d.action, d.evidence.get("repeats", 1)) for d in p.decisions]
    assert actions == [("advance", 1), ("hold", 1500), ("pause", 1), ("hold", 1501)]
    assert p.decisions[1].evidence["i"] == 2998
    assert p.decisions[3].reason == "waiting, 1 of 100 samples"


def test_a_different_kind_of_wait_after_a_move_is_a_new_entry() -> None:
    p = PolicyBase()
    p._record(Decision("hold", "waiting, 3 of 10 samples", {}))
    p._record(Decision("advance", "step 1 passed", {}))
    p._record(Decision("hold", "waiting, 4 of 10 samples", {}))
    assert [d.action for d in p.decisions] == ["hold", "advance", "hold"]
    assert [d.evidence.get("repeats", 1) for d in p.decisions] == [1, 1, 1]


@pytest.mark.parametrize("bad", ["x", None, [1], 0, -5, 1.5, True, 2**60])
def test_a_saved_repeats_count_is_checked_on_load(bad: object) -> None:
    """The next repeated wait counts on ``repeats``: a hostile saved one is refused on
    load, not met as a raw TypeError/ValueError at the next evaluation."""
    c = Canary([Step(0.5, min_samples=150)], [Gate("error_rate", ratio=1.2)], min_samples=60)
    c.evaluate()
    c.evaluate()
    saved = json.loads(json.dumps(c.to_dict()))
    assert saved["log"][-1]["evidence"]["repeats"] == 2
    assert Canary.from_dict(saved).evaluate().evidence["repeats"] == 3
    saved["log"][-1]["evidence"]["repeats"] = bad
    with pytest.raises(StateError, match="repeats"):
        Canary.from_dict(saved)
