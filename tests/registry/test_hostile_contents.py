"""Hostile registry contents: stored rows and manifests damaged behind the registry's back.

With the real stores (SQLite with local files, PostgreSQL with the moto S3 artifact store),
hypothesis damages one stored thing at a time: a field of a version's record (its file
manifest included), a column of a version, alias, audit event, tag or metric row, or an
artifact file. Then every public read either works, raises a ``ProdMLError`` subclass, or
skips with an ``UnreadableRecordWarning``: never a bare KeyError, TypeError, ValueError or
OverflowError, and never a message that repeats the stored value.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from prodml.errors import ProdMLError
from prodml.registry import ModelRegistry, UnreadableRecordWarning
from prodml.registry import _cli as cli
from prodml.registry.backends import _sqlschema as sq
from prodml.schema import Column, Schema

MARK = "h0stile value"
"""Every hostile string holds it: a message or warning holding it repeated a stored value.

Its space makes it no valid name: a valid model, alias or flavour name may be shown."""

TIMES = [
    "9999-12-31T23:59:59.999999+00:00",
    "0001-01-01T00:00:00",
    "99999-01-01T00:00:00+00:00",
    "-0001-01-01",
    "2026-13-40T25:61:61",
    "2026-12-05T00:00:00+25:00",
    "1e309",
]


class _Huge(str):
    """10 MB of text with a short repr (hypothesis shows failing examples)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HUGE"


HUGE = _Huge(MARK + "x" * 10_000_000)

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 2**70, -(2**70)]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(TIMES),
    st.text(max_size=30).map(lambda s: MARK + s),
    st.text(alphabet="\u202e\u0000\ud7ff\U0001f600\u00e9\u0301 /.\\", max_size=20).map(
        lambda s: MARK + s
    ),
    st.just(HUGE),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)

RECORD_FIELDS = [
    "name",
    "version",
    "status",
    "artifact_key",
    "flavour",
    "files",
    "tags",
    "metrics",
    "created_at",
    "created_by",
    "description",
    "signature",
    "lineage",
    "format_version",
    "flavour_metadata",
]

COLUMNS: dict[str, list[str]] = {
    "versions": ["status", "artifact_key", "payload", "name", "version"],
    "aliases": ["alias", "version"],
    "events": ["at", "action", "version", "alias", "previous_version", "actor", "detail"],
    "tags": ["value"],
    "metrics": ["value"],
    "models": ["name", "created_at"],
}


@st.composite
def damages(draw: st.DrawFn) -> tuple[str, Any]:
    """One thing to damage, and how."""
    kind = draw(st.sampled_from(["record", "record", "truncate", "swap", "column", "file"]))
    if kind == "record":
        field = draw(st.sampled_from(RECORD_FIELDS))
        # A key of a mapping field: a tag, a metric, a file (a safe file path is shown).
        nested = draw(st.sampled_from([None, "auc", "x", "model.json", "../up", "a\x00b"]))
        return kind, (field, nested, draw(st.one_of(st.just("<delete>"), VALUES)))
    if kind == "truncate":
        return kind, draw(st.integers(min_value=0, max_value=400))
    if kind == "swap":
        return kind, tuple(draw(st.permutations(RECORD_FIELDS))[:2])
    if kind == "column":
        table = draw(st.sampled_from(sorted(COLUMNS)))
        return kind, (table, draw(st.sampled_from(COLUMNS[table])), draw(VALUES))
    how = draw(st.sampled_from(["truncate", "replace", "delete", "add"]))
    return kind, (how, draw(st.binary(max_size=64)))


def _setup(reg: ModelRegistry) -> None:
    for _ in range(3):
        reg.register(
            "m",
            Schema([Column("x", "float")]),
            tags={"team": "growth"},
            metrics={"auc": 0.8},
        )
    reg.set_alias("m", "production", 1)
    reg.set_alias("m", "production", 2)
    reg.set_alias("m", "staging", 3)


def _clear(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(sq.meta.sorted_tables):
            conn.execute(table.delete())


def _apply(reg: ModelRegistry, damage: tuple[str, Any]) -> None:
    """Damage version 2 of ``m`` (and what belongs to it); assume(False) if it cannot be."""
    engine: sa.Engine = reg.metadata._engine  # type: ignore[attr-defined]
    kind, how = damage
    v = sq.versions.c
    where = (v.name == "m", v.version == 2)
    with engine.begin() as conn:
        payload = conn.execute(sa.select(v.payload).where(*where)).scalar_one()
    record = json.loads(payload)
    table, values = "versions", {}
    if kind == "record":
        field, nested, value = how
        if nested is not None and isinstance(record.get(field), dict):
            target = record[field]
            field = nested
        else:
            target = record
        if value == "<delete>":
            target.pop(field, None)
        else:
            target[field] = value
        try:
            values = {"payload": json.dumps(record, allow_nan=True)}
        except (ValueError, OverflowError):  # a value json cannot hold
            assume(False)
    elif kind == "truncate":
        values = {"payload": payload[: min(how, len(payload) - 1)]}
    elif kind == "swap":
        a, b = how
        record[a], record[b] = record.get(b), record.get(a)
        values = {"payload": json.dumps(record)}
    elif kind == "column":
        table, column, value = how
        values = {column: value}
    else:
        _damage_file(reg, record, how)
        return
    t = getattr(sq, table)
    stmt = t.update().where(t.c.name == "m").values(**values)
    if "version" in t.c and not (table == "aliases" and "version" in values):
        stmt = stmt.where(t.c.version == 2)
    try:
        with engine.begin() as conn:
            conn.execute(stmt)
    except (sa.exc.StatementError, OverflowError, TypeError):
        assume(False)  # a typed column refuses it: such a row cannot exist


def _damage_file(reg: ModelRegistry, record: dict[str, Any], how: tuple[str, bytes]) -> None:
    what, data = how
    store = reg.artifacts
    fs, key = store.fs, record["artifact_key"]  # type: ignore[attr-defined]
    rel = sorted(record["files"])[0]
    path = store._path(key, rel)  # type: ignore[attr-defined]
    if what == "truncate":
        content = fs.cat_file(path)
        fs.pipe_file(path, content[: len(content) // 2])
    elif what == "replace":
        fs.pipe_file(path, data)
    elif what == "delete":
        fs.rm_file(path)
    else:
        # A file found in the store is named (80 characters at most): removing it is the fix.
        fs.pipe_file(store._path(key, "extra.bin"), data)  # type: ignore[attr-defined]
    fs.invalidate_cache()


def _reads(reg: ModelRegistry) -> Iterator[Callable[[], object]]:
    for ref in ("m@1", "m@2", "m@3", "m@production", "m@staging", "m", "m@latest"):
        yield lambda ref=ref: reg.get(ref)
        yield lambda ref=ref: reg.load(ref)
        yield lambda ref=ref: reg.verify(ref)
        yield lambda ref=ref: reg.card(ref).to_markdown() + reg.card(ref).to_html()
    yield lambda: list(reg.search())
    yield lambda: list(reg.search("m", tags={"team": "growth"}, min_metrics={"auc": 0.5}))
    yield lambda: list(reg.search("m", page_size=1))
    yield lambda: reg.aliases("m")
    yield reg.models
    yield lambda: list(reg.history("m"))
    yield lambda: reg.metadata.history("m")
    yield reg.metadata.all_versions
    yield lambda: cli._models(reg)
    yield lambda: cli._versions(reg, "m")


def _shown(text: str, damage: tuple[str, Any]) -> bool:
    """Whether ``text`` repeats a hostile value of ``damage``."""
    if MARK in text:
        return True
    if damage[0] not in ("record", "column"):
        return False
    field, value = damage[1][-2:] if damage[0] == "record" else damage[1][1:]
    # An out-of-range number in a number field; a name of digits is a valid name.
    numeric = field in (None, "version", "previous_version", "format_version")
    if type(value) is int and abs(value) >= 2**31 and numeric:
        return str(value) in text
    return False


def _sweep(reg: ModelRegistry, damage: tuple[str, Any]) -> None:
    _apply(reg, damage)
    for read in _reads(reg):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            message = ""
            try:
                read()
            except ProdMLError as err:
                message = str(err)
            except Exception as err:  # noqa: BLE001 - the bug this sweep looks for
                pytest.fail(f"{type(err).__name__} from a read after {damage!r:.200}: {err!s:.300}")
        assert not _shown(message, damage), (damage, message[:300])
        for w in caught:
            assert issubclass(w.category, UnreadableRecordWarning), (damage, str(w.message)[:300])
            assert not _shown(str(w.message), damage), (damage, str(w.message)[:300])


def _examples(found: list[tuple[str, Any]]) -> Callable[[Any], Any]:
    def wrap(test: Any) -> Any:
        for damage in found:
            test = example(damage=damage)(test)
        return test

    return wrap


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Iterator[ModelRegistry]:
    reg = ModelRegistry.local(tmp_path / "reg")
    yield reg
    reg.close()


@pytest.fixture
def postgres_s3_registry(
    postgres_url: str, s3_url: str, s3_options: dict[str, Any]
) -> Iterator[ModelRegistry]:
    reg = ModelRegistry(postgres_url, s3_url, storage_options=s3_options)
    yield reg
    reg.close()


# Each found by this sweep, and fixed: kept as examples that always run.
FOUND = [
    ("record", ("version", None, 2**31)),  # "describes m version 2147483648"
    ("record", ("format_version", None, 2**70)),  # "format_version 2**70: upgrade prodml"
    ("record", ("files", MARK, None)),  # a file's key in a pydantic error location
    ("record", ("tags", MARK, [1])),
    ("record", ("flavour", None, MARK)),  # "names flavour '<value>'"
    ("record", ("artifact_key", None, MARK)),  # "the artifact key ... '<value>'"
    ("record", ("files", "../" + MARK, "0" * 64)),  # "names path '<value>'"
    ("column", ("versions", "name", MARK + "\u00e9")),  # "the stored record of <value>"
    ("column", ("versions", "version", MARK)),  # "m version <value>", int(<value>)
    ("column", ("versions", "version", 2**40)),
    ("column", ("models", "name", MARK)),  # models() returned it; get(<value>) quoted it
]


@SETTINGS
@given(damage=damages())
@_examples(FOUND)
def test_sqlite_and_local_files(sqlite_registry: ModelRegistry, damage: tuple[str, Any]) -> None:
    _clear(sqlite_registry.metadata._engine)  # type: ignore[attr-defined]
    _setup(sqlite_registry)
    _sweep(sqlite_registry, damage)


@settings(SETTINGS, max_examples=20)
@given(damage=damages())
def test_postgres_and_s3(postgres_s3_registry: ModelRegistry, damage: tuple[str, Any]) -> None:
    _clear(postgres_s3_registry.metadata._engine)  # type: ignore[attr-defined]
    _setup(postgres_s3_registry)
    _sweep(postgres_s3_registry, damage)
