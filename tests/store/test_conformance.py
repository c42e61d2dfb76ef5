"""Every offline and online store prodml ships runs the shipped conformance suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prodml.store.backends import OfflineStore, OnlineStore, offline_store_for, online_store_for
from prodml.testing.store import OfflineStoreConformance, OnlineStoreConformance


class TestDuckDBOffline(OfflineStoreConformance):
    @pytest.fixture
    def offline_store(self, tmp_path: Path) -> OfflineStore:
        return offline_store_for(f"duckdb://{tmp_path}")


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
