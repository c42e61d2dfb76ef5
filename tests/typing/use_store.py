"""What a type-checked user of prodml.store sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from typing_extensions import assert_type

from prodml.drift import DriftDetector
from prodml.store import (
    Entity,
    EntityNotFoundError,
    FeatureSkew,
    FeatureStore,
    FeatureView,
    MaterializeRun,
    OnlineRow,
    SkewReport,
    Source,
    TrainingSet,
)


def t(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=timezone.utc)


def main() -> None:
    root = Path(tempfile.mkdtemp())
    (root / "txn").mkdir()
    pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "event_at": [t(1), t(3), t(2)],
            "amount_7d": [10.0, 30.0, 5.0],
        }
    ).to_parquet(root / "txn" / "part-0.parquet")
    with FeatureStore.local(root / "fs") as store:
        assert_type(store, FeatureStore)
        user = Entity("user", keys=["user_id"])
        source = Source.parquet(str(root / "txn"), timestamp="event_at")
        assert_type(source, Source)
        view = FeatureView(
            "txn", entity=user, source=source, features=["amount_7d"], ttl=timedelta(days=30)
        )
        applied = store.apply([user, view])
        assert_type(applied, dict[str, str])
        assert applied == {"user": "created", "txn": "created"}
        refs = ["txn:amount_7d"]

        entity_df = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [t(3, 12), t(5)]})
        train = store.historical(entity_df, refs)
        assert_type(train, TrainingSet)
        frame = train.to_pandas()
        assert_type(frame, pd.DataFrame)
        assert frame["amount_7d"].tolist() == [30.0, 5.0]
        assert_type(train.fingerprint, str)
        assert_type(train.num_rows, int)

        runs = store.materialize(end=t(10))
        assert_type(runs, list[MaterializeRun])
        assert [r.view for r in runs] == ["txn"]

        row = store.online({"user_id": 1}, refs, at=t(10))
        assert_type(row, OnlineRow)
        assert isinstance(row, OnlineRow) and row == {"amount_7d": 30.0}
        assert_type(row.missing, tuple[str, ...])
        rows = store.online([{"user_id": 1}, {"user_id": 3}], refs, at=t(10), missing="none")
        assert_type(rows, list[OnlineRow])
        assert isinstance(rows, list) and rows[1].missing == ("txn:amount_7d",)
        try:
            store.online({"user_id": 3}, refs, at=t(10), missing="error")
        except EntityNotFoundError as err:
            assert_type(err.features, tuple[str, ...])
            assert err.features == ("txn:amount_7d",)
        else:
            raise AssertionError("missing='error' did not raise")

        async_row = asyncio.run(store.online_async({"user_id": 1}, refs, at=t(10)))
        assert_type(async_row, OnlineRow)
        assert async_row == row
        async_rows = asyncio.run(store.online_async([{"user_id": 2}], refs, at=t(10)))
        assert_type(async_rows, list[OnlineRow])
        assert async_rows == [{"amount_7d": 5.0}]

        served = pd.DataFrame(
            {"user_id": [1, 2], "event_timestamp": [t(4), t(4)], "amount_7d": [30.0, 6.0]}
        )
        skew = store.skew(served, refs, detector=DriftDetector())
        assert_type(skew, SkewReport)
        assert_type(skew.ok, bool)
        assert not skew.ok
        assert_type(skew.mismatched_features, list[str])
        assert_type(skew["txn:amount_7d"], FeatureSkew)
        assert skew["txn:amount_7d"].mismatches == 1


if __name__ == "__main__":
    main()
