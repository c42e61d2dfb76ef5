# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""Conformance suites for model registry backends (needs the ``test`` extra).

A backend opts in with a short pytest subclass that provides one fixture, in the style of
``fsspec.tests.abstract``; every store prodml ships runs the same suites::

    from prodml.testing.registry import MetadataStoreConformance


    class TestMyStore(MetadataStoreConformance):
        @pytest.fixture
        def metadata_store(self):
            return MyStore("mystore://...")

- :class:`MetadataStoreConformance` (fixture ``metadata_store``): numbering, get and
  resolve, paged search, aliases with history and rollback, archive/delete, promotion.
- :class:`ArtifactStoreConformance` (fixture ``artifact_store``): round trips of every
  flavour, and that a swapped, truncated, deleted or added file fails the load with
  :class:`~prodml.errors.IntegrityError` naming the file; gc of deleted and orphan keys.
- :class:`ProcessConformance` (fixture ``registry_urls`` giving ``(db_url,
  artifacts_url, storage_options)``): writers in separate processes get unique,
  consecutive version numbers, and a process killed mid-registration leaves no visible
  version and an orphan that gc removes.

:func:`service_url` reads a service URL from the environment for a fixture: it skips the
test when the variable is unset, or fails it when ``PRODML_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prodml.errors import (
    ConfigError,
    ConflictError,
    IntegrityError,
    MissingExtraError,
    NotFoundError,
)
from prodml.registry import (
    ArtifactStore,
    Check,
    MetadataStore,
    MetricThreshold,
    ModelRegistry,
    PromotionError,
    SignatureCompatible,
)
from prodml.registry.backends.artifacts import FsspecArtifactStore, new_key
from prodml.registry.backends.metadata import EventDraft, VersionQuery
from prodml.registry.entities import AuditEvent, ModelVersion, Status
from prodml.registry.flavours import Flavour, Trust, register_flavour
from prodml.schema import Column, Schema

try:
    import pytest
except ImportError as _err:  # pragma: no cover - the test extra is missing
    raise MissingExtraError(
        package="pytest", extra="test", feature="prodml.testing.registry"
    ) from _err

__all__ = [
    "ArtifactStoreConformance",
    "MetadataStoreConformance",
    "ProcessConformance",
    "service_url",
]

REQUIRE_ENV = "PRODML_REQUIRE_SERVICES"


def service_url(variable: str, how: str) -> str:
    """The URL in ``$variable``; skip (or, under ``PRODML_REQUIRE_SERVICES=1``, fail) if unset.

    Parameters
    ----------
    variable
        Environment variable holding the URL.
    how
        What to do to get one, for the message.
    """
    value = os.environ.get(variable)
    if value:
        return value
    message = f"set {variable} ({how})"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message}: {REQUIRE_ENV}=1 says the service must be there")
    pytest.skip(message)
    raise AssertionError("unreachable")  # pragma: no cover


def _schema(*names: str, dtype: str = "float") -> Schema:
    return Schema([Column(n, dtype) for n in names])


def _model(auc: float = 0.5) -> Any:
    return _schema("x")


class MetadataStoreConformance:
    """Behaviour every :class:`~prodml.registry.MetadataStore` must have.

    Provide a ``metadata_store`` fixture returning a fresh, empty store.
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
            ("set_alias", 1, None, "alice"),
            ("set_alias", 2, 1, "bob"),
            ("delete_alias", None, 2, "bob"),
        ]
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        assert [e.action for e in registry.history("m")][:2] == ["register", "register"]
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
        registry.promote("m", 1, "prod", checks=gates)
        with pytest.raises(PromotionError) as info:
            registry.promote("m", 2, "prod", checks=gates)
        assert len(info.value.failures) == 1
        assert "below the minimum 0.75" in str(info.value)
        with pytest.raises(PromotionError, match="incompatible"):
            registry.promote("m", 3, "prod", checks=gates)
        assert registry.get("m@prod").version == 1
        assert registry.promote("m", 4, "prod", checks=gates).version == 4
        assert registry.get("m@prod").version == 4
        last = registry.history("m", alias="prod")[-1]
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


def _tamper_write(store: ArtifactStore, key: str, rel: str, data: bytes) -> None:
    assert isinstance(store, FsspecArtifactStore)
    target = store._path(key, rel)
    store.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    store.fs.pipe_file(target, data)
    store.fs.invalidate_cache()


def _tamper_delete(store: ArtifactStore, key: str, rel: str) -> None:
    assert isinstance(store, FsspecArtifactStore)
    store.fs.rm(store._path(key, rel))
    store.fs.invalidate_cache()


class ArtifactStoreConformance:
    """Behaviour every :class:`~prodml.registry.ArtifactStore` must have.

    Provide an ``artifact_store`` fixture returning a fresh, empty store. Override
    ``tamper_write`` / ``tamper_delete`` for stores that are not fsspec-based.
    """

    tamper_write = staticmethod(_tamper_write)
    tamper_delete = staticmethod(_tamper_delete)

    @pytest.fixture
    def registry(self, artifact_store: ArtifactStore) -> Any:
        reg = ModelRegistry("memory://", artifact_store, actor="alice")
        yield reg
        reg.close()

    def _sklearn_model(self) -> Any:
        import numpy as np  # noqa: PLC0415
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

        rng = np.random.default_rng(0)
        X = rng.normal(size=(40, 3))  # noqa: N806 - sklearn naming
        return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X

    def test_round_trip_prodml_object(self, registry: ModelRegistry) -> None:
        schema = _schema("x", "y")
        registry.register("s", schema)
        assert registry.load("s@1") == schema

    def test_round_trip_sklearn(self, registry: ModelRegistry) -> None:
        import numpy as np  # noqa: PLC0415

        model, X = self._sklearn_model()  # noqa: N806
        mv = registry.register("clf", model)
        assert mv.flavour == "sklearn"
        back = registry.load("clf", 1, trusted=mv.flavour_meta["format"] == "joblib")
        np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))

    def test_round_trip_pair(self, registry: ModelRegistry) -> None:
        schema = _schema("x")
        model, X = self._sklearn_model()  # noqa: N806
        mv = registry.register("pair", (schema, model))
        assert mv.flavour == "pair"
        pipe, clf = registry.load("pair", trusted=True)
        assert pipe == schema
        assert (clf.predict(X) == model.predict(X)).all()

    def test_round_trip_files(self, registry: ModelRegistry, tmp_path: Path) -> None:
        (tmp_path / "d" / "sub").mkdir(parents=True)
        (tmp_path / "d" / "a.txt").write_bytes(b"alpha")
        (tmp_path / "d" / "sub" / "b.bin").write_bytes(bytes(range(256)))
        registry.register("dir", tmp_path / "d")
        registry.register("one", tmp_path / "d" / "a.txt")
        got = registry.load("dir")
        assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()) == [
            "a.txt",
            "sub/b.bin",
        ]
        assert (got / "sub" / "b.bin").read_bytes() == bytes(range(256))
        assert registry.load("one").read_bytes() == b"alpha"
        shutil.rmtree(got.parent)

    def _stored(self, registry: ModelRegistry) -> ModelVersion:
        model, _ = self._sklearn_model()
        return registry.register("m", model)

    def _read(self, registry: ModelRegistry, mv: ModelVersion, rel: str) -> bytes:
        path, temporary = registry.artifacts.fetch(
            mv.artifact_key, mv.files, model_name=mv.name, version=mv.version
        )
        try:
            return (path / rel).read_bytes()
        finally:
            if temporary:
                shutil.rmtree(path)

    def test_swapped_file_fails_load(self, registry: ModelRegistry) -> None:
        mv = self._stored(registry)
        model, X = self._sklearn_model()  # noqa: N806
        other = registry.register("o", model.set_params(C=0.001).fit(X, X[:, 1] > 0))
        rel = next(iter(mv.files))
        assert other.files[rel] != mv.files[rel]
        self.tamper_write(
            registry.artifacts, mv.artifact_key, rel, self._read(registry, other, rel)
        )
        with pytest.raises(IntegrityError) as info:
            registry.load("m@1", trusted=True)
        assert info.value.path == rel
        assert repr(rel) in str(info.value)
        assert info.value.model_name == "m"
        assert info.value.version == 1
        assert registry.load("o@1", trusted=True).C == 0.001

    def test_truncated_file_fails_load(self, registry: ModelRegistry) -> None:
        mv = self._stored(registry)
        rel = next(iter(mv.files))
        data = self._read(registry, mv, rel)
        self.tamper_write(registry.artifacts, mv.artifact_key, rel, data[: len(data) // 2])
        with pytest.raises(IntegrityError, match="does not match"):
            registry.load("m@1", trusted=True)
        with pytest.raises(IntegrityError):
            registry.verify("m@1")

    def test_deleted_file_fails_load(self, registry: ModelRegistry) -> None:
        mv = self._stored(registry)
        rel = next(iter(mv.files))
        self.tamper_delete(registry.artifacts, mv.artifact_key, rel)
        with pytest.raises(IntegrityError, match="missing") as info:
            registry.load("m@1", trusted=True)
        assert info.value.path == rel

    def test_added_file_fails_load(self, registry: ModelRegistry) -> None:
        mv = self._stored(registry)
        self.tamper_write(registry.artifacts, mv.artifact_key, "evil.py", b"print('hi')")
        with pytest.raises(IntegrityError, match=r"evil\.py"):
            registry.load("m@1", trusted=True)

    def test_gc_removes_deleted_and_orphans(self, registry: ModelRegistry, tmp_path: Path) -> None:
        keep = registry.register("g", _schema("a"))
        gone = registry.register("g", _schema("b"))
        registry.delete("g", gone.version)
        src = tmp_path / "partial-upload"
        src.mkdir()
        (src / "f.bin").write_bytes(b"partial upload")
        old = "g/0000000001000-" + "0" * 32
        fresh = new_key("g")
        registry.artifacts.put(src, old)
        registry.artifacts.put(src, fresh)
        dry = registry.gc(3600, dry_run=True)
        assert dry.deleted_versions == [gone.artifact_key]
        assert dry.orphans == [old]
        assert dry.kept_recent == [fresh]
        assert set(registry.artifacts.list_keys()) == {
            keep.artifact_key,
            gone.artifact_key,
            old,
            fresh,
        }
        report = registry.gc(3600)
        assert report.removed == sorted([gone.artifact_key, old])
        assert set(registry.artifacts.list_keys()) == {keep.artifact_key, fresh}
        assert registry.load("g@1") == _schema("a")
        assert registry.gc(0).orphans == [fresh]
        assert registry.artifacts.list_keys() == [keep.artifact_key]

    def test_gc_never_touches_foreign_files(self, registry: ModelRegistry) -> None:
        keep = registry.register("g", _schema("a"))
        self.tamper_write(registry.artifacts, "g/not-a-key", "x.bin", b"someone else's")
        self.tamper_write(registry.artifacts, "other", "README.txt", b"not ours")
        assert registry.artifacts.list_keys() == [keep.artifact_key]
        assert registry.gc(0).removed == []
        assert registry.load("g") == _schema("a")
        assert isinstance(registry.artifacts, FsspecArtifactStore)
        fs = registry.artifacts.fs
        assert fs.exists(registry.artifacts._path("g/not-a-key", "x.bin"))
        assert fs.exists(registry.artifacts._path("other", "README.txt"))

    def test_failed_save_leaves_nothing(self, registry: ModelRegistry, tmp_path: Path) -> None:
        with pytest.raises(ConfigError):
            registry.register("f", tmp_path / "does-not-exist")
        assert registry.artifacts.list_keys() == []
        with pytest.raises(NotFoundError):
            registry.get("f")


# --------------------------------------------------------------------------- processes


def _register_worker(
    db_url: str, artifacts_url: str, options: Mapping[str, Any], name: str, n: int
) -> list[int]:
    reg = ModelRegistry(db_url, artifacts_url, storage_options=options, actor=f"p{os.getpid()}")
    try:
        return [
            reg.register(name, _schema("x"), tags={"pid": str(os.getpid())}).version
            for _ in range(n)
        ]
    finally:
        reg.close()


class _CrashOnCommit(MetadataStore):
    """Delegates to a real store but kills the process when the version row is written."""

    def __init__(self, inner: MetadataStore) -> None:
        self.inner = inner

    def _insert_version(self, draft: ModelVersion, actor: str) -> ModelVersion:
        os._exit(17)

    def _query_versions(self, query: VersionQuery) -> list[ModelVersion]:
        return self.inner._query_versions(query)

    def _set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        self.inner._set_status(name, version, status, event)

    def _move_alias(
        self, name: str, alias: str, version: int | None, expected: Any, event: EventDraft
    ) -> None:
        self.inner._move_alias(name, alias, version, expected, event)

    def _aliases(self, name: str) -> dict[str, int]:
        return self.inner._aliases(name)

    def _events(self, name: str, alias: str | None = None) -> list[AuditEvent]:
        return self.inner._events(name, alias)

    def _model_names(self) -> list[str]:
        return self.inner._model_names()


class _ExitingFlavour(Flavour):
    """A flavour whose save hook kills the process halfway through writing."""

    name = "exit-in-save"

    def handles(self, obj: object) -> bool:
        return False

    def save(self, obj: Any, path: Path) -> dict[str, Any]:
        (path / "part-1.bin").write_bytes(b"written before the crash")
        os._exit(18)

    def load(self, path: Path, meta: dict[str, Any], *, trusted: Trust = False) -> Any:
        raise NotImplementedError


def _crash_worker(
    db_url: str, artifacts_url: str, options: Mapping[str, Any], name: str, where: str
) -> None:
    reg = ModelRegistry(db_url, artifacts_url, storage_options=options)
    if where == "save":
        register_flavour(_ExitingFlavour())
        reg.register(name, _schema("x"), flavour="exit-in-save")
    crashing = ModelRegistry(_CrashOnCommit(reg.metadata), reg.artifacts)
    crashing.register(name, _schema("x"))


_POOLS: dict[int, Any] = {}


def _spawn_pool(processes: int) -> Any:
    """A spawn-context pool shared by every test of the session (spawning is slow)."""
    if processes not in _POOLS:
        pool = multiprocessing.get_context("spawn").Pool(processes)
        atexit.register(pool.terminate)
        _POOLS[processes] = pool
    return _POOLS[processes]


class ProcessConformance:
    """Multi-process guarantees of a (metadata, artifact) store pair.

    Provide a ``registry_urls`` fixture returning ``(db_url, artifacts_url,
    storage_options)`` that separate processes can open.
    """

    processes = 4
    versions_each = 5

    def test_concurrent_writers_get_consecutive_numbers(
        self, registry_urls: tuple[str, str, dict[str, Any]]
    ) -> None:
        db, art, options = registry_urls
        results = _spawn_pool(self.processes).starmap(
            _register_worker,
            [(db, art, options, "race", self.versions_each)] * self.processes,
            chunksize=1,
        )
        got = sorted(v for r in results for v in r)
        total = self.processes * self.versions_each
        assert got == list(range(1, total + 1))
        reg = ModelRegistry(db, art, storage_options=options)
        try:
            stored = [mv.version for mv in reg.search("race", page_size=100)]
            assert stored == list(range(total, 0, -1))
            assert len(set(reg.artifacts.list_keys())) == total
            assert sum(e.action == "register" for e in reg.history("race")) == total
            for r in results:
                assert r == sorted(r)
        finally:
            reg.close()

    @pytest.mark.parametrize(("where", "exitcode", "orphans"), [("save", 18, 0), ("commit", 17, 1)])
    def test_killed_mid_register_leaves_orphan_for_gc(
        self,
        registry_urls: tuple[str, str, dict[str, Any]],
        where: str,
        exitcode: int,
        orphans: int,
    ) -> None:
        db, art, options = registry_urls
        reg = ModelRegistry(db, art, storage_options=options)
        try:
            reg.register("crash", _schema("x"))
            ctx = multiprocessing.get_context("spawn")
            proc = ctx.Process(target=_crash_worker, args=(db, art, options, "crash", where))
            proc.start()
            proc.join(120)
            assert proc.exitcode == exitcode
            assert [mv.version for mv in reg.search("crash")] == [1]
            assert [e.action for e in reg.history("crash")] == ["register"]
            assert len(reg.artifacts.list_keys()) == 1 + orphans
            assert reg.gc(3600).removed == []
            report = reg.gc(0)
            assert len(report.orphans) == orphans
            assert len(reg.artifacts.list_keys()) == 1
            assert reg.register("crash", _schema("x")).version == 2
            assert reg.load("crash@1") == _schema("x")
        finally:
            reg.close()
