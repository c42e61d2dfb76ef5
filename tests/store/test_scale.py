"""historical out of core (DuckDB under a memory limit, spilling) and on Dask partitions."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml.errors import ConfigError
from prodml.store import Entity, FeatureStore, FeatureView

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _data(n: int, users: int, seed: int = 0) -> tuple[pa.Table, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    event = rng.integers(0, 30 * 86_400, n)
    rows = pa.table(
        {
            "user_id": rng.integers(0, users, n),
            "event_at": pa.array(
                pd.to_datetime(event, unit="s", utc=True), pa.timestamp("us", tz="UTC")
            ),
            "created_at": pa.array(
                pd.to_datetime(event + rng.integers(0, 7_200, n), unit="s", utc=True),
                pa.timestamp("us", tz="UTC"),
            ),
            **{f"f{i}": rng.normal(size=n) for i in range(4)},
        }
    )
    m = n // 10
    entity_df = pd.DataFrame(
        {
            "user_id": rng.integers(0, users, m),
            "event_timestamp": pd.to_datetime(rng.integers(0, 30 * 86_400, m), unit="s", utc=True),
        }
    )
    return rows, entity_df


def _store(path: Path, rows: pa.Table, **options) -> FeatureStore:
    store = FeatureStore.local(path, offline_options=options or None)
    source = store.offline_store.write_source(
        "big", rows, timestamp="event_at", created="created_at"
    )
    user = Entity("user", keys=["user_id"])
    store.apply(
        [
            user,
            FeatureView(
                "big",
                entity=user,
                source=source,
                features=[f"f{i}" for i in range(4)],
                ttl=timedelta(days=7),
            ),
        ]
    )
    return store


def test_out_of_core_equals_in_memory(tmp_path: Path) -> None:
    rows, entity_df = _data(300_000, 20_000)
    refs = [f"big:f{i}" for i in range(4)]
    expected = _store(tmp_path / "a", rows).historical(entity_df, refs).to_pandas()
    # The source decodes to ~17 MB and its sort needs several times that: under a 40 MB
    # limit DuckDB joins it in hash partitions and spills to path/tmp.
    small = _store(tmp_path / "b", rows, memory_limit="40MB", partitions=4, threads=1)
    got = small.historical(entity_df, refs).to_pandas()
    pd.testing.assert_frame_equal(got, expected)
    out = tmp_path / "train.parquet"
    to_file = small.historical(entity_df, refs, output=out)
    assert to_file.path == str(out)
    assert to_file.num_rows == len(entity_df)
    pd.testing.assert_frame_equal(to_file.to_pandas(), expected)
    assert to_file.fingerprint == small.historical(entity_df, refs).fingerprint
    assert not list((tmp_path).glob(".train.parquet.parts"))  # scratch files removed


def test_running_out_of_memory_is_a_clear_error(tmp_path: Path) -> None:
    rows, entity_df = _data(200_000, 5_000)
    store = _store(tmp_path, rows, memory_limit="8MB", partitions=1)
    with pytest.raises(ConfigError, match=r"ran out of memory.*memory_limit") as err:
        store.historical(entity_df, ["big:f0"])
    assert err.value.parameter == "memory_limit"


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="needs the 'dask' extra")
    cluster = distributed.LocalCluster(
        n_workers=1,
        processes=True,
        threads_per_worker=2,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_dask_partitions_equal_one_call(tmp_path: Path, client) -> None:
    dd = pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
    from prodml.integrations import dask as pdask

    rows, entity_df = _data(5_000, 300)
    store = _store(tmp_path, rows)
    refs = ["big:f0", "big:f3"]
    expected = store.historical(entity_df, refs).to_pandas()
    ddf = dd.from_pandas(entity_df, npartitions=2)
    got = pdask.historical(store, ddf, refs).compute()
    pd.testing.assert_frame_equal(got, expected.set_axis(entity_df.index))
    with pytest.raises(ConfigError, match="no feature 'nope'"):
        pdask.historical(store, ddf, ["big:nope"])
