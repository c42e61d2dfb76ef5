"""Artifact stores over fsspec: local files (``file://``), memory (``memory://``), S3 (``s3://``).

Layout: each registration writes its files under a fresh key ``NAME/STAMP-UUID/`` where
``STAMP`` is the UTC creation time in milliseconds. A key becomes a version only when the
metadata row that names it is committed, so an interrupted registration leaves a key no
version references, which :meth:`ArtifactStore.orphans` finds once it is older than a grace
period. Nothing is ever overwritten, so readers never see a half-written version.
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from prodml.errors import IntegrityError
from prodml.fingerprint import fingerprint_file

__all__ = [
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "MemoryArtifactStore",
    "S3ArtifactStore",
]

_KEY = re.compile(r"^(?P<name>[^/]+)/(?P<stamp>\d{13})-(?P<id>[0-9a-f]{32})$")
_BLOCK = 1 << 20


def new_key(name: str) -> str:
    """A fresh, never-reused artifact key for model ``name``."""
    return f"{name}/{int(time.time() * 1000):013d}-{uuid.uuid4().hex}"


def key_age(key: str, now: float | None = None) -> float | None:
    """Seconds since ``key`` was created, or ``None`` if it is not a registry key."""
    m = _KEY.match(key)
    if m is None:
        return None
    return (time.time() if now is None else now) - int(m.group("stamp")) / 1000.0


def hash_tree(root: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): fingerprint_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class ArtifactStore(abc.ABC):
    """Base of every artifact store.

    Primitives: :meth:`_put_tree`, :meth:`_get_file`, :meth:`_list_files`,
    :meth:`_list_keys`, :meth:`_remove`. Verification, fetching and orphan search are
    derived from them.
    """

    url: str

    @abc.abstractmethod
    def _put_tree(self, src: Path, key: str) -> None:
        """Copy every file under local directory ``src`` to ``key``."""

    @abc.abstractmethod
    def _get_file(self, key: str, rel: str, dest: Path) -> str:
        """Copy file ``key/rel`` to local ``dest`` and return its sha256 (FileNotFoundError)."""

    @abc.abstractmethod
    def _list_files(self, key: str) -> list[str]:
        """Relative paths of the files under ``key``."""

    @abc.abstractmethod
    def _list_keys(self) -> list[str]:
        """Every ``NAME/STAMP-UUID`` key in the store."""

    @abc.abstractmethod
    def _remove(self, key: str) -> None:
        """Delete ``key`` and everything under it (no error if absent)."""

    # ------------------------------------------------------------------ derived

    def put(self, src: Path, key: str) -> None:
        """Upload a local directory as ``key``; on failure remove what was written."""
        try:
            self._put_tree(src, key)
        except BaseException:
            self._remove(key)
            raise

    def fetch(
        self, key: str, files: dict[str, str], *, model_name: str, version: int
    ) -> tuple[Path, bool]:
        """A local directory holding exactly ``files``, each checked against its sha256.

        Returns the directory and whether it is a temporary copy the caller must remove.

        Raises
        ------
        IntegrityError
            When a file is missing, has another hash, or is not in the manifest.
        """
        tmp = Path(tempfile.mkdtemp(prefix="prodml-load-"))
        try:
            for rel, expected in files.items():
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    got = self._get_file(key, rel, dest)
                except FileNotFoundError:
                    raise _missing(rel, key, model_name, version) from None
                _compare(rel, key, expected, got, model_name=model_name, version=version)
            self._check_no_extra(key, files, model_name, version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp, True

    def verify(self, key: str, files: dict[str, str], *, model_name: str, version: int) -> None:
        """Check every file of a version against its recorded sha256 without loading it."""
        path, temporary = self.fetch(key, files, model_name=model_name, version=version)
        if temporary:
            shutil.rmtree(path, ignore_errors=True)

    def _check_no_extra(
        self, key: str, files: dict[str, str], model_name: str, version: int
    ) -> None:
        extra = sorted(set(self._list_files(key)) - set(files))
        if extra:
            raise IntegrityError(
                f"artifact of {model_name!r} version {version} holds file {extra[0]!r} "
                f"that was not registered (key {key!r})",
                path=extra[0],
                model_name=model_name,
                version=version,
            )

    def list_keys(self) -> list[str]:
        """Every artifact key in the store, sorted."""
        return sorted(self._list_keys())

    def delete(self, key: str) -> None:
        """Delete one artifact key and its files."""
        self._remove(key)


def _missing(rel: str, key: str, model_name: str, version: int) -> IntegrityError:
    return IntegrityError(
        f"artifact file {rel!r} of {model_name!r} version {version} is missing (key {key!r})",
        path=rel,
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
        ``PROTOCOL://root/path``.
    storage_options
        Passed to :func:`fsspec.filesystem` (credentials, ``endpoint_url``...).
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec  # noqa: PLC0415 - core dependency, imported when a store is built

        self.url = url
        protocol, _, root = url.partition("://")
        self.fs = fsspec.filesystem(protocol, **storage_options)
        self.root = self._strip(root).rstrip("/")

    def _strip(self, root: str) -> str:
        return str(self.fs._strip_protocol(root))

    def _path(self, key: str, rel: str = "") -> str:
        return "/".join(p for p in (self.root, key, rel) if p)

    def _put_tree(self, src: Path, key: str) -> None:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                self.fs.put_file(str(p), self._path(key, p.relative_to(src).as_posix()))
        self.fs.invalidate_cache()

    def _get_file(self, key: str, rel: str, dest: Path) -> str:
        h = hashlib.sha256()
        with self.fs.open(self._path(key, rel), "rb") as src, open(dest, "wb") as out:
            while block := src.read(_BLOCK):
                h.update(block)
                out.write(block)
        return h.hexdigest()

    def _relative(self, found: str, base: str) -> str | None:
        """``found`` relative to ``base``, both normalised by the filesystem."""
        found, base = self._strip(found).rstrip("/"), self._strip(base).rstrip("/")
        if found == base or (base and not found.startswith(base + "/")):
            return None
        return found[len(base) :].lstrip("/")

    def _list_files(self, key: str) -> list[str]:
        base = self._path(key)
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
                if key is not None and _KEY.match(key):
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

    Examples
    --------
    >>> import tempfile
    >>> store = LocalArtifactStore("file://" + tempfile.mkdtemp())
    >>> store.list_keys()
    []
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        super().__init__(url, **storage_options)
        Path(self.root).mkdir(parents=True, exist_ok=True)

    def _put_tree(self, src: Path, key: str) -> None:
        dest = Path(self._path(key))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dest)

    def fetch(
        self, key: str, files: dict[str, str], *, model_name: str, version: int
    ) -> tuple[Path, bool]:
        """The version's own directory, after checking every file's sha256 in place."""
        base = Path(self._path(key))
        for rel, expected in files.items():
            try:
                got = fingerprint_file(base / rel)
            except (FileNotFoundError, IsADirectoryError):
                raise _missing(rel, key, model_name, version) from None
            _compare(rel, key, expected, got, model_name=model_name, version=version)
        self._check_no_extra(key, files, model_name, version)
        return base, False

    def _list_files(self, key: str) -> list[str]:
        base = self._path(key)
        out: list[str] = []
        for root, _dirs, names in os.walk(base):
            rel = os.path.relpath(root, base)
            out.extend(n if rel == "." else f"{rel}/{n}".replace(os.sep, "/") for n in names)
        return out

    def _remove(self, key: str) -> None:
        shutil.rmtree(self._path(key), ignore_errors=True)
        parent = Path(self._path(key)).parent
        if parent.is_dir() and not any(parent.iterdir()):
            os.rmdir(parent)


class MemoryArtifactStore(FsspecArtifactStore):
    """Artifacts in fsspec's process-global memory filesystem (``memory://root``)."""


class S3ArtifactStore(FsspecArtifactStore):
    """Artifacts in S3 or an S3-compatible service (``s3://bucket/prefix``) through s3fs.

    ``endpoint_url`` (for MinIO, moto...) and credentials go in ``storage_options``.
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        from prodml._extras import require  # noqa: PLC0415

        require("s3fs", extra="s3", feature="The S3 artifact store")
        super().__init__(url, **storage_options)
