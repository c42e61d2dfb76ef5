"""Backends for the registry tests: memory and SQLite always; PostgreSQL and S3 from the env.

PostgreSQL: each test gets its own schema in the database at $PRODML_TEST_POSTGRES_URL.
S3: each test gets its own prefix in one bucket at the endpoint $PRODML_TEST_S3_ENDPOINT
(moto's standalone server in CI). Unset variables skip those tests, unless
PRODML_REQUIRE_SERVICES=1, which fails them (see .ci/services.sh).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prodml.registry import ModelRegistry
from prodml.schema import Column, Schema
from prodml.testing.registry import service_url

POSTGRES_HINT = "start PostgreSQL, e.g. `source .ci/services.sh`"
S3_HINT = "run moto_server (pip install 'moto[server]'), e.g. `source .ci/services.sh`"
S3_BUCKET = "prodml-test"


@pytest.fixture
def postgres_schema() -> Iterator[Callable[[], str]]:
    """Make fresh, empty PostgreSQL schemas (dropped after the test); returns their URLs."""
    import sqlalchemy as sa

    base = service_url("PRODML_TEST_POSTGRES_URL", POSTGRES_HINT, extra=("psycopg", "postgres"))
    engine = sa.create_engine(base)
    made: list[str] = []

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        made.append(schema)
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options=-csearch_path%3D{schema}"

    try:
        yield make
    finally:
        with engine.begin() as conn:
            for schema in made:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture
def postgres_url(postgres_schema: Callable[[], str]) -> str:
    return postgres_schema()


@pytest.fixture(scope="session")
def s3_options() -> dict[str, Any]:
    endpoint = service_url("PRODML_TEST_S3_ENDPOINT", S3_HINT, extra=("s3fs", "s3"))
    options: dict[str, Any] = {
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
    }
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    if not fs.exists(S3_BUCKET):
        try:
            fs.mkdir(S3_BUCKET)
        except OSError:  # another pytest-xdist worker made it in between; else re-raise
            fs.invalidate_cache()
            if not fs.exists(S3_BUCKET):
                raise
    return options


@pytest.fixture
def s3_url(s3_options: dict[str, Any]) -> str:
    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex}"


@pytest.fixture(params=["sqlite+local", "postgres+s3"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, dict]]:
    """``(database URL, artifacts URL, storage options)``: SQLite + local files, then
    PostgreSQL + S3 (the signed alias record tests run on both)."""
    if request.param == "sqlite+local":
        yield f"sqlite:///{tmp_path}/registry.db", f"file://{tmp_path}/artifacts", {}
    else:
        yield (
            request.getfixturevalue("postgres_url"),
            request.getfixturevalue("s3_url"),
            request.getfixturevalue("s3_options"),
        )


# -- a registry in a folder, or on PostgreSQL with file artifacts (the read-back tests) --


def schema() -> Schema:
    """The object the read-back tests register: small, and the same every time."""
    return Schema([Column("x", "float")])


@pytest.fixture(params=["folder", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """How to open the registry: a folder, or --db/--artifacts URLs."""
    if request.param == "folder":
        return {"path": str(tmp_path / "reg")}
    db = request.getfixturevalue("postgres_url")
    return {"db": db, "artifacts": f"file://{tmp_path / 'artifacts'}"}


def open_reg(where: dict[str, str]) -> ModelRegistry:
    """The registry ``where`` names, acting as "ci"."""
    if "path" in where:
        return ModelRegistry.local(where["path"], actor="ci")
    return ModelRegistry(where["db"], where["artifacts"], actor="ci")
