"""Progress bars for long work: on a terminal only, never in pipes, logs or notebooks' files.

One helper, :func:`progress_bar`, used by every long-running path (the ``prodml drift`` and
``prodml score`` commands, the demo, out-of-core profiles, the Dask fits). It returns a
`tqdm <https://tqdm.github.io>`_ bar (tqdm is a core dependency: small, pure Python, no
dependencies of its own) writing to stderr, or a disabled one:

- ``enabled=None`` (the default everywhere): a bar only when stderr is a terminal, and only
  once the work has lasted ``delay`` seconds, so quick calls never flash one;
- ``enabled=False`` (``--quiet`` on the command line, ``progress=False`` in the API): never;
- ``enabled=True``: always, even into a pipe.

tqdm's own environment variables apply on top (``TQDM_DISABLE=1`` turns every bar off).

Bars do not nest: while a bar is drawn, an automatic (``enabled=None``) bar started
inside the same work stays hidden, so ``prodml drift`` shows its "profiling FILE" bar
and not also the profile's own. :func:`chunk_progress` counts the rows of an iterable of
chunks and draws a bar only from the second chunk on: one table is never "long work".
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import IO, Any, Protocol, TypeVar

__all__ = ["chunk_progress", "drawing", "progress_bar"]

# True while a visible bar is drawn: automatic bars inside it stay hidden (no nesting).
_DRAWING: ContextVar[bool] = ContextVar("prodml_progress_drawing", default=False)


class _Sized(Protocol):
    @property
    def num_rows(self) -> int: ...


_C = TypeVar("_C", bound=_Sized)

#: Seconds of work before a bar appears (quick calls never flash one).
DELAY = 0.5


def progress_bar(
    *,
    desc: str,
    total: float | None = None,
    unit: str = "rows",
    enabled: bool | None = None,
    delay: float | None = None,
    file: IO[str] | None = None,
) -> Any:
    """A tqdm progress bar on stderr, shown on a terminal only (see the module docstring).

    Parameters
    ----------
    desc
        What is being done, e.g. ``"reading ref.parquet"``.
    total
        The amount of work, in ``unit``; ``None`` when unknown (a count and a rate only).
    unit
        What ``update(n)`` counts.
    enabled
        ``None``: on a terminal only; ``True``: always; ``False``: never.
    delay
        Seconds of work before the bar appears; ``None``: :data:`DELAY`.
    file
        Where to draw it (default: ``sys.stderr``).

    Returns
    -------
    tqdm.tqdm
        A context manager with ``update(n)``, ``set_description_str(text)``, ``close()``
        and ``write(line)`` (a line printed above the bar, or plainly when disabled).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()  # no terminal: nothing is drawn
    >>> with progress_bar(desc="counting", total=3, file=out) as bar:
    ...     for _ in range(3):
    ...         bar.update(1)
    >>> bar.disable, out.getvalue()
    (True, '')
    >>> with progress_bar(desc="counting", total=3, file=out, enabled=True, delay=0) as bar:
    ...     bar.update(3)
    >>> "counting:" in out.getvalue()  # drawn, then cleared (leave=False)
    True
    """
    from tqdm import tqdm  # noqa: PLC0415 - only long work needs it (terminal bars only)

    stream = sys.stderr if file is None else file
    if enabled is None:
        isatty = getattr(stream, "isatty", None)
        enabled = bool(isatty and isatty()) and not _DRAWING.get()
    return tqdm(
        desc=desc,
        total=total,
        unit=unit,
        unit_scale=unit == "rows",
        disable=not enabled,
        delay=DELAY if delay is None else delay,
        file=stream,
        leave=False,
        dynamic_ncols=True,
    )


@contextlib.contextmanager
def drawing(bar: Any) -> Iterator[Any]:
    """Run the block under ``bar``: automatic bars inside stay hidden, drawn or not.

    Drawn, ``bar`` is the one bar of the work; hidden (``--quiet``, a pipe), so are the rest.
    """
    token = _DRAWING.set(True)
    try:
        with bar:
            yield bar
    finally:
        _DRAWING.reset(token)


def chunk_progress(chunks: Iterable[_C], *, desc: str, enabled: bool | None) -> Iterator[_C]:
    """Yield ``chunks`` unchanged, counting their rows on a bar from the second chunk on.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"x": [1, 2, 3]})
    >>> sum(c.num_rows for c in chunk_progress([t, t], desc="profiling", enabled=False))
    6
    """
    it = iter(chunks)
    first = next(it, None)
    if first is None:
        return
    yield first
    second = next(it, None)
    if second is None:  # one table: no bar
        return
    with progress_bar(desc=desc, enabled=enabled) as bar:
        bar.update(first.num_rows)
        for chunk in itertools.chain([second], it):
            bar.update(chunk.num_rows)
            yield chunk
