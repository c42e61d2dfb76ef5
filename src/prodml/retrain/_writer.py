"""One writer per state file: a lock while a controller steps, and a compare-and-swap.

Two controllers on one state file (a cron job overlapping the last one, a service thread
and a cron job, two hosts sharing a network folder) would each decide from their own copy
of the state: both could start a run, and the last to write would erase the other's
decisions. The state file is single-writer, and :class:`StateWriter` enforces it twice:

- while a controller steps or saves it holds an exclusive, non-blocking lock on
  ``<state file>.lock`` (``fcntl.flock`` where the OS has it); a second controller that
  tries meanwhile is refused at once, before it decides anything. This is a convenience,
  not the guarantee: ``flock`` holds between processes of one host on a local
  filesystem, but on NFS and other network filesystems it may be local to each client
  (or emulated with other semantics), so two hosts can both "hold" it;
- every write is a compare-and-swap, the guarantee that holds across hosts: the writer
  first creates a *claim* ``<state file>.claim-<digest of the text it last read or
  wrote>`` with ``O_CREAT | O_EXCL`` (atomic on local filesystems and on NFS v3 and
  later), then reads the file again and writes (a fresh file renamed over it) only if it
  still holds that text, then removes the claim. Two writers with the same copy race for
  one claim and only one wins; a writer whose copy is stale finds the file changed. The
  loser is refused with :class:`RetrainConflictError`. A claim left by a writer killed
  between its claim and its rename is taken over: at once when its writer was on this
  host and is gone (its pid is dead, or this writer holds the lock), after
  :data:`STALE_CLAIM_S` when it came from another host.

The compare-and-swap needs a filesystem where a file created or renamed on one host is
seen by the next ``open`` on another (NFS's close-to-open consistency gives that; a
client mounted with ``lookupcache=all`` or ``nocto`` does not).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from prodml._files import PATH_QUOTE, make_folder, os_reason
from prodml._quote import short_repr
from prodml.errors import ConfigError, ProdMLError
from prodml.retrain._state import RetrainStateError

if sys.platform != "win32":  # POSIX; on Windows the compare-and-swap alone guards the file
    import fcntl

__all__ = ["STALE_CLAIM_S", "RetrainConflictError", "StateWriter"]

STALE_CLAIM_S = 300.0
"""Age (by the claim file's modification time) after which a claim from another host is
taken as left by a writer that died: a write (a small file, fsync, rename) takes well
under a second, and the margin covers clocks that differ between hosts."""


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


class StateWriter:
    """The lock, the claims and the last known text of one state file.

    ``locking=False`` leaves the lock out (a test of what two hosts, whose locks do not
    see each other, do): the compare-and-swap alone then guards the file.
    """

    def __init__(self, path: Path, *, fresh: bool = False, locking: bool = True) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.locking = locking and sys.platform != "win32"
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

    def claim_path(self) -> Path:
        """The claim a write over the known text must create first."""
        digest = hashlib.sha256(("" if self.known is None else "1" + self.known).encode())
        return self.path.with_name(f"{self.path.name}.claim-{digest.hexdigest()[:32]}")

    def write(self, save: Callable[[], str]) -> None:
        """Compare-and-swap: ``save()`` writes the file, only while it holds the known text.

        Raises
        ------
        RetrainConflictError
            Another writer holds the claim on the known text, or the file changed.
        """
        claim = self.claim_path()
        self._claim(claim)
        try:
            self.check()  # under the claim: no writer with this copy can change it now
            self.wrote(save())
        finally:
            with contextlib.suppress(OSError):
                claim.unlink()

    def _claim(self, claim: Path) -> None:
        for attempt in (0, 1):
            try:
                fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                if attempt == 0 and self._stale(claim):
                    self._break(claim)
                    continue
                raise RetrainConflictError(
                    f"another RetrainController is writing the state file {self._shown()} "
                    "(its claim on this state is held); one writer per state file: this "
                    "controller's write was refused",
                    path=str(self.path),
                ) from None
            except OSError as err:
                raise ConfigError(
                    f"cannot create the claim file of the RetrainController state file "
                    f"{self._shown()}: {os_reason(err)}",
                    parameter="state_path",
                ) from err
            with contextlib.suppress(OSError), os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
            return

    def _stale(self, claim: Path) -> bool:
        """Whether the claim was left by a writer that died before removing it."""
        try:
            age = time.time() - claim.stat().st_mtime
            owner = json.loads(claim.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return True  # removed meanwhile: try again
        except (OSError, UnicodeDecodeError, ValueError):
            return False  # half written (its writer may be writing it now): judged later
        if isinstance(owner, dict) and owner.get("host") == socket.gethostname():
            if self._fd is not None:  # this host's writers all take the lock first
                return True
            pid = owner.get("pid")
            if isinstance(pid, int) and not isinstance(pid, bool) and pid != os.getpid():
                return not _alive(pid)
        return age > STALE_CLAIM_S

    def _break(self, claim: Path) -> None:
        # Renamed away first: of two writers breaking it, one rename finds it gone.
        aside = claim.with_name(f"{claim.name}.stale-{uuid.uuid4().hex[:12]}")
        with contextlib.suppress(OSError):
            claim.rename(aside)
            aside.unlink()

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
        if not self.locking:  # pragma: no cover - no flock (Windows), or left out
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
        if not self.locking:  # pragma: no cover - no flock (Windows), or left out
            return
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
