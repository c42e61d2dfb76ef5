"""The default offline store: Parquet sources joined point-in-time by DuckDB over Arrow.

``historical`` into memory runs :mod:`prodml.store._asof` (sorted numpy arrays over
streamed Parquet batches): on the benchmark's workload it is faster than the SQL join
below and holds no more than the output and one batch. The SQL join runs for
``historical(..., output=...)``, under a ``memory_limit`` or ``partitions``, with
``engine="duckdb"``, and for sources the arrays cannot read exactly as DuckDB does (naive
timestamps with ``Source.timezone``, remote files).

In the SQL join, the as-of step is one window over the source rows and the entity rows together (a
running maximum of the event time, see :meth:`DuckDBOfflineStore._view_sql`) rather than
an ``ASOF JOIN``: an ``ASOF JOIN`` would sort the timeline a second time, and on the
benchmark's workload the single window used 10% less CPU and 25% less memory for the
same rows.

``duckdb://`` runs an in-memory DuckDB; ``duckdb:///path/dir`` also names a directory
where :meth:`DuckDBOfflineStore.write_source` writes Parquet. DuckDB spills to
``temp_directory`` when a join outgrows ``memory_limit``, so ``historical`` runs on data
larger than memory. Needs the ``store`` extra (``pip install 'prodml[store]'``).
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml._extras import require
from prodml._files import make_folder
from prodml._params import NONE, Interval, OneOf, Predicate, TypeOf, check_params
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.store import _asof, _sql
from prodml.store._definitions import FeatureView, Source, check_identifier
from prodml.store.offline import OfflineStore, ViewQuery

__all__ = ["DuckDBOfflineStore"]

_SIZE = Predicate(lambda v: isinstance(v, str) and _bytes(v) > 0, "a size such as '2GB'")


# A row's position in the source: file number, then row in the file.
_POS = "(file_index::BIGINT * 1099511627776 + file_row_number)"


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
    partitions
        Join each view in this many parts, split by a hash of the entity key, so that
        each part's sort fits in memory. By default one part, or with ``memory_limit``
        enough parts for about 256 bytes of limit per source row.
    engine
        How ``historical`` joins into memory: ``"auto"`` (numpy arrays, unless
        ``memory_limit`` or ``partitions`` is set or a source needs DuckDB), ``"numpy"``
        (arrays whenever the sources allow) or ``"duckdb"`` (always SQL). Results written
        to a file (``output=``) always go through DuckDB, which spills.

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
        partitions: int | None = None,
        engine: str = "auto",
    ) -> None:
        check_params(
            "DuckDBOfflineStore",
            {
                "memory_limit": memory_limit,
                "temp_directory": temp_directory,
                "threads": threads,
                "partitions": partitions,
                "engine": engine,
            },
            {
                "memory_limit": [_SIZE, NONE],
                "temp_directory": [TypeOf(str, "a path"), NONE],
                "threads": [Interval(int, 1, None), NONE],
                "partitions": [Interval(int, 1, 4096), NONE],
                "engine": [OneOf(("auto", "numpy", "duckdb"))],
            },
        )
        self.memory_limit = _bytes(memory_limit) if memory_limit is not None else None
        self.partitions = partitions
        self.engine = engine
        self.threads = threads
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
        # Every query that returns rows orders them (ORDER BY __row), so DuckDB need not
        # keep insertion order elsewhere (12% less CPU); COPY turns it back on.
        self._con.execute("SET preserve_insertion_order = false")

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
        return f"read_parquet('{lit}', file_row_number = true, hive_partitioning = false)"

    def _files(self, source: Source) -> list[str]:
        """The source's files in DuckDB's order (``read_parquet``'s ``file_index``)."""
        p = Path(source.path)
        glob = str(p / "**" / "*.parquet") if p.is_dir() else source.path
        try:
            with self._lock:
                rows = self._con.execute("SELECT file FROM glob(?)", [glob]).fetchall()
        except self._duckdb.Error as err:
            raise _asof.Unsupported(str(err)[:200]) from err
        return [str(r[0]) for r in rows]

    def _arrays(self, entity: pa.Table, queries: Sequence[ViewQuery]) -> pa.Table | None:
        """The join by :mod:`prodml.store._asof`, or ``None`` where the SQL join must run."""
        if self.engine == "duckdb" or (
            self.engine == "auto" and (self.memory_limit is not None or self.partitions)
        ):
            return None
        try:
            files = {q.view.name: self._files(q.view.source) for q in queries}
            threads = self.threads or os.cpu_count() or 1
            return _asof.point_in_time(entity, queries, files, threads=threads)
        except _asof.Unsupported:
            return None

    def _sql(self, query: str) -> Any:
        try:
            return self._con.sql(query)
        except (self._duckdb.IOException, self._duckdb.InvalidInputException) as err:
            raise ConfigError(f"DuckDB cannot read a source: {str(err)[:300]}") from err

    def source_schema(self, source: Source) -> pa.Schema:
        """The arrow schema of the Parquet files of ``source``."""
        with self._lock:
            schema = self._sql(f"SELECT * FROM {self._scan(source)} LIMIT 0").to_arrow_table()
        return pa.schema([f for f in schema.schema if f.name != "file_row_number"])

    def _rows(self, view: FeatureView, **kwargs: Any) -> str:
        schema = self.source_schema(view.source)
        naive = {f.name for f in schema if _naive_ts(f)}
        nanos = frozenset(
            f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"
        )
        return _sql.available_rows(
            view, self._scan(view.source), [_POS], naive=naive, nanos=nanos, **kwargs
        )

    def _parts(self, view: FeatureView) -> int:
        if self.partitions is not None:
            return self.partitions
        if self.memory_limit is None:
            return 1
        with self._lock:
            rows = self._sql(f"SELECT count(*) FROM {self._scan(view.source)}").fetchall()[0][0]
        return max(1, min(4096, -(-int(rows) * 256 // self.memory_limit)))

    def _view_sql(
        self, q: ViewQuery, lo: int | None, hi: int | None, part: tuple[int, int] = (0, 1)
    ) -> str:
        """``__row`` and ``q``'s columns for every entity row, in ``__row`` order.

        One sort: the source rows (at their availability instant) and the entity rows (just
        after the source rows of the same instant) of each key, in time order, with a
        running maximum of the event time; an entity row's maximum is the event time of its
        value. The value is then the source row with that event time, available by then,
        with the greatest (created, position): a hash join, not a second sort.
        """
        view = q.view
        keys = view.entity.keys
        p, n = part
        where = ent_where = None
        if n > 1:
            where = f"{_hash(view, '')} % {n} = {p}"
            ent_where = f"{_hash(view, 'ent.')} % {n} = {p}"
        # Two scans: the sort sees keys and times only, the last join streams features.
        times = self._rows(view, lo_us=lo, hi_us=hi, features=(), where=where)
        # Pruning the feature scan would only shrink DuckDB's estimate of it, and a small
        # estimate makes it the hash join's build side (a table of every feature row).
        full = self._rows(view, features=q.features, where=where)
        ks = _sql.keys_sql(view)
        ent_ks = ", ".join(f"ent.{_sql.ident(c)}" for c in keys)
        on_s = " AND ".join(f"s.{_sql.ident(c)} = j.{_sql.ident(c)}" for c in keys)
        ttl = _sql.ttl_interval(view)
        cols = ", ".join(
            (
                f"CASE WHEN m.__e >= m.__ts - {ttl} THEN m.{_sql.ident(f)} END"
                if ttl
                else f"m.{_sql.ident(f)}"
            )
            + f" AS {_sql.ident(c)}"
            for f, c in zip(q.features, q.columns, strict=True)
        )
        timeline = (
            f"SELECT {ks}, epoch_us(__a) * 2 AS __o, epoch_us(__e) AS __eu, "
            f"NULL::BIGINT AS __row FROM ({times}) AS t UNION ALL "
            f"SELECT {ent_ks}, epoch_us(ent.__ts) * 2 + 1, NULL::BIGINT, ent.__row "
            "FROM __entity ent" + (f" WHERE {ent_where}" if ent_where else "")
        )
        return (
            f"WITH u AS ({timeline}), "
            f"w AS (SELECT {ks}, __row, max(__eu) OVER (PARTITION BY {ks} ORDER BY __o "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __best FROM u), "
            f"j AS (SELECT {', '.join(f'w.{_sql.ident(c)}' for c in keys)}, w.__row, ent.__ts, "
            "w.__best FROM w JOIN __entity ent ON ent.__row = w.__row), "
            f"m AS (SELECT j.__row, j.__ts, s.* FROM j LEFT JOIN "
            f"(SELECT *, epoch_us(__e) AS __eu FROM ({full}) AS f) s ON {on_s} "
            "AND s.__eu = j.__best AND s.__a <= j.__ts "
            "QUALIFY row_number() OVER (PARTITION BY j.__row "
            "ORDER BY s.__c DESC NULLS LAST, s.__pos0 DESC NULLS LAST) = 1) "
            f"SELECT m.__row, {cols} FROM m ORDER BY m.__row"
        )

    def point_in_time(
        self, entity: pa.Table, queries: Sequence[ViewQuery], *, output: str | None = None
    ) -> pa.Table | None:
        """The point-in-time join of ``entity`` with each query's view, in DuckDB.

        Views are joined one after another (so that only one view's rows are sorted at a
        time), each in :meth:`_parts` hash partitions of the key. In memory, their columns
        are put side by side; with ``output``, each part goes to a scratch Parquet file and
        one ordered join of those writes the file, spilling as it needs to.
        """
        if output is None:
            table = self._arrays(entity, queries)
            if table is not None:
                return table
        ts = entity.column("__ts")
        lo = hi = None
        if entity.num_rows:
            lo = _us(pc.min(ts))
            hi = _us(pc.max(ts))
        with self._lock:
            self._con.register("__entity", entity)
            try:
                if output is None:
                    return self._in_memory(entity, queries, lo, hi)
                self._to_file(entity, queries, lo, hi, output)
                return None
            except self._duckdb.OutOfMemoryException as err:
                raise ConfigError(
                    f"DuckDB ran out of memory ({str(err).splitlines()[0][:120]}); raise "
                    "memory_limit or pass more partitions",
                    parameter="memory_limit",
                ) from err
            finally:
                self._con.unregister("__entity")

    def _in_memory(
        self, entity: pa.Table, queries: Sequence[ViewQuery], lo: int | None, hi: int | None
    ) -> pa.Table:
        result = pa.table({"__row": entity.column("__row")})
        for q in queries:
            n = self._parts(q.view)
            pieces = [
                self._sql(self._view_sql(q, lo, hi, (p, n))).to_arrow_table() for p in range(n)
            ]
            part = pa.concat_tables(pieces)
            if n > 1:
                part = part.take(pc.sort_indices(part.column("__row")))
            for c in q.columns:
                result = result.append_column(c, part.column(c))
        return result

    def _to_file(
        self,
        entity: pa.Table,
        queries: Sequence[ViewQuery],
        lo: int | None,
        hi: int | None,
        output: str,
    ) -> None:
        """Each view part to a scratch file, then one ordered join of them to ``output``."""
        scratch = Path(output).parent / f".{Path(output).name}.parts"
        scratch.mkdir(exist_ok=True)
        self._con.execute("SET preserve_insertion_order = true")
        try:
            files = []
            for i, q in enumerate(queries):
                n = self._parts(q.view)
                for p in range(n):
                    path = str(scratch / f"v{i}-{p}.parquet").replace("'", "''")
                    self._con.execute(
                        f"COPY ({self._view_sql(q, lo, hi, (p, n))}) TO '{path}' (FORMAT parquet)"
                    )
                files.append(str(scratch / f"v{i}-*.parquet").replace("'", "''"))
            select = ["ent.__row"] + [
                f"v{i}.{_sql.ident(c)}" for i, q in enumerate(queries) for c in q.columns
            ]
            joins = " ".join(
                f"LEFT JOIN read_parquet('{f}') v{i} ON v{i}.__row = ent.__row"
                for i, f in enumerate(files)
            )
            out = output.replace("'", "''")
            self._con.execute(
                f"COPY (SELECT {', '.join(select)} FROM __entity ent {joins} ORDER BY ent.__row) "
                f"TO '{out}' (FORMAT parquet)"
            )
        finally:
            self._con.execute("SET preserve_insertion_order = false")
            for f in scratch.glob("*.parquet"):
                f.unlink()
            scratch.rmdir()

    def latest(
        self, view: FeatureView, *, start_us: int | None, end_us: int, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Per entity, the best row that became available in ``(start, end]``."""
        rows = _sql.window_filter(view, self._rows(view), start_us, end_us)
        query = _sql.latest(view, rows, 1)
        with self._lock:
            reader = self._sql(query).to_arrow_reader(batch_rows)
            yield from reader

    # -- writing ----------------------------------------------------------------------

    def write_source(
        self,
        name: str,
        table: pa.Table | pd.DataFrame,
        *,
        timestamp: str,
        created: str | None = None,
    ) -> Source:
        """Append ``table`` as the next Parquet file of ``<dir>/sources/<name>/``.

        ``table`` is a pyarrow Table or a pandas DataFrame (its index is not written). It
        must have the ``timestamp`` (and ``created``) columns; their types are checked when
        a view on the source is applied. A refused or failed write leaves the folder as it
        was: the file appears whole, under its final name, or not at all. Writers at once,
        in any processes, each add their own file (numbered one more than the greatest).
        """
        if self.directory is None:
            raise ConfigError(
                "write_source needs a directory: open the store as duckdb:///path/dir",
                parameter="url",
            )
        try:
            check_identifier(name, "source name")
        except ValueError as err:
            raise ConfigError(str(err), parameter="name") from err
        table = _sql.source_table(table)
        source = Source.parquet(
            str(self.directory / "sources" / name), timestamp=timestamp, created=created
        )
        absent = [c for c in (timestamp, created) if c is not None and c not in table.column_names]
        if absent:
            raise SchemaError(
                problems=[
                    SchemaProblem(c, "missing", f"source {name!r} has no such column")
                    for c in absent
                ]
            )
        folder = self.directory / "sources" / name
        make_folder(folder, f"the folder of source {name!r}", parameter="name")
        # A name of this writer's own: two writers at once must not share a scratch file.
        tmp = folder / f".part-{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, tmp)
            _publish(tmp, folder)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return source


_PART = re.compile(r"part-(\d+)\.parquet")


def _publish(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to the next ``part-NNNNNN.parquet`` of ``folder``, never over a file.

    The next number is one more than the greatest there (not the number of files: with
    one removed, that was the name of the last one, which the rename replaced). Another
    writer may take it meanwhile: a number is claimed by creating ``.part-NNNNNN.claim``
    exclusively, and taken only if no part file has it yet (a writer that claimed it
    before has published by the time its claim is gone). So two writers at once each add
    their file; one killed between claim and rename leaves a claim, and a gap.
    """
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _PART.fullmatch(p.name))]
    n = max(numbers, default=-1) + 1
    while True:
        claim = folder / f".part-{n:06d}.claim"
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            n += 1
            continue
        try:
            final = folder / f"part-{n:06d}.parquet"
            if not final.exists():
                tmp.replace(final)  # readers never see half a file
                return
        finally:
            claim.unlink(missing_ok=True)
        n += 1


def _hash(view: FeatureView, prefix: str) -> str:
    """A hash of the view's key columns, the same for entity and source rows."""
    cast = {"int": "BIGINT", "string": "VARCHAR"}
    parts = [
        f"CAST({prefix}{_sql.ident(k)} AS {cast[str(t)]})"
        for k, t in zip(view.entity.keys, view.entity.dtypes or (), strict=True)
    ]
    return f"hash({', '.join(parts)})"


_UNITS = {
    "b": 1,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def _bytes(size: str) -> int:
    """Bytes of a DuckDB size string such as ``'2GB'`` or ``'512 MiB'``."""
    text = size.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = text[len(number) :].strip() or "b"
    if unit not in _UNITS:
        raise ConfigError(
            f"The 'memory_limit' parameter of DuckDBOfflineStore must be a size such as "
            f"'2GB'. Got {size[:20]!r} instead.",
            parameter="memory_limit",
        )
    return int(float(number) * _UNITS[unit])


def _naive_ts(f: pa.Field) -> bool:
    return pa.types.is_timestamp(f.type) and f.type.tz is None


def _us(scalar: pa.Scalar) -> int:
    return int(scalar.cast(pa.int64()).as_py())
