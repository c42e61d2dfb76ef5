"""What a type-checked user of prodml.rollout sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from typing_extensions import assert_type

from prodml.rollout import (
    UCB1,
    ABTest,
    BlueGreen,
    Canary,
    Decision,
    EpsilonGreedy,
    Gate,
    Router,
    Shadow,
    ShadowReport,
    Step,
    ThompsonSampling,
)
from prodml.rollout.stats import SRMResult, TestResult

Action = Literal["advance", "hold", "promote", "rollback", "pause"]


def main() -> None:
    router = Router({"candidate": 0.05, "stable": 0.95}, salt="checkout-v2")
    assert_type(router.route("user-1"), str)
    assert router.route("user-1") == router.route("user-1")

    canary = Canary(
        steps=[Step(0.5, min_samples=100)],
        gates=[Gate("error_rate", ratio=1.2)],
        baseline="stable",
        candidate="canary",
    )
    variant = canary.route("user-1")
    assert_type(variant, str)
    assert variant in {"stable", "canary"}
    canary.observe(variant, error_rate=0.0)
    decision = canary.evaluate()
    assert_type(decision, Decision)
    assert_type(decision.action, Action)
    assert_type(decision.evidence, dict[str, Any])
    assert decision.action == "hold"
    assert_type(canary.state, Literal["running", "paused", "promoted", "rolled_back"])
    before: str = canary.state  # a property: mypy would keep the narrowed literal
    assert before == "running"
    done = canary.promote("verified by hand")
    assert_type(done, Decision)
    after: str = canary.state
    assert after == "promoted"
    assert_type(canary.decisions, list[Decision])
    assert_type(Canary.from_json(canary.to_json()), Canary)

    bg = BlueGreen("blue", "green", gates=[Gate("error", threshold=0.01)])
    assert_type(bg.phase, Literal["preview", "verified", "switched", "discarded"])
    assert bg.phase == "preview"
    bg.observe("green", error=0.0)
    assert bg.evaluate().action in {"hold", "promote"}

    shadow = Shadow(mirror=1.0, min_agreement=0.99, tolerance=1e-6)
    for i in range(20):
        if shadow.should_mirror(i):
            assert_type(shadow.compare(0.5, 0.5, primary_latency=1.0, shadow_latency=2.0), bool)
    report = shadow.report()
    assert_type(report, ShadowReport)
    assert_type(report["agreement"], float)
    assert_type(report["latency"], dict[str, float])
    assert report["compared"] == 20
    assert report["agreement"] == 1.0
    empty = Shadow().report()
    assert math.isnan(empty["agreement"])

    ab = ABTest({"A": 0.5, "B": 0.5}, metric="converted")
    rng = np.random.default_rng(0)
    for i in range(2_000):
        arm = ab.route(i)
        ab.observe(arm, converted=float(rng.random() < (0.1 if arm == "A" else 0.2)))
    assert_type(ab.srm(), SRMResult)
    result = ab.test("B")
    assert_type(result, TestResult)
    assert_type(result.p_value, float)
    assert result.p_value < 0.01
    assert_type(ab.evaluate(), Decision)

    for bandit in (
        ThompsonSampling(["a", "b"], seed=42),
        EpsilonGreedy(["a", "b"]),
        UCB1(["a", "b"]),
    ):
        arm = bandit.choose()
        assert_type(arm, str)
        bandit.update(arm, 1.0)
        assert_type(bandit.choose_many(3), list[str])
        assert_type(bandit.means, dict[str, float])


if __name__ == "__main__":
    main()
