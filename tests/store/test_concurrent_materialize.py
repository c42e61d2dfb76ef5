"""Two materializations of one view at once: the watermark only moves forward.

(And two ``apply`` calls at once: each keeps the other's views.)

Each online backend is opened twice (two connections, as two processes have). The runs
are interleaved on purpose: the run with the earlier ``end`` reads the watermark first
and records its run last, the order in which a plain read-then-write moved it back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml.store import Entity, FeatureStore, FeatureView
from prodml.store.backends import OnlineStore

END = datetime(2024, 2, 1, tzinfo=timezone.utc)
EARLY = END - timedelta(days=5)
USERS = 50


def _rows() -> pa.Table:
    rng = np.random.default_rng(7)
    n = 600
    event = END - pd.to_timedelta(rng.integers(1, 20 * 86_400, n), unit="s")
    return pa.table(
        {
            "user_id": rng.integers(0, USERS, n),
            "event_at": pa.array(event, pa.timestamp("us", tz="UTC")),
            "x": rng.normal(size=n),
        }
    )


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def two_stores(tmp_path: Path, online_url: str) -> Iterator[tuple[FeatureStore, FeatureStore]]:
    first = FeatureStore(f"duckdb://{tmp_path / 'off'}", online_url)
    source = first.offline_store.write_source("txn", _rows(), timestamp="event_at")
    user = Entity("user", keys=["user_id"])
    view = FeatureView("txn", entity=user, source=source, features=["x"], ttl=timedelta(days=30))
    first.apply([user, view])
    # Its own offline store too: a run holds its store's DuckDB connection while it reads.
    second = FeatureStore(f"duckdb://{tmp_path / 'off'}", online_url)
    yield first, second
    second.close()
    first.close()


def _hold_writes(store: FeatureStore, entered: threading.Event, go: threading.Event) -> None:
    """Make ``store``'s first online write wait for ``go`` (after setting ``entered``)."""
    online = store.online_store
    orig = online.write

    def write(view: str, records: object) -> int:
        entered.set()
        assert go.wait(60), "the other run never finished"
        return orig(view, records)  # type: ignore[arg-type]

    online.write = write  # type: ignore[method-assign]


def test_a_slower_earlier_run_never_moves_the_watermark_back(
    two_stores: tuple[FeatureStore, FeatureStore],
) -> None:
    fast, slow = two_stores
    entered, go = threading.Event(), threading.Event()
    _hold_writes(slow, entered, go)
    slow_runs: list[object] = []
    # The slow run reads the (absent) watermark, then waits inside its first write.
    worker = threading.Thread(target=lambda: slow_runs.extend(slow.materialize(EARLY)))
    worker.start()
    assert entered.wait(60)
    [fast_run] = fast.materialize(END)
    go.set()
    worker.join(60)
    assert not worker.is_alive()
    [slow_run] = slow_runs
    # A read-then-write stored the slow run's record over the fast one's: EARLY.
    assert fast.watermarks() == {"txn": END}
    assert slow.watermarks() == {"txn": END}
    # Both runs are recorded, and the next run starts from END (writes nothing).
    text = fast.online_store.get_state("materialized:txn")
    assert text is not None
    assert f'"end_us": {fast_run.end_us}' in text
    assert f'"end_us": {slow_run.end_us}' in text  # type: ignore[attr-defined]
    assert fast.materialize(END) == []
    # The online values are END's, not EARLY's: the write rule keeps the newer rows.
    got = fast.online([{"user_id": u} for u in range(USERS)], ["txn:x"], at=END)
    df = pd.DataFrame({"user_id": range(USERS), "event_timestamp": [END] * USERS})
    hist = fast.historical(df, ["txn:x"]).to_pandas()
    assert [r["x"] for r in got] == [None if pd.isna(v) else v for v in hist["x"]]


def _opener(online_url: str) -> Callable[[], OnlineStore]:
    return lambda: FeatureStore("duckdb://", online_url).online_store


def test_state_updates_from_separate_connections_all_count(online_url: str) -> None:
    """Threads, each with its own connection, add one to a counter: no addition is lost."""
    threads, each = 4, 20
    stores = [_opener(online_url)() for _ in range(threads)]
    start = threading.Barrier(threads, timeout=60)

    def add(current: str | None) -> str:
        return str((0 if current is None else int(current)) + 1)

    def work(store: OnlineStore) -> None:
        start.wait()
        for _ in range(each):
            store.update_state("counter", add)

    running = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in running:
        t.start()
    for t in running:
        t.join(120)
    try:
        assert not any(t.is_alive() for t in running)
        assert stores[0].get_state("counter") == str(threads * each)
    finally:
        for s in stores:
            s.close()


def test_concurrent_apply_calls_keep_each_others_views(
    two_stores: tuple[FeatureStore, FeatureStore],
) -> None:
    # apply read the definitions, merged its own and wrote them back: a second store
    # applying in between lost its view to the first one's write.
    first, second = two_stores
    user = Entity("user", keys=["user_id"])
    view = first.view("txn")
    entered, go = threading.Event(), threading.Event()
    resolve = first._resolve  # type: ignore[attr-defined]
    calls: list[int] = []

    def slow_resolve(*args: object) -> FeatureView:
        calls.append(1)
        if len(calls) == 1:  # the first merge waits; the retry runs straight through
            entered.set()
            assert go.wait(60), "the other apply never finished"
        return resolve(*args)  # type: ignore[no-any-return]

    first._resolve = slow_resolve  # type: ignore[method-assign]
    a = FeatureView("a", entity=user, source=view.source, features=["x"])
    b = FeatureView("b", entity=user, source=view.source, features=["x"])
    status: list[dict[str, str]] = []
    worker = threading.Thread(target=lambda: status.append(first.apply([a])))
    worker.start()
    assert entered.wait(60)
    assert second.apply([b]) == {"b": "created"}
    go.set()
    worker.join(60)
    assert not worker.is_alive()
    assert status == [{"a": "created"}]
    assert sorted(first.views) == sorted(second.views) == ["a", "b", "txn"]
    assert len(calls) == 2  # the first merge was refused, and made again on b's definitions
