"""The registry's trust boundary against an attacker who can write its stores.

On the real backends (SQLite with local files; PostgreSQL with S3 through moto), a signed
(and, where said, encrypted) registry registers two versions, then one stored thing is
changed behind its back: an artifact byte, file or name, a version's row (manifests
swapped, an old signature replayed), a key taken out of the trust policy, or an encrypted
file moved to another version or path with its manifest re-hashed to match. Every such
change is refused at ``load`` with a ``ProdMLError`` subclass naming what is wrong.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cryptography", reason="needs the 'sign' extra (cryptography)")

import sqlalchemy as sa

from prodml.errors import IntegrityError
from prodml.registry import ModelRegistry
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.encryption import (
    MAGIC_V1,
    SCHEME,
    SCHEME_V1,
    decrypt_file,
    encrypt_file,
)
from prodml.registry.entities import ModelVersion
from prodml.registry.signing import Ed25519Signer, TrustPolicy

SIGNER = Ed25519Signer.generate()


class Keys:
    """A key provider holding fixed keys (the first is current)."""

    def __init__(self, *keys: tuple[str, bytes]) -> None:
        self._keys = dict(keys)
        self.key_id = keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


KEY_BYTES = bytes(range(32))
K1 = Keys(("k1", KEY_BYTES))


class Store:
    """Reads and writes a registry's artifact files and version rows behind its back."""

    def __init__(self, reg: ModelRegistry) -> None:
        self.reg = reg
        self.fs = reg.artifacts.fs  # type: ignore[attr-defined]

    def path(self, mv: ModelVersion, rel: str) -> str:
        return str(reg_path(self.reg, mv.artifact_key, rel))

    def read(self, mv: ModelVersion, rel: str) -> bytes:
        data: bytes = self.fs.cat_file(self.path(mv, rel))
        return data

    def write(self, mv: ModelVersion, rel: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(mv, rel), data)
        self.fs.invalidate_cache()

    def remove(self, mv: ModelVersion, rel: str) -> None:
        self.fs.rm_file(self.path(mv, rel))
        self.fs.invalidate_cache()

    def rename(self, mv: ModelVersion, rel: str, new: str) -> None:
        data = self.read(mv, rel)
        self.remove(mv, rel)
        self.write(mv, new, data)

    def row(self, mv: ModelVersion) -> None:
        """Store ``mv`` as the row of its name and version (both stores written)."""
        engine = self.reg.metadata._engine  # type: ignore[attr-defined]
        with engine.begin() as conn:
            conn.execute(
                sq.versions.update()
                .where(sq.versions.c.name == mv.name, sq.versions.c.version == mv.version)
                .values(payload=mv.model_dump_json(), artifact_key=mv.artifact_key)
            )


def reg_path(reg: ModelRegistry, key: str, rel: str) -> str:
    return "/".join([reg.artifacts.root, key, rel])  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite+local", "postgres+s3"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., ModelRegistry]]:
    """Open registries on one real backend pair (the same stores every call)."""
    opened: list[ModelRegistry] = []
    if request.param == "sqlite+local":
        urls: tuple[Any, ...] = (tmp_path / "reg",)
    else:
        urls = (request.getfixturevalue("postgres_url"), request.getfixturevalue("s3_url"))
        options = request.getfixturevalue("s3_options")

    def make(**kw: Any) -> ModelRegistry:
        if len(urls) == 1:
            reg = ModelRegistry.local(urls[0], **kw)
        else:
            reg = ModelRegistry(*urls, storage_options=options, **kw)
        opened.append(reg)
        return reg

    yield make
    for reg in opened:
        reg.close()


def _model(tmp_path: Path, tag: str) -> Path:
    src = tmp_path / f"model-{tag}"
    (src / "weights").mkdir(parents=True, exist_ok=True)
    (src / "weights" / "w.bin").write_bytes(f"weights of {tag}".encode() * 50)
    (src / "config.json").write_text(f'{{"version": "{tag}"}}')
    return src


@pytest.fixture
def signed(
    backend: Callable[..., ModelRegistry], tmp_path: Path
) -> tuple[ModelRegistry, ModelVersion, ModelVersion]:
    reg = backend(signer=SIGNER, trust=TrustPolicy([SIGNER.verifier()]))
    v1 = reg.register("m", _model(tmp_path, "one"), flavour="files")
    v2 = reg.register("m", _model(tmp_path, "two"), flavour="files")
    return reg, v1, v2


W = "files/model-two/weights/w.bin"


def _refused(reg: ModelRegistry, ref: str, match: str) -> IntegrityError:
    with pytest.raises(IntegrityError, match=match) as info:
        reg.load(ref)
    assert (info.value.model_name, info.value.version) == ("m", int(ref.split("@")[1]))
    return info.value


# ------------------------------------------------------------------ artifact bytes and names


def test_a_flipped_byte_is_refused_naming_the_file(signed: Any) -> None:
    reg, _, v2 = signed
    store = Store(reg)
    data = bytearray(store.read(v2, W))
    data[7] ^= 1
    store.write(v2, W, bytes(data))
    assert _refused(reg, "m@2", "does not match its registered sha256").path == W


def test_an_added_file_is_refused_naming_it(signed: Any) -> None:
    reg, _, v2 = signed
    Store(reg).write(v2, "files/model-two/weights/extra.bin", b"more")
    err = _refused(reg, "m@2", "was not registered")
    assert err.path == "files/model-two/weights/extra.bin"


def test_a_removed_file_is_refused_naming_it(signed: Any) -> None:
    reg, _, v2 = signed
    Store(reg).remove(v2, W)
    assert _refused(reg, "m@2", "is missing").path == W


@pytest.mark.parametrize("new", ["files/model-two/weights/w2.bin", "files/model-two/weights/W.bin"])
def test_a_renamed_file_is_refused(signed: Any, new: str) -> None:
    """A rename, case-only included (both stores are case-sensitive): the file is missing."""
    reg, _, v2 = signed
    Store(reg).rename(v2, W, new)
    assert _refused(reg, "m@2", "is missing").path == W


def _local_signed(tmp_path: Path) -> tuple[ModelRegistry, ModelVersion]:
    """SQLite + local files only: S3 has no symbolic or hard links."""
    reg = ModelRegistry.local(
        tmp_path / "local", signer=SIGNER, trust=TrustPolicy([SIGNER.verifier()])
    )
    reg.register("m", _model(tmp_path, "one"), flavour="files")
    return reg, reg.register("m", _model(tmp_path, "two"), flavour="files")


def test_a_symbolic_link_to_outside_is_refused_unfollowed(tmp_path: Path) -> None:
    reg, v2 = _local_signed(tmp_path)
    target = Path(reg_path(reg, v2.artifact_key, W))
    outside = tmp_path / "outside.bin"
    outside.write_bytes(target.read_bytes())  # the very bytes: only the link is wrong
    target.unlink()
    target.symlink_to(outside)
    assert _refused(reg, "m@2", "symbolic link").path == W


def test_a_hard_link_is_judged_by_its_bytes(tmp_path: Path) -> None:
    """A hard link is a regular file: its bytes are what the manifest checks."""
    reg, v2 = _local_signed(tmp_path)
    target = Path(reg_path(reg, v2.artifact_key, W))
    outside = tmp_path / "outside.bin"
    os.link(target, outside)
    assert reg.verify("m@2").version == 2
    outside.write_bytes(b"changed through the other name")
    assert _refused(reg, "m@2", "does not match").path == W


# ------------------------------------------------------------------ version rows


def test_two_versions_manifests_swapped_are_refused(signed: Any) -> None:
    reg, v1, v2 = signed
    store = Store(reg)
    store.row(v2.model_copy(update={"artifact_key": v1.artifact_key, "files": v1.files}))
    _refused(reg, "m@2", r"changed: artifact_key, files")
    store.row(v1.model_copy(update={"flavour_meta": v2.flavour_meta}))
    _refused(reg, "m@1", r"changed: flavour_meta")


def test_an_old_signature_replayed_on_a_newer_version_is_refused(signed: Any) -> None:
    """v1's row, signature and all, stored as version 2: the signed number differs."""
    reg, v1, _ = signed
    Store(reg).row(v1.model_copy(update={"version": 2}))
    _refused(reg, "m@2", r"changed: version")
    assert reg.load("m@1").name == "model-one"


def test_an_old_row_copied_whole_into_a_newer_slot_is_refused(signed: Any) -> None:
    """v1's row verbatim (its own number, validly signed) in version 2's place."""
    reg, v1, _ = signed
    Store(reg).row(v1.model_copy(update={"version": 2}))
    engine = reg.metadata._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            sq.versions.update()
            .where(sq.versions.c.version == 2)
            .values(payload=v1.model_dump_json())
        )
    _refused(reg, "m@2", "describes m version 1")


def test_a_signature_moved_from_another_version_is_refused(signed: Any) -> None:
    reg, v1, v2 = signed
    Store(reg).row(v2.model_copy(update={"attestation": v1.attestation}))
    _refused(reg, "m@2", "differs from what was signed")


def test_key_rotation_and_revocation(backend: Callable[..., ModelRegistry], tmp_path: Path) -> None:
    old, new = Ed25519Signer.generate(), Ed25519Signer.generate()
    backend(signer=old).register("m", _model(tmp_path, "one"), flavour="files")
    both = TrustPolicy([old.verifier(), new.verifier()])
    reg = backend(signer=new, trust=both)
    reg.register("m", _model(tmp_path, "two"), flavour="files")
    assert [reg.load(f"m@{n}").name for n in (1, 2)] == ["model-one", "model-two"]
    revoked = backend(trust=TrustPolicy([new.verifier()]))
    err = _refused(revoked, "m@1", "which the trust policy does not trust")
    assert old.key_id in str(err)
    assert revoked.load("m@2").name == "model-two"


# ------------------------------------------------------------------ encrypted versions


@pytest.fixture
def encrypted(
    backend: Callable[..., ModelRegistry], tmp_path: Path
) -> tuple[ModelRegistry, ModelVersion, ModelVersion]:
    reg = backend(encryption=K1)
    v1 = reg.register("m", _model(tmp_path, "one"), flavour="files")
    v2 = reg.register("m", _model(tmp_path, "one"), flavour="files")
    return reg, v1, v2


W1 = "files/model-one/weights/w.bin"
C1 = "files/model-one/config.json"


def test_a_ciphertext_moved_to_another_version_fails_decryption(encrypted: Any) -> None:
    """Without a signature, the manifest can be re-hashed; the AEAD context still binds."""
    reg, v1, v2 = encrypted
    store = Store(reg)
    assert reg.load("m@2").name == "model-one"
    moved = store.read(v1, W1)
    assert moved != store.read(v2, W1)  # same plaintext, other salt and context
    store.write(v2, W1, moved)
    files = {**v2.files, W1: hashlib.sha256(moved).hexdigest()}
    store.row(v2.model_copy(update={"files": files}))
    err = _refused(reg, "m@2", "fails authentication")
    assert err.path == W1


def test_two_files_of_a_version_swapped_fail_decryption(encrypted: Any) -> None:
    reg, _, v2 = encrypted
    store = Store(reg)
    a, b = store.read(v2, W1), store.read(v2, C1)
    store.write(v2, W1, b)
    store.write(v2, C1, a)
    files = {
        **v2.files,
        W1: hashlib.sha256(b).hexdigest(),
        C1: hashlib.sha256(a).hexdigest(),
    }
    store.row(v2.model_copy(update={"files": files}))
    assert _refused(reg, "m@2", "fails authentication").path in (W1, C1)


def test_a_version_of_the_bound_scheme_refuses_a_file_of_the_old_one(encrypted: Any) -> None:
    """A downgrade: an unbound v1 ciphertext planted in a v2 version is refused."""
    reg, _, v2 = encrypted
    assert v2.encryption.scheme == SCHEME
    old = _v1_file(b"planted")
    store = Store(reg)
    store.write(v2, W1, old)
    store.row(v2.model_copy(update={"files": {**v2.files, W1: hashlib.sha256(old).hexdigest()}}))
    assert _refused(reg, "m@2", "is in format prodml-aesgcm-stream-v1").path == W1


def _v1_file(data: bytes, chunk: int = 16) -> bytes:
    """A file in the first format, built by hand (header-only associated data)."""
    import struct

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    salt = bytes(16)
    header = MAGIC_V1 + salt + struct.pack(">IH", chunk, 2) + b"k1"
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"prodml-aesgcm-stream-v1 file key"
    ).derive(KEY_BYTES)
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    out = header
    for i, piece in enumerate(pieces):
        nonce = i.to_bytes(11, "big") + bytes([i == len(pieces) - 1])
        out += AESGCM(key).encrypt(nonce, piece, header)
    return out


def test_files_of_the_first_format_still_decrypt() -> None:
    out = io.BytesIO()
    data = b"weights" * 9
    decrypt_file(io.BytesIO(_v1_file(data)), out, K1, scheme=SCHEME_V1)
    assert out.getvalue() == data
    with pytest.raises(IntegrityError, match="is in format prodml-aesgcm-stream-v1"):
        decrypt_file(io.BytesIO(_v1_file(data)), io.BytesIO(), K1)


def test_the_context_is_authenticated_and_never_shown() -> None:
    enc = io.BytesIO()
    encrypt_file(io.BytesIO(b"secret weights"), enc, K1, context=b"m/key\0a.bin")
    for other in (b"", b"m/key\0b.bin", b"m/other\0a.bin"):
        with pytest.raises(IntegrityError, match="fails authentication at chunk 0") as info:
            decrypt_file(io.BytesIO(enc.getvalue()), io.BytesIO(), K1, name="a.bin", context=other)
        text = str(info.value)
        assert "secret" not in text
        assert KEY_BYTES.hex() not in text
        assert "m/key" not in text
    plain = io.BytesIO()
    decrypt_file(io.BytesIO(enc.getvalue()), plain, K1, context=b"m/key\0a.bin")
    assert plain.getvalue() == b"secret weights"


def test_every_file_gets_a_fresh_salt_so_nonces_never_repeat_under_a_key() -> None:
    salts = set()
    for _ in range(200):
        out = io.BytesIO()
        encrypt_file(io.BytesIO(b"x" * 40), out, K1, chunk_size=16)
        salts.add(out.getvalue()[8:24])
    assert len(salts) == 200


def test_a_sqlite_row_is_what_the_fixture_edits(signed: Any) -> None:
    """The helper edits the stored row itself (not a cache): the change is read back."""
    reg, v1, _ = signed
    engine = reg.metadata._engine  # type: ignore[attr-defined]
    Store(reg).row(v1.model_copy(update={"tags": {"k": "v"}}))
    with engine.connect() as conn:
        payload = conn.execute(
            sa.select(sq.versions.c.payload).where(sq.versions.c.version == 1)
        ).scalar_one()
    assert '"k":"v"' in payload.replace(" ", "")
