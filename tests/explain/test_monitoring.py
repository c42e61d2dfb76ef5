"""Attribution drift in ModelMonitor: what drives the model changing raises an alert."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from prodml.errors import ConfigError, SchemaError
from prodml.explain import Explainer
from prodml.features import FeaturePipeline
from prodml.monitoring import AlertRule, ModelMonitor

from .conftest import churn_frame, records


@pytest.fixture(scope="module")
def explainer(churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline]) -> Explainer:
    df, y, pipe = churn
    model = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(pipe.transform(df), y)
    return Explainer(pipe, model).fit()


def _monitor(reference: pd.DataFrame, **kwargs: object) -> ModelMonitor:
    clock = iter(range(10**6)).__next__
    return ModelMonitor(
        "churn",
        rules=[AlertRule("drivers", metric="attribution_drift_share", op=">", fire=0.3)],
        clock=clock,
        evaluate_every_s=None,
        attribution_reference=reference,
        attribution_window=200,
        **kwargs,  # type: ignore[arg-type]
    )


def _log(mon: ModelMonitor, ex: Explainer, df: pd.DataFrame, start: int) -> None:
    for i, rec in enumerate(records(df)):
        e = ex.explain_record(rec)
        mon.log_prediction(start + i, rec, min(1.0, max(0.0, e.prediction / 10 + 0.5)),
                           attributions=e.values)  # fmt: skip


def test_shifted_drivers_fire_the_alert_and_stable_ones_do_not(explainer: Explainer) -> None:
    reference = explainer.explain(churn_frame(1000, seed=11))
    mon = _monitor(reference)
    _log(mon, explainer, churn_frame(200, seed=12), 0)  # same population
    assert mon.metrics()["attribution_drift_count"] == 200
    assert mon.metrics()["attribution_drift_share"] == 0.0
    assert [e.state for e in mon.evaluate()] == []
    shifted = churn_frame(200, seed=13)
    shifted["plan"] = "free"  # every customer on the plan that drives churn up
    shifted["age"] = 75.0
    _log(mon, explainer, shifted, 1000)
    values = mon.metrics()
    assert values["attribution_drifted_columns"] >= 2
    assert values["attribution_windows_total"] == 2
    assert [(e.rule, e.state) for e in mon.evaluate()] == [("drivers", "firing")]
    # State is data: rows of an open window survive a restart.
    _log(mon, explainer, shifted.iloc[:50], 5000)
    back = ModelMonitor.from_json(mon.to_json(), attribution_reference=reference)
    assert back.to_dict()["state"]["attributions"] == mon.to_dict()["state"]["attributions"]
    assert back.alert_states() == {"drivers": "firing"}


def test_attribution_metrics_need_a_reference_and_good_values(explainer: Explainer) -> None:
    with pytest.raises(ConfigError, match="attribution_drift_share"):
        ModelMonitor(rules=[AlertRule("d", metric="attribution_drift_share", op=">", fire=0.3)])
    with pytest.raises(ConfigError, match="attribution_window"):
        ModelMonitor(attribution_reference=pd.DataFrame({"a": [1.0, 2.0]}), attribution_window=1)
    mon = _monitor(explainer.explain(churn_frame(300, seed=1)))
    with pytest.raises(SchemaError, match="attributions must be a mapping"):
        mon.log_prediction(1, None, 0.5, attributions=[0.1, 0.2])  # type: ignore[arg-type]
    # A monitor without a reference ignores attributions.
    plain = ModelMonitor(evaluate_every_s=None)
    plain.log_prediction(1, None, 0.5, attributions={"age": 0.1})
    assert "attribution_drift_share" not in plain.metrics()
