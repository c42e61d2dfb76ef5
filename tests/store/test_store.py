"""FeatureStore behaviour on a small hand-made source: types, rules, and every bad input."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
from tests.store.conftest import T0, H

from prodml.errors import ConfigError, SchemaError
from prodml.schema import Column
from prodml.store import Entity, EntityNotFoundError, FeatureStore, FeatureView, Source

REFS = ["txn:amount", "txn:n_txn", "txn:flagged", "txn:country", "txn:last_seen"]


def entity_df(times, users=None):
    users = users or [1] * len(times)
    return pd.DataFrame({"user_id": users, "event_timestamp": times})


def test_historical_types_and_backfill_rule(store: FeatureStore) -> None:
    out = store.historical(entity_df([T0 + 4 * H, T0 + 31 * H]), REFS).to_pandas()
    # At +4h the +3h row exists as an event but was created at +30h: the +2h row is used.
    assert out["amount"].tolist() == [20.0, 99.0]
    assert out["n_txn"].tolist() == [2, 3]
    assert out["flagged"].tolist() == [True, True]
    assert out["country"].tolist() == ["de", "it"]
    assert out["last_seen"].tolist() == [T0 + 2 * H, T0 + 3 * H]
    assert str(out["n_txn"].dtype) == "int64"


def test_online_is_typed_per_schema_and_equals_historical(store: FeatureStore) -> None:
    now = T0 + 31 * H
    store.materialize(now)
    row = store.online({"user_id": 1}, REFS, at=now)
    hist = store.historical(entity_df([now]), REFS).to_pandas().iloc[0]
    assert row == {
        "amount": 99.0,
        "n_txn": 3,
        "flagged": True,
        "country": "it",
        "last_seen": T0 + 3 * H,
    }
    assert [type(v) for v in row.values()] == [float, int, bool, str, datetime]
    assert row["last_seen"] == hist["last_seen"]
    assert row["amount"] == hist["amount"]
    assert row.missing == ()


def test_online_reports_missing_and_expired_entities(store: FeatureStore) -> None:
    store.materialize(T0 + 31 * H)
    row = store.online({"user_id": 7}, ["txn:amount"], at=T0 + 31 * H)
    assert row == {"amount": None}
    assert row.missing == ("txn:amount",)
    # User 2's only value is from +1h; the ttl is two days.
    expired = store.online({"user_id": 2}, ["txn:amount"], at=T0 + 50 * H)
    assert expired.missing == ("txn:amount",)
    with pytest.raises(EntityNotFoundError, match="txn:amount") as err:
        store.online({"user_id": 7}, ["txn:amount"], at=T0 + 31 * H, missing="error")
    assert err.value.features == ("txn:amount",)
    assert isinstance(err.value, KeyError)


def test_online_many_entities_in_one_call(store: FeatureStore) -> None:
    store.materialize(T0 + 5 * H)
    rows = store.online([{"user_id": 2}, {"user_id": 1}], ["txn:amount"], at=T0 + 5 * H)
    assert [r["amount"] for r in rows] == [5.0, 20.0]


def test_online_async(store: FeatureStore) -> None:
    import asyncio

    store.materialize(T0 + 5 * H)
    row = asyncio.run(store.online_async({"user_id": 1}, ["txn:amount"], at=T0 + 5 * H))
    assert row == {"amount": 20.0}


def test_a_changed_view_hides_values_of_the_old_definition(store: FeatureStore) -> None:
    store.materialize(T0 + 5 * H)
    old = store.view("txn")
    narrower = FeatureView(
        "txn", entity=old.entity, source=old.source, features=["amount", "n_txn"], ttl=old.ttl
    )
    assert store.apply([narrower]) == {"txn": "updated"}
    row = store.online({"user_id": 1}, ["txn:amount"], at=T0 + 5 * H)
    assert row.missing == ("txn:amount",)  # written under the old definition
    [run] = store.materialize(T0 + 5 * H)
    assert run.start_us is None  # the watermark of the old definition does not count
    assert store.online({"user_id": 1}, ["txn:amount"], at=T0 + 5 * H) == {"amount": 20.0}


def test_ttl_and_description_changes_keep_stored_values(store: FeatureStore) -> None:
    store.materialize(T0 + 5 * H)
    old = store.view("txn")
    store.apply([old.model_copy(update={"ttl": timedelta(days=3), "description": "x"})])
    assert store.view("txn").storage_version == old.storage_version
    assert store.online({"user_id": 1}, ["txn:amount"], at=T0 + 5 * H) == {"amount": 20.0}


def test_reapplying_is_unchanged_and_definitions_persist(store: FeatureStore, tmp_path) -> None:
    view = store.view("txn")
    assert store.apply([view.entity, view]) == {"user": "unchanged", "txn": "unchanged"}
    again = FeatureStore.local(tmp_path / "fs")
    assert again.view("txn") == view
    assert again.view("txn").fingerprint == view.fingerprint
    again.close()


def test_full_names_and_column_clashes(store: FeatureStore) -> None:
    df = entity_df([T0 + 4 * H])
    out = store.historical(df, ["txn:amount"], full_names=True).to_pandas()
    assert "txn__amount" in out.columns
    df["amount"] = 1.0
    with pytest.raises(ConfigError, match="amount"):
        store.historical(df, ["txn:amount"])


def test_arrow_input_gives_arrow_rows(store: FeatureStore) -> None:
    table = pa.Table.from_pandas(entity_df([T0 + 4 * H]))
    out = store.historical(table, ["txn:amount"]).to_arrow()
    assert out.column_names == ["user_id", "event_timestamp", "amount"]
    assert out.column("amount").to_pylist() == [20.0]


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refs", "match"),
    [
        (["nope:amount"], "no feature view 'nope'.*known: \\['txn'\\]"),
        (["txn:nope"], "view 'txn' has no feature 'nope'"),
        (["txn.amount"], "must be 'view:feature'"),
        ("txn:amount", "non-empty list"),
        ([], "non-empty list"),
        (["txn:amount", "txn:amount"], "asked for twice"),
    ],
)
def test_unknown_or_malformed_references(store: FeatureStore, refs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        store.historical(entity_df([T0]), refs)
    with pytest.raises(ConfigError, match=match):
        store.online({"user_id": 1}, refs)


@pytest.mark.parametrize(
    ("df", "column", "match"),
    [
        (pd.DataFrame({"user_id": [1]}), "event_timestamp", "no timestamp column"),
        (
            pd.DataFrame({"user_id": [1], "event_timestamp": [datetime(2024, 1, 1)]}),
            "event_timestamp",
            "naive",
        ),
        (
            pd.DataFrame({"user_id": [1], "event_timestamp": ["2024-01-01"]}),
            "event_timestamp",
            "must hold timestamps",
        ),
        (pd.DataFrame({"user_id": ["1"], "event_timestamp": [T0]}), "user_id", "int keys"),
        (pd.DataFrame({"user_id": [1.0], "event_timestamp": [T0]}), "user_id", "int keys"),
        (pd.DataFrame({"uid": [1], "event_timestamp": [T0]}), "user_id", "no key column"),
        (
            pd.DataFrame(
                {
                    "user_id": [1],
                    "event_timestamp": [
                        T0,
                    ],
                }
            ).assign(event_timestamp=pd.Series([pd.NaT], dtype="datetime64[us, UTC]")),
            "event_timestamp",
            "null",
        ),
    ],
)
def test_bad_entity_frames_name_the_column(store: FeatureStore, df, column, match) -> None:
    with pytest.raises(SchemaError, match=match) as err:
        store.historical(df, ["txn:amount"])
    assert err.value.column == column


def test_bad_entity_frame_type(store: FeatureStore) -> None:
    with pytest.raises(SchemaError, match="pandas DataFrame or pyarrow Table"):
        store.historical([{"user_id": 1}], ["txn:amount"])


@pytest.mark.parametrize(
    ("entity", "match"),
    [
        ({"user_id": "1"}, "int keys, got str"),
        ({"user_id": True}, "int keys, got bool"),
        ({"uid": 1}, "needs key 'user_id'"),
    ],
)
def test_bad_online_keys(store: FeatureStore, entity, match) -> None:
    with pytest.raises(SchemaError, match=match):
        store.online(entity, ["txn:amount"])


def test_naive_times_are_refused_everywhere(store: FeatureStore) -> None:
    with pytest.raises(ConfigError, match="naive"):
        store.online({"user_id": 1}, ["txn:amount"], at=datetime(2024, 1, 1))
    with pytest.raises(ConfigError, match="naive"):
        store.materialize(datetime(2024, 1, 1))


def test_apply_refuses_duplicates_and_strangers(store: FeatureStore) -> None:
    view = store.view("txn")
    with pytest.raises(ConfigError, match="feature view 'txn' is given twice"):
        store.apply([view, view])
    with pytest.raises(ConfigError, match="Entity and FeatureView"):
        store.apply(["txn"])


def test_apply_names_every_missing_source_column(store: FeatureStore) -> None:
    view = store.view("txn")
    bad = FeatureView(
        "bad",
        entity=view.entity,
        features=["amount", "nope"],
        source=Source.parquet(view.source.path, timestamp="when"),
    )
    with pytest.raises(SchemaError) as err:
        store.apply([bad])
    assert err.value.columns == ["when", "nope"]


def test_entity_key_type_mismatch_between_views(store: FeatureStore) -> None:
    rows = pa.table({"user_id": ["a"], "event_at": [T0], "score": [1.0]})
    source = store.offline_store.write_source("strkeys", rows, timestamp="event_at")
    view = FeatureView(
        "scores", entity=Entity("user", keys=["user_id"]), source=source, features=["score"]
    )
    with pytest.raises(SchemaError, match="key type mismatch") as err:
        store.apply([view])
    assert err.value.column == "user_id"


def test_a_view_with_another_definition_of_the_entity_is_refused(store: FeatureStore) -> None:
    view = store.view("txn")
    for other in (
        Entity("user", keys=["uid"]),
        Entity("user", keys=["user_id"], dtypes=["string"]),
    ):
        with pytest.raises(ConfigError, match="differs from the one applied"):
            store.apply([view.model_copy(update={"name": "again", "entity": other})])


def test_declared_feature_types_are_checked(store: FeatureStore) -> None:
    view = store.view("txn")
    wrong = FeatureView(
        "typed", entity=view.entity, source=view.source, features=[Column("country", "float")]
    )
    with pytest.raises(SchemaError, match="declared float"):
        store.apply([wrong])


def test_a_view_for_another_backend_is_refused(store: FeatureStore) -> None:
    view = store.view("txn")
    sql = view.model_copy(
        update={"name": "sqlview", "source": Source.sql("txn", timestamp="event_at")}
    )
    with pytest.raises(ConfigError, match="reads \\['parquet'\\]"):
        store.apply([sql])


def test_missing_source_files(store: FeatureStore, tmp_path) -> None:
    view = store.view("txn")
    gone = view.model_copy(
        update={
            "name": "gone",
            "source": Source.parquet(str(tmp_path / "none" / "*.parquet"), timestamp="event_at"),
        }
    )
    with pytest.raises(ConfigError, match="DuckDB cannot read"):
        store.apply([gone])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "a b"}, "view name 'a b' is not a valid name"),
        ({"features": ["x", "x"]}, "repeat"),
        ({"features": ["user_id"]}, "also key or timestamp"),
        ({"ttl": timedelta(0)}, "ttl must be positive"),
        ({"features": []}, "at least 1"),
    ],
)
def test_bad_definitions(kwargs, match) -> None:
    args = {
        "name": "v",
        "entity": Entity("user", keys=["user_id"]),
        "source": Source.parquet("x/", timestamp="t"),
        "features": ["x"],
        **kwargs,
    }
    with pytest.raises(ConfigError, match=match):
        FeatureView(args.pop("name"), **args)


def test_bad_sources_and_entities() -> None:
    with pytest.raises(ConfigError, match="unknown time zone"):
        Source.parquet("x/", timestamp="t", timezone="Mars/Olympus")
    # Longer than a file name: with tzdata installed, zoneinfo raised OSError.
    with pytest.raises(ConfigError, match="unknown time zone"):
        Source.parquet("x/", timestamp="t", timezone="x" * 5_000)
    with pytest.raises(ConfigError, match="different columns"):
        Source.parquet("x/", timestamp="t", created="t")
    with pytest.raises(ConfigError, match=r"\[schema\.\]table"):
        Source.sql("x; drop table y", timestamp="t")
    with pytest.raises(ConfigError, match="key dtypes"):
        Entity("user", keys=["user_id"], dtypes=["float"])
    with pytest.raises(ConfigError, match="repeat"):
        Entity("user", keys=["a", "a"])


def test_definitions_round_trip() -> None:
    view = FeatureView(
        "v",
        entity=Entity("user", keys=["user_id"], description="people"),
        source=Source.parquet("x/", timestamp="t", created="c", timezone="UTC"),
        features=[Column("x", "float"), Column("n", "int")],
        ttl=timedelta(hours=5, microseconds=3),
        tags={"team": "risk"},
    )
    d = json.loads(json.dumps(view.to_dict()))
    assert FeatureView.from_dict(d) == view
    assert FeatureView.from_dict(d).fingerprint == view.fingerprint
    assert Entity.from_dict(view.entity.to_dict()) == view.entity
    assert Source.from_dict(view.source.to_dict()) == view.source
    with pytest.raises(ConfigError, match=r"format_version 2 is not supported .* another prodml"):
        Source.from_dict({**view.source.to_dict(), "format_version": 2})
    by_hand = {k: v for k, v in view.to_dict().items() if k != "format_version"}
    with pytest.raises(ConfigError, match="has no format_version: it was not written by prodml"):
        FeatureView.from_dict(by_hand)


def test_store_settings_are_checked(tmp_path) -> None:
    with pytest.raises(ConfigError, match="'missing' parameter of FeatureStore"):
        FeatureStore(missing="skip")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no offline store is registered for scheme 'bq'"):
        FeatureStore("bq://x")
    with pytest.raises(ConfigError, match="memory_limit"):
        FeatureStore(offline_options={"memory_limit": "lots"})
    with pytest.raises(ConfigError, match="batch_rows"):
        FeatureStore().materialize(T0, batch_rows=0)
    with pytest.raises(ConfigError, match="start must be before end"):
        FeatureStore().materialize(T0, start=T0)


def test_secrets_stay_out_of_messages_and_reprs() -> None:
    with pytest.raises(ConfigError) as err:
        FeatureStore("duckdb://", "postgresql+psycopg://u:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        FeatureStore("duckdb://", "mysql://u:hunter2@host/db")
    assert "hunter2" not in str(err.value)
