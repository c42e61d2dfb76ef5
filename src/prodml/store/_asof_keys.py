"""Entity keys of the in-memory point-in-time join: dense key ids and source-key lookups.

:class:`_KeyIndex` gives each distinct key of the entity rows (one or several columns)
a dense id; its :meth:`~_KeyIndex.lookup` maps a batch of source keys to those ids (-1
for a key no entity row has). A small integer range goes through a lookup table; other
keys through one finder per column (:class:`_IndexIn`, Arrow's ``index_in``, or
:class:`_StringFinder`, a hash table of the entity strings built once) and mixed-radix
codes. :class:`Unsupported` (re-exported by :mod:`prodml.store._asof`) says a source needs
the SQL join instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["HASHED_KEY_BYTES", "Bools", "Ints", "Unsupported"]

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_MIN = np.iinfo(np.int64).min
_MAX = np.iinfo(np.int64).max


class Unsupported(Exception):  # noqa: N818 - a signal to the caller, never seen by users
    """These sources need the SQL join (the reason is the message)."""


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
