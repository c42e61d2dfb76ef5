"""Local files prodml writes: folders made and files replaced whole, or a ConfigError naming them.

A path the OS refuses (a folder under a file, a missing parent, no permission, a full
disk) becomes a :class:`~prodml.errors.ConfigError` naming the path and the OS's reason,
and a file is written beside its final name and renamed into place, so a failed write
leaves what was there as it was.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = [
    "NUL_REASON",
    "PATH_QUOTE",
    "checked_path",
    "folder_reason",
    "local_path",
    "make_folder",
    "os_reason",
    "write_text",
]

PATH_QUOTE = 400
"""Characters of a path a message shows: enough for real paths, bounded for hostile ones."""
NUL_REASON = "the path holds a NUL character, which no file name can"
"""Why a path with a NUL is refused (the OS functions say "embedded null byte")."""


def os_reason(err: BaseException) -> str:
    """Why the OS refused, for a message: ``strerror`` (no path in it), else the type name.

    Anything but an :class:`OSError` (a decoding or JSON error) is shown as its own text,
    but for the ``ValueError`` the OS functions raise for a NUL character in a path.
    """
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    if isinstance(err, ValueError) and str(err) == "embedded null byte":
        return NUL_REASON
    return str(err)


def folder_reason(err: BaseException) -> str:
    """:func:`os_reason` of a failed ``mkdir(parents=True, exist_ok=True)``.

    ``exist_ok`` still refuses a file at the path, with the OS's "File exists": said here
    as what it means.
    """
    if isinstance(err, FileExistsError):
        return "it is a file, not a folder"
    return os_reason(err)


def checked_path(path: str | os.PathLike[str], what: str, *, parameter: str = "path") -> Path:
    r"""``path`` as a :class:`~pathlib.Path`, or a :class:`ConfigError` if no file can have it.

    ``what`` names the path in the message. A value that is not a path, or one with a NUL
    character in it, is refused here rather than by the OS call that would trip on it
    later with a bare ``TypeError`` or ``ValueError`` (or, on Python 3.11, be told by
    ``Path.exists()`` that nothing is there).

    Examples
    --------
    >>> checked_path(chr(0), "the store's folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    prodml.errors.ConfigError: cannot use '\x00' as the store's folder: the path holds a NUL ...
    """
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(
            f"{what} must be a str or os.PathLike path. Got {type(path).__name__}.",
            parameter=parameter,
        )
    text = os.fspath(path)
    if "\x00" in str(text):
        raise ConfigError(
            f"cannot use {short_repr(text, limit=PATH_QUOTE)} as {what}: {NUL_REASON}",
            parameter=parameter,
        )
    return Path(path)


def local_path(path: str | os.PathLike[str], what: str, *, parameter: str = "path") -> Path:
    """:func:`checked_path` made absolute (``~`` expanded, links resolved)."""
    checked = checked_path(path, what, parameter=parameter)
    try:
        return checked.expanduser().resolve()
    except (OSError, RuntimeError) as err:  # RuntimeError: a loop of links
        shown = short_repr(str(checked), limit=PATH_QUOTE)
        raise ConfigError(
            f"cannot use {shown} as {what}: {os_reason(err)}", parameter=parameter
        ) from err


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
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise ConfigError(
            f"cannot create {what} {short_repr(str(path), limit=PATH_QUOTE)}: {folder_reason(err)}",
            parameter=parameter,
        ) from err


def write_text(
    path: str | os.PathLike[str],
    text: str,
    what: str = "file",
    *,
    fsync: bool = False,
    mode: int = 0o666,
) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole, or raise :class:`ConfigError` and keep it.

    The text goes to a temporary file in the same folder, which then replaces ``path`` in
    one rename: readers see the old file or the new one, never half of one. Otherwise it
    behaves as ``open(path, "w")`` (or ``os.open(path, ..., mode)``): a symbolic link is
    written through (the file it names is replaced, the link stays), a file replaced keeps
    its permissions, and a new one gets ``mode`` less what the umask takes away. The
    default ``0o666`` gives the umask's permissions, as for any file a user writes;
    ``mode=0o600`` keeps a new file private to its owner (state that holds run ids and
    decisions). Either way the temporary file is created with the permissions the file
    will have, before a byte is written: no other user can open it in between.

    With ``fsync`` the file's data reaches the disk before the rename, and the rename
    before this returns (the folder is synced where the OS allows it): state that a
    restart resumes from survives a power cut as the old file or the new one.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> write_text(root / "report.html", "<p>hi</p>")
    >>> (root / "report.html").read_text()
    '<p>hi</p>'
    >>> write_text(root, "x", "report")
    Traceback (most recent call last):
    ...
    prodml.errors.ConfigError: cannot write report '...': it is a folder
    """
    target = Path(path)
    shown = short_repr(os.fspath(path), limit=PATH_QUOTE)
    if "\x00" in str(target):  # (Path.is_dir says False for it on Python 3.11)
        raise ConfigError(f"cannot write {what} {shown}: {NUL_REASON}", parameter="path")
    try:  # a name too long for the system is refused here (Python 3.11 raises)
        is_dir = target.is_dir()
        if not is_dir and target.is_symlink():  # replace the file it names, not the link
            target = Path(os.path.realpath(target))
    except OSError as err:
        raise _unwritable(what, shown, err) from err
    if is_dir:
        raise ConfigError(f"cannot write {what} {shown}: it is a folder", parameter="path")
    try:
        keep_mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except OSError:  # no file yet (or none we may stat): ``mode`` and the umask decide
        keep_mode = None
    # O_EXCL: a fresh name. Created with the permissions it will keep (at most those of
    # the file it replaces), since a reader who opens it now can read what is written
    # later whatever a chmod does after; mkstemp's fixed 0o600 would turn a shared
    # report private.
    tmp = target.parent / f".{target.name[:64]}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL,
            (mode if keep_mode is None else keep_mode) & 0o777,
        )
    except OSError as err:
        raise _unwritable(what, shown, err) from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if keep_mode is not None:  # exactly the old file's, whatever the umask
                os.fchmod(fh.fileno(), keep_mode)
            fh.write(text)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as err:  # an OSError, or text that is not UTF-8 (a lone surrogate)
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _unwritable(what, shown, err) from err
        raise
    if fsync:
        _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the rename is done
        pass
    finally:
        os.close(fd)


def _unwritable(what: str, shown: str, err: OSError) -> ConfigError:
    return ConfigError(f"cannot write {what} {shown}: {os_reason(err)}", parameter="path")
