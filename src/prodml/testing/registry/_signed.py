# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""Signed versions under attack: the tamper matrix run by both conformance suites.

Each case edits what an attacker with write access to one store (or both) can edit, and
checks that a registry holding a trust policy refuses the version on ``load``, ``verify``
and ``set_alias`` with an :class:`~prodml.errors.IntegrityError` naming the version (and
the key id where one is involved); then it puts the original back and checks the version
loads again, so each detection is the tamper's doing and not a leftover of another case.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodml.errors import IntegrityError, NotFoundError
from prodml.registry import ArtifactStore, MetadataStore, ModelRegistry
from prodml.registry.backends.artifacts import FsspecArtifactStore
from prodml.registry.backends.memory import MemoryMetadataStore
from prodml.registry.backends.sql import SQLMetadataStore
from prodml.registry.encryption import MAGIC, LocalKeyFile
from prodml.registry.entities import Encryption, Lineage, ModelVersion
from prodml.registry.signing import Ed25519Signer, TrustPolicy, sign_version
from prodml.testing.registry._common import _model, _schema, pytest
from prodml.testing.registry._metadata_trust import _tamper_payload

REFILED = {"edit name", "edit version"}
SIGN_HINT = "needs the 'sign' extra (cryptography): pip install 'prodml[sign]'"


def _replace_version(store: MetadataStore, name: str, version: int, mv: ModelVersion) -> None:
    """Overwrite a stored version behind the registry's back (the stores prodml ships)."""
    if isinstance(store, SQLMetadataStore):
        _tamper_payload(store, name, version, mv.model_dump_json())
    elif isinstance(store, MemoryMetadataStore):
        with store._locked():
            store._versions[name][version] = mv
    else:  # pragma: no cover - a user's store overrides the hook
        pytest.skip(
            f"the suite cannot edit a {type(store).__name__} behind the registry's back: "
            "override replace_version(store, name, version, mv) in your test class to "
            "overwrite the stored version with mv (the tamper matrix then runs)"
        )


class _Impostor:
    """Signs with its own key but claims another key's id."""

    def __init__(self, key_id: str) -> None:
        self._inner = Ed25519Signer.generate()
        self.key_id = key_id

    def sign(self, data: bytes) -> bytes:
        return self._inner.sign(data)


def _cases(
    original: ModelVersion, other: ModelVersion, trusted: str
) -> Iterator[tuple[str, ModelVersion, str]]:
    """(case, tampered version, what the message must name) for every tamper."""
    edits: dict[str, Any] = {
        "name": "other-model",
        "version": other.version,
        "flavour": "files",
        "flavour_meta": {**original.flavour_meta, "injected": True},
        "artifact_key": other.artifact_key,
        "files": dict.fromkeys(original.files, "0" * 64),
        "signature": _schema("x", "y"),
        "lineage": Lineage(code_version="evil"),
        "metrics": {**original.metrics, "auc": 0.999},
        "tags": {**original.tags, "approved": "yes"},
        "created_by": "mallory",
        "encryption": Encryption(scheme="none", key_id="mallory"),
    }
    for field, value in edits.items():
        yield f"edit {field}", original.model_copy(update={field: value}), field
    assert original.attestation is not None
    yield "drop the signature", original.model_copy(update={"attestation": None}), "unsigned"
    yield (
        "another version's signature",
        original.model_copy(update={"attestation": other.attestation}),
        "changed",
    )
    bogus = base64.b64encode(bytes(64)).decode()
    forged = original.attestation.model_copy(update={"signatures": ((trusted, bogus),)})
    yield "replace the signature", original.model_copy(update={"attestation": forged}), trusted
    edited = original.model_copy(update={"metrics": {"auc": 0.999}})
    mallory = Ed25519Signer.generate()
    yield "re-sign with an untrusted key", sign_version(edited, mallory), mallory.key_id
    yield "re-sign claiming a trusted key id", sign_version(edited, _Impostor(trusted)), trusted


class SignedMetadataTrust:
    """The database half of the tamper matrix (runs on every metadata store).

    Hook: ``replace_version(store, name, version, mv)`` overwrites a stored version.
    """

    if TYPE_CHECKING:  # the hook's type; at run time the function above

        @staticmethod
        def replace_version(
            store: MetadataStore, name: str, version: int, mv: ModelVersion
        ) -> None: ...

    else:
        replace_version = staticmethod(_replace_version)

    @pytest.fixture
    def signed(self, registry: ModelRegistry) -> tuple[ModelRegistry, Ed25519Signer]:
        pytest.importorskip("cryptography", reason=SIGN_HINT)
        signer = Ed25519Signer.generate()
        reg = ModelRegistry(
            registry.metadata,
            registry.artifacts,
            actor="ci",
            signer=signer,
            trust=TrustPolicy([signer.verifier()]),
        )
        return reg, signer

    def test_signed_versions_record_the_signer(
        self, signed: tuple[ModelRegistry, Ed25519Signer]
    ) -> None:
        reg, signer = signed
        mv = reg.register("m", _model(), tags={"team": "a"}, metrics={"auc": 0.8})
        assert mv.attestation is not None
        assert mv.attestation.key_ids == (signer.key_id,)
        stored = reg.get("m@1")
        assert stored.attestation == mv.attestation
        assert reg.load("m@1") == _model()
        assert reg.verify("m@1").version == 1
        event = reg.history("m").items[0]
        assert event.action == "register"
        assert event.detail == {"signer_key_id": signer.key_id}
        reg.archive("m", 1)  # status and description are not signed: still verifies
        reg.restore("m", 1)
        assert reg.set_alias("m", "production", 1).version == 1

    def test_tamper_matrix(self, signed: tuple[ModelRegistry, Ed25519Signer]) -> None:
        reg, signer = signed
        original = reg.register("m", _model(), tags={"team": "a"}, metrics={"auc": 0.8})
        other = reg.register("m", _schema("z"), metrics={"auc": 0.7})
        store = reg.metadata
        detected = []
        for case, tampered, named in _cases(original, other, signer.key_id):
            self.replace_version(store, "m", 1, tampered)
            hidden = (IntegrityError, NotFoundError) if case in REFILED else IntegrityError
            for attempt in (
                lambda: reg.load("m@1"),
                lambda: reg.verify("m@1"),
                lambda: reg.set_alias("m", "production", 1),
            ):
                with pytest.raises(hidden) as info:
                    attempt()
                if isinstance(info.value, NotFoundError):
                    continue  # filed under another name or number: not found as m@1
                message = str(info.value)
                assert info.value.version == 1, case
                assert "version 1" in message, (case, message)
                # A row describing another model or number fails before its signature.
                assert named in message or "describes" in message, (case, message)
            detected.append(case)
            self.replace_version(store, "m", 1, original)
            assert reg.load("m@1") == _model(), case
        assert len(detected) == 17
        assert reg.aliases("m") == {}

    def test_rehashed_file_and_manifest_row(
        self, signed: tuple[ModelRegistry, Ed25519Signer]
    ) -> None:
        import hashlib  # noqa: PLC0415

        reg, _ = signed
        mv = reg.register("m", _model())
        rel = next(iter(mv.files))
        evil = b'{"evil": true}'
        assert isinstance(reg.artifacts, FsspecArtifactStore)
        reg.artifacts.fs.pipe_file(reg.artifacts._path(mv.artifact_key, rel), evil)
        digest = hashlib.sha256(evil).hexdigest()
        self.replace_version(reg.metadata, "m", 1, mv.model_copy(update={"files": {rel: digest}}))
        unsigned = ModelRegistry(reg.metadata, reg.artifacts)  # no policy: hashes agree
        unsigned.verify("m@1")
        with pytest.raises(IntegrityError, match="changed: files"):
            reg.verify("m@1")

    def test_untrusted_and_unsigned_versions(
        self, signed: tuple[ModelRegistry, Ed25519Signer]
    ) -> None:
        reg, signer = signed
        plain = ModelRegistry(reg.metadata, reg.artifacts, actor="dev")
        plain.register("m", _model())
        mallory = Ed25519Signer.generate()
        ModelRegistry(reg.metadata, reg.artifacts, signer=mallory).register("m", _model())
        with pytest.raises(IntegrityError, match="unsigned") as info:
            reg.load("m@1")
        assert (info.value.model_name, info.value.version) == ("m", 1)
        with pytest.raises(IntegrityError) as info:
            reg.load("m@2")
        assert mallory.key_id in str(info.value)
        assert "does not trust" in str(info.value)
        lenient = ModelRegistry(
            reg.metadata,
            reg.artifacts,
            trust=TrustPolicy([signer.verifier()], require_signature=False),
        )
        assert lenient.load("m@1") == _model()  # unsigned: allowed by this policy
        with pytest.raises(IntegrityError, match="does not trust"):
            lenient.load("m@2")  # signed by an unknown key: still refused
        both = TrustPolicy([signer.verifier(), mallory.verifier()])
        assert ModelRegistry(reg.metadata, reg.artifacts, trust=both).load("m@2") == _model()
        assert plain.history("m").items[-1].detail == {}


class SignedArtifactTrust:
    """The bucket half of the tamper matrix (runs on every artifact store)."""

    if TYPE_CHECKING:  # provided by ArtifactStoreConformance

        def _read(self, registry: ModelRegistry, mv: ModelVersion, rel: str) -> bytes: ...

        def tamper_write(self, store: ArtifactStore, key: str, rel: str, data: bytes) -> None: ...

    @pytest.fixture
    def signed(
        self, registry: ModelRegistry
    ) -> tuple[ModelRegistry, Callable[[ModelVersion], None]]:
        pytest.importorskip("cryptography", reason=SIGN_HINT)
        signer = Ed25519Signer.generate()
        store = MemoryMetadataStore()
        reg = ModelRegistry(
            store, registry.artifacts, signer=signer, trust=TrustPolicy([signer.verifier()])
        )

        def replace(mv: ModelVersion) -> None:
            _replace_version(store, mv.name, mv.version, mv)

        return reg, replace

    def test_signed_bucket_tampering(
        self,
        signed: tuple[ModelRegistry, Callable[[ModelVersion], None]],
    ) -> None:
        import hashlib  # noqa: PLC0415

        reg, replace = signed
        mv = reg.register("m", _schema("x"))
        other = reg.register("o", _schema("y"))
        rel = next(iter(mv.files))
        original = self._read(reg, mv, rel)
        swapped = self._read(reg, other, rel)
        write = self.tamper_write
        write(reg.artifacts, mv.artifact_key, rel, swapped)  # swap a file
        with pytest.raises(IntegrityError) as info:
            reg.load("m@1")
        assert (info.value.path, info.value.version) == (rel, 1)
        # ... and also re-hash it into the manifest row: the signature catches that.
        replace(mv.model_copy(update={"files": {rel: hashlib.sha256(swapped).hexdigest()}}))
        with pytest.raises(IntegrityError, match="changed: files") as info:
            reg.load("m@1")
        assert info.value.version == 1
        # ... or point the row at the other version's files.
        replace(mv.model_copy(update={"artifact_key": other.artifact_key}))
        with pytest.raises(IntegrityError, match="changed: artifact_key"):
            reg.verify("m@1")
        write(reg.artifacts, mv.artifact_key, rel, original)
        replace(mv)
        assert reg.load("m@1") == _schema("x")

    def test_encrypted_round_trip_and_tampered_ciphertext(
        self, registry: ModelRegistry, tmp_path: Path
    ) -> None:
        import hashlib  # noqa: PLC0415

        pytest.importorskip("cryptography", reason=SIGN_HINT)
        keys = LocalKeyFile.create(tmp_path / "registry.key")
        store = MemoryMetadataStore()
        reg = ModelRegistry(store, registry.artifacts, encryption=keys)
        mv = reg.register("m", _schema("secret_column"))
        rel = next(iter(mv.files))
        blob = self._read(reg, mv, rel)
        assert blob.startswith(MAGIC)
        assert b"secret_column" not in blob
        assert reg.load("m@1") == _schema("secret_column")
        # Whoever writes both stores changes the ciphertext and re-hashes it: AES-GCM
        # authentication still refuses it.
        changed = blob[:-1] + bytes([blob[-1] ^ 1])
        self.tamper_write(reg.artifacts, mv.artifact_key, rel, changed)
        digest = hashlib.sha256(changed).hexdigest()
        _replace_version(store, "m", 1, mv.model_copy(update={"files": {rel: digest}}))
        with pytest.raises(IntegrityError, match="fails authentication") as info:
            reg.load("m@1")
        assert (info.value.path, info.value.version) == (rel, 1)
