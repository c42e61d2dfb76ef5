"""The default offline store: Parquet sources queried by DuckDB (``ASOF JOIN`` over Arrow).

``duckdb://`` runs an in-memory DuckDB; ``duckdb:///path/dir`` also names a directory
where :meth:`DuckDBOfflineStore.write_source` writes Parquet. DuckDB spills to
``temp_directory`` when a join outgrows ``memory_limit``, so ``historical`` runs on data
larger than memory. Needs the ``store`` extra (``pip install 'prodml[store]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml._extras import require
from prodml._params import NONE, Interval, Predicate, TypeOf, check_params
from prodml.errors import ConfigError
from prodml.store import _sql
from prodml.store._definitions import FeatureView, Source, check_identifier
from prodml.store.offline import OfflineStore, ViewQuery

__all__ = ["DuckDBOfflineStore"]

_SIZE = Predicate(
    lambda v: isinstance(v, str) and v.strip()[:1].isdigit(), "a size such as '2GB'"
)


class DuckDBOfflineStore(OfflineStore):
    """Parquet sources, joined point-in-time by DuckDB.

    Parameters
    ----------
    url
        ``duckdb://`` or ``duckdb:///path/dir`` (a directory for :meth:`write_source`).
    memory_limit
        DuckDB's memory limit, e.g. ``"2GB"``; past it, joins spill to disk.
    temp_directory
        Where DuckDB spills; defaults to ``<dir>/tmp`` with a directory, else DuckDB's.
    threads
        Worker threads; defaults to DuckDB's choice (the number of cores).

    Examples
    --------
    >>> import pyarrow as pa, tempfile
    >>> from datetime import datetime, timezone
    >>> store = DuckDBOfflineStore(f"duckdb:///{tempfile.mkdtemp()}")
    >>> t = pa.table({"user_id": [1], "at": [datetime(2024, 1, 1, tzinfo=timezone.utc)]})
    >>> store.write_source("users", t, timestamp="at").kind
    'parquet'
    """

    source_kinds = ("parquet",)

    def __init__(
        self,
        url: str = "duckdb://",
        *,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        threads: int | None = None,
    ) -> None:
        check_params(
            "DuckDBOfflineStore",
            {"memory_limit": memory_limit, "temp_directory": temp_directory, "threads": threads},
            {
                "memory_limit": [_SIZE, NONE],
                "temp_directory": [TypeOf(str, "a path"), NONE],
                "threads": [Interval(int, 1, None), NONE],
            },
        )
        if not isinstance(url, str) or not url.lower().startswith("duckdb://"):
            raise ConfigError(f"not a duckdb:// URL: {str(url)[:60]!r}", parameter="url")
        path = url[len("duckdb://") :]
        self.url = url
        self.directory = Path(path) if path else None
        self._duckdb = require("duckdb", extra="store", feature="The DuckDB offline store")
        self._con: Any = self._duckdb.connect()
        self._lock = threading.RLock()
        settings = {"TimeZone": "UTC"}
        if memory_limit is not None:
            settings["memory_limit"] = memory_limit
        if temp_directory is None and self.directory is not None:
            temp_directory = str(self.directory / "tmp")
        if temp_directory is not None:
            settings["temp_directory"] = temp_directory
        for key, value in settings.items():
            self._con.execute(f"SET {key} = '{value.replace(chr(39), '')}'")
        if threads is not None:
            self._con.execute(f"SET threads = {int(threads)}")

    def __repr__(self) -> str:
        return f"DuckDBOfflineStore({self.url!r})"

    def close(self) -> None:
        """Close the DuckDB connection."""
        with self._lock:
            self._con.close()

    # -- reading -----------------------------------------------------------------------

    def _scan(self, source: Source) -> str:
        p = Path(source.path)
        glob = str(p / "**" / "*.parquet") if p.is_dir() else source.path
        lit = glob.replace("'", "''")
        return (
            f"read_parquet('{lit}', filename = true, file_row_number = true, "
            "hive_partitioning = false, union_by_name = true)"
        )

    def _sql(self, query: str) -> Any:
        try:
            return self._con.sql(query)
        except (self._duckdb.IOException, self._duckdb.InvalidInputException) as err:
            raise ConfigError(f"DuckDB cannot read a source: {str(err)[:300]}") from err

    def source_schema(self, source: Source) -> pa.Schema:
        """The arrow schema of the Parquet files of ``source``."""
        with self._lock:
            schema = self._sql(f"SELECT * FROM {self._scan(source)} LIMIT 0").to_arrow_table()
        schema = schema.schema
        keep = [f for f in schema if f.name not in ("filename", "file_row_number")]
        return pa.schema(keep)

    def _rows(self, view: FeatureView, **kwargs: Any) -> str:
        naive = {f.name for f in self.source_schema(view.source) if _naive_ts(f)}
        return _sql.available_rows(
            view, self._scan(view.source), ["filename", "file_row_number"], naive=naive, **kwargs
        )

    def point_in_time(
        self, entity: pa.Table, queries: Sequence[ViewQuery], *, output: str | None = None
    ) -> pa.Table | None:
        """The point-in-time join of ``entity`` with each query's view (DuckDB ASOF JOIN)."""
        ts = entity.column("__ts")
        lo = hi = None
        if entity.num_rows:
            lo = _us(pc.min(ts))
            hi = _us(pc.max(ts))
        ctes: list[str] = []
        select = ["ent.__row"]
        joins: list[str] = []
        for i, q in enumerate(queries):
            view = q.view
            rows = self._rows(view, lo_us=lo, hi_us=hi, features=q.features)
            ctes.append(f"s{i} AS MATERIALIZED ({_sql.ranked(view, rows, 2)})")
            ctes.append(f"t{i} AS ({_sql.timeline(view, f's{i}')})")
            on_t = " AND ".join(f"ent.{_sql.ident(k)} = t.{_sql.ident(k)}" for k in view.entity.keys)
            on_s = " AND ".join(f"s.{_sql.ident(k)} = t.{_sql.ident(k)}" for k in view.entity.keys)
            ttl = _sql.ttl_interval(view)
            cols = [
                (
                    f"CASE WHEN s.__e >= ent.__ts - {ttl} THEN s.{_sql.ident(f)} END"
                    if ttl
                    else f"s.{_sql.ident(f)}"
                )
                + f" AS {_sql.ident(c)}"
                for f, c in zip(q.features, q.columns, strict=True)
            ]
            ctes.append(
                f"j{i} AS (SELECT ent.__row, {', '.join(cols)} FROM __entity ent "
                f"ASOF LEFT JOIN t{i} t ON {on_t} AND ent.__ts >= t.__a "
                f"LEFT JOIN s{i} s ON {on_s} AND s.__rk = t.__best)"
            )
            select += [f"j{i}.{_sql.ident(c)}" for c in q.columns]
            joins.append(f"LEFT JOIN j{i} ON j{i}.__row = ent.__row")
        query = (
            ("WITH " + ", ".join(ctes) + " " if ctes else "")
            + f"SELECT {', '.join(select)} FROM __entity ent {' '.join(joins)} ORDER BY ent.__row"
        )
        with self._lock:
            self._con.register("__entity", entity)
            try:
                if output is not None:
                    out = output.replace("'", "''")
                    self._con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet)")
                    return None
                return self._sql(query).to_arrow_table()
            finally:
                self._con.unregister("__entity")

    def latest(
        self, view: FeatureView, *, start_us: int | None, end_us: int, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Per entity, the best row that became available in ``(start, end]``."""
        rows = _sql.window_filter(view, self._rows(view), start_us, end_us)
        query = _sql.latest(view, rows, 2)
        with self._lock:
            reader = self._sql(query).to_arrow_reader(batch_rows)
            yield from reader

    # -- writing ----------------------------------------------------------------------

    def write_source(
        self, name: str, table: pa.Table, *, timestamp: str, created: str | None = None
    ) -> Source:
        """Append ``table`` as the next Parquet file of ``<dir>/sources/<name>/``."""
        if self.directory is None:
            raise ConfigError(
                "write_source needs a directory: open the store as duckdb:///path/dir",
                parameter="url",
            )
        try:
            check_identifier(name, "source name")
        except ValueError as err:
            raise ConfigError(str(err), parameter="name") from err
        folder = self.directory / "sources" / name
        folder.mkdir(parents=True, exist_ok=True)
        n = len(list(folder.glob("part-*.parquet")))
        tmp = folder / f".part-{n:06d}.tmp"
        pq.write_table(table, tmp)
        tmp.replace(folder / f"part-{n:06d}.parquet")  # readers never see half a file
        return Source.parquet(str(folder), timestamp=timestamp, created=created)


def _naive_ts(f: pa.Field) -> bool:
    return pa.types.is_timestamp(f.type) and f.type.tz is None


def _us(scalar: pa.Scalar) -> int:
    return int(scalar.cast(pa.int64()).as_py())
