"""Hypothesis strategies for prodml schemas, tables and records.

Use them to property-test code built on prodml (needs the ``test`` extra)::

    from hypothesis import given
    from prodml.testing.strategies import tables


    @given(tables())
    def test_my_transform_keeps_rows(df): ...

Every table strategy draws a :class:`~prodml.schema.Schema` first and then data that
satisfies it, so ``schema.validate(table)`` always passes; nulls appear only in nullable
columns. Floats are finite (no inf) unless ``allow_inf=True``.

Examples
--------
>>> from hypothesis import given, settings
>>> from prodml.testing.strategies import schemas_and_tables
>>> @settings(max_examples=5, derandomize=True)
... @given(schemas_and_tables())
... def check(pair):
...     schema, df = pair
...     schema.validate(df)
>>> check()
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from prodml._extras import require
from prodml._zones import canonical_zone
from prodml.schema import Column, LogicalType, Schema

if TYPE_CHECKING:  # typed for users' checkers; at run time, a clear error without the extra
    import hypothesis.strategies as _st
    from hypothesis.strategies import SearchStrategy
else:
    _st = require("hypothesis.strategies", extra="test", feature="prodml.testing.strategies")

__all__ = [
    "chunkings",
    "column_names",
    "columns",
    "records",
    "schemas",
    "schemas_and_tables",
    "split_table",
    "tables",
]

_TYPES = [t.value for t in LogicalType]
_EPOCH_NS = 946_684_800_000_000_000  # 2000-01-01
_SPAN_NS = 40 * 365 * 86_400 * 1_000_000_000


def column_names() -> SearchStrategy[str]:
    """Short lowercase identifiers, the shape of real column names."""
    return _st.text(string.ascii_lowercase, min_size=1, max_size=6)


@_st.composite
def columns(draw: Any, *, types: Sequence[str] = _TYPES, name: str | None = None) -> Column:
    """A :class:`~prodml.schema.Column` of one of ``types``."""
    dtype = draw(_st.sampled_from(list(types)))
    return Column(
        name if name is not None else draw(column_names()),
        dtype,
        nullable=draw(_st.booleans()),
        timezone=draw(_st.sampled_from([None, "UTC", "Europe/Paris"]))
        if dtype == "datetime"
        else None,
    )


@_st.composite
def schemas(
    draw: Any, *, min_columns: int = 1, max_columns: int = 6, types: Sequence[str] = _TYPES
) -> Schema:
    """A :class:`~prodml.schema.Schema` with unique column names."""
    names = draw(_st.lists(column_names(), min_size=min_columns, max_size=max_columns, unique=True))
    return Schema([draw(columns(types=types, name=n)) for n in names])


def _values(col: Column, n: int, allow_inf: bool) -> Any:
    null = _st.none() if col.nullable else _st.nothing()
    if col.dtype is LogicalType.FLOAT:
        base = _st.floats(allow_nan=False, allow_infinity=allow_inf, width=64)
    elif col.dtype is LogicalType.INT:
        base = _st.integers(-(2**40), 2**40)
    elif col.dtype is LogicalType.BOOL:
        base = _st.booleans()
    elif col.dtype is LogicalType.DATETIME:
        base = _st.integers(_EPOCH_NS, _EPOCH_NS + _SPAN_NS)
    else:
        base = _st.sampled_from(["a", "b", "c", "dd", "é", "x y", ""])
    return _st.lists(_st.one_of(base, null), min_size=n, max_size=n)


def _series(col: Column, values: list[Any]) -> pd.Series:
    if col.dtype is LogicalType.FLOAT:
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    if col.dtype is LogicalType.INT:
        if any(v is None for v in values):
            return pd.Series(values, dtype="Int64")
        return pd.Series(values, dtype="int64")
    if col.dtype is LogicalType.BOOL:
        if any(v is None for v in values):
            return pd.Series(values, dtype="boolean")
        return pd.Series(values, dtype=bool)
    if col.dtype is LogicalType.DATETIME:
        stamps = np.array(["NaT" if v is None else v for v in values], dtype="datetime64[ns]")
        s = pd.Series(stamps)
        return s.dt.tz_localize(canonical_zone(col.timezone)) if col.timezone else s
    if col.dtype is LogicalType.CATEGORY:
        return pd.Series(values, dtype="category")
    return pd.Series(values, dtype=object)


@_st.composite
def schemas_and_tables(
    draw: Any,
    *,
    schema: Schema | None = None,
    min_rows: int = 0,
    max_rows: int = 30,
    allow_inf: bool = False,
) -> tuple[Schema, pd.DataFrame]:
    """A schema and a pandas DataFrame valid for it."""
    if schema is None:
        schema = draw(schemas())
    n = draw(_st.integers(min_rows, max_rows))
    data = {c.name: _series(c, draw(_values(c, n, allow_inf))) for c in schema.columns}
    return schema, pd.DataFrame(data, index=pd.RangeIndex(n))


@_st.composite
def tables(
    draw: Any,
    *,
    schema: Schema | None = None,
    min_rows: int = 0,
    max_rows: int = 30,
    kind: str = "pandas",
) -> pd.DataFrame | pa.Table:
    """A table valid for ``schema`` (drawn when not given), as pandas or arrow."""
    _, df = draw(schemas_and_tables(schema=schema, min_rows=min_rows, max_rows=max_rows))
    if kind == "arrow":
        return pa.Table.from_pandas(df, preserve_index=False)
    return df


@_st.composite
def records(draw: Any, *, schema: Schema | None = None) -> dict[str, Any]:
    """A single dict record valid for ``schema`` (plain Python values, None for nulls)."""
    _, df = draw(schemas_and_tables(schema=schema, min_rows=1, max_rows=1))
    out: dict[str, Any] = {}
    for name in df.columns:
        v = df[name].iloc[0]
        out[str(name)] = None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)
    return out


@_st.composite
def chunkings(draw: Any, n_rows: int, *, max_chunks: int = 5) -> list[int]:
    """Sorted cut points splitting ``n_rows`` rows into chunks (empty chunks allowed)."""
    cuts = draw(_st.lists(_st.integers(0, n_rows), max_size=max_chunks - 1))
    return sorted(cuts)


def split_table(table: pd.DataFrame | pa.Table, cuts: Sequence[int]) -> list[Any]:
    """Split a table at ``cuts`` (from :func:`chunkings`) into consecutive chunks."""
    bounds = itertools.pairwise([0, *cuts, len(table)])
    if isinstance(table, pd.DataFrame):
        return [table.iloc[a:b] for a, b in bounds]
    return [table.slice(a, b - a) for a, b in bounds]
