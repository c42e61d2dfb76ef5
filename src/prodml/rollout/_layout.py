"""Which variant owns which part of the hash space, and moving as few keys as possible.

A layout is a list of segments ``(start, end, owner)`` covering ``[0, SPACE)`` in order,
without gaps. A router starts from the *contiguous* layout of its weights (one range per
variant, in the order given). When the weights change, :func:`relayout` returns a layout
for the new weights that moves the least possible share of keys: the keys a variant must
lose are ``old_share - new_share`` for each shrinking variant, and no layout can move
fewer (their sum, the total variation distance between the two weight vectors).

No fixed function of the weights alone can do that with three or more variants (a
variant's keys would have to depend only on its own weight, nested as it grows, and then
two variants of equal weight would own the same keys), so the layout after a change
depends on the layout before it: it is part of a router's saved state.
"""

from __future__ import annotations

from collections.abc import Sequence

from prodml.rollout._hashing import SPACE

__all__ = [
    "MAX_SEGMENTS",
    "Segment",
    "amounts",
    "contiguous",
    "from_table",
    "moved",
    "relayout",
    "to_table",
]

Segment = tuple[int, int, str]
"""``(start, end, owner)``: the variant ``owner`` gets hashes in ``[start, end)``."""

MAX_SEGMENTS = 100_000
"""Segments of a layout: beyond it a change falls back to the contiguous layout."""


def contiguous(names: Sequence[str], bounds: Sequence[int]) -> list[Segment]:
    """The layout of contiguous ranges ``(bounds[i-1], bounds[i])`` (empty ones dropped)."""
    out: list[Segment] = []
    low = 0
    for name, high in zip(names, bounds, strict=True):
        if high > low:
            out.append((low, high, name))
        low = high
    return out


def amounts(segments: Sequence[Segment]) -> dict[str, int]:
    """Size of the hash space each owner holds."""
    out: dict[str, int] = {}
    for start, end, owner in segments:
        out[owner] = out.get(owner, 0) + end - start
    return out


def moved(a: Sequence[Segment], b: Sequence[Segment]) -> int:
    """Size of the hash space whose owner differs between layouts ``a`` and ``b``."""
    same = i = j = 0
    while i < len(a) and j < len(b):
        a0, a1, ao = a[i]
        b0, b1, bo = b[j]
        if ao == bo:
            same += max(0, min(a1, b1) - max(a0, b0))
        if a1 <= b1:
            i += 1
        else:
            j += 1
    return SPACE - same


def _coalesce(segments: list[Segment]) -> list[Segment]:
    segments.sort()
    out: list[Segment] = []
    for seg in segments:
        if seg[1] <= seg[0]:
            continue
        if out and out[-1][2] == seg[2] and out[-1][1] == seg[0]:
            out[-1] = (out[-1][0], seg[1], seg[2])
        else:
            out.append(seg)
    return out


def relayout(
    current: Sequence[Segment], names: Sequence[str], bounds: Sequence[int]
) -> list[Segment]:
    """A layout giving each variant its share of the new weights, moving the fewest keys.

    ``names`` and ``bounds`` are the contiguous ranges of the new weights
    (:func:`~prodml.rollout._hashing.bounds_from_weights`): they fix each variant's
    size. When the contiguous layout itself moves no more keys than the least possible
    (always with two variants, or when only neighbouring ranges trade), it is returned,
    so a router keeps the layout a fresh ``Router(weights)`` has. Otherwise every
    shrinking variant gives up the top of its highest segments, and the growing
    variants, in the order given, take the freed pieces from the bottom of the space up.
    Deterministic: replicas applying the same changes agree.
    """
    target = contiguous(names, bounds)
    want = amounts(target)
    have = amounts(current)
    least = sum(max(0, n - have.get(v, 0)) for v, n in want.items())
    if moved(current, target) <= least:
        return target
    kept: list[Segment] = []
    freed: list[tuple[int, int]] = []
    excess = {v: n - want.get(v, 0) for v, n in have.items()}
    for start, end, owner in reversed(current):  # from the top of the space down
        give = max(0, min(excess[owner], end - start))
        if give > 0:
            excess[owner] -= give
            freed.append((end - give, end))
        if end - give > start:
            kept.append((start, end - give, owner))
    freed.sort()
    pieces = iter(freed)
    piece: tuple[int, int] | None = None
    for v in names:
        need = want.get(v, 0) - have.get(v, 0)
        while need > 0:
            if piece is None:
                piece = next(pieces)
            start, end = piece
            take = min(need, end - start)
            kept.append((start, start + take, v))
            need -= take
            piece = (start + take, end) if start + take < end else None
    out = _coalesce(kept)
    return out if len(out) <= MAX_SEGMENTS else target


def to_table(segments: Sequence[Segment]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """``(owners, upper bounds)`` for ``owners[bisect_right(bounds, h)]`` lookups."""
    return tuple(s[2] for s in segments), tuple(s[1] for s in segments)


def from_table(owners: Sequence[str], bounds: Sequence[int]) -> list[Segment]:
    """The segments of a table made by :func:`to_table` (its inverse)."""
    out: list[Segment] = []
    low = 0
    for owner, high in zip(owners, bounds, strict=True):
        out.append((low, high, owner))
        low = high
    return out
