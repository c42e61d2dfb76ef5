"""The in-memory point-in-time join of Parquet sources: sorted arrays instead of SQL.

The DuckDB offline store runs this for ``historical`` results held in memory (see
:meth:`DuckDBOfflineStore.point_in_time <prodml.store._duckdb.DuckDBOfflineStore>`); the
rules are those of :mod:`prodml.store.offline`. Per view, in two streaming passes over the
source's Parquet files (in DuckDB's file order, so ties resolve to the same row):

1. **As-of.** Only the key and time columns are read, ``CHUNK_ROWS`` rows at a time.
   A chunk's usable rows (key among the entity rows', event time set, available by the
   last entity row, within ``ttl`` of the first) are sorted by ``(key, available)``, one
   ``argsort`` of a packed int64; a segmented prefix scan (log2 of the longest run of a
   key's rows, vectorised) carries the greatest ``(event, created, position)`` along
   each key. Each entity row, sorted once by ``(key, time)``, binary-searches its last
   available row and keeps the better of that and what earlier chunks gave it (later
   chunks hold later positions, so equal ``(event, created)`` go to them).
2. **Gather.** The chosen rows' features are read in position order, a few columns'
   batches at a time, and scattered to their entity rows; float64 features go straight
   into the output arrays.

Memory is the output plus a few int64 arrays per entity row and one chunk's arrays; no
source column is ever held whole. Files this path cannot read exactly as DuckDB does
(naive timestamps, remote URLs, columns whose type changes between files, keys too many
to pack) raise :class:`Unsupported`, and the caller runs the SQL join instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml.store._definitions import FeatureView
from prodml.store.offline import ViewQuery

__all__ = ["CHUNK_ROWS", "Unsupported", "point_in_time"]

_T = TypeVar("_T")
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

#: Usable source rows per as-of chunk: the chunk's arrays are a few MB, and the entity
#: rows are searched once per chunk.
CHUNK_ROWS = 1 << 16
#: Rows per Parquet batch: the reader's pages and buffers grow with it.
READ_ROWS = 1 << 15
#: Rows per batch of one feature column in the gather pass.
GATHER_ROWS = 1 << 16
#: Bytes of a Parquet column read at a time (pages stream through this buffer).
READ_BUFFER = 1 << 16
#: Bits of a packed ``(key id, time)`` sort key; wider goes through time ranks.
DIRECT_BITS = 62
_FILE_SHIFT = 40  # position = file number << 40 | row in the file
_MIN = np.iinfo(np.int64).min
_TS_FACTOR = {"s": 1_000_000, "ms": 1_000, "us": 1}


class Unsupported(Exception):  # noqa: N818 - a signal to the caller, never seen by users
    """These sources need the SQL join (the reason is the message)."""


# -- entity keys -------------------------------------------------------------------------


@dataclass
class _KeyIndex:
    """Dense ids of one entity's keys in the entity rows, and the lookup of source keys."""

    ids: Ints  # per entity row; -1 for a row with a null key
    n: int
    lut: Ints | None  # single int key over a small range: id by key - lo
    lo: int
    uniques: list[pa.Array]  # otherwise: per key column, its distinct entity values
    combined: Ints | None  # sorted mixed-radix codes of the entity's keys (several columns)

    @classmethod
    def build(cls, cols: list[pa.ChunkedArray]) -> _KeyIndex:
        m = len(cols[0])
        if len(cols) == 1 and pa.types.is_integer(cols[0].type):
            col = cols[0]
            valid = _valid(col)
            vals = col.to_numpy(zero_copy_only=False) if col.null_count == 0 else None
            if vals is None:
                vals = pc.fill_null(col, 0).to_numpy()
            vals = np.asarray(vals, dtype=np.int64)
            present = vals[valid]
            if present.size == 0:
                return cls(np.full(m, -1, np.int64), 0, None, 0, [], None)
            lo, hi = int(present.min()), int(present.max())
            if hi - lo < max(2 * m, 1 << 16):
                lut = np.full(hi - lo + 1, -1, np.int64)
                lut[present - lo] = 0
                used = lut == 0
                n = int(used.sum())
                lut[used] = np.arange(n, dtype=np.int64)
                ids = np.where(valid, lut[np.where(valid, vals, lo) - lo], -1)
                return cls(ids, n, lut, lo, [], None)
        uniques = [pc.unique(pc.drop_null(c)) for c in cols]
        codes, ok = _codes(cols, uniques)
        if len(cols) == 1:
            ids = np.where(ok, codes, -1)
            return cls(ids, len(uniques[0]), None, 0, uniques, None)
        combined, inverse = np.unique(codes[ok], return_inverse=True)
        ids = np.full(m, -1, np.int64)
        ids[ok] = inverse
        return cls(ids, len(combined), None, 0, uniques, combined)

    def lookup(self, cols: list[pa.Array]) -> Ints:
        """The id of each source row's key, -1 for a key no entity row has (or null)."""
        if self.lut is not None:
            col = cols[0]
            if pa.types.is_uint64(col.type):
                raise Unsupported("uint64 keys")
            try:
                vals = np.asarray(pc.fill_null(col, self.lo).to_numpy(), dtype=np.int64)
            except (pa.ArrowInvalid, OverflowError) as err:
                raise Unsupported(f"key values: {err}") from err
            hi = self.lo + len(self.lut) - 1
            inside = (vals >= self.lo) & (vals <= hi) & _valid(col)
            return np.where(inside, self.lut[np.where(inside, vals, self.lo) - self.lo], -1)
        if self.n == 0:
            return np.full(len(cols[0]), -1, np.int64)
        codes, ok = _codes(cols, self.uniques)
        if self.combined is None:
            return np.where(ok, codes, -1)
        at = np.minimum(np.searchsorted(self.combined, codes), len(self.combined) - 1)
        return np.where(ok & (self.combined[at] == codes), at, -1)


def _valid(col: pa.Array | pa.ChunkedArray) -> Bools:
    if col.null_count == 0:
        return np.ones(len(col), dtype=bool)
    return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)


def _codes(
    cols: Sequence[pa.Array | pa.ChunkedArray], uniques: list[pa.Array]
) -> tuple[Ints, Bools]:
    """Mixed-radix codes of the rows' keys among ``uniques``, and which rows have one."""
    width = 1
    for u in uniques:
        width *= max(len(u), 1)
    if width >= 1 << 62:
        raise Unsupported("too many distinct keys to pack")
    codes = np.zeros(len(cols[0]), np.int64)
    ok = np.ones(len(cols[0]), dtype=bool)
    scale = 1
    for col, u in zip(cols, uniques, strict=True):
        try:
            found = pc.index_in(col.cast(u.type) if col.type != u.type else col, value_set=u)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise Unsupported(f"key values: {err}") from err
        ok &= _valid(found)
        codes += np.asarray(pc.fill_null(found, 0).to_numpy(), dtype=np.int64) * scale
        scale *= max(len(u), 1)
    return codes, ok


# -- times -------------------------------------------------------------------------------


def _micros(col: pa.Array) -> tuple[Ints, Bools]:
    """UTC microseconds of an aware timestamp column (floored), and which are set."""
    t = col.type
    if not pa.types.is_timestamp(t) or t.tz is None:
        raise Unsupported(f"not an aware timestamp column: {t}")
    ints = col.view(pa.int64()) if col.null_count == 0 else pc.fill_null(col.cast(pa.int64()), 0)
    raw = np.asarray(ints.to_numpy(), dtype=np.int64)
    us = raw // 1_000 if t.unit == "ns" else raw * _TS_FACTOR[t.unit]
    return us, _valid(col)


# -- the as-of pass ----------------------------------------------------------------------


@dataclass
class _Probe:
    """The entity rows a view can match, sorted by (key id, time)."""

    rows: Ints  # entity row numbers
    kid: Ints
    t: Ints
    n_ids: int
    lo: int  # the earliest and latest probe times
    hi: int
    _ranks: tuple[Ints, Ints] | None = None

    @classmethod
    def build(cls, keys: _KeyIndex, t: Ints) -> _Probe:
        rows = np.flatnonzero(keys.ids >= 0)
        order = np.lexsort((t[rows], keys.ids[rows]))
        rows = rows[order]
        ts = t[rows]
        lo, hi = (int(ts.min()), int(ts.max())) if ts.size else (0, 0)
        return cls(rows, keys.ids[rows], ts, keys.n, lo, hi)

    def ranks(self) -> tuple[Ints, Ints]:
        """The distinct entity times, sorted, and each probe row's rank among them."""
        if self._ranks is None:
            times = np.unique(self.t)
            self._ranks = (times, np.searchsorted(times, self.t))
        return self._ranks


def _sort_keys(probe: _Probe, kid: Ints, avail: Ints) -> tuple[Ints, Ints, bool]:
    """Packed ``(key id, time)`` of source rows and of probe rows, in one order.

    A source row is available to a probe row of the same key iff its code is <= the
    probe row's. Packed directly when key ids and times fit ``DIRECT_BITS``; otherwise
    a time becomes its rank among the entity times (``a <= t`` iff
    ``#{entity times < a} <= #{entity times < t}``, since ``t`` is one of them).
    ``avail`` is overwritten. The flag says whether the codes order times exactly
    (ranks do not order two source times between the same entity times).
    """
    floor = int(avail.min())
    tbits = (probe.hi - floor).bit_length()
    if tbits + int(probe.n_ids).bit_length() <= DIRECT_BITS:
        code = kid << tbits
        avail -= floor
        code |= avail
        rel = probe.t - floor
        early = rel < 0
        np.maximum(rel, 0, out=rel)
        ent = probe.kid << tbits
        ent |= rel
        ent[early] = -1
        return code, ent, True
    times, rank = probe.ranks()
    width = len(times) + 1
    code = kid * width
    code += np.searchsorted(times, avail)
    return code, probe.kid * width + rank, False


def _prefix_best(keys: Ints, e: Ints, c: Ints, pos: Ints) -> tuple[Ints, Ints, Ints]:
    """Along each run of equal ``keys``, the running greatest ``(e, c, pos)``.

    A Hillis-Steele scan: after the step of width ``d`` every element holds the best of
    the ``2d`` elements ending at it, so ``log2`` of the longest run of steps suffice.
    """
    n = len(keys)
    if n < 2:
        return e, c, pos
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1], [True])))
    longest = int(np.diff(starts).max())
    d = 1
    while d < longest:
        pe, pc_, pp = e[:-d], c[:-d], pos[:-d]
        ce, cc, cp = e[d:], c[d:], pos[d:]
        tie = pe == ce
        better = (pe > ce) | (tie & (pc_ > cc)) | (tie & (pc_ == cc) & (pp > cp))
        better &= keys[d:] == keys[:-d]
        e, c, pos = e.copy(), c.copy(), pos.copy()
        np.copyto(e[d:], pe, where=better)
        np.copyto(c[d:], pc_, where=better)
        np.copyto(pos[d:], pp, where=better)
        d *= 2
    return e, c, pos


class _Best:
    """Per probe row, the best ``(event, created, position)`` found so far."""

    def __init__(self, n: int) -> None:
        self.e = np.full(n, _MIN, np.int64)
        self.c = np.full(n, _MIN, np.int64)
        self.pos = np.full(n, -1, np.int64)

    def offer(self, hit: Bools, e: Ints, c: Ints, pos: Ints) -> None:
        """Keep each hit that is at least as good (its position is always later)."""
        win = hit & ((e > self.e) | ((e == self.e) & (c >= self.c)))
        self.e[win] = e[win]
        self.c[win] = c[win]
        self.pos[win] = pos[win]


class _Chunk:
    """Reused buffers of usable source rows: position, key id, event, created, available."""

    def __init__(self, rows: int) -> None:
        self.cols = np.empty((5, rows), np.int64)
        self.n = 0

    def add(
        self, view: FeatureView, batch: pa.RecordBatch, keys: _KeyIndex, probe: _Probe, base: int
    ) -> None:
        """Append the rows of ``batch`` (rows ``base`` on) that can be a value.

        That is: key among the entity rows', event time set, available by the last
        entity row, and within ``ttl`` of the first.
        """
        src = view.source
        e, e_ok = _micros(batch.column(src.timestamp))
        if src.created is not None:
            c, c_ok = _micros(batch.column(src.created))
            c = np.where(c_ok, c, e)
            avail = np.maximum(e, c)
        else:
            c = avail = e
        kid = keys.lookup([batch.column(k) for k in view.entity.keys])
        usable = (kid >= 0) & e_ok & (avail <= probe.hi)
        if view.ttl is not None:
            usable &= e >= probe.lo - _ttl_us(view)
        rows = np.flatnonzero(usable)
        n, r = self.n, len(rows)
        out = self.cols[:, n : n + r]
        np.add(rows, base, out=out[0])
        for i, col in enumerate((kid, e, c, avail), start=1):
            np.take(col, rows, out=out[i])
        self.n += r

    def offer(self, probe: _Probe, best: _Best, created: bool) -> None:
        """Offer each probe row its best available row among the held rows; empty them."""
        pos, kid, e, c, avail = self.cols[:, : self.n]
        self.n = 0
        code, ent_code, exact = _sort_keys(probe, kid, avail)
        order = np.argsort(code, kind="stable")  # equal codes keep position order
        code = code[order]
        k = kid[order]
        if created or not exact:
            be, bc, bp = _prefix_best(k, e[order], c[order], pos[order])
        else:  # sorted by (key, event, position): each row is the best so far
            be = bc = e[order]
            bp = pos[order]
        del order
        j = np.searchsorted(code, ent_code, side="right")
        del code, ent_code
        j -= 1
        hit = j >= 0
        np.maximum(j, 0, out=j)
        hit &= k[j] == probe.kid
        best.offer(hit, be[j], bc[j], bp[j])


def _ttl_us(view: FeatureView) -> int:
    ttl = view.ttl
    assert ttl is not None  # noqa: S101 - callers check
    return (ttl.days * 86_400 + ttl.seconds) * 1_000_000 + ttl.microseconds


def _batches(
    files: Sequence[str], columns: list[str], rows: int
) -> Iterator[tuple[int, int, pa.RecordBatch]]:
    """(file number, first row, batch) of ``columns`` over ``files``, in order.

    One thread: Arrow's threaded decoding held 20 MB more (per-thread allocator heaps).
    """
    for number, path in enumerate(files):
        # No pre-buffering: it would read every row group's column chunks up front.
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER)
        names = set(pf.schema_arrow.names)
        missing = [c for c in columns if c not in names]
        if missing:
            raise Unsupported(f"{path} lacks {missing}")
        first = 0
        for batch in pf.iter_batches(batch_size=rows, columns=columns, use_threads=False):
            yield number, first, batch
            first += batch.num_rows


def chosen_rows(
    q: ViewQuery,
    files: Sequence[str],
    keys: _KeyIndex,
    probe: _Probe,
    chunk: _Chunk,
    *,
    threads: int = 1,
) -> Ints:
    """Per probe row, the position of its value's source row, or -1."""
    view = q.view
    src = view.source
    cols = [*view.entity.keys, src.timestamp, *([src.created] if src.created else [])]
    best = _Best(len(probe.rows))
    if probe.rows.size:
        created = src.created is not None
        for number, first, batch in _ahead(_batches(files, cols, READ_ROWS), threads > 1):
            chunk.add(view, batch, keys, probe, (number << _FILE_SHIFT) + first)
            if chunk.n >= CHUNK_ROWS:
                _release()
                chunk.offer(probe, best, created)
        if chunk.n:
            chunk.offer(probe, best, created)
    if view.ttl is not None:
        best.pos[best.e < probe.t - _ttl_us(view)] = -1
    return best.pos


# -- the gather pass ---------------------------------------------------------------------


def _gather(
    q: ViewQuery, files: Sequence[str], rows: Ints, pos: Ints, m: int
) -> dict[str, pa.Array]:
    """The features of source rows ``pos`` (sorted) for entity ``rows``, nulls elsewhere.

    One column at a time, so that only that column's pages are decoded at once (two
    at a time in two threads held two readers' pages: 15 MB more). float64 columns go
    straight into NaN-filled arrays (null slots hold NaN, see
    :func:`prodml.store._training.frame_of`).
    """
    spans = []
    for number in range(len(files)):
        lo_i, hi_i = np.searchsorted(pos, [number << _FILE_SHIFT, (number + 1) << _FILE_SHIFT])
        spans.append((int(lo_i), int(hi_i)))

    def column(f: str) -> pa.Array:
        kind: pa.DataType | None = None
        values: Any = None
        valid: Bools | None = None
        pieces: list[pa.Array] = []
        for number, path in enumerate(files):
            lo_i, hi_i = spans[number]
            if lo_i == hi_i:
                continue
            local = pos[lo_i:hi_i] - (number << _FILE_SHIFT)
            targets = rows[lo_i:hi_i]
            for _, first, batch in _batches([path], [f], GATHER_ROWS):
                a, b = np.searchsorted(local, [first, first + batch.num_rows])
                if a == b:
                    continue
                col = batch.column(0)
                if kind is None:
                    kind = col.type
                elif kind != col.type:
                    raise Unsupported(f"feature {f} changes type between files")
                take = local[a:b] - first
                if pa.types.is_float64(kind):
                    if values is None:
                        values = np.full(m, np.nan)
                        valid = np.zeros(m, dtype=bool)
                    values[targets[a:b]] = col.to_numpy(zero_copy_only=False)[take]
                    valid[targets[a:b]] = _valid(col)[take]  # type: ignore[index]
                else:
                    pieces.append(col.take(pa.array(take)))
        if values is not None:
            return pa.array(values, mask=~valid)  # type: ignore[operator]
        if pieces:
            slot = np.full(m, -1, np.int64)
            slot[rows] = np.arange(len(rows))
            return pa.concat_arrays(pieces).take(pa.array(slot, mask=slot < 0))
        # No entity row has a value: an all-null column of the source's type.
        return pa.nulls(m, _source_type(files, f))

    return {f: column(f) for f in q.features}


def _ahead(items: Iterator[_T], on: bool) -> Iterator[_T]:
    """``items``, the next one fetched by a worker thread while this one is used.

    Parquet decoding releases the GIL: the next batch decodes while numpy sorts.
    """
    if not on:
        yield from items
        return
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def _release() -> None:
    """Hand the Parquet reader's freed pages back to the OS between passes.

    Arrow's allocator keeps freed pages for reuse; after a pass they would sit beside the
    next pass's numpy arrays, which glibc allocates.
    """
    pa.default_memory_pool().release_unused()


def _source_type(files: Sequence[str], column: str) -> pa.DataType:
    return pq.ParquetFile(files[0]).schema_arrow.field(column).type if files else pa.null()


def point_in_time(
    entity: pa.Table,
    queries: Sequence[ViewQuery],
    files: dict[str, list[str]],
    *,
    threads: int = 2,
) -> pa.Table:
    """``__row`` and every query's columns, in ``__row`` order; ``files`` per view name.

    With ``threads`` >= 2, the as-of pass decodes the next Parquet batch in a second
    thread while numpy works on the previous ones.

    Raises
    ------
    Unsupported
        When a source needs the SQL join.
    """
    for q in queries:
        if not files[q.view.name]:
            raise Unsupported("no files")
        for path in files[q.view.name]:
            if not os.path.isfile(path):
                raise Unsupported(f"not a local file: {path[:80]}")
    m = entity.num_rows
    t = np.asarray(entity.column("__ts").cast(pa.int64()).to_numpy(), dtype=np.int64)
    indexes: dict[str, tuple[_KeyIndex, _Probe]] = {}
    chosen = []
    chunk = _Chunk(CHUNK_ROWS + READ_ROWS)
    # Every view's as-of pass first: it holds a chunk's arrays, and no output yet.
    for q in queries:
        ent = q.view.entity
        if ent.name not in indexes:
            keys = _KeyIndex.build([entity.column(k) for k in ent.keys])
            indexes[ent.name] = (keys, _Probe.build(keys, t))
        keys, probe = indexes[ent.name]
        pos = chosen_rows(q, files[q.view.name], keys, probe, chunk, threads=threads)
        _release()
        has = pos >= 0
        rows, pos = probe.rows[has], pos[has]
        order = np.argsort(pos, kind="stable")
        chosen.append((rows[order], pos[order]))
    del indexes, chunk
    columns: dict[str, pa.Array | pa.ChunkedArray] = {"__row": entity.column("__row")}
    for q, (rows, pos) in zip(queries, chosen, strict=True):
        values = _gather(q, files[q.view.name], rows, pos, m)
        _release()
        for f, c in zip(q.features, q.columns, strict=True):
            columns[c] = values.pop(f)
    return pa.table(columns)
