"""What a type-checked user of prodml.serving sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from starlette.applications import Starlette
from typing_extensions import assert_type

from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.features import FeaturePipeline, steps
from prodml.monitoring import ModelMonitor
from prodml.registry import ModelRegistry
from prodml.rollout import Canary, Step, ThompsonSampling
from prodml.schema import Column, Schema
from prodml.serving import ModelError, Prediction, Predictor, ScoreReport, create_app, score


def main() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 300).astype(float),
            "plan": rng.choice(["free", "pro", "team"], 300),
            "visits": rng.poisson(5, 300).astype(float),
        }
    )
    churned = ((train.plan == "free") & (train.visits < 4)).astype(int)
    pipe = FeaturePipeline([steps.StandardScale(["age", "visits"]), steps.OneHot(["plan"])])
    pipe.fit(train)
    model = LogisticRegression().fit(pipe.transform(train), churned)
    schema = Schema(
        [
            Column("age", "float", nullable=False, min=0, max=130),
            Column("plan", "category", allowed=["free", "pro", "team"]),
            Column("visits", "float", min=0),
        ]
    )
    reg = ModelRegistry.local(tempfile.mkdtemp())
    v1 = reg.register("churn", (pipe, model), signature=schema)
    reg.set_alias("churn", "production", v1.version)
    v2 = reg.register(
        "churn", (pipe, LogisticRegression(C=0.1).fit(pipe.transform(train), churned))
    )
    reg.set_alias("churn", "candidate", v2.version)

    monitor = ModelMonitor("churn", evaluate_every_s=None)
    pred = Predictor.from_registry(
        reg, "churn@production", monitor=monitor, output="proba", watch_every_s=None
    )
    assert_type(pred, Predictor[float])  # output="proba": the values are scores
    p = pred.predict_record({"age": 31.0, "plan": "free", "visits": 2.0})
    assert_type(p, Prediction[float])
    assert_type(p.value, float)
    assert isinstance(p.value, float)
    assert_type(p.version, int | None)
    assert_type(p.variant, str)
    assert_type(p.latency_s, float)
    assert p.version == 1
    assert p.variant == "default"
    monitor.log_label(p.id, 1)
    assert_type(pred.monitors, dict[str, ModelMonitor])
    assert pred.monitors == {"default": monitor}

    try:
        pred.predict_record({"age": -4.0, "plan": "gold"})
    except SchemaError as err:
        assert {q.column for q in err.problems} == {"age", "plan", "visits"}

    answers = pred.predict_many(
        [{"age": 31.0, "plan": "free", "visits": 2.0}, {"age": 31.0}], atomic=False
    )
    assert_type(answers, list[Prediction[float] | SchemaError | ModelError | None])
    assert isinstance(answers[0], Prediction)
    assert isinstance(answers[1], SchemaError)
    problem = answers[1].problems[0]
    assert_type(problem, SchemaProblem)
    assert problem.row == 1
    atomic = pred.predict_many([{"age": 31.0, "plan": "free", "visits": 2.0}, {}], atomic=True)
    assert atomic[0] is None

    scores = pred.predict_batch(train.head(5))
    assert_type(scores, np.ndarray)
    assert isinstance(scores, np.ndarray)
    assert scores.shape == (5,)
    table = pred.predict_batch(train.head(5), output="arrow")
    assert table.column_names == ["prediction"]

    app = create_app(pred, json_library="json")
    assert_type(app, Starlette)
    assert isinstance(app, Starlette)

    work = Path(tempfile.mkdtemp())
    train.assign(customer=range(len(train))).to_parquet(work / "customers.parquet")
    report = score(pred, work / "customers.parquet", work / "scored", chunk_rows=100)
    assert_type(report, ScoreReport)
    assert_type(report.rows, int)
    assert_type(report.version, int | None)
    assert report.rows == len(train)
    pred.close()

    canary = Canary(steps=[Step(0.25)], salt="churn-v2")
    routed = Predictor.from_registry(
        reg, "churn@production", policy=canary, key_column="customer", watch_every_s=None
    )
    assert_type(routed, Predictor[Any])  # output="auto": what the model decides
    assert_type(routed.predict_record({"age": 40.0, "plan": "pro", "visits": 3.0}).value, Any)
    assert isinstance(routed.policy, Canary)  # typed: a rollout policy or None, not Any
    variants = {
        routed.predict_record(
            {"customer": f"c{i}", "age": 40.0, "plan": "pro", "visits": 3.0}
        ).variant
        for i in range(100)
    }
    assert variants == {"baseline", "candidate"}
    routed.close()

    bandit = Predictor(
        pipe, model, variants={"b": (pipe, model)}, policy=ThompsonSampling(["a", "b"], seed=0)
    )
    assert_type(bandit, Predictor[Any])
    assert bandit.predict_record({"age": 40.0, "plan": "pro", "visits": 3.0}).variant in "ab"
    try:  # not a rollout policy: a type error, and a ConfigError at run time
        Predictor(pipe, model, policy="canary")  # type: ignore[call-overload]
    except ConfigError as err:
        assert err.parameter == "policy"
    else:
        raise AssertionError("a str policy was accepted")
    reg.close()


if __name__ == "__main__":
    main()
