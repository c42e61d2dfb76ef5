"""The local files of the embedded stores: folders made, or a ConfigError that names them."""

from __future__ import annotations

from pathlib import Path

from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = ["PATH_QUOTE", "make_folder"]

PATH_QUOTE = 400
"""Characters of a path a message shows: enough for real paths, bounded for hostile ones."""


def make_folder(path: Path, what: str, *, parameter: str) -> None:
    """Create ``path`` and its parents, or raise :class:`ConfigError` naming it and why.

    ``what`` says whose folder it is, for the message; ``parameter`` is the argument the
    path came from.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "file").write_text("x")
    1
    >>> make_folder(root / "file" / "store", "the store's folder", parameter="path")
    Traceback (most recent call last):
    ...
    prodml.errors.ConfigError: cannot create the store's folder '.../file/store': Not a directory
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise ConfigError(
            f"cannot create {what} {short_repr(str(path), limit=PATH_QUOTE)}: {why}",
            parameter=parameter,
        ) from err
