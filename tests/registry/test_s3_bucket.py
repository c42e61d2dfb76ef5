"""An S3 artifact store whose bucket is missing says so; access denied names the bucket.

On the moto server at $PRODML_TEST_S3_ENDPOINT, one bucket name per test (never created
for the missing-bucket tests).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from prodml.errors import StorageError
from prodml.registry import ModelRegistry
from prodml.registry.backends.artifacts import S3ArtifactStore
from prodml.schema import Column, Schema


def bucket() -> str:
    return f"prodml-{uuid.uuid4().hex[:16]}"


def missing_store(s3_options: dict[str, Any]) -> tuple[S3ArtifactStore, str]:
    name = bucket()
    return S3ArtifactStore(f"s3://{name}/models", **s3_options), name


def check_names_the_bucket(err: StorageError, name: str) -> None:
    text = str(err)
    assert f"bucket {name!r}" in text
    assert "does not exist or is not reachable with these credentials" in text
    assert err.path == name
    assert "testing" not in text.replace(f"s3://{name}", "")  # no credential


def test_list_keys_and_has_keys_name_a_missing_bucket(s3_options: dict[str, Any]) -> None:
    store, name = missing_store(s3_options)
    with pytest.raises(StorageError) as info:
        store.list_keys()
    check_names_the_bucket(info.value, name)
    with pytest.raises(StorageError) as info:
        store.has_keys()
    check_names_the_bucket(info.value, name)


def test_gc_on_a_missing_bucket_is_an_error_not_nothing_to_collect(
    s3_options: dict[str, Any],
) -> None:
    store, name = missing_store(s3_options)
    reg = ModelRegistry("memory://", store)
    with pytest.raises(StorageError) as info:
        reg.gc(dry_run=True)
    check_names_the_bucket(info.value, name)


def test_an_empty_bucket_that_exists_lists_as_empty(s3_options: dict[str, Any]) -> None:
    import s3fs

    name = bucket()
    s3fs.S3FileSystem(**s3_options).mkdir(name)
    store = S3ArtifactStore(f"s3://{name}/models", **s3_options)
    assert store.list_keys() == []
    assert store.has_keys() is False


def test_access_denied_names_bucket_key_and_operation(
    s3_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    name = bucket()
    s3fs.S3FileSystem(**s3_options).mkdir(name)
    reg = ModelRegistry("memory://", S3ArtifactStore(f"s3://{name}/models", **s3_options))
    mv = reg.register("churn", Schema([Column("x", "float")]), environment=False)

    def denied(*_args: Any, **_kwargs: Any) -> Any:
        # what s3fs raises for AccessDenied: the key, not the bucket or the operation
        raise PermissionError(13, "Access Denied", f"models/{mv.artifact_key}/object.json")

    monkeypatch.setattr(reg.artifacts.fs, "open", denied)  # type: ignore[attr-defined]
    with pytest.raises(StorageError) as info:
        reg.verify("churn@1")
    text = str(info.value)
    assert f"cannot read {mv.artifact_key}/object.json in bucket {name!r}" in text
    assert "access denied" in text
    assert info.value.errno == 13
