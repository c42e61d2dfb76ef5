"""The NUL character in strings, backend by backend.

PostgreSQL text cannot hold it: the PostgreSQL offline store refuses it in a source with
a ``SchemaError`` naming the column (never the value), writing nothing, and an entity key
holding it matches no row. DuckDB and every online store keep it (the online keys are
checked in test_key_encoding.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from prodml.errors import ProdMLError, SchemaError
from prodml.store import Entity, FeatureStore, FeatureView

T = datetime(2024, 1, 1, tzinfo=timezone.utc)
PERSON = "Jane\x00Doe"


def _table(name: str = "fine", uid: str = "c") -> pa.Table:
    return pa.table({"uid": [uid, "d"], "ts": [T, T], "name": [name, "z"]})


def test_postgres_offline_refuses_nul_naming_the_column_and_writes_nothing(
    postgres_url: str,
) -> None:
    fs = FeatureStore(postgres_url, "sqlite:///:memory:")
    fs.offline_store.write_source("people", _table(), timestamp="ts")
    bad = _table(name=PERSON).append_column("nick", pa.array(["a", "b\x00"]).dictionary_encode())
    with pytest.raises(SchemaError) as info:
        fs.offline_store.write_source("people", bad, timestamp="ts")
    err = info.value
    assert isinstance(err, ProdMLError)
    assert err.columns == ["name", "nick"]
    assert [p.row for p in err.problems] == [0, 1]
    assert "NUL" in str(err)
    assert "Jane" not in str(err)
    assert "Doe" not in str(err)
    # Nothing was appended (the table was checked before the transaction began).
    con = fs.offline_store._con  # type: ignore[attr-defined]
    assert con.execute('SELECT count(*) FROM "people"').fetchone() == (2,)
    # A new table is not created either.
    with pytest.raises(SchemaError):
        fs.offline_store.write_source("others", _table(uid="k\x00"), timestamp="ts")
    found = con.execute("SELECT to_regclass('others')").fetchone()
    assert found == (None,)
    fs.close()


def _historical(fs: FeatureStore, source_uid: str) -> list[object]:
    src = fs.offline_store.write_source("people", _table(uid=source_uid), timestamp="ts")
    user = Entity("u", keys=["uid"])
    view = FeatureView("nv", entity=user, source=src, features=["name"])
    fs.apply([user, view])
    df = pd.DataFrame({"uid": ["a\x00b", "c", "d"], "event_timestamp": [T + timedelta(1)] * 3})
    return [None if pd.isna(v) else v for v in fs.historical(df, ["nv:name"]).to_pandas()["name"]]


def test_an_entity_key_with_nul_matches_nothing_in_postgres_as_in_duckdb(
    postgres_url: str, tmp_path: Path
) -> None:
    pg = FeatureStore(postgres_url, "sqlite:///:memory:")
    duck = FeatureStore(f"duckdb://{tmp_path}", "sqlite:///:memory:")
    # Neither source holds "a\x00b": both answer "missing" for it (was a raw psycopg error).
    assert _historical(pg, "c") == _historical(duck, "c") == [None, "fine", "z"]
    pg.close()
    duck.close()


def test_duckdb_keeps_nul_from_source_to_online(tmp_path: Path) -> None:
    fs = FeatureStore(f"duckdb://{tmp_path}", f"sqlite:///{tmp_path / 'online.db'}")
    src = fs.offline_store.write_source("people", _table(PERSON, "a\x00b"), timestamp="ts")
    user = Entity("u", keys=["uid"])
    view = FeatureView("nv", entity=user, source=src, features=["name"])
    fs.apply([user, view])
    fs.materialize(T + timedelta(1))
    got = fs.online([{"uid": "a\x00b"}, {"uid": "a"}], ["nv:name"], at=T + timedelta(1))
    assert [r["name"] for r in got] == [PERSON, None]
    fs.close()
