"""Alias rows read back are checked; listing warnings name the caller's line.

Alias rows are edited in the database behind the registry's back, on the folder registry
(SQLite) and on PostgreSQL (one schema per test).
"""

from __future__ import annotations

import inspect
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.registry.conftest import open_reg, schema

from prodml.cli import main
from prodml.errors import ConflictError, IntegrityError, NotFoundError
from prodml.registry import ModelRegistry, UnreadableRecordWarning
from prodml.registry.backends import _sqlschema as sq

SECRET = "s3cr3t-alias"  # noqa: S105 - a marker that must never be shown


@pytest.fixture
def reg(where: dict[str, str]) -> Iterator[ModelRegistry]:
    with open_reg(where) as registry:
        for _ in range(3):
            registry.register("churn", schema(), environment=False)
        registry.set_alias("churn", "production", 2)
        registry.set_alias("churn", "staging", 3)
        yield registry


def edit_alias(reg: ModelRegistry, which: str, **values: Any) -> None:
    """Change one alias row of churn in the database (what a hand edit does)."""
    a = sq.aliases.c
    engine: sa.Engine = reg.metadata._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sq.aliases.update().where(a.name == "churn", a.alias == which).values(values))


# ---------------------------------------------------------------------- aliases


@pytest.mark.parametrize("version", [7, 0, -3])
def test_an_alias_at_no_version_is_refused_on_read_and_skipped_in_listings(
    reg: ModelRegistry, version: int
) -> None:
    edit_alias(reg, "production", version=version)
    with pytest.raises(IntegrityError, match="alias 'production' of model churn") as info:
        reg.get("churn@production")
    assert (info.value.model_name, info.value.version) == ("churn", "production")
    with pytest.raises(IntegrityError, match="alias 'production' of model churn"):
        reg.rollback("churn", "production")
    with pytest.warns(UnreadableRecordWarning, match="alias 'production' of model churn") as w:
        assert reg.aliases("churn") == {"staging": 3}
    assert len(w) == 1
    assert w[0].filename == __file__
    assert reg.get("churn@staging").version == 3
    reg.set_alias("churn", "production", 1)  # setting it again repairs the row
    assert reg.aliases("churn") == {"production": 1, "staging": 3}


def test_an_alias_at_text_is_refused_without_quoting_it(tmp_path: Path) -> None:
    """SQLite only: PostgreSQL's integer column cannot hold text, SQLite's can."""
    asked: list[Any] = []

    def authorizer(request: Any) -> None:
        asked.append(request.from_version)

    reg = ModelRegistry.local(tmp_path / "reg", actor="ci", authorizer=authorizer)
    for _ in range(3):
        reg.register("churn", schema(), environment=False)
    reg.set_alias("churn", "production", 2)
    reg.set_alias("churn", "staging", 3)
    edit_alias(reg, "production", version=SECRET)
    with pytest.raises(IntegrityError, match="not a version number") as info:
        reg.get("churn@production")  # was a bare ValueError from int()
    assert SECRET not in str(info.value)
    with pytest.warns(UnreadableRecordWarning) as w:
        assert reg.aliases("churn") == {"staging": 3}
    assert SECRET not in str(w[0].message)
    with pytest.raises(ConflictError, match="not a version number") as conflict:
        reg.set_alias("churn", "production", 1, expected_version=2)
    assert SECRET not in str(conflict.value)
    reg.set_alias("churn", "production", 1)  # repairs it; the log stays readable
    assert asked[-1] is None  # the authorizer is not handed the stored text
    assert reg.aliases("churn") == {"production": 1, "staging": 3}
    last = reg.history("churn", alias="production").items[0]
    assert (last.version, last.previous_version) == (1, None)
    reg.close()


@pytest.mark.parametrize("name", ["latest", "3", "has space " + SECRET, "-dash", ""])
def test_an_alias_with_an_invalid_name_is_skipped_never_quoted(
    reg: ModelRegistry, name: str
) -> None:
    edit_alias(reg, "production", alias=name)
    with pytest.warns(UnreadableRecordWarning, match="not a valid alias name") as w:
        assert reg.aliases("churn") == {"staging": 3}
    message = str(w[0].message)
    assert "churn" in message
    assert (name or "''") not in message.replace("alias name", "")
    with pytest.raises(NotFoundError):
        reg.get("churn@production")


def test_promote_refuses_an_alias_row_at_no_version(reg: ModelRegistry) -> None:
    edit_alias(reg, "production", version=9)
    with pytest.raises(IntegrityError, match="alias 'production' of model churn"):
        reg.promote("churn", "production", 3)


def test_cli_lists_the_valid_aliases_and_warns_about_the_rest(
    where: dict[str, str], reg: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_alias(reg, "production", alias="not valid " + SECRET)
    args = [where["path"]] if "path" in where else ["--db", where["db"], "--artifacts", "x"]
    if "artifacts" in where:
        args[-1] = where["artifacts"]
    assert main(["registry", *args, "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [
        {
            "model": "churn",
            "latest": 3,
            "aliases": {"staging": 3},
            "newest": 3,
            "newest_status": "ready",
        }
    ]
    assert len(err.splitlines()) == 1
    assert "not a valid alias name" in err
    assert SECRET not in err


# ---------------------------------------------------------------------- warning lines


def test_listing_warnings_name_the_callers_line(reg: ModelRegistry) -> None:
    v = sq.versions.c
    engine: sa.Engine = reg.metadata._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            sq.versions.update().where(v.name == "churn", v.version == 1).values(payload="{")
        )
    with engine.begin() as conn:  # an event only a newer prodml writes
        seq = conn.execute(sa.select(sa.func.max(sq.events.c.seq))).scalar_one()
        conn.execute(sq.events.update().where(sq.events.c.seq == seq).values(action="teleport"))
    calls: dict[str, Callable[[], object]] = {
        "search": reg.search,
        "history": lambda: reg.history("churn"),
        "all_versions": reg.metadata.all_versions,
        "card": lambda: reg.card("churn@production"),
    }
    for what, call in calls.items():
        with pytest.warns(UnreadableRecordWarning) as caught:
            call()
        assert [w.filename for w in caught] == [__file__] * len(caught), what
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.search()
        after = inspect.getframeinfo(sys._getframe()).lineno
    assert caught[0].lineno == after - 1  # the line of reg.search()


def test_memory_store_and_the_base_default_check_alias_rows_too() -> None:
    """The memory store's own read and the base's default (a third-party store's)."""
    from prodml.registry.backends.metadata import MetadataStore

    with ModelRegistry("memory://", "memory://read-back-test", actor="ci") as reg:
        for _ in range(2):
            reg.register("churn", schema(), environment=False)
        reg.set_alias("churn", "production", 1)
        reg.set_alias("churn", "staging", 2)
        store: Any = reg.metadata
        store._aliases_map["churn"]["production"] = 9  # a version that never existed
        store._aliases_map["churn"]["-bad " + SECRET] = 1
        for rows in (store._alias_rows("churn"), MetadataStore._alias_rows(store, "churn")):
            assert sorted(rows) == [
                ("-bad " + SECRET, 1, True),
                ("production", 9, False),
                ("staging", 2, True),
            ]
        with pytest.raises(IntegrityError, match="alias 'production' of model churn"):
            reg.get("churn@production")
        with pytest.warns(UnreadableRecordWarning) as caught:
            assert reg.aliases("churn") == {"staging": 2}
        assert len(caught) == 2
        assert not any(SECRET in str(w.message) for w in caught)
