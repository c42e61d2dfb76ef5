"""One writer per state file: a lock while a controller steps, and a compare-and-swap.

Two controllers on one state file (a cron job overlapping the last one, a service thread
and a cron job) would each decide from their own copy of the state: both could start a
run, and the last to write would erase the other's decisions. The state file is
single-writer, and :class:`StateWriter` enforces it twice:

- while a controller steps or saves it holds an exclusive, non-blocking lock on
  ``<state file>.lock`` (``fcntl.flock`` where the OS has it); a second controller that
  tries meanwhile is refused at once, before it decides anything;
- before every write it compares the file on disk with the text it last read or wrote:
  a controller whose copy is stale (another one wrote since) is refused instead of
  overwriting newer decisions. Rebuild it from the file to continue.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from prodml._files import PATH_QUOTE, make_folder, os_reason
from prodml._quote import short_repr
from prodml.errors import ConfigError, ProdMLError
from prodml.retrain._state import RetrainStateError

if sys.platform != "win32":  # POSIX; on Windows the compare-and-swap alone guards the file
    import fcntl

__all__ = ["RetrainConflictError", "StateWriter"]


class RetrainConflictError(ProdMLError, RuntimeError):
    """Another controller holds or has changed the state file: this one must not write.

    Attributes
    ----------
    path
        The state file.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class StateWriter:
    """The lock and the last known text of one state file."""

    def __init__(self, path: Path, *, fresh: bool = False) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        # fresh: a path given after the controller was built must not hold a state yet
        self.known: str | None = None if fresh else self.read()
        self._depth = 0
        self._fd: int | None = None

    def _shown(self) -> str:
        return short_repr(str(self.path), limit=PATH_QUOTE)

    def read(self) -> str | None:
        """The file's text now (``None``: no file)."""
        try:
            return self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):  # as Path.exists() says False
            return None
        except (OSError, UnicodeDecodeError) as err:
            raise RetrainStateError(
                f"cannot read the RetrainController state file {self._shown()}: {os_reason(err)}",
                field="state",
            ) from err

    def check(self) -> None:
        """Raise when the file is no longer what this controller last read or wrote."""
        if self.read() != self.known:
            raise RetrainConflictError(
                f"the RetrainController state file {self._shown()} was written by another "
                "controller since this one read it; refusing to act on a stale state (one "
                "writer per state file: build a new controller from the file to continue)",
                path=str(self.path),
            )

    def wrote(self, text: str) -> None:
        """Remember ``text`` as the file's content (after a successful write)."""
        self.known = text

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock (re-entrant within this controller), then check the file."""
        if self._depth == 0:
            self._acquire()
        self._depth += 1
        try:
            if self._depth == 1:
                self.check()
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._release()

    def _acquire(self) -> None:
        if sys.platform == "win32":  # pragma: no cover - no flock
            return
        make_folder(self.path.parent, "the RetrainController state folder", parameter="state_path")
        try:
            # Read-only is enough for flock; a new lock file gets the state file's
            # permissions (an operator who opened the state up to a group opened it too).
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CREAT, self._mode())
        except OSError as err:
            raise ConfigError(
                f"cannot open the lock file of the RetrainController state file "
                f"{self._shown()}: {os_reason(err)}",
                parameter="state_path",
            ) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            raise RetrainConflictError(
                f"another RetrainController is stepping on the state file {self._shown()} "
                "(its lock file is held); one writer per state file: this step did nothing",
                path=str(self.path),
            ) from err
        self._fd = fd

    def _mode(self) -> int:
        try:
            return stat.S_IMODE(self.path.stat().st_mode) & 0o666
        except OSError:  # no state file yet: private, as the state file will be
            return 0o600

    def _release(self) -> None:
        if sys.platform == "win32":  # pragma: no cover - no flock
            return
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
