"""Signed alias records and registry identity: the rollback and copy attacks are refused.

A signing registry records every alias move and status change with a signature over the
registry's identity, the model, alias, version, the version's manifest digest and the
audit sequence number. ``load("m@alias")`` under a trust policy refuses a database
whose alias row points elsewhere than its newest signed record, a record for another
registry, and (with a client's ``seen`` high-water marks) a log rolled back. Version
signatures name the registry, so a version copied into another registry sharing the key
is refused; signatures made before keep verifying (unless the policy is strict). Run on
SQLite + local files and PostgreSQL + S3.
"""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytest.importorskip("cryptography", reason="needs the 'sign' extra (cryptography)")

from prodml.errors import ConfigError, IntegrityError, RegistryError
from prodml.registry import ModelRegistry
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.entities import AuditEvent
from prodml.registry.signing import (
    Ed25519Signer,
    TrustPolicy,
    UnsignedAliasWarning,
    sign_version,
    verify_event,
    version_digest,
)
from prodml.schema import Column, Schema

SIGNER = Ed25519Signer.generate()


def _schema(n: int) -> Schema:
    return Schema([Column(f"x{i}", "float") for i in range(n)])


def _open(urls: tuple[str, str, dict], **kw: Any) -> ModelRegistry:
    db, art, opts = urls
    kw.setdefault("signer", SIGNER)
    kw.setdefault("trust", TrustPolicy([SIGNER.verifier()]))
    return ModelRegistry(db, art, storage_options=opts, **kw)


@pytest.fixture
def reg(urls: tuple[str, str, dict]) -> Iterator[ModelRegistry]:
    registry = _open(urls)
    for n in (1, 2, 3):
        registry.register("m", _schema(n))
    registry.set_alias("m", "production", 1)
    registry.set_alias("m", "production", 2)
    registry.set_alias("m", "production", 3)
    yield registry
    registry.close()


def _engine(reg: ModelRegistry) -> sa.Engine:
    return reg.metadata._engine  # type: ignore[attr-defined,no-any-return]


def _point(reg: ModelRegistry, alias: str, version: int) -> None:
    """The attacker: move the alias row behind the registry's back."""
    a = sq.aliases.c
    with _engine(reg).begin() as conn:
        conn.execute(
            sq.aliases.update().where(a.name == "m", a.alias == alias).values(version=version)
        )


def _drop_events_after(reg: ModelRegistry, seq: int) -> None:
    with _engine(reg).begin() as conn:
        conn.execute(sq.events.delete().where(sq.events.c.seq > seq))


def _newest(reg: ModelRegistry, alias: str = "production") -> AuditEvent:
    return reg.history("m", alias=alias, page_size=1).items[0]


# ------------------------------------------------------------------ records written


def test_every_move_and_status_change_carries_a_verifying_record(reg: ModelRegistry) -> None:
    reg.rollback("m", "production")
    reg.archive("m", 1)
    reg.restore("m", 1)
    reg.delete_alias("m", "production")
    reg.delete("m", 1)
    events = [e for e in reg.history("m").items if e.action != "register"]
    assert [e.action for e in events] == [
        "delete",
        "delete_alias",
        "restore",
        "archive",
        "rollback",
        "set_alias",
        "set_alias",
        "set_alias",
    ]
    identity = reg.metadata.registry_id()
    assert isinstance(identity, str)
    assert len(identity) == 32
    trust = TrustPolicy([SIGNER.verifier()])
    seqs = []
    for e in events:
        record = verify_event(e, trust, identity)
        assert record["seq"] == e.seq
        assert (record["model"], record["alias"], record["version"]) == (e.name, e.alias, e.version)
        assert record["registry"] == identity
        seqs.append(record["seq"])
    assert seqs == sorted(seqs, reverse=True)  # increasing with every event
    by_action = {e.action: verify_event(e, trust, identity) for e in events}
    assert by_action["archive"]["status"] == "archived"
    assert by_action["delete"]["status"] == "deleted"
    assert by_action["delete_alias"]["digest"] is None
    assert by_action["rollback"]["digest"] == version_digest(reg.get("m@2"))
    assert by_action["rollback"]["previous_version"] == 3


def test_a_registry_without_a_signer_writes_no_records(urls: tuple[str, str, dict]) -> None:
    reg = _open(urls, signer=None, trust=None)
    reg.register("m", _schema(1))
    reg.set_alias("m", "production", 1)
    assert "signed" not in _newest(reg).detail
    reg.close()


def test_a_failing_signer_leaves_the_alias_where_it_was(reg: ModelRegistry) -> None:
    class Broken:
        key_id = SIGNER.key_id

        def sign(self, data: bytes) -> bytes:
            raise OSError("HSM unreachable")

    before = reg.history("m").items[0].seq
    reg.signer = Broken()
    with pytest.raises(RegistryError, match="could not sign the set_alias"):
        reg.set_alias("m", "production", 1)
    with pytest.raises(RegistryError, match="could not sign the archive"):
        reg.archive("m", 1)
    assert reg.get("m@production").version == 3
    assert reg.get("m@1").status == "ready"
    assert reg.history("m").items[0].seq == before


# ------------------------------------------------------------------ load refuses


def test_the_alias_loads_when_row_and_record_agree(reg: ModelRegistry) -> None:
    seen: dict[str, int] = {}
    assert reg.load("m@production", seen=seen) == _schema(3)
    assert seen == {"m@production": _newest(reg).seq}
    assert reg.verify("m@production").version == 3


@pytest.mark.parametrize("target", [1, 2])
def test_an_alias_pointed_at_an_older_signed_version_is_refused(
    reg: ModelRegistry, target: int
) -> None:
    _point(reg, "production", target)
    for call in (reg.load, reg.verify):
        with pytest.raises(IntegrityError, match="its newest signed record") as info:
            call("m@production")
        assert f"points at version {target}" in str(info.value)
        assert "points at version 3" in str(info.value)


def test_an_alias_pointed_at_an_archived_version_is_refused(reg: ModelRegistry) -> None:
    reg.archive("m", 1)
    _point(reg, "production", 1)
    with pytest.raises(IntegrityError, match="its newest signed record"):
        reg.load("m@production")


def test_an_unsigned_move_appended_by_a_writer_warns_or_is_refused(
    reg: ModelRegistry, urls: tuple[str, str, dict]
) -> None:
    seen: dict[str, int] = {}
    reg.load("m@production", seen=seen)
    # The attacker logs a move like an old prodml would, and moves the row.
    old = _open(urls, signer=None, trust=None)
    old.set_alias("m", "production", 1)
    old.close()
    with pytest.warns(UnsignedAliasWarning, match="without a signed record"):
        assert reg.load("m@production") == _schema(1)
    with pytest.raises(IntegrityError, match="already accepted its signed record"):
        reg.load("m@production", seen=seen)
    strict = _open(urls, trust=TrustPolicy([SIGNER.verifier()], strict=True))
    with pytest.raises(IntegrityError, match="the trust policy is strict"):
        strict.load("m@production")
    strict.close()


def test_a_log_rolled_back_is_refused_by_a_client_that_saw_newer(reg: ModelRegistry) -> None:
    seen: dict[str, int] = {}
    reg.load("m@production", seen=seen)
    # The attacker deletes the newest events and points the alias at version 2: the
    # newest remaining record now agrees with the row, validly signed.
    second = reg.history("m", alias="production").items[1]
    _drop_events_after(reg, second.seq)
    _point(reg, "production", 2)
    assert reg.load("m@production") == _schema(2)  # no memory: it cannot tell
    with pytest.raises(IntegrityError, match=r"older than the \d+ this client already accepted"):
        reg.load("m@production", seen=seen)
    assert seen["m@production"] > second.seq  # a refused load does not lower the mark


def test_seen_is_updated_only_after_a_successful_load(reg: ModelRegistry) -> None:
    seen: dict[str, int] = {}
    reg.load("m@production", seen=seen)
    first = seen["m@production"]
    reg.set_alias("m", "production", 1)
    _point(reg, "production", 2)
    with pytest.raises(IntegrityError):
        reg.load("m@production", seen=seen)
    assert seen == {"m@production": first}
    _point(reg, "production", 1)
    reg.load("m@production", seen=seen)
    assert seen["m@production"] > first


def test_a_record_with_a_forged_signature_is_refused(reg: ModelRegistry) -> None:
    event = _newest(reg)
    signed = dict(event.detail["signed"])
    payload = json.loads(base64.b64decode(signed["payload"]))
    payload["version"] = 1  # the attacker rewrites the record to match a rolled-back row
    signed["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    detail = {**event.detail, "signed": signed}
    with _engine(reg).begin() as conn:
        conn.execute(
            sq.events.update()
            .where(sq.events.c.seq == event.seq)
            .values(detail=sq.dump_detail(detail))
        )
    _point(reg, "production", 1)
    with pytest.raises(IntegrityError, match="does not verify"):
        reg.load("m@production")


def test_a_record_by_an_untrusted_key_is_refused(urls: tuple[str, str, dict]) -> None:
    other = Ed25519Signer.generate()
    writer = _open(urls, signer=other, trust=None)
    writer.register("m", _schema(1))
    writer.set_alias("m", "production", 1)
    writer.close()
    reader = _open(urls, trust=TrustPolicy([SIGNER.verifier()], require_signature=False))
    with pytest.raises(IntegrityError, match="which the trust policy does not trust"):
        reader.load("m@production")
    reader.close()


def test_old_registries_keep_loading_with_a_warning(urls: tuple[str, str, dict]) -> None:
    # Written before alias records: version signature without a registry, no records.
    old = _open(urls, signer=None, trust=None)
    mv = old.register("m", _schema(1))
    legacy = sign_version(mv, SIGNER)  # prodml-manifest-v1, as older prodml signed
    with _engine(old).begin() as conn:
        conn.execute(sq.versions.update().values(payload=sq.dump_version(legacy)))
    old.set_alias("m", "production", 1)
    old.close()
    reg = _open(urls)
    assert reg.load("m@1") == _schema(1)  # an old signature still verifies
    with pytest.warns(UnsignedAliasWarning):
        assert reg.load("m@production") == _schema(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.load("m@1")  # not through an alias: nothing to warn about
    strict = _open(urls, trust=TrustPolicy([SIGNER.verifier()], strict=True))
    with pytest.raises(IntegrityError, match="does not name its registry"):
        strict.load("m@1")
    reg.close()
    strict.close()


def test_pruning_the_log_keeps_the_alias_verifiable(reg: ModelRegistry) -> None:
    seen: dict[str, int] = {}
    reg.load("m@production", seen=seen)
    assert reg.prune_history("m", before=None, keep=0) > 0
    assert _newest(reg).action == "prune_history"
    assert reg.load("m@production", seen=seen) == _schema(3)
    _point(reg, "production", 2)
    with pytest.raises(IntegrityError, match="its newest signed record"):
        reg.load("m@production")


def test_seen_needs_a_trust_policy(urls: tuple[str, str, dict]) -> None:
    reg = _open(urls, trust=None)
    reg.register("m", _schema(1))
    with pytest.raises(ConfigError, match="needs a registry opened with trust="):
        reg.load("m@1", seen={})
    reg.close()


# ------------------------------------------------------------------ registry identity


def test_a_version_copied_into_another_registry_is_refused(
    urls: tuple[str, str, dict], tmp_path: Path
) -> None:
    staging = ModelRegistry(
        f"sqlite:///{tmp_path}/staging.db",
        f"file://{tmp_path}/staging",
        signer=SIGNER,
        trust=TrustPolicy([SIGNER.verifier()]),
    )
    copied = staging.register("m", _schema(5))
    assert staging.load("m@1") == _schema(5)
    prod = _open(urls)
    genuine = prod.register("m", _schema(1))
    assert prod.metadata.registry_id() != staging.metadata.registry_id()
    # The attacker copies staging's signed record (and files) over production's version.
    forged = copied.model_copy(
        update={"artifact_key": genuine.artifact_key, "files": genuine.files}
    )
    forged = sign_version(forged, SIGNER, staging.metadata.registry_id())
    with _engine(prod).begin() as conn:
        conn.execute(sq.versions.update().values(payload=sq.dump_version(forged)))
    with pytest.raises(IntegrityError, match="was signed for another registry"):
        prod.load("m@1")
    staging.close()
    prod.close()


def test_the_identity_is_kept_and_shared_by_every_client(urls: tuple[str, str, dict]) -> None:
    a = _open(urls)
    b = _open(urls)
    assert a.metadata.registry_id() == b.metadata.registry_id()
    identity = a.metadata.registry_id()
    assert identity is not None
    assert uuid.UUID(identity).hex == identity
    a.close()
    b.close()
    again = _open(urls, read_only=True)
    assert again.metadata.registry_id() == identity
    again.close()


def test_the_memory_store_records_and_checks_too() -> None:
    reg = ModelRegistry(
        "memory://",
        f"memory://{uuid.uuid4().hex}",
        signer=SIGNER,
        trust=TrustPolicy([SIGNER.verifier()]),
    )
    reg.register("m", _schema(1))
    reg.register("m", _schema(2))
    reg.set_alias("m", "production", 2)
    record = verify_event(
        _newest(reg), TrustPolicy([SIGNER.verifier()]), reg.metadata.registry_id()
    )
    assert (record["version"], record["seq"]) == (2, _newest(reg).seq)
    reg.metadata._aliases_map["m"]["production"] = 1  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError, match="its newest signed record"):
        reg.load("m@production")
