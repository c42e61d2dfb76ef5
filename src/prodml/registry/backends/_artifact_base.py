"""The artifact store base: what every store derives from its five primitives.

See :mod:`prodml.registry.backends.artifacts` for the layout, staging and the checks.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from prodml._files import os_reason
from prodml._pickle import NotPicklable
from prodml._quote import error_line
from prodml._secrets import Secrets
from prodml.errors import IntegrityError, RegistryError, StorageError
from prodml.registry._paths import KEY, is_sha256, key_problem, path_problem

__all__ = ["ArtifactStore", "UnsafeEntry", "check_files", "key_age", "new_key"]

_BLOCK = 1 << 20


def new_key(name: str) -> str:
    """A fresh, never-reused artifact key for model ``name``."""
    return f"{name}/{int(time.time() * 1000):013d}-{uuid.uuid4().hex}"


def key_age(key: str, now: float | None = None) -> float | None:
    """Seconds since ``key`` was created, or ``None`` if it is not a registry key."""
    m = KEY.fullmatch(key)
    if m is None:
        return None
    return (time.time() if now is None else now) - int(m.group("stamp")) / 1000.0


_STAGE_ATTEMPTS = 50
# Held while a staging directory is created and while empty ones are removed, so that in
# one process a tidy never removes the parent a registration has just made.
_STAGING_LOCK = threading.Lock()


class UnsafeEntry(Exception):  # noqa: N818 - an internal signal, converted at the boundary
    """A store found a symbolic link or special file under a key (``rel`` names it)."""

    def __init__(self, rel: str, what: str) -> None:
        self.rel = rel
        self.what = what
        super().__init__(f"{rel}: {what}")


def check_files(
    key: object, files: object, *, model_name: str, version: int | str
) -> dict[str, str]:
    """``files`` if ``key`` and every manifest entry are safe to use, else IntegrityError."""
    where = f"{model_name!r} version {version}"
    problem = key_problem(key, model_name)
    if problem is not None:
        raise IntegrityError(
            f"the artifact key of {where} {problem}; refusing to use it",
            model_name=model_name,
            version=version,
        )
    if not isinstance(files, Mapping) or not files:
        raise IntegrityError(
            f"the file manifest of {where} is empty or not a mapping",
            model_name=model_name,
            version=version,
        )
    for rel, digest in files.items():
        problem = path_problem(rel)
        if problem is not None:
            # An unsafe path is described, never repeated: it may be anything.
            raise IntegrityError(
                f"the file manifest of {where} names a path that {problem}; "
                "refusing to read or write it",
                model_name=model_name,
                version=version,
            )
        if not is_sha256(digest):
            raise IntegrityError(
                f"the manifest entry {rel[:80]!r} of {where} has no sha256 digest",
                path=rel,
                model_name=model_name,
                version=version,
            )
    return dict(files)


class ArtifactStore(NotPicklable, abc.ABC):
    """Base of every artifact store.

    Primitives: :meth:`_put_tree`, :meth:`_open`, :meth:`_list_files`,
    :meth:`_list_keys`, :meth:`_remove`; they receive only keys and paths that passed the
    checks. Staging, verification, fetching and deletion are derived from them.

    Attributes
    ----------
    url
        The store's URL with credentials replaced by ``***``.
    read_only
        Whether writes are refused.
    """

    url: str = ""
    read_only: bool = False
    _secrets: Secrets = Secrets()
    _tidy_staging = True

    _SHIP_INSTEAD = "its URL"

    # What the storage client raises, besides OSError, when the service cannot be reached
    # or refuses a request (botocore's errors for S3): a StorageError at this boundary.
    _client_errors: tuple[type[Exception], ...] = ()

    @abc.abstractmethod
    def _put_tree(self, src: Path, key: str) -> None:
        """Copy (or move) every file under local directory ``src`` to ``key``."""

    @abc.abstractmethod
    def _open(self, key: str, rel: str) -> IO[bytes]:
        """File ``key/rel`` open for reading in binary (FileNotFoundError if absent)."""

    @abc.abstractmethod
    def _list_files(self, key: str) -> list[str]:
        """Relative paths of the files under ``key``; :class:`UnsafeEntry` for a link."""

    @abc.abstractmethod
    def _list_keys(self) -> list[str]:
        """The keys in the store; :meth:`list_keys` drops anything not ``NAME/STAMP-UUID``."""

    @abc.abstractmethod
    def _remove(self, key: str) -> None:
        """Delete ``key`` and everything under it (no error if absent)."""

    @property
    def _failures(self) -> tuple[type[Exception], ...]:
        """The errors of a primitive that are the storage's fault, not a bug."""
        return (OSError, *self._client_errors)

    def _missing_store(self) -> StorageError | None:
        """Why every file is missing (a bucket that does not exist), or ``None``.

        Asked when a file is not found; a store whose root can vanish whole overrides it.
        """
        return None

    # ------------------------------------------------------------------ staging

    @property
    def staging_root(self) -> Path:
        """Local directory holding this store's staging areas (scratch on this machine)."""
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "prodml-staging" / digest

    @property
    def _staging_top(self) -> Path:
        """The directory staging cleanup stops at (never removed)."""
        return self.staging_root.parent.parent

    def staging_path(self, key: str) -> Path:
        """Where ``key``'s files are staged before :meth:`put`."""
        self._check_key(key)
        return self.staging_root.joinpath(*key.split("/"))

    @contextlib.contextmanager
    def stage(self, key: str) -> Iterator[Path]:
        """An empty private directory to write ``key``'s files into; removed afterwards."""
        self._check_writable()
        path = self.staging_path(key)
        # Another process's cleanup may remove an empty parent between our two calls (this
        # process's cannot: it takes the same lock): try again, backing off 1 ms doubling to
        # 50 ms, about 2 s in all.
        for attempt in range(_STAGE_ATTEMPTS):
            try:
                with _STAGING_LOCK:  # no tidy of this process between the two calls
                    if not path.parent.is_dir():
                        os.makedirs(path.parent, mode=0o700, exist_ok=True)
                    os.mkdir(path, 0o700)
                break
            except (FileNotFoundError, FileExistsError) as err:
                if attempt == _STAGE_ATTEMPTS - 1:
                    raise self._storage_error(err, "create the staging directory", path) from err
                time.sleep(min(0.05, 0.001 * 2**attempt))
            except OSError as err:
                raise self._storage_error(err, "create the staging directory", path) from err
        try:
            yield path
        finally:
            self.remove_staging(key)

    def staged_keys(self) -> list[str]:
        """Keys with a staging directory (registrations in flight or killed)."""
        out: list[str] = []
        try:
            names = list(os.scandir(self.staging_root))
        except OSError:
            return out
        for name in names:
            if not name.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError), os.scandir(name.path) as it:
                out.extend(
                    f"{name.name}/{e.name}" for e in it if KEY.fullmatch(f"{name.name}/{e.name}")
                )
        return sorted(out)

    # ------------------------------------------------------------------ derived

    def put(self, src: Path, key: str) -> None:
        """Upload a local directory as ``key``; on failure remove what was written."""
        self._check_writable()
        self._check_key(key)
        try:
            self._put_tree(src, key)
        except BaseException as err:
            with contextlib.suppress(*self._failures):
                self._remove(key)
            if isinstance(err, FileNotFoundError) and (gone := self._missing_store()):
                raise gone from err
            if isinstance(err, self._failures):
                raise self._storage_error(err, "write artifact key", key) from err
            raise

    def fetch(
        self, key: str, files: Mapping[str, str], *, model_name: str, version: int
    ) -> tuple[Path, bool]:
        """A local directory holding exactly ``files``, each checked against its sha256.

        Returns the directory and whether it is a temporary copy the caller must remove.
        Remote files are hashed while they are downloaded, so what the caller loads is
        exactly what was checked.

        Raises
        ------
        IntegrityError
            When the key or a path is unsafe, or a file is missing, has another hash, or
            is not in the manifest.
        StorageError
            When the local copy cannot be written (disk full...), the store cannot be
            reached or refuses the read, or its bucket does not exist.
        """
        files = check_files(key, files, model_name=model_name, version=version)
        tmp = Path(tempfile.mkdtemp(prefix="prodml-load-"))
        try:
            for rel, expected in files.items():
                dest = tmp.joinpath(*rel.split("/"))
                if os.path.commonpath([tmp, dest]) != str(tmp):  # pragma: no cover - checked
                    raise IntegrityError(f"path {rel!r} leaves the load directory", path=rel)
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with open(dest, "xb") as out:
                        got = self._copy_hash(key, rel, out, model_name, version)
                except OSError as err:
                    raise self._storage_error(err, "write the local copy", dest) from err
                _compare(rel, key, expected, got, model_name=model_name, version=version)
            self._check_no_extra(key, files, model_name, version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp, True

    def verify(self, key: str, files: Mapping[str, str], *, model_name: str, version: int) -> None:
        """Check every file of a version against its recorded sha256, writing nothing."""
        files = check_files(key, files, model_name=model_name, version=version)
        for rel, expected in files.items():
            got = self._copy_hash(key, rel, None, model_name, version)
            _compare(rel, key, expected, got, model_name=model_name, version=version)
        self._check_no_extra(key, files, model_name, version)

    def list_keys(self) -> list[str]:
        """Every artifact key in the store, sorted.

        Entries of :meth:`_list_keys` that are not ``NAME/STAMP-UUID`` keys (a folder
        someone else put in the bucket) are dropped here, whatever the backend, so
        :meth:`~prodml.registry.ModelRegistry.gc` never takes them for orphans.

        Raises
        ------
        StorageError
            When the store cannot be listed, or its root is missing whole (an S3 bucket
            that does not exist: :meth:`_missing_store`), rather than an empty list.
        """
        try:
            keys = sorted(k for k in self._list_keys() if key_problem(k) is None)
        except self._failures as err:
            if isinstance(err, FileNotFoundError) and (gone := self._missing_store()):
                raise gone from err
            raise self._storage_error(err, "list", self.url) from err
        if not keys and (gone := self._missing_store()) is not None:
            raise gone  # a missing bucket lists as empty: gc would see nothing to collect
        return keys

    def has_keys(self) -> bool:
        """Whether the store holds at least one artifact key (errors as :meth:`list_keys`)."""
        return bool(self.list_keys())

    def delete(self, key: str) -> None:
        """Delete one artifact key, its files and its staging directory."""
        self._check_writable()
        self._check_key(key)
        try:
            self._remove(key)
        except self._failures as err:
            raise self._storage_error(err, "delete artifact key", key) from err
        self.remove_staging(key)

    def remove_staging(self, key: str) -> None:
        """Delete ``key``'s staging directory, and its emptied parents in scratch space."""
        self._check_writable()
        path = self.staging_path(key)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        if self._tidy_staging:
            self.tidy_staging(path)

    def tidy_staging(self, start: Path | None = None) -> None:
        """Remove empty staging directories (above ``start``, or all of them)."""
        with _STAGING_LOCK:
            self._tidy(top=self._staging_top, start=start)

    def _tidy(self, *, top: Path, start: Path | None) -> None:
        if start is None:
            with contextlib.suppress(OSError):
                for name in os.scandir(self.staging_root):
                    with contextlib.suppress(OSError):
                        os.rmdir(name.path)  # only when empty
            start = self.staging_root / "_"
        for parent in start.parents:
            if parent == top or not parent.is_relative_to(top):
                break
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # ------------------------------------------------------------------ helpers

    def _check_writable(self) -> None:
        if self.read_only:
            raise RegistryError(f"the artifact store {self.url} is read-only; writes are refused")

    def _check_key(self, key: str) -> None:
        problem = key_problem(key)
        if problem is not None:
            raise RegistryError(f"artifact key {str(key)[:80]!r} {problem}; refusing to use it")

    def _storage_error(self, err: Exception, doing: str, path: object) -> StorageError:
        where = self._secrets.scrub(str(path))
        if not isinstance(err, OSError):  # a client error: say which store, and what it said
            text = f"cannot {doing} {where} in {self._describe()}: {self._client_reason(err)}"
            return StorageError(self._secrets.scrub(text), path=where)
        return StorageError(
            self._secrets.scrub(f"cannot {doing} {where}: {os_reason(err)} (errno {err.errno})"),
            path=where,
            errno=err.errno,
        )

    def _describe(self) -> str:
        """The store in words, for messages: its URL (credentials masked)."""
        return f"the artifact store {self.url}"

    def _client_reason(self, err: Exception) -> str:
        """What a storage client's error says, on one line, no credential in it."""
        return self._secrets.scrub(error_line(err, 300))

    def _copy_hash(
        self, key: str, rel: str, out: IO[bytes] | None, model_name: str, version: int
    ) -> str:
        """sha256 of ``key/rel`` while copying it to ``out``; write errors propagate."""
        h = hashlib.sha256()
        try:
            src = self._open(key, rel)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as err:
            gone = self._missing_store() if isinstance(err, FileNotFoundError) else None
            if gone is not None:
                raise gone from err
            raise _missing(rel, key, model_name, version) from None
        except UnsafeEntry as err:
            raise _unsafe(err, key, model_name, version) from None
        except self._failures as err:
            raise self._storage_error(err, "read", f"{key}/{rel}") from err
        with src:
            while True:
                try:
                    block = src.read(_BLOCK)
                except self._failures as err:
                    raise self._storage_error(err, "read", f"{key}/{rel}") from err
                if not block:
                    return h.hexdigest()
                h.update(block)
                if out is not None:
                    out.write(block)

    def _check_no_extra(
        self, key: str, files: Mapping[str, str], model_name: str, version: int
    ) -> None:
        try:
            found = self._list_files(key)
        except UnsafeEntry as err:
            raise _unsafe(err, key, model_name, version) from None
        except self._failures as err:
            raise self._storage_error(err, "list", key) from err
        extra = sorted(set(found) - set(files))
        if extra:
            raise IntegrityError(
                f"artifact of {model_name!r} version {version} holds file {extra[0][:80]!r} "
                f"that was not registered (key {key!r})",
                path=extra[0][:80],
                model_name=model_name,
                version=version,
            )


def _missing(rel: str, key: str, model_name: str, version: int) -> IntegrityError:
    return IntegrityError(
        f"artifact file {rel!r} of {model_name!r} version {version} is missing (key {key!r})",
        path=rel,
        model_name=model_name,
        version=version,
    )


def _unsafe(err: UnsafeEntry, key: str, model_name: str, version: int) -> IntegrityError:
    return IntegrityError(
        f"artifact of {model_name!r} version {version} holds {err.what} {err.rel[:80]!r} "
        f"(key {key!r}); artifacts hold only regular files, so it was not followed",
        path=err.rel[:80],
        model_name=model_name,
        version=version,
    )


def _compare(rel: str, key: str, expected: str, got: str, *, model_name: str, version: int) -> None:
    if got != expected:
        raise IntegrityError(
            f"artifact file {rel!r} of {model_name!r} version {version} does not match its "
            f"registered sha256 (expected {expected[:12]}..., found {got[:12]}...): it was "
            f"changed, swapped or truncated after registration (key {key!r})",
            path=rel,
            model_name=model_name,
            version=version,
        )
