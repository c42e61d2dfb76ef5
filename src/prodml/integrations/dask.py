"""Feature pipelines and drift profiles over Dask DataFrames and partitioned Parquet.

Every function takes a Dask DataFrame, or a path or list of paths of Parquet files read
as one partitioned dataset. Each partition updates a mergeable state on the workers,
the states merge in a tree, and the client finalizes: the fitted pipeline, the profile
and the drift report equal the single-machine ones, exactly where the states' ``merge``
is exact (see ``docs/scale-out.md``). :func:`historical` joins feature store views
point-in-time on each partition of entity rows (see ``docs/store.md``).

Long fits show a bar counting Dask tasks on stderr when it is a terminal
(``progress=None``, the default; ``False`` never, ``True`` always), with Dask's local
schedulers; with a ``distributed`` client, watch its dashboard instead.

Dask is imported on first use; without it (``pip install 'prodml[dask]'``) every function
raises :class:`~prodml.errors.MissingExtraError`.

A partition that fails for a reason of its own (a read error, a bug in the code that
built it) raises :class:`PartitionError` naming the partition (and the Parquet file when
Dask's task names it), chained to the cause, from the eager functions and when a lazy
result (``transform``, ``score``, ``historical``) is computed; prodml's own errors
(``SchemaError`` ...) keep their class, their message naming the partition. A column
missing from a partition (a Parquet file written without it, ``dd.from_delayed`` parts
short of their meta) is a :class:`~prodml.errors.SchemaError` naming the column, the
partition and the file, from every function, also when Dask gives a partition several
files (its optimizer fuses small files, ``aggregate_files=True``). So is a frame read
with ``include_path_column`` that lacks the path column (Dask 2026.7 ignores the option).

Examples
--------
>>> import numpy as np, pandas as pd
>>> import dask.dataframe as dd
>>> from prodml.features import FeaturePipeline, steps
>>> from prodml.integrations import dask as pdask
>>> df = pd.DataFrame({"x": np.arange(8.0), "c": list("abcaabca")})
>>> ddf = dd.from_pandas(df, npartitions=3)
>>> pipe = pdask.fit_pipeline(
...     FeaturePipeline([steps.Impute(["x"], strategy="median"), steps.OneHot(["c"])]), ddf
... )
>>> pipe.feature_names_out
['x', 'c=a', 'c=b', 'c=c']
>>> bool((pdask.transform(pipe, ddf).compute() == pipe.transform(df)).all())
True
>>> pdask.profile(ddf) == pdask.profile(df)
True
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

import numpy as np
import pandas as pd

from prodml._extras import require
from prodml._params import Interval, OneOf, TypeOf, check_params
from prodml.errors import SchemaError, SchemaProblem
from prodml.features import ExtraColumnWarning, FeaturePipeline
from prodml.integrations._dask_drift import _DETECTOR as _DETECTOR  # noqa: PLC0414
from prodml.integrations._dask_drift import _categories as _categories  # noqa: PLC0414
from prodml.integrations._dask_drift import _merge_profiles as _merge_profiles  # noqa: PLC0414
from prodml.integrations._dask_drift import _merge_zoned as _merge_zoned  # noqa: PLC0414
from prodml.integrations._dask_drift import _profile_for as _profile_for  # noqa: PLC0414
from prodml.integrations._dask_drift import _profile_part as _profile_part  # noqa: PLC0414
from prodml.integrations._dask_drift import _profile_zoned as _profile_zoned  # noqa: PLC0414
from prodml.integrations._dask_drift import _Zoned as _Zoned  # noqa: PLC0414
from prodml.integrations._dask_drift import detect, fit_detector, profile
from prodml.integrations._dask_errors import _FEATURE, PartitionError, _compute, _naming_files
from prodml.integrations._dask_errors import _MAX_FILES as _MAX_FILES  # noqa: PLC0414
from prodml.integrations._dask_errors import _WHERE as _WHERE  # noqa: PLC0414
from prodml.integrations._dask_errors import _cause as _cause  # noqa: PLC0414
from prodml.integrations._dask_errors import _in_partition as _in_partition  # noqa: PLC0414
from prodml.integrations._dask_errors import _on_partition as _on_partition  # noqa: PLC0414
from prodml.integrations._dask_errors import _partition_error as _partition_error  # noqa: PLC0414
from prodml.integrations._dask_errors import _picklable as _picklable  # noqa: PLC0414
from prodml.integrations._dask_fairness import group_metrics
from prodml.integrations._dask_frames import _check_split_every as _check_split_every  # noqa: PLC0414
from prodml.integrations._dask_frames import _conform, _merge_zones, _progress, _zones
from prodml.integrations._dask_frames import _dd as _dd  # noqa: PLC0414
from prodml.integrations._dask_frames import _frame as _frame  # noqa: PLC0414
from prodml.integrations._dask_frames import _is_paths as _is_paths  # noqa: PLC0414
from prodml.integrations._dask_frames import _number as _number  # noqa: PLC0414
from prodml.integrations._dask_frames import _shared as _shared  # noqa: PLC0414
from prodml.integrations._dask_frames import _tree_reduce as _tree_reduce  # noqa: PLC0414
from prodml.integrations._dask_frames import _zone as _zone  # noqa: PLC0414
from prodml.integrations._dask_guard import guarded_map, guarded_parts, partition_files
from prodml.integrations._dask_score import score
from prodml.integrations._dask_store import historical
from prodml.schema import Schema

if TYPE_CHECKING:  # Dask is an optional extra: imported on first use only
    import dask.array as da
    import dask.dataframe as dd

_Data: TypeAlias = (
    "dd.DataFrame | pd.DataFrame | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"
)
"""What every function reads: a Dask DataFrame, a pandas one, or Parquet path(s)."""

# The partitions' errors moved to _dask_errors, the input and its partitions to
# _dask_frames, the drift functions to _dask_drift; every name still imports from here
# (the private ones through the `X as X` imports above).
__all__ = [
    "PartitionError",
    "detect",
    "fit_detector",
    "fit_pipeline",
    "group_metrics",
    "historical",
    "profile",
    "score",
    "transform",
]

_PIPE = TypeOf(FeaturePipeline, "a prodml.features.FeaturePipeline")


# -- feature pipelines ---------------------------------------------------------------


def _witness(
    part: pd.DataFrame, columns: list[Any], index: int
) -> tuple[pd.DataFrame, dict[str, tuple[int, str | None]]]:
    """The witness rows of partition ``index`` and its datetime columns' time zones."""
    return _on_partition(index, _witness_rows, _conform(part, columns, index), index)


def _witness_rows(
    part: pd.DataFrame, index: int
) -> tuple[pd.DataFrame, dict[str, tuple[int, str | None]]]:
    """The rows of a partition that decide its inferred schema (types are kept).

    The first non-null row of each column, and the first row (a null for all-null
    columns): ``Schema.infer`` over the witnesses equals it over the partitions.
    """
    zones = _zones(part, index)
    # Raises the partition's own type problems (mixed values...); personal data is looked
    # for once, on the witnesses, not in every worker.
    Schema.infer(part, detect_personal=False)
    if len(part) == 0:
        return part, zones
    rows = {0}
    for j in range(part.shape[1]):
        present = part.iloc[:, j].notna().to_numpy()
        if present.any():
            rows.add(int(np.argmax(present)))
    return part.iloc[sorted(rows)], zones


def _partition_states(
    pipe: FeaturePipeline,
    part: pd.DataFrame,
    positions: dict[str, Any] | None,
    columns: list[Any],
    index: int,
) -> dict[str, Any]:
    part = _conform(part, columns, index)
    return _on_partition(index, pipe.partition_states, part, positions)


def _partition_counts(
    pipe: FeaturePipeline, part: pd.DataFrame, columns: list[Any], index: int
) -> dict[str, Any]:
    part = _conform(part, columns, index)
    return _on_partition(index, pipe.partition_counts, part)


def _merge_states(*states: dict[str, Any]) -> dict[str, Any]:
    return FeaturePipeline.merge_states(states)


def fit_pipeline(
    pipe: FeaturePipeline, data: _Data, *, split_every: int = 8, progress: bool | None = None
) -> FeaturePipeline:
    """Fit ``pipe`` over a Dask DataFrame or Parquet dataset, one pass per step depth.

    Each pass computes the states of every partition on the workers (from a copy of the
    pipeline fitted so far), merges them in a tree of fan-in ``split_every`` in partition
    order, and finalizes on the client. A pass with means or variances (``StandardScale``,
    ``Impute(strategy="mean")``) first counts each partition's values, so that every
    partition sums its values in the blocks one pass would: the fit is bit for bit the
    single-machine one.

    Parameters
    ----------
    pipe
        An unfitted (or to-be-refitted) :class:`~prodml.features.FeaturePipeline`.
    data
        A Dask DataFrame, or a path or list of paths of Parquet files.
    split_every
        Fan-in of the merge tree.
    progress
        A bar of tasks done on stderr: ``None`` on a terminal only, ``True`` always,
        ``False`` never.

    Returns
    -------
    FeaturePipeline
        ``pipe``, fitted. On any error ``pipe`` is left as it was (fitted or not).

    Raises
    ------
    SchemaError
        As :meth:`FeaturePipeline.fit`, raised from the worker that met the problem
        (the message names the partition and the Parquet files it reads); also for a
        partition whose columns are not the frame's, or a datetime column whose time
        zone differs between partitions (naming them and the Parquet files they read).
    PartitionError
        When a partition cannot be computed (read error, failing upstream code), naming
        the partition and, when Dask's task names it, the Parquet file.
    ConfigError
        For invalid steps or ``split_every``.
    """
    check_params(
        "fit_pipeline",
        {"pipe": pipe, "split_every": split_every},
        {"pipe": [_PIPE], "split_every": [Interval(int, 2, None)]},
    )
    frame = _frame(data)
    before = copy.deepcopy(pipe)
    try:
        with _progress("fitting the pipeline", progress):
            return _fit_pipeline(pipe, frame, split_every)
    except BaseException:
        _restore(pipe, before)  # a failed pass must not leave a half-refitted pipeline
        raise


def _restore(pipe: FeaturePipeline, saved: FeaturePipeline) -> None:
    """Put ``pipe`` (and its step objects, which callers may hold) back as ``saved``."""
    steps = pipe.steps
    if isinstance(steps, list | tuple) and len(steps) == len(saved.steps):
        for live, old in zip(steps, saved.steps, strict=True):
            live.__dict__.clear()
            live.__dict__.update(old.__dict__)
    state = dict(saved.__dict__)
    state["steps"] = steps
    pipe.__dict__.clear()
    pipe.__dict__.update(state)


def _fit_pipeline(pipe: FeaturePipeline, frame: Any, split_every: int) -> FeaturePipeline:
    parts = guarded_parts(frame)
    with _naming_files(lambda index: partition_files(parts[index])):
        return _fit_passes(pipe, frame, parts, split_every)


def _fit_passes(
    pipe: FeaturePipeline, frame: Any, parts: list[Any], split_every: int
) -> FeaturePipeline:
    dask = require("dask", extra="dask", feature=_FEATURE)
    columns = list(frame.columns)
    found = _compute(*[dask.delayed(_witness)(p, columns, i) for i, p in enumerate(parts)])
    _merge_zones([zones for _, zones in found], files=lambda index: partition_files(parts[index]))
    pipe.start_fit(Schema.infer([rows for rows, _ in found], nullable="always"))
    while pipe.fit_pending:
        shared = _shared(pipe)
        positions: list[Any] = [None] * len(parts)
        if pipe.fit_needs_positions:  # means/variances: one cheap counting round first
            counts = _compute(
                *[
                    dask.delayed(_partition_counts)(shared, p, columns, i)
                    for i, p in enumerate(parts)
                ]
            )
            positions = FeaturePipeline.plan_positions(list(counts))
        leaves = [
            dask.delayed(_partition_states)(shared, part, where, columns, i)
            for i, (part, where) in enumerate(zip(parts, positions, strict=True))
        ]
        pipe.finish_pass(_tree_reduce(leaves, _merge_states, split_every))
    return pipe


def _transform_part(
    part: pd.DataFrame,
    pipe: FeaturePipeline,
    output: str,
    partition_info: dict[str, Any] | None = None,
) -> Any:
    with warnings.catch_warnings():
        # Extra columns were reported (or refused) once, on the client.
        warnings.simplefilter("ignore", ExtraColumnWarning)
        return _on_partition(
            _number(partition_info),
            pipe.transform,
            part,
            "pandas" if output == "frame" else "numpy",
        )


@overload
def transform(
    pipe: FeaturePipeline, data: _Data, *, output: Literal["array"] = "array"
) -> da.Array: ...
@overload
def transform(pipe: FeaturePipeline, data: _Data, *, output: Literal["frame"]) -> dd.DataFrame: ...
@overload
def transform(
    pipe: FeaturePipeline, data: _Data, *, output: Literal["array", "frame"]
) -> da.Array | dd.DataFrame: ...
def transform(
    pipe: FeaturePipeline, data: _Data, *, output: Literal["array", "frame"] = "array"
) -> da.Array | dd.DataFrame:
    """Transform every partition lazily, as :meth:`FeaturePipeline.transform` would.

    Parameters
    ----------
    pipe
        A fitted pipeline.
    data
        A Dask DataFrame, or a path or list of paths of Parquet files.
    output
        ``"array"``: a 2-D float64 Dask array (chunk row counts unknown until computed:
        call ``compute_chunk_sizes()`` if you need them); ``"frame"``: a Dask DataFrame
        with :attr:`~FeaturePipeline.feature_names_out` columns and the input's index.

    Returns
    -------
    dask.array.Array or dask.dataframe.DataFrame
        Lazy; row ``i`` equals ``pipe.transform`` of row ``i`` bit for bit.

    Raises
    ------
    NotFittedError
        Before the pipeline is fitted.
    SchemaError
        For a missing column (at once), or a bad value (from the worker, on compute).
    PartitionError
        On compute, when a partition of ``data`` cannot be computed (read error, failing
        upstream code); at once, when Dask cannot plan its partitions.
    """
    check_params(
        "transform",
        {"pipe": pipe, "output": output},
        {"pipe": [_PIPE], "output": [OneOf(("array", "frame"))]},
    )
    names = pipe.feature_names_out  # raises NotFittedError first
    frame = _frame(data)
    known = pipe.input_schema.names
    have = list(frame.columns)
    missing = [c for c in known if c not in have]
    if missing:
        raise SchemaError(
            problems=[
                SchemaProblem(c, "missing", "column is missing from the input") for c in missing
            ]
        )
    extra = [c for c in have if c not in known]
    if extra:
        if pipe.strict:
            raise SchemaError(
                problems=[SchemaProblem(n, "extra", "column was not seen at fit") for n in extra]
            )
        warnings.warn(
            f"ignoring columns not seen at fit: {extra}", ExtraColumnWarning, stacklevel=2
        )
    shared = _shared(pipe)
    if output == "frame":
        meta = pd.DataFrame({n: pd.Series(dtype="float64") for n in names}, index=frame._meta.index)
    else:
        meta = np.empty((0, len(names)))
    return guarded_map(frame, _transform_part, shared, output, meta=meta)
