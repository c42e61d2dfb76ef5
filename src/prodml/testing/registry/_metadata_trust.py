# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""Metadata store conformance, part 2: alias semantics, paging, leases, gc, waits, trust."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodml.errors import ConfigError, ConflictError, IntegrityError, NotFoundError, RegistryError
from prodml.registry import MetadataStore, ModelRegistry
from prodml.registry.backends._artifact_base import new_key
from prodml.registry.backends.memory import MemoryMetadataStore
from prodml.registry.backends.metadata import EventDraft
from prodml.registry.backends.sql import SQLMetadataStore
from prodml.registry.entities import ModelVersion
from prodml.testing.registry._common import _model, pytest
from prodml.testing.registry._common import hold_write_lock as _hold_write_lock

BAD_REFS = [
    "m@³",
    "m@٣",
    "m@99999999999999999999999",
    "m@2147483648",
    "m@0",
    "m@-1",
    "m@1.5",
    "m@ 1",
    "m@",
]


def _reopen_read_only(store: MetadataStore) -> MetadataStore | None:
    """The same database opened read-only, for the stores prodml ships."""
    if isinstance(store, SQLMetadataStore):
        if store._db_path is not None:
            return SQLMetadataStore(f"sqlite:///{store._db_path}", read_only=True)
        return SQLMetadataStore(
            store._engine.url.render_as_string(hide_password=False), read_only=True
        )
    return None  # a private memory:// store has no second handle


def _tamper_payload(store: MetadataStore, name: str, version: int, payload: str) -> bool:
    """Overwrite a version's stored record behind the registry's back (SQL stores)."""
    if not isinstance(store, SQLMetadataStore):
        return False
    from prodml.registry.backends import _sqlschema as schema  # noqa: PLC0415

    v = schema.versions.c
    with store._engine.begin() as conn:
        conn.execute(
            schema.versions.update()
            .where(v.name == name, v.version == version)
            .values(payload=payload)
        )
    return True


class MetadataTrust:
    """Alias semantics, keyset paging, leases and gc, lock deadlines, read-only, forged rows.

    Hooks a user's store may override: ``hold_write_lock(store)`` (a context manager
    holding the store's write lock from elsewhere), ``reopen_read_only(store)`` and
    ``tamper_payload(store, name, version, payload)``.
    """

    if TYPE_CHECKING:  # the hooks' types; at run time the functions above

        @staticmethod
        def hold_write_lock(store: MetadataStore) -> AbstractContextManager[None]: ...

        @staticmethod
        def reopen_read_only(store: MetadataStore) -> MetadataStore | None: ...

        @staticmethod
        def tamper_payload(store: MetadataStore, name: str, version: int, payload: str) -> bool: ...

    else:
        hold_write_lock = staticmethod(_hold_write_lock)
        reopen_read_only = staticmethod(_reopen_read_only)
        tamper_payload = staticmethod(_tamper_payload)

    # ------------------------------------------------------------------ aliases

    def test_set_alias_is_last_writer_wins(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        for v in (1, 3, 2, 2):
            assert registry.set_alias("m", "prod", v).version == v
        events = [(e.version, e.previous_version) for e in registry.history("m", alias="prod")]
        assert events == [(2, 2), (2, 3), (3, 1), (1, None)]

    def test_expected_version_is_compare_and_set(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        registry.set_alias("m", "prod", 1, expected_version=None)
        before = len(registry.history("m"))
        with pytest.raises(ConflictError, match="expected 2"):
            registry.set_alias("m", "prod", 3, expected_version=2)
        with pytest.raises(ConflictError):
            registry.set_alias("m", "prod", 3, expected_version=None)
        with pytest.raises(ConflictError):
            registry.delete_alias("m", "prod", expected_version=3)
        with pytest.raises(ConfigError, match="expected_version"):
            registry.set_alias("m", "prod", 3, expected_version=0)
        assert registry.aliases("m") == {"prod": 1}
        assert len(registry.history("m")) == before
        registry.set_alias("m", "prod", 3, expected_version=1)
        registry.delete_alias("m", "prod", expected_version=3)
        assert registry.aliases("m") == {}

    def test_racing_threads_never_conflict(self, registry: ModelRegistry) -> None:
        for _ in range(4):
            registry.register("m", _model())
        errors: list[BaseException] = []

        def mover(seed: int) -> None:
            rng = random.Random(seed)  # noqa: S311 - test data, not security
            try:
                for _ in range(10):
                    registry.set_alias("m", "prod", rng.randint(1, 4))
            except BaseException as err:  # noqa: BLE001 - collected and asserted below
                errors.append(err)

        threads = [threading.Thread(target=mover, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        moves = registry.metadata.history("m", "prod")
        assert len(moves) == 80
        assert moves[0].previous_version is None
        for earlier, later in itertools.pairwise(moves):
            assert later.previous_version == earlier.version
        assert registry.aliases("m") == {"prod": moves[-1].version}

    def test_promote_reruns_checks_when_raced(self, registry: ModelRegistry) -> None:
        for auc in (0.7, 0.8, 0.9):
            registry.register("m", _model(), metrics={"auc": auc})
        registry.set_alias("m", "prod", 1)
        seen: list[int | None] = []

        def racing_check(candidate: ModelVersion, current: ModelVersion | None) -> str | None:
            seen.append(None if current is None else current.version)
            if len(seen) == 1:
                registry.set_alias("m", "prod", 2)  # another writer moves the alias now
            return None

        assert registry.promote("m", "prod", 3, checks=[racing_check]).version == 3
        assert seen == [1, 2]
        moves = [(e.version, e.previous_version) for e in registry.history("m", alias="prod")]
        assert moves == [(3, 2), (2, 1), (1, None)]
        with pytest.raises(ConflictError):
            registry.promote("m", "prod", 1, expected_version=2)
        assert registry.aliases("m") == {"prod": 3}

    def test_alias_targets_are_checked_in_the_transaction(self, registry: ModelRegistry) -> None:
        for _ in range(2):
            registry.register("m", _model())
        store = registry.metadata
        registry.archive("m", 2)
        with pytest.raises(ConflictError, match="archived"):
            store.move_alias("m", "prod", 2, actor="x")
        with pytest.raises(NotFoundError):
            store.move_alias("m", "prod", 9, actor="x")
        with pytest.raises(NotFoundError):
            store.move_alias("nope", "prod", 1, actor="x")
        store.move_alias("m", "prod", 1, actor="x")
        event = EventDraft(name="m", action="delete", actor="x", version=1)
        with pytest.raises(ConflictError, match="point at it"):
            store.set_status("m", 1, "deleted", event)
        with pytest.raises(NotFoundError):
            store.move_alias("m", "staging", None, actor="x")
        assert registry.get("m@prod").version == 1

    @pytest.mark.parametrize("ref", BAD_REFS)
    def test_malformed_references(self, registry: ModelRegistry, ref: str) -> None:
        registry.register("m", _model())
        with pytest.raises(ConfigError):
            registry.get(ref)

    @pytest.mark.parametrize("number", [0, -3, 2**31, 10**30, True, 1.0])
    def test_impossible_version_numbers(self, registry: ModelRegistry, number: Any) -> None:
        registry.register("m", _model())
        calls: list[Callable[[], object]] = [
            lambda: registry.get("m", number),
            lambda: registry.set_alias("m", "prod", number),
            lambda: registry.archive("m", number),
            lambda: registry.delete("m", number),
            lambda: registry.promote("m", "prod", number),
        ]
        for call in calls:
            with pytest.raises(ConfigError):
                call()
        assert registry.aliases("m") == {}

    # ------------------------------------------------------------------ paging

    def test_search_pages_are_keyset(self, registry: ModelRegistry) -> None:
        for _ in range(5):
            registry.register("m", _model(), tags={"t": "x"})
        first = registry.search("m", tags={"t": "x"}, page_size=2)
        assert [mv.version for mv in first] == [5, 4]
        assert first.next_token is not None  # opaque: bound to this query, keyset
        registry.register("m", _model(), tags={"t": "x"})  # does not shift the next page
        second = registry.search("m", tags={"t": "x"}, page_size=2, page_token=first.next_token)
        assert [mv.version for mv in second] == [3, 2]
        third = registry.search("m", tags={"t": "x"}, page_size=2, page_token=second.next_token)
        assert [mv.version for mv in third] == [1]
        assert third.next_token is None
        registry.register("n", _model())
        both = registry.search(page_size=7)
        assert [mv.ref for mv in both][-2:] == ["m@1", "n@1"]
        for bad in ("x1", "m@0", "m@99999999999", "../x@1", "m@²", 123, ""):
            with pytest.raises(ConfigError, match="page_token"):
                registry.search("m", page_token=bad)  # type: ignore[arg-type]

    def test_history_pages_newest_first(self, registry: ModelRegistry) -> None:
        for _ in range(2):
            registry.register("m", _model())
        for i in range(119):
            registry.set_alias("m", "prod", 1 + i % 2)
        seqs: list[int] = []
        token = None
        while True:
            page = registry.history("m", page_size=50, page_token=token)
            assert len(page) <= 50
            seqs += [e.seq for e in page]
            token = page.next_token
            if token is None:
                break
        assert len(seqs) == 121
        assert seqs == sorted(set(seqs), reverse=True)
        assert [e.action for e in registry.history("m", alias="prod", page_size=3)] == [
            "set_alias"
        ] * 3
        with pytest.raises(ConfigError, match="page_token"):
            registry.history("m", page_token="soon")  # noqa: S106 - not a password
        with pytest.raises(ConfigError, match="page_size"):
            registry.history("m", page_size=0)

    # ------------------------------------------------------------------ leases and gc

    def test_lease_lifecycle(self, metadata_store: MetadataStore) -> None:
        store = metadata_store
        key, other = new_key("m"), new_key("m")
        now = time.time()
        store.lease(key, "m", now + 60)
        store.lease(key, "m", now + 120)
        (row,) = store.pending()
        assert (row.key, row.state, row.expires_at) == (key, "lease", now + 120)
        assert store.pending(due_by=now) == []
        assert not store.revoke(key, expired_by=now)
        assert store.revoke(key)
        assert [(p.key, p.state) for p in store.pending(due_by=time.time())] == [(key, "orphan")]
        with pytest.raises(ConflictError, match="lost its lease"):
            store.lease(key, "m", now + 60)
        draft = ModelVersion(
            name="m",
            version=1,
            flavour="prodml",
            artifact_key=key,
            files={"object.json": "0" * 64},
            created_at=datetime.now(timezone.utc),
            created_by="t",
        )
        with pytest.raises(ConflictError, match="lost its lease"):
            store.create_version(draft, "t", leased=True)
        store.forget(key)
        assert store.pending() == []
        with pytest.raises(ConflictError):
            store.create_version(draft, "t", leased=True)  # never leased
        store.lease(other, "m", now + 60)
        mv = store.create_version(
            draft.model_copy(update={"artifact_key": other}), "t", leased=True
        )
        assert mv.version == 1
        assert store.pending() == []
        assert not store.revoke(other)  # committed: nothing to revoke

    def test_gc_never_takes_an_in_flight_registration(
        self, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        registry.register("m", _model())
        uploaded, go = threading.Event(), threading.Event()
        put = registry.artifacts.put

        def slow_put(src: Path, key: str) -> None:
            put(src, key)
            uploaded.set()
            go.wait(30)

        monkeypatch.setattr(registry.artifacts, "put", slow_put)
        result: list[Any] = []
        worker = threading.Thread(target=lambda: result.append(registry.register("m", _model())))
        worker.start()
        try:
            assert uploaded.wait(30)
            (key,) = set(registry.artifacts.list_keys()) - {registry.get("m@1").artifact_key}
            scan = registry.gc(0, scan=True)
            assert scan.removed == []
            assert scan.in_flight == [key]
            assert registry.gc(0).removed == []
        finally:
            go.set()
            worker.join(30)
        assert result[0].version == 2
        assert registry.verify("m@2").artifact_key == key
        assert registry.load("m@2") == _model()

    def test_expired_lease_fails_the_commit_not_the_version(
        self, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        slow = ModelRegistry(registry.metadata, registry.artifacts, lease_ttl=0.05)
        put = slow.artifacts.put

        def put_then_gc(src: Path, key: str) -> None:
            put(src, key)
            time.sleep(0.1)  # past the lease
            assert registry.gc(3600).orphans == [key]

        monkeypatch.setattr(slow.artifacts, "put", put_then_gc)
        with pytest.raises(ConflictError, match="lost its lease"):
            slow.register("m", _model())
        with pytest.raises(NotFoundError):
            registry.get("m")
        assert registry.artifacts.list_keys() == []
        assert registry.metadata.pending() == []

    def test_gc_racing_registrations_loses_nothing(self, registry: ModelRegistry) -> None:
        done = threading.Event()
        errors: list[BaseException] = []

        def collector() -> None:
            try:
                while not done.is_set():
                    registry.gc(0, scan=True)
                    registry.gc(0)
            except BaseException as err:  # noqa: BLE001 - asserted below
                errors.append(err)

        thread = threading.Thread(target=collector)
        thread.start()
        try:
            versions = [registry.register("m", _model()).version for _ in range(15)]
        finally:
            done.set()
            thread.join(60)
        assert errors == []
        assert versions == list(range(1, 16))
        for v in versions:
            assert registry.verify(f"m@{v}").version == v
        assert len(registry.artifacts.list_keys()) == 15

    def test_gc_refuses_mass_deletion_without_force(self, registry: ModelRegistry) -> None:
        for _ in range(4):
            registry.register("m", _model())
        for v in (1, 2, 3):
            registry.delete("m", v)
        keys = registry.artifacts.list_keys()
        with pytest.raises(RegistryError, match="more than half") as info:
            registry.gc()
        assert "force=True" in str(info.value)
        assert registry.artifacts.list_keys() == keys
        dry = registry.gc(dry_run=True)
        assert dry.refusal is not None
        assert len(dry.deleted_versions) == 3
        assert len(registry.gc(force=True).deleted_versions) == 3
        assert registry.artifacts.list_keys() == [registry.get("m@4").artifact_key]
        assert registry.metadata.pending() == []
        assert registry.gc().removed == []

    def test_gc_refuses_when_metadata_is_empty(self, metadata_store: MetadataStore) -> None:
        art = f"memory://conformance-{random.getrandbits(64):x}"
        other = ModelRegistry("memory://", art)
        keys = sorted(other.register("m", _model()).artifact_key for _ in range(2))
        reg = ModelRegistry(metadata_store, other.artifacts)
        with pytest.raises(RegistryError, match="holds no versions"):
            reg.gc(0, scan=True)
        assert reg.artifacts.list_keys() == keys
        assert reg.gc(0, scan=True, dry_run=True).refusal is not None
        assert reg.gc(0, scan=True, force=True).orphans == keys
        assert reg.artifacts.list_keys() == []

    def test_gc_skips_hostile_pending_keys(self, registry: ModelRegistry) -> None:
        mv = registry.register("m", _model())
        for hostile in ("../../etc", "/etc/passwd", "m/../../x", "m"):
            registry.metadata._lease(hostile, "m", 0.0)
        report = registry.gc(0, force=True)
        assert sorted(report.skipped) == sorted(["../../etc", "/etc/passwd", "m/../../x", "m"])
        assert report.removed == []
        assert registry.artifacts.list_keys() == [mv.artifact_key]

    # ------------------------------------------------------------------ waits, read-only

    def test_lock_wait_has_one_deadline(self, registry: ModelRegistry) -> None:
        registry.register("m", _model())
        store: Any = registry.metadata
        keys, events = registry.artifacts.list_keys(), len(registry.history("m"))
        store.lock_timeout = 0.3
        try:
            with self.hold_write_lock(store):
                started = time.monotonic()
                with pytest.raises(RegistryError, match="is locked") as info:
                    registry.register("m", _model())
                waited = time.monotonic() - started
                assert "lock_timeout" in str(info.value)
                with pytest.raises(RegistryError, match="is locked"):
                    registry.set_alias("m", "prod", 1)
                if not isinstance(store, MemoryMetadataStore):
                    assert registry.get("m").version == 1  # readers are not blocked
        finally:
            store.lock_timeout = 30.0
        assert waited < 15  # one deadline (0.3 s), not hundreds of retries of it
        assert registry.artifacts.list_keys() == keys
        assert len(registry.history("m")) == events
        assert registry.register("m", _model()).version == 2

    def test_read_only_registry_reads_and_refuses_writes(self, registry: ModelRegistry) -> None:
        registry.register("m", _model(), tags={"k": "v"})
        registry.register("m", _model())
        registry.set_alias("m", "prod", 1)
        registry.delete("m", 2)
        ro = ModelRegistry(registry.metadata, registry.artifacts, read_only=True)
        assert ro.get("m@prod").version == 1
        assert ro.load("m@prod") == _model()
        assert ro.verify("m@1").version == 1
        assert [mv.version for mv in ro.search("m", tags={"k": "v"})] == [1]
        assert len(ro.history("m")) == 4
        assert ro.gc(dry_run=True).deleted_versions == [registry.metadata.pending()[0].key]
        writes: list[Callable[[], object]] = [
            lambda: ro.register("m", _model()),
            lambda: ro.set_alias("m", "prod", 1),
            lambda: ro.delete_alias("m", "prod"),
            lambda: ro.promote("m", "prod", 1),
            lambda: ro.rollback("m", "prod"),
            lambda: ro.archive("m", 1),
            lambda: ro.restore("m", 1),
            lambda: ro.delete("m", 1),
            ro.gc,
        ]
        for write in writes:
            with pytest.raises(RegistryError, match="read-only"):
                write()
        assert len(registry.history("m")) == 4
        assert len(registry.artifacts.list_keys()) == 2
        store = self.reopen_read_only(registry.metadata)
        if store is not None:
            try:
                assert store.read_only
                assert store.get_version("m", 1).version == 1
                event = EventDraft(name="m", action="archive", actor="x", version=1)
                with pytest.raises(RegistryError, match="read-only"):
                    store.set_status("m", 1, "archived", event)
                with pytest.raises(RegistryError, match="read-only"):
                    store._set_status("m", 1, "archived", event)  # the database itself refuses
            finally:
                store.close()
        assert registry.get("m@1").status == "ready"

    # ------------------------------------------------------------------ forged rows

    def test_forged_rows_are_refused_before_any_file_is_touched(
        self, registry: ModelRegistry
    ) -> None:
        mv = registry.register("m", _model())
        other = registry.register("o", _model())
        digest = next(iter(mv.files.values()))
        forgeries: list[dict[str, Any]] = [
            {"files": {"../escape.json": digest}},
            {"files": {"/etc/passwd": digest}},
            {"files": {"object.json": "not-a-digest"}},
            {"files": {}},
            {"artifact_key": "../../outside"},
            {"artifact_key": other.artifact_key},  # another model's files
            {"flavour": "no-such-flavour"},
            {"flavour_meta": {"class": "os:system"}},
            {"flavour": "files", "flavour_meta": {"basename": "../x", "kind": "file"}},
        ]
        for n, change in enumerate(forgeries, start=2):
            registry.metadata.create_version(mv.model_copy(update=change), "mallory")
            for call in (registry.load, registry.verify):
                with pytest.raises(IntegrityError) as info:
                    call(f"m@{n}")
                assert info.value.version == n
        assert registry.load("m@1") == _model()
        if self.tamper_payload(registry.metadata, "m", 1, '{"name": "m", "version": 1}'):
            with pytest.raises(IntegrityError, match="not a valid version"):
                registry.get("m@1")
            self.tamper_payload(registry.metadata, "m", 1, other.model_dump_json())
            with pytest.raises(IntegrityError, match="describes o version 1"):
                registry.get("m@1")
