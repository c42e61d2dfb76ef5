"""Decision, metric summaries and gates: the pieces every policy is built from."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import PolicyError
from prodml.rollout import Canary, Decision, EpsilonGreedy, Gate, Step
from prodml.rollout._decision import MAX_EVIDENCE_DEPTH
from prodml.rollout._gates import evaluate_gate
from prodml.rollout._summary import MeanSummary

finite = st.floats(-1e6, 1e6, allow_nan=False)


def test_decision_round_trip_and_json_safety() -> None:
    d = Decision(
        "hold",
        "waiting",
        {"x": np.float64(1.5), "n": np.int64(3), "nan": math.nan, "t": (1, 2)},
        time=3.0,
    )
    assert d.evidence == {"x": 1.5, "n": 3, "nan": None, "t": [1, 2]}
    assert type(d.evidence["n"]) is int
    assert Decision.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert not d.is_terminal
    assert Decision("promote", "ok").is_terminal


def test_decision_bad_input() -> None:
    with pytest.raises(PolicyError, match="must be one of"):
        Decision("launch", "no")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="Decision state field 'reason' must be present"):
        Decision.from_dict({"action": "hold", "evidence": {}, "time": None})


def _nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1.0}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_evidence_as_deep_as_saved_state_loads_and_deeper_is_refused() -> None:
    deepest = _nested(MAX_EVIDENCE_DEPTH)
    canary = Canary(clock=lambda: 0.0)
    canary.evaluate()
    state = canary.to_dict()
    state["log"].append(Decision("hold", "deep", deepest, time=1.0).to_dict())
    again = Canary.from_json(Canary.from_dict(state).to_json())  # under the loader's limit
    assert again.decisions[-1].evidence == deepest
    with pytest.raises(PolicyError, match=f"nested more than {MAX_EVIDENCE_DEPTH} levels"):
        Decision("hold", "too deep", {"k": _nested(MAX_EVIDENCE_DEPTH)})
    loop: dict[str, object] = {}
    loop["self"] = loop  # a structure that contains itself: a PolicyError, not RecursionError
    with pytest.raises(PolicyError, match="contains itself"):
        Decision("hold", "loop", loop)


def test_decision_log_is_a_copy() -> None:
    c = Canary(clock=lambda: 0.0)
    c.evaluate()
    log = c.decisions
    log.clear()
    assert len(c.decisions) == 1


@given(st.lists(finite, max_size=40), st.lists(finite, max_size=40))
def test_summary_merge_equals_one_pass(a: list[float], b: list[float]) -> None:
    one = MeanSummary()
    for x in a + b:
        one.add(x)
    left, right = MeanSummary(), MeanSummary()
    left.add_many(a)
    right.add_many(b)
    left.merge(right)
    assert left.n == one.n == len(a) + len(b)
    scale = max([1.0] + [abs(x) for x in a + b])
    assert left.mean == pytest.approx(one.mean, abs=1e-9 * scale)
    assert left.m2 == pytest.approx(one.m2, rel=1e-6, abs=1e-6 * scale * scale)
    if len(a + b) > 1:
        assert left.m2 / (left.n - 1) == pytest.approx(np.var(a + b, ddof=1), rel=1e-6, abs=1e-6)
    assert left.binary == one.binary
    assert MeanSummary.from_list(left.to_list()).to_list() == left.to_list()


def test_binary_summary_variance_is_smoothed() -> None:
    s = MeanSummary()
    s.add_many([0.0] * 50)
    assert s.binary
    assert s.variance == pytest.approx((1 / 52) * (51 / 52))
    s.add(0.5)
    assert not s.binary


@pytest.mark.parametrize("sequential", [True, False])
def test_gate_verdicts(sequential: bool) -> None:
    def summary(rate: float, n: int) -> MeanSummary:
        s = MeanSummary()
        s.add_many(np.r_[np.ones(round(rate * n)), np.zeros(n - round(rate * n))])
        return s

    gate = Gate("error", ratio=1.1)
    base = summary(0.05, 100_000)

    def verdict(candidate: MeanSummary) -> str:
        return evaluate_gate(
            gate, candidate, base, alpha=0.05, min_samples=100, sequential=sequential
        )["verdict"]

    assert verdict(summary(0.02, 50_000)) == "pass"
    assert verdict(summary(0.10, 50_000)) == "fail"
    assert verdict(summary(0.055, 50_000)) == "inconclusive"
    assert verdict(summary(0.0, 50)) == "inconclusive"  # below min_samples
    assert verdict(MeanSummary()) == "no_data"


def test_sequential_interval_is_wider_than_fixed() -> None:
    cand, base = MeanSummary(), MeanSummary()
    cand.add_many(np.r_[np.ones(500), np.zeros(9500)])
    base.add_many(np.r_[np.ones(500), np.zeros(9500)])
    g = Gate("error", margin=0.0)
    seq = evaluate_gate(g, cand, base, alpha=0.05, min_samples=10, sequential=True)
    fixed = evaluate_gate(g, cand, base, alpha=0.05, min_samples=10, sequential=False)
    assert seq["upper"] - seq["lower"] > fixed["upper"] - fixed["lower"] > 0


def test_gate_describe_and_round_trip() -> None:
    gates = [
        Gate("error", ratio=1.1),
        Gate("latency_ms", threshold=300, quantile=0.99),
        Gate("conversion", margin=0.01, higher_is_better=True),
        Gate("throughput", threshold=100, higher_is_better=True),
    ]
    assert [g.describe() for g in gates] == [
        "mean(error) <= 1.1 x baseline",
        "p99(latency_ms) <= 300",
        "mean(conversion) >= baseline - 0.01",
        "mean(throughput) >= 100",
    ]
    assert [Gate.from_dict(json.loads(json.dumps(g.to_dict()))) for g in gates] == gates


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), finite), max_size=50))
def test_epsilon_greedy_best_is_the_first_argmax(pulls: list[tuple[str, float]]) -> None:
    bandit = EpsilonGreedy(["a", "b", "c"], epsilon=0.0)
    for arm, r in pulls:
        bandit.update(arm, r)
        means, counts = bandit.means, bandit.counts
        unplayed = [a for a, n in counts.items() if n == 0]  # tried first, in order
        best = max(means.values())
        expected = unplayed[0] if unplayed else next(a for a, m in means.items() if m == best)
        assert bandit.choose() == expected


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.floats(0.01, 0.99),
)
def test_sketch_quantile_has_relative_accuracy(values: list[float], q: float) -> None:
    from prodml.rollout._sketch import QuantileSketch

    s = QuantileSketch()
    s.add_many(values)
    exact = float(np.quantile(values, q, method="inverted_cdf"))
    assert s.n == len(values)
    assert abs(s.quantile(q) - exact) <= 0.0101 * abs(exact) + 1e-300
    # One at a time, and merged halves, give the same sketch.
    one, left, right = QuantileSketch(), QuantileSketch(), QuantileSketch()
    for v in values:
        one.add(v)
    left.add_many(values[: len(values) // 2])
    right.add_many(values[len(values) // 2 :])
    left.merge(right)
    assert one.to_dict() == left.to_dict() == s.to_dict()
    assert QuantileSketch.from_dict(json.loads(json.dumps(s.to_dict()))).to_dict() == s.to_dict()


def test_sketch_empty() -> None:
    from prodml.rollout._sketch import QuantileSketch

    assert math.isnan(QuantileSketch().quantile(0.5))
    assert QuantileSketch().count_above(1.0) == 0


def test_relative_p99_gate() -> None:
    rng = np.random.default_rng(2)
    gate = Gate("latency", ratio=1.2, quantile=0.99)
    assert gate.describe() == "p99(latency) <= 1.2 x baseline"

    def run(scale: float) -> Decision:
        c = Canary([Step(0.5, 1000)], [gate], clock=lambda: 0.0)
        c.observe_many("baseline", latency=rng.exponential(50, 20_000))
        c.observe_many("candidate", latency=rng.exponential(scale, 20_000))
        return c.evaluate()

    same = run(50)  # p99 equal: the share above 1.2 x p99 is ~0.4 %, well under 1 %
    assert same.action == "promote", same.reason
    ev = same.evidence["gates"][0]
    assert ev["baseline_quantile"] == pytest.approx(50 * math.log(100), rel=0.05)
    assert ev["quantile_limit"] == pytest.approx(1.2 * ev["baseline_quantile"])
    slow = run(80)  # p99 1.6x the baseline's
    assert slow.action == "rollback"
    empty = Canary([Step(0.5, 0)], [gate], clock=lambda: 0.0)
    assert empty.evaluate().evidence["gates"][0]["verdict"] == "no_data"
    few = Canary([Step(0.5, 0)], [gate], clock=lambda: 0.0)
    few.observe_many("baseline", latency=np.ones(10))
    few.observe_many("candidate", latency=np.ones(10))
    assert few.evaluate().evidence["gates"][0]["verdict"] == "inconclusive"


def test_quantile_gate_state_round_trips() -> None:
    gate = Gate("latency", ratio=1.2, quantile=0.99)
    c = Canary([Step(0.5, 1000)], [gate], clock=lambda: 0.0)
    c.observe_many("baseline", latency=np.arange(1.0, 2001.0))
    c.observe("candidate", latency=12.5)
    restored = Canary.from_json(c.to_json(), clock=lambda: 0.0)
    assert restored.to_dict() == c.to_dict()
    assert restored.evaluate() == c.evaluate()


@given(
    st.tuples(st.integers(100, 5000), st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    st.sampled_from(["ratio", "margin", "threshold"]),
    st.booleans(),
    st.booleans(),
)
def test_within_is_the_estimate_on_the_good_side_of_the_limit(
    data: tuple[int, float, float], kind: str, higher: bool, sequential: bool
) -> None:
    """``within`` says whether the candidate's mean itself satisfies the gate."""
    n, pc, pb = data
    setting = {"ratio": {"ratio": 1.2}, "margin": {"margin": 0.02}, "threshold": {"threshold": 0.4}}
    gate = Gate("m", higher_is_better=higher, **setting[kind])  # type: ignore[arg-type]
    cand, base = MeanSummary(), MeanSummary()
    k = round(pc * n)
    cand.add_many([1.0] * k + [0.0] * (n - k))
    j = round(pb * n)
    base.add_many([1.0] * j + [0.0] * (n - j))
    r = evaluate_gate(gate, cand, base, alpha=0.05, min_samples=10, sequential=sequential)
    assert r["limit"] is not None
    # the reference: the plain comparison of the candidate's mean with the limit
    expected = cand.mean >= r["limit"] if higher else cand.mean <= r["limit"]
    assert r["within"] is expected
    # and the interval's centre lies on the same side
    centre = (r["lower"] + r["upper"]) / 2
    assert (centre >= 0 if higher else centre <= 0) is expected
    if r["verdict"] == "pass":
        assert r["within"] is True
    if r["verdict"] == "fail":
        assert r["within"] is False
