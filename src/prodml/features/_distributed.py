"""The partition-fit protocol of :class:`~prodml.features.FeaturePipeline`.

A fit whose passes are computed elsewhere (on Dask workers, say) from partition states:
:meth:`DistributedFit.start_fit`, then per pass ``partition_states`` of every partition,
``merge_states`` and ``finish_pass``. A mixin, so that the pipeline module keeps to the
fit/transform core; ``FeaturePipeline`` supplies the layout methods declared below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prodml._data import Columns, is_tabular, iter_columns, type_name
from prodml.errors import ConfigError, NotFittedError
from prodml.features._fitted import FittedState, adopt, copies_of
from prodml.features._partition import (
    MomentsPiece,
    Plan,
    Position,
    Probe,
    fresh_states,
    open_pass,
)
from prodml.features._program import Program, chunk_source, input_error, read_values
from prodml.features._stats import Moments
from prodml.schema import Schema

if TYPE_CHECKING:
    from typing_extensions import Self

    from prodml.features._base import Step

__all__ = ["DistributedFit"]


class DistributedFit:
    """Fit from partition states: the protocol behind ``integrations.dask.fit_pipeline``."""

    if TYPE_CHECKING:  # supplied by FeaturePipeline
        steps: Sequence[Step]
        _fit_plan: Plan | None
        _fitted: FittedState | None

        def _check_params(self) -> None: ...

        def _programs(
            self, schema: Schema, steps: Sequence[Step] | None = None
        ) -> list[Program]: ...

        def _run(self, p: Program, cols: Columns, values: Any, start: int, stop: int) -> Any: ...

        def _install(
            self, schema: Schema, programs: list[Program], fitted: Sequence[Step] | None = None
        ) -> None: ...

    def start_fit(self, schema: Schema) -> Self:
        """Start a fit whose passes are computed elsewhere, from partition states.

        The protocol behind :func:`prodml.integrations.dask.fit_pipeline`: while
        :attr:`fit_pending`, compute :meth:`partition_states` of every partition (on any
        machine, from a pickled copy of this pipeline), combine them with
        :meth:`merge_states` and hand the result to :meth:`finish_pass`. When
        :attr:`fit_needs_positions`, pass each partition its position from
        :meth:`plan_positions` (over every partition's :meth:`partition_counts`): then the
        fitted pipeline equals :meth:`fit` on the concatenated partitions bit for bit
        (up to 2**20 values per quantile column; see ``docs/scale-out.md``).

        Parameters
        ----------
        schema
            The input schema, as :meth:`fit` would infer it (``nullable="always"``).

        Returns
        -------
        FeaturePipeline
            ``self``.

        Examples
        --------
        >>> import pandas as pd
        >>> from prodml.features import FeaturePipeline, steps
        >>> from prodml.schema import Schema
        >>> parts = [
        ...     pd.DataFrame({"x": [0.1, 0.7], "c": ["a", "b"]}),
        ...     pd.DataFrame({"x": [0.2, None], "c": ["a", None]}),
        ... ]
        >>> def make():
        ...     return FeaturePipeline(
        ...         [
        ...             steps.Impute(["x"], strategy="mean"),
        ...             steps.StandardScale(["x"]),
        ...             steps.Impute(["c"], strategy="most_frequent"),
        ...             steps.OneHot(["c"]),
        ...         ]
        ...     )
        >>> pipe = make().start_fit(Schema.infer(parts, nullable="always"))
        >>> while pipe.fit_pending:
        ...     where = [None] * len(parts)
        ...     if pipe.fit_needs_positions:
        ...         counts = [pipe.partition_counts(part) for part in parts]
        ...         where = FeaturePipeline.plan_positions(counts)
        ...     states = [pipe.partition_states(p, w) for p, w in zip(parts, where)]
        ...     _ = pipe.finish_pass(FeaturePipeline.merge_states(states))
        >>> pipe.feature_names_out
        ['x', 'c=a', 'c=b']
        >>> pipe.fingerprint == make().fit(pd.concat(parts)).fingerprint
        True
        """
        if not isinstance(schema, Schema):
            raise ConfigError(
                "The 'schema' parameter of FeaturePipeline.start_fit must be a Schema. "
                f"Got {type(schema).__name__} instead.",
                parameter="schema",
            )
        self._check_params()
        # The passes fit copies of the steps, as fit() does: the state a transform in
        # another thread holds keeps its steps. The old fit is forgotten in one
        # assignment, and the steps show the copies, whose fitted dicts (the same dicts)
        # each finished pass fills.
        fitting = copies_of(self.steps)
        programs = self._programs(schema, fitting)
        for step in fitting:
            step.start_fit()
        self._fitted = None
        for attr in ("programs_", "feature_names_out_", "input_schema_", "n_features_in_"):
            self.__dict__.pop(attr, None)
        adopt(self.steps, fitting)
        pos = {p.column: 0 for p in programs}
        self._fit_plan: Plan | None = (schema, programs, pos, open_pass(programs, pos))
        self._finish_if_done()
        return self

    @property
    def fit_pending(self) -> bool:
        """Whether a fit started by :meth:`start_fit` waits for partition states."""
        return getattr(self, "_fit_plan", None) is not None

    def _plan(self) -> Plan:
        plan = getattr(self, "_fit_plan", None)
        if plan is None:
            raise NotFittedError(
                "This FeaturePipeline has no fit pass open; call start_fit(schema) first",
                estimator="FeaturePipeline",
            )
        return plan

    def partition_states(
        self, data: Any, positions: Mapping[str, Position] | None = None
    ) -> dict[str, Any]:
        """Fit states of the open pass over one partition (a table or chunks).

        Parameters
        ----------
        data
            The partition.
        positions
            From :meth:`plan_positions`, for this partition: makes mean/variance states
            merge into exactly the one-pass result (else they agree to rounding).

        Returns
        -------
        dict
            Column name to a fresh mergeable state fed with this partition's values.

        Raises
        ------
        NotFittedError
            When no pass is open.
        SchemaError
            As :meth:`fit`, for the partition's values.
        """
        _, programs, _, opened = self._plan()
        states = {col: p_state[1] for col, p_state in fresh_states(programs, opened).items()}
        for col, (offset, first) in (positions or {}).items():
            if isinstance(states.get(col), Moments) and first is not None:
                states[col] = MomentsPiece(offset, first)
        self._feed(data, programs, opened, states)
        return states

    def _feed(
        self,
        data: Any,
        programs: list[Program],
        opened: dict[str, tuple[int, Any]],
        states: dict[str, Any],
    ) -> None:
        if not is_tabular(data) and not chunk_source(data):
            raise input_error(data)
        for cols in iter_columns(data, categorical_values=True):
            for p in programs:
                if p.column not in opened:
                    continue
                i = opened[p.column][0]
                values = self._run(
                    p, cols, read_values(cols, p.column, p.kind, p.dtype, p.zone), 0, i
                )
                if len(values):
                    p.steps[i].update_state(states[p.column], values, p.kinds[i])

    @property
    def fit_needs_positions(self) -> bool:
        """Whether the open pass has mean/variance states.

        They merge into exactly the one-pass result only when each partition knows its
        position in the stream (:meth:`partition_counts`, then :meth:`plan_positions`).
        """
        plan = getattr(self, "_fit_plan", None)
        return plan is not None and any(isinstance(st, Moments) for _, st in plan[3].values())

    def partition_counts(self, data: Any) -> dict[str, tuple[int, float | None]]:
        """Count the values this partition feeds each mean/variance state of the pass.

        Returns
        -------
        dict
            Column name to (number of values, the first of them or None).

        Raises
        ------
        NotFittedError
            When no pass is open.
        SchemaError
            As :meth:`fit`, for the partition's values.
        """
        _, programs, _, opened = self._plan()
        moments = {c: o for c, o in opened.items() if isinstance(o[1], Moments)}
        probes: dict[str, Any] = {c: Probe() for c in moments}
        self._feed(data, programs, moments, probes)
        return {c: (p.n, p.first) for c, p in probes.items()}

    @staticmethod
    def plan_positions(
        counts: Sequence[Mapping[str, tuple[int, float | None]]],
    ) -> list[dict[str, Position]]:
        """Each partition's position per column, for :meth:`partition_states`.

        Parameters
        ----------
        counts
            :meth:`partition_counts` of every partition, in stream order.

        Returns
        -------
        list of dict
            Per partition, column name to (offset of its first value in the pass's
            stream, first value of the whole stream).
        """
        given: object = counts
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise _protocol_error("plan_positions", "a list of partition_counts() results")
        counts = list(counts)
        try:
            firsts: dict[str, float | None] = {}
            for part in counts:
                for col, (_, first) in part.items():
                    if firsts.get(col) is None:
                        firsts[col] = first
        except (AttributeError, TypeError, ValueError) as err:
            raise _protocol_error("plan_positions", "a list of partition_counts() results") from err
        offsets = dict.fromkeys(firsts, 0)
        out = []
        for part in counts:
            here: dict[str, Position] = {}
            for col, (n, _) in part.items():
                here[col] = (offsets[col], firsts[col])
                offsets[col] += n
            out.append(here)
        return out

    @staticmethod
    def merge_states(states: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Merge partition states in order (a tree of merges is fine too).

        Returns
        -------
        dict
            The first dict, with every later one merged into its states (in place).
        """
        if isinstance(states, str | bytes | Mapping) or not isinstance(states, Iterable):
            raise _protocol_error("merge_states", "a list of partition_states() dicts")
        out: dict[str, Any] | None = None
        try:
            for part in states:
                if out is None:
                    out = dict(part)
                    continue
                for col, state in part.items():
                    out[col].merge(state)
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise _protocol_error(
                "merge_states", "an iterable of partition_states() dicts"
            ) from err
        if out is None:
            raise ConfigError("merge_states needs at least one dict of partition states")
        return out

    def finish_pass(self, states: Mapping[str, Any]) -> Self:
        """Finalize the open pass from merged states; compile when it was the last.

        Raises
        ------
        NotFittedError
            When no pass is open.
        ConfigError
            When ``states`` does not hold a state for each column of the pass.
        """
        schema, programs, pos, opened = self._plan()
        if not isinstance(states, Mapping) or set(states) != set(opened):
            got = sorted(states) if isinstance(states, Mapping) else type_name(states)
            raise ConfigError(
                f"finish_pass needs the states of columns {sorted(opened)}; got {got}",
                parameter="states",
            )
        for p in programs:
            if p.column in opened:
                i = opened[p.column][0]
                state = states[p.column]
                if isinstance(state, MomentsPiece):
                    state = state.result()
                p.steps[i].finalize(p.column, state, p.kinds[i])
                pos[p.column] = i + 1
        self._fit_plan = (schema, programs, pos, open_pass(programs, pos))
        self._finish_if_done()
        return self

    def _finish_if_done(self) -> None:
        schema, programs, _, opened = self._plan()
        if not opened:
            self._fit_plan = None
            self._install(schema, programs)


def _protocol_error(method: str, wanted: str) -> ConfigError:
    return ConfigError(f"FeaturePipeline.{method} needs {wanted}", parameter=method)
