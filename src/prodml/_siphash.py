"""SipHash-2-4, the keyed hash (a PRF with a 128-bit key) behind privacy tokens (private).

Aumasson and Bernstein, "SipHash: a fast short-input PRF" (2012). Two forms giving the same
64-bit values: :func:`siphash24` hashes one message in plain Python (single tokens), and
:func:`siphash24_many` hashes many messages at once with numpy, word by word across all
messages (an identifier column of 200,000 values costs a few numpy passes, not 200,000
Python calls). Tests check both against each other, the paper's test vector and pandas'
C implementation.

Examples
--------
>>> key = bytes(range(16))
>>> hex(siphash24(key, bytes(range(15))))  # the paper's Appendix A vector
'0xa129ca6149be45e5'
>>> import numpy as np
>>> data = np.frombuffer(bytes(range(15)), np.uint8)
>>> hex(int(siphash24_many(key, data, np.array([0, 15]))[0]))
'0xa129ca6149be45e5'
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["siphash24", "siphash24_many"]

_M = 0xFFFFFFFFFFFFFFFF
_C = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)
U64 = npt.NDArray[np.uint64]


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M


def _rounds(v0: int, v1: int, v2: int, v3: int, n: int) -> tuple[int, int, int, int]:
    for _ in range(n):
        v0 = (v0 + v1) & _M
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _M
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _M
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _M
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(key: bytes, message: bytes) -> int:
    """SipHash-2-4 of one message under a 16-byte key, as an int in [0, 2**64)."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v0, v1, v2, v3 = k0 ^ _C[0], k1 ^ _C[1], k0 ^ _C[2], k1 ^ _C[3]
    n = len(message)
    tail = n - n % 8
    for i in range(0, tail, 8):
        m = int.from_bytes(message[i : i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    m = int.from_bytes(message[tail:], "little") | ((n & 0xFF) << 56)
    v3 ^= m
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
    v0 ^= m
    v2 ^= 0xFF
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


_S = {b: (np.uint64(b), np.uint64(64 - b)) for b in (13, 16, 17, 21, 32)}


def _rotl_np(x: U64, b: int, tmp: U64) -> None:
    """Rotate ``x`` left by ``b`` bits in place (``tmp``: scratch of the same size)."""
    left, right = _S[b]
    np.right_shift(x, right, out=tmp)
    np.left_shift(x, left, out=x)
    np.bitwise_or(x, tmp, out=x)


def _rounds_np(v: list[U64], n: int, tmp: U64) -> None:
    """``n`` SipRounds on the state ``v``, in place (every array a view of the same rows)."""
    v0, v1, v2, v3 = v
    for _ in range(n):
        v0 += v1
        _rotl_np(v1, 13, tmp)
        v1 ^= v0
        _rotl_np(v0, 32, tmp)
        v2 += v3
        _rotl_np(v3, 16, tmp)
        v3 ^= v2
        v0 += v3
        _rotl_np(v3, 21, tmp)
        v3 ^= v0
        v2 += v1
        _rotl_np(v1, 17, tmp)
        v1 ^= v2
        _rotl_np(v2, 32, tmp)


def siphash24_many(
    key: bytes, data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.integer]
) -> U64:
    """SipHash-2-4 of every message ``data[offsets[i]:offsets[i + 1]]`` under a 16-byte key.

    Messages are processed word by word together, longest first: round ``j`` compresses
    word ``j`` of the messages that have one (a prefix of them, so slices, not copies).
    The numpy work is proportional to the longest message.
    """
    starts = np.asarray(offsets[:-1], dtype=np.int64)
    lengths = np.asarray(offsets[1:], dtype=np.int64) - starts
    n = lengths.size
    if n == 0:
        return np.empty(0, np.uint64)
    order = np.argsort(-lengths, kind="stable")
    starts, lengths = starts[order], lengths[order]
    k0 = np.uint64(int.from_bytes(key[:8], "little"))
    k1 = np.uint64(int.from_bytes(key[8:16], "little"))
    v = [np.full(n, k ^ np.uint64(c)) for k, c in zip((k0, k1, k0, k1), _C, strict=True)]
    # The little-endian 64-bit word at every byte offset of the data (eight zero bytes
    # appended keep the last ones in bounds): one gather per round of words.
    padded = np.concatenate([np.asarray(data, dtype=np.uint8), np.zeros(8, np.uint8)])
    words = np.ndarray((padded.size - 7,), dtype="<u8", buffer=padded, strides=(1,))
    tmp = np.empty(n, np.uint64)
    full_words = lengths // 8
    tail = lengths % 8
    # Rows with at least j + 1 words (full or final) form a prefix of the sorted rows.
    active = np.searchsorted(-full_words, -np.arange(int(full_words[0]) + 1), side="right")
    for j, count in enumerate(active.tolist()):
        m = words[starts[:count] + 8 * j].astype(np.uint64)
        final = np.flatnonzero(full_words[:count] == j)
        if final.size:
            r = tail[final].astype(np.uint64)
            mask = (np.uint64(1) << (r * np.uint64(8))) - np.uint64(1)
            m[final] = (m[final] & mask) | ((lengths[final].astype(np.uint64) & 0xFF) << 56)
        sub = [x[:count] for x in v]  # views: the rounds update v in place
        sub[3] ^= m
        _rounds_np(sub, 2, tmp[:count])
        sub[0] ^= m
    v[2] ^= np.uint64(0xFF)
    _rounds_np(v, 4, tmp)
    out = np.empty(n, np.uint64)
    out[order] = v[0] ^ v[1] ^ v[2] ^ v[3]
    return out
