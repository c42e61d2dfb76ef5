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

__all__ = ["READ_ROWS", "Unsupported", "point_in_time"]

_T = TypeVar("_T")
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

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
_MIN = np.iinfo(np.int64).min
_MAX = np.iinfo(np.int64).max
_TS_FACTOR = {"s": 1_000_000, "ms": 1_000, "us": 1}


class Unsupported(Exception):  # noqa: N818 - a signal to the caller, never seen by users
    """These sources need the SQL join (the reason is the message)."""


# -- entity keys -------------------------------------------------------------------------


@dataclass
class _KeyIndex:
    """Dense ids of one entity's keys in the entity rows, and the lookup of source keys."""

    ids: Ints  # per entity row; -1 for a row with a null key
    n: int
    lut: Ints | None  # single int key over a small range: id by key - lo + 1, padded
    lo: int
    finders: list[_Finder]  # otherwise: per key column, its distinct entity values
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
            if hi - lo < max(2 * m, 1 << 16) and lo > _MIN and hi < _MAX:
                # Padded: slot 0 for keys below lo (and nulls), the last for keys above hi.
                lut = np.full(hi - lo + 3, -1, np.int64)
                lut[present - lo + 1] = 0
                used = lut == 0
                n = int(used.sum())
                lut[used] = np.arange(n, dtype=np.int64)
                ids = np.where(valid, lut[np.where(valid, vals, lo) - lo + 1], -1)
                return cls(ids, n, lut, lo, [], None)
        finders = [_finder(_array(pc.unique(pc.drop_null(c)))) for c in cols]
        codes = _codes(cols, finders)
        if len(cols) == 1:
            return cls(codes, finders[0].n, None, 0, finders, None)
        ok = codes >= 0
        combined, inverse = np.unique(codes[ok], return_inverse=True)
        ids = np.full(m, -1, np.int64)
        ids[ok] = inverse
        return cls(ids, len(combined), None, 0, finders, combined)

    def lookup(self, cols: list[pa.Array]) -> Ints:
        """The id of each source row's key, -1 for a key no entity row has (or null)."""
        if self.lut is not None:
            col = cols[0]
            if pa.types.is_uint64(col.type):
                raise Unsupported("uint64 keys")
            below = self.lo - 1  # the padded lut's slot 0; a null reads as it
            try:
                filled = col if col.null_count == 0 else pc.fill_null(col, self.lo)
                vals = np.asarray(filled.to_numpy(), dtype=np.int64)
            except (pa.ArrowInvalid, OverflowError) as err:
                raise Unsupported(f"key values: {err}") from err
            # The slot is ``vals - below`` modulo 2**64: it lies within the lut exactly
            # for the keys lo - 1 .. hi + 1 (lo > int64 min, hi < int64 max), whatever
            # wraps; any other key clips to slot 0 or the last, the padding, both -1.
            at = np.subtract(vals, below)
            if col.null_count:
                at[~_valid(col)] = 0
            return np.take(self.lut, at, mode="clip")
        if self.n == 0:
            return np.full(len(cols[0]), -1, np.int64)
        codes = _codes(cols, self.finders)
        if self.combined is None:
            return codes
        at = np.minimum(np.searchsorted(self.combined, codes), len(self.combined) - 1)
        return np.where((codes >= 0) & (self.combined[at] == codes), at, -1)


def _valid(col: pa.Array | pa.ChunkedArray) -> Bools:
    if col.null_count == 0:
        return np.ones(len(col), dtype=bool)
    return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)


def _codes(cols: Sequence[pa.Array | pa.ChunkedArray], finders: list[_Finder]) -> Ints:
    """Mixed-radix codes of the rows' keys among ``finders``', -1 where a key is absent."""
    if len(finders) == 1:
        return finders[0].find(cols[0])
    width = 1
    for f in finders:
        width *= max(f.n, 1)
    if width >= 1 << 62:
        raise Unsupported("too many distinct keys to pack")
    codes = np.zeros(len(cols[0]), np.int64)
    absent = np.zeros(len(cols[0]), dtype=bool)
    scale = 1
    for col, f in zip(cols, finders, strict=True):
        at = f.find(col)
        absent |= at < 0
        at *= scale
        codes += at
        scale *= max(f.n, 1)
    codes[absent] = -1
    return codes


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


class _IndexIn:
    """Positions among distinct ``values`` by Arrow's ``index_in``.

    Arrow builds its hash table of ``values`` again at every call: for many distinct
    strings that costs more than the lookups (see :class:`_StringFinder`).
    """

    def __init__(self, values: pa.Array) -> None:
        self.values = values
        self.n = len(values)

    def find(self, col: pa.Array | pa.ChunkedArray) -> Ints:
        """Per row, its position among the values, or -1 (absent or null)."""
        u = self.values
        try:
            found = pc.index_in(col.cast(u.type) if col.type != u.type else col, value_set=u)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise Unsupported(f"key values: {err}") from err
        return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int64)


#: Longest entity key string, in UTF-8 bytes, looked up by :class:`_StringFinder`.
HASHED_KEY_BYTES = 64
_K1 = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multipliers of the string hash
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)


def _string_words(col: pa.Array, nw: int) -> tuple[list[npt.NDArray[np.uint64]], Ints]:
    """The first ``8 * nw`` bytes of each string as ``nw`` zero-padded uint64s, and lengths.

    Straight from the Arrow buffers (no Python strings). When every string has the same
    length ``L`` (fixed-width ids, zero-padded codes, UUIDs), the strings sit back to back,
    so word ``j`` of every row is one strided view (stride ``L``) of a copy of the data
    padded with 8 zero bytes. Otherwise word ``j`` of a row is the 8 bytes at its offset
    plus ``8 * j``, gathered through an unaligned view of the data buffer, with the bytes
    past the row's end masked off; near the buffer's end a window starts earlier and is
    shifted (little-endian: the first byte is the lowest). Null rows' words are
    meaningless.
    """
    wide = pa.types.is_large_string(col.type)
    n = len(col)
    bufs = col.buffers()
    step = 8 if wide else 4
    assert bufs[1] is not None  # noqa: S101 - string arrays always have offsets
    off = np.frombuffer(
        bufs[1], dtype=np.int64 if wide else np.int32, count=n + 1, offset=col.offset * step
    ).astype(np.int64)
    lens = np.diff(off)
    shortest, longest = (int(lens.min()), int(lens.max())) if n else (0, 0)
    lo, hi = (int(off[0]), int(off[-1])) if n else (0, 0)
    words = []
    if n and shortest == longest and shortest > 0 and bufs[2] is not None:
        size = longest
        data = np.zeros(hi - lo + 8, np.uint8)
        data[: hi - lo] = np.frombuffer(bufs[2], dtype=np.uint8, count=hi - lo, offset=lo)
        for j in range(nw):
            if 8 * j >= size:  # past every string's end
                words.append(np.zeros(n, np.uint64))
                continue
            w: npt.NDArray[np.uint64] = np.ndarray(
                (n,), dtype="<u8", buffer=data, offset=8 * j, strides=(size,)
            ).copy()
            if size < 8 * (j + 1):
                w &= _LOW_BYTES[size - 8 * j]
            words.append(w)
        return words, lens
    if bufs[2] is None or hi < 8:  # too short for one window: a padded copy
        data = np.zeros(max(hi, 0) + 8, np.uint8)
        if hi > 0 and bufs[2] is not None:
            data[:hi] = np.frombuffer(bufs[2], dtype=np.uint8, count=hi)
        size = len(data)
    else:
        data = np.frombuffer(bufs[2], dtype=np.uint8, count=hi)
        size = hi
    windows: npt.NDArray[np.uint64] = np.ndarray(
        (size - 7,), dtype="<u8", buffer=data, strides=(1,)
    )
    last = int(off[-2]) if n else 0  # offsets ascend: the last row's windows start last
    for j in range(nw):
        at = off[:-1] + 8 * j if j else off[:-1]
        if last + 8 * j <= size - 8:
            w = windows[at]
        else:  # where a window would pass the end, start it early and shift
            near = np.minimum(at, size - 8)
            w = windows[near]
            shift = np.minimum(at - near, 7)
            shift *= 8
            w >>= shift.astype(np.uint64)
        if shortest < 8 * (j + 1):
            w &= _LOW_BYTES[np.clip(lens - 8 * j, 0, 8)]
        words.append(w)
    return words, lens


def _string_hash(words: list[npt.NDArray[np.uint64]], lens: Ints) -> npt.NDArray[np.uint64]:
    """A 64-bit multiply-xor hash of each row's padded words and length."""
    h = lens.astype(np.uint64)
    h *= _K2
    for w in words:
        h ^= w
        h *= _K1
    h ^= h >> np.uint64(29)
    h *= _K2
    return h


class _StringFinder:
    """Positions among distinct strings ``values``, by two hash tables built once.

    Each value's 64-bit hash (:func:`_string_hash`) is computed once. Each table has at
    least two slots per value. The first holds, per slot, the first value whose hash's
    top bits name it; the second, among the values that lost their slot in the first,
    the first whose next bits name it. A source string is hashed from the Arrow buffers
    and compared (length and words) with the value in its first-table slot: one gather
    per word, no search. Rows whose slot holds another value ask the second table the
    same way; the very few whose slot there holds another value too are looked up among
    the sorted hashes of the values that lost both slots (a binary search). An empty slot
    means absent: a value loses a slot only to another. A hash collision can never give
    a wrong match. Values with equal hashes, or longer than ``HASHED_KEY_BYTES``, are
    refused (:class:`_IndexIn` serves them).
    """

    def __init__(self, values: pa.Array) -> None:
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            raise Unsupported(f"not a string column: {values.type}")
        if values.null_count or not len(values):
            raise Unsupported("null or no values")
        self.type = values.type
        self.n = n = len(values)
        longest = int(pc.max(pc.binary_length(values)).as_py())
        if longest > HASHED_KEY_BYTES:
            raise Unsupported("keys too long to hash")
        self.nw = max((longest + 7) // 8, 1)
        words, lens = _string_words(values, self.nw)
        h = _string_hash(words, lens)
        hs = np.sort(h)
        if n > 1 and bool((hs[1:] == hs[:-1]).any()):
            raise Unsupported("equal hashes")
        del hs
        bits = max((2 * n - 1).bit_length(), 4)
        self.shift = np.uint64(64 - bits)
        self.shift2 = np.uint64(max(64 - 2 * bits, 0))
        self.mask = np.uint64((1 << bits) - 1)
        # Slot -> value number; n (an empty slot) points at a padded entry of length
        # -1, which no string matches.
        self.first = np.full(1 << bits, n, np.int64)
        self.second = np.full(1 << bits, n, np.int64)
        home, won = np.unique(self._top(h), return_index=True)
        self.first[home] = won
        lost = np.ones(n, dtype=bool)
        lost[won] = False
        rest = np.flatnonzero(lost)
        home, won = np.unique(self._next(h[rest]), return_index=True)
        self.second[home] = rest[won]
        lost[rest[won]] = False
        rest = np.flatnonzero(lost)  # the few that lost both slots, by hash for the search
        by_hash = np.argsort(h[rest])
        self.order = rest[by_hash]
        self.hashes = h[self.order]
        self.lens = np.append(lens, -1)
        self.words = [np.append(w, np.uint64(0)) for w in words]
        # Every value of one length: a source batch of strings of that length is
        # compared by its words alone.
        self.fixed = int(lens[0]) if bool((lens == lens[0]).all()) else None

    def _top(self, h: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
        return (h >> self.shift).view(np.intp)  # < 2**bits: the same value as a signed int

    def _next(self, h: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
        # The bits below the top ones (the multiply mixes the high bits best).
        return ((h >> self.shift2) & self.mask).view(np.intp)

    def _same(self, at: Ints, words: list[npt.NDArray[np.uint64]], lens: Ints | None) -> Bools:
        """Whether each row equals value ``at`` (``lens`` None: all of the values' length)."""
        if lens is None:
            same = np.take(self.words[0], at) == words[0]
        else:
            same = np.take(self.lens, at) == lens
            same &= np.take(self.words[0], at) == words[0]
        for mine, theirs in zip(self.words[1:], words[1:], strict=True):
            same &= np.take(mine, at) == theirs
        return same

    def find(self, col: pa.Array | pa.ChunkedArray) -> Ints:
        """Per row, its position among the values, or -1 (absent or null)."""
        if isinstance(col, pa.ChunkedArray):
            parts = [self.find(c) for c in col.chunks]
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            try:
                col = col.cast(self.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise Unsupported(f"key values: {err}") from err
        words, lens = _string_words(col, self.nw)
        h = _string_hash(words, lens)
        at = np.take(self.first, self._top(h))
        empty = at == self.n  # absent: a value loses its slot only to another
        if self.fixed is not None and bool((lens == self.fixed).all()):
            found = self._same(at, words, None)
            found &= ~empty  # (an empty slot's padding entry has all-zero words)
        else:
            found = self._same(at, words, lens)
        other = np.flatnonzero(~(found | empty))  # the slot holds another value
        if other.size:
            h_o = np.take(h, other)
            w_o = [np.take(w, other) for w in words]
            lens_o = np.take(lens, other)
            at_o = np.take(self.second, self._next(h_o))
            ok = self._same(at_o, w_o, lens_o)
            last = np.flatnonzero(~ok & (at_o != self.n))
            if last.size and self.order.size:  # that slot holds another value too: search
                j = np.minimum(np.searchsorted(self.hashes, h_o[last]), self.order.size - 1)
                cand = np.take(self.order, j)
                hit = self._same(cand, [w[last] for w in w_o], lens_o[last])
                at_o[last[hit]] = cand[hit]
                ok[last[hit]] = True
            at[other[ok]] = at_o[ok]
            found[other[ok]] = True
        if col.null_count:
            found &= _valid(col)
        np.putmask(at, ~found, -1)
        return at


_Finder = _IndexIn | _StringFinder


def _finder(values: pa.Array) -> _Finder:
    """A :class:`_StringFinder` for strings that it takes, else an :class:`_IndexIn`."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        try:
            return _StringFinder(values)
        except Unsupported:
            pass
    return _IndexIn(values)


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
