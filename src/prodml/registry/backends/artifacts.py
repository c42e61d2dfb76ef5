"""Artifact stores over fsspec: local files (``file://``), memory (``memory://``), S3 (``s3://``).

Layout: each registration writes its files under a fresh key ``NAME/STAMP-UUID/`` where
``STAMP`` is the UTC creation time in milliseconds. A key becomes a version only when the
metadata row that names it is committed; until then the registration holds a *lease* on
it in the metadata store, which :meth:`ModelRegistry.gc <prodml.registry.ModelRegistry.gc>`
respects. Nothing is ever overwritten, so readers never see a half-written version.

Flavours write into a *staging* directory first: ``ROOT/.staging/NAME/STAMP-UUID/`` inside
a local store (then renamed into place, one atomic step), or a per-store scratch directory
on this machine for remote stores (then uploaded). gc removes staging left by a killed
registration once its lease has expired.

Every key and relative path is checked (:mod:`prodml.registry._paths`) before any
filesystem call, so nothing outside a version's key is ever read, written or deleted; a
symbolic link or special file inside a key fails the check with
:class:`~prodml.errors.IntegrityError`; an OS failure is a
:class:`~prodml.errors.StorageError` naming the path and the cause.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from prodml.errors import ConfigError, IntegrityError, RegistryError, StorageError
from prodml.registry._paths import KEY, NAME, is_sha256, key_problem, path_problem
from prodml.registry._secrets import Secrets, redact_url

__all__ = [
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "MemoryArtifactStore",
    "S3ArtifactStore",
    "UnsafeEntry",
]

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
            f"the artifact key of {where} {problem}: {str(key)[:80]!r}; refusing to use it",
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
            raise IntegrityError(
                f"the file manifest of {where} names path {str(rel)[:80]!r}, which {problem}; "
                "refusing to read or write it",
                path=str(rel)[:80],
                model_name=model_name,
                version=version,
            )
        if not is_sha256(digest):
            raise IntegrityError(
                f"the manifest entry {rel!r} of {where} has no sha256 digest",
                path=rel,
                model_name=model_name,
                version=version,
            )
    return dict(files)


class ArtifactStore(abc.ABC):
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
        """Every ``NAME/STAMP-UUID`` key in the store (nothing else)."""

    @abc.abstractmethod
    def _remove(self, key: str) -> None:
        """Delete ``key`` and everything under it (no error if absent)."""

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
        for attempt in range(10):  # a concurrent cleanup may remove an empty parent
            try:
                os.makedirs(path.parent, mode=0o700, exist_ok=True)
                os.mkdir(path, 0o700)
                break
            except (FileNotFoundError, FileExistsError) as err:
                if attempt == 9:
                    raise self._storage_error(err, "create the staging directory", path) from err
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
            with contextlib.suppress(OSError):
                self._remove(key)
            if isinstance(err, OSError):
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
            When the local copy cannot be written (disk full...).
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

    def verify(
        self, key: str, files: Mapping[str, str], *, model_name: str, version: int
    ) -> None:
        """Check every file of a version against its recorded sha256, writing nothing."""
        files = check_files(key, files, model_name=model_name, version=version)
        for rel, expected in files.items():
            got = self._copy_hash(key, rel, None, model_name, version)
            _compare(rel, key, expected, got, model_name=model_name, version=version)
        self._check_no_extra(key, files, model_name, version)

    def list_keys(self) -> list[str]:
        """Every artifact key in the store, sorted."""
        try:
            return sorted(self._list_keys())
        except OSError as err:
            raise self._storage_error(err, "list", self.url) from err

    def has_keys(self) -> bool:
        """Whether the store holds at least one artifact key."""
        return bool(self.list_keys())

    def delete(self, key: str) -> None:
        """Delete one artifact key, its files and its staging directory."""
        self._check_writable()
        self._check_key(key)
        try:
            self._remove(key)
        except OSError as err:
            raise self._storage_error(err, "delete artifact key", key) from err
        self.remove_staging(key)

    def remove_staging(self, key: str) -> None:
        """Delete ``key``'s staging directory, and its parents once they are empty."""
        self._check_writable()
        path = self.staging_path(key)
        shutil.rmtree(path, ignore_errors=True)
        top = self._staging_top
        for parent in path.parents:
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

    def _storage_error(self, err: OSError, doing: str, path: object) -> StorageError:
        cause = err.strerror or type(err).__name__
        where = self._secrets.scrub(str(path))
        return StorageError(
            self._secrets.scrub(f"cannot {doing} {where}: {cause} (errno {err.errno})"),
            path=where,
            errno=err.errno,
        )

    def _copy_hash(
        self, key: str, rel: str, out: IO[bytes] | None, model_name: str, version: int
    ) -> str:
        """sha256 of ``key/rel`` while copying it to ``out``; write errors propagate."""
        h = hashlib.sha256()
        try:
            src = self._open(key, rel)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _missing(rel, key, model_name, version) from None
        except UnsafeEntry as err:
            raise _unsafe(err, key, model_name, version) from None
        except OSError as err:
            raise self._storage_error(err, "read", f"{key}/{rel}") from err
        with src:
            while True:
                try:
                    block = src.read(_BLOCK)
                except OSError as err:
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
        except OSError as err:
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


class FsspecArtifactStore(ArtifactStore):
    """Artifacts on any fsspec filesystem, under a root path.

    Parameters
    ----------
    url
        ``PROTOCOL://root/path``. Credentials belong in ``storage_options``.
    read_only
        Refuse every write.
    storage_options
        Passed to :func:`fsspec.filesystem` (credentials, ``endpoint_url``...).
    """

    def __init__(self, url: str, *, read_only: bool = False, **storage_options: Any) -> None:
        import fsspec  # noqa: PLC0415 - core dependency, imported when a store is built

        self._secrets = Secrets.of(url, storage_options)
        self.url = redact_url(url)
        self.read_only = read_only
        protocol, _, root = url.partition("://")
        try:
            self.fs = fsspec.filesystem(protocol, **storage_options)
        except (ImportError, ValueError, TypeError) as err:
            raise ConfigError(
                self._secrets.scrub(f"cannot open artifact store {self.url}: {err}"),
                parameter="artifacts_url",
            ) from None
        self.root = self._strip(root).rstrip("/")
        if self._secrets.found_in(self.root):
            raise ConfigError(
                f"artifact store URL {self.url} carries credentials in its path; pass them "
                "in storage_options instead",
                parameter="artifacts_url",
            )

    def _strip(self, root: str) -> str:
        return str(self.fs._strip_protocol(root))

    def _path(self, key: str, rel: str = "") -> str:
        return "/".join(p for p in (self.root, key, rel) if p)

    def _put_tree(self, src: Path, key: str) -> None:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                self.fs.put_file(str(p), self._path(key, p.relative_to(src).as_posix()))
        self.fs.invalidate_cache()

    def _open(self, key: str, rel: str) -> IO[bytes]:
        f: IO[bytes] = self.fs.open(self._path(key, rel), "rb")
        return f

    def _relative(self, found: str, base: str) -> str | None:
        """``found`` relative to ``base``, both normalised by the filesystem."""
        found, base = self._strip(found).rstrip("/"), self._strip(base).rstrip("/")
        if found == base or (base and not found.startswith(base + "/")):
            return None
        return found[len(base) :].lstrip("/")

    def _list_files(self, key: str) -> list[str]:
        base = self._path(key)
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        return [rel for f in found if (rel := self._relative(f, base)) is not None]

    def _list_keys(self) -> list[str]:
        out: list[str] = []
        self.fs.invalidate_cache()
        try:
            names = self.fs.ls(self.root or "/", detail=False)
        except FileNotFoundError:
            return out
        for name_path in names:
            try:
                subs = self.fs.ls(name_path, detail=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for sub in subs:
                key = self._relative(sub, self.root)
                if key is not None and KEY.fullmatch(key):
                    out.append(key)
        return out

    def _remove(self, key: str) -> None:
        path = self._path(key)
        try:
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
        self.fs.invalidate_cache()


class LocalArtifactStore(FsspecArtifactStore):
    """Artifacts in a local directory (``file:///path``), verified in place on load.

    Staging lives in ``ROOT/.staging`` on the same filesystem, so a registration's files
    move into place with one rename. Keys are walked without following links: a symbolic
    link or special file anywhere under a key fails verification.

    Examples
    --------
    >>> import tempfile
    >>> store = LocalArtifactStore("file://" + tempfile.mkdtemp())
    >>> store.list_keys()
    []
    """

    def __init__(self, url: str, *, read_only: bool = False, **storage_options: Any) -> None:
        super().__init__(url, read_only=read_only, **storage_options)
        root = Path(self.root)
        if root.exists() and not root.is_dir():
            raise StorageError(
                f"the artifacts path {self.root} is not a directory", path=self.root
            )
        if not read_only:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise self._storage_error(err, "create the artifacts directory", root) from err

    @property
    def staging_root(self) -> Path:
        """``ROOT/.staging``: inside the store, where gc sees it."""
        return Path(self.root) / ".staging"

    @property
    def _staging_top(self) -> Path:
        return Path(self.root)

    def _key_path(self, key: str) -> Path:
        return Path(self.root).joinpath(*key.split("/"))

    def _put_tree(self, src: Path, key: str) -> None:
        dest = self._key_path(key)
        if src == self.staging_path(key):
            for _ in range(10):  # a concurrent gc may remove the empty model directory
                try:
                    os.makedirs(dest.parent, exist_ok=True)
                    os.rename(src, dest)
                    return
                except (FileNotFoundError, FileExistsError):
                    if not src.exists():
                        raise
            raise StorageError(f"cannot move {src} into {dest}: it kept vanishing")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dest)

    def _open(self, key: str, rel: str) -> IO[bytes]:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(self._key_path(key).joinpath(*rel.split("/")), flags)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UnsafeEntry(rel, "a special file")
        return os.fdopen(fd, "rb")

    def verify(
        self, key: str, files: Mapping[str, str], *, model_name: str, version: int
    ) -> None:
        """Walk the key first (links refused), then hash every file in place."""
        files = check_files(key, files, model_name=model_name, version=version)
        try:
            found = set(self._list_files(key))
        except UnsafeEntry as err:
            raise _unsafe(err, key, model_name, version) from None
        except OSError as err:
            raise self._storage_error(err, "list", key) from err
        for rel, expected in files.items():
            if rel not in found:
                raise _missing(rel, key, model_name, version)
            got = self._copy_hash(key, rel, None, model_name, version)
            _compare(rel, key, expected, got, model_name=model_name, version=version)
        if len(found) != len(files):
            self._check_no_extra(key, files, model_name, version)

    def fetch(
        self, key: str, files: Mapping[str, str], *, model_name: str, version: int
    ) -> tuple[Path, bool]:
        """The version's own directory, after checking every file's sha256 in place."""
        self.verify(key, files, model_name=model_name, version=version)
        return self._key_path(key), False

    def _list_files(self, key: str) -> list[str]:
        base = self._key_path(key)
        for part in (base.parent, base):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISLNK(os.lstat(part).st_mode):
                    raise UnsafeEntry(".", "a symbolic link in place of its directory")
        out: list[str] = []
        stack = [("", str(base))]
        while stack:
            prefix, directory = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for e in entries:
                rel = prefix + e.name
                if e.is_symlink():
                    raise UnsafeEntry(rel, "a symbolic link")
                if e.is_dir(follow_symlinks=False):
                    stack.append((rel + "/", e.path))
                elif e.is_file(follow_symlinks=False):
                    out.append(rel)
                else:
                    raise UnsafeEntry(rel, "a special file")
        return out

    def _list_keys(self) -> list[str]:
        out: list[str] = []
        try:
            names = list(os.scandir(self.root))
        except FileNotFoundError:
            return out
        for name in names:
            if not name.is_dir(follow_symlinks=False) or not NAME.fullmatch(name.name):
                continue
            with os.scandir(name.path) as it:
                out.extend(k for e in it if KEY.fullmatch(k := f"{name.name}/{e.name}"))
        return out

    def has_keys(self) -> bool:
        """Whether any key exists (stops at the first one)."""
        try:
            names = list(os.scandir(self.root))
        except FileNotFoundError:
            return False
        for name in names:
            if name.is_dir(follow_symlinks=False):
                with os.scandir(name.path) as it:
                    if any(KEY.fullmatch(f"{name.name}/{e.name}") for e in it):
                        return True
        return False

    def _remove(self, key: str) -> None:
        path = self._key_path(key)
        if path.is_symlink():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty


class MemoryArtifactStore(FsspecArtifactStore):
    """Artifacts in fsspec's process-global memory filesystem (``memory://root``)."""


class S3ArtifactStore(FsspecArtifactStore):
    """Artifacts in S3 or an S3-compatible service (``s3://bucket/prefix``) through s3fs.

    ``endpoint_url`` (for MinIO, moto...) and credentials go in ``storage_options``.
    """

    def __init__(self, url: str, *, read_only: bool = False, **storage_options: Any) -> None:
        from prodml._extras import require  # noqa: PLC0415

        require("s3fs", extra="s3", feature="The S3 artifact store")
        super().__init__(url, read_only=read_only, **storage_options)
