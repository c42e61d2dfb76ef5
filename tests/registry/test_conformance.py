"""Every metadata and artifact store prodml ships runs the shipped conformance suites."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prodml.registry.backends import artifact_store_for, metadata_store_for
from prodml.registry.backends.artifacts import ArtifactStore
from prodml.registry.backends.metadata import MetadataStore
from prodml.testing.registry import (
    ArtifactStoreConformance,
    MetadataStoreConformance,
    ProcessConformance,
)


class TestMemoryMetadata(MetadataStoreConformance):
    @pytest.fixture
    def metadata_store(self) -> MetadataStore:
        return metadata_store_for("memory://")


class TestSQLiteMetadata(MetadataStoreConformance):
    @pytest.fixture
    def metadata_store(self, tmp_path: Path) -> MetadataStore:
        return metadata_store_for(f"sqlite:///{tmp_path}/registry.db")


class TestPostgresMetadata(MetadataStoreConformance):
    @pytest.fixture
    def metadata_store(self, postgres_url: str) -> Any:
        store = metadata_store_for(postgres_url)
        yield store
        store.close()


class TestLocalArtifacts(ArtifactStoreConformance):
    @pytest.fixture
    def artifact_store(self, tmp_path: Path) -> ArtifactStore:
        return artifact_store_for(f"file://{tmp_path}/artifacts")


class TestMemoryArtifacts(ArtifactStoreConformance):
    @pytest.fixture
    def artifact_store(self) -> ArtifactStore:
        return artifact_store_for(f"memory://{uuid.uuid4().hex}")


class TestS3Artifacts(ArtifactStoreConformance):
    @pytest.fixture
    def artifact_store(self, s3_url: str, s3_options: dict[str, Any]) -> ArtifactStore:
        return artifact_store_for(s3_url, **s3_options)


class TestSQLiteLocalProcesses(ProcessConformance):
    @pytest.fixture
    def registry_urls(self, tmp_path: Path) -> tuple[str, str, dict[str, Any]]:
        return f"sqlite:///{tmp_path}/registry.db", f"file://{tmp_path}/artifacts", {}

    @pytest.fixture
    def empty_db_url(self, tmp_path: Path) -> str:
        (tmp_path / "zero-length.db").touch()
        return f"sqlite:///{tmp_path}/zero-length.db"


class TestPostgresS3Processes(ProcessConformance):
    @pytest.fixture
    def registry_urls(
        self, postgres_url: str, s3_url: str, s3_options: dict[str, Any]
    ) -> tuple[str, str, dict[str, Any]]:
        return postgres_url, s3_url, s3_options

    @pytest.fixture
    def empty_db_url(self, postgres_schema: Callable[[], str]) -> str:
        return postgres_schema()
