# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""Metadata store conformance: alias rows that were edited, on every read of them.

The rows are written through the store's own write path (``set_alias``), then replaced
through the store's hook :meth:`~prodml.registry.MetadataStore._replace_alias_row` (the
stored name and version of one alias row, any objects). A store without that hook skips
these tests, naming it; a store whose columns cannot hold a damaged value (PostgreSQL's
typed columns) must refuse it, leaving the row as it was (checked).

Every read must either raise :class:`~prodml.errors.IntegrityError` (a direct read:
``get("m@alias")``, ``alias_version``, ``rollback``, ``promote``) or leave the row out
with an :class:`~prodml.registry.UnreadableRecordWarning` (``aliases()``, the model card,
the ``prodml registry`` listing), never quoting what the row holds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from prodml.errors import ConflictError, IntegrityError, NotFoundError, RegistryError
from prodml.registry import MetadataStore, ModelRegistry, UnreadableRecordWarning
from prodml.registry import _cli as cli
from prodml.testing.registry._common import _model, pytest

SECRET = "c0nfidential-alias-row"  # noqa: S105 - a marker never to be shown
HUGE = SECRET + "x" * 10_000_000

# name -> the stored (alias, version) of "production"; version 2 is deleted, 1 is live.
DAMAGE: dict[str, tuple[object, object]] = {
    "deleted version": ("production", 2),
    "missing version": ("production", 99),
    "version zero": ("production", 0),
    "negative version": ("production", -7),
    "version 2**40": ("production", 2**40),
    "version 2**70": ("production", 2**70),
    "text version": ("production", SECRET),
    "float version": ("production", 1.5),
    "huge version": ("production", HUGE),
    "invalid name": ("not an alias! " + SECRET, 1),
    "reserved name": ("latest", 1),
    "huge name": (HUGE, 1),
}


REFUSED = "refused by the store"
"""The damage the fixture reports when the store's columns cannot hold it."""


def _damage(store: MetadataStore, name: str, alias: str, raw: tuple[object, object]) -> bool:
    """Replace an alias row through the store's hook; False when its columns refuse it.

    A store without the hook skips, naming it.
    """
    try:
        store._replace_alias_row(name, alias, raw)
    except NotImplementedError as err:
        if "does not implement" in str(err):
            pytest.skip(
                f"{type(store).__name__} does not implement the "
                "MetadataStore._replace_alias_row hook (replace an alias's stored row), "
                "which these tests need to damage an alias row"
            )
        return False
    return True


def _unchanged(registry: ModelRegistry) -> None:
    """A damage the store could not hold left the row as it was, readable and quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registry.aliases("m") == {"production": 1, "staging": 3}
        assert registry.get("m@production").version == 1


def _clean(text: str) -> None:
    """A message fit to show: no stored value in it, and short."""
    assert SECRET not in text
    assert len(text) < 2_000


class AliasRowConformance:
    """An edited alias row: raised on a direct read, skipped by every listing."""

    @pytest.fixture
    def damaged(self, registry: ModelRegistry, request: Any) -> tuple[ModelRegistry, str]:
        for _ in range(3):
            registry.register("m", _model())
        registry.set_alias("m", "staging", 3)
        registry.set_alias("m", "production", 1)
        registry.delete("m", 2)
        kind: str = request.param
        if not _damage(registry.metadata, "m", "production", DAMAGE[kind]):
            return registry, REFUSED  # typed columns (PostgreSQL): the damage cannot exist
        return registry, kind

    @pytest.mark.parametrize("damaged", sorted(DAMAGE), indirect=True)
    def test_a_direct_read_raises(self, damaged: tuple[ModelRegistry, str]) -> None:
        registry, kind = damaged
        if kind == REFUSED:
            _unchanged(registry)
            return
        renamed = "name" in kind  # no row named production is left
        expected: type[Exception] = NotFoundError if renamed else IntegrityError
        reads: list[Callable[[], object]] = [
            lambda: registry.get("m@production"),
            lambda: registry.get("m", "production"),
            lambda: registry.metadata.alias_version("m", "production"),
            lambda: registry.load("m@production"),
            lambda: registry.card("m@production"),
            lambda: registry.rollback("m", "production"),
        ]
        if not renamed:  # promote creates a missing alias
            reads.append(lambda: registry.promote("m", "production", 3))
        for read in reads:
            with pytest.raises(expected) as info:
                read()
            _clean(str(info.value))
            assert isinstance(info.value, RegistryError)
            assert info.value.model_name == "m"
        assert registry.get("m@staging").version == 3

    @pytest.mark.parametrize("damaged", sorted(DAMAGE), indirect=True)
    def test_listings_skip_the_row_and_warn(self, damaged: tuple[ModelRegistry, str]) -> None:
        registry, kind = damaged
        if kind == REFUSED:
            _unchanged(registry)
            return
        with pytest.warns(UnreadableRecordWarning) as caught:
            got = registry.aliases("m")
        assert got == {"staging": 3}
        assert len(caught) == 1
        _clean(str(caught[0].message))
        assert "model m" in str(caught[0].message)
        assert caught[0].filename == __file__  # the caller's line, not prodml's

        with pytest.warns(UnreadableRecordWarning) as caught:
            card = registry.card("m@staging")
        assert [str(w.message) for w in caught] == [
            f"skipped an unreadable record: {_problem(registry)}"
        ]
        for text in (card.to_markdown(), card.to_json(), card.to_html()):
            assert SECRET not in text
            assert "production" not in text.split("Aliases")[-1][:200]

        with warnings.catch_warnings(record=True) as listed:
            warnings.simplefilter("always")
            models = cli._models(registry)
            versions = cli._versions(registry, "m")
        assert models == [{"model": "m", "latest": 3, "aliases": {"staging": 3}}]
        assert [(r["version"], r["aliases"]) for r in versions] == [(3, ["staging"]), (1, [])]
        assert [w.category for w in listed] == [UnreadableRecordWarning] * 2
        for w in listed:
            _clean(str(w.message))

    @pytest.mark.parametrize("damaged", sorted(DAMAGE), indirect=True)
    def test_set_alias_repairs_the_row(self, damaged: tuple[ModelRegistry, str]) -> None:
        registry, kind = damaged
        if kind == REFUSED:
            _unchanged(registry)
            return
        registry.set_alias("m", "production", 3)  # last writer wins over any stored row
        assert registry.get("m@production").version == 3
        registry.delete_alias("m", "staging")
        if "name" in kind:  # the row under another name stays, and stays skipped
            with pytest.warns(UnreadableRecordWarning):
                assert registry.aliases("m") == {"production": 3}
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert registry.aliases("m") == {"production": 3}
        events = registry.metadata.history("m", "production")  # every event readable
        assert (events[-1].action, events[-1].version) == ("set_alias", 3)

    @pytest.mark.parametrize("damaged", sorted(k for k in DAMAGE if "name" in k), indirect=True)
    def test_deleting_the_rows_version_is_refused_without_quoting_it(
        self, damaged: tuple[ModelRegistry, str]
    ) -> None:
        registry, kind = damaged  # the row under an edited name points at version 1
        if kind == REFUSED:
            _unchanged(registry)
            return
        with pytest.raises(ConflictError, match="1 stored name that is not an alias name") as info:
            registry.delete("m", 1)
        _clean(str(info.value))
        assert registry.get("m@1").status == "ready"


def _problem(registry: ModelRegistry) -> str:
    """The message of the one unreadable alias row of ``m``."""
    with pytest.warns(UnreadableRecordWarning) as caught:
        registry.aliases("m")
    return str(caught[0].message).removeprefix("skipped an unreadable record: ")
