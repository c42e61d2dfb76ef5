"""A materialization killed part-way into Redis or PostgreSQL resumes without loss or
duplicates (tests/store/test_materialize.py does the same for SQLite)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml.store import Entity, FeatureStore, FeatureView

END = datetime(2024, 2, 1, tzinfo=timezone.utc)
USERS = 300


def _rows() -> pa.Table:
    rng = np.random.default_rng(1)
    n = 2_000
    event = END - pd.to_timedelta(rng.integers(1, 20 * 86_400, n), unit="s")
    return pa.table(
        {
            "user_id": rng.integers(0, USERS, n),
            "event_at": pa.array(event, pa.timestamp("us", tz="UTC")),
            "x": rng.normal(size=n),
        }
    )


def _store(offline: str, online: str, rows: pa.Table | None) -> FeatureStore:
    store = FeatureStore(offline, online)
    if rows is not None:
        source = store.offline_store.write_source("txn", rows, timestamp="event_at")
        user = Entity("user", keys=["user_id"])
        view = FeatureView(
            "txn", entity=user, source=source, features=["x"], ttl=timedelta(days=30)
        )
        store.apply([user, view])
    return store


def _online(store: FeatureStore) -> list[dict]:
    rows = store.online([{"user_id": u} for u in range(USERS)], ["txn:x"], at=END)
    return [dict(r) for r in rows]


BETWEEN = """
    orig = store.online_store.write
    calls = []
    def write(view, records):
        n = orig(view, records)
        calls.append(n)
        print(len(records), flush=True)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return n
    store.online_store.write = write
"""
# PostgreSQL only: half a batch is executed in its transaction, then the process dies
# before COMMIT (a Redis batch is one Lua script: it cannot be cut).
INSIDE = """
    from prodml.store._pg_online import PostgresOnlineStore
    calls = []
    _orig = PostgresOnlineStore.write
    def write(self, view, records):
        if len(calls) == 2:
            rows = [(r.key, view, r.version, r.event_us, r.created_us, r.payload) for r in records]
            with self._con.transaction(), self._con.cursor() as cur:
                cur.executemany(self._upsert, rows[: len(rows) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
        calls.append(1)
        print(len(records), flush=True)
        return _orig(self, view, records)
    PostgresOnlineStore.write = write
"""


@pytest.mark.parametrize(
    ("server", "where"), [("redis", "between"), ("postgres", "between"), ("postgres", "inside")]
)
def test_a_killed_materialization_resumes_exactly(
    tmp_path: Path, request: pytest.FixtureRequest, server: str, where: str
) -> None:
    online_url: str = request.getfixturevalue(f"{server}_url")
    offline = f"duckdb://{tmp_path}/off"
    store = _store(offline, online_url, _rows())
    script = (
        textwrap.dedent(
            f"""
        import os, signal
        from datetime import datetime
        from prodml.store import FeatureStore
        store = FeatureStore({offline!r}, {online_url!r})
        """
        )
        + textwrap.dedent(BETWEEN if where == "between" else INSIDE)
        + textwrap.dedent(
            f"""
        store.materialize(datetime.fromisoformat({END.isoformat()!r}), batch_rows=40)
        """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert store.watermarks() == {}
    done = sum(int(n) for n in proc.stdout.split())
    assert 0 < done < USERS
    stored = [r for r in _online(store) if r["x"] is not None]
    assert len(stored) == done

    [run] = store.materialize(END, batch_rows=40)
    assert run.start_us is None
    assert run.written == run.entities - done  # the rows stored before the kill stay
    clean = _store(f"duckdb://{tmp_path}/clean", "sqlite:///:memory:", _rows())
    clean.materialize(END)
    assert _online(store) == _online(clean)
    assert [r.written for r in store.materialize(END, start=END - timedelta(days=60))] == [0]
    clean.close()
    store.close()
