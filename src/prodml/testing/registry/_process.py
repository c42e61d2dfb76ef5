# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""The multi-process conformance suite: numbering and crash recovery."""

from __future__ import annotations

import atexit
import importlib
import itertools
import multiprocessing
import os
import random
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from prodml.errors import RegistryError
from prodml.registry import (
    MetadataStore,
    ModelRegistry,
)
from prodml.registry.backends.artifacts import LocalArtifactStore
from prodml.registry.backends.metadata import EventDraft, Pending, VersionQuery
from prodml.registry.entities import AuditEvent, ModelVersion, Status
from prodml.registry.flavours import Flavour, Trust, register_flavour
from prodml.testing.registry._common import _schema, pytest


@dataclass(frozen=True)
class _Urls:
    """What a worker process opens, and the modules it imports first.

    Those modules register a user's own backends (``register_backend``): a worker is a
    fresh process, which has not run the test module that registered them.
    """

    db: str
    artifacts: str
    options: Mapping[str, Any]
    imports: tuple[str, ...] = ()

    def open(self, **kwargs: Any) -> ModelRegistry:
        for module in self.imports:
            importlib.import_module(module)
        return ModelRegistry(self.db, self.artifacts, storage_options=self.options, **kwargs)


def _register_worker(urls: _Urls, name: str, n: int) -> list[int]:
    reg = urls.open(actor=f"p{os.getpid()}")
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

    def _insert_version(
        self, draft: ModelVersion, actor: str, *, leased: bool = False, seal: Any = None
    ) -> ModelVersion:
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

    def _events(
        self,
        name: str,
        alias: str | None = None,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        return self.inner._events(name, alias, before=before, limit=limit)

    def _model_names(self) -> list[str]:
        return self.inner._model_names()

    def _lease(self, key: str, name: str, expires_at: float) -> None:
        self.inner._lease(key, name, expires_at)

    def _revoke(self, key: str, *, expired_by: float | None = None) -> bool:
        return self.inner._revoke(key, expired_by=expired_by)

    def _pending(self, due_by: float | None = None) -> list[Pending]:
        return self.inner._pending(due_by)

    def _forget(self, key: str) -> None:
        self.inner._forget(key)

    def _artifact_keys(self) -> dict[str, Status]:
        return self.inner._artifact_keys()


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


def _crash_worker(urls: _Urls, name: str, where: str, scratch: str) -> None:
    tempfile.tempdir = scratch
    reg = urls.open(lease_ttl=_SHORT_LEASE)
    if where == "save":
        register_flavour(_ExitingFlavour())
        reg.register(name, _schema("x"), flavour="exit-in-save")
    crashing = ModelRegistry(_CrashOnCommit(reg.metadata), reg.artifacts, lease_ttl=_SHORT_LEASE)
    crashing.register(name, _schema("x"))


_SHORT_LEASE = 0.5


def _alias_worker(urls: _Urls, moves: int, seed: int) -> int:
    reg = urls.open(actor=f"p{seed}")
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    try:
        for _ in range(moves):
            reg.set_alias("race", "prod", rng.randint(1, 4))
    finally:
        reg.close()
    return moves


def _gc_worker(urls: _Urls, stop: str) -> int:
    """Collect in a loop (``stop + ".started"`` once running) until ``stop`` exists."""
    reg = urls.open()
    loops = 0
    try:
        Path(stop + ".started").touch()
        while True:
            reg.gc(0, scan=True)
            reg.gc(0)
            loops += 1
            if os.path.exists(stop):
                return loops
    finally:
        reg.close()


_POOLS: dict[int, Any] = {}


def _context() -> Any:
    """Fresh processes, cheaply: forked from a clean server that imported prodml once.

    ``forkserver`` where the platform has it (no threads or connections of the test
    process are inherited), else ``spawn``.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, "psycopg", "s3fs", "sklearn.linear_model"])
        forkserver.ensure_running()  # its socket goes in today's $TMPDIR
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - not on Linux


def _spawn_pool(processes: int) -> Any:
    """A pool shared by every test of the session (starting processes is slow)."""
    if processes not in _POOLS:
        pool = _context().Pool(processes)
        atexit.register(pool.terminate)
        _POOLS[processes] = pool
    return _POOLS[processes]


class ProcessConformance:
    """Multi-process guarantees of a (metadata, artifact) store pair.

    Provide a ``registry_urls`` fixture returning ``(db_url, artifacts_url,
    storage_options)`` that separate processes can open. Worker processes are fresh:
    list in ``worker_imports`` the modules that register your own URL schemes
    (``register_backend``), and each worker imports them before it opens the URLs.
    """

    worker_imports: tuple[str, ...] = ()
    processes = 4
    versions_each = 5

    def _urls(self, registry_urls: tuple[str, str, dict[str, Any]]) -> _Urls:
        db, art, options = registry_urls
        return _Urls(db, art, options, tuple(self.worker_imports))

    def test_concurrent_writers_get_consecutive_numbers(
        self, registry_urls: tuple[str, str, dict[str, Any]]
    ) -> None:
        db, art, options = registry_urls
        results = _spawn_pool(8).starmap(
            _register_worker,
            [(self._urls(registry_urls), "race", self.versions_each)] * self.processes,
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

    @pytest.mark.parametrize(("where", "exitcode", "keys"), [("save", 18, 0), ("commit", 17, 1)])
    def test_killed_mid_register_leaves_a_lease_gc_collects(  # noqa: PLR0917 - fixtures
        self,
        registry_urls: tuple[str, str, dict[str, Any]],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        where: str,
        exitcode: int,
        keys: int,
    ) -> None:
        db, art, options = registry_urls
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        ctx = _context()
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        reg = ModelRegistry(db, art, storage_options=options)
        try:
            reg.register("crash", _schema("x"))
            args = (self._urls(registry_urls), "crash", where, str(scratch))
            proc = ctx.Process(target=_crash_worker, args=args)
            proc.start()
            proc.join(120)
            assert proc.exitcode == exitcode
            assert [mv.version for mv in reg.search("crash")] == [1]
            assert [e.action for e in reg.history("crash")] == ["register"]
            assert len(reg.artifacts.list_keys()) == 1 + keys
            (lease,) = reg.metadata.pending()
            assert lease.state == "lease"
            local = isinstance(reg.artifacts, LocalArtifactStore)
            if local:  # staging lives in the store, not in $TMPDIR
                assert list(scratch.iterdir()) == [], list(scratch.rglob("*"))
                assert reg.artifacts.staged_keys() == ([lease.key] if where == "save" else [])
            time.sleep(max(0.0, lease.expires_at - time.time()) + 0.05)
            report = reg.gc(3600)
            assert report.orphans == [lease.key]
            assert report.deleted_versions == []
            assert reg.artifacts.list_keys() == [reg.get("crash@1").artifact_key]
            assert reg.metadata.pending() == []
            assert reg.artifacts.staged_keys() == []
            assert [p for p in scratch.rglob("*") if p.is_file()] == []
            assert reg.register("crash", _schema("x")).version == 2
            assert reg.load("crash@1") == _schema("x")
        finally:
            reg.close()

    def test_eight_processes_moving_one_alias_never_conflict(
        self, registry_urls: tuple[str, str, dict[str, Any]]
    ) -> None:
        db, art, options = registry_urls
        reg = ModelRegistry(db, art, storage_options=options)
        try:
            for _ in range(4):
                reg.register("race", _schema("x"))
            moves = 12
            done = _spawn_pool(8).starmap(
                _alias_worker,
                [(self._urls(registry_urls), moves, seed) for seed in range(8)],
                chunksize=1,
            )
            assert done == [moves] * 8
            log = reg.metadata.history("race", "prod")
            assert len(log) == 8 * moves
            assert {e.actor for e in log} == {f"p{seed}" for seed in range(8)}
            assert log[0].previous_version is None
            for earlier, later in itertools.pairwise(log):
                assert later.previous_version == earlier.version
            assert reg.aliases("race") == {"prod": log[-1].version}
        finally:
            reg.close()

    def test_gc_racing_writers_loses_no_version(
        self, registry_urls: tuple[str, str, dict[str, Any]], tmp_path: Path
    ) -> None:
        db, art, options = registry_urls
        stop = tmp_path / "stop"
        pool = _spawn_pool(8)
        urls = self._urls(registry_urls)
        collector = pool.apply_async(_gc_worker, (urls, str(stop)))
        deadline = time.monotonic() + 120
        while not (tmp_path / "stop.started").exists():  # the writers race a running gc
            assert not collector.ready(), collector.get()
            assert time.monotonic() < deadline, "the gc worker did not start"
            time.sleep(0.01)
        try:
            results = pool.starmap(_register_worker, [(urls, "gcrace", 8)] * 3, chunksize=1)
        finally:
            stop.touch()
        assert collector.get(120) >= 1
        reg = ModelRegistry(db, art, storage_options=options)
        try:
            assert sorted(v for r in results for v in r) == list(range(1, 25))
            for v in range(1, 25):
                assert reg.verify(f"gcrace@{v}").version == v
            assert reg.load("gcrace@24") == _schema("x")
            assert len(reg.artifacts.list_keys()) == 24
        finally:
            reg.close()

    def test_empty_metadata_next_to_artifacts_is_refused(
        self, registry_urls: tuple[str, str, dict[str, Any]], empty_db_url: str
    ) -> None:
        db, art, options = registry_urls
        reg = ModelRegistry(db, art, storage_options=options)
        try:
            reg.register("m", _schema("x"))
        finally:
            reg.close()
        for read_only in (False, True):
            with pytest.raises(RegistryError, match="no (prodml )?registry") as info:
                ModelRegistry(empty_db_url, art, storage_options=options, read_only=read_only)
            assert "model files" in str(info.value) or read_only
        reg = ModelRegistry(db, art, storage_options=options)
        try:
            assert reg.load("m@1") == _schema("x")
        finally:
            reg.close()
