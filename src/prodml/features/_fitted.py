"""The fitted state of a :class:`~prodml.features.FeaturePipeline`, as one object.

Everything ``transform`` and ``transform_record`` read (the programs and the steps they
hold, the output names, the input schema, the compiled record path) lives in one
:class:`FittedState`. A fit builds a new one aside, over its own copies of the steps,
and the pipeline swaps it in with one assignment: a transform running in another thread
reads the state it started with, whole, whatever a refit does meanwhile. A state is
never changed once installed (the record path, compiled on the first record, is the one
exception: a cache of code derived from the rest, set once under a lock).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from prodml.features._base import Step
from prodml.features._program import Program
from prodml.features._record import RecordFn, exact_width
from prodml.schema import Schema

__all__ = ["FittedState", "adopt", "copies_of", "private_steps"]


class FittedState:
    """One fit's programs, output names and input schema, read whole by each transform."""

    __slots__ = ("feature_names", "known", "n_read", "programs", "record_fn", "schema")

    schema: Schema
    programs: list[Program]
    feature_names: list[str]
    known: frozenset[str]
    n_read: int
    record_fn: RecordFn | None

    def __init__(self, schema: Schema, programs: list[Program], feature_names: list[str]) -> None:
        self._set(schema, programs, feature_names)

    def _set(self, schema: Schema, programs: list[Program], feature_names: list[str]) -> None:
        self.schema = schema
        self.programs = programs
        self.feature_names = feature_names
        self.known = frozenset(schema.names)
        self.n_read = exact_width(self.known, programs)
        # Compiled on the first record (FeaturePipeline._record_path), not at fit: most
        # fitted pipelines never see a single record.
        self.record_fn = None

    def __getstate__(self) -> tuple[Schema, list[Program], list[str]]:
        # The compiled record path is code, not data: compiled again on the first record.
        return self.schema, self.programs, self.feature_names

    def __setstate__(self, state: tuple[Schema, list[Program], list[str]]) -> None:
        self._set(*state)


def private_steps(programs: Sequence[Program]) -> list[Program]:
    """``programs`` over shallow copies of their steps (a step in two programs: one copy).

    A state installed from a saved or pickled pipeline would otherwise share its step
    objects with ``FeaturePipeline.steps``, which a later fit updates in place. A copy
    shares the fitted dicts, which no fit changes: a fit replaces them (``start_fit``).
    """
    copies: dict[int, Step] = {}
    for p in programs:
        chain = []
        for step in p.steps:
            mine = copies.get(id(step))
            if mine is None:
                mine = copies[id(step)] = copy.copy(step)
            chain.append(mine)
        p.steps = chain
    return list(programs)


def adopt(user: Sequence[Step], fitted: Sequence[Step]) -> None:
    """Show each fitted copy's state on the user's step (``pipe.steps[i].mean_``).

    The steps a user holds mirror the installed state; no transform reads them.
    """
    for mine, done in zip(user, fitted, strict=True):
        vars(mine).update(vars(done))


def copies_of(steps: Sequence[Step]) -> list[Step]:
    """Shallow copies of the steps, to fit aside (their ``start_fit`` replaces the dicts)."""
    return [copy.copy(s) for s in steps]
