"""Materialization survives a killed process: whole rows, the old watermark, a clean re-run."""

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
from prodml.testing.store import brute_force_historical, rows_equal

END = datetime(2024, 2, 1, tzinfo=timezone.utc)
USERS = 400

KILL = {
    # Between batches: three whole batches are written, the watermark is not.
    "between": """
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
    """,
    # Inside a transaction: half a batch is executed, then the process dies before COMMIT.
    "inside": """
        from prodml.store._sqlite import SQLiteOnlineStore
        calls = []
        def write(self, view, records):
            rows = [(r.key, view, r.version, r.event_us, r.created_us, r.payload) for r in records]
            if len(calls) == 2:
                self._con.execute("BEGIN IMMEDIATE")
                self._con.executemany(self._upsert, rows[: len(rows) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            calls.append(1)
            print(len(records), flush=True)
            return _orig(self, view, records)
        _orig = SQLiteOnlineStore.write
        SQLiteOnlineStore.write = write
    """,
}


def _rows(seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = 3_000
    event = END - pd.to_timedelta(rng.integers(1, 20 * 86_400, n), unit="s")
    return pa.table(
        {
            "user_id": rng.integers(0, USERS, n),
            "event_at": pa.array(event, pa.timestamp("us", tz="UTC")),
            "x": rng.normal(size=n),
        }
    )


def _store(path: Path, rows: pa.Table) -> tuple[FeatureStore, FeatureView]:
    store = FeatureStore.local(path)
    source = store.offline_store.write_source("txn", rows, timestamp="event_at")
    user = Entity("user", keys=["user_id"])
    view = FeatureView("txn", entity=user, source=source, features=["x"], ttl=timedelta(days=30))
    store.apply([user, view])
    return store, store.view("txn")


def _online(store: FeatureStore) -> list[dict]:
    rows = store.online([{"user_id": u} for u in range(USERS)], ["txn:x"], at=END)
    return [dict(r) for r in rows]


@pytest.mark.parametrize("where", sorted(KILL))
def test_a_killed_materialization_leaves_a_consistent_store(tmp_path: Path, where: str) -> None:
    rows = _rows()
    store, view = _store(tmp_path / "fs", rows)
    script = (
        textwrap.dedent(
            f"""
        import os, signal
        from datetime import datetime, timezone
        from prodml.store import FeatureStore
        store = FeatureStore.local({str(tmp_path / "fs")!r})
        """
        )
        + textwrap.dedent(KILL[where])
        + textwrap.dedent(
            f"""
        store.materialize(datetime.fromisoformat({END.isoformat()!r}), batch_rows=50)
        """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    # The watermark did not move, and every stored row is whole and a correct value.
    assert store.watermarks() == {}
    df = pd.DataFrame({"user_id": range(USERS), "event_timestamp": [END] * USERS})
    expected = brute_force_historical(df, [(view, rows)])
    online = _online(store)
    stored = [i for i, r in enumerate(online) if r["x"] is not None]
    assert 0 < len(stored) < USERS
    # Exactly the batches committed before the kill (their sizes, printed by the child).
    assert len(stored) == sum(int(n) for n in proc.stdout.split())
    for i in stored:
        assert rows_equal(online[i], expected[i])

    # A re-run completes it: the same store as one uninterrupted run.
    [run] = store.materialize(END, batch_rows=50)
    assert run.start_us is None
    assert run.written == run.entities - len(stored)
    clean, _ = _store(tmp_path / "clean", rows)
    clean.materialize(END)
    assert _online(store) == _online(clean)
    assert all(rows_equal(o, e) for o, e in zip(_online(store), expected, strict=True))
