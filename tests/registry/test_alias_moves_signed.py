"""``promote`` and ``rollback`` under a trust policy check the alias's newest signed record.

They decide from the alias row (the version the checks compare against, the stack to
walk back from), so a row moved behind the registry's back is refused before anything
moves, as ``load`` refuses it. Run on SQLite + local files and PostgreSQL + S3.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

pytest.importorskip("cryptography", reason="needs the 'sign' extra (cryptography)")

from prodml.errors import IntegrityError
from prodml.registry import ModelRegistry
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.signing import Ed25519Signer, TrustPolicy, UnsignedAliasWarning
from prodml.schema import Column, Schema

SIGNER = Ed25519Signer.generate()


def _schema(n: int) -> Schema:
    return Schema([Column(f"x{i}", "float") for i in range(n)])


def _open(urls: tuple[str, str, dict], **kw: Any) -> ModelRegistry:
    db, art, opts = urls
    return ModelRegistry(db, art, storage_options=opts, **kw)


@pytest.fixture
def reg(urls: tuple[str, str, dict]) -> Iterator[ModelRegistry]:
    registry = _open(urls, signer=SIGNER, trust=TrustPolicy([SIGNER.verifier()]))
    for n in (1, 2, 3):
        registry.register("m", _schema(n))
    for version in (1, 2, 3):
        registry.set_alias("m", "production", version)
    yield registry
    registry.close()


def _engine(reg: ModelRegistry) -> sa.Engine:
    return reg.metadata._engine  # type: ignore[attr-defined,no-any-return]


def _point(reg: ModelRegistry, version: int | None) -> None:
    """The attacker: move (or, with None, delete) the alias row behind the registry."""
    a = sq.aliases.c
    where = (a.name == "m") & (a.alias == "production")
    with _engine(reg).begin() as conn:
        if version is None:
            conn.execute(sq.aliases.delete().where(where))
        else:
            conn.execute(sq.aliases.update().where(where).values(version=version))


def _seqs(reg: ModelRegistry) -> list[int]:
    return [e.seq for e in reg.history("m").items]


def test_rollback_refuses_a_row_moved_behind_the_registry(reg: ModelRegistry) -> None:
    _point(reg, 1)  # the newest signed record says 3
    before = _seqs(reg)
    with pytest.raises(IntegrityError) as info:
        reg.rollback("m", "production")
    message = str(info.value)
    assert "m@production points at version 1" in message
    assert "newest signed record" in message
    assert "points at version 3" in message
    assert (info.value.model_name, info.value.version) == ("m", 1)
    assert reg.aliases("m") == {"production": 1}  # nothing moved, nothing logged
    assert _seqs(reg) == before
    _point(reg, 3)  # put back: the rollback walks back to 2, signed
    assert reg.rollback("m", "production").version == 2
    assert reg.history("m", alias="production", page_size=1).items[0].detail["signed"]


def test_promote_refuses_a_row_moved_behind_the_registry(reg: ModelRegistry) -> None:
    _point(reg, 1)
    before = _seqs(reg)
    with pytest.raises(IntegrityError, match="points at version 1, but its newest signed"):
        reg.promote("m", "production", 2)
    assert reg.aliases("m") == {"production": 1}
    assert _seqs(reg) == before
    _point(reg, None)  # deleted behind the registry: the record still says 3
    with pytest.raises(IntegrityError, match="does not exist, but its newest signed record"):
        reg.promote("m", "production", 2)
    assert reg.aliases("m") == {}


def test_a_signed_deletion_and_a_new_alias_are_accepted(reg: ModelRegistry) -> None:
    reg.delete_alias("m", "production")
    assert reg.promote("m", "production", 2).version == 2  # after a signed deletion
    assert reg.promote("m", "staging", 1).version == 1  # an alias with no event yet
    assert reg.aliases("m") == {"production": 2, "staging": 1}


def test_an_alias_moved_without_a_record_under_strict(urls: tuple[str, str, dict]) -> None:
    plain = _open(urls)
    for n in (1, 2):
        plain.register("m", _schema(n))
    plain.set_alias("m", "production", 1)
    plain.set_alias("m", "production", 2)
    plain.close()
    lenient = _open(
        urls, signer=SIGNER, trust=TrustPolicy([SIGNER.verifier()], require_signature=False)
    )
    # A legacy alias: moved, with a warning (the last move could be anyone's).
    with pytest.warns(UnsignedAliasWarning, match=r"m@production was last moved without a signed"):
        assert lenient.rollback("m", "production").version == 1
    assert lenient.history("m", alias="production", page_size=1).items[0].detail["signed"]
    plain = _open(urls)
    plain.set_alias("m", "production", 2)
    plain.close()
    with pytest.warns(UnsignedAliasWarning, match=r"without a signed record \(audit event \d+\)"):
        assert lenient.promote("m", "production", 1).version == 1
    lenient.close()
    plain = _open(urls)
    plain.set_alias("m", "production", 2)
    plain.close()
    strict = _open(
        urls,
        signer=SIGNER,
        trust=TrustPolicy([SIGNER.verifier()], require_signature=False, strict=True),
    )
    for move in (
        lambda: strict.rollback("m", "production"),
        lambda: strict.promote("m", "production", 1),
    ):
        with pytest.raises(IntegrityError, match=r"without a signed record .* strict"):
            move()
    assert strict.aliases("m") == {"production": 2}
    strict.close()


def test_a_move_racing_the_check_is_read_again(
    reg: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed move between reading the row and its record is not taken for tampering."""
    store = reg.metadata
    read = store.history_page
    raced: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not raced:  # another signing writer moves the alias right after our row read
            raced.append(1)
            monkeypatch.setattr(store, "history_page", read)
            other = ModelRegistry(store, reg.artifacts, signer=SIGNER)
            other.set_alias("m", "production", 1)
        return read(*args, **kwargs)

    monkeypatch.setattr(store, "history_page", racing)
    assert reg.promote("m", "production", 2).version == 2
    assert raced == [1]
    actions = [(e.action, e.version) for e in reg.history("m", alias="production").items[:2]]
    assert actions == [("set_alias", 2), ("set_alias", 1)]
