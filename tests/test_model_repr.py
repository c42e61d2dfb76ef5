"""Schema, Column and the store's definitions show the fields that differ from defaults."""

from __future__ import annotations

from hypothesis import given, settings

from prodml.schema import Column, LogicalType, Schema
from prodml.store import Entity
from prodml.testing.strategies import columns


def test_a_column_shows_what_was_set_and_its_type_as_written() -> None:
    assert repr(Column("age", "int", min=0)) == "Column(name='age', dtype='int', min=0.0)"
    assert repr(Column("t", "datetime", nullable=False, timezone="UTC")) == (
        "Column(name='t', dtype='datetime', nullable=False, timezone='UTC')"
    )
    schema = Schema([Column("plan", "category", allowed=["a", "b"])], strict=True)
    assert repr(schema) == (
        "Schema(columns=(Column(name='plan', dtype='category', allowed=('a', 'b')),), strict=True)"
    )


def test_a_value_equal_to_the_default_in_another_type_is_shown() -> None:
    # 0 == False and 1.0 == 1: a field is hidden only when it is the default itself.
    assert "sensitive" not in repr(Column("x", "float", sensitive=False))
    assert "sensitive=True" in repr(Column("x", "float", sensitive=True))


def test_store_definitions_share_the_short_form() -> None:
    text = repr(Entity(name="customer", keys=["customer_id"]))
    assert text.startswith("Entity(name='customer', keys=")
    assert "description" not in text


@settings(max_examples=60, deadline=None)
@given(columns())
def test_the_repr_of_a_column_rebuilds_it(col: Column) -> None:
    namespace = {"Column": Column, "LogicalType": LogicalType}
    assert eval(repr(col), namespace) == col  # noqa: S307 - our own repr, in a test


def test_an_error_lists_ten_problems_then_counts_the_rest() -> None:
    import pytest

    from prodml.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        Schema(columns=[{"name": i} for i in range(5_000)])  # every name and dtype wrong
    text = str(info.value)
    assert text.count("columns.") == 10
    assert text.endswith("more")
    assert len(text) < 2_000
