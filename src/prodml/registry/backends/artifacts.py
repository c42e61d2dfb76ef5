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
:class:`~prodml.errors.StorageError` naming the path and the cause. So is an S3 service
that cannot be reached, finds no credentials or refuses a request (botocore's error is the
cause), and a bucket that does not exist: a file missing from a bucket that exists is an
``IntegrityError``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from prodml._files import os_reason
from prodml._secrets import Secrets, is_secret_name, redact_url
from prodml.errors import ConfigError, StorageError
from prodml.registry._hashing import HASH_WORKERS, PARALLEL_FILES
from prodml.registry._paths import KEY, NAME
from prodml.registry.backends._artifact_base import (
    ArtifactStore,
    UnsafeEntry,
    _compare,
    _missing,
    _unsafe,
    check_files,
)

__all__ = [
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "MemoryArtifactStore",
    "S3ArtifactStore",
    "UnsafeEntry",
]


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
        self.url: str = redact_url(url)
        self.read_only: bool = read_only
        protocol, _, root = url.partition("://")
        try:
            self.fs: Any = fsspec.filesystem(protocol, **storage_options)
        except (ImportError, ValueError, TypeError) as err:
            raise ConfigError(
                self._secrets.scrub(f"cannot open artifact store {self.url}: {err}"),
                parameter="artifacts_url",
            ) from None
        self.root: str = self._strip(root).rstrip("/")
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
    """Artifacts in a local directory (``file:///path``), copied while verified on load.

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
            raise StorageError(f"the artifacts path {self.root} is not a directory", path=self.root)
        if not read_only:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise self._storage_error(err, "create the artifacts directory", root) from err

    @property
    def staging_root(self) -> Path:
        """``ROOT/.staging``: inside the store, where gc sees it."""
        return Path(self.root) / ".staging"

    # Keep ROOT/.staging/NAME after a registration: removing it each time costs directory
    # syscalls on the hot path; gc with scan=True tidies what stays empty.
    _tidy_staging = False

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
                except (FileNotFoundError, FileExistsError):  # noqa: PERF203 - a rare retry
                    if not src.exists():
                        raise
            raise StorageError(f"cannot move {src} into {dest}: it kept vanishing")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dest)

    def _open(self, key: str, rel: str) -> IO[bytes]:
        """Open ``key/rel`` one directory at a time, following no link on the way.

        Even a directory swapped for a link after the walk cannot make the read leave
        the key: each step opens the next name relative to the directory already open.
        """
        if os.open not in os.supports_dir_fd or not hasattr(os, "O_NOFOLLOW"):
            return self._open_plain(key, rel)  # pragma: no cover - not on Linux or macOS
        nofollow = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        directory = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            *dirs, name = [*key.split("/"), *rel.split("/")]
            for part in dirs:
                try:
                    step = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=directory)
                except OSError as err:
                    if err.errno == errno.ELOOP or _is_link(part, directory):
                        raise UnsafeEntry(rel, "a symbolic link") from None
                    raise
                os.close(directory)
                directory = step
            try:
                # O_NONBLOCK: a FIFO planted here must not block the open.
                fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=directory)
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise UnsafeEntry(rel, "a symbolic link") from None
                raise
        finally:
            os.close(directory)
        return self._regular(fd, rel)

    def _open_plain(self, key: str, rel: str) -> IO[bytes]:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        return self._regular(os.open(self._key_path(key).joinpath(*rel.split("/")), flags), rel)

    @staticmethod
    def _regular(fd: int, rel: str) -> IO[bytes]:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UnsafeEntry(rel, "a special file")
        return os.fdopen(fd, "rb")

    def verify(self, key: str, files: Mapping[str, str], *, model_name: str, version: int) -> None:
        """Walk the key first (links refused), then hash every file in place."""
        files = check_files(key, files, model_name=model_name, version=version)
        found = self._walk(key, files, model_name, version)

        def digest(rel: str) -> str:
            return self._copy_hash(key, rel, None, model_name, version)

        names = list(files)
        if len(names) >= PARALLEL_FILES:  # hashlib releases the GIL on big blocks
            with ThreadPoolExecutor(max_workers=HASH_WORKERS) as pool:
                digests = list(pool.map(digest, names))  # the first failure, in order
        else:
            digests = [digest(rel) for rel in names]
        for rel, got in zip(names, digests, strict=True):
            _compare(rel, key, files[rel], got, model_name=model_name, version=version)
        if len(found) != len(files):
            self._check_no_extra(key, files, model_name, version)

    def fetch(
        self, key: str, files: Mapping[str, str], *, model_name: str, version: int
    ) -> tuple[Path, bool]:
        """A private copy of the version's files, each hashed while it is copied.

        The flavour then reads the copy (a fresh 0700 temporary directory), not the
        store: whoever can write the store's directory cannot swap a file between the
        check and the load, because the bytes checked are the bytes copied. Each file is
        read once, from a descriptor opened without following links.
        """
        files = check_files(key, files, model_name=model_name, version=version)
        self._walk(key, files, model_name, version)
        return super().fetch(key, files, model_name=model_name, version=version)

    def _walk(self, key: str, files: Mapping[str, str], model_name: str, version: int) -> set[str]:
        """The key's files (walked without following links); each of ``files`` must be one."""
        try:
            found = set(self._list_files(key))
        except UnsafeEntry as err:
            raise _unsafe(err, key, model_name, version) from None
        except OSError as err:
            raise self._storage_error(err, "list", key) from err
        for rel in files:
            if rel not in found:
                raise _missing(rel, key, model_name, version)
        return found

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


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


class MemoryArtifactStore(FsspecArtifactStore):
    """Artifacts in fsspec's process-global memory filesystem (``memory://root``)."""


class S3ArtifactStore(FsspecArtifactStore):
    """Artifacts in S3 or an S3-compatible service (``s3://bucket/prefix``) through s3fs.

    ``endpoint_url`` (for MinIO, moto...) and credentials go in ``storage_options``.
    botocore's errors (an endpoint that cannot be reached, no credentials, a refused
    request) become a :class:`~prodml.errors.StorageError` naming the store and its
    endpoint, the botocore error as its cause. When a file is not found, the bucket is
    checked (once it is seen, never again): a bucket that does not exist is a
    ``StorageError`` naming it, not an ``IntegrityError`` for the file. Credentials that
    may read objects but not the bucket (no ``s3:ListBucket``) skip that check.
    """

    def __init__(self, url: str, *, read_only: bool = False, **storage_options: Any) -> None:
        from prodml._extras import require  # noqa: PLC0415

        require("s3fs", extra="s3", feature="The S3 artifact store")
        # s3fs depends on botocore, which ships no type information
        from botocore import exceptions  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: PLC0415

        super().__init__(url, read_only=read_only, **storage_options)
        self._client_errors = (exceptions.BotoCoreError, exceptions.ClientError)
        self._bucket_seen = False

    def _missing_store(self) -> StorageError | None:
        """A ``StorageError`` naming the bucket when it does not exist, else ``None``."""
        if self._bucket_seen:
            return None
        bucket = self.root.split("/", 1)[0]
        try:
            self.fs.info(bucket)
        except FileNotFoundError:
            text = (
                f"the bucket {bucket!r} of {self._describe()} does not exist or is not "
                "reachable with these credentials"
            )
            return StorageError(self._secrets.scrub(text), path=bucket)
        except self._failures:
            # Least privilege (s3:GetObject without s3:ListBucket) cannot tell; nor can a
            # failing service: the missing file is reported as it is.
            return None
        self._bucket_seen = True
        return None

    def _storage_error(self, err: Exception, doing: str, path: object) -> StorageError:
        """As the base, naming the bucket too: s3fs's own error names only the key."""
        if not isinstance(err, OSError):
            return super()._storage_error(err, doing, path)
        bucket = self.root.split("/", 1)[0]
        where = self._secrets.scrub(str(path))
        what = "access denied" if isinstance(err, PermissionError) else os_reason(err)
        text = (
            f"cannot {doing} {where} in bucket {bucket!r} of {self._describe()}: {what} "
            f"({self._client_reason(err)})"
        )
        return StorageError(self._secrets.scrub(text), path=where, errno=err.errno)

    def _describe(self) -> str:
        client = getattr(self.fs, "_s3", None)  # created by the request that failed
        endpoint = (
            getattr(getattr(client, "meta", None), "endpoint_url", None)
            or self.fs.client_kwargs.get("endpoint_url")
            or getattr(self.fs, "endpoint_url", None)
        )
        at = f" (endpoint {redact_url(str(endpoint))})" if endpoint else ""
        return f"the artifact store {self.url}{at}"

    def _client_reason(self, err: Exception) -> str:
        # botocore reads credentials from the environment too: keep them out as well.
        env = [v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= 8]
        reason = Secrets(env).scrub(super()._client_reason(err))
        if type(err).__name__ == "NoCredentialsError":
            reason += " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        return reason
