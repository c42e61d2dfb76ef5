"""A version's manifest: the one place where what a version *is* gets built and checked.

A manifest is the version's files (relative path -> sha256) plus the metadata that decides
how it behaves when loaded. :func:`build` makes the file half at registration, from the
staging directory a flavour wrote; :func:`check` validates a version read back from a
store (its key, every path and digest, its flavour and the flavour's metadata) before
anything touches a file; :func:`payload` is the exact content a signature must cover.
:class:`~prodml.registry.ModelRegistry` calls :func:`check` on every version it is about
to load, verify, fetch or garbage-collect.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> root = Path(tempfile.mkdtemp())
>>> _ = (root / "model.bin").write_bytes(b"weights")
>>> build(root)
{'model.bin': '9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c'}
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prodml.errors import ConfigError, IntegrityError
from prodml.fingerprint import canonical_json, fingerprint_file
from prodml.registry._hashing import HASH_WORKERS, PARALLEL_BYTES
from prodml.registry._paths import NAME, collision, path_problem, portable_problem
from prodml.registry.backends._artifact_base import check_files
from prodml.registry.entities import ModelVersion
from prodml.registry.flavours import _FLAVOURS

__all__ = ["FORMAT", "build", "canonical", "check", "payload"]

FORMAT = "prodml-manifest-v1"
"""Names the layout of :func:`payload`; part of what is signed."""

SIGNED_FIELDS = (
    "name",
    "version",
    "flavour",
    "flavour_meta",
    "artifact_key",
    "files",
    "signature",
    "lineage",
    "metrics",
    "tags",
    "created_by",
    "encryption",
)


def build(staging: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 of every file a flavour wrote under ``staging``.

    Raises
    ------
    ConfigError
        When the flavour wrote a symbolic link, a special file, or a file whose name is
        not a safe relative path, could not be written on Windows, or names the same file
        as another one where case or Unicode normalisation is ignored (macOS, Windows);
        or no file at all.
    """
    found: dict[str, str] = {}
    size = 0
    stack = [("", str(staging))]
    while stack:
        prefix, directory = stack.pop()
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            rel = prefix + e.name
            problem = path_problem(rel)
            if problem is None:
                problem = portable_problem(rel)
            if problem is not None:
                raise ConfigError(f"the flavour wrote a file named {rel[:80]!r}, which {problem}")
            mode = e.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                stack.append((rel + "/", e.path))
            elif stat.S_ISREG(mode):
                found[rel] = e.path
                size += e.stat(follow_symlinks=False).st_size
            else:
                what = "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
                raise ConfigError(f"the flavour wrote {what} {rel!r}; artifacts hold only files")
    names = sorted(found)
    clash = collision(names)
    if clash is not None:
        raise ConfigError(
            f"the flavour wrote files {clash[0][:80]!r} and {clash[1][:80]!r}, which are one "
            "file on a case-insensitive or Unicode-normalising filesystem (macOS, Windows); "
            "rename one of them"
        )
    if len(names) > 1 and size >= PARALLEL_BYTES:  # hashlib releases the GIL on big blocks
        with ThreadPoolExecutor(max_workers=HASH_WORKERS) as pool:
            digests = list(pool.map(fingerprint_file, [found[n] for n in names]))
    else:
        digests = [fingerprint_file(found[n]) for n in names]
    return dict(zip(names, digests, strict=True))


def check(mv: ModelVersion) -> ModelVersion:
    """``mv`` if its key, manifest and flavour metadata are safe to use.

    Raises
    ------
    IntegrityError
        Naming the field at fault (``flavour_meta.basename``, ``files``...), when the
        version names an unsafe key or path, an unknown flavour, or flavour metadata
        that does not match its files.
    """
    check_files(mv.artifact_key, mv.files, model_name=mv.name, version=mv.version)
    flavour = _FLAVOURS.get(mv.flavour)
    if flavour is None:
        # A flavour's name is shown (install its extra) only when it is a name at all.
        named = repr(mv.flavour) if NAME.fullmatch(mv.flavour[:40]) else "a flavour"
        raise IntegrityError(
            f"{mv.name} version {mv.version} names {named}, which is not "
            "registered in this process; refusing to load it",
            model_name=mv.name,
            version=mv.version,
        )
    problem = flavour.check_meta(mv.flavour_meta, mv.files)
    if problem is not None:
        raise IntegrityError(
            f"{mv.name} version {mv.version}: flavour_meta.{problem}; refusing to use it",
            model_name=mv.name,
            version=mv.version,
        )
    return mv


def payload(mv: ModelVersion) -> dict[str, Any]:
    """Everything that decides what loading ``mv`` does: the content to sign.

    The file digests, the key, the flavour and its metadata, the signature schema,
    lineage, metrics, tags, who registered it and how its files are encrypted, under a
    format tag. ``status``,
    ``description`` and ``created_at`` are left out: they do not change what loads.
    """
    data = mv.model_dump(mode="json", include=set(SIGNED_FIELDS))
    return {"format": FORMAT, **data}


def canonical(mv: ModelVersion) -> bytes:
    """The canonical JSON bytes of :func:`payload` (sorted keys, compact, UTF-8)."""
    return canonical_json(payload(mv)).encode("utf-8")
