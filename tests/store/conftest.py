"""Backends for the store tests: DuckDB and SQLite always; PostgreSQL and Redis from the env.

The ``postgres_url`` and ``redis_url`` fixtures live in tests/conftest.py (the CLI's store
tests use them too).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from prodml.store import Entity, FeatureStore, FeatureView

pytest.importorskip("duckdb", reason="the store tests need the 'store' extra")


T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
H = timedelta(hours=1)


def txn_rows() -> pa.Table:
    """Two users' transactions: features of every logical type, one backfilled row."""
    return pa.table(
        {
            "user_id": pa.array([1, 1, 2, 1], pa.int64()),
            "event_at": [T0, T0 + 2 * H, T0 + H, T0 + 3 * H],
            "created_at": [T0, T0 + 2 * H, T0 + H, T0 + 30 * H],
            "amount": [10.0, 20.0, 5.0, 99.0],
            "n_txn": pa.array([1, 2, 1, 3], pa.int64()),
            "flagged": [False, True, False, True],
            "country": ["fr", "de", "fr", "it"],
            "last_seen": [T0, T0 + 2 * H, T0 + H, T0 + 3 * H],
        }
    )


def txn_store(root: Path, features: list[Any] | None = None) -> FeatureStore:
    """A local store holding :func:`txn_rows` as source and view "txn" (ttl two days)."""
    fs = FeatureStore.local(root)
    source = fs.offline_store.write_source(
        "txn", txn_rows(), timestamp="event_at", created="created_at"
    )
    user = Entity("user", keys=["user_id"])
    view = FeatureView(
        "txn",
        entity=user,
        source=source,
        features=features or ["amount", "n_txn", "flagged", "country", "last_seen"],
        ttl=timedelta(days=2),
    )
    fs.apply([user, view])
    return fs


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    fs = txn_store(tmp_path / "fs")
    yield fs
    fs.close()
