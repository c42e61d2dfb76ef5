"""Shared pieces of the retrain tests: a small churn model and a counting train function."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from prodml._demo.data import make_churn_data
from prodml.features import FeaturePipeline, steps
from prodml.registry import ModelRegistry

DAY = 86_400.0
NUMERIC = ["tenure_months", "monthly_spend", "sessions_7d", "support_tickets"]
_ids = itertools.count()


def registry() -> ModelRegistry:
    return ModelRegistry("memory://", f"memory://retrain-test-{next(_ids)}")


def pipeline() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(NUMERIC, strategy="median"),
            steps.StandardScale(NUMERIC),
            steps.OneHot(["plan"], max_categories=10),
        ]
    )


@dataclass
class Trainer:
    """``train`` for the controller: fits the pipeline and a logistic regression."""

    fail: bool = False
    accuracy: float | None = None  # force the reported metric (to fail a check)
    calls: list[str] = field(default_factory=list)

    def __call__(self, data: pd.DataFrame, context: Any) -> tuple[Any, Any, dict[str, float]]:
        self.calls.append(context.run_id)
        if self.fail:
            raise RuntimeError("the training cluster is down")
        pipe = pipeline().fit(data.drop(columns=["churned"]))
        model = LogisticRegression(max_iter=200).fit(
            pipe.transform(data.drop(columns=["churned"])), data["churned"]
        )
        acc = float(model.score(pipe.transform(data.drop(columns=["churned"])), data["churned"]))
        return pipe, model, {"accuracy": acc if self.accuracy is None else self.accuracy}


def data(n: int = 400, seed: int = 0, **kw: float) -> pd.DataFrame:
    return make_churn_data(n, seed=seed, **kw).drop(columns=["region", "signup_at"])


def errors(rate: float, n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < rate).astype(float)
