"""``search`` pages past version rows whose name or version column was edited.

The page token was the reference (``name@version``) of a page's last row; when that row
was an edited one, its reference is not one (a number that is not a version, a name that
is not a model name), and the next page raised ``ConfigError`` "not a token returned by
search". The token now says "after this position, skip N rows", so paging goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from prodml.errors import ConfigError, IntegrityError
from prodml.registry import ModelRegistry, RecordProblem, UnreadableRecordWarning
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.backends._records import MAX_SKIP, parse_search_token, search_token
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


@pytest.mark.parametrize(
    ("token", "expected"),
    [("churn@3", (("churn", 3), 0)), ("churn@3+2", (("churn", 3), 2)), ("+4", (None, 4))],
)
def test_tokens_read_back(token: str, expected: object) -> None:
    assert parse_search_token(token) == expected


@pytest.mark.parametrize(
    "token", ["churn@3+", "churn@3+0", "+0", "+", "churn@3+-1", "churn@3+1+1", "+10000001", "x+1"]
)
def test_tokens_not_returned_by_search_are_refused(token: str) -> None:
    with pytest.raises(ConfigError, match="not a token returned by search"):
        parse_search_token(token)


def test_a_million_unreadable_rows_in_a_row_is_named_not_paged() -> None:
    """The skip a token carries is bounded; past it the store is called corrupted."""
    bad = RecordProblem("version", "a model", None, None, IntegrityError("edited"))
    assert search_token([bad, bad], ("churn", 3), MAX_SKIP - 2) == f"churn@3+{MAX_SKIP}"
    assert parse_search_token(f"churn@3+{MAX_SKIP}") == (("churn", 3), MAX_SKIP)
    with pytest.raises(IntegrityError, match="more than 1000000 unreadable version rows"):
        search_token([bad, bad], ("churn", 3), MAX_SKIP - 1)
