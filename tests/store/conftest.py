"""Backends for the store tests: DuckDB and SQLite always; PostgreSQL and Redis from the env.

PostgreSQL: each test gets its own schema. Redis: each
test gets its own key prefix on the server at $PRODML_TEST_REDIS_URL. Unset variables skip
those tests, unless PRODML_REQUIRE_SERVICES=1, which fails them (see .ci/services.sh).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from prodml.store import Entity, FeatureStore, FeatureView
from prodml.testing.registry import service_url

pytest.importorskip("duckdb", reason="the store tests need the 'store' extra")

POSTGRES_HINT = "start PostgreSQL, e.g. `source .ci/services.sh`"
REDIS_HINT = "start redis-server, e.g. `source .ci/services.sh`"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    import sqlalchemy as sa

    base = service_url("PRODML_TEST_POSTGRES_URL", POSTGRES_HINT, extra=("psycopg", "postgres"))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    base = service_url("PRODML_TEST_REDIS_URL", REDIS_HINT, extra=("redis", "redis"))
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}prefix={prefix}"
    import redis

    client = redis.Redis.from_url(base)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    fs = FeatureStore.local(tmp_path / "fs")
    source = fs.offline_store.write_source(
        "txn", txn_rows(), timestamp="event_at", created="created_at"
    )
    user = Entity("user", keys=["user_id"])
    view = FeatureView(
        "txn",
        entity=user,
        source=source,
        features=["amount", "n_txn", "flagged", "country", "last_seen"],
        ttl=timedelta(days=2),
    )
    fs.apply([user, view])
    yield fs
    fs.close()
