"""prodml.integrations.dask.historical: one dtype per feature in every partition and the meta.

A point-in-time join may find no value for a row; pandas then turns an integer feature
into ``float64`` and a boolean one into ``object``. Whether a partition's rows all find a
value used to decide its dtypes, so partitions disagreed with each other and with the
output's ``meta`` (which said ``int64`` / ``bool``).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")


import dask
import dask.dataframe as dd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.integrations import dask as pdask
from prodml.store import Entity, FeatureStore, FeatureView

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FEATURES = ["s:spend", "s:visits", "s:tag", "f:flag"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    rng = np.random.default_rng(38)
    n = 120
    at = [T0 + timedelta(hours=int(h)) for h in rng.integers(0, 400, n)]
    rows = pa.table(
        {
            "user_id": rng.integers(0, 20, n),
            "at": at,
            "spend": rng.normal(size=n),
            "visits": pa.array(rng.integers(0, 9, n), pa.int64()),
            "tag": rng.choice(["a", "b"], n),
        }
    )
    flags = pa.table({"user_id": [1, 2, 3], "at": [T0] * 3, "flag": [True, False, True]})
    fs = FeatureStore.local(str(tmp_path_factory.mktemp("store")))
    user = Entity("user", keys=["user_id"])
    spend = fs.offline_store.write_source("spend", rows, timestamp="at")
    flag = fs.offline_store.write_source("flags", flags, timestamp="at")
    fs.apply(
        [
            user,
            FeatureView("s", entity=user, source=spend, features=["spend", "visits", "tag"]),
            FeatureView("f", entity=user, source=flag, features=["flag"]),
        ]
    )
    yield fs
    fs.close()


def _entities(n: int, seed: int, users: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": rng.integers(0, users, n),
            "event_timestamp": [T0 + timedelta(hours=int(h)) for h in rng.integers(0, 500, n)],
            "label": rng.integers(0, 2, n),
        }
    )


def _parts(parts: list[pd.DataFrame]) -> Any:
    return dd.from_delayed(
        [dask.delayed(p) for p in parts], meta=parts[0].iloc[:0], verify_meta=False
    )


def _check(store: Any, ddf: Any, entities: pd.DataFrame) -> pd.DataFrame:
    lazy = pdask.historical(store, ddf, FEATURES)
    meta = lazy._meta.dtypes.to_dict()
    assert meta["visits"] == np.float64
    assert meta["flag"] == pd.BooleanDtype()
    for part in lazy.to_delayed():  # every partition as the meta says
        assert part.compute().dtypes.to_dict() == meta
    got = lazy.compute()
    expected = store.historical(entities, FEATURES).to_pandas()
    assert got.index.equals(entities.index)
    assert got.columns.tolist() == expected.columns.tolist()
    for name in expected.columns:  # the in-memory values; dtypes as documented
        left, right = got[name], expected[name].set_axis(got.index)
        if name == "flag":
            right = right.astype("boolean")
        elif name == "visits":
            right = right.astype("float64")
        pd.testing.assert_series_equal(left, right, check_exact=True)
    return got


def test_partitions_with_and_without_misses_share_the_meta_dtypes(store: Any) -> None:
    # users 1 and 2 have every feature at T0 + 400h; user 99 has none
    late = T0 + timedelta(hours=450)
    hits = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [late] * 2, "label": [0, 1]})
    misses = pd.DataFrame({"user_id": [99], "event_timestamp": [late], "label": [1]})
    entities = pd.concat([hits, misses], ignore_index=True)
    with dask.config.set(scheduler="sync"):
        got = _check(
            store, _parts([entities.iloc[:2], entities.iloc[2:], entities.iloc[:0]]), entities
        )
    # when some row misses, an integer feature equals the in-memory frame, dtype included
    expected = store.historical(entities, FEATURES).to_pandas()
    pd.testing.assert_series_equal(got["visits"], expected["visits"], check_exact=True)


def test_the_written_parquet_reads_back(store: Any, tmp_path: Path) -> None:
    entities = _entities(30, seed=2, users=4)  # users 0 and 3 have no flag
    lazy = pdask.historical(store, dd.from_pandas(entities, npartitions=3), FEATURES)
    with dask.config.set(scheduler="sync"):
        # write_index=False: writing an index, Dask 2026.7 calls set_index(inplace=True),
        # which pandas 3.1 warns about
        lazy.to_parquet(tmp_path / "out", write_index=False)
    back = pd.read_parquet(tmp_path / "out")
    expected = store.historical(entities, FEATURES).to_arrow()
    assert back["visits"].tolist() == pytest.approx(
        expected.column("visits").to_pandas().tolist(), nan_ok=True
    )
    assert back["flag"].astype(object).where(back["flag"].notna(), None).tolist() == (
        expected.column("flag").to_pylist()
    )


ENTITIES = _entities(60, seed=3)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(0, len(ENTITIES)), max_size=6))
def test_any_partition_boundaries(store: Any, cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(ENTITIES)]
    parts = [ENTITIES.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    with dask.config.set(scheduler="sync"):
        _check(store, _parts(parts), ENTITIES)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_nullable_keys_and_zoned_timestamps(store: Any, zone: str) -> None:
    entities = ENTITIES.assign(
        user_id=ENTITIES["user_id"].astype("Int64"),
        event_timestamp=ENTITIES["event_timestamp"].dt.tz_convert(zone),
    )
    with dask.config.set(scheduler="threads"):
        got = _check(store, dd.from_pandas(entities, npartitions=4), entities)
    assert got["user_id"].dtype == pd.Int64Dtype()


def test_worker_processes_give_the_same_partitions(store: Any, processes: Any) -> None:
    parts = [ENTITIES.iloc[:0], ENTITIES.iloc[:1], ENTITIES.iloc[1:]]
    with dask.config.set(scheduler=processes.get):
        _check(store, _parts(parts), ENTITIES)
