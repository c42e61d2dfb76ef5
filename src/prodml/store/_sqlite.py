"""The default online store: one SQLite table, keyed by (entity key, view).

``sqlite:///path/online.db`` (created on first use, in WAL mode so that readers never
wait for a materialization) or ``sqlite:///:memory:``. Reads are one indexed ``SELECT``
through the standard library's ``sqlite3``; no pandas, no ORM.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from prodml._files import PATH_QUOTE, make_folder
from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.store.online import OnlineRecord, OnlineStore, StoredValue

__all__ = ["SQLiteOnlineStore"]

_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS prodml_online (key TEXT NOT NULL, view TEXT NOT NULL, "
        "version TEXT NOT NULL, event_us INTEGER NOT NULL, created_us INTEGER NOT NULL, "
        "payload TEXT NOT NULL, PRIMARY KEY (key, view)) WITHOUT ROWID"
    ),
    "CREATE TABLE IF NOT EXISTS prodml_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
UPSERT = (
    "INSERT INTO {t} (key, view, version, event_us, created_us, payload) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (key, view) DO UPDATE SET "
    "version = excluded.version, event_us = excluded.event_us, "
    "created_us = excluded.created_us, payload = excluded.payload "
    "WHERE excluded.version <> {t}.version OR excluded.event_us > {t}.event_us OR "
    "(excluded.event_us = {t}.event_us AND (excluded.created_us > {t}.created_us OR "
    "(excluded.created_us = {t}.created_us AND excluded.payload <> {t}.payload)))"
)
# Compare-and-set of a state value (shared with PostgreSQL): an UPDATE when a value is
# expected, an INSERT when none is. One statement each, so atomic on either database.
CAS_UPDATE = "UPDATE prodml_state SET value = {p} WHERE name = {p} AND value = {p}"
CAS_INSERT = (
    "INSERT INTO prodml_state (name, value) VALUES ({p}, {p}) ON CONFLICT (name) DO NOTHING"
)


_UNION_MAX = 200  # SQLite allows at most 500 terms in a compound SELECT
_stored = tuple.__new__  # builds a StoredValue from a row slice without re-checking it


class SQLiteOnlineStore(OnlineStore):
    """Online values in a SQLite file (or in memory).

    Parameters
    ----------
    url
        ``sqlite:///path/online.db`` or ``sqlite:///:memory:``.

    Examples
    --------
    >>> from prodml.store.online import OnlineRecord
    >>> store = SQLiteOnlineStore("sqlite:///:memory:")
    >>> store.write("txn", [OnlineRecord("42", "v1", 10, 10, "[1.5]")])
    1
    >>> store.read([("txn", "42"), ("txn", "7")])
    [StoredValue(version='v1', event_us=10, payload='[1.5]'), None]
    """

    def __init__(self, url: str = "sqlite:///:memory:") -> None:
        if not isinstance(url, str) or not url.lower().startswith("sqlite:///"):
            raise ConfigError(
                f"not a sqlite:/// URL: {str(url)[:60]!r} (e.g. 'sqlite:///fs/online.db')",
                parameter="url",
            )
        path = url[len("sqlite:///") :]
        self.url = url
        if path != ":memory:":
            make_folder(Path(path).parent, "the online store's folder", parameter="url")
        self._lock = threading.Lock()
        self._con = _open(path)
        self._upsert = UPSERT.format(t="prodml_online", p="?")
        self._cur = self._con.cursor()
        self._reads: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"SQLiteOnlineStore({self.url!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._con.close()

    def write(self, view: str, records: Sequence[OnlineRecord]) -> int:
        """Upsert ``records`` in one transaction."""
        rows = [(r.key, view, r.version, r.event_us, r.created_us, r.payload) for r in records]
        with self._lock:
            before = self._con.total_changes
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany(self._upsert, rows)
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
            return self._con.total_changes - before

    def read(self, pairs: Sequence[tuple[str, str]]) -> list[StoredValue | None]:
        """One ``SELECT`` for every (view, key) pair: a primary-key probe per pair."""
        n = len(pairs)
        if n > _UNION_MAX:
            return self._read_many(pairs)
        sql = self._reads.get(n)
        if sql is None:
            # A UNION ALL of point lookups, each tagged with its pair's position.
            sql = " UNION ALL ".join(
                f"SELECT {i}, version, event_us, payload FROM prodml_online "
                "WHERE key = ? AND view = ?"
                for i in range(n)
            )
            self._reads[n] = sql
        args = [x for view, key in pairs for x in (key, view)]
        out: list[StoredValue | None] = [None] * n
        with self._lock:
            rows = self._cur.execute(sql, args).fetchall()
        for r in rows:
            out[r[0]] = _stored(StoredValue, r[1:])
        return out

    def _read_many(self, pairs: Sequence[tuple[str, str]]) -> list[StoredValue | None]:
        keys = list(dict.fromkeys([k for _, k in pairs]))
        views = list(dict.fromkeys([v for v, _ in pairs]))
        # key IN (...) AND view IN (...): one probe per combination; the combinations
        # nobody asked for are dropped below.
        sql = (
            "SELECT view, key, version, event_us, payload FROM prodml_online WHERE key IN "
            f"({', '.join('?' * len(keys))}) AND view IN ({', '.join('?' * len(views))})"
        )
        with self._lock:
            rows = self._con.execute(sql, keys + views).fetchall()
        found = {(r[0], r[1]): _stored(StoredValue, r[2:]) for r in rows}
        return [found.get(pair) for pair in pairs]

    def get_state(self, name: str) -> str | None:
        """The state value under ``name``."""
        with self._lock:
            row = self._con.execute(
                "SELECT value FROM prodml_state WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, name: str, value: str) -> None:
        """Replace the state value under ``name``."""
        with self._lock:
            self._con.execute(
                "INSERT INTO prodml_state (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def compare_and_set_state(self, name: str, expected: str | None, value: str) -> bool:
        """One conditional statement: atomic across threads and processes."""
        args: tuple[str, ...]
        if expected is None:
            sql, args = CAS_INSERT.format(p="?"), (name, value)
        else:
            sql, args = CAS_UPDATE.format(p="?"), (value, name, expected)
        with self._lock:
            return int(self._con.execute(sql, args).rowcount) == 1

    def delete_view(self, view: str) -> int:
        """Delete the records of ``view``."""
        with self._lock:
            cur = self._con.execute("DELETE FROM prodml_online WHERE view = ?", (view,))
            return int(cur.rowcount)


def _open(path: str) -> sqlite3.Connection:
    """A connection to ``path`` with prodml's table, or a ConfigError saying why not."""
    con = None
    try:
        con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA busy_timeout=30000")
        for statement in _SCHEMA:
            con.execute(statement)
    except sqlite3.Error as err:  # a folder, not a file; a file that is not a database
        if con is not None:
            con.close()
        raise ConfigError(
            f"cannot open the online store {short_repr(path, limit=PATH_QUOTE)} as SQLite: {err}",
            parameter="url",
        ) from err
    return con
