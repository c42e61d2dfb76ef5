"""``search`` pages past version rows whose name or version column was edited.

The page token once was the reference (``name@version``) of a page's last row; when that
row was an edited one, its reference is not one (a number that is not a version, a name
that is not a model name), and the next page raised ``ConfigError``. The token then said
"after this position, skip N rows", which repeated or skipped rows when others were
written between pages. It now carries the row's stored key, edited or not (see
test_search_tokens.py for the token itself).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from prodml.errors import IntegrityError
from prodml.registry import ModelRegistry, RecordProblem, UnreadableRecordWarning
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.backends._page_token import MAX_SKIP, parse_search_token, search_token
from prodml.registry.backends._records import VersionQuery
from prodml.schema import Column, Schema


@pytest.fixture(params=["folder", "postgres"])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelRegistry]:
    if request.param == "folder":
        registry = ModelRegistry.local(tmp_path / "reg")
    else:
        url = request.getfixturevalue("postgres_url")
        registry = ModelRegistry(url, f"file://{tmp_path}/a")
    try:
        for name in ("churn", "churn", "churn", "churn", "fraud", "fraud"):
            registry.register(name, Schema([Column("x", "float")]), environment=False)
        yield registry
    finally:
        registry.close()


def _edit(reg: ModelRegistry, ref: tuple[str, int], **values: Any) -> None:
    """Change a version row's key columns (and its tags' and metrics', which follow it)."""
    engine: sa.Engine = reg.metadata._engine  # type: ignore[attr-defined]
    name, version = ref
    with engine.begin() as conn:
        for table in (sq.versions, sq.tags, sq.metrics):
            where = sa.and_(table.c.name == name, table.c.version == version)
            conn.execute(table.update().where(where).values(**values))


def _all_pages(reg: ModelRegistry, page_size: int, **filters: Any) -> tuple[list[str], int]:
    refs: list[str] = []
    problems = 0
    token = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(50):  # a token that never ends the listing fails, not hangs
            page = reg.search(page_size=page_size, page_token=token, **filters)
            assert len(page.items) + len(page.problems) <= page_size
            refs += [mv.ref for mv in page.items]
            problems += len(page.problems)
            token = page.next_token
            if token is None:
                break
        else:
            pytest.fail("paging did not end")
    assert [w.category for w in caught] == [UnreadableRecordWarning] * problems
    return refs, problems


@pytest.mark.parametrize("page_size", [1, 2, 3, 50])
def test_paging_goes_past_rows_with_edited_keys(reg: ModelRegistry, page_size: int) -> None:
    _edit(reg, ("churn", 3), version=0)  # not a version number
    _edit(reg, ("churn", 2), version=-7)
    _edit(reg, ("fraud", 1), name="has space")  # not a model name, after fraud in the order
    refs, problems = _all_pages(reg, page_size)
    assert refs == ["churn@4", "churn@1", "fraud@2"]
    assert problems == 3
    refs, problems = _all_pages(reg, page_size, include_archived=False)
    assert (refs, problems) == (["churn@4", "churn@1", "fraud@2"], 3)


def test_paging_from_an_edited_first_row(reg: ModelRegistry) -> None:
    """Rows that sort before every readable one: the token has no position yet."""
    _edit(reg, ("churn", 4), name="   ")
    _edit(reg, ("churn", 3), name="!bang")
    refs, problems = _all_pages(reg, 1)
    assert (refs, problems) == (["churn@2", "churn@1", "fraud@2", "fraud@1"], 2)


def test_a_row_leaving_the_filter_after_an_edited_one_does_not_hide_the_next(
    reg: ModelRegistry,
) -> None:
    """The old "skip N" token lost a row when one of the N left the filter between pages."""
    _edit(reg, ("churn", 3), version=0)  # sorts after churn@1 now, as 0
    _edit(reg, ("churn", 2), version=-7)
    engine: sa.Engine = reg.metadata._engine  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreadableRecordWarning)
        first = reg.search(page_size=3, include_archived=False)
        assert [mv.ref for mv in first.items] == ["churn@4", "churn@1"]
        assert len(first.problems) == 1  # the row numbered 0 ended the page
        with engine.begin() as conn:
            v = sq.versions.c
            where = sa.and_(v.name == "churn", v.version == 0)
            conn.execute(sq.versions.update().where(where).values(status="archived"))
        rest = reg.search(page_size=3, include_archived=False, page_token=first.next_token)
    assert [mv.ref for mv in rest.items] == ["fraud@2", "fraud@1"]
    assert len(rest.problems) == 1  # the row numbered -7: "skip 1" would have lost it


def test_keyless_unreadable_rows_are_counted_and_bounded() -> None:
    """A third-party store's problem without a stored key: the token counts past it."""
    bad = RecordProblem("version", "a model", None, None, IntegrityError("edited"))
    q = VersionQuery()
    token = search_token([bad, bad], ("churn", 3), MAX_SKIP - 2, q)
    assert parse_search_token(token, q) == (("churn", 3), MAX_SKIP)
    assert parse_search_token(search_token([bad], None, 0, q), q) == (None, 1)
    with pytest.raises(IntegrityError, match="more than 1000000 unreadable version rows"):
        search_token([bad, bad], ("churn", 3), MAX_SKIP - 1, q)


def test_a_sqlite_row_numbered_past_32_bits_is_paged_past_by_count(tmp_path: Path) -> None:
    """SQLite keeps any integer; a key past PostgreSQL's INTEGER is counted, not carried."""
    reg = ModelRegistry.local(tmp_path / "r")
    try:
        for _ in range(3):
            reg.register("churn", Schema([Column("x", "float")]), environment=False)
        _edit(reg, ("churn", 2), version=2**40)  # sorts first, newest first
        for page_size in (1, 2):
            assert _all_pages(reg, page_size) == (["churn@3", "churn@1"], 1)
    finally:
        reg.close()
