"""Encryption at rest: AES-256-GCM per file, in authenticated chunks, with pluggable keys.

A registry built with ``encryption=`` (a :class:`KeyProvider`) encrypts every file a
flavour writes before it reaches the artifact store, and decrypts on ``load`` into a
private temporary directory (mode 0700) that is removed as soon as the model is loaded.
The manifest (and the signature, when versions are signed) covers the *encrypted* files,
so ``verify`` needs no key; the version records the scheme and key id, which are signed
with the rest.

File format (``prodml-aesgcm-stream-v2``): a header (magic ``PRODMLE2``, a random 16-byte
salt, the chunk size, the key id), then the plaintext in chunks of ``chunk_size`` bytes,
each sealed with AES-256-GCM under a per-file key derived from the master key and the salt
(HKDF-SHA256). Chunk ``i``'s nonce is ``i`` (11 bytes, big-endian) and a final-chunk flag
(1 byte), so a nonce never repeats under one file key, and every chunk authenticates the
header and the file's *context* (associated data, not stored): in a registry, the
version's artifact key and the file's relative path. A changed byte, a dropped, repeated
or reordered chunk, a truncated or extended file, another key, or a file moved to another
path or another version (even with the manifest re-hashed to match) each fail decryption
with :class:`~prodml.errors.IntegrityError`. Files are streamed, never held whole in
memory.

Versions written before the context was bound (``prodml-aesgcm-stream-v1``, magic
``PRODMLE1``: the header alone is authenticated) still load; a file's magic must match
the scheme its version records, so a v2 version never accepts a v1 file.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from prodml.registry import ModelRegistry
>>> from prodml.schema import Column, Schema
>>> root = Path(tempfile.mkdtemp())
>>> keys = LocalKeyFile.create(root / "registry.key")
>>> reg = ModelRegistry.local(root / "reg", encryption=keys)
>>> mv = reg.register("churn", Schema([Column("x", "float")]))
>>> mv.encryption.key_id == keys.key_id
True
>>> b"float" in (root / "reg" / "artifacts" / mv.artifact_key / "object.json").read_bytes()
False
>>> reg.load("churn@1").names
['x']
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from prodml._extras import require
from prodml._files import PATH_QUOTE, os_reason
from prodml._quote import short_repr
from prodml.errors import ConfigError, IntegrityError
from prodml.registry.entities import Encryption

# Plain sorted() order, which tests/test_public_api.py checks (RUF022 would put SCHEME first).
__all__ = [  # noqa: RUF022
    "KeyProvider",
    "LocalKeyFile",
    "SCHEME",
    "decrypt_file",
    "decrypt_tree",
    "encrypt_file",
    "encrypt_tree",
]

SCHEME = "prodml-aesgcm-stream-v2"
"""The name of the file format new versions are written in, recorded in each of them."""

SCHEME_V1 = "prodml-aesgcm-stream-v1"
"""The format before the context was authenticated: still read, never written."""

MAGIC = b"PRODMLE2"
MAGIC_V1 = b"PRODMLE1"
CHUNK_SIZE = 1 << 20
_TAG = 16
_MAX_CHUNK = 1 << 26
_MAX_CONTEXT = 1 << 16
_MAGICS = {SCHEME: MAGIC, SCHEME_V1: MAGIC_V1}
_INFOS = {
    SCHEME: b"prodml-aesgcm-stream-v2 file key",
    SCHEME_V1: b"prodml-aesgcm-stream-v1 file key",
}


@runtime_checkable
class KeyProvider(Protocol):
    """Holds the 256-bit master keys; a KMS-backed provider implements the same two members.

    ``key_id`` names the key new files are encrypted with; :meth:`key` returns the key a
    stored file names (so keys can rotate: keep old ones for reading).
    """

    @property
    def key_id(self) -> str:
        """The id of the key used to encrypt new files (public, recorded with them)."""
        ...

    def key(self, key_id: str) -> bytes | None:
        """The 32-byte key named ``key_id``, or ``None`` when this provider lacks it."""
        ...


class LocalKeyFile:
    """A master key in a local file (32 random bytes, readable by its owner only).

    Parameters
    ----------
    path
        The key file. It must be a regular file of 32 bytes whose mode gives no access
        to group or others (``0600``), or :class:`~prodml.errors.ConfigError` is raised.
    old
        Earlier key files, still used to decrypt versions written with them.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "k"
    >>> keys = LocalKeyFile.create(path)
    >>> oct(path.stat().st_mode & 0o777), len(keys.key(keys.key_id))
    ('0o600', 32)
    """

    def __init__(
        self, path: str | os.PathLike[str], *, old: tuple[str | os.PathLike[str], ...] = ()
    ) -> None:
        self._keys: dict[str, bytes] = {}
        self._key_id = ""
        for i, p in enumerate((path, *old)):
            raw = _read_key_file(Path(p))
            kid = "local:" + hashlib.sha256(b"prodml key id\0" + raw).hexdigest()[:24]
            self._keys[kid] = raw
            if i == 0:
                self._key_id = kid

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> LocalKeyFile:
        """Write a new random key to ``path`` (mode 0600; never over an existing file)."""
        target = Path(path)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except (OSError, ValueError) as err:  # ValueError: a NUL in the path
            raise ConfigError(
                f"cannot create the key file {_shown(target)}: {os_reason(err)}",
                parameter="path",
            ) from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
        return cls(target)

    @property
    def key_id(self) -> str:
        """``local:`` and a hash of the key (it reveals nothing of the key)."""
        return self._key_id

    def key(self, key_id: str) -> bytes | None:
        """The key named ``key_id``, or ``None``."""
        return self._keys.get(key_id)

    def __repr__(self) -> str:
        return f"LocalKeyFile(key_id={self._key_id!r})"


def _shown(path: Path) -> str:
    return short_repr(str(path), limit=PATH_QUOTE)


def _read_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise ConfigError(f"cannot read the key file {_shown(path)}: {os_reason(err)}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"the key file {_shown(path)} is not a regular file")
        if os.name == "posix" and info.st_mode & 0o077:
            raise ConfigError(
                f"the key file {_shown(path)} is readable by group or others (mode "
                f"{oct(info.st_mode & 0o777)}); chmod 600 it"
            )
        raw = fh.read(33)
    if len(raw) != 32:
        raise ConfigError(f"the key file {_shown(path)} must hold exactly 32 bytes")
    return raw


def _primitives() -> tuple[Any, Any, Any]:
    aead = require(
        "cryptography.hazmat.primitives.ciphers.aead", extra="sign", feature="encryption"
    )
    hkdf = require("cryptography.hazmat.primitives.kdf.hkdf", extra="sign", feature="encryption")
    hashes = require("cryptography.hazmat.primitives.hashes", extra="sign", feature="encryption")
    return aead, hkdf, hashes


def _file_cipher(master: bytes, salt: bytes, scheme: str) -> Any:
    aead, hkdf, hashes = _primitives()
    derived = hkdf.HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFOS[scheme])
    return aead.AESGCM(derived.derive(master))


def file_context(artifact_key: str, rel: str) -> bytes:
    """The associated data binding a registry file to its version and path.

    The artifact key (unique to one registration, and signed with the version) and the
    relative path, separated by a NUL that neither may hold.

    Examples
    --------
    >>> file_context("churn/KEY", "model.bin") == b"churn/KEY" + bytes(1) + b"model.bin"
    True
    """
    return f"{artifact_key}\0{rel}".encode()


def _associated(header: bytes, context: bytes, scheme: str) -> bytes:
    if scheme == SCHEME_V1:
        return header
    return header + struct.pack(">I", len(context)) + context


def _check_context(context: object) -> bytes:
    if not isinstance(context, bytes) or len(context) > _MAX_CONTEXT:
        raise ConfigError(
            f"context must be bytes of at most {_MAX_CONTEXT}; got {type(context).__name__}",
            parameter="context",
        )
    return context


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _header(salt: bytes, chunk_size: int, key_id: str) -> bytes:
    kid = key_id.encode("utf-8")
    if len(kid) > 0xFFFF:
        raise ConfigError("the key provider's key id is longer than 65535 bytes")
    return MAGIC + salt + struct.pack(">IH", chunk_size, len(kid)) + kid


def encrypt_file(
    src: BinaryIO,
    dst: BinaryIO,
    keys: KeyProvider,
    *,
    chunk_size: int = CHUNK_SIZE,
    context: bytes = b"",
) -> int:
    """Encrypt the stream ``src`` into ``dst`` with ``keys``'s current key; bytes read.

    ``context`` (not stored) is authenticated with every chunk: :func:`decrypt_file`
    must be given the same bytes. A registry passes :func:`file_context`.
    """
    context = _check_context(context)
    key_id = keys.key_id
    master = keys.key(key_id)
    if master is None or len(master) != 32:
        raise ConfigError(f"the key provider has no 32-byte key for its own key id {key_id!r}")
    if not 0 < chunk_size <= _MAX_CHUNK:
        raise ConfigError(f"chunk_size must be in (0, {_MAX_CHUNK}]; got {chunk_size}")
    salt = os.urandom(16)
    header = _header(salt, chunk_size, key_id)
    aad = _associated(header, context, SCHEME)
    cipher = _file_cipher(master, salt, SCHEME)
    dst.write(header)
    total, index = 0, 0
    block = src.read(chunk_size)
    while True:
        following = src.read(chunk_size) if len(block) == chunk_size else b""
        final = not following
        dst.write(cipher.encrypt(_nonce(index, final), block, aad))
        total += len(block)
        if final:
            return total
        block, index = following, index + 1


def decrypt_file(
    src: BinaryIO,
    dst: BinaryIO,
    keys: KeyProvider,
    *,
    name: str = "",
    context: bytes = b"",
    scheme: str = SCHEME,
) -> int:
    """Decrypt the stream ``src`` into ``dst``; bytes written.

    ``context`` must be the bytes the file was encrypted with; ``scheme`` is the format
    the caller expects (a version's recorded scheme): the file's magic must match it.

    Raises
    ------
    IntegrityError
        Naming ``name``: not an encrypted file of ``scheme``, a key the provider lacks,
        the wrong key, another context (a file moved to another path or version), or any
        change to the ciphertext (bytes, chunk order, truncation, extension).
    """
    tag = "" if not name else f"{name!r}: "

    def bad(why: str) -> IntegrityError:
        return IntegrityError(f"encrypted artifact file {tag}{why}", path=name or None)

    context = _check_context(context)
    magic = _MAGICS.get(scheme)
    if magic is None:
        raise bad(f"names an unknown encryption scheme {str(scheme)[:60]!r}")
    fixed = src.read(len(magic) + 16 + 6)
    if len(fixed) != len(magic) + 22 or not fixed.startswith(magic):
        other = [s for s, m in _MAGICS.items() if s != scheme and fixed.startswith(m)]
        if other:
            raise bad(f"is in format {other[0]}, not the {scheme} its version records")
        raise bad("is not a prodml encrypted file (bad header)")
    salt = fixed[len(MAGIC) : len(MAGIC) + 16]
    chunk_size, kid_len = struct.unpack(">IH", fixed[-6:])
    kid_raw = src.read(kid_len)
    if not 0 < chunk_size <= _MAX_CHUNK or len(kid_raw) != kid_len:
        raise bad("has a damaged header")
    try:
        key_id = kid_raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("has a damaged header") from None
    master = keys.key(key_id)
    if master is None:
        raise bad(f"was encrypted with key {key_id[:80]!r}, which the key provider does not hold")
    header = fixed + kid_raw
    aad = _associated(header, context, scheme)
    cipher = _file_cipher(master, salt, scheme)
    invalid = require("cryptography.exceptions", extra="sign").InvalidTag
    step = chunk_size + _TAG
    total, index = 0, 0
    block = src.read(step)
    while True:
        following = src.read(step) if len(block) == step else b""
        final = not following
        try:
            plain = cipher.decrypt(_nonce(index, final), block, aad)
        except invalid:
            raise bad(
                f"fails authentication at chunk {index} (wrong key, a file moved from "
                "another path or version, or the ciphertext was changed, truncated or "
                "reordered)"
            ) from None
        dst.write(plain)
        total += len(plain)
        if final:
            return total
        block, index = following, index + 1


def encrypt_tree(src: Path, dst: Path, keys: KeyProvider, *, artifact_key: str = "") -> Encryption:
    """Encrypt every regular file under ``src`` to the same relative path under ``dst``.

    Each file is bound to :func:`file_context` of ``artifact_key`` and its relative
    path. Links and special files are copied as they are (as links/left out) for the
    manifest to refuse them; nothing under ``src`` is followed.
    """
    stack = [(src, dst, "")]
    while stack:
        here, there, prefix = stack.pop()
        there.mkdir(mode=0o700, exist_ok=True)
        with os.scandir(here) as it:
            for e in it:
                mode = e.stat(follow_symlinks=False).st_mode
                target = there / e.name
                if stat.S_ISDIR(mode):
                    stack.append((Path(e.path), target, f"{prefix}{e.name}/"))
                elif stat.S_ISREG(mode):
                    context = file_context(artifact_key, prefix + e.name)
                    with open(e.path, "rb") as fin, open(target, "xb") as fout:
                        encrypt_file(fin, fout, keys, context=context)
                elif stat.S_ISLNK(mode):
                    os.symlink(os.readlink(e.path), target)
    return Encryption(scheme=SCHEME, key_id=keys.key_id)


def decrypt_tree(
    src: Path,
    dst: Path,
    files: Mapping[str, str],
    keys: KeyProvider,
    encryption: Encryption,
    *,
    artifact_key: str = "",
) -> None:
    """Decrypt each file of ``files`` (checked relative paths) from ``src`` into ``dst``.

    ``artifact_key`` must be the key the files were encrypted under (see
    :func:`encrypt_tree`); files of a ``prodml-aesgcm-stream-v1`` version carry no context.

    Raises
    ------
    IntegrityError
        When the version's scheme is unknown, or a file fails decryption (a file of
        another path or version included).
    """
    if encryption.scheme not in _MAGICS:
        raise IntegrityError(f"unknown encryption scheme {encryption.scheme[:60]!r}")
    for rel in files:
        parts = rel.split("/")
        out = dst.joinpath(*parts)
        out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        context = b"" if encryption.scheme == SCHEME_V1 else file_context(artifact_key, rel)
        with open(src.joinpath(*parts), "rb") as fin, open(out, "xb") as fout:
            decrypt_file(fin, fout, keys, name=rel, context=context, scheme=encryption.scheme)
