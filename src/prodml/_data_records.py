"""Single record values, and datetimes in the nanoseconds prodml computes with.

:func:`record_float` and :func:`record_datetime64` convert one value of a dict record
exactly as :class:`~prodml._data.Columns` converts a column; :func:`as_ns` brings
datetimes of any numpy unit to ``datetime64[ns]``, refusing what it cannot hold
(:data:`NS_FIRST` .. :data:`NS_LAST`); :func:`record_problems` finds a dict record's
schema problems without building a table. Every name here is also importable from
:mod:`prodml._data`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import math
import numbers
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodml._data_kinds import ACCEPTS, type_name
from prodml._quote import short_repr
from prodml._zones import _zone_message, zone_fits, zone_name
from prodml.errors import SchemaError, SchemaProblem
from prodml.privacy import redact

__all__ = [
    "NS_FIRST",
    "NS_LAST",
    "NS_RANGE",
    "as_ns",
    "float_outside",
    "number_text",
    "record_datetime64",
    "record_float",
    "record_problems",
]

NS_RANGE = "1677-09-21 to 2262-04-11"
NS_FIRST = pd.Timestamp.min.ceil("us").to_pydatetime()
"""The first Python datetime (to the microsecond) that datetime64[ns] holds."""
NS_LAST = pd.Timestamp.max.floor("us").to_pydatetime()
"""The last Python datetime (to the microsecond) that datetime64[ns] holds."""
_NS_MAX = int(np.iinfo(np.int64).max)
_NS_PER = {"D": 86_400 * 10**9, "h": 3_600 * 10**9, "m": 60 * 10**9, "s": 10**9}
_NS_PER.update({"ms": 10**6, "us": 10**3, "ns": 1})


def as_ns(
    values: npt.NDArray[np.datetime64], column: str, *, rows: bool = True
) -> npt.NDArray[np.datetime64]:
    """Datetimes of any numpy unit as ``datetime64[ns]``, refusing what ns cannot hold.

    numpy's cast wraps silently: year 1 became 1754 and 9999-12-31 became 1816, so a
    sentinel date gave wrong date parts and drift statistics (and a record of the same
    value gave other numbers than its batch row).

    Raises
    ------
    SchemaError
        A ``"range"`` problem naming the column, the first value outside
        1677-09-21 .. 2262-04-11 and its row.
    """
    if values.dtype == np.dtype("datetime64[ns]"):
        return values
    unit, _ = np.datetime_data(values.dtype)
    if unit in ("Y", "M", "W", "generic"):  # calendar units: seconds hold them exactly
        values = values.astype("datetime64[s]")
        unit = "s"
    limit = _NS_MAX // _NS_PER.get(unit, 1)  # finer than ns (ps, fs, as): always fits
    ints = values.view(np.int64)
    if ints.size == 0 or (ints.max() <= limit and ints.min() >= -limit):  # NaT is int64 min
        return values.astype("datetime64[ns]")
    bad = ((ints > limit) | (ints < -limit)) & ~np.isnat(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            problems=[
                SchemaProblem(
                    column,
                    "range",
                    f"datetime {values[row]} is outside the range prodml computes with "
                    f"({NS_RANGE}, datetime64[ns]); clip or null such values first",
                    row if rows else None,
                )
            ]
        )
    return values.astype("datetime64[ns]")


def record_float(value: object, column: str, *, allow_bool: bool = True) -> float:
    """Convert one record value to float exactly as :meth:`Columns.float64` would.

    ``None``, NaN and ``pd.NA`` give NaN; bools give 0.0/1.0 unless ``allow_bool`` is false.

    Raises
    ------
    SchemaError
        For strings (``'1.5'`` included) and any other non-numeric value.

    Examples
    --------
    >>> record_float(3, "age")
    3.0
    >>> record_float("1.5", "age")
    Traceback (most recent call last):
    ...
    prodml.errors.SchemaError: column 'age': expected float, got str '1.5'
    """
    if value is None or value is pd.NA:
        return float("nan")
    if isinstance(value, float):
        return value
    is_bool = isinstance(value, bool | np.bool_)
    if (is_bool and allow_bool) or (
        not is_bool and isinstance(value, numbers.Real | decimal.Decimal)
    ):
        return float(value)  # type: ignore[arg-type]
    raise SchemaError(
        problems=[
            SchemaProblem(
                column, "type", f"expected float, got {type_name(value)} {short_repr(value)}"
            )
        ]
    )


def record_datetime64(value: object, column: str, *, utc: bool = False) -> np.datetime64:
    """Convert one record value to ``datetime64[ns]`` as :meth:`Columns.datetime64` would.

    Raises
    ------
    SchemaError
        For strings and any other non-datetime value, and for a datetime outside
        1677-09-21 .. 2262-04-11 (see :func:`as_ns`).
    """
    if value is None or value is pd.NaT or value is pd.NA:
        return np.datetime64("NaT", "ns")
    if isinstance(value, np.datetime64):
        return as_ns(np.asarray([value]), column, rows=False)[0]
    if isinstance(value, _dt.datetime):
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC") if utc else ts
            ts = ts.tz_localize(None)
        return as_ns(np.asarray([ts.to_datetime64()]), column, rows=False)[0]
    if isinstance(value, _dt.date):
        return as_ns(np.asarray([np.datetime64(value, "D")]), column, rows=False)[0]
    raise SchemaError(
        problems=[
            SchemaProblem(
                column, "type", f"expected datetime, got {type_name(value)} {short_repr(value)}"
            )
        ]
    )


# ------------------------------------------------------------ a record's problems

_KINDS: dict[type, str] = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "string",
    _dt.datetime: "datetime",
    pd.Timestamp: "datetime",
}
_ZONES = (type(None), zoneinfo.ZoneInfo, _dt.timezone)
_NS_YEARS = (NS_FIRST.year, NS_LAST.year)  # 1677, 2262: a year outside them is outside ns
_FLOAT_BITS = 1023  # ints this wide always convert to a finite float64
_INT64_MIN, _UINT64_END = -(2**63), 2**64  # what a one-row table holds as int64/uint64


def record_problems(
    columns: Sequence[Any], record: Mapping[Any, Any], *, strict: bool
) -> list[SchemaProblem] | None:
    """A dict record's problems against schema ``columns``, read from the dict itself.

    Exactly the :class:`~prodml.errors.SchemaProblem` list (kinds, columns, words, row
    0) that ``Schema.problems`` gives for the one-row table of the record, in microseconds
    instead of milliseconds: checking an invalid request record no longer builds a
    DataFrame. It decides records of ``None``, ``bool``, ``int``, ``float``, ``str``,
    ``datetime`` and ``pandas.Timestamp`` values (naive, or in a ``zoneinfo`` zone or a
    fixed offset) under string keys; for anything else (numpy scalars, Decimals, dates,
    ints beyond 1023 bits, datetimes near the ends of the nanosecond range) it answers
    ``None`` and the caller takes the table path. A datetime of a year outside
    1677..2262 in a datetime column is outside ``datetime64[ns]`` whatever its day and
    zone: its range problem is answered here, in the batch path's words.

    Parameters
    ----------
    columns
        The schema's :class:`~prodml.schema.Column` objects, in order.
    record
        The record.
    strict
        Report keys the schema does not list (``"extra"``).

    Examples
    --------
    >>> from prodml.schema import Column
    >>> [
    ...     p.message
    ...     for p in record_problems([Column("age", "int", min=0)], {"age": -2}, strict=False)
    ... ]
    ['1 value below the minimum 0, e.g. -2']
    """
    for key, value in record.items():
        if type(key) is not str or type(value) not in _KINDS:
            return None
    found: list[SchemaProblem] = []
    for col in columns:
        if col.name not in record:
            found.append(SchemaProblem(col.name, "missing", "column is missing"))
            continue
        problems = _value_problems(col, record[col.name])
        if problems is None:
            return None
        found.extend(problems)
    if strict:
        known = {col.name for col in columns}
        found.extend(
            SchemaProblem(n, "extra", "column is not in the schema")
            for n in record
            if n not in known
        )
    return found


def _value_problems(col: Any, v: Any) -> list[SchemaProblem] | None:
    """The problems of one value, as ``_schema_checks._column_problems`` words them."""
    name, dtype, sensitive = col.name, col.dtype.value, col.sensitive
    kind = _KINDS[type(v)]
    if kind == "int" and v.bit_length() > _FLOAT_BITS:
        return None  # too large for float64: words that depend on the conversion
    if kind == "datetime" and not _plain_datetime(v):
        if dtype == "datetime" and not _NS_YEARS[0] <= v.year <= _NS_YEARS[1]:
            # Outside datetime64[ns] whatever the day: the batch path's range problem, the
            # only one the table path gives (it checks the range first, and stops there).
            return _outside_problems(col.name, v)
        return None
    null = v is None or (kind == "float" and math.isnan(v))
    if kind not in ACCEPTS[dtype]:
        if dtype == "int" and kind == "float":
            if not (null or math.isinf(v) or v.is_integer()):
                message = f"expected int, got non-integral float {redact(v, sensitive=sensitive)}"
                return [SchemaProblem(name, "type", message, 0)]
        elif null:  # NaN: a float column with no value to show
            return [SchemaProblem(name, "type", f"expected {dtype}, got float values")]
        else:
            shown = pd.Timestamp(v) if kind == "datetime" else v
            message = (
                f"expected {dtype}, got {type_name(shown)} {redact(shown, sensitive=sensitive)}"
            )
            return [SchemaProblem(name, "type", message, 0)]
    found: list[SchemaProblem] = []
    if kind == "datetime":
        zone = None if v.tzinfo is None else zone_name(v.tzinfo)
        if not zone_fits(col.timezone, zone):  # the column's zone: no row
            found.append(SchemaProblem(name, "type", _zone_message(col.timezone, [zone])))
    numeric = dtype in ("float", "int")
    if numeric and kind == "float" and math.isinf(v):  # ints here fit float64 (1023 bits)
        from prodml._numbers import record_number  # noqa: PLC0415 - it imports prodml._data

        try:
            record_number(v, name, 0)
        except SchemaError as err:  # the words of the number rule
            return list(err.problems)
    if null and not col.nullable:
        message = "1 null value(s) where nulls are not allowed"
        found.append(SchemaProblem(name, "null", message, 0))
    if numeric and not null and (col.min is not None or col.max is not None):
        found.extend(_range_problems(col, v, exact=kind == "int"))
    if col.allowed is not None and not null and v not in col.allowed:
        found.append(
            SchemaProblem(
                name,
                "allowed",
                f"1 value not among the allowed values {short_repr(list(col.allowed))}, "
                f"e.g. {redact(v, sensitive=sensitive)}",
                0,
            )
        )
    return found


def _outside_problems(name: str, v: Any) -> list[SchemaProblem]:
    """The range problem of a datetime of a year ``datetime64[ns]`` does not reach."""
    try:
        record_datetime64(v, name)
    except SchemaError as err:
        return [dataclasses.replace(p, row=0) for p in err.problems]
    raise AssertionError(name)  # pragma: no cover - a year outside 1677..2262 is outside


def _plain_datetime(v: Any) -> bool:
    """Whether the table path reads ``v`` with no range check and no zone library quirk."""
    return type(v.tzinfo) in _ZONES and 1678 < v.year < 2261


def _range_problems(col: Any, v: float, *, exact: bool) -> list[SchemaProblem]:
    """Bounds compared as the table path does: ints of 64 bits exactly, others as float64."""
    wide = exact and not _INT64_MIN <= v < _UINT64_END  # a one-row table holds it as object
    low, high = col.min, col.max
    if not wide and (low is None or v > low) and (high is None or v < high):
        return []  # strictly inside, compared exactly: inside by the table path's rule too
    x = float(v) if wide or not exact else v
    found = []
    for bound, above, word in (
        (col.min, False, "below the minimum"),
        (col.max, True, "above the maximum"),
    ):
        if bound is None:
            continue
        if exact and not wide:
            out = v > bound if above else v < bound
        else:
            out = float_outside(x, bound, above=above)
        if out:
            shown = str(v) if exact and not wide else short_repr(v) if exact else number_text(x)
            if col.sensitive:
                shown = "<redacted>"
            message = f"1 value {word} {number_text(bound)}, e.g. {shown}"
            found.append(SchemaProblem(col.name, "range", message, 0))
    return found


def float_outside(x: Any, bound: float, *, above: bool) -> Any:
    """Whether float ``x`` (a value, or a numpy array of them) is above (or below) a bound.

    Compared exactly: an int bound that float64 cannot hold (``2**53 + 1``) lies strictly
    between two floats, and no float lies between it and its nearest float ``f``: a value
    is above it when it is at least ``f`` (``f`` above the bound) or above ``f`` (``f``
    below). NaN is never outside.
    """
    f = float(bound)
    if above:
        return x >= f if f > bound else x > f
    return x <= f if f < bound else x < f


def number_text(x: float) -> str:
    """A bound or value in a message: an int as written, a float without a needless ``.0``."""
    if isinstance(x, int):  # an exact bound (see Column.min)
        return str(x)
    return str(int(x)) if float(x).is_integer() else repr(float(x))
