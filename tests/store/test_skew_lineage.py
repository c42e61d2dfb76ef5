"""The skew check finds what serving got wrong; lineage traces a model to its views and data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.store.conftest import T0, H

from prodml.errors import ConfigError, SchemaError
from prodml.store import FeatureStore

REFS = ["txn:amount", "txn:n_txn", "txn:country"]


def served_log(store: FeatureStore, n: int = 60) -> pd.DataFrame:
    """What an online service would have logged: keys, time, and the values it read."""
    rng = np.random.default_rng(0)
    times = [T0 + int(h) * H for h in np.sort(rng.integers(0, 40, n))]
    users = [int(u) for u in rng.integers(1, 3, n)]
    rows = []
    for t, u in zip(times, users, strict=True):  # in time order, as a service serves
        if t > max(store.watermarks().values(), default=T0 - H):
            store.materialize(t)
        rows.append(
            {"user_id": u, "event_timestamp": t, **store.online({"user_id": u}, REFS, at=t)}
        )
    return pd.DataFrame(rows)


def test_served_values_equal_the_offline_recompute(store: FeatureStore) -> None:
    log = served_log(store)
    report = store.skew(log)
    assert report.ok, report.to_frame()
    assert [f.feature for f in report.features] == REFS
    assert all(f.mismatches == 0 and f.rows == len(log) for f in report.features)
    assert report.drift is not None
    assert report.drift.drifted_columns == []


def test_mismatches_are_counted_per_feature_and_drift_is_tested(store: FeatureStore) -> None:
    log = served_log(store)
    bad = log.copy()
    bad.loc[[3, 7], "amount"] = bad.loc[[3, 7], "amount"] + 0.5
    bad.loc[5, "country"] = "xx"
    bad.loc[9, "n_txn"] = None
    report = store.skew(bad)
    assert not report.ok
    assert report["txn:amount"].mismatches == 2
    assert report["txn:amount"].first_row == 3
    assert report["amount"].mismatch_rate == pytest.approx(2 / len(bad))
    assert report["txn:country"].mismatches == 1
    n_txn = report["txn:n_txn"]
    assert n_txn.mismatches == 1
    assert n_txn.served_nulls == n_txn.offline_nulls + 1
    assert report.mismatched_features == REFS
    frame = report.to_frame()
    assert list(frame["mismatches"]) == [2, 1, 1]
    assert report.to_dict()["features"][0]["mismatches"] == 2
    shifted = log.assign(amount=log["amount"] * 10 + 100)
    assert "amount" in store.skew(shifted, ["txn:amount"]).drift.drifted_columns


def test_skew_needs_the_served_columns(store: FeatureStore) -> None:
    log = pd.DataFrame({"user_id": [1], "event_timestamp": [T0]})
    with pytest.raises(ConfigError, match="no column named after a feature"):
        store.skew(log)
    with pytest.raises(SchemaError, match="served_log has no such column"):
        store.skew(log, ["txn:amount"])


def test_a_registered_model_traces_to_the_view_definitions_and_data(
    store: FeatureStore, tmp_path
) -> None:
    from prodml.registry import ModelRegistry
    from prodml.schema import Schema

    entity_df = pd.DataFrame(
        {"user_id": [1, 2, 1], "event_timestamp": [T0 + H, T0 + 2 * H, T0 + 5 * H]}
    )
    train = store.historical(entity_df, REFS)
    registry = ModelRegistry.local(tmp_path / "registry")
    mv = registry.register("churn", Schema([]), lineage=train.lineage(code_version="abc"))
    lineage = registry.get("churn@latest").lineage
    assert lineage.feature_views == {"txn": store.view("txn").fingerprint}
    assert lineage.data_fingerprint == train.fingerprint
    assert lineage.model_extra["features"] == REFS
    # Same definitions and entity rows: the same training set, byte for byte in content.
    again = store.historical(entity_df, REFS)
    assert again.fingerprint == mv.lineage.data_fingerprint
    # A changed definition no longer matches the model's lineage.
    view = store.view("txn")
    store.apply([view.model_copy(update={"ttl": 3 * view.ttl})])
    assert store.view("txn").fingerprint != lineage.feature_views["txn"]
    registry.close()
