"""The numpy as-of join (prodml.store._asof) against DuckDB's SQL join and the brute force."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml.store import Entity, FeatureStore, FeatureView, _asof
from prodml.store._duckdb import DuckDBOfflineStore
from prodml.store._training import frame_of
from prodml.testing.store import brute_force_historical
from prodml.testing.store._reference import rows_equal

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
ACCT = Entity("acct", keys=["bank", "acct_id"])


def _files(n: int, seed: int) -> list[pa.Table]:
    """Three files of one source: compound keys, ties across files, nulls everywhere."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        event = rng.integers(0, 40, n) * 3_600  # an hour grid: many equal times
        created = event + rng.choice([0, 0, 3_600, 7_200, 86_400, -3_600], n)
        created_at = pd.Series(pd.to_datetime(created, unit="s", utc=True)).astype(
            "datetime64[us, UTC]"
        )
        created_at = created_at.mask(rng.random(n) < 0.1)  # null created: the event time
        event_at = pd.Series(pd.to_datetime(event, unit="s", utc=True)).astype(
            "datetime64[us, UTC]"
        )
        event_at = event_at.mask(rng.random(n) < 0.03)  # a null event time: never used
        x = rng.normal(size=n)
        out.append(
            pa.table(
                {
                    "bank": pa.array(rng.choice(["a", "b", "c"], n)),
                    "acct_id": pa.array(rng.integers(0, 12, n), pa.int32()),
                    "event_at": pa.array(event_at, pa.timestamp("us", tz="Europe/Paris")),
                    "created_at": pa.array(created_at, pa.timestamp("ms", tz="UTC")),
                    "x": pa.array(x, mask=rng.random(n) < 0.1),
                    "n": pa.array(rng.integers(0, 5, n), mask=rng.random(n) < 0.1),
                    "s": pa.array(rng.choice(["p", "q", "r"], n)),
                    "at": pa.array(event_at, pa.timestamp("us", tz="UTC")),
                }
            )
        )
    return out


def _entity(m: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    bank = rng.choice(["a", "b", "c", "zz"], m).astype(object)
    bank[rng.random(m) < 0.05] = None  # a null key matches nothing
    return pd.DataFrame(
        {
            "bank": bank,
            "acct_id": rng.integers(0, 14, m),
            "event_timestamp": pd.to_datetime(rng.integers(0, 44 * 3_600, m), unit="s", utc=True),
        }
    )


def _store(path: Path, files: list[pa.Table], engine: str, ttl: timedelta | None) -> FeatureStore:
    store = FeatureStore(DuckDBOfflineStore(f"duckdb://{path}", engine=engine))
    source = None
    for t in files:
        source = store.offline_store.write_source(
            "acct", t, timestamp="event_at", created="created_at"
        )
    assert source is not None
    view = FeatureView("v", entity=ACCT, source=source, features=["x", "n", "s", "at"], ttl=ttl)
    store.apply([ACCT, view])
    return store


@pytest.mark.parametrize("bits", [62, 0], ids=["packed", "ranked"])
@pytest.mark.parametrize("ttl", [None, timedelta(hours=5)])
@pytest.mark.parametrize("batch", [7, 1 << 17])
def test_arrays_equal_sql_and_brute_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bits: int, ttl: timedelta | None, batch: int
) -> None:
    monkeypatch.setattr(_asof, "DIRECT_BITS", bits)
    monkeypatch.setattr(_asof, "READ_ROWS", batch)  # 7: merging the best across batches
    monkeypatch.setattr(_asof, "GATHER_ROWS", 5)
    files = _files(300, seed=batch + bits)
    entity = _entity(400, seed=batch + bits)
    refs = ["v:x", "v:n", "v:s", "v:at"]
    arrays = _store(tmp_path / "a", files, "numpy", ttl)
    sql = _store(tmp_path / "b", files, "duckdb", ttl)
    got = arrays.historical(entity, refs).to_pandas()
    pd.testing.assert_frame_equal(got, sql.historical(entity, refs).to_pandas())
    table = pa.Table.from_pandas(entity, preserve_index=False)
    assert arrays.historical(table, refs).to_arrow().equals(sql.historical(table, refs).to_arrow())
    expected = brute_force_historical(entity, [(arrays.view("v"), pa.concat_tables(files))])
    for i, exp in enumerate(expected):
        row = {f: (None if pd.isna(got[f][i]) else got[f][i]) for f in ["x", "n", "s", "at"]}
        assert rows_equal(row, exp), (i, row, exp)
    assert got["x"].notna().sum() > 50  # the case is not vacuous


def test_in_memory_results_use_arrays_unless_duckdb_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files(50, seed=3)
    entity = _entity(30, seed=3)
    sql_runs: list[Any] = []
    original = DuckDBOfflineStore._in_memory

    def spy(self: DuckDBOfflineStore, *args: Any) -> pa.Table:
        sql_runs.append(args)
        return original(self, *args)

    monkeypatch.setattr(DuckDBOfflineStore, "_in_memory", spy)
    auto = _store(tmp_path / "auto", files, "auto", None)
    auto.historical(entity, ["v:x"])
    assert sql_runs == []
    auto.historical(entity, ["v:x"], output=str(tmp_path / "out.parquet"))
    assert sql_runs == []  # a file output streams through DuckDB's COPY, not _in_memory
    limited = FeatureStore(DuckDBOfflineStore(f"duckdb://{tmp_path}/l", memory_limit="1GB"))
    view = auto.view("v")
    limited.apply([ACCT, view])
    limited.historical(entity, ["v:x"])
    assert len(sql_runs) == 1  # a memory limit asks for DuckDB's spilling join
    _store(tmp_path / "sql", files, "duckdb", None).historical(entity, ["v:x"])
    assert len(sql_runs) == 2


def test_sources_the_arrays_cannot_read_go_to_duckdb(tmp_path: Path) -> None:
    store = DuckDBOfflineStore(f"duckdb://{tmp_path}", engine="numpy")
    user = Entity("user", keys=["user_id"], dtypes=["int"])
    naive = store.write_source(
        "naive",
        pa.table({"user_id": [1], "event_at": [datetime(2024, 1, 1)], "x": [1.0]}),
        timestamp="event_at",
    )
    view = FeatureView(
        "v", entity=user, features=["x"], source=naive.model_copy(update={"timezone": "UTC"})
    )
    from prodml.store.offline import ViewQuery

    ent = pa.table(
        {
            "__row": pa.array([0], pa.int64()),
            "__ts": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "user_id": pa.array([1], pa.int64()),
        }
    )
    q = ViewQuery(view, ("x",), ("x",))
    with pytest.raises(_asof.Unsupported, match="aware timestamp"):
        _asof.point_in_time(ent, [q], {"v": store._files(view.source)})
    with pytest.raises(_asof.Unsupported, match="not a local file"):
        _asof.point_in_time(ent, [q], {"v": ["s3://bucket/x.parquet"]})
    result = store.point_in_time(ent, [q])
    assert result is not None
    assert result.column("x").to_pylist() == [1.0]


def test_frame_of_equals_to_pandas_and_shares_nan_filled_floats() -> None:
    nan_filled = np.array([1.0, np.nan, 3.0])
    table = pa.table(
        {
            "shared": pa.array(nan_filled, mask=np.array([False, True, False])),
            "zero_slots": pa.array([1.0, None, 3.0]),  # the null slot holds 0.0, not NaN
            "ints": pa.array([1, None, 3]),
            "strings": pa.array(["a", None, "c"]),
            "times": pa.array([T0, None, T0], pa.timestamp("us", tz="UTC")),
            "sliced": pa.array([9.0, 1.0, None, 3.0]).slice(1),
        }
    )
    frame = frame_of(table)
    pd.testing.assert_frame_equal(frame, table.to_pandas())
    assert np.shares_memory(frame["shared"].to_numpy(), nan_filled)
    frame.loc[0, "shared"] = 5.0  # a shared column is writable, like any other
    assert frame["shared"].tolist()[:1] == [5.0]
