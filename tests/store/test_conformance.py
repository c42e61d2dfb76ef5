"""Every offline and online store prodml ships runs the shipped conformance suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prodml.store import _asof
from prodml.store.backends import OfflineStore, OnlineStore, offline_store_for, online_store_for
from prodml.testing.store import OfflineStoreConformance, OnlineStoreConformance


class TestDuckDBOffline(OfflineStoreConformance):
    """The default: in-memory joins by numpy arrays (prodml.store._asof)."""

    @pytest.fixture
    def offline_store(self, tmp_path: Path) -> OfflineStore:
        return offline_store_for(f"duckdb://{tmp_path}")


class TestDuckDBOfflineSQL(OfflineStoreConformance):
    """The SQL join, which runs for output files, memory limits and naive sources."""

    @pytest.fixture
    def offline_store(self, tmp_path: Path) -> OfflineStore:
        return offline_store_for(f"duckdb://{tmp_path}", engine="duckdb")


class TestDuckDBOfflineArraysTinyChunks(OfflineStoreConformance):
    """The arrays path with batches of a few rows (merging the best across batches) and
    times packed as ranks (the path for key ids and times wider than 62 bits)."""

    @pytest.fixture
    def offline_store(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OfflineStore:
        monkeypatch.setattr(_asof, "READ_ROWS", 2)
        monkeypatch.setattr(_asof, "GATHER_ROWS", 2)
        monkeypatch.setattr(_asof, "DIRECT_BITS", 0)
        return offline_store_for(f"duckdb://{tmp_path}", engine="numpy")


class TestPostgresOffline(OfflineStoreConformance):
    @pytest.fixture
    def offline_store(self, postgres_url: str) -> Iterator[OfflineStore]:
        store = offline_store_for(postgres_url)
        yield store
        store.close()


class TestSQLiteOnline(OnlineStoreConformance):
    @pytest.fixture
    def online_store(self, tmp_path: Path) -> OnlineStore:
        return online_store_for(f"sqlite:///{tmp_path}/online.db")


class TestRedisOnline(OnlineStoreConformance):
    @pytest.fixture
    def online_store(self, redis_url: str) -> Iterator[OnlineStore]:
        store = online_store_for(redis_url)
        yield store
        store.close()


class TestPostgresOnline(OnlineStoreConformance):
    @pytest.fixture
    def online_store(self, postgres_url: str) -> Iterator[OnlineStore]:
        store = online_store_for(postgres_url)
        yield store
        store.close()
