from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from prodml.errors import ConfigError, PolicyError
from prodml.rollout import ABTest


def clock() -> float:
    return 0.0


def test_routes_in_proportion_and_srm_flags_52_48() -> None:
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", clock=clock)
    keys = [f"u{i}" for i in range(20_000)]
    routed = [ab.route(k) for k in keys]
    assert stats.chisquare([routed.count("A"), routed.count("B")]).pvalue > 0.001
    ab.observe_summary("A", 52_000, {"y": 0.1})
    ab.observe_summary("B", 48_000, {"y": 0.1})
    assert ab.srm().mismatch
    d = ab.evaluate()
    assert d.action == "pause"
    assert "sample ratio mismatch" in d.reason
    assert d.evidence["srm_mismatch"] is True


def test_promotes_a_better_treatment_and_rolls_back_a_worse_one() -> None:
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", clock=clock)
    ab.observe_summary("A", 30_000, {"y": 0.10})
    ab.observe_summary("B", 30_000, {"y": 0.12})
    d = ab.evaluate()
    assert (d.action, d.evidence["winner"]) == ("promote", "B")
    assert d.evidence["tests"]["B"]["ci_low"] > 0
    assert ab.evaluate() == d  # decided: the same answer from now on
    worse = ABTest({"A": 0.5, "B": 0.5}, metric="y", clock=clock)
    worse.observe_summary("A", 30_000, {"y": 0.12})
    worse.observe_summary("B", 30_000, {"y": 0.10})
    assert worse.evaluate().action == "rollback"
    lower = ABTest({"A": 0.5, "B": 0.5}, metric="y", higher_is_better=False, clock=clock)
    lower.observe_summary("A", 30_000, {"y": 0.12})
    lower.observe_summary("B", 30_000, {"y": 0.10})
    assert lower.evaluate().action == "promote"


def test_holds_without_enough_samples_or_evidence() -> None:
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", min_samples=500, clock=clock)
    ab.observe_summary("A", 100, {"y": 0.1})
    ab.observe_summary("B", 100, {"y": 0.5})
    assert ab.evaluate().reason == "waiting for 500 samples per variant"
    ab.observe_summary("A", 900, {"y": 0.1})
    ab.observe_summary("B", 900, {"y": 0.1})
    d = ab.evaluate()
    assert (d.action, d.reason) == ("hold", "no significant difference yet")


def test_means_and_fixed_horizon_match_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 2, 800), rng.normal(10.4, 2.5, 800)
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", kind="mean", sequential=False, horizon=800)
    ab.observe_many("A", y=a[:400])
    ab.observe_many("B", y=b[:400])
    assert ab.evaluate().action == "hold"  # before the horizon
    ab.observe_many("A", y=a[400:])
    ab.observe_many("B", y=b[400:])
    ref = stats.ttest_ind(b, a, equal_var=False)
    t = ab.test("B")
    assert t.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert t.p_value == pytest.approx(ref.pvalue, abs=1e-9)
    d = ab.evaluate()
    assert d.action == ("promote" if ref.pvalue < 0.05 and ref.statistic > 0 else "rollback")
    assert d.evidence["tests"]["B"]["p_value"] == pytest.approx(ref.pvalue, abs=1e-9)


def test_fixed_horizon_without_effect_keeps_control() -> None:
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", sequential=False, horizon=1000, clock=clock)
    ab.observe_summary("A", 1000, {"y": 0.10})
    ab.observe_summary("B", 1000, {"y": 0.101})
    d = ab.evaluate()
    assert (d.action, d.reason) == ("rollback", "no treatment beats 'A' at the horizon")


def test_sequential_ab_false_positive_rate_with_peeking() -> None:
    # 150 A/A tests, evaluated after every 200 units per arm, 60 looks each.
    false_positives = 0
    for seed in range(150):
        rng = np.random.default_rng(seed)
        ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", clock=clock)
        for _ in range(60):
            for v in ("A", "B"):
                ab.observe_summary(v, 200, {"y": rng.binomial(200, 0.1) / 200})
            if ab.evaluate().action != "hold":
                false_positives += 1
                break
    assert false_positives / 150 <= 0.05


def test_three_variants_split_alpha() -> None:
    ab = ABTest({"A": 0.4, "B": 0.3, "C": 0.3}, metric="y", clock=clock)
    for v, rate in (("A", 0.10), ("B", 0.10), ("C", 0.14)):
        n = {"A": 40_000, "B": 30_000, "C": 30_000}[v]
        ab.observe_summary(v, n, {"y": rate})
    d = ab.evaluate()
    assert (d.action, d.evidence["winner"]) == ("promote", "C")
    assert set(d.evidence["tests"]) == {"B", "C"}
    with pytest.raises(PolicyError, match="'A' is not a treatment"):
        ab.test("A")


def test_round_trip_keeps_sequential_state() -> None:
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", clock=clock)
    ab.observe_summary("A", 5000, {"y": 0.10})
    ab.observe_summary("B", 5000, {"y": 0.11})
    ab.evaluate()
    restored = ABTest.from_json(ab.to_json(), clock=clock)
    assert json.loads(restored.to_json()) == json.loads(ab.to_json())
    for x in (ab, restored):
        x.observe_summary("A", 5000, {"y": 0.10})
        x.observe_summary("B", 5000, {"y": 0.10})
    assert ab.evaluate() == restored.evaluate()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"weights": {"A": 1.0}}, PolicyError, "at least two variants"),
        ({"weights": {"A": 1.0, "B": 0.0}}, PolicyError, "weight > 0"),
        ({"weights": {"A": 0.7, "B": 0.7}}, PolicyError, "sum to 1"),
        ({"sequential": False}, PolicyError, "needs horizon"),
        ({"kind": "ratio"}, ConfigError, "'kind' parameter of ABTest"),
        ({"alpha": 2.0}, ConfigError, "'alpha' parameter"),
    ],
)
def test_bad_configuration(kwargs: dict[str, object], error: type, match: str) -> None:
    params: dict[str, object] = {"weights": {"A": 0.5, "B": 0.5}, "metric": "y", **kwargs}
    with pytest.raises(error, match=match):
        ABTest(**params).evaluate()  # type: ignore[arg-type]


def test_bad_observations() -> None:
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y")
    with pytest.raises(PolicyError, match="Unknown variant 'Z'"):
        ab.observe("Z", y=1.0)
    with pytest.raises(PolicyError, match="must be finite"):
        ab.observe("A", y=float("nan"))
    with pytest.raises(PolicyError, match=">= 2 samples"):
        ab.test("B")
    ab.observe("A", y=3.5)
    with pytest.raises(PolicyError, match="not a proportion; use kind='mean'"):
        ab.evaluate()


def test_thread_safe_observe_counts_are_exact() -> None:
    import threading

    ab = ABTest({"A": 0.5, "B": 0.5}, metric="y", clock=clock)

    def worker(v: str) -> None:
        for i in range(2000):
            ab.observe(v, y=float(i % 2))

    threads = [threading.Thread(target=worker, args=(v,)) for v in ("A", "B", "A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ab.to_dict()["metrics"]["requests"] == {"A": 4000, "B": 4000}
    assert ab.srm().observed == (4000, 4000)
