"""The table path of :meth:`prodml.schema.Schema.validate`: every problem of one column.

:func:`_column_problems` checks a column of a table (pandas or arrow, as
:class:`~prodml._data.Columns` reads it) against its :class:`~prodml.schema.Column`: the
type (with the rules the schema module states), nulls, the numeric range (integers compared
exactly) and the allowed values; the helpers below it word each problem. A dict record
that is certainly clean never gets here (``prodml.schema._record_is_clean``).

``prodml.schema`` imports this module inside :meth:`~prodml.schema.Schema.problems`, so
this one imports the schema's types at module level without a cycle.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from prodml._data import Columns, py_value, type_problem
from prodml._data_kinds import ACCEPTS, text_categories
from prodml._data_records import _NS_MAX, _NS_PER, float_outside, number_text
from prodml._numbers import batch_numbers
from prodml._quote import short_repr
from prodml._zones import zone_problem
from prodml.errors import SchemaError, SchemaProblem
from prodml.privacy import redact
from prodml.schema import _NUMERIC, Column, LogicalType


def _first(mask: np.ndarray) -> int:
    """Position of the first true entry; callers check ``mask.any()`` first."""
    return int(np.flatnonzero(mask)[0])


def _integral(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isnan(values) | (np.floor(values) == values)


def _column_problems(col: Column, cols: Columns) -> list[SchemaProblem]:
    name = col.name
    raw = cols.raw(name)
    info = cols.kind(name, raw)
    expected = col.dtype
    numeric: np.ndarray | None = None
    if info.kind not in ACCEPTS[expected]:  # int from float: decided by the values
        if expected is LogicalType.INT and info.kind == "float":
            numeric = cols.float64(name)
            bad = ~_integral(numeric)
            if bad.any():
                row = _first(bad)
                return [
                    SchemaProblem(
                        name,
                        "type",
                        "expected int, got non-integral float "
                        f"{redact(float(numeric[row]), sensitive=col.sensitive)}",
                        row,
                    )
                ]
        else:
            return [type_problem(name, expected.value, raw, info, sensitive=col.sensitive)]
    if info.kind == "category" and not text_categories(raw):
        return [SchemaProblem(name, "type", f"expected {expected}, got non-text categories")]
    found: list[SchemaProblem] = []
    if info.kind == "datetime":
        try:
            zone = _datetime_problem(col, cols, raw)
        except SchemaError as err:
            return list(err.problems)
        if zone is not None:
            found.append(zone)
    if expected in _NUMERIC:
        # The one number rule (prodml._numbers): no infinities, nothing beyond float64.
        try:
            numeric = batch_numbers(cols, name)
        except SchemaError as err:
            return list(err.problems)
    nulls = cols.null_mask(name)
    if not col.nullable and nulls.any():
        found.append(
            SchemaProblem(
                name,
                "null",
                f"{int(nulls.sum())} null value(s) where nulls are not allowed",
                _first(nulls),
            )
        )
    if col.min is not None or col.max is not None:
        if numeric is None:
            numeric = cols.float64(name)
        # Integers compare exactly: as float64, 2**60 + 1 is 2**60 and passed max=2**60.
        ints = _exact_ints(cols, name) if info.kind == "int" else None
        for bound, op, word in (
            (col.min, np.less, "below the minimum"),
            (col.max, np.greater, "above the maximum"),
        ):
            if bound is None:
                continue
            if ints is not None:
                out = _int_outside(ints, bound, above=op is np.greater)
            else:
                out = _float_outside(numeric, bound, above=op is np.greater)
            if out.any():
                row = _first(out)
                value = _shown(cols, name, row, ints, numeric[row], exact=info.kind == "int")
                found.append(
                    SchemaProblem(
                        name,
                        "range",
                        f"{int(out.sum())} value{'s' if out.sum() > 1 else ''} {word} "
                        f"{number_text(bound)}, e.g. "
                        f"{'<redacted>' if col.sensitive else value}",
                        row,
                    )
                )
    if col.allowed is not None:
        values = cols.objects(name)
        allowed: list[Any] = list(col.allowed)
        ok = pd.Index(values, dtype=object).isin(allowed) | nulls
        if not ok.all():
            bad = ~np.asarray(ok)
            row = _first(bad)
            found.append(
                SchemaProblem(
                    name,
                    "allowed",
                    f"{int(bad.sum())} value{'s' if bad.sum() > 1 else ''} not among the allowed "
                    f"values {short_repr(list(col.allowed))}, "
                    f"e.g. {redact(py_value(values[row]), sensitive=col.sensitive)}",
                    row,
                )
            )
    return found


def _datetime_problem(col: Column, cols: Columns, raw: object) -> SchemaProblem | None:
    """The zone problem of a datetime column; raise what its values' range breaks."""
    if not _fits_ns(raw):
        # What datetime64[ns] cannot hold (year 1, 9999-12-31) every module refuses.
        cols.datetime64(col.name)
    return zone_problem(col.name, col.timezone, raw)


_NAT = np.iinfo(np.int64).min
_NS_LIMIT = _NS_MAX - _NS_PER["D"]  # a day's margin: a zone's shift


def _fits_ns(raw: object) -> bool:
    """Whether a typed datetime column surely fits ``datetime64[ns]``, without a copy.

    Read from its type, or from its smallest and largest value for a coarser unit
    (pandas 3 builds ``datetime64[us]`` columns by default): converting every such
    column to ``[ns]`` only to check the range made ``validate`` 27 % slower on a
    naive frame and 2.7x on a zoned one (benchmarks/README.md, 2026-12-04). ``False``
    sends the column to :meth:`Columns.datetime64`, which finds and names the value.
    """
    if isinstance(raw, pd.Series) and isinstance(raw.dtype, pd.ArrowDtype):
        # Read as the arrow column it holds (zero-copy): its zone may be one pandas and
        # arrow cannot convert ('+0530', 'Z'), and the range needs none of its rules.
        held = getattr(raw.array, "__arrow_array__", None)
        if held is None:  # pragma: no cover - every ArrowDtype array holds arrow data
            return False
        raw = held()
    if isinstance(raw, pd.Series):
        dtype = raw.dtype
        unit: str
        if isinstance(dtype, pd.DatetimeTZDtype):
            unit, ints = str(dtype.unit), np.asarray(raw.array.asi8)  # type: ignore[attr-defined]
        elif isinstance(dtype, np.dtype) and dtype.kind == "M":
            unit = str(np.datetime_data(dtype.str)[0])
            ints = raw.to_numpy(copy=False).view(np.int64)
        else:
            return False
        if unit == "ns" or ints.size == 0:
            return unit in _NS_PER
        lo, hi = int(ints.min()), int(ints.max())
        if lo == _NAT:  # NaT is the smallest int64; the range is that of the others
            valid = ints[ints != _NAT]
            lo = int(valid.min()) if valid.size else 0
    elif isinstance(raw, pa.ChunkedArray | pa.Array) and pa.types.is_timestamp(raw.type):
        unit = raw.type.unit
        if unit == "ns":
            return True
        bounds = pc.min_max(raw.cast(pa.int64()))  # nulls left out
        lo, hi = (bounds["min"].as_py() or 0), (bounds["max"].as_py() or 0)
    else:
        return False
    if unit not in _NS_PER:  # finer than ns: the conversion decides
        return False
    limit = _NS_LIMIT // _NS_PER[unit]
    return -limit <= lo and hi <= limit


def _shown(
    cols: Columns,
    name: str,
    row: int,
    ints: tuple[np.ndarray, np.ndarray] | None,
    number: float,
    *,
    exact: bool,
) -> str:
    """A value out of bounds as the message shows it: an integer exactly, as given."""
    if ints is not None:
        return str(ints[0][row])
    if exact:  # Python ints beyond 64 bits, which float64 would round
        return short_repr(py_value(cols.objects(name)[row]))
    return number_text(number)


def _exact_ints(cols: Columns, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """An integer column as int64/uint64 values (0 where null) and its null mask.

    None for Python ints beyond both (an object column holding ``10**20``): the caller
    compares them as float64, as exactly as a bound can be at that size.
    """
    try:
        arr = cols.arrow(name).combine_chunks()
    except (OverflowError, pa.ArrowInvalid):
        return None
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(pc.fill_null(arr, 0).to_numpy(zero_copy_only=False))
    if values.dtype.kind not in "iu":  # pragma: no cover - an "int" kind is arrow ints
        values = values.astype(np.int64)
    return values, nulls


def _int_outside(ints: tuple[np.ndarray, np.ndarray], bound: float, *, above: bool) -> np.ndarray:
    """Where integer values are above (or below) a float bound, compared exactly."""
    values, nulls = ints
    info = np.iinfo(values.dtype)
    limit = math.floor(bound) if above else math.ceil(bound)
    if limit > info.max:
        out = np.zeros(values.shape, dtype=bool) if above else ~nulls
    elif limit < info.min:
        out = ~nulls if above else np.zeros(values.shape, dtype=bool)
    else:
        lim = values.dtype.type(limit)
        out = ((values > lim) if above else (values < lim)) & ~nulls
    return np.asarray(out, dtype=bool)


def _float_outside(values: np.ndarray, bound: float, *, above: bool) -> np.ndarray:
    """Where float values are outside a bound (:func:`prodml._data_records.float_outside`)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(float_outside(values, bound, above=above))
