"""The PostgreSQL stores after the server dropped their connection, and once closed."""

from __future__ import annotations

import pytest

from prodml.errors import ConfigError
from prodml.store import _pg_online
from prodml.store._pg_online import PostgresOnlineStore
from prodml.store.online import OnlineRecord

pytest.importorskip("psycopg", reason="needs the 'postgres' extra (psycopg)")


def _drop_connection(store: PostgresOnlineStore, url: str) -> None:
    """Terminate the store's server process, as a restart or a failover would."""
    pid = store._con.info.backend_pid
    with _pg_online.connect(url, "test") as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def _record(key: str, version: str) -> OnlineRecord:
    return OnlineRecord(key, version, 1_000_000, 2_000_000, '{"x": 1.0}')


def test_a_dropped_connection_is_reopened_and_the_call_runs_once_more(postgres_url: str) -> None:
    store = PostgresOnlineStore(postgres_url)
    try:
        assert store.write("v", [_record("k1", "a")]) == 1
        for call in (
            lambda: store.read([("v", "k1")]),
            lambda: store.write("v", [_record("k1", "b")]),
            lambda: store.set_state("s", "1"),
            lambda: store.get_state("s"),
            lambda: store.delete_view("other"),
        ):
            _drop_connection(store, postgres_url)
            call()  # would raise psycopg's OperationalError without the reconnection
        assert store.read([("v", "k1")])[0].version == "b"  # type: ignore[union-attr]
        assert store.get_state("s") == "1"
    finally:
        store.close()


def test_a_server_still_out_of_reach_is_a_config_error_naming_the_store(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PostgresOnlineStore(postgres_url)
    try:

        def unreachable(url: str, feature: str) -> None:
            try:
                import psycopg

                psycopg.connect("postgresql://u:hunter22@127.0.0.1:1/x", connect_timeout=2)
            except psycopg.OperationalError as err:
                raise ConfigError("cannot connect") from err

        _drop_connection(store, postgres_url)
        monkeypatch.setattr(_pg_online, "connect", unreachable)
        with pytest.raises(ConfigError, match=r"online store .* cannot be reached: ") as info:
            store.read([("v", "k1")])
        assert store.url in str(info.value)
        assert "port 1 failed" in str(info.value)  # the client's reason, first line
        assert "hunter22" not in str(info.value)
    finally:
        store.close()


def test_a_closed_store_is_not_reopened(postgres_url: str) -> None:
    store = PostgresOnlineStore(postgres_url)
    store.close()
    with pytest.raises(ConfigError, match="is closed"):
        store.read([("v", "k1")])


def test_the_offline_store_names_a_dropped_connection_and_reopens_for_the_next_call(
    postgres_url: str,
) -> None:
    import pyarrow as pa

    from prodml.store._pg_offline import PostgresOfflineStore

    store = PostgresOfflineStore(postgres_url)
    try:
        rows = pa.table(
            {"user_id": [1, 2], "event_at": pa.array([1, 2], pa.timestamp("us", "UTC"))}
        )
        source = store.write_source("events", rows, timestamp="event_at")
        assert store.source_schema(source).names == ["user_id", "event_at"]
        _drop_connection(store, postgres_url)
        # Not run again (a source write is an append): the failure is named...
        with pytest.raises(ConfigError, match=r"PostgreSQL offline store .* failed: ") as info:
            store.write_source("events", rows, timestamp="event_at")
        assert type(info.value.__cause__).__module__.startswith("psycopg")
        # ... and the next call opens a new connection; nothing was half-written.
        assert store.source_schema(source).names == ["user_id", "event_at"]
        with store._con.cursor() as cur:
            assert cur.execute("SELECT count(*) FROM events").fetchone() == (2,)
    finally:
        store.close()
    with pytest.raises(ConfigError, match="is closed"):
        store.source_schema(source)


def test_a_password_the_driver_echoes_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    psycopg = pytest.importorskip("psycopg", reason="needs the 'postgres' extra (psycopg)")

    def echoing(dsn: str, **kwargs: object) -> None:  # a driver that quotes its DSN back
        raise psycopg.OperationalError(f"could not connect with {dsn}")

    monkeypatch.setattr(psycopg, "connect", echoing)
    with pytest.raises(ConfigError, match="cannot connect to") as info:
        _pg_online.connect("postgresql://ann:hunter22@db.internal/x", "test")
    assert "hunter22" not in str(info.value)
    assert "ann:***@db.internal" in str(info.value)


@pytest.mark.parametrize("password", ["p w", "hunter 22", "a  b", "x y z"])
def test_a_url_libpq_refuses_is_a_config_error_without_the_password(password: str) -> None:
    # libpq refuses a raw space before connecting, quoting the password; no server needed
    with pytest.raises(ConfigError, match="not a valid PostgreSQL URL") as info:
        _pg_online.connect(f"postgresql://bob:{password}@127.0.0.1:1/x", "test")
    message = str(info.value)
    assert password not in message
    assert "hunter" not in message
    assert "bob:***@127.0.0.1" in message
    assert "%20" in message
    assert type(info.value.__cause__).__name__ == "ProgrammingError"
