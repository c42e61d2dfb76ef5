"""What kind of data a value or a column holds, and the problem when it is not the one expected.

:func:`column_kind` reads the logical kind of a pandas or arrow column (see
:mod:`prodml._data` for the kinds); :func:`type_problem` words a column whose kind does
not fit, showing its first offending value (redacted when it looks personal);
:func:`type_name` and :func:`py_value` name and unwrap single values. Every name here is
also importable from :mod:`prodml._data`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import numbers
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from prodml._zones import canonical_arrow
from prodml.errors import SchemaError, SchemaProblem
from prodml.privacy import redact

__all__ = [
    "ACCEPTS",
    "KindInfo",
    "RawColumn",
    "column_kind",
    "decoded_dictionary",
    "encoded_values",
    "py_value",
    "text_categories",
    "text_dictionary",
    "type_name",
    "type_problem",
    "value_categories",
]

RawColumn: TypeAlias = "pd.Series | pa.ChunkedArray | pa.Array"

ACCEPTS: dict[str, frozenset[str]] = {
    "float": frozenset({"float", "int", "null"}),
    "int": frozenset({"int", "null"}),
    "bool": frozenset({"bool", "null"}),
    "string": frozenset({"string", "category", "null"}),
    "category": frozenset({"string", "category", "null"}),
    "datetime": frozenset({"datetime", "null"}),
}
"""Declared type (a ``LogicalType`` value) -> the kinds of values it takes, for a column
(:func:`column_kind`) and for one record value alike; an ``int`` column's float values
are then judged one by one (integral or not)."""


def type_name(value: object) -> str:
    """Short, user-facing name of a value's type (``'str'``, ``'numpy.float32'``)."""
    t = type(value)
    mod = t.__module__
    if mod == "builtins":
        return t.__qualname__
    return f"{mod.split('.')[0]}.{t.__qualname__}"


def py_value(value: object) -> object:
    """A numpy scalar as the equivalent Python value, for messages; others unchanged."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class KindInfo:
    """The logical kind of a column, and for ``"mixed"`` the first value that broke it."""

    kind: str
    example: object = None
    row: int | None = None
    uniform: bool = False
    """For ``"mixed"``: every non-null value is of the example's (unsupported) type."""


# numpy dtypes whose kind the dtype alone says, as the pandas checks below decide them.
_NUMPY_KINDS = {
    "b": KindInfo("bool"),
    "f": KindInfo("float"),
    "i": KindInfo("int"),
    "u": KindInfo("int"),
    "M": KindInfo("datetime"),
}
_NUMERIC_INFERRED = {"floating", "integer", "mixed-integer-float", "decimal"}


def column_kind(raw: RawColumn) -> KindInfo:
    """Infer the logical kind of a pandas or arrow column from its type (and values)."""
    if isinstance(raw, pd.Series):
        return _pandas_kind(raw)
    if pa.types.is_dictionary(raw.type) and _no_values(raw):
        return KindInfo("category")
    return _arrow_kind(raw.type)


def _arrow_kind(t: pa.DataType) -> KindInfo:
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return KindInfo("float")
    if pa.types.is_integer(t):
        return KindInfo("int")
    if pa.types.is_boolean(t):
        return KindInfo("bool")
    if pa.types.is_dictionary(t):
        return _dictionary_kind(t)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(t):
        return KindInfo("string")
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return KindInfo("datetime")
    if pa.types.is_null(t):
        return KindInfo("null")
    return KindInfo("mixed", example=str(t))


def _dictionary_kind(t: pa.DictionaryType) -> KindInfo:
    """A dictionary of text (or of nothing) is a ``category``; any other, its values' kind.

    ``pq.read_table`` of a hive-partitioned folder reads ``year=2024`` as a dictionary of
    int32: the column holds integers, encoded, and :class:`prodml._data.Columns` decodes
    it (:func:`decoded_dictionary`) for every reader.
    """
    vt = t.value_type
    if pa.types.is_string(vt) or pa.types.is_large_string(vt) or _is_string_view(vt):
        return KindInfo("category")
    if pa.types.is_null(vt):  # an all-null categorical of pandas arrives so: no values
        return KindInfo("category")
    found = _arrow_kind(vt)
    return KindInfo("mixed", example=str(t)) if found.kind == "mixed" else found


def text_dictionary(t: pa.DataType) -> bool:
    """Whether ``t`` is a dictionary type whose values are text (or null): a ``category``."""
    return pa.types.is_dictionary(t) and _dictionary_kind(t).kind == "category"


def _no_values(raw: pa.ChunkedArray | pa.Array) -> bool:
    """Whether every chunk (one at least) of a dictionary column has an empty dictionary.

    A ``category`` with no categories: how arrow reads an all-null pandas ``Categorical``
    (``dictionary<values=double>``, whatever the categories were).
    """
    chunks = raw.chunks if isinstance(raw, pa.ChunkedArray) else [raw]
    return bool(chunks) and all(len(c.dictionary) == 0 for c in chunks)


def encoded_values(raw: pa.ChunkedArray) -> bool:
    """Whether ``raw`` is a dictionary column of ints, bools, datetimes (no text).

    It is a column of those values, which :func:`decoded_dictionary` gives.
    """
    t = raw.type
    return pa.types.is_dictionary(t) and not text_dictionary(t) and not _no_values(raw)


def decoded_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary column as its values' own type, chunk by chunk.

    Each chunk is decoded through its own dictionary: a cast of the whole column unifies
    the chunks' dictionaries, which pyarrow cannot do when one holds a null (the chunk of
    a ``__HIVE_DEFAULT_PARTITION__`` folder).
    """
    vt = column.type.value_type
    return pa.chunked_array([c.dictionary.take(c.indices) for c in column.chunks], type=vt)


def value_categories(dtype: pd.CategoricalDtype) -> bool:
    """Whether a pandas ``Categorical``'s categories are numbers, bools or datetimes.

    ``pd.read_parquet(folder)`` reads a hive partition ``year=2024`` so, with int32
    categories. A :class:`prodml._data.Columns` view made with ``categorical_values``
    (schemas and feature pipelines read through one) hands such a column out as its
    values, as it does an arrow dictionary of them. Categories of text or of objects,
    timedeltas, or none at all (an all-null ``Categorical`` has no categories) are not
    values: such a column stays a ``category`` for every reader.
    """
    cats = dtype.categories
    if cats is None or len(cats) == 0:
        return False
    held = cats.dtype
    if isinstance(held, pd.DatetimeTZDtype) or (isinstance(held, np.dtype) and held.kind == "M"):
        return True
    # numpy bools, ints, unsigned ints and floats; a nullable or arrow dtype of them too.
    return isinstance(held, np.dtype | pd.api.extensions.ExtensionDtype) and (
        pd.api.types.is_bool_dtype(held)
        or (pd.api.types.is_numeric_dtype(held) and getattr(held, "kind", "") in "iuf")
    )


def _pandas_kind(s: pd.Series) -> KindInfo:
    dtype = s.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in _NUMPY_KINDS:  # no pandas dtype calls
        return _NUMPY_KINDS[dtype.kind]
    if isinstance(dtype, pd.CategoricalDtype):
        return KindInfo("category")
    if isinstance(dtype, pd.StringDtype):
        return KindInfo("string")
    if isinstance(dtype, pd.ArrowDtype):
        if pa.types.is_dictionary(dtype.pyarrow_dtype):
            return column_kind(_held_arrow(s))
        return _arrow_kind(dtype.pyarrow_dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return KindInfo("bool")
    if pd.api.types.is_float_dtype(dtype):
        return KindInfo("float")
    if pd.api.types.is_integer_dtype(dtype):
        return KindInfo("int")
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return KindInfo("datetime")
    if not pd.api.types.is_object_dtype(dtype):
        return KindInfo("mixed", example=str(dtype))
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    if inferred == "empty":
        return KindInfo("null")
    if inferred == "string":
        return KindInfo("string")
    if inferred == "integer":
        return KindInfo("int")
    if inferred in _NUMERIC_INFERRED:
        return KindInfo("float")
    if inferred == "boolean":
        return KindInfo("bool")
    if inferred in ("datetime", "datetime64", "date"):
        return KindInfo("datetime")
    # Mixed: report the first value whose type differs from the first non-null value's.
    values = s.to_numpy()
    first_kind: str | None = None
    first = 0
    for i, v in enumerate(values):
        k = _scalar_kind(v)
        if k == "null":
            continue
        if first_kind is None:
            first_kind, first = k, i
        elif k != first_kind and {k, first_kind} != {"int", "float"}:
            return KindInfo("mixed", example=py_value(v), row=i)
    if first_kind in ("int", "float"):
        return KindInfo("float")  # numbers of several types (floats and Decimals, say)
    if first_kind == "datetime":  # datetimes with numpy.datetime64s, which pandas calls mixed
        return KindInfo("datetime")
    # One type throughout, none prodml reads (bytes, dicts, lists): shown is the first
    # value of it, not the column's first entry, which may be a null.
    example = py_value(values[first]) if len(values) else None
    return KindInfo("mixed", example=example, row=first, uniform=True)


def _scalar_kind(v: object) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return "null"
    if isinstance(v, bool | np.bool_):
        return "bool"
    if isinstance(v, numbers.Integral):
        return "int"
    if isinstance(v, float | np.floating):
        return "null" if np.isnan(v) else "float"
    if isinstance(v, numbers.Real | decimal.Decimal):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, _dt.date | np.datetime64):
        return "datetime"
    return type_name(v)


def text_categories(raw: RawColumn) -> bool:
    """Whether a ``"category"`` column's categories are text (or there are none).

    A pandas ``Categorical``, an arrow dictionary column, or a pandas column of an arrow
    dictionary type (``pd.read_parquet(..., dtype_backend="pyarrow")``). prodml's
    ``category`` is text: categories of ints, bools or datetimes are not one.
    """
    if isinstance(raw, pd.Series) and isinstance(raw.dtype, pd.CategoricalDtype):
        cats = raw.cat.categories
        return len(cats) == 0 or pd.api.types.infer_dtype(cats, skipna=True) == "string"
    if isinstance(raw, pd.Series):
        raw = _held_arrow(raw)
    if text_dictionary(raw.type):  # text, or nulls only: an arrow dictionary of another
        return True  # type is no category (it is its values' kind: _dictionary_kind)
    # An all-null pandas categorical arrives with an empty dictionary of any value type.
    chunks = raw.chunks if isinstance(raw, pa.ChunkedArray) else [raw]
    return all(len(c.dictionary) == 0 for c in chunks)


def _held_arrow(raw: pd.Series) -> pa.ChunkedArray | pa.Array:
    """The arrow data a pandas column of an arrow type holds (no copy)."""
    held = getattr(raw.array, "__arrow_array__", None)
    return held() if held is not None else pa.array(raw.array)


def _is_string_view(t: pa.DataType) -> bool:
    return bool(getattr(pa.types, "is_string_view", lambda _: False)(t))


def type_problem(
    name: str, expected: str, raw: RawColumn, kind: KindInfo, *, sensitive: bool = False
) -> SchemaProblem:
    """The problem of a column whose kind does not fit ``expected``, showing a value.

    The value is redacted when the column is ``sensitive`` or the value looks personal.
    """
    if kind.kind == "mixed" and kind.row is None:
        return SchemaProblem(
            name, "type", f"expected {expected}, got unsupported type {kind.example}"
        )
    if kind.kind == "mixed":
        example, row = kind.example, kind.row
    else:
        example, row = _first_non_null(raw)
    if row is None:
        return SchemaProblem(name, "type", f"expected {expected}, got {kind.kind} values")
    return SchemaProblem(
        name,
        "type",
        f"expected {expected}, got {type_name(example)} {redact(example, sensitive=sensitive)}",
        row,
    )


def _type_error(name: str, expected: str, raw: RawColumn, kind: KindInfo) -> SchemaError:
    return SchemaError(problems=[type_problem(name, expected, raw, kind)])


def _first_non_null(raw: RawColumn) -> tuple[object, int | None]:
    if isinstance(raw, pd.Series):
        mask = raw.notna().to_numpy()
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return None, None
        return py_value(raw.iloc[int(idx[0])]), int(idx[0])
    offset = 0
    chunks = raw.chunks if isinstance(raw, pa.ChunkedArray) else [raw]
    for chunk in chunks:
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(valid)
        if idx.size:
            return _arrow_py(chunk, int(idx[0])), offset + int(idx[0])
        offset += len(chunk)
    return None, None


def _arrow_py(chunk: pa.Array, i: int) -> object:
    """Value ``i`` of an arrow array as Python; a zone no tz database holds shown in UTC."""
    value = chunk[i]
    if not hasattr(value, "as_py"):  # pragma: no cover - every arrow scalar has it
        return value
    try:
        return value.as_py()
    except (pa.ArrowException, KeyError):
        t = chunk.type
        if not (pa.types.is_timestamp(t) and t.tz is not None):
            raise
    one = chunk.slice(i, 1)
    canonical = canonical_arrow(one)  # '+0530', 'Z', 'utc': arrow reads '+05:30', 'UTC'
    if canonical is not one:
        with contextlib.suppress(pa.ArrowException, KeyError):
            return canonical[0].as_py()
    # The zone's rules are needed for its wall-clock time; the instant is shown in UTC.
    naive = one.cast(pa.timestamp(t.unit))[0].as_py()
    return naive.replace(tzinfo=_dt.timezone.utc)
