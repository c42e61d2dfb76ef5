"""``search`` returns the same order and the same keyset pages on every metadata store.

Pages are keyset pages on ``(name, version)``: the order and the ``>`` of the keyset
condition come from the database. SQLite compares text by its bytes; PostgreSQL by the
column's collation, which is the database's locale (an ``en-US`` database sorts ``"a"``
before ``"B"`` and ignores ``-``, ``.`` and ``_`` at first). The stores sort by UTF-8
bytes (``COLLATE "C"`` on PostgreSQL), which is also Python's ``str`` order, the memory
store's. These tests run PostgreSQL twice: in a ``C`` database (the CI service) and in
one whose default collation is ICU's ``en-US``.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from prodml.registry import ModelRegistry, UnreadableRecordWarning
from prodml.registry.backends import _sqlschema as sq
from prodml.schema import Column, Schema
from prodml.testing.registry import service_url

from .conftest import POSTGRES_HINT

# Case differences, names that differ only after a common prefix, and the punctuation a
# locale collation skips at first ("a-b" < "ab" < "a_c" in en-US; bytes: "-" < "." < "_").
NAMES = ["m", "M", "a", "B", "Ab", "ab", "a-b", "a.b", "a_c", "a0", "aB", "z9", "Z", "m-1", "m1"]
# Stored names edited into what is not a model name (unicode, case-folded look-alikes).
EDITED = {"a0": "\u00e9t\u00e9", "z9": "\u00c9t\u00e9", "m1": "a\u0301b"}


@pytest.fixture(scope="module")
def icu_database() -> Iterator[str]:
    """A fresh PostgreSQL database whose default collation is ICU's en-US (dropped after)."""
    base = service_url("PRODML_TEST_POSTGRES_URL", POSTGRES_HINT, extra=("psycopg", "postgres"))
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"prodml_icu_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        locales = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_collation WHERE collname = 'en-US-x-icu'"
        ).scalar()
        if not locales:
            pytest.skip("this PostgreSQL has no ICU en-US collation (built without ICU)")
        conn.exec_driver_sql(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgres", "postgres-en-US"])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], tuple[ModelRegistry, str]]:
    """Open a registry on one metadata store; returns it and the store's name."""

    def make() -> tuple[ModelRegistry, str]:
        artifacts = f"file://{tmp_path / 'artifacts'}"
        if request.param == "memory":
            return ModelRegistry("memory://", "memory://models"), request.param
        if request.param == "sqlite":
            return ModelRegistry(f"sqlite:///{tmp_path / 'reg.db'}", artifacts), request.param
        if request.param == "postgres":
            url = request.getfixturevalue("postgres_url")
            return ModelRegistry(url, artifacts), request.param
        base = request.getfixturevalue("icu_database")
        schema = f"t_{uuid.uuid4().hex[:12]}"  # the database outlives the test: a schema each
        engine = sa.create_engine(base)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
        url = f"{base}?options=-csearch_path%3D{schema}"
        return ModelRegistry(url, artifacts), request.param

    return make


def _fill(reg: ModelRegistry) -> None:
    schema = Schema([Column("x", "float")])
    for name in NAMES:
        reg.register(name, schema, tags={"team": "t"}, environment=False)
    reg.register("ab", schema, tags={"team": "t"}, environment=False)


def _pages(reg: ModelRegistry, page_size: int, **filters: Any) -> list[tuple[list[Any], str]]:
    """Every page: its rows (reference or stored key of an unreadable row) and token."""
    pages: list[tuple[list[Any], str]] = []
    token = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreadableRecordWarning)
        for _ in range(100):
            page = reg.search(page_size=page_size, page_token=token, **filters)
            rows: list[Any] = [(mv.name, mv.version) for mv in page.items]
            rows += [p.sort_key for p in page.problems]  # unreadable rows: their stored key
            rows.sort(key=_byte_order)  # a page lists its unreadable rows apart
            token = page.next_token
            pages.append((rows, token or ""))
            if token is None:
                return pages
    raise AssertionError("search never ended")


def _byte_order(key: tuple[str, int]) -> tuple[bytes, int]:
    return key[0].encode("utf-8"), -key[1]


def _expected(names: list[str]) -> list[tuple[str, int]]:
    return sorted([(n, 1) for n in names] + [("ab", 2)], key=_byte_order)


@pytest.mark.parametrize("page_size", [1, 4, 50])
@pytest.mark.parametrize("filters", [{}, {"tags": {"team": "t"}}], ids=["all", "by-tag"])
def test_search_pages_follow_byte_order_on_every_store(
    open_store: Callable[[], tuple[ModelRegistry, str]],
    page_size: int,
    filters: dict[str, Any],
) -> None:
    reg, _ = open_store()
    with reg:
        _fill(reg)
        pages = _pages(reg, page_size, **filters)
    rows = [r for page, _ in pages for r in page]
    assert rows == _expected(NAMES)
    # Case and punctuation decide the order by their bytes: "Ab" < "B" < "a" < "a-b" ...
    assert [n for n, _ in rows][:6] == ["Ab", "B", "M", "Z", "a", "a-b"]


@pytest.mark.parametrize("page_size", [1, 3])
def test_the_same_tokens_on_every_store(
    open_store: Callable[[], tuple[ModelRegistry, str]], page_size: int
) -> None:
    """The tokens themselves are equal, so a token made on one store pages on another."""
    reg, _ = open_store()
    with reg:
        _fill(reg)
        got = _pages(reg, page_size)
    reference = ModelRegistry("memory://", "memory://models")
    with reference:
        _fill(reference)
        assert got == _pages(reference, page_size)


def _edit_names(reg: ModelRegistry, edits: dict[str, str]) -> None:
    engine: sa.Engine = reg.metadata._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for old, new in edits.items():
            for table in (sq.versions, sq.tags, sq.metrics):
                conn.execute(table.update().where(table.c.name == old).values(name=new))


@pytest.mark.parametrize("open_store", ["sqlite", "postgres", "postgres-en-US"], indirect=True)
@pytest.mark.parametrize("page_size", [1, 2, 5])
def test_rows_edited_to_unicode_names_are_paged_in_byte_order(
    open_store: Callable[[], tuple[ModelRegistry, str]], page_size: int
) -> None:
    """Edited rows keep their stored key in the token. A locale puts "été" before "Été"
    and "a\u0301b" among the a's; bytes put both after every ASCII name, and "a\u0301b"
    after every ASCII "a..." name."""
    reg, _ = open_store()
    with reg:
        _fill(reg)
        _edit_names(reg, EDITED)
        for filters in ({}, {"tags": {"team": "t"}}):
            rows = [r for page, _ in _pages(reg, page_size, **filters) for r in page]
            assert rows == _expected([EDITED.get(n, n) for n in NAMES])


def test_models_are_listed_in_byte_order(
    open_store: Callable[[], tuple[ModelRegistry, str]],
) -> None:
    reg, _ = open_store()
    with reg:
        _fill(reg)
        assert reg.models() == sorted(NAMES)
