"""``search`` page tokens: keyset positions that stay right under writes, and hostile input.

Every backend (memory, SQLite, PostgreSQL) runs the same tests: a property test that
interleaves registrations, deletions, archives and alias moves with page reads (every
version that existed throughout appears exactly once, in order), and tokens that are not
ours, altered, from another query, of an older prodml, or forged with a valid checksum
(a ConfigError naming the token without quoting it, never a backend error).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, ConflictError
from prodml.registry import ModelRegistry
from prodml.registry.backends._page_token import (
    MAX_TOKEN,
    _checksum,
    parse_search_token,
    query_fingerprint,
    search_token,
)
from prodml.registry.backends._records import VersionQuery
from prodml.schema import Column, Schema

BACKENDS = ["memory", "sqlite", "postgres"]
NAMES = ["a", "b", "c"]


@pytest.fixture(params=BACKENDS)
def open_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], ModelRegistry]]:
    """Make fresh, empty registries on one metadata backend (closed after the test)."""
    made: list[ModelRegistry] = []

    def make() -> ModelRegistry:
        if request.param == "memory":
            db = "memory://"
        elif request.param == "sqlite":
            db = f"sqlite:///{tmp_path_factory.mktemp('db')}/r.db"
        else:
            db = request.getfixturevalue("postgres_schema")()
        reg = ModelRegistry(db, f"memory://{uuid.uuid4().hex}", actor="t")
        made.append(reg)
        return reg

    yield make
    for reg in made:
        reg.close()


def _model() -> Schema:
    return Schema([Column("x", "float")])


def _order(ref: tuple[str, int]) -> tuple[str, int]:
    """The search order: by name, then newest version first."""
    return ref[0], -ref[1]


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.just(0)),
        st.tuples(st.just("register"), st.integers(0, len(NAMES) - 1)),
        st.tuples(st.sampled_from(["delete", "archive", "alias"]), st.integers(0, 99)),
    ),
    max_size=25,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start=st.lists(st.tuples(st.sampled_from(NAMES), st.booleans()), min_size=1, max_size=9),
    ops=OPS,
    page_size=st.integers(1, 4),
    tagged_only=st.booleans(),
    include_archived=st.booleans(),
)
def test_rows_that_exist_throughout_appear_once_in_order(
    open_registry: Callable[[], ModelRegistry],
    *,
    start: list[tuple[str, bool]],
    ops: list[tuple[str, int]],
    page_size: int,
    tagged_only: bool,
    include_archived: bool,
) -> None:
    reg = open_registry()
    tags = {"t": "x"} if tagged_only else None

    def add(name: str, tagged: bool) -> tuple[str, int]:
        mv = reg.register(name, _model(), tags={"t": "x"} if tagged else {}, environment=False)
        return mv.name, mv.version

    matching = {add(n, t) for n, t in start if t or not tagged_only}
    live = sorted(matching)  # versions that may be deleted, archived or aliased
    throughout = set(matching)  # ... and those that never were (nor left the filter)
    seen: list[tuple[str, int]] = []
    token: str | None = None
    done = False

    def read() -> None:
        nonlocal token, done
        page = reg.search(
            tags=tags, include_archived=include_archived, page_size=page_size, page_token=token
        )
        assert len(page.items) <= page_size
        assert not page.problems
        seen.extend((mv.name, mv.version) for mv in page.items)
        token = page.next_token
        done = token is None

    for op, arg in [*ops, ("read", 0)]:
        if op == "read" and not done:
            read()
        elif op == "register":
            ref = add(NAMES[arg], arg % 2 == 0)
            live.append(ref)
        elif live and op in ("delete", "archive", "alias"):
            name, version = live[arg % len(live)]
            try:
                if op == "alias":
                    reg.set_alias(name, "prod", version)
                    continue
                getattr(reg, op)(name, version)
            except ConflictError:  # an alias points at it, or it cannot take one: unchanged
                continue
            if op == "delete" or not include_archived:
                throughout.discard((name, version))
            if op == "delete":
                live.remove((name, version))
    while not done:
        read()
    assert seen == sorted(seen, key=_order)
    assert len(seen) == len(set(seen)), "a row appeared twice"
    assert throughout <= set(seen), "a row that existed throughout was skipped"


def _first_token(reg: ModelRegistry, **filters: Any) -> str:
    for _ in range(3):
        reg.register("m", _model(), tags={"t": "x"}, environment=False)
    token = reg.search("m", page_size=1, **filters).next_token
    assert token is not None
    return token


def _forge(payload: object) -> str:
    """A token with a valid checksum around ``payload`` (what a forger can make).

    A ``str`` payload is the JSON text itself.
    """
    text = payload if isinstance(payload, str) else json.dumps(payload)
    body = base64.urlsafe_b64encode(text.encode()).decode()
    return f"s2.{body}.{_checksum(body)}"


def _refused(reg: ModelRegistry, token: object, match: str, **filters: Any) -> str:
    with pytest.raises(ConfigError, match=match) as info:
        reg.search("m", page_token=token, **filters)  # type: ignore[arg-type]
    assert info.value.parameter == "page_token"
    message = str(info.value)
    if isinstance(token, str) and len(token) > 1:
        assert token not in message, "the token was quoted whole"
    return message


def test_a_token_reads_back_on_its_query(open_registry: Callable[[], ModelRegistry]) -> None:
    reg = open_registry()
    token = _first_token(reg, tags={"t": "x"})
    page = reg.search("m", tags={"t": "x"}, page_size=5, page_token=token)
    assert [mv.version for mv in page] == [2, 1]
    assert page.next_token is None


def test_a_token_from_another_query_is_refused(open_registry: Callable[[], ModelRegistry]) -> None:
    reg = open_registry()
    token = _first_token(reg, tags={"t": "x"})
    for filters in (
        {},
        {"tags": {"t": "y"}},
        {"tags": {"t": "x"}, "include_archived": False},
        {"tags": {"t": "x"}, "min_metrics": {"auc": 0.5}},
    ):
        _refused(reg, token, "other filters", **filters)
    with pytest.raises(ConfigError, match="other filters"):
        reg.search("n", tags={"t": "x"}, page_token=token)


def test_an_altered_or_truncated_token_is_refused(
    open_registry: Callable[[], ModelRegistry],
) -> None:
    reg = open_registry()
    token = _first_token(reg)
    body = token[3 : token.rindex(".")]
    flipped = body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:]
    for bad in (token[:-1], token[:20], token.replace(body, flipped), token + "0"):
        _refused(reg, bad, "altered or truncated")


@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("m@2", "older prodml"),
        ("m@2+1", "older prodml"),
        ("+3", "older prodml"),
        ("x1", "not a token returned by search"),
        ("", "not a token returned by search"),
        ("s2.", "altered or truncated"),
        ("s2." + "A" * (MAX_TOKEN + 10), "not a token returned by search"),
        ("s2.é.0", "not a token returned by search"),
        (123, "not a token returned by search"),
        (b"s2.", "not a token returned by search"),
    ],
)
def test_tokens_that_are_not_ours_are_refused(
    open_registry: Callable[[], ModelRegistry], token: object, match: str
) -> None:
    reg = open_registry()
    reg.register("m", _model(), environment=False)
    message = _refused(reg, token, match)
    assert "page_token" in message


def _forged_payloads(fingerprint: str) -> list[object]:
    return [
        {"name": "m"},
        [],
        ["m", 1, 0],
        ["m", 1, 0, fingerprint, 5],
        ["m", 2**70, 0, fingerprint],
        ["m", 2**31, 0, fingerprint],  # past PostgreSQL's INTEGER
        ["m", -(2**70), 0, fingerprint],
        ["m", True, 0, fingerprint],
        ["m", 1.5, 0, fingerprint],
        ["m", float("nan"), 0, fingerprint],
        ["m", "1", 0, fingerprint],
        ["m\x00", 1, 0, fingerprint],
        ["m\ud800", 1, 0, fingerprint],
        ["m" * 100_000, 1, 0, fingerprint],
        [["m"], 1, 0, fingerprint],
        ["m", 1, -1, fingerprint],
        ["m", 1, 10**7, fingerprint],
        ["m", 1, None, fingerprint],
        [None, 1, 0, fingerprint],
        ["n", 1, 0, fingerprint],  # another name than the query's
        ["m", 1, 0, None],
        "[" * 1000 + "]" * 1000,  # nested deeper than the JSON decoder recurses
        '["m", 1' + "9" * 600 + ', 0, "x"]',  # an int too long to convert
    ]


def test_forged_tokens_with_a_valid_checksum_are_config_errors(
    open_registry: Callable[[], ModelRegistry],
) -> None:
    """A forger can recompute the checksum; every field is still checked, on every store."""
    reg = open_registry()
    reg.register("m", _model(), environment=False)
    fingerprint = query_fingerprint(VersionQuery(name="m", statuses=("ready", "archived")))
    for payload in _forged_payloads(fingerprint):
        _refused(reg, _forge(payload), "page_token")
    # a position the store never held is a valid place to start: it selects by value
    page = reg.search("m", page_token=_forge(["m", 2**31 - 1, 0, fingerprint]))
    assert [mv.version for mv in page] == [1]


@given(name=st.text(max_size=40), version=st.integers(-(2**31), 2**31 - 1))
def test_every_stored_key_round_trips_through_a_token(name: str, version: int) -> None:
    """Edited rows' keys (any text, any 32-bit int) make tokens that read back."""
    query = VersionQuery(tags={"t": "x"})
    if "\x00" in name or any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        return  # no store holds these (PostgreSQL refuses NUL; drivers refuse surrogates)
    token = search_token([], (name, version), 0, query)
    assert parse_search_token(token, query) == ((name, version), 0)
    assert token.isascii()
    assert len(token) < MAX_TOKEN
