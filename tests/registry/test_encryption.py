"""Encryption at rest: the chunked AES-GCM format, key files, and encrypted registries."""

from __future__ import annotations

import io
import os
import stat
import struct
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("cryptography", reason="needs the 'sign' extra (cryptography)")

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from prodml.errors import ConfigError, IntegrityError, RegistryError
from prodml.registry import ModelRegistry
from prodml.registry.encryption import (
    MAGIC,
    SCHEME,
    LocalKeyFile,
    decrypt_file,
    encrypt_file,
)
from prodml.registry.signing import Ed25519Signer, TrustPolicy
from prodml.schema import Column, Schema


class Keys:
    """A key provider holding fixed keys (the first is current)."""

    def __init__(self, *keys: tuple[str, bytes]) -> None:
        self._keys = dict(keys)
        self.key_id = keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


K1 = Keys(("k1", bytes(range(32))))
K1_OTHER_BYTES = Keys(("k1", bytes(32)))
K2 = Keys(("k2", bytes(range(1, 33))))


def _enc(data: bytes, keys: Any = K1, chunk: int = 16) -> bytes:
    out = io.BytesIO()
    assert encrypt_file(io.BytesIO(data), out, keys, chunk_size=chunk) == len(data)
    return out.getvalue()


def _dec(blob: bytes, keys: Any = K1) -> bytes:
    out = io.BytesIO()
    decrypt_file(io.BytesIO(blob), out, keys, name="model.bin")
    return out.getvalue()


def _schema(*names: str) -> Schema:
    return Schema([Column(n, "float") for n in names])


# ------------------------------------------------------------------ the file format


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=200), chunk=st.sampled_from([1, 7, 16, 64, 1 << 20]))
def test_round_trip_any_size_and_chunking(data: bytes, chunk: int) -> None:
    blob = _enc(data, chunk=chunk)
    assert _dec(blob) == data
    chunks = max(1, -(-len(data) // chunk))
    header = len(MAGIC) + 16 + 6 + 2
    assert len(blob) == header + len(data) + 16 * chunks
    assert _enc(data, chunk=chunk) != blob  # a fresh salt every time


def test_format_matches_an_independent_decryption() -> None:
    """Decrypt by hand from the documented format, with cryptography's primitives only."""
    data = bytes(range(40))
    out = io.BytesIO()
    encrypt_file(io.BytesIO(data), out, K1, chunk_size=16, context=b"key\0model.bin")
    blob = out.getvalue()
    assert blob.startswith(b"PRODMLE2")
    salt = blob[8:24]
    chunk_size, kid_len = struct.unpack(">IH", blob[24:30])
    header = blob[: 30 + kid_len]
    assert (chunk_size, blob[30 : 30 + kid_len]) == (16, b"k1")
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"prodml-aesgcm-stream-v2 file key"
    ).derive(bytes(range(32)))
    aad = header + struct.pack(">I", 13) + b"key\0model.bin"
    body, plain = blob[len(header) :], b""
    for i in range(3):
        final = i == 2
        nonce = i.to_bytes(11, "big") + bytes([final])
        plain += AESGCM(key).decrypt(nonce, body[i * 32 : (i + 1) * 32], aad)
    assert plain == data


def _chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    head = 30 + 2
    body = blob[head:]
    return blob[:head], [body[i : i + 32] for i in range(0, len(body), 32)]


def _tampered() -> dict[str, bytes]:
    blob = _enc(bytes(range(48)), chunk=16)  # three full chunks
    head, parts = _chunks(blob)
    flipped = bytearray(blob)
    flipped[40] ^= 1
    header_bit = bytearray(blob)
    header_bit[10] ^= 1  # inside the salt
    return {
        "bit flip in a chunk": bytes(flipped),
        "bit flip in the salt": bytes(header_bit),
        "truncated at a chunk boundary": head + b"".join(parts[:2]),
        "truncated inside a chunk": blob[:-5],
        "header only": head,
        "chunks reordered": head + parts[1] + parts[0] + parts[2],
        "a chunk dropped": head + parts[0] + parts[2],
        "a chunk repeated": head + parts[0] + parts[0] + parts[1] + parts[2],
        "extended": blob + parts[2],
        "key id relabelled": blob.replace(b"k1", b"k2", 1),
    }


@pytest.mark.parametrize("case", list(_tampered()))
def test_every_change_fails_authentication(case: str) -> None:
    with pytest.raises(IntegrityError) as info:
        _dec(_tampered()[case], Keys(("k1", bytes(range(32))), ("k2", bytes(range(32)))))
    assert info.value.path == "model.bin"
    assert "'model.bin'" in str(info.value)


def test_wrong_or_missing_key_and_foreign_files() -> None:
    blob = _enc(b"weights" * 10)
    with pytest.raises(IntegrityError, match="fails authentication at chunk 0"):
        _dec(blob, K1_OTHER_BYTES)
    with pytest.raises(IntegrityError, match="key 'k1', which the key provider does not hold"):
        _dec(blob, K2)
    for junk in (b"", b"plain text model", MAGIC + b"\x00" * 10):
        with pytest.raises(IntegrityError, match="header"):
            _dec(junk)
    bad_size = blob[:24] + struct.pack(">IH", 0, 2) + blob[30:]
    with pytest.raises(IntegrityError, match="damaged header"):
        _dec(bad_size)
    with pytest.raises(ConfigError, match="chunk_size"):
        _enc(b"x", chunk=0)
    with pytest.raises(ConfigError, match="no 32-byte key"):
        _enc(b"x", keys=Keys(("k1", b"short")))


# ------------------------------------------------------------------ key files


def test_key_files(tmp_path: Path) -> None:
    keys = LocalKeyFile.create(tmp_path / "k")
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert keys.key_id.startswith("local:")
    assert (tmp_path / "k").read_bytes().hex() not in repr(keys) + keys.key_id
    assert LocalKeyFile(tmp_path / "k").key_id == keys.key_id  # stable
    with pytest.raises(ConfigError, match="cannot create"):
        LocalKeyFile.create(tmp_path / "k")  # never over an existing key
    os.chmod(tmp_path / "k", 0o644)
    with pytest.raises(ConfigError, match="readable by group or others"):
        LocalKeyFile(tmp_path / "k")
    short = tmp_path / "short"
    short.write_bytes(b"x" * 31)
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="exactly 32 bytes"):
        LocalKeyFile(short)
    with pytest.raises(ConfigError, match="cannot read"):
        LocalKeyFile(tmp_path / "missing")
    (tmp_path / "link").symlink_to(tmp_path / "k")
    with pytest.raises(ConfigError, match="cannot read"):
        LocalKeyFile(tmp_path / "link")  # links are not followed


# ------------------------------------------------------------------ encrypted registries


def _local(tmp_path: Path, keys: Any, **kw: Any) -> ModelRegistry:
    return ModelRegistry.local(tmp_path / "reg", encryption=keys, **kw)


def test_stored_files_are_ciphertext_and_load_decrypts(tmp_path: Path) -> None:
    keys = LocalKeyFile.create(tmp_path / "k")
    reg = _local(tmp_path, keys)
    mv = reg.register("churn", _schema("secret_column"))
    assert mv.encryption is not None
    assert (mv.encryption.scheme, mv.encryption.key_id) == (SCHEME, keys.key_id)
    stored = Path(reg.artifacts.root, mv.artifact_key)  # type: ignore[attr-defined]
    for rel in mv.files:
        blob = (stored / rel).read_bytes()
        assert blob.startswith(MAGIC)
        assert b"secret_column" not in blob
    assert reg.load("churn@1") == _schema("secret_column")
    assert reg.verify("churn@1").version == 1
    assert ModelRegistry.local(tmp_path / "reg").verify("churn@1").version == 1  # no key needed
    with pytest.raises(RegistryError, match="is encrypted"):
        ModelRegistry.local(tmp_path / "reg").load("churn@1")


def test_plaintext_lives_only_in_a_private_directory_during_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prodml.registry.flavours import ProdMLJSONFlavour

    seen: list[tuple[Path, int]] = []
    original = ProdMLJSONFlavour.load

    def spy(self: Any, path: Path, meta: dict[str, Any], **kw: Any) -> Any:
        seen.append((path, stat.S_IMODE(path.stat().st_mode)))
        return original(self, path, meta, **kw)

    monkeypatch.setattr(ProdMLJSONFlavour, "load", spy)
    reg = _local(tmp_path, LocalKeyFile.create(tmp_path / "k"))
    reg.register("m", _schema("x"))
    assert reg.load("m@1") == _schema("x")
    ((path, mode),) = seen
    assert mode == 0o700
    assert not path.exists()  # removed right after the load
    assert not str(path).startswith(str(tmp_path / "reg"))
    assert not list(Path(reg.artifacts.root).rglob("prodml-plain-*"))  # type: ignore[attr-defined]


def test_wrong_key_and_tampered_ciphertext(tmp_path: Path) -> None:
    import hashlib

    reg = _local(tmp_path, K1)
    mv = reg.register("m", _schema("x"))
    with pytest.raises(IntegrityError, match="fails authentication") as info:
        _local(tmp_path, K1_OTHER_BYTES).load("m@1")
    assert (info.value.model_name, info.value.version) == ("m", 1)
    assert info.value.path in mv.files
    with pytest.raises(IntegrityError, match="does not hold"):
        _local(tmp_path, K2).load("m@1")
    # Both stores written: the ciphertext is changed and re-hashed into the manifest row.
    rel = next(iter(mv.files))
    target = Path(reg.artifacts.root, mv.artifact_key, rel)  # type: ignore[attr-defined]
    blob = bytearray(target.read_bytes())
    blob[-1] ^= 1
    target.write_bytes(bytes(blob))
    from prodml.registry.backends import _sqlschema as sq

    forged = mv.model_copy(update={"files": {rel: hashlib.sha256(blob).hexdigest()}})
    with reg.metadata._engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sq.versions.update().values(payload=forged.model_dump_json()))
    with pytest.raises(IntegrityError, match="fails authentication") as info:
        reg.load("m@1")
    assert info.value.path == rel


def test_key_rotation_keeps_old_versions_readable(tmp_path: Path) -> None:
    old = LocalKeyFile.create(tmp_path / "old")
    _local(tmp_path, old).register("m", _schema("a"))
    LocalKeyFile.create(tmp_path / "new")
    rotated = LocalKeyFile(tmp_path / "new", old=(tmp_path / "old",))
    reg = _local(tmp_path, rotated)
    mv2 = reg.register("m", _schema("b"))
    assert mv2.encryption is not None
    assert mv2.encryption.key_id == rotated.key_id != old.key_id
    assert reg.load("m@1") == _schema("a")
    assert reg.load("m@2") == _schema("b")
    with pytest.raises(IntegrityError, match="does not hold"):
        _local(tmp_path, old).load("m@2")


def test_signed_encrypted_versions_sign_the_scheme(tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    reg = ModelRegistry(
        "memory://",
        f"memory://{uuid.uuid4().hex}",
        encryption=K1,
        signer=signer,
        trust=TrustPolicy([signer.verifier()]),
    )
    mv = reg.register("m", _schema("x"))
    assert reg.load("m@1") == _schema("x")
    reg.metadata._versions["m"][1] = mv.model_copy(update={"encryption": None})  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError, match="changed: encryption"):
        reg.load("m@1")


def test_bad_encryption_argument() -> None:
    with pytest.raises(ConfigError, match="encryption must be a KeyProvider"):
        ModelRegistry("memory://", "memory://x", encryption=b"k" * 32)  # type: ignore[arg-type]


def test_sklearn_model_round_trips_encrypted(tmp_path: Path) -> None:
    pytest.importorskip("skops", reason="needs the 'sklearn' extra (skops)")
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    reg = _local(tmp_path, LocalKeyFile.create(tmp_path / "k"))
    reg.register("clf", model)
    got = reg.load("clf@1")
    np.testing.assert_array_equal(got.predict_proba(X), model.predict_proba(X))
