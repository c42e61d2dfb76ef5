"""The one input rule for numbers, shared by Schema validation and the feature paths.

A value of a ``float`` or ``int`` column must be a finite real number or a null:

* accepted: Python ``int`` and ``float``, numpy integers and floats, ``decimal.Decimal``
  and other ``numbers.Real`` (converted to the nearest float64);
* nulls: ``None``, NaN (float, numpy or Decimal), ``pd.NA``;
* rejected as a **type** problem: ``bool`` and ``numpy.bool_`` (a bool is not a number:
  declare the column ``bool``), strings (``'1.5'`` is not parsed), dates, anything else;
* rejected as a **range** problem: ``inf``, ``-inf`` (float, numpy or Decimal) and
  integers too large for float64.

A value of a ``bool`` column must be a bool (``bool``, ``numpy.bool_``) or a null.

:meth:`prodml.schema.Schema.validate`, ``FeaturePipeline.fit``, ``transform`` and
``transform_record`` all apply this rule through :func:`record_number` (one value) and
:func:`batch_numbers` (a column), so they accept and reject the same values with the
same words. The batch function converts whole columns with numpy and falls back to the
scalar rule only to find and word the first bad value.

Examples
--------
>>> from prodml._numbers import record_number
>>> record_number(3, "age")
3.0
>>> record_number(True, "age")
Traceback (most recent call last):
...
prodml.errors.SchemaError: column 'age': expected float, got bool True (a bool is not a number; declare the column bool)
>>> record_number(float("inf"), "age")
Traceback (most recent call last):
...
prodml.errors.SchemaError: column 'age': infinite value inf: numbers must be finite
"""  # noqa: E501

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodml._data import Columns, type_name
from prodml._quote import short_repr
from prodml.errors import SchemaError, SchemaProblem

__all__ = ["batch_numbers", "number_problem", "record_bool", "record_number"]

_NAN = math.nan
_CONVERT_ERRORS = (OverflowError, ValueError, TypeError, decimal.InvalidOperation)


def _problem(column: str, kind: str, message: str, row: int | None) -> SchemaError:
    return SchemaError(problems=[SchemaProblem(column, kind, message, row)])


def number_problem(value: object) -> tuple[str, str] | None:
    """Why ``value`` breaks the number rule, as ``(kind, message)``; None when it holds."""
    try:
        record_number(value, "")
    except SchemaError as err:
        p = err.problems[0]
        return p.kind, p.message
    return None


def record_number(value: object, column: str, row: int | None = None) -> float:
    """One value of a number column as float64 (NaN for a null), by the rule above.

    Raises
    ------
    SchemaError
        A ``"type"`` problem for bools, strings and other non-numbers; a ``"range"``
        problem for infinities and integers too large for float64.
    """
    if value is None or value is pd.NA:
        return _NAN
    if isinstance(value, bool | np.bool_):
        return _raise_type(column, value, row, " (a bool is not a number; declare the column bool)")
    if isinstance(value, float | np.floating):
        x = float(value)
    elif isinstance(value, decimal.Decimal):
        if value.is_nan():  # quiet or signalling: a null, as pandas reads it
            return _NAN
        x = float(value)
    elif isinstance(value, numbers.Real):
        try:
            x = float(value)
        except OverflowError:
            raise _problem(
                column,
                "range",
                f"value {short_repr(value)} is too large for float64",
                row,
            ) from None
    else:
        return _raise_type(column, value, row, "")
    if math.isinf(x):
        raise _problem(
            column, "range", f"infinite value {short_repr(x)}: numbers must be finite", row
        )
    return x


def _raise_type(column: str, value: object, row: int | None, why: str) -> float:
    raise _problem(
        column,
        "type",
        f"expected float, got {type_name(value)} {short_repr(value)}{why}",
        row,
    )


def record_bool(value: object, column: str, row: int | None = None) -> float:
    """One value of a bool column as 0.0/1.0 (NaN for a null).

    Raises
    ------
    SchemaError
        A ``"type"`` problem for anything but a bool or a null (``1`` included).
    """
    if value is None or value is pd.NA:
        return _NAN
    if isinstance(value, bool | np.bool_):
        return 1.0 if value else 0.0
    if isinstance(value, float) and math.isnan(value):
        return _NAN
    raise _problem(
        column, "type", f"expected a bool, got {type_name(value)} {short_repr(value)}", row
    )


def batch_numbers(cols: Columns, name: str, *, dtype: str = "float") -> npt.NDArray[np.float64]:
    """A number (or ``dtype="bool"``) column as float64 with NaN for nulls, by the rule.

    Raises
    ------
    SchemaError
        For the first value that breaks the rule, with its row; the message is the one
        :func:`record_number` (or :func:`record_bool`) gives for that value.
    """
    kind = cols.kind(name).kind  # the view's, detected once (float64 below reads it too)
    scalar = record_bool if dtype == "bool" else record_number
    ok = ("bool", "null") if dtype == "bool" else ("float", "int", "null")
    if kind not in ok:
        _each(cols, name, scalar)
        # No single value is at fault (an unsupported storage type): word the column.
        raise _problem(name, "type", f"expected {dtype}, got {kind} values", None)
    try:
        x = cols.float64(name)
    except _CONVERT_ERRORS:
        # Decimal('sNaN'), ints beyond float64: the scalar rule words it, or converts it.
        x = _each(cols, name, scalar)
    if dtype != "bool":
        inf = np.isinf(x)
        if inf.any():
            row = int(np.flatnonzero(inf)[0])
            record_number(float(x[row]), name, row)
    return x


def _each(
    cols: Columns, name: str, scalar: Callable[[object, str, int], float]
) -> npt.NDArray[np.float64]:
    """The column converted value by value: raises the scalar rule's error at the first bad one."""
    values = cols.objects(name)
    return np.fromiter(
        (scalar(v, name, row) for row, v in enumerate(values)), dtype=np.float64, count=len(values)
    )
