"""A stored online row is read back as hostile input: a damaged one is a StateError naming
the view (never its content), and a missing entity's message shows only its key columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prodml.errors import StateError
from prodml.store import Entity, EntityNotFoundError, FeatureStore, FeatureView
from prodml.store.backends import OnlineRecord

from .conftest import T0, H, txn_rows

REFS = ["txn:amount", "txn:last_seen"]


def _txn(root: Path, online_url: str) -> FeatureStore:
    """conftest's txn view, on DuckDB and the online store at ``online_url``."""
    fs = FeatureStore(f"duckdb://{root}", online_url)
    source = fs.offline_store.write_source(
        "txn", txn_rows(), timestamp="event_at", created="created_at"
    )
    user = Entity("user", keys=["user_id"])
    feats = ["amount", "n_txn", "flagged", "country", "last_seen"]
    fs.apply([user, FeatureView("txn", entity=user, source=source, features=feats)])
    fs.materialize(T0 + 5 * H)
    return fs


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeatureStore]:
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path}/online.db"
    fs = _txn(tmp_path / "off", url)
    yield fs
    fs.close()


def _overwrite(fs: FeatureStore, payload: str) -> None:
    """Replace user 1's stored row of view txn with ``payload`` (a later created time)."""
    stored = fs.online_store.read_one("txn", "1")
    assert stored is not None
    record = OnlineRecord("1", stored.version, stored.event_us, 2**62, payload)
    assert fs.online_store.write("txn", [record]) == 1


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ("not json [", "not JSON"),
        ('{"amount": 1}', "holds dict where the view has 5"),
        ("[1.5, 2]", "holds 2 values where the view has 5"),
        ('[1.5, 2, true, "fr", "x", "extra"]', "holds 6 values"),
        ('[1.5, 2, true, "fr", "Zorro"]', "a time in it is not a time"),
        ('[1.5, 2, true, "fr", 1e400]', "a time in it is not a time"),
        ('[1.5, 2, true, "fr", [1]]', "a time in it is not a time"),
    ],
)
def test_a_damaged_online_row_is_a_state_error(
    store: FeatureStore, payload: str, says: str
) -> None:
    before = store.online({"user_id": 1}, REFS, at=T0 + 5 * H)
    assert before["amount"] == 20.0
    _overwrite(store, payload)
    with pytest.raises(StateError, match=says) as err:
        store.online({"user_id": 1}, REFS, at=T0 + 5 * H)
    assert "view 'txn'" in str(err.value)
    assert "Materialize the view again" in str(err.value)
    assert "Zorro" not in str(err.value)  # what the row holds is never quoted
    # The other entity's row is untouched and reads as before.
    assert store.online({"user_id": 2}, REFS, at=T0 + 5 * H)["amount"] == 5.0


def test_a_damaged_redis_value_is_a_state_error(tmp_path: Path, redis_url: str) -> None:
    with _txn(tmp_path / "off", redis_url) as fs:
        online = fs.online_store
        client, prefix = online._redis, online.prefix  # type: ignore[attr-defined]
        client.set(f"{prefix}txn:1", "no separators here")
        with pytest.raises(StateError, match="Redis value of online view 'txn' is damaged"):
            fs.online({"user_id": 1}, REFS, at=T0 + 5 * H)


def test_a_missing_entity_shows_its_keys_only(store: FeatureStore) -> None:
    record = {"user_id": 7, "email": "ann@example.com", "note": "private"}
    with pytest.raises(EntityNotFoundError) as err:
        store.online(record, REFS, at=T0 + 5 * H, missing="error")
    text = str(err.value)
    assert "user_id=7" in text
    assert "ann@example.com" not in text
    assert "private" not in text
