"""Backends for the store tests: DuckDB and SQLite always; PostgreSQL and Redis from the env.

PostgreSQL: each test gets its own schema (see tests/registry/conftest.py). Redis: each
test gets its own key prefix on the server at $PRODML_TEST_REDIS_URL. Unset variables skip
those tests, unless PRODML_REQUIRE_SERVICES=1, which fails them (see .ci/services.sh).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from prodml.testing.registry import service_url

pytest.importorskip("duckdb", reason="the store tests need the 'store' extra")

from tests.registry.conftest import postgres_url  # noqa: E402, F401 - the shared fixture

REDIS_HINT = "pip install 'prodml[redis]' and start redis-server, e.g. `source .ci/services.sh`"


@pytest.fixture
def redis_url() -> Iterator[str]:
    base = service_url("PRODML_TEST_REDIS_URL", REDIS_HINT)
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}prefix={prefix}"
    import redis

    client = redis.Redis.from_url(base)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
