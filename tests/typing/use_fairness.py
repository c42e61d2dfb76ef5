"""What a type-checked user of prodml.fairness sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

import tempfile
from typing import Literal

import numpy as np
import pandas as pd
from typing_extensions import assert_type

from prodml.fairness import FairnessGate, FairnessReport, Gap, GateVerdict, GroupMetrics
from prodml.registry import ModelRegistry, PromotionError
from prodml.schema import Column, Schema


def main() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    people = pd.DataFrame({"sex": rng.choice(["F", "M"], n)})
    y_true = rng.integers(0, 2, n)
    hit = rng.random(n) < np.where(people["sex"] == "F", 0.65, 0.80)
    y_pred = np.where(y_true == 1, hit, rng.random(n) < 0.1).astype(int)

    gm = GroupMetrics(sensitive=["sex"], metrics=["selection_rate", "tpr", "fpr"])
    assert_type(gm.update(y_true, y_pred, people), GroupMetrics)
    gm.update(1, 1, {"sex": "F"})
    report = gm.report()
    assert_type(report, FairnessReport)
    assert_type(report.by_group, pd.DataFrame)
    assert_type(report.overall, pd.Series)

    every = report.difference()
    assert_type(every, pd.Series)
    assert isinstance(every, pd.Series)
    gap = report.difference("tpr")
    assert_type(gap, Gap)
    assert isinstance(gap, Gap)
    assert_type(gap.flagged, bool)
    assert_type(gap.groups, tuple[str, str])
    assert gap.flagged
    assert isinstance(report.ratio(), pd.Series)
    assert_type(report.ratio("selection_rate").value, float)
    pair = report.difference("tpr", groups=("F", "M"))
    assert_type(pair, Gap)

    gate = FairnessGate("tpr", max_difference=0.05)
    verdict = gate.evaluate(gm)
    assert_type(verdict, GateVerdict)
    assert_type(verdict["verdict"], Literal["pass", "fail", "inconclusive", "no_data"])
    assert_type(verdict["candidate"], float | None)
    assert verdict["verdict"] == "fail"
    assert verdict["groups"] is not None
    assert sorted(verdict["groups"]) == ["sex=F", "sex=M"]
    assert isinstance(verdict["n_candidate"], float)
    assert isinstance(verdict["candidate"], float)
    empty = gate.evaluate(GroupMetrics(["sex"], ["tpr"]))
    assert empty["verdict"] == "no_data"
    assert "why" in empty

    metrics = report.to_metrics()
    assert_type(metrics, dict[str, float])
    with ModelRegistry.local(tempfile.mkdtemp()) as reg:
        biased = reg.register("churn", Schema([Column("x", "float")]), metrics=metrics)
        try:
            reg.promote("churn", "production", biased.version, checks=[gate])
        except PromotionError as err:
            assert_type(err.failures, list[str])
            assert "fairness gate failed" in err.failures[0]
        else:
            raise AssertionError("the gate let a biased model through")

    observation = gate.observation(1, 1, {"sex": "F"})
    assert_type(observation, dict[str, float])


if __name__ == "__main__":
    main()
