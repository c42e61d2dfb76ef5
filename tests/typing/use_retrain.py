"""What a type-checked user of prodml.retrain sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from typing_extensions import assert_type

from prodml.features import FeaturePipeline, steps
from prodml.registry import MetricThreshold, ModelRegistry, ModelVersion
from prodml.retrain import Action, Guards, RetrainController, RunContext, ScheduleTrigger

DAY = 86_400.0


def load_labelled(context: RunContext) -> pd.DataFrame:
    assert_type(context.now, float)
    rng = np.random.default_rng(int(context.now // DAY))
    x = rng.normal(size=400)
    frame: pd.DataFrame = pd.DataFrame({"x": x, "churned": (x + rng.normal(0, 0.5, 400) > 0)})
    return frame


def train(
    data: pd.DataFrame, context: RunContext
) -> tuple[FeaturePipeline, LogisticRegression, dict[str, float]]:
    assert_type(context.parent, ModelVersion | None)
    pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(data[["x"]])
    model = LogisticRegression().fit(pipe.transform(data[["x"]]), data["churned"])
    accuracy = float(model.score(pipe.transform(data[["x"]]), data["churned"]))
    return pipe, model, {"accuracy": accuracy}


def no_friday_releases(candidate: ModelVersion, current: ModelVersion | None) -> str | None:
    return None


def main() -> None:
    registry = ModelRegistry("memory://", "memory://typing-retrain")
    ctl = RetrainController(
        registry=registry,
        model="churn",
        alias="production",
        train=train,
        triggers=[ScheduleTrigger(timedelta(days=7))],
        checks=[MetricThreshold("accuracy", min=0.6), no_friday_releases, lambda c, cur: None],
        data=load_labelled,
        guards=Guards(min_interval=timedelta(days=1)),
    )
    action = ctl.step(0.0)
    assert_type(action, Action)
    assert_type(action.version, int | None)
    assert action.action == "promote"
    assert action.version == 1
    later = [ctl.step(t).action for t in (DAY, 8 * DAY)]
    assert later[0] == "none"
    assert_type(ctl.decisions, list[Action])
    assert registry.get("churn@production").version == 2
    state = ctl.to_dict()
    assert state["format_version"] >= 1
    registry.close()


if __name__ == "__main__":
    main()
