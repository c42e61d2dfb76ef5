"""FairnessGate as a registry promotion check and as a canary gate, on the real objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prodml.errors import ConfigError, PolicyError
from prodml.fairness import FairnessGate, GroupMetrics
from prodml.registry import ModelRegistry
from prodml.registry.checks import MetricThreshold, PromotionError
from prodml.rollout import Canary, Gate, Step
from prodml.rollout._gates import CustomGate
from prodml.schema import Column, Schema


def validation(tpr_f: float, tpr_m: float, n: int = 4000, seed: int = 0) -> GroupMetrics:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    y = rng.integers(0, 2, n)
    hit = rng.random(n) < np.where(sex == "F", tpr_f, tpr_m)
    pred = np.where(y == 1, hit, rng.random(n) < 0.1).astype(int)
    return GroupMetrics(["sex"], ["tpr", "fpr", "selection_rate"]).update(y, pred, {"sex": sex})


def test_evaluate_reads_group_metrics_reports_and_flat_metrics() -> None:
    gate = FairnessGate("tpr", max_difference=0.05)
    wide = validation(0.60, 0.80)
    for data in (wide, wide.report(), wide.report().to_metrics()):
        result = gate.evaluate(data)
        assert result["verdict"] == "fail"
        assert result["groups"] == ["sex=F", "sex=M"]
        assert result["lower"] > 0.05
        assert "sex=F" in result["gate"]
        assert "sex=M" in result["gate"]
    assert gate.evaluate(validation(0.80, 0.80, n=200_000))["verdict"] == "pass"
    assert gate.evaluate(validation(0.78, 0.80, n=2000))["verdict"] == "inconclusive"
    few = GroupMetrics(["sex"], ["tpr"]).update([1] * 10, [1] * 10, ["F"] * 5 + ["M"] * 5)
    assert gate.evaluate(few)["verdict"] == "no_data"
    ratio = FairnessGate("selection_rate", min_ratio=0.8)
    assert ratio.evaluate(validation(0.40, 0.80, n=20_000))["verdict"] == "fail"
    eo = FairnessGate("equalized_odds", max_difference=0.05)
    assert eo.evaluate(wide)["component"] == "tpr"
    with pytest.raises(ConfigError, match="to_metrics"):
        gate.evaluate([1, 2, 3])


def test_gate_refuses_and_allows_promotion_in_a_real_registry(tmp_path: Path) -> None:
    reg = ModelRegistry.local(tmp_path / "reg")
    model = Schema([Column("x", "float")])
    fair = reg.register(
        "churn", model, metrics={"auc": 0.8, **validation(0.8, 0.8, 200_000).report().to_metrics()}
    )
    biased = reg.register(
        "churn", model, metrics={"auc": 0.82, **validation(0.6, 0.8).report().to_metrics()}
    )
    untested = reg.register("churn", model, metrics={"auc": 0.81})
    checks = [FairnessGate("tpr", max_difference=0.05), MetricThreshold("auc", min=0.7)]
    promoted = reg.promote("churn", version=fair.version, alias="production", checks=checks)
    assert promoted.version == fair.version
    with pytest.raises(PromotionError) as err:
        reg.promote("churn", version=biased.version, alias="production", checks=checks)
    assert len(err.value.failures) == 1
    assert "tpr difference between sex=F and sex=M" in err.value.failures[0]
    assert f"churn version {biased.version}" in err.value.failures[0]
    with pytest.raises(PromotionError, match="no per-group counts recorded"):
        reg.promote("churn", version=untested.version, alias="production", checks=checks)
    assert reg.get("churn@production").version == fair.version


def test_strict_refuses_what_the_data_cannot_show_within_the_limit() -> None:
    class Version:
        name, version = "churn", 7
        metrics = validation(0.78, 0.80, n=2000).report().to_metrics()

    assert FairnessGate("tpr", max_difference=0.05)(Version(), None) is None
    message = FairnessGate("tpr", max_difference=0.05, strict=True)(Version(), None)
    assert message is not None
    assert "churn version 7" in message


def canary_run(seed: int, candidate_tpr_f: float, n: int = 60_000) -> Canary:
    gate = FairnessGate("tpr", max_difference=0.05)
    now = [0.0]
    canary = Canary(
        steps=[Step(0.2, min_samples=3000), Step(0.5, min_samples=3000)],
        gates=[Gate("error_rate", ratio=1.5), gate],
        clock=lambda: now[0],
    )
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.5, "F", "M")
    y = (rng.random(n) < 0.5).astype(int)
    u = rng.random(n)
    for i in range(n):
        variant = canary.route(i)
        tpr = candidate_tpr_f if variant == "candidate" and sex[i] == "F" else 0.8
        p = int(u[i] < (tpr if y[i] else 0.1))
        canary.observe(
            variant, error_rate=float(p != y[i]), **gate.observation(int(y[i]), p, {"sex": sex[i]})
        )
        if i % 1000 == 999:
            canary.evaluate()
            if canary.state != "running":
                break
    return canary


def test_a_canary_that_widens_a_gap_rolls_back_naming_the_groups() -> None:
    canary = canary_run(1, candidate_tpr_f=0.62)
    assert canary.state == "rolled_back"
    reason = canary.decisions[-1].reason
    assert "gate failed" in reason
    assert "sex=F" in reason
    assert "sex=M" in reason
    evidence = next(g for g in canary.decisions[-1].evidence["gates"] if g["metric"] == "tpr")
    assert evidence["verdict"] == "fail"
    assert evidence["baseline"] < 0.05
    fair = canary_run(2, candidate_tpr_f=0.8)
    assert fair.state == "promoted"


def test_a_canary_with_a_fairness_gate_saves_and_resumes() -> None:
    canary = canary_run(3, candidate_tpr_f=0.8, n=5000)
    text = canary.to_json()
    with pytest.raises(PolicyError, match="saved gate 1 is a FairnessGate"):
        Canary.from_json(text)
    gates = [Gate("error_rate", ratio=1.5), FairnessGate("tpr", max_difference=0.05)]
    back = Canary.from_json(text, gates=gates)
    assert back.to_dict() == canary.to_dict()
    with pytest.raises(PolicyError, match="differ"):
        Canary.from_json(text, gates=[gates[0], FairnessGate("tpr", max_difference=0.1)])


def test_the_gate_satisfies_both_protocols_without_importing_them() -> None:
    gate = FairnessGate("tpr", max_difference=0.05)
    assert isinstance(gate, CustomGate)
    assert callable(gate)
    assert FairnessGate.from_dict(gate.to_dict()) == gate
    assert gate.describe() == "tpr difference between groups <= 0.05"
    assert gate.observation(1, 0, {"sex": "F"}) == {"tpr[sex=F]": 0.0}
    assert gate.observation(0, 1, "F") == {}  # not a positive: no tpr record
    sel = FairnessGate("demographic_parity", min_ratio=0.8, prefix="f.")
    assert sel.observation(0, 1, {"b": 2, "a": 1}) == {"f.selection_rate[a=1,b=2]": 1.0}
    import subprocess
    import sys

    code = (
        "import sys, prodml.fairness\n"
        "print(sorted(m for m in ('prodml.registry', 'prodml.rollout') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"metric": "tpr"}, "max_difference"),
        ({"metric": "count", "max_difference": 0.1}, "metric"),
        ({"metric": "nope", "max_difference": 0.1}, "metrics"),
        ({"metric": "tpr", "max_difference": 1.5}, "max_difference"),
        ({"metric": "tpr", "min_ratio": 0.0}, "min_ratio"),
        ({"metric": "tpr", "max_difference": 0.1, "min_count": 0}, "min_count"),
        ({"metric": "tpr", "max_difference": 0.1, "strict": "yes"}, "strict"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], parameter: str) -> None:
    with pytest.raises(ConfigError) as err:
        FairnessGate(**kwargs)  # type: ignore[arg-type]
    assert err.value.parameter == parameter
    with pytest.raises(ConfigError, match="0/1"):
        FairnessGate("tpr", max_difference=0.1).observation(2, 1, "F")
    with pytest.raises(ConfigError, match="FairnessGate"):
        FairnessGate.from_dict({"type": "Gate"})


class Summary:
    def __init__(self, n: float, mean: float) -> None:
        self.n, self.mean = n, mean


def test_continuous_evaluation_keeps_false_rollbacks_under_alpha() -> None:
    """A gap exactly at the limit, looked at 30 times per canary: fails stay <= alpha."""
    gate = FairnessGate("tpr", max_difference=0.05)
    rng = np.random.default_rng(8)
    sims, looks, per_look = 100, 30, 100
    hits = rng.random((sims, 2, looks * per_look)) < np.array([0.80, 0.75])[None, :, None]
    cum = hits.reshape(sims, 2, looks, per_look).sum(axis=3).cumsum(axis=2)
    failed = {True: 0, False: 0}
    for sequential in (True, False):
        for s in range(sims):
            for look in range(looks):
                n = (look + 1) * per_look
                summaries = {
                    f"tpr[sex={g}]": Summary(n, cum[s, j, look] / n) for j, g in enumerate("FM")
                }
                result = gate.evaluate_rollout(
                    summaries, summaries, alpha=0.05, min_samples=100, sequential=sequential
                )
                if result["verdict"] == "fail":
                    failed[sequential] += 1
                    break
    assert failed[True] / sims <= 0.05
    assert failed[False] > failed[True]  # fixed-horizon intervals peeked at fail more often
