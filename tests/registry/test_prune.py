"""ModelRegistry.prune_history: bad bounds refused, read-only refused, hostile logs named."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prodml.errors import ConfigError, NotFoundError, RegistryError
from prodml.registry import ModelRegistry
from prodml.registry.backends.memory import MemoryMetadataStore
from prodml.registry.backends.metadata import EventDraft, MetadataStore
from prodml.schema import Schema


@pytest.fixture
def reg() -> Any:
    r = ModelRegistry("memory://", f"memory://prune-{uuid.uuid4().hex}", actor="ann")
    r.register("m", Schema([]))
    yield r
    r.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "prune_history needs 'before'"),
        ({"keep": -1}, "The 'keep' parameter of ModelRegistry.prune_history must be an int >= 0"),
        ({"keep": True}, "The 'keep' parameter"),
        ({"keep": 1.0}, "The 'keep' parameter"),
        ({"before": datetime(2024, 1, 1)}, "must be a timezone-aware datetime"),
        ({"before": timedelta(days=-1)}, "an age \\(a timedelta >= 0\\)"),
        ({"before": "2024-01-01"}, "The 'before' parameter"),
    ],
)
def test_bad_bounds_are_refused_and_nothing_is_removed(
    reg: ModelRegistry, kwargs: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        reg.prune_history("m", **kwargs)
    assert [e.action for e in reg.history("m")] == ["register"]


def test_a_read_only_registry_refuses_to_prune(tmp_path: Path) -> None:
    writer = ModelRegistry.local(tmp_path)
    writer.register("m", Schema([]))
    writer.close()
    ro = ModelRegistry.local(tmp_path, read_only=True)
    with pytest.raises(RegistryError, match="read-only"):
        ro.prune_history("m", keep=0)
    assert [e.action for e in ro.history("m")] == ["register"]
    ro.close()


def test_an_altered_prune_event_is_named_when_rollback_replays_it(reg: ModelRegistry) -> None:
    store = reg.metadata
    assert isinstance(store, MemoryMetadataStore)
    reg.set_alias("m", "prod", 1)
    bad = EventDraft(
        name="m", action="prune_history", actor="x", alias="prod", detail={"stack": ["1"]}
    )
    store._append(bad)  # as if someone edited the log
    seq = reg.history("m").items[0].seq
    with pytest.raises(RegistryError, match=f"audit event {seq} of model 'm' \\(prune_history\\)"):
        reg.rollback("m", "prod")


@pytest.mark.parametrize("pop", ["x", 0, -2, 1.5, None, [1], True])
def test_an_altered_rollback_count_is_named_when_replayed(reg: ModelRegistry, pop: object) -> None:
    store = reg.metadata
    assert isinstance(store, MemoryMetadataStore)
    reg.register("m", Schema([]))
    reg.set_alias("m", "prod", 1)
    reg.set_alias("m", "prod", 2)
    bad = EventDraft(
        name="m", action="rollback", actor="x", alias="prod", version=1, detail={"pop": pop}
    )
    store._append(bad)  # as if someone edited the log: was a raw ValueError or TypeError
    seq = reg.history("m").items[0].seq
    with pytest.raises(RegistryError, match=f"audit event {seq} of model 'm' \\(rollback\\)"):
        reg.rollback("m", "prod")
    with pytest.raises(RegistryError, match="count of versions popped"):
        reg.prune_history("m", keep=0)


def test_a_store_without_the_primitive_refuses_clearly(reg: ModelRegistry) -> None:
    class Older(MemoryMetadataStore):
        _prune_events = MetadataStore._prune_events  # a store written before pruning

    store = Older(f"memory://older-{uuid.uuid4().hex}")
    r = ModelRegistry(store, f"memory://older-{uuid.uuid4().hex}")
    r.register("m", Schema([]))
    with pytest.raises(RegistryError, match="Older cannot prune its audit log"):
        r.prune_history("m", keep=0)
    assert [e.action for e in r.history("m")] == ["register"]
    r.close()


def test_a_dry_run_counts_what_would_go_and_changes_nothing(tmp_path: Path) -> None:
    reg = ModelRegistry.local(tmp_path / "reg")
    for _ in range(3):
        reg.set_alias("churn", "production", reg.register("churn", Schema([])).version)
    before = [(e.seq, e.action) for e in reg.history("churn").items]
    assert reg.prune_history("churn", keep=2, dry_run=True) == 4
    assert [(e.seq, e.action) for e in reg.history("churn").items] == before
    reg.close()
    readonly = ModelRegistry.local(tmp_path / "reg", read_only=True)
    assert readonly.prune_history("churn", keep=2, dry_run=True) == 4  # reading only
    with pytest.raises(RegistryError, match="read-only"):
        readonly.prune_history("churn", keep=2)
    with pytest.raises(NotFoundError, match="'nope' does not exist"):
        readonly.prune_history("nope", keep=2, dry_run=True)
    readonly.close()
    reg = ModelRegistry.local(tmp_path / "reg")
    assert reg.prune_history("churn", keep=2) == 4  # what the dry run said
    reg.close()


def test_the_cli_prunes_counts_and_refuses_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prodml.cli import main

    reg = ModelRegistry.local(tmp_path / "reg")
    for _ in range(3):
        reg.set_alias("churn", "production", reg.register("churn", Schema([])).version)
    reg.close()
    path = str(tmp_path / "reg")
    assert main(["registry", "prune-history", path, "churn", "--keep", "2", "--dry-run"]) == 0
    assert capsys.readouterr().out == "churn: would remove 4 audit event(s)\n"
    assert main(["registry", "prune-history", path, "churn", "--keep", "2"]) == 0
    assert capsys.readouterr().out == "churn: removed 4 audit event(s)\n"
    assert main(["registry", "prune-history", path, "churn", "--older-than", "365d"]) == 0
    assert capsys.readouterr().out == "churn: removed 0 audit event(s)\n"  # nothing is a year old
    reg = ModelRegistry.local(path)
    events = [(e.action, e.alias) for e in reg.history("churn").items]
    assert events[:2] == [("prune_history", None), ("prune_history", "production")]
    assert reg.rollback("churn", "production").version == 2  # the stack survived
    reg.close()
    for argv, said in (
        (["churn"], "give --older-than AGE, --keep N, or both"),
        (["churn", "--older-than", "1x"], "expected an age such as 365d"),
        (["churn", "--older-than", "nan"], "expected an age such as 365d"),
        (["churn", "--older-than=-1d"], "expected an age such as 365d"),
        (["nope", "--keep", "1"], "model 'nope' does not exist"),
        ([], "is a registry folder: give the model too"),
    ):
        assert main(["registry", "prune-history", path, *argv]) == 2
        assert said in capsys.readouterr().err


@pytest.mark.parametrize("db", ["memory", "sqlite"])
def test_a_prune_whose_new_event_fails_leaves_the_log_as_it_was(db: str, tmp_path: Path) -> None:
    """Every store logs a prune's events before it deletes: a failing one changes nothing.

    The memory store used to delete first, so an event that failed to seal lost the
    pruned events without their ``prune_history`` record.
    """
    url = "memory://" if db == "memory" else f"sqlite:///{tmp_path}/r.db"
    reg = ModelRegistry(url, f"memory://prune-{uuid.uuid4().hex}", actor="ann")
    for _ in range(3):
        reg.register("m", Schema([]))
    before = [e.seq for e in reg.metadata.history("m")]

    def failing(event: EventDraft, seq: int) -> dict[str, Any]:
        raise RegistryError("the signer is down")

    def plan(events: list[Any]) -> tuple[list[int], list[EventDraft]]:
        drafts = [
            EventDraft(name="m", action="prune_history", actor="ann"),
            EventDraft(name="m", action="prune_history", actor="ann", seal=failing),
        ]
        return [e.seq for e in events[:2]], drafts

    with pytest.raises(RegistryError, match="the signer is down"):
        reg.metadata._prune_events("m", plan)
    assert [e.seq for e in reg.metadata.history("m")] == before
    reg.prune_history("m", keep=1)  # the next prune numbers its event after every one
    seqs = [e.seq for e in reg.metadata.history("m")]
    assert seqs == sorted(seqs)
    assert seqs[-1] > before[-1]
    reg.close()
