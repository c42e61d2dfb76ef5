"""The in-memory point-in-time join of Parquet sources: sorted arrays instead of SQL.

The DuckDB offline store runs this for ``historical`` results held in memory (see
:meth:`DuckDBOfflineStore.point_in_time <prodml.store._duckdb.DuckDBOfflineStore>`); the
rules are those of :mod:`prodml.store.offline`. Per view, in two streaming passes over the
source's Parquet files (in DuckDB's file order, so ties resolve to the same row):

1. **As-of.** Only the key and time columns are read, ``READ_ROWS`` rows at a time.
   The entity rows, sorted once by ``(key, time)``, are the probes. Each usable source
   row (key among the entity rows', event time set, available by its key's last entity
   row, within ``ttl`` of its key's first) finds the first probe row of its key that it is
   available to (a branchless binary search within that key's probe rows, vectorised:
   ``log2`` of the most probe rows of one key steps), and is offered to that probe row:
   each keeps the greatest ``(event, created, position)`` offered (one unbuffered
   ``np.maximum.at`` per field; each probe row's best starts at its time minus ``ttl``,
   so older rows are not offered). No source row is sorted. At the end a segmented prefix
   scan (``log2`` of the most probe rows of one key steps) carries the best along each
   key's probe rows, since a row available to a probe row is available to the later
   ones of its key.
2. **Gather.** The chosen rows' features are read in position order, one column at a
   time, into one array per column, which one permutation puts in entity-row order.

Memory is the output plus a few int64 arrays per entity row and one batch's arrays; no
source column is ever held whole. Files this path cannot read exactly as DuckDB does
(naive timestamps, remote URLs, columns whose type changes between files, keys too many
to pack) raise :class:`Unsupported`, and the caller runs the SQL join instead.

The entity keys (dense key ids, the lookup of source keys) live in
:mod:`prodml.store._asof_keys`; their names still import from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml.store._asof_keys import _K1 as _K1  # noqa: PLC0414
from prodml.store._asof_keys import _K2 as _K2  # noqa: PLC0414
from prodml.store._asof_keys import _LOW_BYTES as _LOW_BYTES  # noqa: PLC0414
from prodml.store._asof_keys import _MAX, _MIN, Unsupported, _KeyIndex, _valid
from prodml.store._asof_keys import HASHED_KEY_BYTES as HASHED_KEY_BYTES  # noqa: PLC0414
from prodml.store._asof_keys import Bools as Bools  # noqa: PLC0414
from prodml.store._asof_keys import Ints as Ints  # noqa: PLC0414
from prodml.store._asof_keys import _array as _array  # noqa: PLC0414
from prodml.store._asof_keys import _codes as _codes  # noqa: PLC0414
from prodml.store._asof_keys import _Finder as _Finder  # noqa: PLC0414
from prodml.store._asof_keys import _finder as _finder  # noqa: PLC0414
from prodml.store._asof_keys import _IndexIn as _IndexIn  # noqa: PLC0414
from prodml.store._asof_keys import _string_hash as _string_hash  # noqa: PLC0414
from prodml.store._asof_keys import _string_words as _string_words  # noqa: PLC0414
from prodml.store._asof_keys import _StringFinder as _StringFinder  # noqa: PLC0414
from prodml.store._definitions import FeatureView
from prodml.store.offline import ViewQuery

# The `X as X` imports above re-export what moved to _asof_keys (the entity keys), so
# every name this module had still imports from here.
__all__ = ["READ_ROWS", "Unsupported", "point_in_time"]

_T = TypeVar("_T")

#: Rows per Parquet batch: the reader's pages and buffers grow with it.
READ_ROWS = 1 << 15
#: Batches of the as-of pass between hand-backs of the reader's freed pages.
RELEASE_EVERY = 2
#: Rows per batch of one feature column in the gather pass.
GATHER_ROWS = 1 << 16
#: Bytes of a Parquet column read at a time (pages stream through this buffer).
READ_BUFFER = 1 << 16
#: Sources of at most this many files keep them open across the gather's columns; a
#: larger one opens a file per use, so a partitioned folder cannot exhaust descriptors.
KEEP_OPEN = 64
#: Bits of a packed ``(key id, time)`` sort key; wider goes through time ranks.
DIRECT_BITS = 62
_FILE_SHIFT = 40  # position = file number << 40 | row in the file
_TS_FACTOR = {"s": 1_000_000, "ms": 1_000, "us": 1}


# -- times -------------------------------------------------------------------------------


def _micros(col: pa.Array) -> tuple[Ints, Bools | None]:
    """UTC microseconds of an aware timestamp column (floored), and which are set.

    ``None`` for which are set: all of them. The microseconds may be read-only (Arrow's
    buffer).
    """
    t = col.type
    if not pa.types.is_timestamp(t) or t.tz is None:
        raise Unsupported(f"not an aware timestamp column: {t}")
    if col.null_count == 0:
        raw = np.asarray(col.view(pa.int64()).to_numpy(), dtype=np.int64)
        ok = None
    else:
        raw = np.asarray(pc.fill_null(col.cast(pa.int64()), 0).to_numpy(), dtype=np.int64)
        ok = _valid(col)
    if t.unit == "us":
        return raw, ok
    return (raw // 1_000 if t.unit == "ns" else raw * _TS_FACTOR[t.unit]), ok


# -- the as-of pass ----------------------------------------------------------------------


@dataclass
class _Probe:
    """The entity rows a view can match, sorted by (key id, time), and their search codes.

    ``codes`` packs each row's ``(key id, time)`` into one int64 that sorts the same way
    (see :meth:`code`), padded with ``width`` int64 maxima; ``start[k]`` is the first row
    of key id ``k`` (``start[n_ids]`` is the end). ``width`` is a power of two greater
    than the most rows of one key, so a branchless binary search of ``log2(width)``
    steps from ``start[k]`` finds any row of key ``k``.
    """

    rows: Ints  # entity row numbers
    kid: Ints
    t: Ints
    n_ids: int
    lo: int  # the earliest and latest probe times
    hi: int
    start: Ints
    last: Ints  # per key id, its last probe time; the int64 minimum at the end (id -1)
    width: int
    codes: Ints
    times: Ints | None  # the distinct entity times when codes hold ranks, else None
    tbits: int

    @classmethod
    def build(cls, keys: _KeyIndex, t: Ints) -> _Probe:
        rows = np.flatnonzero(keys.ids >= 0)
        kid = keys.ids[rows]
        ts = t[rows]
        lo, hi = (int(ts.min()), int(ts.max())) if ts.size else (0, 0)
        tbits = (hi - (lo - 1)).bit_length()
        times = None
        if tbits + int(keys.n).bit_length() <= DIRECT_BITS:
            codes = (kid << tbits) | (ts - (lo - 1))
        else:  # a time becomes its rank among the entity times
            times = np.unique(ts)
            codes = kid * (len(times) + 1) + np.searchsorted(times, ts)
        # The codes sort as (key id, time) do; rows with equal codes (same key and
        # time) get the same value, so their order does not matter.
        order = np.argsort(codes)
        codes = codes[order]  # one array at a time: each unsorted one is freed before the next
        rows = rows[order]
        kid = kid[order]
        ts = ts[order]
        del order
        start = np.searchsorted(kid, np.arange(keys.n + 1, dtype=np.int64))
        longest = int(np.diff(start).max()) if keys.n else 0
        width = 1 << longest.bit_length()
        padded = np.concatenate((codes, np.full(width, _MAX, np.int64)))
        last = np.full(keys.n + 1, _MIN, np.int64)
        has = start[1:] > start[:-1]
        last[:-1][has] = ts[start[1:][has] - 1]
        return cls(rows, kid, ts, keys.n, lo, hi, start, last, width, padded, times, tbits)

    def window(self, view: FeatureView) -> Ints:
        """Per key id (and -1), the usable source rows' least event and latest availability.

        Shape ``(n_ids + 1, 2)``, one row per key, so that one gather fetches both. A
        source row is usable iff its event time is at least column 0 (the key's first
        probe time minus ``ttl``: an older row is out of ``ttl`` for every probe row of
        its key) and its availability at most column 1 (the key's last probe time).
        """
        out = np.empty((self.n_ids + 1, 2), np.int64)
        out[:, 0] = _MIN
        if view.ttl is not None:
            has = np.flatnonzero(self.start[1:] > self.start[:-1])
            out[has, 0] = _floor(self.t[self.start[has]], _ttl_us(view))
        out[:, 1] = self.last
        return out

    def code(self, kid: Ints, avail: Ints) -> Ints:
        """Codes of source rows: available to a probe row of the same key iff <= its code.

        Packed directly when key ids and times fit ``DIRECT_BITS`` (a time before every
        entity time counts as just before the earliest); otherwise a time becomes its
        rank among the entity times (``a <= t`` iff
        ``#{entity times < a} <= #{entity times < t}``, since ``t`` is one of them).
        """
        if self.times is None:
            rel = np.maximum(avail, self.lo - 1)
            rel -= self.lo - 1
            rel |= kid << self.tbits
            return rel
        return kid * (len(self.times) + 1) + np.searchsorted(self.times, avail)

    def first_available(self, kid: Ints, avail: Ints) -> Ints:
        """Per source row, the first probe row of its key it is available to.

        The key's probe rows are sorted by time, so the source row is available to that
        one and the rest of the key's. Every row must be available to its key's last
        probe row (see ``last``).
        """
        q = self.code(kid, avail)
        base = np.take(self.start, kid)
        half = self.width >> 1
        while half:  # base + half - 1 < len(codes): codes end with width maxima
            below = np.take(self.codes[half - 1 :], base) < q
            np.add(base, half, out=base, where=below)
            half >>= 1
        return base


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
    """Per probe row, the greatest ``(event, created, position)`` offered to it.

    A source row is offered to the first probe row it is available to; the running best
    along each key (:meth:`along_keys`) makes it every later probe row's too.
    """

    def __init__(self, n: int, created: bool, floor: Ints | None = None) -> None:
        # With ``floor`` (per probe row, its time minus ttl; taken, not copied): a
        # virtual row ``(floor, MIN, -1)`` that every row within ttl beats and every
        # older row loses to, so that rows out of ttl are never offered (the result is
        # the same: the latest available row out of ttl means no value, as would any
        # older one).
        self.e = np.full(n, _MIN, np.int64) if floor is None else floor
        self.c = np.full(n, _MIN, np.int64) if created else self.e
        self.pos = np.full(n, -1, np.int64)
        self.created = created

    def offer(self, at: Ints, e: Ints, c: Ints, pos: Ints, old: Ints) -> None:
        """Merge source rows lexicographically, one unbuffered ``maximum.at`` per field.

        Each row has its probe row ``at``, event ``e``, created ``c`` and position
        ``pos``; ``old`` is ``self.e[at]`` (rows with ``e < old`` need not be offered). Where a
        field's maximum rises, the later fields restart from nothing: they were the
        previous (now beaten) row's.
        """
        np.maximum.at(self.e, at, e)
        new = np.take(self.e, at)
        risen = at[new > old]
        self.pos[risen] = -1
        keep = e == new
        at, c, pos = at[keep], c[keep], pos[keep]
        if self.created:
            self.c[risen] = _MIN
            old = np.take(self.c, at)
            np.maximum.at(self.c, at, c)
            new = np.take(self.c, at)
            self.pos[at[new > old]] = -1
            keep = c == new
            at, pos = at[keep], pos[keep]
        np.maximum.at(self.pos, at, pos)

    def along_keys(self, probe: _Probe) -> tuple[Ints, Ints]:
        """Per probe row, the event time and position of its value (-1: none)."""
        e, _, pos = _prefix_best(probe.kid, self.e, self.c, self.pos)
        return e, pos


def _offer_batch(
    view: FeatureView,
    batch: pa.RecordBatch,
    keys: _KeyIndex,
    probe: _Probe,
    best: _Best,
    *,
    window: Ints,
    base: int,
) -> None:
    """Offer each usable row of ``batch`` (rows ``base`` on) to its first probe row.

    Usable: key among the entity rows', event time set, available by its key's last
    entity row, and within ``ttl`` of its key's first entity row (``window``, see
    :meth:`_Probe.window`).
    """
    src = view.source
    e, e_ok = _micros(batch.column(src.timestamp))
    c = e
    if src.created is not None:
        c, c_ok = _micros(batch.column(src.created))
        if c_ok is not None:
            c = np.where(c_ok, c, e)
        avail = np.maximum(e, c)
    else:
        avail = e
    kid = keys.lookup([batch.column(k) for k in view.entity.keys])
    bounds = np.take(window, kid, axis=0)  # the sentinel at -1 refuses unknown keys
    usable = avail <= bounds[:, 1]
    usable &= e >= bounds[:, 0]
    if e_ok is not None:
        usable &= e_ok
    rows = np.flatnonzero(usable)
    at = probe.first_available(np.take(kid, rows), np.take(avail, rows))
    old = np.take(best.e, at)
    e = np.take(e, rows)
    may = e >= old  # the others lose to what earlier batches gave
    rows, at, old, e = rows[may], at[may], old[may], e[may]
    c = np.take(c, rows) if src.created is not None else e
    rows += base
    best.offer(at, e, c, rows, old)


def _floor(t: Ints, ttl_us: int) -> Ints:
    """``t - ttl_us``, the int64 minimum where that is less."""
    if ttl_us > _MAX:  # over 292,000 years: the SQL join takes it
        raise Unsupported("ttl beyond int64 microseconds")
    out = np.full(len(t), _MIN, np.int64)
    ok = t >= _MIN + ttl_us
    np.subtract(t, ttl_us, out=out, where=ok)
    return out


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
        first = 0
        for batch in _column_batches(_open(path), path, columns, rows):
            yield number, first, batch
            first += batch.num_rows


def _open(path: str) -> pq.ParquetFile:
    # No pre-buffering: it would read every row group's column chunks up front.
    return pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER)


def _column_batches(
    pf: pq.ParquetFile, path: str, columns: list[str], rows: int
) -> Iterator[pa.RecordBatch]:
    """Batches of ``columns`` of ``pf``, the open file at ``path``, in order."""
    names = set(pf.schema_arrow.names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise Unsupported(f"{path} lacks {missing}")
    yield from pf.iter_batches(batch_size=rows, columns=columns, use_threads=False)


def chosen_rows(
    q: ViewQuery,
    files: Sequence[str],
    keys: _KeyIndex,
    probe: _Probe,
    *,
    threads: int = 1,
) -> Ints:
    """Per probe row, the position of its value's source row, or -1."""
    view = q.view
    src = view.source
    cols = [*view.entity.keys, src.timestamp, *([src.created] if src.created else [])]
    if not probe.rows.size:
        return np.full(0, -1, np.int64)
    return _as_of(view, _ahead(_batches(files, cols, READ_ROWS), threads > 1), keys, probe)


def _as_of(
    view: FeatureView,
    batches: Iterator[tuple[int, int, pa.RecordBatch]],
    keys: _KeyIndex,
    probe: _Probe,
) -> Ints:
    """Per probe row, the position of its value's source row among ``batches``, or -1."""
    # The floor becomes the best events (recomputed at the end rather than kept).
    floor = None if view.ttl is None else _floor(probe.t, _ttl_us(view))
    best = _Best(len(probe.rows), view.source.created is not None, floor)
    del floor
    window = probe.window(view)
    for i, (number, first, batch) in enumerate(batches):
        base = (number << _FILE_SHIFT) + first
        _offer_batch(view, batch, keys, probe, best, window=window, base=base)
        if i % RELEASE_EVERY == RELEASE_EVERY - 1:
            _release()
    _release()
    del window
    e, pos = best.along_keys(probe)
    if view.ttl is not None:
        pos[e < _floor(probe.t, _ttl_us(view))] = -1
    return pos


# -- the gather pass ---------------------------------------------------------------------


def _gather(
    q: ViewQuery, files: Sequence[str], rows: Ints, pos: Ints, m: int
) -> dict[str, pa.Array]:
    """The features of source rows ``pos`` (sorted) for entity ``rows``, nulls elsewhere.

    One column at a time, so that only that column's pages are decoded at once (two
    at a time in two threads held two readers' pages: 15 MB more; decoding the next
    batch in a second thread saved no measurable time). Each batch's chosen values are
    taken in position order into one compact array per column (sequential writes), and
    the column is put in entity-row order by one permutation at its end: scattering each
    batch straight to its entity rows wrote at random while the decoder's pages filled
    the cache. float64 columns become NaN-filled arrays (null slots hold NaN, see
    :func:`prodml.store._training.frame_of`).
    """
    n = len(rows)
    # Per entity row, its index among the chosen rows; n (a null slot) without a value.
    slot = np.full(m, n, np.int64)
    slot[rows] = np.arange(n, dtype=np.int64)
    no_value = slot == n

    out: dict[str, pa.Array] = {}
    kind: pa.DataType | None = None
    values: Any = None  # float64: the chosen values, in position order, then a NaN
    valid: Bools | None = None  # None: every chosen value is set
    pieces: list[pa.Array] = []

    def finish(f: str) -> pa.Array:
        if values is not None:
            if valid is None:
                return pa.array(np.take(values, slot), mask=no_value)
            return pa.array(np.take(values, slot), mask=~np.take(valid, slot))
        if pieces:
            return pa.concat_arrays(pieces).take(pa.array(slot, mask=no_value))
        # No entity row has a value: an all-null column of the source's type.
        return pa.nulls(m, _source_type(files, f))

    current: str | None = None
    for f, a, b, first, col in _chosen_batches(q.features, files, pos):
        if f != current:
            if current is not None:
                out[current] = finish(current)
            current, kind, values, valid, pieces = f, None, None, None, []
        if kind is None:
            kind = col.type
        elif kind != col.type:
            raise Unsupported(f"feature {f} changes type between files")
        take = pos[a:b] - first
        if pa.types.is_float64(kind):
            if values is None:
                values = np.empty(n + 1)
                values[n] = np.nan
            # mode="clip" (the indices are in range): "raise" would buffer the output
            np.take(col.to_numpy(zero_copy_only=False), take, out=values[a:b], mode="clip")
            if col.null_count:
                if valid is None:
                    valid = np.ones(n + 1, dtype=bool)
                    valid[n] = False
                np.take(_valid(col), take, out=valid[a:b], mode="clip")
        else:
            pieces.append(col.take(pa.array(take)))
    if current is not None:
        out[current] = finish(current)
    for f in q.features:  # every file of the view is empty of chosen rows
        if f not in out:
            out[f] = pa.nulls(m, _source_type(files, f))
    _release()
    return out


def _chosen_batches(
    features: Sequence[str], files: Sequence[str], pos: Ints
) -> Iterator[tuple[str, int, int, int, pa.Array]]:
    """(feature, first chosen index, end chosen index, first position, batch column).

    Per feature, the batches of ``files`` that hold chosen rows ``pos`` (sorted), in
    order; the chosen rows ``pos[a:b]`` are in the batch. Each file is opened once when
    there are at most :data:`KEEP_OPEN` of them, and closed at the end.
    """
    opened: dict[int, pq.ParquetFile] = {}
    keep = len(files) <= KEEP_OPEN
    ends = np.searchsorted(pos, np.arange(len(files) + 1, dtype=np.int64) << _FILE_SHIFT)
    try:
        for f in features:
            for number, path in enumerate(files):
                lo, hi = int(ends[number]), int(ends[number + 1])
                if lo == hi:
                    continue
                pf = opened.get(number) or _open(path)
                if keep:
                    opened[number] = pf
                local = pos[lo:hi] - (number << _FILE_SHIFT)
                first = 0
                try:
                    for batch in _column_batches(pf, path, [f], GATHER_ROWS):
                        n_rows = batch.num_rows
                        a, b = np.searchsorted(local, [first, first + n_rows])
                        if a < b:
                            at = first + (number << _FILE_SHIFT)
                            yield f, lo + int(a), lo + int(b), at, batch.column(0)
                        first += n_rows
                finally:
                    if not keep:
                        pf.close()
    finally:
        for pf in opened.values():
            pf.close()


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
    thread while numpy works on the previous one.

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
    # Every view's as-of pass first: it holds a batch's arrays, and no output yet.
    # (Gathering one view while the next one's as-of pass ran held 14 MB more.)
    for q in queries:
        ent = q.view.entity
        if ent.name not in indexes:
            keys = _KeyIndex.build([entity.column(k) for k in ent.keys])
            indexes[ent.name] = (keys, _Probe.build(keys, t))
        keys, probe = indexes[ent.name]
        pos = chosen_rows(q, files[q.view.name], keys, probe, threads=threads)
        has = pos >= 0
        rows, pos = probe.rows[has], pos[has]
        order = np.argsort(pos)  # positions are distinct
        chosen.append((rows[order], pos[order]))
    if queries:
        del indexes, keys, probe  # the output takes their place
    columns: dict[str, pa.Array | pa.ChunkedArray] = {"__row": entity.column("__row")}
    for q, (rows, pos) in zip(queries, chosen, strict=True):
        values = _gather(q, files[q.view.name], rows, pos, m)
        for f, c in zip(q.features, q.columns, strict=True):
            columns[c] = values.pop(f)
    return pa.table(columns)
