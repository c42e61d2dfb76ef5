"""A schema's clean-record test compiled into one function, for the serving hot path.

:func:`compile_check` turns a :class:`~prodml.schema.Schema` into a plain function that
answers ``True`` only for a dict record that certainly has no problem, by exactly the rules
of :meth:`Schema.validate`'s own fast path; anything else answers ``False`` and the
caller runs :meth:`Schema.validate`, which finds and words every problem (or passes a
record only the table path can clear). Unrolled per column with the column's settings as
constants, a column without bounds or allowed values costs one dict read and one set
lookup of the value's type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from prodml.schema import Column, LogicalType, Schema

__all__ = ["compile_check"]

_NONE = type(None)
_TYPES: dict[LogicalType, tuple[type, ...]] = {
    LogicalType.FLOAT: (float, int),
    LogicalType.INT: (int,),
    LogicalType.BOOL: (bool,),
    LogicalType.STRING: (str,),
    LogicalType.CATEGORY: (str,),
    LogicalType.DATETIME: (pd.Timestamp,),
}


def _column(k: int, col: Column, ns: dict[str, Any]) -> list[str]:
    """Lines that ``return False`` unless column ``k`` of the record is certainly clean."""
    ns[f"name{k}"] = col.name
    # Time zones take the table path: only nulls pass here.
    tz = col.dtype is LogicalType.DATETIME and col.timezone is not None
    types = () if tz else _TYPES[col.dtype]
    numeric = float in types
    # None and NaN are nulls in every column; a float in a non-float column must be NaN.
    nulls = (_NONE, float) if col.nullable else ()
    ns[f"ok{k}"] = frozenset(types + nulls)
    lines = [f"v = record[name{k}]", "t = type(v)", f"if t not in ok{k}: return False"]
    if numeric and not col.nullable:
        lines.append("if t is float and v != v: return False")
    elif col.nullable and not numeric:
        lines.append("if t is float and v == v: return False")
    if tz:
        return lines
    tests = []
    if col.dtype is LogicalType.DATETIME:
        tests.append("v.tzinfo is not None")
    if col.min is not None:
        ns[f"low{k}"] = col.min
        tests.append(f"v < low{k}")
    if col.max is not None:
        ns[f"high{k}"] = col.max
        tests.append(f"v > high{k}")
    if col.allowed is not None:
        ns[f"allowed{k}"] = frozenset(col.allowed)
        tests.append(f"v not in allowed{k}")
    if tests:
        # Nulls skip the value tests, as they do in Schema.validate.
        guard = "t is not NoneType and " + ("v == v" if numeric else "t is not float")
        lines.append(f"if {guard} and ({' or '.join(tests)}): return False")
    return lines


def compile_check(schema: Schema) -> Callable[[Mapping[str, Any]], bool]:
    """A function telling whether a dict record certainly passes ``schema.validate``.

    Examples
    --------
    >>> from prodml.schema import Column, Schema
    >>> check = compile_check(Schema([Column("age", "int", min=0), Column("plan", "string")]))
    >>> check({"age": 31, "plan": "pro"}), check({"age": -1, "plan": "pro"})
    (True, False)
    """
    ns: dict[str, Any] = {"NoneType": _NONE, "n_columns": len(schema.columns)}
    body: list[str] = []
    if schema.strict:
        body.append("if len(record) != n_columns: return False")
    for k, col in enumerate(schema.columns):
        body.extend(_column(k, col, ns))
    body.append("return True")
    inner = "\n".join("            " + line for line in body)
    src = (
        f"def _make({', '.join(ns)}):\n"
        "    def is_clean(record):\n"
        "        try:\n"
        f"{inner}\n"
        "        except KeyError:\n"
        "            return False\n"
        "    return is_clean\n"
    )
    scope: dict[str, Any] = {}
    exec(compile(src, "<prodml.serving schema check>", "exec"), scope)  # noqa: S102 - our own generated code; names and values are bound, never pasted
    fn: Callable[[Mapping[str, Any]], bool] = scope["_make"](**ns)
    return fn
