"""Signed versions: keys, envelopes, trust policies, and the registry signing and refusing."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("cryptography", reason="needs the 'sign' extra (cryptography)")

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from prodml.errors import ConfigError, IntegrityError, RegistryError
from prodml.registry import ModelRegistry, NotWorseThanCurrent
from prodml.registry._manifest import SIGNED_FIELDS, payload
from prodml.registry.entities import Attestation
from prodml.registry.signing import (
    PAYLOAD_TYPE,
    Ed25519Signer,
    Ed25519Verifier,
    Signer,
    TrustPolicy,
    Verifier,
    pae,
    sign_version,
    statement,
    verify_version,
)
from prodml.schema import Column, Schema

# RFC 8032, section 7.1, TEST 1.
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def _schema(*names: str) -> Schema:
    return Schema([Column(n, "float") for n in names])


def _signed_registry(signer: Ed25519Signer | None = None, **kw: Any) -> ModelRegistry:
    signer = signer or Ed25519Signer.generate()
    kw.setdefault("trust", TrustPolicy([signer.verifier()]))
    return ModelRegistry("memory://", f"memory://{uuid.uuid4().hex}", signer=signer, **kw)


# ------------------------------------------------------------------ keys and envelopes


def test_ed25519_matches_rfc8032_vector() -> None:
    signer = Ed25519Signer(RFC_SECRET)
    assert signer.verifier().public_key == RFC_PUBLIC
    assert signer.sign(b"") == RFC_SIG
    assert signer.verifier().verify(b"", RFC_SIG)
    assert not signer.verifier().verify(b"x", RFC_SIG)
    assert not signer.verifier().verify(b"", b"short")


def test_pae_matches_the_dsse_spec_example() -> None:
    got = pae("http://example.com/HelloWorld", b"hello world")
    assert got == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_key_ids_never_show_the_private_key() -> None:
    signer = Ed25519Signer(RFC_SECRET)
    assert signer.key_id == signer.verifier().key_id
    assert signer.key_id.startswith("ed25519:")
    assert len(signer.key_id) == 8 + 32
    for text in (repr(signer), repr(signer.verifier()), repr(TrustPolicy([signer.verifier()]))):
        assert RFC_SECRET.hex() not in text
        assert signer.key_id in text
    assert isinstance(signer, Signer)
    assert isinstance(signer.verifier(), Verifier)


def test_pem_round_trips_and_bad_keys(tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    (tmp_path / "key.pem").write_bytes(signer.private_pem(password=b"pw"))
    (tmp_path / "pub.pem").write_bytes(signer.verifier().public_pem())
    again = Ed25519Signer.from_pem(tmp_path / "key.pem", password=b"pw")
    assert again.key_id == signer.key_id
    assert Ed25519Verifier.from_pem(tmp_path / "pub.pem").key_id == signer.key_id
    assert Ed25519Signer.from_pem(signer.private_pem()).key_id == signer.key_id
    with pytest.raises(ConfigError, match="password"):
        Ed25519Signer.from_pem(tmp_path / "key.pem", password=b"wrong")
    with pytest.raises(ConfigError, match="cannot read"):
        Ed25519Signer.from_pem(tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="not a PEM public key"):
        Ed25519Verifier.from_pem(b"garbage")
    with pytest.raises(ConfigError, match="32 raw bytes"):
        Ed25519Signer(b"short")
    with pytest.raises(ConfigError, match="32 raw bytes"):
        Ed25519Verifier(b"short")


def test_dsse_envelope_verifies_with_plain_cryptography() -> None:
    """An independent check: the envelope is standard DSSE over the canonical payload."""
    signer = Ed25519Signer.generate()
    reg = _signed_registry(signer)
    mv = reg.register("churn", _schema("x"), metrics={"auc": 0.8}, tags={"t": "1"})
    assert mv.attestation is not None
    env = mv.attestation.to_dsse()
    assert env["payloadType"] == PAYLOAD_TYPE
    body = base64.b64decode(env["payload"])
    identity = reg.metadata.registry_id()
    assert isinstance(identity, str)
    assert json.loads(body) == {**payload(mv), "format": "prodml-manifest-v2", "registry": identity}
    assert set(json.loads(body)) == {"format", "registry", *SIGNED_FIELDS}
    message = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(body), body)
    key = Ed25519PublicKey.from_public_bytes(signer.verifier().public_key)
    key.verify(base64.b64decode(env["signatures"][0]["sig"]), message)  # raises if wrong
    assert env["signatures"][0]["keyid"] == signer.key_id


def test_trust_policy_state_round_trip_and_hostile_input() -> None:
    a, b = Ed25519Signer.generate(), Ed25519Signer.generate()
    policy = TrustPolicy([a.verifier(), b.verifier()], require_signature=False)
    data = json.loads(json.dumps(policy.to_dict()))
    again = TrustPolicy.from_dict(data)
    assert again.key_ids == {a.key_id, b.key_id}
    assert again.require_signature is False
    swapped = json.loads(json.dumps(data))
    swapped["keys"][0]["key_id"] = swapped["keys"][1]["key_id"]
    bad: list[Any] = [
        {},
        {**data, "format": "v0"},
        {**data, "keys": "x"},
        {**data, "require_signature": "yes"},
        {**data, "keys": [{"key_id": "k", "public_key": "!!"}]},
        {**data, "keys": [{"key_id": "k", "public_key": "clé"}]},  # not ASCII: ValueError
        {**data, "keys": [{"key_id": "k"}]},
        swapped,
    ]
    for hostile in bad:
        with pytest.raises(ConfigError):
            TrustPolicy.from_dict(hostile)
    with pytest.raises(ConfigError, match="Verifier"):
        TrustPolicy(["not a verifier"])  # type: ignore[list-item]


# ------------------------------------------------------------------ the registry


def test_signing_is_bound_to_the_number_stored() -> None:
    reg = _signed_registry()
    for _ in range(3):
        reg.register("m", _schema("x"))
    for n in (1, 2, 3):
        mv = reg.get(f"m@{n}")
        assert json.loads(statement(mv))["version"] == n
        assert reg.verify(f"m@{n}").version == n


def test_without_a_policy_nothing_is_checked() -> None:
    reg = _signed_registry(trust=None)
    mv = reg.register("m", _schema("x"))
    forged = mv.model_copy(update={"metrics": {"auc": 1.0}})
    reg.metadata._versions["m"][1] = forged  # type: ignore[attr-defined]
    assert reg.load("m@1") == _schema("x")  # a registry without trust= does not look
    with pytest.raises(IntegrityError, match="changed: metrics"):
        verify_version(
            forged,
            TrustPolicy([reg.signer.verifier()]),  # type: ignore[union-attr]
            reg.metadata.registry_id(),
        )


def test_trust_gates_alias_moves_and_rollback() -> None:
    signer = Ed25519Signer.generate()
    reg = _signed_registry(signer)
    reg.register("m", _schema("x"))
    reg.register("m", _schema("y"))
    reg.set_alias("m", "production", 1)
    reg.set_alias("m", "production", 2)
    v1 = reg.get("m@1")
    reg.metadata._versions["m"][1] = v1.model_copy(update={"attestation": None})  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError, match="unsigned"):
        reg.rollback("m", "production")
    with pytest.raises(IntegrityError, match="unsigned"):
        reg.promote("m", "staging", 1)
    assert reg.aliases("m") == {"production": 2}


def test_promotion_gates_read_only_verified_metrics() -> None:
    """A forged drop of production's metric cannot make a worse candidate pass."""
    reg = _signed_registry()
    reg.register("m", _schema("x"), metrics={"auc": 0.9})
    reg.register("m", _schema("y"), metrics={"auc": 0.7})
    reg.set_alias("m", "production", 1)
    v1 = reg.get("m@1")
    forged = v1.model_copy(update={"metrics": {"auc": 0.1}})
    reg.metadata._versions["m"][1] = forged  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError, match="changed: metrics"):
        reg.promote("m", "production", 2, checks=[NotWorseThanCurrent("auc")])
    assert reg.aliases("m") == {"production": 1}


@pytest.mark.parametrize("db", ["memory", "sqlite"])
def test_failing_signer_registers_nothing(db: str, tmp_path: Path) -> None:
    class Down:
        key_id = "kms:prod"

        def sign(self, data: bytes) -> bytes:
            raise TimeoutError("kms unreachable")

    url = "memory://" if db == "memory" else f"sqlite:///{tmp_path}/r.db"
    reg = ModelRegistry(url, f"memory://{uuid.uuid4().hex}", signer=Down())
    with pytest.raises(RegistryError, match="could not sign m@1") as info:
        reg.register("m", _schema("x"))
    assert isinstance(info.value.__cause__, TimeoutError)
    assert reg.models() == []
    assert reg.artifacts.list_keys() == []
    assert reg.metadata.pending() == []  # the lease was released with the files


def test_bad_signer_and_trust_arguments() -> None:
    with pytest.raises(ConfigError, match="signer must be a Signer"):
        ModelRegistry("memory://", "memory://x", signer=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="trust must be a TrustPolicy"):
        ModelRegistry("memory://", "memory://x", trust=[1])  # type: ignore[arg-type]

    class NoId:
        key_id = ""

        def sign(self, data: bytes) -> bytes:
            return b""

    reg = ModelRegistry("memory://", f"memory://{uuid.uuid4().hex}", signer=NoId())
    with pytest.raises(ConfigError, match="key_id"):
        reg.register("m", _schema("x"))


def test_local_registry_signs_and_survives_reopening(tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    trust = TrustPolicy([signer.verifier()])
    with ModelRegistry.local(tmp_path, signer=signer, trust=trust) as reg:
        reg.register("m", _schema("x"))
    with ModelRegistry.local(tmp_path, trust=trust, read_only=True) as reader:
        assert reader.load("m@1") == _schema("x")
    stranger = ModelRegistry.local(tmp_path, trust=TrustPolicy([]))
    with pytest.raises(IntegrityError, match=signer.key_id):
        stranger.load("m@1")
    stranger.close()


def test_malformed_envelopes_are_refused() -> None:
    signer = Ed25519Signer.generate()
    reg = _signed_registry(signer)
    mv = reg.register("m", _schema("x"))
    att = mv.attestation
    assert att is not None
    policy = TrustPolicy([signer.verifier()])
    good = att.signatures[0]
    hostile = [
        (att.model_copy(update={"payload_type": "text/plain"}), "malformed"),
        (att.model_copy(update={"signatures": ()}), "malformed"),
        (att.model_copy(update={"signatures": (good,) * 17}), "malformed"),
        (att.model_copy(update={"payload": "not base64!"}), "not base64"),
        (att.model_copy(update={"payload": base64.b64encode(b"[]").decode()}), "not an object"),
        (att.model_copy(update={"payload": base64.b64encode(b"{").decode()}), "not JSON"),
        (att.model_copy(update={"signatures": ((good[0], "%%"),)}), "does not verify"),
        (
            att.model_copy(update={"payload": base64.b64encode(statement(mv) + b" ").decode()}),
            "not canonical",
        ),
    ]
    for envelope, why in hostile:
        with pytest.raises(IntegrityError, match=why):
            verify_version(
                mv.model_copy(update={"attestation": envelope}), policy, reg.metadata.registry_id()
            )
    assert Attestation.model_validate_json(att.model_dump_json()) == att


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tags=st.dictionaries(st.sampled_from("abc"), st.sampled_from(["x", "y"]), max_size=3),
    metrics=st.dictionaries(st.sampled_from("pq"), st.sampled_from([0.0, 0.5, 1.0]), max_size=2),
)
def test_any_change_of_tags_or_metrics_is_caught(
    tags: dict[str, str], metrics: dict[str, float]
) -> None:
    """Verification passes exactly when the stored fields equal the signed ones."""
    signer = Ed25519Signer(RFC_SECRET)
    policy = TrustPolicy([signer.verifier()])
    reg = _signed_registry(signer)
    base = reg.register("m", _schema("x"), tags={"a": "x"}, metrics={"p": 0.5})
    edited = base.model_copy(update={"tags": tags, "metrics": metrics})
    identity = reg.metadata.registry_id()
    if tags == {"a": "x"} and metrics == {"p": 0.5}:
        assert verify_version(edited, policy, identity) == signer.key_id
    else:
        with pytest.raises(IntegrityError, match="changed: "):
            verify_version(edited, policy, identity)


def test_sign_version_and_verify_round_trip_any_signer() -> None:
    """A KMS-style signer: any object with key_id and sign plugs in."""

    class Kms:
        key_id = "kms:alias/models"

        def __init__(self) -> None:
            self._inner = Ed25519Signer.generate()

        def sign(self, data: bytes) -> bytes:
            return self._inner.sign(data)

    kms = Kms()

    class KmsVerifier:
        key_id = "kms:alias/models"

        def verify(self, data: bytes, signature: bytes) -> bool:
            return kms._inner.verifier().verify(data, signature)

    reg = ModelRegistry(
        "memory://",
        f"memory://{uuid.uuid4().hex}",
        signer=kms,
        trust=TrustPolicy([KmsVerifier()]),
    )
    mv = reg.register("m", _schema("x"))
    assert reg.history("m").items[0].detail == {"signer_key_id": "kms:alias/models"}
    assert verify_version(sign_version(mv, kms), TrustPolicy([KmsVerifier()])) == kms.key_id
    with pytest.raises(ConfigError, match="only Ed25519"):
        TrustPolicy([KmsVerifier()]).to_dict()


def test_parallel_hashing_matches_one_thread_and_names_the_changed_file(tmp_path: Path) -> None:
    """Big versions hash on several threads: same digests, same first failure."""
    from prodml.fingerprint import fingerprint_file
    from prodml.registry._hashing import PARALLEL_BYTES, PARALLEL_FILES
    from prodml.registry._manifest import build

    src = tmp_path / "model"
    n = max(PARALLEL_FILES, 12)
    for i in range(n):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"w{i}.bin").write_bytes(bytes([i]) * (PARALLEL_BYTES // n + 1))
    files = build(src)
    assert list(files) == sorted(files)
    assert files == {
        p.relative_to(src).as_posix(): fingerprint_file(p) for p in sorted(src.rglob("*.bin"))
    }
    reg = ModelRegistry.local(tmp_path / "reg")
    mv = reg.register("big", src, flavour="files")
    stored = Path(reg.artifacts.root, mv.artifact_key)  # type: ignore[attr-defined]
    victims = sorted(mv.files)[3:5]
    for rel in victims:
        (stored / rel).write_bytes(b"changed")
    with pytest.raises(IntegrityError) as info:
        reg.verify("big@1")
    assert info.value.path == victims[0]  # the first changed file in manifest order


def test_sqlite_and_local_files_rehash_and_swap(tmp_path: Path) -> None:
    """SQLite + local disk: a file swapped and re-hashed into its row is refused."""
    import hashlib

    from prodml.registry.backends import _sqlschema as sq

    signer = Ed25519Signer.generate()
    reg = ModelRegistry.local(tmp_path, signer=signer, trust=TrustPolicy([signer.verifier()]))
    mv = reg.register("m", _schema("x"), metrics={"auc": 0.8})
    rel = next(iter(mv.files))
    target = Path(reg.artifacts.root, mv.artifact_key, rel)  # type: ignore[attr-defined]
    evil = target.read_bytes().replace(b"float", b"int")
    target.write_bytes(evil)
    with pytest.raises(IntegrityError) as info:
        reg.load("m@1")
    assert info.value.path == rel  # the hash alone catches the swap
    forged = mv.model_copy(update={"files": {rel: hashlib.sha256(evil).hexdigest()}})
    with reg.metadata._engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sq.versions.update().values(payload=forged.model_dump_json()))
    assert ModelRegistry.local(tmp_path).load("m@1") != _schema("x")  # no policy: fooled
    with pytest.raises(IntegrityError, match="changed: files") as info:
        reg.load("m@1")
    assert (info.value.model_name, info.value.version) == ("m", 1)
