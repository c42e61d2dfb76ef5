"""Failures of a partition: :class:`PartitionError`, and prodml's errors named by partition.

Every task prodml gives a partition runs through :func:`_on_partition`: a prodml error
gets the partition added to its message, any other failure becomes a
:class:`PartitionError` naming the partition (and the Parquet files Dask's task names),
chained to its cause; :func:`_compute` does the same for a failure outside the tasks.
Both are re-exported by :mod:`prodml.integrations.dask`, the public path of
:class:`PartitionError`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
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
