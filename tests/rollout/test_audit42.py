"""ABTest's sequential decisions keep the side a treatment was found significant on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from prodml.errors import PolicyError
from prodml.rollout import ABTest


def _values(n: int, mean: float) -> np.ndarray:
    """``n`` values with exactly this mean and a sample standard deviation of 1."""
    x = np.random.default_rng(n).normal(0.0, 1.0, n)
    return (x - x.mean()) / x.std(ddof=1) + mean


def _worse_then_level(higher_is_better: bool = True) -> ABTest:
    """B significantly worse at the first look, then level with A (C level throughout)."""
    sign = 1.0 if higher_is_better else -1.0
    ab = ABTest(
        {"A": 1 / 3, "B": 1 / 3, "C": 1 / 3},
        metric="y",
        kind="mean",
        higher_is_better=higher_is_better,
        clock=lambda: 0.0,
    )
    ab.observe_many("A", y=_values(2000, 0.0))
    ab.observe_many("B", y=_values(2000, -0.3 * sign))
    ab.observe_many("C", y=_values(2000, 0.0))
    first = ab.evaluate()
    assert first.action == "hold"  # C is not worse: no rollback yet
    assert first.evidence["tests"]["B"]["p_value"] < 0.025  # B significantly worse
    ab.observe_many("A", y=_values(4000, 0.0))
    ab.observe_many("B", y=_values(4000, 0.16 * sign))  # B's estimate now just above A's
    ab.observe_many("C", y=_values(4000, 0.0))
    return ab


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_a_treatment_found_worse_is_not_promoted_when_its_estimate_crosses_zero(
    higher_is_better: bool,
) -> None:
    ab = _worse_then_level(higher_is_better)
    d = ab.evaluate()
    test = d.evidence["tests"]["B"]
    # The always-valid interval of B - A straddles 0 now: nothing says B is better.
    assert test["ci_low"] < 0 < test["ci_high"]
    # One running minimum for both sides promoted B as "significantly better".
    assert d.action == "hold", d.reason
    assert "winner" not in d.evidence
    assert test["p_better"] == 1.0
    assert test["p_value"] == test["p_worse"] < 0.025


def test_the_two_sides_survive_a_save() -> None:
    ab = _worse_then_level()
    state = ab.to_dict()
    assert state["p_min"]["C"] == [1.0, 1.0]
    again = ABTest.from_dict(state, clock=lambda: 0.0)
    assert again.to_dict()["p_min"] == state["p_min"]
    assert again.evaluate().action == "hold"


def _old_state(p: float, done: bool) -> dict[str, Any]:
    """A state saved with one running minimum per treatment (before the two sides)."""
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", kind="mean", clock=lambda: 0.0)
    ab.observe_many("A", y=_values(500, 0.0))
    ab.observe_many("B", y=_values(500, 0.0))
    ab.evaluate()
    state = ab.to_dict()
    state["p_min"] = {"B": p}
    state["done"] = done
    return state


def test_a_state_with_one_minimum_still_loads() -> None:
    # Still running with p below alpha: found worse (better would have promoted).
    assert ABTest.from_dict(_old_state(0.01, False)).to_dict()["p_min"] == {"B": [1.0, 0.01]}
    assert ABTest.from_dict(_old_state(0.3, False)).to_dict()["p_min"] == {"B": [0.3, 0.3]}


@pytest.mark.parametrize("bad", [[0.5], [0.5, 0.5, 0.5], [0.5, -0.1], [1.5, 0.5], "0.5", None])
def test_hostile_minima_are_refused_naming_the_field(bad: object) -> None:
    state = _old_state(0.3, False)
    state["p_min"] = {"B": bad}
    with pytest.raises(PolicyError, match=r"p_min\.B"):
        ABTest.from_dict(state)
