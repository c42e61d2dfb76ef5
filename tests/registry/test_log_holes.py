"""Readers of the whole audit log refuse one with holes, and say where they are and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prodml.errors import IntegrityError
from prodml.registry import ModelRegistry, UnreadableRecordWarning
from prodml.registry.backends import _sqlschema as sq
from prodml.schema import Column, Schema

SECRET = "c0nfidential-event"  # noqa: S105 - a marker never to be shown


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: Any, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        reg = ModelRegistry.local(tmp_path / "reg")
    else:
        url = request.getfixturevalue("postgres_url")
        reg = ModelRegistry(url, f"file://{tmp_path}/artifacts")
    for _ in range(3):
        reg.register("m", Schema([Column("x", "float")]))
    reg.set_alias("m", "production", 1)  # seq 4
    reg.set_alias("m", "production", 2)  # seq 5
    reg.set_alias("m", "production", 3)  # seq 6
    yield reg
    reg.close()


def _damage(reg: ModelRegistry, **values: object) -> None:
    """Give audit events of ``m`` hostile columns (``seq_5={"at": ...}``)."""
    e = sq.events.c
    with reg.metadata._engine.begin() as conn:  # type: ignore[attr-defined]
        for key, row in values.items():
            seq = int(key.removeprefix("seq_"))
            conn.execute(sq.events.update().where(e.name == "m", e.seq == seq).values(**row))


def test_history_rollback_and_prune_name_the_event_and_the_fix(registry: Any) -> None:
    _damage(registry, seq_5={"at": SECRET})
    reads = {
        "history": lambda: registry.metadata.history("m"),
        "rollback of m@production": lambda: registry.rollback("m", "production"),
        "prune_history": lambda: registry.prune_history("m", keep=1),
    }
    for what, read in reads.items():
        with pytest.raises(IntegrityError) as info:
            read()
        message = str(info.value)
        assert message.startswith(f"{what} reads the whole audit log of m")
        assert "1 unreadable event, seq 5 (version 2)" in message
        assert "audit event 5 of m is not a valid audit event" in message
        assert "backup" in message
        assert "prodml_events" in message
        assert "history_page()" in message
        assert SECRET not in message
        assert (info.value.model_name, info.value.version) == ("m", 2)
    assert registry.get("m@production").version == 3  # nothing moved
    with pytest.warns(UnreadableRecordWarning, match="audit event 5"):
        page = registry.history("m")
    assert [p.seq for p in page.problems] == [5]


def test_many_holes_are_counted_and_the_first_ten_named(registry: Any) -> None:
    for _ in range(12):
        registry.set_alias("m", "staging", 1)
    seqs = list(range(7, 19))
    _damage(registry, **{f"seq_{s}": {"detail": "{" + SECRET} for s in seqs})
    with pytest.raises(IntegrityError) as info:
        registry.metadata.history("m")
    message = str(info.value)
    assert "12 unreadable events, seq 7 (version 1), seq 8 (version 1)" in message
    assert "seq 16 (version 1) and 2 more" in message
    assert "seq 17" not in message
    assert "Restore them" in message
    assert SECRET not in message
