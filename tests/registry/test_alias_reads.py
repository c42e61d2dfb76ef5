"""How many store reads an alias costs, for a store that implements only ``_aliases``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from prodml.cli import main
from prodml.errors import IntegrityError
from prodml.registry import ModelRegistry, UnreadableRecordWarning
from prodml.registry.backends._alias_reads import AliasReads
from prodml.registry.backends.memory import MemoryMetadataStore
from prodml.registry.backends.sql import SQLMetadataStore
from prodml.schema import Column, Schema

READS = ("_aliases", "_version_records", "_query_versions", "_events")


class OnlyAliases(MemoryMetadataStore):
    """A third-party-like store: the primitives only, no ``_alias_rows`` of its own."""

    _alias_rows = AliasReads._alias_rows

    def __init__(self) -> None:
        super().__init__("memory://")
        self.calls: Counter[str] = Counter()

    def __getattribute__(self, attr: str) -> Any:
        if attr in READS:
            object.__getattribute__(self, "calls")[attr] += 1
        return object.__getattribute__(self, attr)


@pytest.fixture
def registry() -> Any:
    store = OnlyAliases()
    reg = ModelRegistry(store, "memory://alias-reads-" + str(id(store)), actor="alice")
    for _ in range(3):
        reg.register("m", Schema([Column("x", "float")]))
    reg.set_alias("m", "production", 2)
    reg.set_alias("m", "staging", 3)
    yield reg
    reg.close()


def test_get_by_alias_costs_one_alias_read_and_one_version_read(registry: Any) -> None:
    registry.metadata.calls.clear()
    assert registry.get("m@production").version == 2
    # Was 3: the version read once to check it exists, then again to return it.
    assert registry.metadata.calls == Counter({"_aliases": 1, "_version_records": 1})


def test_the_cheap_path_still_checks_the_row(registry: Any) -> None:
    registry.metadata._replace_alias_row("m", "production", ("production", 9))
    with pytest.raises(IntegrityError, match="version 9, which does not exist"):
        registry.get("m@production")
    registry.metadata._replace_alias_row("m", "production", ("production", "3"))
    with pytest.raises(IntegrityError, match="not a version number"):
        registry.get("m@production")


def test_a_listing_reads_each_aliased_version_once(registry: Any) -> None:
    registry.metadata.calls.clear()
    assert registry.aliases("m") == {"production": 2, "staging": 3}
    # One existence read per alias: a store answers in one read by overriding _alias_rows.
    assert registry.metadata.calls == Counter({"_aliases": 1, "_version_records": 2})


def test_the_cli_listing_warns_about_an_edited_row_without_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = ModelRegistry.local(tmp_path / "reg")
    secret = "c0nfidential" + "y" * 100_000
    try:
        reg.register("m", Schema([Column("x", "float")]))
        reg.set_alias("m", "production", 1)
        reg.set_alias("m", "staging", 1)
        store = reg.metadata
        assert isinstance(store, SQLMetadataStore)
        store._replace_alias_row("m", "production", ("production", secret))
    finally:
        reg.close()
    for args in (["registry", str(tmp_path / "reg")], ["registry", str(tmp_path / "reg"), "m"]):
        assert main([*args, "--json"]) == 0
        out, err = capsys.readouterr()
        assert "staging" in out
        assert "production" not in out
        assert "alias 'production' of model m" in err
        assert "c0nfidential" not in out + err
    with pytest.warns(UnreadableRecordWarning):
        ModelRegistry.local(tmp_path / "reg").aliases("m")


def test_a_store_without_the_hook_skips_naming_it() -> None:
    from prodml.registry.backends.metadata import MetadataStore
    from prodml.testing.registry._alias_rows import _damage

    class NoHook(MemoryMetadataStore):
        _replace_alias_row = MetadataStore._replace_alias_row

    with pytest.raises(
        pytest.skip.Exception,
        match=r"NoHook does not implement the "
        r"MetadataStore\._replace_alias_row hook",
    ):
        _damage(NoHook("memory://"), "m", "production", ("production", 1))
    # A damage the store cannot hold is no skip: the suite checks the row is unchanged.
    store = MemoryMetadataStore("memory://")
    assert _damage(store, "m", "production", ([1], 1)) is False
