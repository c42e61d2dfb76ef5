"""The PostgreSQL online store: one table keyed by (entity key, view), through psycopg.

``postgresql://`` or ``postgresql+psycopg://user@host/db`` (libpq query options such as
``?options=-csearch_path%3Dfeatures`` pick the schema). Needs the ``postgres`` extra.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from prodml._extras import require
from prodml._quote import error_line
from prodml._secrets import Secrets, redact_url
from prodml.errors import ConfigError
from prodml.store._sqlite import CAS_INSERT, CAS_UPDATE, UPSERT
from prodml.store.online import OnlineRecord, OnlineStore, StoredValue

__all__ = ["PostgresOnlineStore", "connect"]

_T = TypeVar("_T")

_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS prodml_online (key TEXT NOT NULL, view TEXT NOT NULL, "
        "version TEXT NOT NULL, event_us BIGINT NOT NULL, created_us BIGINT NOT NULL, "
        "payload TEXT NOT NULL, PRIMARY KEY (key, view))"
    ),
    "CREATE TABLE IF NOT EXISTS prodml_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def connect(url: str, feature: str) -> Any:
    """A psycopg connection (autocommit) for a ``postgresql[+psycopg]://`` URL."""
    scheme, sep, rest = url.partition("://") if isinstance(url, str) else ("", "", "")
    if not sep or scheme.lower() not in ("postgresql", "postgresql+psycopg", "postgres"):
        raise ConfigError(
            f"not a postgresql:// URL: {redact_url(str(url))[:60]!r}", parameter="url"
        )
    psycopg = require("psycopg", extra="postgres", feature=feature)
    try:
        return psycopg.connect(f"postgresql://{rest}", autocommit=True)
    except psycopg.OperationalError as err:
        raise ConfigError(
            f"cannot connect to {redact_url(url)}: {Secrets.of(url).scrub(error_line(err, 200))}",
            parameter="url",
        ) from err
    except psycopg.ProgrammingError as err:
        # libpq refused the URL itself (a raw space in the password, a bad option). Its
        # message quotes the offending part, which can be a password too short to scrub:
        # not shown.
        raise ConfigError(
            f"not a valid PostgreSQL URL {redact_url(url)}: libpq refused it before "
            "connecting (percent-encode spaces and reserved characters in the user name, "
            "password and options, e.g. %20 for a space)",
            parameter="url",
        ) from err


class PostgresOnlineStore(OnlineStore):
    """Online values in a PostgreSQL table.

    One connection, shared by threads under a lock. When the server drops it (a restart,
    a failover, an idle timeout), the next call reconnects and runs once more: every
    operation is idempotent (upserts, reads, deletes), so a retry after a lost reply
    changes nothing twice. A server still out of reach is a :class:`ConfigError` naming
    the store, its password masked.

    Parameters
    ----------
    url
        ``postgresql+psycopg://user@host:port/db``.
    """

    def __init__(self, url: str) -> None:
        self._dsn = url
        self._con = connect(url, "The PostgreSQL online store")
        self.url = redact_url(url)
        self._secrets = Secrets.of(url)  # kept out of the server's reasons too
        self._lock = threading.Lock()
        self._closed = False
        self._failed: type[Exception] = require(
            "psycopg", extra="postgres", feature="The PostgreSQL online store"
        ).OperationalError
        self._run(self._create)
        self._upsert = UPSERT.format(t="prodml_online", p="%s")

    def __repr__(self) -> str:
        return f"PostgresOnlineStore({self.url!r})"

    def close(self) -> None:
        """Close the connection; a later call is a ``ConfigError`` (no reconnection)."""
        with self._lock:
            self._closed = True
            self._con.close()

    def _create(self) -> None:
        with self._con.transaction():
            for statement in _SCHEMA:
                self._con.execute(statement)

    def _run(self, operation: Callable[[], _T]) -> _T:
        """``operation()`` under the lock; once more on a new connection if the old one broke."""
        with self._lock:
            if self._closed:
                raise ConfigError(f"the PostgreSQL online store {self.url} is closed")
            try:
                return operation()
            except self._failed as err:
                if not self._con.closed and not self._con.broken:
                    # The server answered (a statement timeout, a lock): no retry.
                    raise self._error("failed", err) from err
            self._con.close()
            try:
                self._con = connect(self._dsn, "The PostgreSQL online store")
                return operation()
            except ConfigError as err:  # connect's: the server is still out of reach
                raise self._error("cannot be reached", err.__cause__ or err) from err
            except self._failed as err:
                raise self._error("failed", err) from err

    def _error(self, what: str, err: BaseException) -> ConfigError:
        return ConfigError(
            f"the PostgreSQL online store {self.url} {what}: "
            f"{self._secrets.scrub(error_line(err, 200))}",
            parameter="url",
        )

    def write(self, view: str, records: Sequence[OnlineRecord]) -> int:
        """Upsert ``records`` in one transaction."""
        rows = [
            (_stored(r.key), view, r.version, r.event_us, r.created_us, r.payload) for r in records
        ]

        def upsert() -> int:
            with self._con.transaction(), self._con.cursor() as cur:
                cur.executemany(self._upsert, rows)
                return int(cur.rowcount)

        return self._run(upsert)

    def read(self, pairs: Sequence[tuple[str, str]]) -> list[StoredValue | None]:
        """One ``SELECT`` for every (view, key) pair."""
        keys = list(dict.fromkeys(_stored(k) for _, k in pairs))
        views = list(dict.fromkeys(v for v, _ in pairs))
        rows = self._run(
            lambda: self._con.execute(
                "SELECT view, key, version, event_us, payload FROM prodml_online "
                "WHERE key = ANY(%s) AND view = ANY(%s)",
                (keys, views),
                prepare=True,
            ).fetchall()
        )
        found = {(v, k): StoredValue(ver, e, p) for v, k, ver, e, p in rows}
        return [found.get((v, _stored(k))) for v, k in pairs]

    def get_state(self, name: str) -> str | None:
        """The state value under ``name``."""
        row = self._run(
            lambda: self._con.execute(
                "SELECT value FROM prodml_state WHERE name = %s", (name,)
            ).fetchone()
        )
        return None if row is None else str(row[0])

    def set_state(self, name: str, value: str) -> None:
        """Replace the state value under ``name``."""
        self._run(
            lambda: self._con.execute(
                "INSERT INTO prodml_state (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
        )

    def compare_and_set_state(self, name: str, expected: str | None, value: str) -> bool:
        """One conditional statement (a concurrent one waits for the row, then re-checks).

        Run again after a lost connection, it first looks whether the lost call stored
        ``value`` (then it succeeded: state values, such as materialization records,
        carry the time they were made, so another writer's is not the same text).
        """
        args: tuple[str, ...]
        if expected is None:
            sql, args = CAS_INSERT.format(p="%s"), (name, value)
        else:
            sql, args = CAS_UPDATE.format(p="%s"), (value, name, expected)
        tried: list[bool] = []

        def cas() -> bool:
            if tried:
                row = self._con.execute(
                    "SELECT value FROM prodml_state WHERE name = %s", (name,)
                ).fetchone()
                if row is not None and row[0] == value:
                    return True
            tried.append(True)
            return int(self._con.execute(sql, args).rowcount) == 1

        return self._run(cas)

    def delete_view(self, view: str) -> int:
        """Delete the records of ``view``."""
        cur = self._run(
            lambda: self._con.execute("DELETE FROM prodml_online WHERE view = %s", (view,))
        )
        return int(cur.rowcount)


def _stored(key: str) -> str:
    """``key`` as PostgreSQL text, which cannot hold NUL.

    A key with a NUL is stored as ``S`` and its JSON string. Keys prodml makes never start
    with ``S`` (they are ``s`` and a string, an integer, or a JSON list), and any other key
    that does is escaped too, so two keys never share a row.
    """
    if "\x00" in key or key.startswith("S"):
        return "S" + json.dumps(key)
    return key
