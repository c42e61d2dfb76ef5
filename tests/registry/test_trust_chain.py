"""The links between signed records (stop 42): status records chained to the model's
previous status change, a pruned alias stack signed whole, ``max_age`` on a load's status
record, and the model's highest version counted by its newest signed record.

Each test edits the database behind the registry, as a writer of the database without
the signing key would, and runs on SQLite + local files and PostgreSQL + S3.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("cryptography", reason="needs the 'sign' extra (cryptography)")

from prodml.errors import IntegrityError, NotFoundError
from prodml.fingerprint import canonical_json
from prodml.registry import ModelRegistry
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.entities import AuditEvent
from prodml.registry.signing import (
    EVENT_PAYLOAD_TYPE,
    Ed25519Signer,
    TrustPolicy,
    pae,
    version_digest,
)
from prodml.schema import Column, Schema

SIGNER = Ed25519Signer.generate()


def _schema(n: int) -> Schema:
    return Schema([Column(f"x{i}", "float") for i in range(n)])


def _open(urls: tuple[str, str, dict], **kw: Any) -> ModelRegistry:
    db, art, opts = urls
    return ModelRegistry(db, art, storage_options=opts, **kw)


def _trust(**kw: Any) -> TrustPolicy:
    return TrustPolicy([SIGNER.verifier()], **kw)


def _reader(urls: tuple[str, str, dict], **kw: Any) -> ModelRegistry:
    """A serving client: a fresh store object, trust only."""
    return _open(urls, trust=_trust(**kw))


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


def _status(reg: ModelRegistry, version: int, status: str) -> Any:
    v = sq.versions.c
    return sq.versions.update().where(v.version == version).values(status=status)


def _newest(reg: ModelRegistry, action: str, version: int) -> AuditEvent:
    return next(e for e in reg.history("m").items if e.action == action and e.version == version)


def _payload(event: AuditEvent, key: str = "signed") -> dict[str, Any]:
    record: dict[str, Any] = json.loads(base64.b64decode(event.detail[key]["payload"]))
    return record


def _signed(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` signed by the registry's key, as an event's ``detail["signed"]``."""
    body = canonical_json(payload).encode()
    sig = SIGNER.sign(pae(EVENT_PAYLOAD_TYPE, body))
    return {
        "payload": base64.b64encode(body).decode(),
        "signatures": [[SIGNER.key_id, base64.b64encode(sig).decode()]],
    }


def _set_detail(reg: ModelRegistry, seq: int, detail: dict[str, Any]) -> None:
    e = sq.events.c
    _sql(reg, sq.events.update().where(e.seq == seq).values(detail=json.dumps(detail)))


# ---------------------------------------------------- 1. status records are chained


def test_a_status_change_deleted_with_its_record_is_refused_once_a_later_one_names_it(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.archive("m", 1)
    archived = _newest(reg, "archive", 1)
    reg.archive("m", 2)
    # The attacker puts version 1 back: the archive and its signed record both go.
    e = sq.events.c
    _sql(reg, _status(reg, 1, "ready"), sq.events.delete().where(e.seq == archived.seq))
    with _reader(urls) as client, pytest.raises(IntegrityError) as info:
        client.load("m@1")
    message = str(info.value)
    assert f"follows the status change of audit event {archived.seq}" in message
    assert "missing from the log" in message
    assert "refusing to use version 1" in message
    # Version 3's status is read past the gap too (the deleted change could be its own);
    # a version registered after the gap loads.
    with _reader(urls) as client:
        with pytest.raises(IntegrityError, match=r"refusing to use version 3"):
            client.load("m@3")
        reg.register("m", _schema(4))
        assert client.load("m@4") == _schema(4)


def test_the_status_chain_holds_through_restores_and_concurrent_versions(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.archive("m", 1)
    reg.archive("m", 2)
    reg.restore("m", 1)
    reg.delete("m", 2)
    assert _payload(_newest(reg, "archive", 1))["prior"] is None  # the model's first
    assert _payload(_newest(reg, "archive", 2))["prior"] == _newest(reg, "archive", 1).seq
    restored = _newest(reg, "restore", 1)
    assert _payload(restored)["prior"] == _newest(reg, "archive", 2).seq
    assert _payload(_newest(reg, "delete", 2))["prior"] == restored.seq
    with _reader(urls, strict=True) as client:
        assert client.load("m@1") == _schema(1)
        assert client.load("m@3") == _schema(3)


def test_a_chained_status_record_swapped_for_another_signed_one_is_refused(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.archive("m", 1)
    reg.archive("m", 2)
    reg.archive("m", 3)
    middle = _newest(reg, "archive", 2)
    assert (
        _payload(_newest(reg, "archive", 3))["prior_digest"]
        == hashlib.sha256(middle.detail["signed"]["payload"].encode()).hexdigest()
    )
    # A record with a valid signature (the key signed it, at another time), but not the
    # one the next record was chained to: only the newest record's signature is checked.
    _resign(reg, middle, at="2020-01-01T00:00:00+00:00")
    with _reader(urls) as client, pytest.raises(IntegrityError) as info:
        client.load("m@1")
    assert f"audit event {middle.seq} of m differs from the record the next status" in str(
        info.value
    )


def test_a_status_record_older_prodml_wrote_loads_without_its_link(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.archive("m", 1)
    reg.archive("m", 2)
    event = _newest(reg, "archive", 2)
    mv = reg.get("m@2")
    v1 = {  # prodml-event-v1: the fields before the chain, signed by the same key
        "format": "prodml-event-v1",
        "registry": reg.registry_id,
        "model": "m",
        "action": "archive",
        "alias": None,
        "version": 2,
        "previous_version": None,
        "status": "archived",
        "digest": version_digest(mv),
        "seq": event.seq,
        "at": event.at.isoformat(),
    }
    _set_detail(reg, event.seq, {**event.detail, "signed": _signed(v1)})
    with _reader(urls) as client:
        assert client.get("m@2").status == "archived"
        assert client.load("m@2") == _schema(2)
        assert client.load("m@1") == _schema(1)  # no link to follow: the documented limit


# ------------------------------------------------ 2. a pruned stack is signed whole


@pytest.fixture
def pruned(reg: ModelRegistry) -> AuditEvent:
    for version in (1, 2, 3):
        reg.set_alias("m", "production", version)
    reg.prune_history("m", keep=1)
    prune = reg.history("m", alias="production", page_size=1).items[0]
    assert prune.action == "prune_history"
    assert prune.detail["stack"] == [1, 2, 3]
    return prune


def test_a_pruned_stack_edited_below_its_top_is_refused(
    reg: ModelRegistry, pruned: AuditEvent
) -> None:
    # The top stays 3 (what the carried alias record names); below it 2 becomes 1.
    _set_detail(reg, pruned.seq, {**pruned.detail, "stack": [2, 1, 3]})
    with pytest.raises(IntegrityError, match=r"saves a stack other than the one its record"):
        reg.rollback("m", "production")
    assert reg.aliases("m") == {"production": 3}


def test_a_pruned_stack_record_cannot_be_moved_or_stripped(
    urls: tuple[str, str, dict], reg: ModelRegistry, pruned: AuditEvent
) -> None:
    own = _payload(pruned, "stack_signed")
    assert own["action"] == "prune_history"
    assert own["seq"] == pruned.seq
    stripped = {k: v for k, v in pruned.detail.items() if k != "stack_signed"}
    _set_detail(reg, pruned.seq, stripped)
    assert reg.rollback("m", "production").version == 2  # lenient: as before stop 42
    reg.set_alias("m", "production", 3)
    with _open(urls, signer=SIGNER, trust=_trust(strict=True)) as strict:
        with pytest.raises(IntegrityError, match=r"without a signed record of it"):
            strict.rollback("m", "production")
        assert strict.aliases("m") == {"production": 3}
    # Another event's stack record (a valid signature, another seq) is refused too.
    _set_detail(reg, pruned.seq, {**pruned.detail, "stack_signed": {"payload": "x"}})
    with pytest.raises(IntegrityError, match=r"malformed signed record"):
        reg.rollback("m", "production")


def test_rollback_after_a_signed_prune_lands_where_the_stack_says(
    reg: ModelRegistry, pruned: AuditEvent
) -> None:
    assert reg.rollback("m", "production").version == 2
    assert reg.rollback("m", "production").version == 1


# ---------------------------------------------- 3. max_age on a load's status record


def _resign(reg: ModelRegistry, event: AuditEvent, **changes: Any) -> None:
    """Replace ``event``'s record by the same one with ``changes``, signed by the key."""
    signed = _signed({**_payload(event), **changes})
    _set_detail(reg, event.seq, {**event.detail, "signed": signed})


def _age_status(reg: ModelRegistry, event: AuditEvent) -> None:
    """The same status record, as if signed long ago: a database frozen since."""
    _resign(reg, event, at="2020-01-01T00:00:00+00:00")


def test_max_age_refuses_a_load_by_number_whose_status_record_is_old(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.archive("m", 1)
    reg.restore("m", 1)
    _age_status(reg, _newest(reg, "restore", 1))
    with _reader(urls) as lenient:  # without max_age: records do not expire
        assert lenient.load("m@1") == _schema(1)
    with _reader(urls, max_age=3600) as client:
        with pytest.raises(IntegrityError) as info:
            client.load("m@1")
        assert "newest signed status record" in str(info.value)
        assert "past the trust policy's max_age of 3600 s" in str(info.value)
        assert "restore() or archive() again" in str(info.value)
        assert client.load("m@2") == _schema(2)  # never changed status: no record to age
        assert client.load("m") == _schema(3)
    reg.restore("m", 1)  # the writer re-signs in time
    with _reader(urls, max_age=3600) as client:
        assert client.load("m@1") == _schema(1)
        assert client.get("m@1").status == "ready"


def test_max_age_refuses_latest_whose_status_record_is_old(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.archive("m", 3)
    reg.restore("m", 3)
    _age_status(reg, _newest(reg, "restore", 3))
    with _reader(urls, max_age=3600) as client, pytest.raises(IntegrityError, match="max_age"):
        client.load("m")


# ----------------------------------- 4. the highest version counted by signed records


def _hide(reg: ModelRegistry, version: int) -> None:
    v, t, m, e = sq.versions.c, sq.tags.c, sq.metrics.c, sq.events.c
    _sql(
        reg,
        sq.tags.delete().where(t.version == version),
        sq.metrics.delete().where(m.version == version),
        sq.versions.delete().where(v.version == version),
        sq.events.delete().where(sa.and_(e.version == version, e.action == "register")),
    )


def test_latest_refuses_a_newest_version_hidden_before_this_client_saw_it(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.set_alias("m", "production", 1)  # its record counts 3 versions
    _hide(reg, 3)
    with _reader(urls) as client, pytest.raises(IntegrityError) as info:
        client.load("m")  # a first load: no seen= to remember version 3
    message = str(info.value)
    assert "m@latest is version 2, but the model's newest signed record" in message
    assert "counts version 3, which is missing" in message


def test_latest_accepts_a_newest_version_that_left_by_a_signed_record(
    urls: tuple[str, str, dict], reg: ModelRegistry
) -> None:
    reg.set_alias("m", "production", 1)
    reg.archive("m", 3)
    assert _payload(reg.history("m", alias="production").items[0])["high"] == 3
    assert _payload(_newest(reg, "archive", 3))["high"] == 3
    with _reader(urls) as client:
        assert client.load("m") == _schema(2)
    _sql(reg, _status(reg, 3, "deleted"))  # behind the registry: no signed delete
    with _reader(urls) as client, pytest.raises(IntegrityError, match=r"archived.*says|is deleted"):
        client.load("m")


# ------------------------------------------- the chain as a property (memory store)

_OPS = st.lists(
    st.tuples(st.sampled_from(["archive", "restore", "delete"]), st.integers(1, 3)),
    min_size=2,
    max_size=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_OPS, data=st.data())
def test_any_status_change_deleted_under_a_later_one_is_refused(
    ops: list[tuple[str, int]], data: st.DataObject
) -> None:
    reg = ModelRegistry("memory://", "memory://", signer=SIGNER, trust=_trust(strict=True))
    for n in (1, 2, 3):
        reg.register("m", _schema(n))
    for action, version in ops:
        with contextlib.suppress(NotFoundError):  # a deleted version stays deleted
            getattr(reg, action)("m", version)
    log: list[AuditEvent] = reg.metadata._log["m"]  # type: ignore[attr-defined]
    changes = [e for e in log if e.action in ("archive", "restore", "delete")]
    for mv in reg.metadata.all_versions(include_deleted=False):
        assert reg.load(f"m@{mv.version}") == _schema(mv.version)  # untouched: all load
    # The attacker deletes a version's newest status change, under a later one of the
    # model, and puts the version's row back to what it was before that change.
    gone = data.draw(
        st.sampled_from(
            [
                e
                for i, e in enumerate(changes[:-1])
                if not any(c.version == e.version for c in changes[i + 1 :])
            ]
            or [None]
        )
    )
    if gone is None:
        return
    before = [c for c in changes if c.version == gone.version and c.seq < gone.seq]
    status = {"archive": "archived", "restore": "ready", "delete": "deleted"}
    was = status[before[-1].action] if before else "ready"
    versions = reg.metadata._versions["m"]  # type: ignore[attr-defined]
    versions[gone.version] = versions[gone.version].model_copy(update={"status": was})
    log.remove(gone)
    if was == "deleted":
        return  # not loadable either way
    with pytest.raises(IntegrityError, match=r"missing from the log"):
        reg.load(f"m@{gone.version}")
