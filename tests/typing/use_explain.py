"""What a type-checked user of prodml.explain sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

import tempfile

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.linear_model import LogisticRegression
from typing_extensions import assert_type

from prodml.explain import Attributions, Explainer, Explanation, load_explainer, register_explainer
from prodml.features import FeaturePipeline, steps
from prodml.registry import ModelRegistry
from prodml.serving import Predictor


def main() -> None:
    rng = np.random.default_rng(0)
    n = 500
    table = pd.DataFrame(
        {"age": rng.integers(18, 80, n).astype(float), "plan": rng.choice(["free", "pro"], n)}
    )
    y = ((table["plan"] == "free") & (table["age"] < 40)).astype(int)
    pipeline = FeaturePipeline([steps.StandardScale(["age"]), steps.OneHot(["plan"])]).fit(table)
    model = LogisticRegression().fit(pipeline.transform(table), y)

    ex = Explainer(pipeline, model, background=table.sample(50, random_state=0)).fit()
    assert_type(ex, Explainer)
    record = {"age": 31.0, "plan": "free"}
    e = ex.explain_record(record)
    assert_type(e, Explanation)
    assert_type(e.values, dict[str, float])
    assert_type(e.base, float)
    assert_type(e.prediction, float)
    assert sorted(e.values) == ["age", "plan"]
    assert abs(e.base + sum(e.values.values()) - e.prediction) < 1e-9
    assert_type(e.top(1), list[tuple[str, float]])

    frame = ex.explain(table)
    assert_type(frame, pd.DataFrame)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["age", "plan"]
    batch = ex.explain_batch(table)
    assert_type(batch, Attributions)
    assert_type(batch.values, npt.NDArray[np.float64])
    assert batch.values.shape == (n, 2)
    importance = ex.importance(table)
    assert_type(importance, dict[str, float])
    assert next(iter(importance)) in {"age", "plan"}

    sampled = Explainer(pipeline, model, background=table, method="sampling", seed=0).fit()
    assert_type(sampled.explain_record(record).error, dict[str, float] | None)
    assert_type(Explainer.from_json(ex.to_json()), Explainer)

    with ModelRegistry.local(tempfile.mkdtemp()) as reg:
        mv = reg.register("churn", (pipeline, model))
        reg.set_alias("churn", "production", mv.version)
        register_explainer(reg, "churn@production", ex)
        loaded = load_explainer(reg, "churn@production")
        assert_type(loaded, Explainer)
        predictor = Predictor.from_registry(
            reg, "churn@production", explainer=loaded, watch_every_s=None
        )
        answer = predictor.predict_record(record, explain=True)
        assert isinstance(answer.explanation, Explanation)
        predictor.close()


if __name__ == "__main__":
    main()
