"""Single record values, and datetimes in the nanoseconds prodml computes with.

:func:`record_float` and :func:`record_datetime64` convert one value of a dict record
exactly as :class:`~prodml._data.Columns` converts a column; :func:`as_ns` brings
datetimes of any numpy unit to ``datetime64[ns]``, refusing what it cannot hold
(:data:`NS_FIRST` .. :data:`NS_LAST`). Every name here is also importable from
:mod:`prodml._data`.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import numbers

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodml._data_kinds import type_name
from prodml._quote import short_repr
from prodml.errors import SchemaError, SchemaProblem

__all__ = [
    "NS_FIRST",
    "NS_LAST",
    "NS_RANGE",
    "as_ns",
    "record_datetime64",
    "record_float",
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
