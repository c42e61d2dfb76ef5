"""The SQL offline store on PostgreSQL: sources are tables, joins run in the database.

``postgresql+psycopg://user@host/db``. The point-in-time join follows the same plan as the
DuckDB store's rules (see :mod:`prodml.store._sql`); PostgreSQL has no ``ASOF JOIN``, so the as-of
step is an index probe per entity row (``LATERAL ... ORDER BY __a DESC LIMIT 1``) into a
temporary, indexed timeline. Ties on (event, created) are broken by physical row order
(``ctid``), which is insertion order for an append-only table. Needs the ``postgres``
extra.

PostgreSQL text cannot hold the NUL character: :meth:`PostgresOfflineStore.write_source`
refuses a string holding one (a :class:`~prodml.errors.SchemaError` naming the column,
never the value) before it writes anything, and an entity key holding one matches no
row (no source row can hold it), as the DuckDB store answers for a key it has not got.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from prodml._extras import require
from prodml._quote import error_line
from prodml._secrets import Secrets, redact_url
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.store import _sql
from prodml.store._definitions import FeatureView, Source, check_identifier
from prodml.store._pg_online import connect
from prodml.store._time import UTC_US
from prodml.store.offline import OfflineStore, ViewQuery

__all__ = ["PostgresOfflineStore"]

_TYPES = {
    "bigint": pa.int64(),
    "integer": pa.int64(),
    "smallint": pa.int64(),
    "double precision": pa.float64(),
    "real": pa.float64(),
    "numeric": pa.float64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "character varying": pa.string(),
    "timestamp with time zone": UTC_US,
    "timestamp without time zone": pa.timestamp("us"),
}
_PG = {"int64": "BIGINT", "double": "DOUBLE PRECISION", "bool": "BOOLEAN", "string": "TEXT"}


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE PRECISION"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_dictionary(t):
        return "TEXT"
    pg = _PG.get(str(t))
    if pg is None:
        raise ConfigError(f"cannot store arrow type {t} in PostgreSQL", parameter="table")
    return pg


def _table_ref(name: str) -> str:
    return ".".join(_sql.ident(p) for p in name.split("."))


class PostgresOfflineStore(OfflineStore):
    """Sources in PostgreSQL tables, joined point-in-time in the database.

    A failure of the server mid-call (a restart, a failover, a statement timeout) is a
    :class:`ConfigError` naming the store (password masked), psycopg's error as its
    cause; the call is not run again (a source write is an append), but the next call
    opens a new connection if the server dropped the old one.

    Parameters
    ----------
    url
        ``postgresql+psycopg://user@host:port/db``.
    """

    source_kinds = ("sql",)

    def __init__(self, url: str) -> None:
        self._dsn = url
        self._con = connect(url, "The PostgreSQL offline store")
        self.url = redact_url(url)
        self._secrets = Secrets.of(url)  # kept out of the server's reasons too
        self._lock = threading.RLock()
        self._closed = False
        self._depth = 0  # calls under way in the thread that holds the lock
        self._failed: type[Exception] = require(
            "psycopg", extra="postgres", feature="The PostgreSQL offline store"
        ).OperationalError

    def __repr__(self) -> str:
        return f"PostgresOfflineStore({self.url!r})"

    def close(self) -> None:
        """Close the connection; a later call is a ``ConfigError`` (no reconnection)."""
        with self._lock:
            self._closed = True
            self._con.close()

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """A live connection for a call made under the lock, and its server failures.

        The outermost call opens a new connection if the server dropped the old one (a
        nested call, such as ``source_schema`` inside a join, keeps its caller's
        transaction); psycopg's server failures inside become a ``ConfigError``.
        """
        if self._closed:
            raise ConfigError(f"the PostgreSQL offline store {self.url} is closed")
        if self._depth == 0 and (self._con.closed or self._con.broken):
            self._con = connect(self._dsn, "The PostgreSQL offline store")
        self._depth += 1
        try:
            yield
        except self._failed as err:
            raise ConfigError(
                f"the PostgreSQL offline store {self.url} failed: "
                f"{self._secrets.scrub(error_line(err, 200))}",
                parameter="url",
            ) from err
        finally:
            self._depth -= 1

    def source_schema(self, source: Source) -> pa.Schema:
        """The arrow schema of the source table's columns."""
        schema, _, table = source.path.rpartition(".")
        with self._lock, self._reaching():
            rows = self._con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE "
                "table_name = %s AND table_schema = coalesce(nullif(%s, ''), current_schema()) "
                "ORDER BY ordinal_position",
                (table, schema),
            ).fetchall()
        if not rows:
            raise ConfigError(f"PostgreSQL has no table {source.path!r}", parameter="source")
        return pa.schema([pa.field(n, _TYPES.get(t, pa.null())) for n, t in rows])

    def _rows(self, view: FeatureView, **kwargs: Any) -> str:
        naive = {f.name for f in self.source_schema(view.source) if _naive(f)}
        return _sql.available_rows(
            view, _table_ref(view.source.path), ["ctid"], naive=naive, **kwargs
        )

    def _upload(self, cur: Any, entity: pa.Table) -> None:
        entity = _without_nul_keys(entity)
        cols = [f"{_sql.ident(f.name)} {_pg_type(f.type)}" for f in entity.schema]
        cur.execute(f"CREATE TEMP TABLE __entity ({', '.join(cols)}) ON COMMIT DROP")
        names = ", ".join(_sql.ident(n) for n in entity.column_names)
        with cur.copy(f"COPY __entity ({names}) FROM STDIN") as copy:
            for row in zip(*(c.to_pylist() for c in entity.columns), strict=True):
                copy.write_row(row)
        cur.execute("ANALYZE __entity")

    def point_in_time(
        self, entity: pa.Table, queries: Sequence[ViewQuery], *, output: str | None = None
    ) -> pa.Table | None:
        """The point-in-time join of ``entity`` with each query's view, in PostgreSQL."""
        ts = entity.column("__ts")
        lo = hi = None
        if entity.num_rows:
            lo = int(pc.min(ts).cast(pa.int64()).as_py())
            hi = int(pc.max(ts).cast(pa.int64()).as_py())
        with self._lock, self._reaching(), self._con.transaction(), self._con.cursor() as cur:
            self._upload(cur, entity)
            select = ["ent.__row"]
            joins = []
            for i, q in enumerate(queries):
                view = q.view
                keys = _sql.keys_sql(view)
                rows = self._rows(view, lo_us=lo, hi_us=hi, features=q.features)
                cur.execute(
                    f"CREATE TEMP TABLE s{i} ON COMMIT DROP AS {_sql.ranked(view, rows, 1)}"
                )
                cur.execute(f"CREATE INDEX ON s{i} ({keys}, __rk)")
                cur.execute(
                    f"CREATE TEMP TABLE t{i} ON COMMIT DROP AS {_sql.timeline(view, f's{i}')}"
                )
                cur.execute(f"CREATE INDEX ON t{i} ({keys}, __a)")
                cur.execute(f"ANALYZE s{i}; ANALYZE t{i}")
                on_t = " AND ".join(
                    f"t.{_sql.ident(k)} = ent.{_sql.ident(k)}" for k in view.entity.keys
                )
                on_s = " AND ".join(
                    f"s{i}.{_sql.ident(k)} = ent.{_sql.ident(k)}" for k in view.entity.keys
                )
                joins.append(
                    f"LEFT JOIN LATERAL (SELECT t.__best FROM t{i} t WHERE {on_t} AND "
                    f"t.__a <= ent.__ts ORDER BY t.__a DESC LIMIT 1) b{i} ON true "
                    f"LEFT JOIN s{i} ON {on_s} AND s{i}.__rk = b{i}.__best"
                )
                ttl = _sql.ttl_interval(view)
                for f, c in zip(q.features, q.columns, strict=True):
                    value = f"s{i}.{_sql.ident(f)}"
                    if ttl:
                        value = f"CASE WHEN s{i}.__e >= ent.__ts - {ttl} THEN {value} END"
                    select.append(f"{value} AS {_sql.ident(c)}")
            cur.execute(
                f"SELECT {', '.join(select)} FROM __entity ent {' '.join(joins)} ORDER BY ent.__row"
            )
            rows_out = cur.fetchall()
            names = [d.name for d in cur.description]
        columns = list(zip(*rows_out, strict=True)) if rows_out else [() for _ in names]
        table = pa.table({n: pa.array(list(col)) for n, col in zip(names, columns, strict=True)})
        if output is not None:
            import pyarrow.parquet as pq  # noqa: PLC0415 - only for file output

            pq.write_table(table, output)
            return None
        return table

    def latest(
        self, view: FeatureView, *, start_us: int | None, end_us: int, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Per entity, the best row that became available in ``(start, end]``."""
        query = _sql.latest(view, _sql.window_filter(view, self._rows(view), start_us, end_us), 1)
        with self._lock, self._reaching(), self._con.cursor() as cur:
            cur.execute(query)
            names = [d.name for d in cur.description]
            while chunk := cur.fetchmany(batch_rows):
                cols = list(zip(*chunk, strict=True))
                yield pa.RecordBatch.from_pydict(
                    {n: pa.array(list(c)) for n, c in zip(names, cols, strict=True)}
                )

    def write_source(
        self, name: str, table: pa.Table, *, timestamp: str, created: str | None = None
    ) -> Source:
        """Append ``table``'s rows, in order, to table ``name`` (created when missing).

        ``table`` is a pyarrow Table or a pandas DataFrame (its index is not written).
        """
        try:
            check_identifier(name, "source name")
        except ValueError as err:
            raise ConfigError(str(err), parameter="name") from err
        table = _sql.source_table(table)
        problems = _nul_problems(table)
        if problems:
            raise SchemaError(problems=problems)
        cols = [f"{_sql.ident(f.name)} {_pg_type(f.type)}" for f in table.schema]
        ref = _sql.ident(name)
        with self._lock, self._reaching(), self._con.transaction(), self._con.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {ref} ({', '.join(cols)})")
            names = ", ".join(_sql.ident(n) for n in table.column_names)
            with cur.copy(f"COPY {ref} ({names}) FROM STDIN") as copy:
                for row in zip(*(c.to_pylist() for c in table.columns), strict=True):
                    copy.write_row(row)
        return Source.sql(name, timestamp=timestamp, created=created)


def _naive(f: pa.Field) -> bool:
    return pa.types.is_timestamp(f.type) and f.type.tz is None


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _has_nul(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row, whether the string holds a NUL (null for a null string)."""
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    if pa.types.is_string_view(col.type):
        col = pc.cast(col, pa.string())
    return pc.match_substring(col, "\x00")


def _nul_problems(table: pa.Table) -> list[SchemaProblem]:
    """One problem per column of ``table`` whose name or a string value holds a NUL."""
    problems = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if "\x00" in f.name:
            problems.append(
                SchemaProblem(f.name, "input", "PostgreSQL names cannot hold the NUL character")
            )
        elif _is_text(f.type):
            found = _has_nul(col)
            if pc.any(found).as_py():
                problems.append(
                    SchemaProblem(
                        f.name,
                        "input",
                        "PostgreSQL text cannot hold the NUL character (\\x00); remove it "
                        "or use the DuckDB offline store",
                        row=int(pc.index(found, True).as_py()),
                    )
                )
    return problems


def _without_nul_keys(entity: pa.Table) -> pa.Table:
    """``entity`` with null for each string key holding a NUL: no source row has it."""
    for i, f in enumerate(entity.schema):
        if _is_text(f.type):
            col = entity.column(i)
            found = _has_nul(col)
            if pc.any(found).as_py():
                entity = entity.set_column(i, f, pc.if_else(found, pa.scalar(None, f.type), col))
    return entity
