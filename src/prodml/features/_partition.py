"""Fitting a FeaturePipeline from partition states: the pieces behind ``start_fit``.

A pipeline fits in passes; in each pass every column's next stateful step collects a
mergeable state. Partitions compute states independently (on Dask workers, say) and the
states merge in stream order. ``Moments`` (means, variances) sums fixed blocks aligned to
the whole stream, so a partition that knows its position (:data:`Position`) sums exactly
the blocks one pass would (:class:`MomentsPiece`), and the merged fit is bit for bit the
single-machine one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prodml.errors import ConfigError
from prodml.features._base import Floats
from prodml.features._program import Program
from prodml.features._stats import BLOCK, Moments
from prodml.schema import Schema

__all__ = ["MomentsPiece", "Plan", "Position", "Probe", "fresh_states", "open_pass"]


Position = tuple[int, float | None]
"""Where a partition's values start in one pass's stream: (offset, first value of the stream)."""


class Probe:
    """Stands in for a Moments state: counts the values a step would feed it."""

    __slots__ = ("first", "n")

    def __init__(self) -> None:
        self.n = 0
        self.first: float | None = None

    def update(self, values: Floats) -> None:
        if values.size:
            if self.first is None:
                self.first = float(values[0])
            self.n += int(values.size)


class MomentsPiece:
    """One partition's share of a Moments stream, summed in blocks aligned to the stream.

    ``Moments`` sums blocks of ``BLOCK`` values aligned to the start of the whole stream,
    shifted by its first value. Knowing its offset and that first value, a partition sums
    the whole blocks it holds exactly as one pass would, and keeps the values before its
    first block boundary (``head``) and after its last (the inner state's rest); merging
    pieces in stream order completes the straddling blocks, so the merged state is the one
    a single pass builds, bit for bit.
    """

    __slots__ = ("crossed", "head", "inner", "need")

    def __init__(self, offset: int, shift: float) -> None:
        self.need = (-offset) % BLOCK
        self.head: Floats = np.empty(0)
        self.crossed = self.need == 0
        self.inner = Moments()
        self.inner.shift = shift

    def update(self, values: Floats) -> None:
        if values.size == 0:
            return
        if not self.crossed:
            take = self.need - self.head.size
            assert self.inner.shift is not None  # noqa: S101 - set at construction
            with np.errstate(over="ignore", invalid="ignore"):
                self.head = np.concatenate([self.head, values[:take] - self.inner.shift])
            values = values[take:]
            if self.head.size < self.need:
                return
            self.crossed = True
        self.inner.update(values)

    def merge(self, other: MomentsPiece) -> None:
        """Append ``other``, the piece that follows this one in the stream."""
        if not self.crossed:  # all of self is head: other continues the same block
            self.head = np.concatenate([self.head, other.head])
            self.crossed, self.inner = other.crossed, other.inner
            return
        # The private sums of Moments are read here on purpose: this class completes the
        # blocks a partition boundary cut, which only the state's own layout can express.
        mine, theirs = self.inner, other.inner
        combined = np.concatenate([mine._rest, other.head])
        mine.n += int(other.head.size)
        if combined.size == BLOCK:
            mine.add_blocks(combined.reshape(-1, BLOCK))
            combined = combined[:0]
        if not other.crossed:
            mine._rest = combined
            return
        mine.n += theirs.n
        mine.overflow = mine.overflow or theirs.overflow
        mine._s1 += theirs._s1
        mine._s2 += theirs._s2
        mine._rest = theirs._rest

    def result(self) -> Moments:
        """The Moments state of the merged stream (the piece at offset 0)."""
        if self.head.size:  # pragma: no cover - a stream's first piece has no head
            raise ConfigError("partition positions do not start at offset 0")
        return self.inner


Plan = tuple[Schema, list[Program], dict[str, int], dict[str, tuple[int, Any]]]
"""An open distributed fit: schema, programs, step positions, the open pass's states."""


def open_pass(programs: list[Program], pos: dict[str, int]) -> dict[str, tuple[int, Any]]:
    """Open the next fit pass: each column's next stateful step and a fresh state.

    Stateless steps on the way are finalized; ``pos`` moves to the stateful step.
    """
    states = {}
    for p in programs:
        i = pos[p.column]
        while i < len(p.steps):
            state = p.steps[i].new_state(p.column, p.kinds[i])
            if state is not None:
                states[p.column] = (i, state)
                break
            p.steps[i].finalize(p.column, None, p.kinds[i])
            i += 1
        pos[p.column] = i
    return states


def fresh_states(
    programs: list[Program], opened: dict[str, tuple[int, Any]]
) -> dict[str, tuple[int, Any]]:
    """New empty states for the columns of an open pass."""
    by_col = {p.column: p for p in programs}
    out = {}
    for col, (i, _) in opened.items():
        p = by_col[col]
        out[col] = (i, p.steps[i].new_state(col, p.kinds[i]))
    return out
