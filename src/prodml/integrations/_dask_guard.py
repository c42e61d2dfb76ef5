"""Failures upstream of prodml's tasks, named by partition (private; see ``dask.py``).

A lazy output (``transform``, ``score``, ``historical``) runs its tasks after the tasks
that build the input's partitions (reading Parquet, a user's ``map_partitions``). A task
that fails there stops the graph before prodml's task for that partition runs, so
prodml cannot catch it in its own task. :func:`guarded` rebuilds a graph with every task
run inside a guard that turns such a failure into the
:class:`~prodml.integrations.dask.PartitionError` an eager path raises: the partition
of the input frame it was computed for, the Parquet file when Dask's task names it, the
cause chained. A ``KeyError`` in a partition that lacks a column of the input frame (its
columns checked, not the error's text) is a missing column, raised as the
``SchemaError`` any partition short of a column gets. The tasks, their keys and the
values they compute are unchanged, and nothing is read twice.

Fusion. Dask fuses a partition's chain of tasks (read, the user's ``map_partitions``,
prodml's) into one task, on its expressions, before a graph exists; the guard needs the
graph (it wraps tasks), so what it returns is opaque to the expressions after it. The
lazy outputs are therefore guarded *after* prodml's ``map_partitions`` is added: Dask
fuses it with the input's tasks first, and the guard wraps the fused task. A lazy array
(``transform``) then runs as many tasks as without the guard; a lazy frame adds one
alias task per partition (``dd.from_graph`` renames its keys), and what the user chains
after the output is not fused into it. The eager functions give prodml's work to
``dask.delayed`` tasks, which Dask never fuses with a frame's: their partitions are
``Delayed`` objects on the guarded graph's own keys (:func:`guarded_parts`, no alias),
so they run as many tasks as unguarded (``benchmarks/bench_dask_guard.py``). Dask's
annotations are hints to the scheduler, never code run on a failure, so they cannot
replace the guard.

Files. No public API maps a partition to the files it reads: ``dd.read_parquet`` may
split a file into several partitions (row groups) or, through the optimizer, fuse small
files into one; ``divisions`` are index bounds; ``include_path_column`` would label the
rows that were read (Dask 2026.7 ignores it), and a failed read has none; the paths a
user gave are folders or globs as often as files. The read task's own argument
(:func:`_sources`, looked for in dask 2026.7's fsspec and arrow readers) is the only
source, searched only to name files in an error (after a failure, or by
:func:`partition_files` for an error the client raises): a Dask that renames it gives
no file, never a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pandas as pd

from prodml._extras import require

__all__ = ["guarded", "guarded_map", "guarded_parts", "partition_files"]

_FEATURE = "prodml.integrations.dask"
_SEARCH_DEPTH = 8  # how deep a failed task's arguments are searched for Parquet files


def guarded(collection: Any, columns: list[Any] | None = None) -> Any:
    """``collection``, every task of its graph run so that a failure names its partition.

    ``collection`` is a Dask DataFrame, or the Dask array ``map_partitions`` makes of
    one; guarding the output of prodml's own ``map_partitions`` (not its input) keeps
    Dask's fusion of the input's tasks with prodml's. The graph is the optimized one Dask
    would run (its optimizer may fuse small Parquet files into one partition: the
    partitions are those Dask computes); a task is labelled with the first partition
    that needs it. ``columns`` are the input frame's (default the collection's own): a
    ``KeyError`` in a partition that lacks one is a missing column.

    Raises
    ------
    PartitionError
        When Dask fails while planning the partitions (reading Parquet statistics of a
        file that is gone...), with no partition.
    """
    dd = require("dask.dataframe", extra="dask", feature=_FEATURE)
    da = require("dask.array", extra="dask", feature=_FEATURE)
    array = isinstance(collection, da.Array)
    out, keys, opt = _guard(collection, columns, array)
    if array:  # the same keys: no alias task per chunk
        return da.Array(out, opt.name, opt.chunks, meta=opt._meta)
    layer = _Layer(out, token=opt._name)
    return dd.from_graph(layer, opt._meta, opt.divisions, keys, "prodml-input")


def guarded_map(frame: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
    """``frame.map_partitions(func, *args, **kwargs)``, guarded as :func:`guarded`.

    The lazy outputs' one way to guard: after prodml's task is added, so that Dask fuses
    it with the input's tasks first; a column of ``frame`` that a partition lacks is a
    missing column.
    """
    return guarded(frame.map_partitions(func, *args, **kwargs), columns=list(frame.columns))


def guarded_parts(frame: Any) -> list[Any]:
    """The partitions of ``frame`` guarded as :func:`guarded`, one ``Delayed`` each.

    For the eager functions, which hand each partition to a ``dask.delayed`` task: what
    ``guarded(frame).to_delayed()`` gives, without the alias task per partition that
    ``dd.from_graph`` adds.
    """
    delayed = require("dask.delayed", extra="dask", feature=_FEATURE)
    hlg = require("dask.highlevelgraph", extra="dask", feature=_FEATURE)
    out, keys, opt = _guard(frame, None, array=False)
    name = f"prodml-guarded-{opt._name}"
    graph = hlg.HighLevelGraph({name: _Layer(out, token=opt._name)}, {name: set()})
    return [delayed.Delayed(key, graph, layer=name) for key in keys]


def partition_files(part: Any) -> tuple[str, ...]:
    """The Parquet files that a partition of :func:`guarded_parts` reads, in task order.

    Found as a failed task's are (:func:`_sources`: Dask's read tasks, searched in the
    partition's guarded tasks), without running anything; empty when no task names a
    file. Asked only to name the files in an error, never to decide a result.
    """
    layers = getattr(part.dask, "layers", {})
    tasks = getattr(layers.get(getattr(part, "_layer", None)), "mapping", None)
    if not isinstance(tasks, Mapping):  # not a graph of guarded_parts
        return ()
    found: dict[str, None] = {}
    seen: set[Any] = set()
    stack = [part.key]
    while stack:
        key = stack.pop()
        task = tasks.get(key)
        if key in seen or task is None:
            continue
        seen.add(key)
        args: tuple[Any, ...] = getattr(task, "args", ())
        if len(args) > 1 and getattr(task, "func", None) is _run:
            node = getattr(args[1], "value", None)  # the wrapped task, as _guard put it
            found.update((s.path, None) for s in _sources(node, _SEARCH_DEPTH))
        stack.extend(getattr(task, "dependencies", ()))
    return tuple(found)


def _guard(
    collection: Any, columns: list[Any] | None, array: bool
) -> tuple[dict[Any, Any], list[Any], Any]:
    """The guarded tasks of ``collection``'s graph, its output keys and the optimized one."""
    from prodml.errors import ProdMLError  # noqa: PLC0415 - no import cycle
    from prodml.integrations._dask_errors import PartitionError, _cause  # noqa: PLC0415

    spec = require("dask._task_spec", extra="dask", feature=_FEATURE)
    try:
        opt = collection if array else collection.optimize()
        keys = opt.__dask_keys__()
        graph = spec.convert_legacy_graph(dict(opt.__dask_graph__()))
    except ProdMLError:
        raise
    except Exception as err:
        raise PartitionError(
            f"planning the partitions of the Dask DataFrame failed: {_cause(err)}"
        ) from err
    if array:  # one chunk per partition: [[(name, i, 0)], ...]
        keys = [k for row in keys for k in row]
    if columns is None:
        meta = opt._meta
        columns = list(meta.columns) if hasattr(meta, "columns") else []
    names = ("prodml-columns", opt.name if array else opt._name)  # one key, not a copy each
    out: dict[Any, Any] = {names: spec.DataNode(names, list(columns))}
    for key, index in _first_partition(graph, keys).items():
        node = graph[key]
        if isinstance(node, spec.DataNode):
            out[key] = node
        elif isinstance(node, spec.Alias):
            # dd.from_delayed's aliases may carry another key than their own in the graph
            out[key] = spec.Alias(key, node.target)
        else:
            deps = list(node.dependencies)
            out[key] = spec.Task(
                key,
                _run,
                index,
                spec.DataNode(None, node),
                spec.DataNode(None, deps),
                spec.TaskRef(names),
                *[spec.TaskRef(d) for d in deps],
            )
    return out, keys, opt


class _Layer(Mapping[Any, Any]):
    """The guarded graph, named after the frame it guards.

    Dask names a graph by hashing it, which for ``dd.from_pandas`` would hash every
    value of the data again: the optimized frame's name (already a hash of the frame)
    stands for it.
    """

    def __init__(self, tasks: dict[Any, Any], *, token: str) -> None:
        self._tasks = tasks
        self._token = token

    def __getitem__(self, key: Any) -> Any:
        return self._tasks[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __dask_tokenize__(self) -> tuple[str, str]:
        return ("prodml-guarded", self._token)


def _first_partition(graph: dict[Any, Any], keys: list[Any]) -> dict[Any, int]:
    """For each task ``keys`` need, the first output partition that needs it."""
    where: dict[Any, int] = {}
    for index, key in enumerate(keys):
        stack = [key]
        while stack:
            k = stack.pop()
            if k in where or k not in graph:  # not in graph: data held by a cluster
                continue
            where[k] = index
            stack.extend(graph[k].dependencies)
    return where


def _run(index: int, node: Any, deps: list[Any], columns: list[Any], *values: Any) -> Any:
    """Run the task ``node`` of partition ``index``; a failure names the partition.

    ``columns`` are the input frame's: a task failing on one of them that its partition
    lacks raises the ``SchemaError`` a partition of other columns gets.
    """
    from prodml.integrations._dask_errors import PartitionError, _on_partition  # noqa: PLC0415

    # A prodml error upstream (another prodml output) gets the partition added.
    sources: list[_Source] = []

    def files() -> tuple[str, ...]:
        sources.extend(_sources(node, _SEARCH_DEPTH))
        return tuple(dict.fromkeys(s.path for s in sources))

    try:
        return _on_partition(index, node, dict(zip(deps, values, strict=True)), files=files)
    except PartitionError as err:
        missing = _missing_from(err.__cause__, columns, values, tuple(sources))
        if missing:
            raise _missing_error(missing, index, err.files) from err.__cause__
        raise


def _missing(
    cause: BaseException | None,
    columns: list[Any],
    values: tuple[Any, ...],
    files: tuple[str | _Source, ...],
) -> list[str]:
    """The columns of ``columns`` the partition lacks (see :func:`_missing_from`)."""
    return list(_missing_from(cause, columns, values, files))


def _missing_from(
    cause: BaseException | None,
    columns: list[Any],
    values: tuple[Any, ...],
    files: tuple[str | _Source, ...],
) -> dict[str, list[str]]:
    """The columns of ``columns`` the partition lacks, each with the files that lack it.

    Asked when a ``KeyError`` (or, for a task that read files, ``ArrowInvalid``) stopped
    the partition's task.

    The partition's columns are checked against the ones needed, never the error's text
    (pandas words it as it likes, and a user's function may raise a ``KeyError`` for a
    reason of its own). A task with input frames (a projection by Dask of a partition
    that does not match the frame's meta, e.g. from ``dd.from_delayed``) lacks a column
    that none of them holds: a frame the user's function takes besides the partition,
    or each side of a merge, may hold only some. A task that read Parquet ``files`` (no
    input frame) lacks a column that its reader asked a file for and the file's schema
    (its footer, read through the reader's own filesystem: S3 endpoint, credentials)
    does not hold; a column the reader did not ask for (a path column, one a later step
    of the fused task adds) is not the file's to hold, and a ``name=value`` folder of the
    path (a hive partition) supplies its column. A partition with every column, or a
    file whose schema cannot be read, has none missing: the failure stays a
    ``PartitionError``.

    Dask may fuse several small files into one partition (``FusedIO``: a projection of
    few columns read before a ``map_partitions``, an ``assign``...); the task then reads
    every file of the partition, and each column is named with the files that lack it
    (none for a task with input frames: no file is known to lack it). With
    ``aggregate_files`` the reader concatenates the files' Arrow tables first, and a
    file short of a column stops it with ``ArrowInvalid`` (the schemas differ) instead
    of a ``KeyError``: for a task that read files, that cause is checked the same way
    (files whose schemas differ by type only, or by an extra column, have none missing).
    """
    import pyarrow as pa  # noqa: PLC0415 - only after a failed task

    if not isinstance(cause, KeyError | pa.ArrowInvalid):
        return {}
    needed = [c for c in columns if isinstance(c, str)]
    frames = [v for v in values if isinstance(v, pd.DataFrame)]
    if frames:
        if not isinstance(cause, KeyError):
            return {}
        return {c: [] for c in needed if all(c not in f.columns for f in frames)}
    missing: dict[str, list[str]] = {}
    for source in files:
        read = source if isinstance(source, _Source) else _Source(source)
        have = read.columns()
        if have is None:
            return {}
        folders = read.path.replace("\\", "/").split("/")
        for c in needed:
            if read.asked is not None and c not in read.asked:
                continue
            if c not in have and not any(d.startswith(f"{c}=") for d in folders):
                missing.setdefault(c, []).append(read.path)
    return missing


class _Source:
    """A Parquet file a failed read task names, with what its reader knows of it.

    ``schema`` reads the file's column names through the reader's own filesystem (None:
    fsspec's default for the path); ``asked`` are the columns the reader asked the file
    for (None: unknown, every column of the frame is).
    """

    __slots__ = ("asked", "path", "schema")

    def __init__(
        self,
        path: str,
        schema: Callable[[], Any] | None = None,
        asked: frozenset[str] | None = None,
    ) -> None:
        self.path = path
        self.schema = schema
        self.asked = asked

    def columns(self) -> set[str] | None:
        """The file's column names (its footer), None if it cannot be read."""
        try:
            if self.schema is not None:
                return set(self.schema().names)
            fsspec = require("fsspec", extra="dask", feature=_FEATURE)
            import pyarrow.parquet as pq  # noqa: PLC0415 - only after a failed read

            fs, inner = fsspec.core.url_to_fs(self.path)
            with fs.open(inner, "rb") as f:
                return set(pq.read_schema(f).names)
        except Exception:  # noqa: BLE001 - unreadable: no column is said missing
            return None


def _missing_error(missing: dict[str, list[str]], index: int, files: tuple[str, ...]) -> Exception:
    """The SchemaError of columns ``missing`` from partition ``index``.

    Each column names the files that lack it (up to three, as a ``PartitionError``
    does); a column no file is known to lack names the task's file, when it read one.
    """
    from prodml.errors import SchemaError, SchemaProblem  # noqa: PLC0415
    from prodml.integrations._dask_errors import _files_named  # noqa: PLC0415

    def where(lacking: list[str]) -> str:
        text = f"partition {index} of the Dask DataFrame"
        named = lacking or (list(files) if len(files) == 1 else [])
        return f"{text} ({_files_named(tuple(named))})" if named else text

    return SchemaError(
        problems=[
            SchemaProblem(c, "missing", f"column of the frame's meta is missing from {where(f)}")
            for c, f in missing.items()
        ]
    )


def _sources(obj: object, depth: int) -> Iterator[_Source]:
    """The Parquet files a read task names (Dask's fsspec and arrow readers), one each."""
    seen: set[str] = set()
    for source in _search(obj, depth, None):
        if source.path not in seen:
            seen.add(source.path)
            yield source


def _search(obj: object, depth: int, reader: Any) -> Iterator[_Source]:
    """``_sources`` of ``obj``; ``reader`` is the task that holds it (its function, columns)."""
    if depth < 0:
        return
    if isinstance(obj, dict):
        piece = obj.get("piece")  # the fsspec reader's part: (path, row groups, filters)
        if isinstance(piece, tuple) and piece and isinstance(piece[0], str):
            yield _fsspec_source(piece[0], reader)
            return
        items: Any = obj.values()
    elif isinstance(obj, list | tuple):
        items = obj
    elif type(obj).__name__ == "FragmentWrapper":  # the arrow reader's fragment
        source = _arrow_source(obj, reader)
        if source is not None:
            yield source
        return
    else:
        args = getattr(obj, "args", None)
        kwargs = getattr(obj, "kwargs", None)
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            return  # not a task (a DataNode's value is data: not searched)
        items = [*args, *kwargs.values()]
        reader = obj
    for item in items:
        yield from _search(item, depth - 1, reader)


def _fsspec_source(path: str, task: Any) -> _Source:
    """The fsspec reader's file: its filesystem and columns are on the task's function."""
    func = getattr(task, "func", None)
    if type(func).__name__ != "ParquetFunctionWrapper":
        return _Source(path)
    fs = getattr(func, "fs", None)
    asked = getattr(func, "columns", None)
    if asked is None:  # no projection: the columns of the reader's meta
        asked = getattr(getattr(func, "meta", None), "columns", None)
    names = None if asked is None else frozenset(c for c in asked if isinstance(c, str))
    if fs is None or not hasattr(fs, "open"):
        return _Source(path, asked=names)

    def schema() -> Any:
        import pyarrow.parquet as pq  # noqa: PLC0415 - only after a failed read

        with fs.open(path, "rb") as f:
            return pq.read_schema(f)

    return _Source(path, schema, names)


def _arrow_source(wrapper: Any, task: Any) -> _Source | None:
    """The arrow reader's file: its fragment reads its own footer through its filesystem."""
    fragment = getattr(wrapper, "_fragment", None)
    path = getattr(fragment, "path", None)
    packed = getattr(wrapper, "_fragment_packed", None)
    if path is None and isinstance(packed, tuple) and len(packed) > 1:
        path = packed[1]
    if not isinstance(path, str):
        return None
    return _Source(path, lambda: wrapper.fragment.physical_schema, _arrow_asked(task))


def _arrow_asked(task: Any) -> frozenset[str] | None:
    """The columns the arrow reader's task asks the files for: ``columns``, else ``schema``."""
    import pyarrow as pa  # noqa: PLC0415 - only after a failed read

    kwargs = getattr(task, "kwargs", None) or {}
    args = [kwargs.get("columns"), kwargs.get("schema"), *getattr(task, "args", ())]
    for arg in args:  # the column list first, the dataset's schema when none is given
        if isinstance(arg, list) and arg and all(isinstance(c, str) for c in arg):
            return frozenset(arg)
    for arg in args:
        if isinstance(arg, pa.Schema):
            return frozenset(arg.names)
    return None
