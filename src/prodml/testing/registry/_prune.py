# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""Conformance of audit-log pruning (``ModelRegistry.prune_history``) on a metadata store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prodml.errors import ConflictError, NotFoundError
from prodml.registry import ModelRegistry
from prodml.testing.registry._common import _model, pytest

FUTURE = timedelta(0)  # an age of 0: everything logged before the call is old enough


class PruneConformance:
    """Pruning removes what it is asked to, logs itself, and keeps rollback working.

    Mixed into :class:`~prodml.testing.registry.MetadataStoreConformance`; uses its
    ``registry`` fixture.
    """

    def test_prune_keep_removes_the_oldest_and_logs_one_event_per_alias_and_model(
        self, registry: ModelRegistry
    ) -> None:
        for _ in range(3):
            registry.set_alias("m", "prod", registry.register("m", _model()).version)
        before = list(registry.history("m"))  # newest first: 6 events
        assert registry.prune_history("m", before=FUTURE, keep=2) == 4
        after = list(registry.history("m"))
        assert [(e.action, e.alias) for e in after] == [
            ("prune_history", None),
            ("prune_history", "prod"),
            ("set_alias", "prod"),
            ("register", None),
        ]
        assert [e.seq for e in after[2:]] == [e.seq for e in before[:2]]
        summary, checkpoint = after[0], after[1]
        assert summary.actor == "alice"
        assert summary.detail["removed"] == 4
        assert summary.detail["keep"] == 2
        assert summary.detail["through_seq"] == before[2].seq
        assert checkpoint.detail == {"stack": [1, 2, 3]}
        assert summary.seq > checkpoint.seq > before[0].seq

    def test_rollback_after_pruning_everything_walks_back_as_before(
        self, registry: ModelRegistry
    ) -> None:
        for _ in range(4):
            registry.register("m", _model())
        for v in (1, 2, 3, 4):
            registry.set_alias("m", "prod", v)
        registry.rollback("m", "prod")  # stack 1 2 3
        registry.set_alias("m", "staging", 2)
        registry.delete_alias("m", "staging")
        stacks = {a: registry.metadata.alias_stack("m", a) for a in ("prod", "staging")}
        assert stacks == {"prod": [1, 2, 3], "staging": []}
        removed = registry.prune_history("m", keep=0, before=FUTURE)
        assert removed == 11  # 4 registers, 4 sets, a rollback, a set and a delete
        assert [e.action for e in registry.history("m")] == ["prune_history"] * 3
        assert {a: registry.metadata.alias_stack("m", a) for a in stacks} == stacks
        assert registry.rollback("m", "prod").version == 2
        registry.set_alias("m", "prod", 4)  # events after the prune replay on top of it
        assert registry.rollback("m", "prod").version == 2
        assert registry.rollback("m", "prod").version == 1
        with pytest.raises(ConflictError):
            registry.rollback("m", "prod")

    def test_prune_before_a_time_keeps_what_is_newer(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        newest, middle, oldest = registry.history("m")
        assert oldest.at < middle.at < newest.at
        assert registry.prune_history("m", before=middle.at) == 1
        assert [e.seq for e in registry.history("m")][1:] == [newest.seq, middle.seq]
        assert (
            registry.history("m").items[0].detail["before"]
            == middle.at.astimezone(timezone.utc).isoformat()
        )

    def test_prune_that_removes_nothing_logs_nothing(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        old = datetime(2000, 1, 1, tzinfo=timezone.utc)
        assert registry.prune_history("m", before=old) == 0
        assert registry.prune_history("m", keep=5) == 0  # more than there are
        assert registry.prune_history("m", keep=3, before=FUTURE) == 0
        assert [e.action for e in registry.history("m")] == ["register"] * 3

    def test_prune_touches_one_model_only_and_refuses_an_unknown_one(
        self, registry: ModelRegistry
    ) -> None:
        registry.register("a", _model())
        registry.register("b", _model())
        assert registry.prune_history("a", keep=0, before=FUTURE) == 1
        assert [e.action for e in registry.history("b")] == ["register"]
        with pytest.raises(NotFoundError):
            registry.prune_history("unknown", keep=0)
