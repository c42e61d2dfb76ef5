"""The PostgreSQL online store: one table keyed by (entity key, view), through psycopg.

``postgresql://`` or ``postgresql+psycopg://user@host/db`` (libpq query options such as
``?options=-csearch_path%3Dfeatures`` pick the schema). Needs the ``postgres`` extra.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from prodml._extras import require
from prodml.errors import ConfigError
from prodml.store._redis import redact
from prodml.store._sqlite import UPSERT
from prodml.store.online import OnlineRecord, OnlineStore, StoredValue

__all__ = ["PostgresOnlineStore", "connect"]

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
        raise ConfigError(f"not a postgresql:// URL: {redact(str(url))[:60]!r}", parameter="url")
    psycopg = require("psycopg", extra="postgres", feature=feature)
    try:
        return psycopg.connect(f"postgresql://{rest}", autocommit=True)
    except psycopg.OperationalError as err:
        raise ConfigError(
            f"cannot connect to {redact(url)}: {str(err).splitlines()[0][:200]}",
            parameter="url",
        ) from err


class PostgresOnlineStore(OnlineStore):
    """Online values in a PostgreSQL table.

    Parameters
    ----------
    url
        ``postgresql+psycopg://user@host:port/db``.
    """

    def __init__(self, url: str) -> None:
        self._con = connect(url, "The PostgreSQL online store")
        self.url = redact(url)
        self._lock = threading.Lock()
        with self._lock, self._con.transaction():
            for statement in _SCHEMA:
                self._con.execute(statement)
        self._upsert = UPSERT.format(t="prodml_online", p="%s")

    def __repr__(self) -> str:
        return f"PostgresOnlineStore({self.url!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._con.close()

    def write(self, view: str, records: Sequence[OnlineRecord]) -> int:
        """Upsert ``records`` in one transaction."""
        rows = [(r.key, view, r.version, r.event_us, r.created_us, r.payload) for r in records]
        with self._lock, self._con.transaction(), self._con.cursor() as cur:
            cur.executemany(self._upsert, rows)
            return int(cur.rowcount)

    def read(self, pairs: Sequence[tuple[str, str]]) -> list[StoredValue | None]:
        """One ``SELECT`` for every (view, key) pair."""
        keys = list(dict.fromkeys(k for _, k in pairs))
        views = list(dict.fromkeys(v for v, _ in pairs))
        with self._lock:
            rows = self._con.execute(
                "SELECT view, key, version, event_us, payload FROM prodml_online "
                "WHERE key = ANY(%s) AND view = ANY(%s)",
                (keys, views),
                prepare=True,
            ).fetchall()
        found = {(v, k): StoredValue(ver, e, p) for v, k, ver, e, p in rows}
        return [found.get(pair) for pair in pairs]

    def get_state(self, name: str) -> str | None:
        """The state value under ``name``."""
        with self._lock:
            row = self._con.execute(
                "SELECT value FROM prodml_state WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, name: str, value: str) -> None:
        """Replace the state value under ``name``."""
        with self._lock:
            self._con.execute(
                "INSERT INTO prodml_state (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def delete_view(self, view: str) -> int:
        """Delete the records of ``view``."""
        with self._lock:
            cur = self._con.execute("DELETE FROM prodml_online WHERE view = %s", (view,))
            return int(cur.rowcount)
