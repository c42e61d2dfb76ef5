"""Failures of a partition: :class:`PartitionError`, and prodml's errors named by partition.

Every task prodml gives a partition runs through :func:`_on_partition`: a prodml error
gets the partition added to its message, any other failure becomes a
:class:`PartitionError` naming the partition (and the Parquet files Dask's task names),
chained to its cause; :func:`_compute` does the same for a failure outside the tasks.
Both are re-exported by :mod:`prodml.integrations.dask`, the public path of
:class:`PartitionError`.
"""

from __future__ import annotations

import contextlib
import contextvars
import pickle
from collections.abc import Callable, Iterator
from typing import Any

from prodml._extras import require
from prodml._files import PATH_QUOTE
from prodml._quote import short_repr
from prodml.errors import ProdMLError

__all__ = ["PartitionError"]

_FEATURE = "prodml.integrations.dask"


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


# Named by its public path, as the docs name it: tracebacks show
# prodml.integrations.dask.PartitionError, which still resolves (dask.py re-exports it).
PartitionError.__module__ = "prodml.integrations.dask"


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
        what = f" ({_files_named(read)})" if read else ""
        raise PartitionError(
            f"partition {index} of the Dask DataFrame{what} failed: {_cause(err)}",
            partition=index,
            files=read,
        ) from err


_MAX_FILES = 3  # files named in one message; the error's ``files`` holds them all


def _files_named(read: tuple[str, ...]) -> str:
    """``file 'a'`` or ``files 'a', 'b', 'c' and 2 more``: Parquet files in a message."""
    named = ", ".join(short_repr(f, PATH_QUOTE) for f in read[:_MAX_FILES])
    if len(read) > _MAX_FILES:
        named += f" and {len(read) - _MAX_FILES} more"
    return f"{'file' if len(read) == 1 else 'files'} {named}"


def _in_partition(err: ProdMLError, index: int) -> None:
    """Add partition ``index`` to ``err``'s message, unless it names one already."""
    if index < 0 or isinstance(err, PartitionError):
        return
    if err.args and isinstance(err.args[0], str) and _WHERE not in err.args[0]:
        # str(err) is args[0], and pickling (to the client) rebuilds the error from args
        # (and its __dict__, where the client finds the partition to name its files)
        err.args = (f"{err.args[0]} (in partition {index}{_WHERE}", *err.args[1:])
        err.__dict__[_PARTITION] = index


_WHERE = " of the Dask DataFrame)"
_PARTITION = "_prodml_dask_partition"

_FILES: contextvars.ContextVar[Callable[[int], tuple[str, ...]] | None] = contextvars.ContextVar(
    "prodml_dask_partition_files", default=None
)


@contextlib.contextmanager
def _naming_files(files: Callable[[int], tuple[str, ...]]) -> Iterator[None]:
    """In the block, a prodml error from a partition's task also names the files it read.

    ``files`` gives partition ``index``'s Parquet files; :func:`_compute` asks it on the
    client, for the partition an error names, only when one arrives.
    """
    token = _FILES.set(files)
    try:
        yield
    finally:
        _FILES.reset(token)


def _with_files(err: ProdMLError) -> None:
    """Name in ``err``'s message the files of the partition it names (see above)."""
    files = _FILES.get()
    index = err.__dict__.get(_PARTITION)
    if files is None or not isinstance(index, int) or not err.args:
        return
    where = f"(in partition {index}{_WHERE}"
    if not isinstance(err.args[0], str) or where not in err.args[0]:
        return
    try:
        read = files(index)
    except Exception:  # noqa: BLE001 - naming the files must never hide the error
        return
    if read:
        named = f"(in partition {index}{_WHERE[:-1]}, {_files_named(read)})"
        err.args = (err.args[0].replace(where, named), *err.args[1:])


def _compute(*collections: Any) -> Any:
    """``dask.compute``, with a failure outside prodml raised as :class:`PartitionError`.

    A prodml error from a partition's task names the partition's files, in a
    :func:`_naming_files` block.
    """
    dask = require("dask", extra="dask", feature=_FEATURE)
    try:
        return dask.compute(*collections)
    except ProdMLError as err:
        _with_files(err)
        raise
    except Exception as err:
        raise PartitionError(
            f"computing the partitions of the Dask DataFrame failed: {_cause(err)}"
        ) from err
