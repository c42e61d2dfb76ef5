from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError, PolicyError
from prodml.rollout import Canary, Decision, Gate, Step

STEPS = [Step(0.05, 2000), Step(0.25, 2000), Step(0.5, 2000)]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def simulate(
    seed: int,
    p_base: float,
    p_cand: float,
    *,
    per_tick: int = 20_000,
    max_ticks: int = 300,
    canary: Canary | None = None,
) -> tuple[str, int, Canary]:
    """Feed one minute of traffic at a time and evaluate after each: continuous peeking."""
    rng = np.random.default_rng(seed)
    clock = Clock()
    c = canary or Canary(STEPS, clock=clock)
    for tick in range(max_ticks):
        nc = int(rng.binomial(per_tick, c.weight))
        nb = per_tick - nc
        if nc:
            c.observe_summary("candidate", nc, {"error_rate": rng.binomial(nc, p_cand) / nc})
        if nb:
            c.observe_summary("baseline", nb, {"error_rate": rng.binomial(nb, p_base) / nb})
        clock.t += 60
        d = c.evaluate()
        if d.action in ("promote", "rollback"):
            return d.action, tick, c
    return "timeout", max_ticks, c


def test_worse_candidate_is_rolled_back() -> None:
    outcomes = [simulate(s, 0.05, 0.08)[0] for s in range(50)]
    assert outcomes == ["rollback"] * 50


def test_equal_candidate_is_promoted_and_false_rollback_rate() -> None:
    results = [simulate(s, 0.05, 0.05) for s in range(200)]
    outcomes = [r[0] for r in results]
    assert outcomes.count("rollback") == 0  # measured false rollback rate: 0 / 200
    assert outcomes.count("promote") == 200
    c = results[0][2]
    assert [d.action for d in c.decisions if d.action != "hold"] == [
        "advance",
        "advance",
        "promote",
    ]
    assert c.state == "promoted"
    assert c.weight == 1.0


def test_false_rollback_rate_at_the_gate_boundary_is_below_alpha() -> None:
    # Worst case for the default gate: candidate error rate exactly 1.1 x the baseline's.
    # Evaluated every tick for 100 ticks (2M requests): rollbacks stay below alpha.
    outcomes = [simulate(s, 0.05, 0.055, max_ticks=100)[0] for s in range(100)]
    assert outcomes.count("rollback") / len(outcomes) <= 0.05


def test_holds_on_no_data_and_never_passes_on_it() -> None:
    clock = Clock()
    c = Canary([Step(0.1, min_samples=0)], clock=clock)
    d = c.evaluate()
    assert d.action == "hold"
    assert d.evidence["gates"][0]["verdict"] == "no_data"
    # Only the candidate reports: the relative gate still has no baseline to compare to.
    c.observe_many("candidate", error_rate=np.zeros(5000))
    d = c.evaluate()
    assert d.action == "hold"
    assert d.evidence["gates"][0]["verdict"] == "no_data"
    assert "no_data" in d.reason
    # Another metric's data does not count for the gate either.
    c2 = Canary([Step(0.1, min_samples=0)], clock=clock)
    c2.observe_many("candidate", latency=np.ones(5000))
    c2.observe_many("baseline", latency=np.ones(5000))
    assert c2.evaluate().action == "hold"


def test_inconclusive_holds() -> None:
    c = Canary([Step(0.1, min_samples=0)], min_samples=100, clock=Clock())
    c.observe_summary("candidate", 50, {"error_rate": 0.0})
    c.observe_summary("baseline", 5000, {"error_rate": 0.05})
    d = c.evaluate()
    assert (d.action, d.evidence["gates"][0]["verdict"]) == ("hold", "inconclusive")
    c.observe_summary("candidate", 200, {"error_rate": 0.05})
    d = c.evaluate()
    assert (d.action, d.evidence["gates"][0]["verdict"]) == ("hold", "inconclusive")


def test_min_samples_and_min_duration_of_a_step() -> None:
    clock = Clock()
    c = Canary(
        [Step(0.1, min_samples=500, min_duration=600), Step(0.5, 0)],
        [Gate("error_rate", threshold=0.1)],
        clock=clock,
    )
    c.observe_summary("candidate", 400, {"error_rate": 0.0})
    assert c.evaluate().action == "hold"
    c.observe_summary("candidate", 400, {"error_rate": 0.0})
    d = c.evaluate()
    assert d.action == "hold"
    assert "600 s" in d.reason
    clock.t = 601
    d = c.evaluate()
    assert (d.action, c.step, c.weight) == ("advance", 1, 0.5)
    assert d.time == 601


def test_pause_on_failure_and_manual_controls() -> None:
    clock = Clock()
    c = Canary([0.1, 0.5], [Gate("error_rate", threshold=0.01)], on_failure="pause", clock=clock)
    c.observe_summary("candidate", 5000, {"error_rate": 0.2})
    d = c.evaluate()
    assert (d.action, c.state, c.weight) == ("pause", "paused", 0.1)
    assert "gate failed" in d.reason
    assert c.evaluate().action == "pause"
    assert c.resume().action == "hold"
    assert c.state == "running"
    d = c.rollback("bad latency in dashboards")
    assert (d.action, c.state, c.weight, d.reason) == (
        "rollback",
        "rolled_back",
        0.0,
        "bad latency in dashboards",
    )
    assert c.route("anyone") == "baseline"
    assert c.evaluate() == d  # terminal: the last decision again
    with pytest.raises(PolicyError, match="cannot promote a rollout that is rolled_back"):
        c.promote()
    c2 = Canary([0.1], clock=clock)
    assert c2.pause().action == "pause"
    assert c2.promote().action == "promote"
    assert c2.route("anyone") == "candidate"


def test_p99_latency_gate() -> None:
    rng = np.random.default_rng(1)
    gate = Gate("latency_ms", threshold=300, quantile=0.99)
    good = Canary([Step(0.1, 1000)], [gate], clock=Clock())
    good.observe_many("candidate", latency_ms=rng.exponential(40, 20_000))  # p99 ~ 184 ms
    d = good.evaluate()
    assert d.action == "promote", d.reason
    assert d.evidence["gates"][0]["gate"] == "p99(latency_ms) <= 300"
    slow = Canary([Step(0.1, 1000)], [gate], clock=Clock())
    slow.observe_many("candidate", latency_ms=rng.exponential(100, 20_000))  # p99 ~ 460 ms
    assert slow.evaluate().action == "rollback"
    with pytest.raises(PolicyError, match="quantile gate"):
        slow.observe_summary("candidate", 10, {"latency_ms": 0.5})


def test_higher_is_better_and_margin_gates() -> None:
    c = Canary(
        [Step(0.5, 0)],
        [Gate("conversion", margin=0.01, higher_is_better=True)],
        clock=Clock(),
    )
    c.observe_summary("baseline", 50_000, {"conversion": 0.10})
    c.observe_summary("candidate", 50_000, {"conversion": 0.05})
    assert c.evaluate().action == "rollback"


def test_observe_one_by_one_matches_observe_many() -> None:
    rng = np.random.default_rng(5)
    x = (rng.random(3000) < 0.05).astype(float)
    a = Canary(clock=Clock())
    b = Canary(clock=Clock())
    for v in x:
        a.observe("candidate", error_rate=v)
    b.observe_many("candidate", error_rate=x)
    sa, sb = a.to_dict()["metrics"], b.to_dict()["metrics"]
    assert sa["requests"] == sb["requests"]
    n, mean, m2, binary = sa["summaries"]["candidate"]["error_rate"]
    assert sb["summaries"]["candidate"]["error_rate"] == pytest.approx([n, mean, m2, binary])
    assert (n, binary) == (3000, True)
    assert mean == pytest.approx(x.mean(), rel=1e-12)


def test_round_trip_mid_run_gives_the_same_decisions() -> None:
    clock = Clock()
    c = Canary(STEPS, clock=clock)
    rng = np.random.default_rng(9)

    def tick(canary: Canary, r: np.random.Generator) -> Decision:
        for v, p in (("candidate", 0.05), ("baseline", 0.05)):
            canary.observe_summary(v, 10_000, {"error_rate": r.binomial(10_000, p) / 10_000})
        clock.t += 60
        return canary.evaluate()

    for _ in range(8):
        tick(c, rng)
    text = c.to_json()
    restored = Canary.from_json(text, clock=clock)
    assert json.loads(restored.to_json()) == json.loads(text)
    assert restored.decisions == c.decisions
    rng_a, rng_b = np.random.default_rng(10), np.random.default_rng(10)
    t0 = clock.t
    seq_a = [tick(c, rng_a) for _ in range(30)]
    clock.t = t0
    seq_b = [tick(restored, rng_b) for _ in range(30)]
    assert seq_a == seq_b
    keys = [f"u{i}" for i in range(500)]
    assert [c.route(k) for k in keys] == [restored.route(k) for k in keys]


def test_decision_log_compacts_repeated_holds() -> None:
    c = Canary(clock=Clock())
    for _ in range(5):
        c.evaluate()
    assert len(c.decisions) == 1
    assert c.decisions[0].evidence["repeats"] == 5


def test_thread_safe_observe_counts_are_exact() -> None:
    c = Canary(clock=Clock())

    def worker() -> None:
        for i in range(2000):
            c.observe("candidate", error_rate=float(i % 2))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = c.to_dict()["metrics"]
    assert state["requests"]["candidate"] == 8000
    n, mean, _, _ = state["summaries"]["candidate"]["error_rate"]
    assert (n, mean) == (8000, pytest.approx(0.5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": [0.5, 0.25]}, "step weights must increase"),
        ({"steps": [0.1, 0.1]}, "step weights must increase"),
        ({"steps": []}, "at least one step"),
        ({"steps": [1.5]}, "'weight' parameter of Canary step 0"),
        ({"steps": [-0.1]}, "'weight' parameter"),
        ({"steps": [{"weight": 0.1, "min_samples": -1}]}, "'min_samples' parameter"),
        ({"steps": [{"weight": 0.1, "bogus": 1}]}, "step 0 is not a valid step"),
        ({"steps": ["x"]}, "step 0 must be a Step"),
        ({"gates": ["error_rate"]}, "gates must be Gate objects"),
        ({"baseline": "a", "candidate": "a"}, "both 'a'"),
    ],
)
def test_bad_configuration_raises_policy_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        Canary(**kwargs).evaluate()  # type: ignore[arg-type]


def test_bad_settings_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="'on_failure' parameter of Canary"):
        Canary(on_failure="explode").route("k")
    with pytest.raises(ConfigError, match="'alpha' parameter"):
        Canary(alpha=0.0).route("k")
    with pytest.raises(ConfigError, match="exactly one of threshold, ratio or margin"):
        Gate("x", threshold=1.0, ratio=1.1)
    with pytest.raises(ConfigError, match="threshold or a ratio, not a margin"):
        Gate("x", margin=1.0, quantile=0.99)


def test_bad_observations() -> None:
    c = Canary(clock=Clock())
    with pytest.raises(PolicyError, match="Unknown variant 'blue'") as err:
        c.observe("blue", error_rate=0.0)
    assert err.value.variant == "blue"
    with pytest.raises(PolicyError, match="must be finite"):
        c.observe("candidate", error_rate=float("nan"))
    with pytest.raises(PolicyError, match="must be a number"):
        c.observe("candidate", error_rate="oops")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="position 1"):
        c.observe_many("candidate", error_rate=[0.0, float("inf")])
    with pytest.raises(PolicyError, match="different lengths"):
        c.observe_many("candidate", error_rate=[0.0], latency=[1.0, 2.0])
    with pytest.raises(PolicyError, match="count"):
        c.observe_summary("candidate", -1, {"error_rate": 0.1})
    with pytest.raises(PolicyError, match="read as a rate"):
        c.observe_summary("candidate", 10, {"latency": 120.0})
    with pytest.raises(PolicyError, match="std of metric"):
        c.observe_summary("candidate", 10, {"latency": 120.0}, {"latency": -1.0})
    with pytest.raises(PolicyError, match="without a mean"):
        c.observe_summary("candidate", 10, {"latency": 120.0}, {"x": 1.0})
    # Nothing was recorded by the failed calls.
    assert c.to_dict()["metrics"]["requests"] == {"baseline": 0, "candidate": 0}


def test_bad_stored_state() -> None:
    data = Canary(clock=Clock()).to_dict()
    with pytest.raises(PolicyError, match="Canary state field 'step' must be present"):
        Canary.from_dict({k: v for k, v in data.items() if k != "step"})
    with pytest.raises(PolicyError, match="must be a dict"):
        Canary.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="'state' must be one of 'running'"):
        Canary.from_dict({**data, "state": "exploded"})
    with pytest.raises(PolicyError, match=r"'step' must be an int in \[0, 2\]"):
        Canary.from_dict({**data, "step": 7})
    summaries = data["metrics"]["summaries"]
    bad = {**data["metrics"], "summaries": {**summaries, "candidate": {"e": [-1, 0.0, 0.0, True]}}}
    with pytest.raises(PolicyError, match=r"'metrics.summaries.candidate.e\[0\]' must be an int"):
        Canary.from_dict({**data, "metrics": bad})
    bad["summaries"]["candidate"]["e"] = [0, 0.0, -1.0, False]  # negative variance
    with pytest.raises(PolicyError, match=r"'metrics.summaries.candidate.e\[2\]' must be a"):
        Canary.from_dict({**data, "metrics": bad})
    with_n = {**data["metrics"], "requests": {"baseline": 0, "candidate": 10}}
    with_n["summaries"] = {**summaries, "candidate": {"e": [10, 5.0, 0.0, True]}}  # 0/1 mean 5
    with pytest.raises(PolicyError, match=r"'metrics.summaries.candidate.e\[1\]' must be a"):
        Canary.from_dict({**data, "metrics": with_n})
    with_n["summaries"] = {**summaries, "candidate": {"e": [10, 2.0, -3.0, False]}}
    with pytest.raises(PolicyError, match=r"'metrics.summaries.candidate.e\[2\]' must be a"):
        Canary.from_dict({**data, "metrics": with_n})
    with pytest.raises(PolicyError, match="step weights must increase"):
        Canary.from_dict({**data, "steps": [{"weight": 0.5}, {"weight": 0.1}]})


@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["baseline", "candidate"]),
            st.integers(0, 3000),
            st.floats(0.0, 0.3),
            st.booleans(),
        ),
        max_size=25,
    )
)
def test_only_passing_gates_move_the_rollout_forward(
    events: list[tuple[str, int, float, bool]],
) -> None:
    clock = Clock()
    c = Canary(
        [Step(0.1, 500), Step(0.5, 500)],
        [Gate("error_rate", ratio=1.5), Gate("error_rate", threshold=0.2)],
        min_samples=50,
        clock=clock,
    )
    for variant, n, rate, evaluate in events:
        c.observe_summary(variant, n, {"error_rate": rate})
        clock.t += 30
        if not evaluate:
            continue
        d = c.evaluate()
        verdicts = [g["verdict"] for g in d.evidence.get("gates", [])]
        if d.action in ("advance", "promote") and "manual" not in d.evidence:
            assert verdicts
            assert all(v == "pass" for v in verdicts)
        if d.action == "rollback" and "manual" not in d.evidence:
            assert "fail" in verdicts
        if d.action == "hold" and verdicts:
            assert "fail" not in verdicts
    assert c.state in ("running", "promoted", "rolled_back")
    assert Canary.from_json(c.to_json(), clock=clock).to_dict() == c.to_dict()


def test_golden_seeded_rollouts() -> None:
    # Seeded simulations with exact outcomes: a change in the statistics shows up here.
    assert [simulate(s, 0.05, 0.05)[:2] for s in range(3)] == [
        ("promote", 22),
        ("promote", 22),
        ("promote", 16),
    ]
    assert [simulate(s, 0.05, 0.065)[:2] for s in range(3)] == [
        ("rollback", 6),
        ("rollback", 10),
        ("rollback", 5),
    ]


# -- conclude: a deadline's decision on the estimates ------------------------------------
def _one_step(gate: Gate, **kw: object) -> Canary:
    return Canary([Step(0.5, min_samples=100)], [gate], salt="c", **kw)  # type: ignore[arg-type]


def test_conclude_promotes_an_inconclusive_candidate_within_its_limit() -> None:
    c = _one_step(Gate("error_rate", ratio=1.2))
    c.observe_summary("baseline", 300, {"error_rate": 0.30})
    c.observe_summary("candidate", 300, {"error_rate": 0.32})  # limit 0.36: d = -0.04
    held = c.evaluate()
    assert held.action == "hold"
    assert held.evidence["gates"][0]["verdict"] == "inconclusive"
    d = c.conclude("deadline")
    assert (d.action, c.state, c.weight) == ("promote", "promoted", 1.0)
    assert d.reason == "deadline: every gate within its limit on the estimate"
    assert d.evidence["concluded"] is True
    assert d.evidence["gates"][0]["within"] is True


def test_conclude_rolls_back_an_inconclusive_candidate_beyond_its_limit() -> None:
    c = _one_step(Gate("error_rate", ratio=1.2))
    c.observe_summary("baseline", 300, {"error_rate": 0.30})
    c.observe_summary("candidate", 300, {"error_rate": 0.37})  # limit 0.36: d = +0.01
    assert c.evaluate().evidence["gates"][0]["verdict"] == "inconclusive"
    d = c.conclude("deadline")
    assert (d.action, c.state, c.weight) == ("rollback", "rolled_back", 0.0)
    assert "mean(error_rate) <= 1.2 x baseline (inconclusive)" in d.reason
    assert d.evidence["gates"][0]["within"] is False


@pytest.mark.parametrize(
    ("cand", "action"),
    [(0.095, "promote"), (0.085, "rollback")],  # limit 0.10 - 0.01 = 0.09, higher is better
)
def test_conclude_follows_the_gate_direction(cand: float, action: str) -> None:
    c = _one_step(Gate("conversion", margin=0.01, higher_is_better=True))
    c.observe_summary("baseline", 400, {"conversion": 0.10})
    c.observe_summary("candidate", 400, {"conversion": cand})
    assert c.evaluate().action == "hold"
    assert c.conclude().action == action


def test_conclude_never_promotes_without_evidence() -> None:
    no_data = _one_step(Gate("error_rate", ratio=1.2))
    assert no_data.conclude().action == "rollback"
    few = _one_step(Gate("error_rate", ratio=1.2))  # fewer than min_samples: no estimate
    few.observe_summary("baseline", 50, {"error_rate": 0.30})
    few.observe_summary("candidate", 50, {"error_rate": 0.10})
    d = few.conclude()
    assert d.action == "rollback"
    assert "within" not in d.evidence["gates"][0]
    failed = _one_step(Gate("error_rate", ratio=1.2))
    failed.observe_summary("baseline", 5000, {"error_rate": 0.10})
    failed.observe_summary("candidate", 5000, {"error_rate": 0.30})
    assert failed.conclude().action == "rollback"


class _Custom:
    """A custom gate with a fixed verdict and no estimate."""

    def __init__(self, verdict: str) -> None:
        self.verdict = verdict

    def describe(self) -> str:
        return "custom"

    def evaluate_rollout(self, candidate, baseline, *, alpha, min_samples, sequential):  # type: ignore[no-untyped-def]
        return {"gate": "custom", "metric": "x", "verdict": self.verdict}

    def to_dict(self) -> dict[str, str]:
        return {"type": "custom"}


@pytest.mark.parametrize(("verdict", "action"), [("pass", "promote"), ("inconclusive", "rollback")])
def test_conclude_needs_a_pass_from_a_gate_without_an_estimate(verdict: str, action: str) -> None:
    c = Canary([Step(0.5, min_samples=0)], [_Custom(verdict)], salt="c")
    assert c.conclude().action == action


def test_conclude_is_final_and_the_state_round_trips() -> None:
    clock = Clock()
    c = _one_step(Gate("error_rate", ratio=1.2), clock=clock)
    c.observe_summary("baseline", 300, {"error_rate": 0.30})
    c.observe_summary("candidate", 300, {"error_rate": 0.32})
    clock.t = 5.0
    first = c.conclude("deadline")
    again = c.conclude("later")  # already promoted: the last decision, nothing changes
    assert again == first
    assert c.evaluate() == first
    back = Canary.from_dict(json.loads(json.dumps(c.to_dict())), clock=clock)
    assert back.state == "promoted"
    assert back.decisions[-1].reason == first.reason
    with pytest.raises(PolicyError, match="cannot rollback a rollout that is promoted"):
        c.rollback()


def test_conclude_a_paused_rollout() -> None:
    c = _one_step(Gate("error_rate", ratio=1.2), on_failure="pause")
    c.observe_summary("baseline", 300, {"error_rate": 0.30})
    c.observe_summary("candidate", 300, {"error_rate": 0.32})
    c.pause()
    assert c.conclude().action == "promote"
