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
partition and the file, from every function.

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

import contextlib
import copy
import os
import pickle
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

import numpy as np
import pandas as pd

from prodml._data import type_name
from prodml._extras import require
from prodml._files import PATH_QUOTE
from prodml._params import Interval, OneOf, TypeOf, check_params
from prodml._progress import drawing, progress_bar
from prodml._quote import short_repr
from prodml.drift import DriftDetector, DriftReport, Profile
from prodml.drift._profile import CategoricalColumn
from prodml.errors import DriftError, NotFittedError, ProdMLError, SchemaError, SchemaProblem
from prodml.features import ExtraColumnWarning, FeaturePipeline
from prodml.integrations._dask_fairness import group_metrics
from prodml.integrations._dask_guard import guarded_map, guarded_parts
from prodml.integrations._dask_score import score
from prodml.integrations._dask_store import historical
from prodml.privacy import Privacy, check_privacy
from prodml.schema import Schema

if TYPE_CHECKING:  # Dask is an optional extra: imported on first use only
    import dask.array as da
    import dask.dataframe as dd

_Data: TypeAlias = (
    "dd.DataFrame | pd.DataFrame | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"
)
"""What every function reads: a Dask DataFrame, a pandas one, or Parquet path(s)."""

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

_FEATURE = "prodml.integrations.dask"
_PIPE = TypeOf(FeaturePipeline, "a prodml.features.FeaturePipeline")
_DETECTOR = TypeOf(DriftDetector, "a prodml.drift.DriftDetector")


class PartitionError(ProdMLError, RuntimeError):
    """Computing a partition failed for a reason outside prodml (chained as ``__cause__``).

    Parameters
    ----------
    message
        What failed, naming the partition when it is known and the cause.
    partition
        The partition's position in the Dask DataFrame prodml was given (as Dask runs
        it, after its optimizer), or None when it is not known (Dask failed outside the
        partitions' tasks, e.g. while planning them).
    files
        The Parquet files the failed task was reading, when Dask's task names them.
    """

    def __init__(
        self, message: str, *, partition: int | None = None, files: tuple[str, ...] = ()
    ) -> None:
        self.partition = partition
        self.files: tuple[str, ...] = tuple(files)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only arguments, and the cause (pickle drops __cause__): across processes
        return (_partition_error, (str(self), self.partition, self.files, _picklable(self)))


def _partition_error(
    message: str,
    partition: int | None,
    files: tuple[str, ...] = (),
    cause: BaseException | None = None,
) -> PartitionError:
    err = PartitionError(message, partition=partition, files=files)
    err.__cause__ = cause
    return err


def _picklable(err: BaseException) -> BaseException | None:
    """``err.__cause__`` if it pickles (a worker's exception may not), else None."""
    cause = err.__cause__
    if cause is None:
        return None
    try:
        pickle.dumps(cause)
    except Exception:  # noqa: BLE001 - any failure: the message still names the cause
        return None
    return cause


def _cause(err: BaseException) -> str:
    return f"{type(err).__name__}: {short_repr(str(err), 200)}"


def _on_partition(
    index: int,
    func: Callable[..., Any],
    *args: Any,
    files: Callable[[], tuple[str, ...]] | None = None,
) -> Any:
    """``func(*args)`` for partition ``index``: errors say which partition raised them.

    ``files``, asked only on a failure, gives the Parquet files the partition was reading
    (named in the message, up to three, and all in the error's ``files``).
    """
    try:
        return func(*args)
    except ProdMLError as err:
        _in_partition(err, index)
        raise
    except Exception as err:
        read = files() if files is not None else ()
        named = ", ".join(short_repr(f, PATH_QUOTE) for f in read[:_MAX_FILES])
        if len(read) > _MAX_FILES:
            named += f" and {len(read) - _MAX_FILES} more"
        what = "" if not read else f" (file {named})" if len(read) == 1 else f" (files {named})"
        raise PartitionError(
            f"partition {index} of the Dask DataFrame{what} failed: {_cause(err)}",
            partition=index,
            files=read,
        ) from err


_MAX_FILES = 3  # files named in one message; the error's ``files`` holds them all


def _in_partition(err: ProdMLError, index: int) -> None:
    """Add partition ``index`` to ``err``'s message, unless it names one already."""
    if index < 0 or isinstance(err, PartitionError):
        return
    if err.args and isinstance(err.args[0], str) and _WHERE not in err.args[0]:
        # str(err) is args[0], and pickling (to the client) rebuilds the error from args
        err.args = (f"{err.args[0]} (in partition {index}{_WHERE}", *err.args[1:])


_WHERE = " of the Dask DataFrame)"


def _compute(*collections: Any) -> Any:
    """``dask.compute``, with a failure outside prodml raised as :class:`PartitionError`."""
    dask = require("dask", extra="dask", feature=_FEATURE)
    try:
        return dask.compute(*collections)
    except ProdMLError:
        raise
    except Exception as err:
        raise PartitionError(
            f"computing the partitions of the Dask DataFrame failed: {_cause(err)}"
        ) from err


def _conform(
    part: pd.DataFrame, columns: list[Any], index: int, *, exact: bool = True
) -> pd.DataFrame:
    """``part`` with ``columns`` in that order, as the frame's meta says.

    A missing (or, if ``exact``, extra) column is a SchemaError naming the partition:
    ``dd.from_delayed`` does not check the partitions against its meta.
    """
    have = list(part.columns)
    if have == columns:
        return part
    missing = [c for c in columns if c not in have]
    extra = [c for c in have if c not in columns] if exact else []
    if missing or extra:
        raise SchemaError(
            problems=[
                *(
                    SchemaProblem(
                        c,
                        "missing",
                        f"column of the frame's meta is missing from partition {index}",
                    )
                    for c in missing
                ),
                *(
                    SchemaProblem(
                        c, "extra", f"column of partition {index} is not in the frame's meta"
                    )
                    for c in extra
                ),
            ]
        )
    return part[columns]  # the same columns in another order: as the frame's meta


def _zones(part: pd.DataFrame, index: int) -> dict[str, tuple[int, str | None]]:
    """Partition ``index``'s time zone (None: naive) of every datetime column with a value."""
    out: dict[str, tuple[int, str | None]] = {}
    for name in part.columns:
        col = part[name]
        if col.dtype.kind == "M" and bool(col.notna().any()):
            tz = getattr(col.dtype, "tz", None)
            out[str(name)] = (index, None if tz is None else str(tz))
    return out


def _merge_zones(
    zones: Sequence[dict[str, tuple[int, str | None]]],
) -> dict[str, tuple[int, str | None]]:
    """The first partition's zone of each column, or a SchemaError where partitions differ."""
    first: dict[str, tuple[int, str | None]] = {}
    problems: dict[str, SchemaProblem] = {}
    for part in zones:
        for name, (index, tz) in part.items():
            seen = first.setdefault(name, (index, tz))
            if seen[1] != tz and name not in problems:
                problems[name] = SchemaProblem(
                    name,
                    "type",
                    f"timestamps are {_zone(seen[1])} in partition {seen[0]} and "
                    f"{_zone(tz)} in partition {index}; one column takes one time zone "
                    "(make them agree with .dt.tz_localize / .dt.tz_convert first)",
                )
    if problems:
        raise SchemaError(problems=list(problems.values()))
    return first


def _zone(tz: str | None) -> str:
    return "naive (no time zone)" if tz is None else f"in time zone {short_repr(tz)}"


def _dd() -> ModuleType:
    return require("dask.dataframe", extra="dask", feature=_FEATURE)


def _is_paths(data: object) -> bool:
    if isinstance(data, str | os.PathLike):
        return True
    return (
        isinstance(data, list | tuple)
        and len(data) > 0
        and all(isinstance(p, str | os.PathLike) for p in data)
    )


def _frame(data: object) -> Any:
    """A Dask DataFrame from a Dask DataFrame, a pandas DataFrame, or Parquet path(s).

    Raises
    ------
    SchemaError
        For any other input, or Parquet paths that cannot be read.
    """
    dd = _dd()
    if isinstance(data, dd.DataFrame):
        return data
    if isinstance(data, pd.DataFrame):
        return dd.from_pandas(data, npartitions=1)
    if isinstance(data, str | os.PathLike):
        data = [data]
    if _is_paths(data):
        paths = [os.fspath(p) for p in data]  # type: ignore[attr-defined]
        try:
            return dd.read_parquet(paths)
        except (OSError, ValueError) as err:
            raise SchemaError(
                problems=[SchemaProblem(None, "input", f"cannot read Parquet {paths!r}: {err}")]
            ) from err
    raise SchemaError(
        problems=[
            SchemaProblem(
                None,
                "input",
                "expected a dask DataFrame, a pandas DataFrame, or a path or list of paths "
                f"of Parquet files; got {type_name(data)} instead",
            )
        ]
    )


def _check_split_every(split_every: object, owner: str) -> None:
    check_params(owner, {"split_every": split_every}, {"split_every": [Interval(int, 2, None)]})


def _tree_reduce(leaves: Sequence[Any], combine: Callable[..., Any], split_every: int) -> Any:
    """Combine delayed ``leaves`` in order, ``split_every`` at a time, and compute."""
    dask = require("dask", extra="dask", feature=_FEATURE)
    items = list(leaves)
    while len(items) > 1:
        items = [
            dask.delayed(combine)(*items[i : i + split_every])
            for i in range(0, len(items), split_every)
        ]
    return _compute(items[0])[0]


@contextlib.contextmanager
def _progress(desc: str, enabled: bool | None) -> Iterator[None]:
    """A bar of Dask tasks done, for every ``dask.compute`` in the block (local schedulers)."""
    dask = require("dask", extra="dask", feature=_FEATURE)
    callbacks = require("dask.callbacks", extra="dask", feature=_FEATURE)
    owner = getattr(dask.base.get_scheduler(), "__self__", None)  # a distributed Client's get
    bar = progress_bar(desc=desc, unit="tasks", enabled=enabled)
    if bar.disable or type(owner).__module__.startswith("distributed"):
        with drawing(bar):  # hidden: so are the bars of the work inside
            yield
        return

    class _Tasks(callbacks.Callback):  # type: ignore[misc, name-defined]
        def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
            todo = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
            bar.total = (bar.total or 0) + todo
            bar.refresh()

        def _posttask(self, *args: Any) -> None:
            bar.update(1)

    with drawing(bar), _Tasks():
        yield


def _shared(obj: object) -> Any:
    """One graph key for an object every task needs (serialised once, not per task)."""
    dask = require("dask", extra="dask", feature=_FEATURE)
    return dask.delayed(obj, name=f"prodml-{uuid.uuid4().hex}", traverse=False)


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
        (the message names the partition); also for a partition whose columns are not
        the frame's, or a datetime column whose time zone differs between partitions.
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
    dask = require("dask", extra="dask", feature=_FEATURE)
    parts = guarded_parts(frame)
    columns = list(frame.columns)
    found = _compute(*[dask.delayed(_witness)(p, columns, i) for i, p in enumerate(parts)])
    _merge_zones([zones for _, zones in found])
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


def _number(partition_info: dict[str, Any] | None) -> int:
    """The partition's position, from the ``partition_info`` Dask gives ``map_partitions``."""
    return -1 if partition_info is None else int(partition_info["number"])


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


# -- drift ---------------------------------------------------------------------------


_Zoned = tuple[Profile, dict[str, tuple[int, str | None]]]


def _profile_part(
    params: dict[str, Any], part: pd.DataFrame, columns: list[Any], index: int
) -> _Zoned:
    part = _conform(part, columns, index, exact=params["columns"] is None)
    return _on_partition(index, _profile_zoned, params, part, index)


def _profile_zoned(params: dict[str, Any], part: pd.DataFrame, index: int) -> _Zoned:
    return Profile(**params).update(part), _zones(part, index)


def _merge_zoned(*parts: _Zoned) -> _Zoned:
    zones = _merge_zones([z for _, z in parts])
    return _merge_profiles(*[p for p, _ in parts]), zones


def _merge_profiles(*profiles: Profile) -> Profile:
    out = profiles[0]
    for other in profiles[1:]:
        merged = out.merge(other)
        # Profile.merge lists categories in sorted order, profiling one table in order of
        # first appearance; the chi-square sums follow that order, so keep the stream's
        # order (first appearance over the partitions in order), as one pass would.
        for name, state in merged.columns.items():
            if isinstance(state, CategoricalColumn):
                order = [
                    *_categories(out.columns.get(name)),
                    *_categories(other.columns.get(name)),
                ]
                if state.hashed:  # hashed by this merge: the tokens keep the same order
                    order = [merged.privacy.token(k) for k in order]
                state.counts = {k: state.counts[k] for k in dict.fromkeys(order)}
        out = merged
    return out


def _categories(state: object) -> list[Any]:
    return list(state.counts) if isinstance(state, CategoricalColumn) else []


def profile(
    data: _Data,
    *,
    max_exact: int = 100_000,
    relative_accuracy: float = 1e-3,
    columns: Sequence[str] | None = None,
    split_every: int = 8,
    privacy: Privacy | None = None,
    progress: bool | None = None,
) -> Profile:
    """Drift :class:`~prodml.drift.Profile` of a Dask DataFrame or Parquet dataset.

    Each partition is profiled on a worker; the profiles merge in a tree. The result
    equals ``Profile(...).update(data.compute())`` (``==``), sketched columns included.

    Parameters
    ----------
    data
        A Dask DataFrame, a pandas DataFrame, or a path or list of paths of Parquet files.
    max_exact, relative_accuracy, columns
        As :class:`~prodml.drift.Profile`.
    split_every
        Fan-in of the merge tree.
    privacy
        As :class:`~prodml.drift.Profile`. The policy (with its salt) is sent to the
        workers, so that every partition hashes alike.
    progress
        A bar of tasks done on stderr: ``None`` on a terminal only, ``True`` always,
        ``False`` never.

    Raises
    ------
    ConfigError
        For invalid parameters.
    SchemaError
        For unsupported column types or missing ``columns`` (at once, or from the first
        partition without one, naming it).
    DriftError
        For an infinite value in a numeric column.
    PartitionError
        When a partition cannot be computed (read error, failing upstream code), naming
        the partition and, when Dask's task names it, the Parquet file.
    """
    _check_split_every(split_every, "profile")
    params: dict[str, Any] = {
        "max_exact": max_exact,
        "relative_accuracy": relative_accuracy,
        "columns": None if columns is None else list(columns),
        "privacy": check_privacy("profile", privacy),
    }
    frame = _frame(data)
    Profile(**params).update(frame._meta)  # parameters and columns, checked at once
    dask = require("dask", extra="dask", feature=_FEATURE)
    if columns is None:
        columns = list(frame.columns)
    else:
        columns = list(columns)
        frame = frame[columns]  # read only these (Parquet: other columns are not read)
    leaves = [
        dask.delayed(_profile_part)(params, part, columns, i)
        for i, part in enumerate(guarded_parts(frame))
    ]
    with _progress("profiling", progress):
        result: _Zoned = _tree_reduce(leaves, _merge_zoned, split_every)
    return result[0].finalize()


def _profile_for(detector: DriftDetector, data: _Data, columns: Sequence[str] | None) -> Profile:
    check_params("fit_detector/detect", {"detector": detector}, {"detector": [_DETECTOR]})
    if detector.multivariate:
        raise DriftError(
            "multivariate=True needs the rows in memory; the dask functions build profiles "
            "only (use a DriftDetector with multivariate=False)"
        )
    return profile(
        data,
        max_exact=detector.max_exact,
        relative_accuracy=detector.relative_accuracy,
        columns=columns,
        privacy=getattr(detector, "privacy", None),
    )


def fit_detector(detector: DriftDetector, reference: _Data) -> DriftDetector:
    """Fit ``detector`` on the profile of a Dask DataFrame or Parquet dataset.

    Returns
    -------
    DriftDetector
        ``detector``, fitted as ``detector.fit(reference.compute())`` would be.

    Raises
    ------
    DriftError
        For ``multivariate=True`` (it needs rows) or an empty reference.
    """
    prof = _profile_for(detector, reference, getattr(detector, "columns", None))
    return detector.fit(prof)


def detect(detector: DriftDetector, current: _Data) -> DriftReport:
    """Compare a Dask DataFrame or Parquet dataset with a fitted detector's reference.

    Returns
    -------
    DriftReport
        Equal to ``detector.detect(current.compute())``.

    Raises
    ------
    NotFittedError
        Before the detector is fitted.
    """
    check_params("detect", {"detector": detector}, {"detector": [_DETECTOR]})
    if not hasattr(detector, "reference_"):
        raise NotFittedError(
            "This DriftDetector is not fitted yet; call fit(reference) first.",
            estimator="DriftDetector",
        )
    return detector.detect(_profile_for(detector, current, detector.columns_))
