"""Wrong answers found by the store audit (tests/store/test_pit_audit.py), one test each."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml.errors import SchemaError
from prodml.store import Entity, FeatureStore, FeatureView, Source

from .conftest import T0, txn_store


def _sources(fs: FeatureStore) -> tuple[object, object]:
    ints = fs.offline_store.write_source(
        "a", pa.table({"user_id": [1], "at": [T0], "x": [1.0]}), timestamp="at"
    )
    strs = fs.offline_store.write_source(
        "b", pa.table({"card": ["c1"], "card_bin": [7], "at": [T0], "y": [2.0]}), timestamp="at"
    )
    return ints, strs


def test_an_entity_redefined_with_other_keys_does_not_keep_the_old_key_types(
    tmp_path: Path,
) -> None:
    # The old types belonged to the old keys; they used to carry over to the new keys.
    with FeatureStore.local(tmp_path / "fs") as fs:
        _, strs = _sources(fs)
        fs.apply([Entity("who", keys=["user_id"], dtypes=["int"])])
        card = Entity("who", keys=["card", "card_bin"])
        fs.apply([card, FeatureView("b", entity=card, source=strs, features=["y"])])
        assert [str(t) for t in fs.entities["who"].dtypes] == ["string", "int"]
        got = fs.historical(
            pa.table({"card": ["c1"], "card_bin": [7], "event_timestamp": [T0]}), ["b:y"]
        )
        assert got.to_pandas()["y"].tolist() == [2.0]


def test_rekeying_an_entity_that_views_use_is_a_schema_error(tmp_path: Path) -> None:
    # It used to be a bare ValueError from zip(strict=True): two key types for one key.
    with FeatureStore.local(tmp_path / "fs") as fs:
        ints, strs = _sources(fs)
        user = Entity("who", keys=["user_id"])
        fs.apply([user, FeatureView("a", entity=user, source=ints, features=["x"])])
        card = Entity("who", keys=["card", "card_bin"])
        with pytest.raises(SchemaError, match="different definition of entity 'who'"):
            fs.apply([card, FeatureView("b", entity=card, source=strs, features=["y"])])
        assert fs.entities["who"].keys == ("user_id",)


@pytest.mark.parametrize("year", [1, 99, 999])
def test_postgres_joins_and_materializes_rows_before_year_1000(
    postgres_url: str, year: int
) -> None:
    # SQL time literals wrote the year unpadded ('1-01-01'), which PostgreSQL reads as
    # 2001 (pruning every older row: a null instead of the value) or refuses ('99-...').
    t = datetime(year, 3, 1, tzinfo=timezone.utc)
    with FeatureStore(postgres_url, "sqlite:///:memory:") as fs:
        src = fs.offline_store.write_source(
            "old", pa.table({"user_id": [1], "at": [t], "x": [1.5]}), timestamp="at"
        )
        user = Entity("user", keys=["user_id"])
        fs.apply(
            [
                user,
                FeatureView("old", entity=user, source=src, features=["x"], ttl=timedelta(days=2)),
            ]
        )
        got = fs.historical(
            pa.table(
                {
                    "user_id": [1, 1],
                    "event_timestamp": [t + timedelta(days=1), t + timedelta(days=3)],
                }
            ),
            ["old:x"],
        )
        assert got.to_pandas()["x"].tolist()[0] == 1.5
        assert math.isnan(got.to_pandas()["x"].tolist()[1])
        [run] = fs.materialize(t + timedelta(days=1))
        assert run.written == 1
        assert fs.online({"user_id": 1}, ["old:x"], at=t + timedelta(days=1))["x"] == 1.5


def _ns_store(root: Path, engine: str, zone: str | None) -> FeatureStore:
    """A Parquet source written by pandas with nanosecond times (its usual resolution),
    aware, or naive and read in ``zone``."""
    (root / "src").mkdir(parents=True)
    at = pd.Series([T0, T0 + timedelta(hours=2), T0], dtype="datetime64[ns, UTC]")
    if zone is not None:
        at = at.dt.tz_convert(zone).dt.tz_localize(None)
    pd.DataFrame({"user_id": [1, 1, 2], "at": at, "x": [1.0, 2.0, 3.0]}).to_parquet(
        root / "src" / "part-0.parquet"
    )
    fs = FeatureStore.local(root / "fs", offline_options={"engine": engine})
    user = Entity("user", keys=["user_id"])
    src = Source.parquet(str(root / "src"), timestamp="at", timezone=zone)
    fs.apply(
        [user, FeatureView("ns", entity=user, source=src, features=["x"], ttl=timedelta(hours=3))]
    )
    return fs


@pytest.mark.parametrize("zone", [None, "Asia/Kolkata"])
@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_nanosecond_sources_join_and_materialize_in_microseconds(
    tmp_path: Path, engine: str, zone: str | None
) -> None:
    # The SQL join failed on them (DuckDB: no epoch_us(TIMESTAMPTZ_NS)), and materialize
    # stored their event times in nanoseconds as microseconds: every value looked a
    # thousand times newer, so the ttl never expired online.
    with _ns_store(tmp_path, engine, zone) as fs:
        at = [T0 + timedelta(hours=h) for h in (1, 3, 6)]
        got = fs.historical(pd.DataFrame({"user_id": [1, 1, 1], "event_timestamp": at}), ["ns:x"])
        assert got.to_pandas()["x"].tolist()[:2] == [1.0, 2.0]
        assert math.isnan(got.to_pandas()["x"].tolist()[2])
        fs.materialize(T0 + timedelta(hours=3))
        assert fs.online({"user_id": 1}, ["ns:x"], at=T0 + timedelta(hours=4))["x"] == 2.0
        late = fs.online({"user_id": 2}, ["ns:x"], at=T0 + timedelta(hours=4))
        assert late.missing == ("ns:x",)  # three hours old plus one: past the ttl


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_sub_microsecond_times_before_1970_are_floored(tmp_path: Path, engine: str) -> None:
    # Source times were floored to the microsecond, entity times truncated toward zero:
    # an entity row 0.5 us before 1970 saw a source row 0.3 us after it.
    before = pd.Timestamp("1969-12-31T23:59:59.9999997", tz="UTC")  # -0.3 us
    after = pd.Timestamp("1970-01-01T00:00:00.0000003", tz="UTC")  # +0.3 us
    (tmp_path / "src").mkdir()
    pd.DataFrame(
        {
            "user_id": [1, 1],
            "at": pd.Series([before, after], dtype="datetime64[ns, UTC]"),
            "x": [1.0, 2.0],
        }
    ).to_parquet(tmp_path / "src" / "part-0.parquet")
    with FeatureStore.local(tmp_path / "fs", offline_options={"engine": engine}) as fs:
        user = Entity("user", keys=["user_id"])
        src = Source.parquet(str(tmp_path / "src"), timestamp="at")
        fs.apply([user, FeatureView("old", entity=user, source=src, features=["x"])])
        t = pd.Series(
            [pd.Timestamp("1969-12-31T23:59:59.9999995", tz="UTC")], dtype="datetime64[ns, UTC]"
        )
        got = fs.historical(pd.DataFrame({"user_id": [1], "event_timestamp": t}), ["old:x"])
        assert got.to_pandas()["x"].tolist() == [1.0]


def test_uint64_keys_past_int64_are_a_schema_error(store: FeatureStore) -> None:
    # It was pyarrow's ArrowInvalid "Integer value ... not in range".
    keys = pd.Series([1, 2**64 - 1], dtype="uint64")
    df = pd.DataFrame({"user_id": keys, "event_timestamp": [T0, T0]})
    with pytest.raises(SchemaError, match=r"user_id.*outside the int64 range"):
        store.historical(df, ["txn:amount"])


def test_a_longer_ttl_materializes_the_rows_the_shorter_one_skipped(tmp_path: Path) -> None:
    # Changing only the ttl keeps the stored rows and the watermark, but the old runs had
    # skipped rows older than the old ttl: with a longer one, online read them as missing
    # while historical returned them.
    with FeatureStore.local(tmp_path / "fs") as fs:
        src = fs.offline_store.write_source(
            "s",
            pa.table({"user_id": [1, 2], "at": [T0, T0 + timedelta(days=4)], "x": [1.0, 2.0]}),
            timestamp="at",
        )
        user = Entity("user", keys=["user_id"])
        short = FeatureView("v", entity=user, source=src, features=["x"], ttl=timedelta(days=1))
        fs.apply([user, short])
        end = T0 + timedelta(days=5)
        fs.materialize(end)
        fs.apply([short.model_copy(update={"ttl": timedelta(days=7)})])
        [run] = fs.materialize(end + timedelta(hours=1))
        assert run.start_us is None  # the whole history again, under the longer ttl
        at = end + timedelta(hours=1)
        df = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [at, at]})
        assert fs.historical(df, ["v:x"]).to_pandas()["x"].tolist() == [1.0, 2.0]
        got = fs.online([{"user_id": 1}, {"user_id": 2}], ["v:x"], at=at)
        assert [r["x"] for r in got] == [1.0, 2.0]
        # A shorter ttl needs no new run from the start.
        fs.apply([short.model_copy(update={"ttl": timedelta(days=6)})])
        [run] = fs.materialize(at + timedelta(hours=1))
        assert run.start_us == int(
            (at - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1)
        )


@pytest.mark.parametrize("bad", [0, -5, "1", True, 1.5])
def test_a_stored_ttl_us_is_validated(bad: object) -> None:
    from prodml.errors import ConfigError
    from prodml.store import _state

    run = _state.MaterializeRun("v", None, 10, 1, 1, 11)
    text = _state.Watermark("v", "0" * 16, 10, (run,), 5).dumps()
    assert _state.load_watermark(text, "v").ttl_us == 5
    d = json.loads(text)
    d["ttl_us"] = bad
    with pytest.raises(ConfigError, match=r"materialized\.v\.ttl_us"):
        _state.load_watermark(json.dumps(d), "v")


def test_a_record_without_ttl_us_continues_where_it_stopped(tmp_path: Path) -> None:
    # Records written before prodml kept the ttl are taken as made under the current one.
    from prodml.store import _state

    with txn_store(tmp_path / "fs") as fs:
        end = T0 + timedelta(days=1)
        fs.materialize(end)
        key = _state.watermark_key("txn")
        d = json.loads(fs.online_store.get_state(key))
        assert d.pop("ttl_us") == 2 * 86_400_000_000
        fs.online_store.set_state(key, json.dumps(d))
        [run] = fs.materialize(end + timedelta(hours=1))
        assert run.start_us is not None


@pytest.mark.parametrize("keys", [[1, None, 2], ["a", None, "b"]])
def test_source_rows_with_a_null_key_are_never_used(tmp_path: Path, keys: list[object]) -> None:
    # materialize failed on them with a bare TypeError ("s" + None), for every view.
    with FeatureStore.local(tmp_path / "fs") as fs:
        rows = pa.table({"k": keys, "at": [T0] * 3, "x": [1.0, 2.0, 3.0]})
        src = fs.offline_store.write_source("s", rows, timestamp="at")
        ent = Entity("e", keys=["k"])
        fs.apply([ent, FeatureView("v", entity=ent, source=src, features=["x"])])
        [run] = fs.materialize(T0)
        assert (run.entities, run.written) == (2, 2)
        got = fs.online([{"k": keys[0]}, {"k": keys[2]}], ["v:x"], at=T0)
        assert [r["x"] for r in got] == [1.0, 3.0]
        df = pa.table(
            {
                "k": pa.array([keys[1], keys[0]], rows.schema.field("k").type),
                "event_timestamp": [T0, T0],
            }
        )
        assert fs.historical(df, ["v:x"]).to_pandas()["x"].tolist()[1] == 1.0
        assert math.isnan(fs.historical(df, ["v:x"]).to_pandas()["x"].tolist()[0])


@pytest.mark.parametrize("kind", [pa.string_view(), pa.large_string(), pa.string()])
def test_string_keys_of_any_arrow_string_type_join(tmp_path: Path, kind: pa.DataType) -> None:
    # string_view (what Polars exports) was refused: "entity_df has string_view".
    with FeatureStore.local(tmp_path / "fs") as fs:
        rows = pa.table({"k": ["x", "y"], "at": [T0, T0], "v": [1.0, 2.0]})
        src = fs.offline_store.write_source("s", rows, timestamp="at")
        ent = Entity("e", keys=["k"])
        fs.apply([ent, FeatureView("s", entity=ent, source=src, features=["v"])])
        df = pa.table({"k": pa.array(["y", "x", "z"], kind), "event_timestamp": [T0] * 3})
        got = fs.historical(df, ["s:v"]).to_pandas()["v"].tolist()
        assert got[:2] == [2.0, 1.0]
        assert math.isnan(got[2])


def test_online_takes_numpy_string_keys_as_it_takes_numpy_integers(tmp_path: Path) -> None:
    # np.int64 keys were accepted, np.str_ ones refused with a SchemaError.
    with FeatureStore.local(tmp_path / "fs") as fs:
        rows = pa.table({"k": ["x"], "at": [T0], "v": [1.0]})
        src = fs.offline_store.write_source("s", rows, timestamp="at")
        ent = Entity("e", keys=["k"])
        fs.apply([ent, FeatureView("s", entity=ent, source=src, features=["v"])])
        fs.materialize(T0)
        assert fs.online({"k": np.array(["x"])[0]}, ["s:v"], at=T0)["v"] == 1.0
        with pytest.raises(SchemaError, match="bytes"):
            fs.online({"k": b"x"}, ["s:v"], at=T0)


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_naive_local_times_at_dst_changes_read_the_same_everywhere(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    # What docs/store.md states: a repeated local time (clocks going back) is the later
    # instant, a skipped one (clocks going forward) is read with the offset before the gap.
    url = (
        request.getfixturevalue("postgres_url") if backend == "postgres" else f"duckdb://{tmp_path}"
    )
    ny = "America/New_York"
    rows = pa.table(
        {
            "k": [1, 2],
            "at": pa.array(
                [datetime(2024, 11, 3, 1, 30), datetime(2024, 3, 10, 2, 30)], pa.timestamp("us")
            ),
            "v": [1.0, 2.0],
        }
    )
    with FeatureStore(url, "sqlite:///:memory:") as fs:
        src = fs.offline_store.write_source("dst", rows, timestamp="at")
        src = Source(**{**src.model_dump(), "timezone": ny})
        ent = Entity("e", keys=["k"])
        fs.apply([ent, FeatureView("dst", entity=ent, source=src, features=["v"])])
        utc = timezone.utc
        at = [
            datetime(2024, 11, 3, 6, 29, 59, 999999, tzinfo=utc),  # 01:30 EDT was 05:30
            datetime(2024, 11, 3, 6, 30, tzinfo=utc),  # 01:30 EST
            datetime(2024, 3, 10, 7, 29, 59, 999999, tzinfo=utc),
            datetime(2024, 3, 10, 7, 30, tzinfo=utc),  # 02:30 at EST's offset = 03:30 EDT
        ]
        df = pa.table({"k": [1, 1, 2, 2], "event_timestamp": at})
        got = fs.historical(df, ["dst:v"]).to_pandas()["v"].tolist()
    assert [math.isnan(g) for g in got] == [True, False, True, False]
