"""The input of the Dask functions and its partitions (private; see ``dask.py``).

:func:`_frame` turns what a function was given (a Dask or pandas DataFrame, Parquet
paths) into a Dask DataFrame; :func:`_conform` checks a partition's columns against the
frame's meta, and :func:`_zones` / :func:`_merge_zones` its datetime columns' time zones
across partitions. :func:`_tree_reduce` merges per-partition states in a tree,
:func:`_progress` draws a bar of Dask tasks, :func:`_shared` sends one object to every
task once.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

import pandas as pd

from prodml._data import type_name
from prodml._extras import require
from prodml._params import Interval, check_params
from prodml._progress import drawing, progress_bar
from prodml._quote import short_repr
from prodml.errors import SchemaError, SchemaProblem
from prodml.integrations._dask_errors import _FEATURE, _compute, _files_named

__all__: list[str] = []


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
    files: Callable[[int], tuple[str, ...]] | None = None,
) -> dict[str, tuple[int, str | None]]:
    """The first partition's zone of each column, or a SchemaError where partitions differ.

    ``files`` gives the Parquet files a partition reads, named in the error (asked only
    for the partitions it names).
    """
    first: dict[str, tuple[int, str | None]] = {}
    problems: dict[str, SchemaProblem] = {}
    for part in zones:
        for name, (index, tz) in part.items():
            seen = first.setdefault(name, (index, tz))
            if seen[1] != tz and name not in problems:
                problems[name] = SchemaProblem(
                    name,
                    "type",
                    f"timestamps are {_zone(seen[1])} in partition {seen[0]}"
                    f"{_read_from(seen[0], files)} and {_zone(tz)} in partition {index}"
                    f"{_read_from(index, files)}; one column takes one time zone "
                    "(make them agree with .dt.tz_localize / .dt.tz_convert first)",
                )
    if problems:
        raise SchemaError(problems=list(problems.values()))
    return first


def _gather_zones(
    *seen: dict[str, list[tuple[int, str | None]]],
) -> dict[str, list[tuple[int, str | None]]]:
    """Per column, the first zone and the first other zone of ``seen``, in partition order.

    The mergeable form of :func:`_merge_zones`'s input (a tree of in-order merges keeps
    what one pass keeps): the error is raised by the client, which can name the files.
    """
    out: dict[str, list[tuple[int, str | None]]] = {}
    for part in seen:
        for name, found in part.items():
            kept = out.setdefault(name, [])
            for index, tz in found:
                if not kept or (len(kept) == 1 and kept[0][1] != tz):
                    kept.append((index, tz))
    return out


def _read_from(index: int, files: Callable[[int], tuple[str, ...]] | None) -> str:
    """`` (file 'a.parquet')``: the files partition ``index`` reads, or nothing."""
    read = () if files is None else files(index)
    return f" ({_files_named(read)})" if read else ""


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
        For any other input, Parquet paths that cannot be read, or a frame read with
        ``include_path_column`` that lacks the path column (:func:`_check_path_column`).
    """
    dd = _dd()
    if isinstance(data, dd.DataFrame):
        _check_path_column(data)
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


def _check_path_column(frame: Any) -> None:
    """A SchemaError if ``frame`` was read with ``include_path_column`` but lacks the column.

    Dask 2026.7's ``read_parquet`` takes ``include_path_column`` into its ``**kwargs``
    and adds no column: without this check, a profile or a fit would silently go
    without the column the user asked for. The read expressions of ``frame`` (a walk of
    its expression, no data read) say what was asked; a frame that holds the column (a
    Dask that honours the option, or a column the user added) passes.
    """
    walk = getattr(getattr(frame, "expr", None), "walk", None)
    if walk is None:
        return
    have = set(frame.columns)
    problems: dict[str, SchemaProblem] = {}
    for node in walk():
        if "kwargs" not in getattr(node, "_parameters", ()):
            continue
        kwargs = node.operand("kwargs")
        asked = kwargs.get("include_path_column") if isinstance(kwargs, dict) else None
        if not asked:  # None, False, "": no column asked for
            continue
        name = asked if isinstance(asked, str) else "path"
        if name not in have and name not in problems:
            problems[name] = SchemaProblem(
                name,
                "missing",
                "dask.dataframe.read_parquet was given "
                f"include_path_column={short_repr(asked)} but added no such column "
                "(Dask 2026.7 accepts the option and ignores it); drop the option, or "
                "build the frame with dd.from_map over the files and add the column there",
            )
    if problems:
        raise SchemaError(problems=list(problems.values()))


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


def _number(partition_info: dict[str, Any] | None) -> int:
    """The partition's position, from the ``partition_info`` Dask gives ``map_partitions``."""
    return -1 if partition_info is None else int(partition_info["number"])
