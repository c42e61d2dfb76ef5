# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""The conformance suite of metadata stores."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from prodml.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
)
from prodml.registry import (
    Check,
    MetadataStore,
    MetricThreshold,
    ModelRegistry,
    PromotionError,
    SignatureCompatible,
)
from prodml.registry.backends.metadata import EventDraft, VersionQuery
from prodml.registry.entities import AuditEvent, ModelVersion, Status
from prodml.testing.registry._alias_rows import AliasRowConformance
from prodml.testing.registry._common import _model, _schema, pytest
from prodml.testing.registry._metadata_trust import MetadataTrust
from prodml.testing.registry._prune import PruneConformance
from prodml.testing.registry._records import RecordConformance
from prodml.testing.registry._sealing import SealConformance
from prodml.testing.registry._signed import SignedMetadataTrust


class MetadataStoreConformance(
    MetadataTrust,
    SignedMetadataTrust,
    SealConformance,
    PruneConformance,
    RecordConformance,
    AliasRowConformance,
):
    """Behaviour every :class:`~prodml.registry.MetadataStore` must have.

    Provide a ``metadata_store`` fixture returning a fresh, empty store. The hooks of
    :class:`~prodml.testing.registry._metadata_trust.MetadataTrust` reach into the
    stores prodml ships; override them for your own.
    """

    @pytest.fixture
    def registry(self, metadata_store: MetadataStore) -> Any:
        art = f"memory://conformance-{os.urandom(8).hex()}"
        reg = ModelRegistry(metadata_store, art, actor="alice")
        yield reg
        reg.close()

    def test_numbers_are_consecutive_per_model(self, registry: ModelRegistry) -> None:
        got = [registry.register("a", _model()).version for _ in range(3)]
        got += [registry.register("b", _model()).version]
        assert got == [1, 2, 3, 1]
        assert registry.models() == ["a", "b"]

    def test_fields_round_trip(self, registry: ModelRegistry) -> None:
        sig = _schema("x", "y")
        mv = registry.register(
            "churn",
            _model(),
            tags={"team": "growth", "stage": "dev"},
            description="first",
            signature=sig,
            metrics={"auc": 0.75, "n": 3},
            lineage={"data_fingerprint": "ab" * 32, "parent_version": None, "run": "r1"},
            environment=False,  # extras exactly as given (the environment is another extra)
        )
        got = registry.get("churn@1")
        assert got == mv
        assert got.signature == sig
        assert got.tags == {"team": "growth", "stage": "dev"}
        assert got.metrics == {"auc": 0.75, "n": 3.0}
        assert got.lineage.data_fingerprint == "ab" * 32
        assert got.lineage.model_extra == {"run": "r1"}
        assert got.created_by == "alice"
        assert got.description == "first"
        assert got.created_at.tzinfo is not None

    def test_resolve_number_alias_latest(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        registry.set_alias("m", "prod", 2)
        assert registry.get("m").version == 3
        assert registry.get("m@latest").version == 3
        assert registry.get("m@2").version == 2
        assert registry.get("m", 1).version == 1
        assert registry.get("m", "prod").version == 2
        assert registry.get("m@prod").version == 2
        assert registry.aliases("m") == {"prod": 2}

    @pytest.mark.parametrize("ref", ["nope", "m@9", "m@staging", "nope@prod"])
    def test_missing_is_not_found(self, registry: ModelRegistry, ref: str) -> None:
        registry.register("m", _model())
        with pytest.raises(NotFoundError) as info:
            registry.get(ref)
        err = info.value
        assert isinstance(err, KeyError)
        assert isinstance(err, NotFoundError)
        assert err.model_name == ref.split("@", maxsplit=1)[0]

    def test_search_filters_and_pages(self, registry: ModelRegistry) -> None:
        for i in range(10):
            registry.register(
                "s", _model(), tags={"parity": "even" if i % 2 == 0 else "odd"}, metrics={"i": i}
            )
        registry.register("t", _model(), tags={"parity": "even"})
        even = [mv.version for mv in registry.search("s", tags={"parity": "even"}).items]
        assert even == [9, 7, 5, 3, 1]
        both = registry.search(tags={"parity": "even"}, page_size=100)
        assert [(mv.name, mv.version) for mv in both][-1] == ("t", 1)
        ranged = registry.search("s", min_metrics={"i": 3}, max_metrics={"i": 5})
        assert [mv.version for mv in ranged] == [6, 5, 4]
        assert len(registry.search("s", min_metrics={"missing": 0.0})) == 0
        seen: list[int] = []
        token = None
        while True:
            page = registry.search("s", page_size=3, page_token=token)
            seen += [mv.version for mv in page]
            if page.next_token is None:
                break
            token = page.next_token
        assert seen == list(range(10, 0, -1))

    @pytest.mark.parametrize(("kwargs"), [{"page_size": 0}, {"page_token": "x1"}])
    def test_search_bad_paging(self, registry: ModelRegistry, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ConfigError):
            registry.search("s", **kwargs)

    def test_alias_history_and_actor(
        self, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for _ in range(2):
            registry.register("m", _model())
        registry.set_alias("m", "prod", 1)
        registry._actor = None
        monkeypatch.setenv("PRODML_ACTOR", "bob")
        registry.set_alias("m", "prod", 2)
        registry.delete_alias("m", "prod")
        events = registry.history("m", alias="prod")
        assert [(e.action, e.version, e.previous_version, e.actor) for e in events] == [
            ("delete_alias", None, 2, "bob"),
            ("set_alias", 2, 1, "bob"),
            ("set_alias", 1, None, "alice"),
        ]
        assert [e.seq for e in events] == sorted((e.seq for e in events), reverse=True)
        assert [e.action for e in registry.history("m")][-2:] == ["register", "register"]
        with pytest.raises(NotFoundError):
            registry.get("m@prod")
        with pytest.raises(NotFoundError):
            registry.delete_alias("m", "prod")
        with pytest.raises(NotFoundError):
            registry.history("unknown")

    def test_rollback_walks_back(self, registry: ModelRegistry) -> None:
        for _ in range(4):
            registry.register("m", _model())
        for v in (1, 2, 3, 4):
            registry.set_alias("m", "prod", v)
        registry.set_alias("m", "prod", 4)  # re-setting the same version is not a step
        registry.rollback("m", "prod")
        assert registry.get("m@prod").version == 3
        registry.set_alias("m", "prod", 4)
        assert registry.rollback("m", "prod").version == 3
        assert registry.rollback("m", "prod").version == 2
        registry.delete("m", 4)  # not aliased any more
        assert registry.rollback("m", "prod").version == 1
        with pytest.raises(ConflictError):
            registry.rollback("m", "prod")
        assert registry.get("m@prod").version == 1
        with pytest.raises(NotFoundError):
            registry.rollback("m", "staging")

    def test_rollback_skips_deleted(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        for v in (1, 2, 3):
            registry.set_alias("m", "prod", v)
        registry.set_alias("m", "other", 3)
        registry.delete_alias("m", "other")
        registry.set_alias("m", "tmp", 1)
        registry.delete_alias("m", "tmp")
        registry.rollback("m", "prod")  # -> 2
        registry.set_alias("m", "prod", 3)
        registry.delete("m", 2)
        assert registry.rollback("m", "prod").version == 1
        with pytest.raises(ConflictError):
            registry.rollback("m", "prod")

    def test_archive_restore_delete(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        registry.set_alias("m", "prod", 3)
        assert registry.archive("m", 2).status == "archived"
        assert registry.get("m@2").status == "archived"
        with pytest.raises(ConflictError):
            registry.set_alias("m", "prod", 2)
        assert [mv.version for mv in registry.search("m", include_archived=False)] == [3, 1]
        assert registry.restore("m", 2).status == "ready"
        with pytest.raises(ConflictError) as info:
            registry.delete("m", 3)
        assert info.value.version == 3
        registry.delete("m", 1)
        with pytest.raises(NotFoundError):
            registry.get("m@1")
        with pytest.raises(NotFoundError):
            registry.archive("m", 1)
        assert registry.register("m", _model()).version == 4
        actions = [e.action for e in registry.history("m")]
        assert actions.count("archive") == 1
        assert actions.count("delete") == 1
        assert actions.count("restore") == 1

    def test_latest_skips_archived(self, registry: ModelRegistry) -> None:
        for _ in range(2):
            registry.register("m", _model())
        registry.archive("m", 2)
        assert registry.get("m").version == 1
        registry.archive("m", 1)
        assert registry.get("m").version == 2  # everything archived: newest still resolves

    def test_promote_gates(self, registry: ModelRegistry) -> None:
        registry.register("m", _model(), metrics={"auc": 0.8}, signature=_schema("x", "y"))
        registry.register("m", _model(), metrics={"auc": 0.7}, signature=_schema("x"))
        registry.register(
            "m", _model(), metrics={"auc": 0.9}, signature=_schema("x", "y", dtype="int")
        )
        registry.register("m", _model(), metrics={"auc": 0.9}, signature=_schema("x", "y"))
        gates: list[Check] = [MetricThreshold("auc", min=0.75), SignatureCompatible()]
        registry.promote("m", "prod", 1, checks=gates)
        with pytest.raises(PromotionError) as info:
            registry.promote("m", "prod", 2, checks=gates)
        assert len(info.value.failures) == 1
        assert "below the minimum 0.75" in str(info.value)
        with pytest.raises(PromotionError, match="incompatible"):
            registry.promote("m", "prod", 3, checks=gates)
        assert registry.get("m@prod").version == 1
        assert registry.promote("m", 4, "prod", checks=gates).version == 4  # the old order
        assert registry.get("m@prod").version == 4
        last = registry.history("m", alias="prod").items[0]
        assert last.previous_version == 1
        assert "MetricThreshold" in str(last.detail["checks"])

    def test_hostile_strings_are_data(self, registry: ModelRegistry) -> None:
        evil = "x'); DROP TABLE prodml_versions; -- \" % _ \\ ü 🚀"
        registry.register("m", _model(), tags={evil: evil, "k": "%"}, description=evil)
        registry.register("m", _model(), tags={"k": "a"}, metrics={evil: 1.0})
        got = registry.get("m@1")
        assert got.tags[evil] == evil
        assert got.description == evil
        assert [mv.version for mv in registry.search("m", tags={evil: evil})] == [1]
        assert [mv.version for mv in registry.search("m", tags={"k": "%"})] == [1]
        assert [mv.version for mv in registry.search("m", min_metrics={evil: 0.5})] == [2]
        assert len(registry.search("m")) == 2

    def test_alias_compare_and_set(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        registry.set_alias("m", "prod", 1)
        store = registry.metadata
        before = len(registry.history("m"))
        with pytest.raises(ConflictError):
            store.move_alias("m", "prod", 3, actor="x", expected=2)
        with pytest.raises(ConflictError):
            store.move_alias("m", "new", 3, actor="x", expected=1)
        event = EventDraft(name="m", action="set_alias", actor="x", alias="prod", version=3)
        with pytest.raises(ConflictError):
            store._move_alias("m", "prod", 3, 2, event)
        assert registry.aliases("m") == {"prod": 1}
        assert len(registry.history("m")) == before
        store.move_alias("m", "prod", 3, actor="x", expected=1)
        store.move_alias("m", "new", 2, actor="x", expected=None)
        assert registry.aliases("m") == {"prod": 3, "new": 2}

    def test_direct_store_primitives(self, metadata_store: MetadataStore) -> None:
        draft = ModelVersion(
            name="p",
            version=0,
            flavour="files",
            artifact_key="p/k",
            files={"a": "0" * 64},
            created_at=datetime.now(timezone.utc),
            created_by="t",
            tags={"k": "v"},
        )
        first = metadata_store.create_version(draft, "t")
        assert first.version == 1
        assert metadata_store.get_version("p", 1) == first
        status: Status = "archived"
        metadata_store._set_status(
            "p", 1, status, EventDraft(name="p", action="archive", actor="t")
        )
        assert metadata_store._query_versions(VersionQuery(name="p", statuses=("ready",))) == []
        with pytest.raises(NotFoundError):
            metadata_store._set_status(
                "p", 7, status, EventDraft(name="p", action="archive", actor="t")
            )
        events = metadata_store.history("p")
        assert all(isinstance(e, AuditEvent) for e in events)
        assert [e.action for e in events] == ["register", "archive"]
