"""What a trust policy checks beyond version signatures: the pinned identity, status
records at a load by number, the signed rollback chain, and ``latest`` held by ``seen=``.

Each test edits the database behind the registry, as a writer of the database without
the signing key would, and runs on SQLite + local files and PostgreSQL + S3.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

pytest.importorskip("cryptography", reason="needs the 'sign' extra (cryptography)")

from prodml.errors import ConfigError, IntegrityError
from prodml.registry import ModelRegistry
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.signing import (
    Ed25519Signer,
    TrustPolicy,
    UnsignedAliasWarning,
    event_record,
    version_digest,
)
from prodml.schema import Column, Schema

SIGNER = Ed25519Signer.generate()
ATTACKER = Ed25519Signer.generate()


def _schema(n: int) -> Schema:
    return Schema([Column(f"x{i}", "float") for i in range(n)])


def _open(urls: tuple[str, str, dict], **kw: Any) -> ModelRegistry:
    db, art, opts = urls
    return ModelRegistry(db, art, storage_options=opts, **kw)


def _trust(**kw: Any) -> TrustPolicy:
    return TrustPolicy([SIGNER.verifier()], **kw)


@pytest.fixture
def reg(urls: tuple[str, str, dict]) -> Iterator[ModelRegistry]:
    registry = _open(urls, signer=SIGNER, trust=_trust())
    for n in (1, 2, 3):
        registry.register("m", _schema(n))
    yield registry
    registry.close()


def _sql(reg: ModelRegistry, *statements: Any) -> None:
    """The attacker: run statements against the registry's database, behind it."""
    with reg.metadata._engine.begin() as conn:  # type: ignore[attr-defined]
        for stmt in statements:
            conn.execute(stmt)


def _set_status(reg: ModelRegistry, version: int, status: str) -> None:
    v = sq.versions.c
    _sql(reg, sq.versions.update().where(v.version == version).values(status=status))


def _reader(urls: tuple[str, str, dict], **kw: Any) -> ModelRegistry:
    """A serving client: a fresh store object (no cached identity), trust only."""
    return _open(urls, trust=_trust(**kw))


# ------------------------------------------------------------- 1. pinned identity


def test_a_pinned_registry_id_refuses_a_database_whose_id_row_was_swapped(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.set_alias("m", "production", 2)
    pinned = reg.registry_id
    assert isinstance(pinned, str)
    assert pinned == reg.metadata.registry_id(create=False)
    with _reader(urls, registry=pinned) as ok:
        assert ok.load("m@production") == _schema(2)
    _sql(reg, sq.registry.update().where(sq.registry.c.key == "id").values(value="0" * 32))
    for ref in ("m@production", "m@1", "m"):
        with (
            _reader(urls, registry=pinned) as client,
            pytest.raises(IntegrityError, match=r"keeps registry id '0{32}', not the '"),
        ):
            client.load(ref)
    with _open(urls, signer=SIGNER, trust=_trust(registry=pinned)) as writer:
        with pytest.raises(IntegrityError, match=r"not the .* the trust policy pins"):
            writer.register("m", _schema(4))
        with pytest.raises(IntegrityError, match=r"the trust policy pins"):
            _ = writer.registry_id
    with _reader(urls) as unpinned:  # what the pin adds: without it, the swap is unseen
        assert unpinned.registry_id == "0" * 32


def test_a_pinned_registry_id_refuses_another_registrys_database(
    urls: tuple[str, str, dict], reg: ModelRegistry, tmp_path: Any
) -> None:
    """Another registry signed by the same key (staging), swapped in whole."""
    swapped = (f"sqlite:///{tmp_path}/other.db", f"file://{tmp_path}/other", {})
    with _open(swapped, signer=SIGNER) as staging:
        staging.register("m", _schema(9))
        staging.set_alias("m", "production", 1)
    pinned = reg.registry_id
    with _reader(swapped) as unpinned:
        assert unpinned.load("m@production") == _schema(9)  # loads the other registry's
    with (
        _reader(swapped, registry=pinned) as client,
        pytest.raises(IntegrityError, match=r"another registry's database"),
    ):
        client.load("m@production")


def test_trust_policy_registry_is_checked_and_round_trips() -> None:
    policy = _trust(registry="a" * 32)
    again = TrustPolicy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert again.registry == "a" * 32
    assert "registry='aaaa" in repr(policy)
    assert TrustPolicy.from_dict({**policy.to_dict(), "registry": None}).registry is None
    for bad in ("", "x" * 101, "has space", 3):
        with pytest.raises(ConfigError, match=r"'registry' parameter of TrustPolicy"):
            _trust(registry=bad)
    legacy = {k: v for k, v in policy.to_dict().items() if k != "registry"}
    assert TrustPolicy.from_dict(legacy).registry is None


# ------------------------------------------------------- 6. reads do not write the id


def test_a_read_under_trust_of_an_upgraded_registry_writes_nothing(
    urls: tuple[str, str, dict],
) -> None:
    with _open(urls) as plain:  # an older registry: unsigned, no identity yet
        plain.register("m", _schema(1))
        plain.set_alias("m", "production", 1)
    policy = _trust(require_signature=False)
    with _open(urls, trust=policy) as reader:
        with pytest.warns(UnsignedAliasWarning, match="without a signed record"):
            assert reader.load("m@production") == _schema(1)
        assert reader.load("m@1") == _schema(1)
        assert reader.registry_id is None
    with _open(urls) as look:
        rows = look.metadata._read(  # type: ignore[attr-defined]
            lambda conn: conn.execute(sa.select(sq.registry.c.value)).all()
        )
    assert rows == []  # the first signed write makes it, not a read
    with _open(urls, signer=SIGNER, trust=policy) as writer:
        writer.register("m", _schema(2))
        assert isinstance(writer.registry_id, str)


# ------------------------------------------- 2. status records at a load by number


def test_a_deleted_version_put_back_behind_the_registry_is_refused_by_number(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.delete("m", 2)
    _set_status(reg, 2, "ready")  # un-deleted in the database
    with _reader(urls) as client:
        for load in (lambda: client.load("m@2"), lambda: client.load("m", 2)):
            with pytest.raises(IntegrityError) as info:
                load()
            assert "m version 2 is ready in the database, but its newest signed status" in str(
                info.value
            )
            assert "says deleted" in str(info.value)
            assert (info.value.model_name, info.value.version) == ("m", 2)
        with pytest.raises(IntegrityError, match="says deleted"):
            client.verify("m@2")
    with pytest.raises(IntegrityError, match="says deleted"):
        reg.set_alias("m", "production", 2)
    assert reg.aliases("m") == {}


def test_an_archived_version_restored_behind_the_registry_is_refused(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.archive("m", 3)
    with _reader(urls) as client:
        assert client.load("m@3") == _schema(3)  # archived, as signed: loads
    _set_status(reg, 3, "ready")
    with _reader(urls) as client:
        with pytest.raises(IntegrityError, match=r"is ready in the database.*says archived"):
            client.load("m@3")
        with pytest.raises(IntegrityError, match="says archived"):
            client.load("m")  # latest is 3 again, by the row
    reg.restore("m", 3)  # the owner's signed restore: row and record agree again
    with _reader(urls) as client:
        assert client.load("m@3") == _schema(3)


def _newest_status(reg: ModelRegistry, version: int) -> Any:
    return next(e for e in reg.history("m").items if e.version == version and e.action == "archive")


@pytest.mark.parametrize(
    ("signer", "registry", "message"),
    [
        (ATTACKER, "own", r"signed only by key\(s\) 'ed25519:.*which the trust policy"),
        (SIGNER, "f" * 32, r"signed for another registry \('f{32}'\)"),
    ],
    ids=["forged", "foreign"],
)
def test_a_forged_or_foreign_status_record_is_refused(
    urls: tuple[str, str, dict], reg: ModelRegistry, signer: Any, registry: str, message: str
) -> None:
    reg.archive("m", 2)
    event = _newest_status(reg, 2)
    mv = reg.get("m@2")
    forged = event_record(
        signer,
        registry=reg.registry_id if registry == "own" else registry,
        name="m",
        action="archive",
        seq=event.seq,
        at=event.at.isoformat(),
        version=2,
        status="ready",
        digest=version_digest(mv),
    )
    e = sq.events.c
    _sql(
        reg,
        sq.events.update()
        .where(e.seq == event.seq)
        .values(detail=json.dumps({**event.detail, "signed": forged})),
    )
    _set_status(reg, 2, "ready")
    with _reader(urls) as client, pytest.raises(IntegrityError, match=message):
        client.load("m@2")


def test_an_unsigned_status_change_loads_unless_strict(urls: tuple[str, str, dict]) -> None:
    with _open(urls, signer=SIGNER) as signed:
        signed.register("m", _schema(1))
    with _open(urls) as plain:
        plain.archive("m", 1)  # by a registry without a signer
    with _reader(urls) as lenient:
        assert lenient.load("m@1") == _schema(1)
    with (
        _reader(urls, strict=True) as strict,
        pytest.raises(IntegrityError, match=r"status without a signed record .* strict"),
    ):
        strict.load("m@1")


# ----------------------------------------------- 3. rollback from the signed chain


@pytest.fixture
def moved(reg: ModelRegistry) -> ModelRegistry:
    for version in (1, 2, 3):
        reg.set_alias("m", "production", version)
    return reg


def _alias_event(reg: ModelRegistry, version: int) -> int:
    return next(e.seq for e in reg.history("m", alias="production").items if e.version == version)


def test_a_rollback_refuses_a_log_with_an_event_removed(moved: ModelRegistry) -> None:
    e = sq.events.c
    _sql(moved, sq.events.delete().where(e.seq == _alias_event(moved, 2)))
    # From the rows alone the stack is [1, 3]: the rollback would land on 1, not 2.
    with pytest.raises(IntegrityError) as info:
        moved.rollback("m", "production")
    assert "replaced version 2 by its signed record" in str(info.value)
    assert "left the alias at 1" in str(info.value)
    assert moved.aliases("m") == {"production": 3}


def test_a_rollback_refuses_an_event_edited_to_another_version(moved: ModelRegistry) -> None:
    e = sq.events.c
    _sql(moved, sq.events.update().where(e.seq == _alias_event(moved, 2)).values(version=1))
    with pytest.raises(IntegrityError, match=r"differs from its signed record \(version\)"):
        moved.rollback("m", "production")
    assert moved.aliases("m") == {"production": 3}


def test_rollbacks_follow_the_signed_chain_through_repeats_and_pruning(
    moved: ModelRegistry,
) -> None:
    moved.set_alias("m", "production", 1)  # stack 1, 2, 3, 1
    assert moved.rollback("m", "production").version == 3
    assert moved.rollback("m", "production").version == 2
    moved.set_alias("m", "production", 3)  # stack 1, 2, 3
    moved.prune_history("m", keep=1)
    assert moved.rollback("m", "production").version == 2
    assert moved.rollback("m", "production").version == 1


def test_a_pruned_stack_whose_top_is_not_its_record_is_refused(moved: ModelRegistry) -> None:
    moved.prune_history("m", keep=1)
    prune = moved.history("m", alias="production", page_size=1).items[0]
    assert prune.action == "prune_history"
    e = sq.events.c
    edited = {**prune.detail, "stack": [1, 2]}  # the top should be 3
    _sql(moved, sq.events.update().where(e.seq == prune.seq).values(detail=json.dumps(edited)))
    with pytest.raises(IntegrityError, match=r"saves a stack whose top is not its signed"):
        moved.rollback("m", "production")


# ------------------------------------------------ 4. latest hidden, seen= notices


def test_seen_refuses_a_latest_hidden_behind_the_registry(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    seen: dict[str, int] = {}
    with _reader(urls) as client:
        assert client.load("m", seen=seen) == _schema(3)
    assert seen == {"m@latest": 3}
    for hide in ("archived", "deleted"):
        _set_status(reg, 3, hide)
        with _reader(urls) as client:
            with pytest.raises(IntegrityError) as info:
                client.load("m@latest", seen=seen)
            assert "m@latest is version 2, but this client already saw version 3" in str(info.value)
            assert f"{hide} without a signed record" in str(info.value)
        _set_status(reg, 3, "ready")
    v, t, m = sq.versions.c, sq.tags.c, sq.metrics.c
    _sql(
        reg,
        sq.tags.delete().where(t.version == 3),
        sq.metrics.delete().where(m.version == 3),
        sq.versions.delete().where(v.version == 3),
    )
    with (
        _reader(urls) as client,
        pytest.raises(IntegrityError, match=r"saw version 3, which is missing"),
    ):
        client.load("m", seen=seen)
    assert seen == {"m@latest": 3}


def test_seen_accepts_a_newest_version_archived_by_a_signed_record(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    seen = {"m@latest": 3}
    reg.archive("m", 3)
    with _reader(urls) as client:
        assert client.load("m", seen=seen) == _schema(2)
        assert seen == {"m@latest": 2}
        reg.register("m", _schema(4))
        assert client.verify("m", seen=seen).version == 4
    assert seen == {"m@latest": 4}


# ------------------------------------------------ 8. records expire with max_age=


def test_max_age_refuses_a_frozen_alias_until_it_is_re_signed(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.set_alias("m", "production", 2)
    with _reader(urls, max_age=3600) as client:
        assert client.load("m@production") == _schema(2)
    newest = reg.history("m", alias="production", page_size=1).items[0]
    old = event_record(  # the same move, as if signed long ago: a database frozen since
        SIGNER,
        registry=reg.registry_id,
        name="m",
        action="set_alias",
        seq=newest.seq,
        at="2020-01-01T00:00:00+00:00",
        alias="production",
        version=2,
        previous_version=None,
        digest=version_digest(reg.get("m@2")),
    )
    e = sq.events.c
    _sql(
        reg,
        sq.events.update()
        .where(e.seq == newest.seq)
        .values(detail=json.dumps({**newest.detail, "signed": old})),
    )
    with _reader(urls) as lenient:  # without max_age: a frozen state passes
        assert lenient.load("m@production") == _schema(2)
    with (
        _reader(urls, max_age=timedelta(hours=1)) as client,
        pytest.raises(IntegrityError, match=r"\d+ s old, past the trust policy's max_age of 3600"),
    ):
        client.load("m@production")
    reg.set_alias("m", "production", 2, expected_version=2)  # the writer re-signs in time
    with _reader(urls, max_age=3600) as client:
        assert client.load("m@production") == _schema(2)
    assert reg.aliases("m") == {"production": 2}


def test_max_age_is_checked_and_round_trips() -> None:
    policy = _trust(max_age=timedelta(days=1))
    assert policy.max_age == 86400.0
    assert TrustPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))).max_age == 86400.0
    assert "max_age=86400" in repr(policy)
    for bad in (0, -1, float("nan"), True, "1d"):
        with pytest.raises(ConfigError, match=r"'max_age' parameter of TrustPolicy"):
            _trust(max_age=bad)
