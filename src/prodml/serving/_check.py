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

import numpy as np
import pandas as pd

from prodml._zones import value_in_zone
from prodml.features._base import NUMBER, TEXT
from prodml.features._record import program_code, record_namespace
from prodml.schema import Column, LogicalType, Schema

__all__ = ["compile_check", "compile_features"]

_NONE = type(None)
_TYPES: dict[LogicalType, tuple[type, ...]] = {
    LogicalType.FLOAT: (float, int),
    LogicalType.INT: (int,),
    LogicalType.BOOL: (bool,),
    LogicalType.STRING: (str,),
    LogicalType.CATEGORY: (str,),
    LogicalType.DATETIME: (pd.Timestamp,),
}


def _column(k: str, col: Column, ns: dict[str, Any], fail: str = "return False") -> list[str]:
    """Lines that run ``fail`` unless the value ``v`` of column ``col`` is certainly clean.

    Names bound in ``ns`` end in ``k``; the lines set ``t`` to the value's type.
    """
    types = _TYPES[col.dtype]
    numeric = float in types
    # None and NaN are nulls in every column; a float in a non-float column must be NaN.
    nulls = (_NONE, float) if col.nullable else ()
    ns[f"ok{k}"] = frozenset(types + nulls)
    lines = ["t = type(v)", f"if t not in ok{k}: {fail}"]
    if numeric and not col.nullable:
        lines.append(f"if t is float and v != v: {fail}")
    elif col.nullable and not numeric:
        lines.append(f"if t is float and v == v: {fail}")
    tests = []
    if col.dtype is LogicalType.DATETIME:  # the edge years: the range decides
        tests.append("not 1677 < v.year < 2262")
    if col.dtype is LogicalType.DATETIME and col.timezone is None:
        tests.append("v.tzinfo is not None")
    elif col.dtype is LogicalType.DATETIME:  # a Timestamp in another zone: the table path
        ns[f"zone{k}"], ns[f"in_zone{k}"] = col.timezone, value_in_zone
        tests.append(f"not in_zone{k}(zone{k}, v.tzinfo)")
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
        lines.append(f"if {guard} and ({' or '.join(tests)}): {fail}")
    return lines


def _implied(col: Column, kind: str, dtype: str) -> bool:
    """Whether every value the record path takes without converting passes ``col``.

    That path takes finite floats in number columns (not bool ones), str in text columns.
    """
    if col.min is not None or col.max is not None or col.allowed is not None:
        return False
    if kind == NUMBER:
        return dtype != "bool" and col.dtype is LogicalType.FLOAT
    return kind == TEXT and col.dtype in {LogicalType.STRING, LogicalType.CATEGORY}


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
        ns[f"name{k}"] = col.name
        body.append(f"v = record[name{k}]")
        body.extend(_column(str(k), col, ns))
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


def compile_features(
    schema: Schema, pipeline: Any
) -> Callable[[dict[str, Any]], np.ndarray | None]:
    """One function checking a dict record against ``schema`` while transforming it.

    It answers ``pipeline.transform_record(record)`` (the same code, so the same row bit
    for bit) for a record that :func:`compile_check` would call clean and the pipeline
    takes, and ``None`` for anything else, having raised nothing: the caller then runs
    :meth:`Schema.validate` (which words every problem) and the pipeline as before, and
    that general path raises what it always raised. Fields the pipeline does not read are
    never looked at, unless the schema has them. Each schema test runs where the value is
    read; a value the record path takes as it is (a finite float, a str) costs no test
    when the column has no bounds or allowed values.

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.features import FeaturePipeline, steps
    >>> pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(pd.DataFrame({"x": [1.0, 3.0]}))
    >>> f = compile_features(pipe.input_schema, pipe)
    >>> f({"x": 3.0}), f({"x": "3"})
    (array([1.]), None)
    """
    programs = pipeline.programs_
    ns = record_namespace(len(pipeline.feature_names_out_))
    ns["NoneType"] = _NONE
    ns["n_columns"] = len(schema.columns)
    by_name = {c.name: c for c in schema.columns}
    body: list[str] = []
    if schema.strict:
        body.append("if len(record) != n_columns: return None")
    checked: set[str] = set()
    for k, p in enumerate(programs):
        slow, convert, rest = program_code(k, p, ns)
        body.append(f"v = record[col{k}]")
        col = None if p.column in checked else by_name.get(p.column)
        if col is None:
            body.append(convert if slow == "True" else f"if {slow}: {convert}")
        elif _implied(col, p.kind, p.dtype):
            body.append(f"if {slow}:")
            body.extend("    " + line for line in _column(f"_{k}", col, ns, "return None"))
            body.append("    " + convert)
        else:
            body.extend(_column(f"_{k}", col, ns, "return None"))
            body.append(convert if slow == "True" else f"if {slow}: {convert}")
        if col is not None:
            checked.add(col.name)
        body.extend(rest)
    for j, col in enumerate(schema.columns):
        if col.name not in checked:
            ns[f"name_{j}"] = col.name
            body.append(f"v = record[name_{j}]")
            body.extend(_column(f"__{j}", col, ns, "return None"))
    inner = "\n".join("            " + line for line in body)
    src = (
        f"def _make({', '.join(ns)}):\n"
        "    def features(record):\n"
        "        row = zeros(n_out)\n"
        "        try:\n"
        f"{inner}\n"
        "        except Exception:\n"
        "            return None\n"
        "        return row\n"
        "    return features\n"
    )
    scope: dict[str, Any] = {}
    exec(compile(src, "<prodml.serving record features>", "exec"), scope)  # noqa: S102 - our own generated code; names and values are bound, never pasted
    # Positional: binding thousands of keyword arguments is quadratic in CPython.
    fn: Callable[[dict[str, Any]], np.ndarray | None] = scope["_make"](*ns.values())
    return fn
