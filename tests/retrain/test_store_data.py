"""The training set through the feature store: point-in-time rows, view fingerprints."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pytest

from prodml.errors import ConfigError
from prodml.retrain import RetrainController, ScheduleTrigger, StoreTrainingData
from prodml.schema import Column, Schema

from .helpers import registry

pytest.importorskip("duckdb", reason="the feature store's offline default needs the store extra")


def _t(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=timezone.utc)


def test_training_set_from_the_store_carries_its_lineage(tmp_path):
    from prodml.store import Entity, FeatureStore, FeatureView

    store = FeatureStore.local(tmp_path / "store")
    rows = pa.table({"user_id": [1, 1, 2], "at": [_t(1), _t(5), _t(2)], "spend": [10.0, 20.0, 7.0]})
    source = store.offline_store.write_source("spend", rows, timestamp="at")
    user = Entity("user", keys=["user_id"])
    view = FeatureView("spend", entity=user, source=source, features=["spend"], ttl=timedelta(30))
    store.apply([user, view])
    seen = []

    def train(training_set, ctx):
        frame = training_set.to_pandas()
        seen.append(frame["spend"].tolist())
        return None, Schema([Column("spend", "float")]), {"rows": float(len(frame))}

    entities = pd.DataFrame(
        {"user_id": [1, 1, 2], "event_timestamp": [_t(3), _t(6), _t(3)], "label": [0, 1, 0]}
    )
    reg = registry()
    ctl = RetrainController(
        registry=reg,
        model="spend",
        alias="production",
        train=train,
        triggers=[ScheduleTrigger(timedelta(days=7))],
        data=StoreTrainingData(store, ["spend:spend"], lambda ctx: entities),
    )
    assert ctl.step(_t(10)).action == "promote"
    assert seen == [[10.0, 20.0, 7.0]]  # point in time: day 3 sees day 1's value
    mv = reg.get("spend@production")
    assert mv.lineage.feature_views == {"spend": store.view("spend").fingerprint}
    ts = store.historical(entities, ["spend:spend"])
    assert mv.lineage.data_fingerprint == ts.fingerprint
    store.close()


def test_store_training_data_checks_its_settings():
    with pytest.raises(ConfigError, match="needs a FeatureStore"):
        StoreTrainingData(object(), ["v:x"], None)
    with pytest.raises(ConfigError, match="non-empty list"):
        StoreTrainingData(type("S", (), {"historical": None})(), "v:x", None)


def test_without_data_the_run_fails_naming_the_setting():
    ctl = RetrainController(
        registry=registry(),
        model="m",
        alias="production",
        train=lambda d, c: (None, None, {}),
        triggers=[ScheduleTrigger(timedelta(days=7))],
    )
    action = ctl.step(0.0)
    assert action.action == "fail"
    assert "needs data=" in action.reason
