"""The single-record path, compiled into one plain Python function on the first record.

:class:`~prodml.features.FeaturePipeline` compiles it on its first ``transform_record``
after ``fit`` or a load (once, under a lock), not at ``fit``: compiling is a fifth of a
1,000-column fit, and a pipeline fitted for batches never needs it.

The generated function reads each input from the dict, converts it as the batch path
does (:func:`~prodml._numbers.record_number`, text, datetime), then runs each step's record
code on that value. Steps that provide a code snippet (``Step.record_code``) are inlined
with their fitted values bound as closure variables; others are called through their
``record_fn``. Inlining changes no float operation: a snippet performs exactly the same
operations in the same order as the step's vectorised batch code, so the record gives the
batch row bit for bit, while avoiding one Python call per step and column.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from prodml._data import type_name
from prodml._numbers import record_bool, record_number
from prodml._quote import short_repr
from prodml._zones import zone_tzinfo
from prodml.errors import SchemaError, SchemaProblem
from prodml.features._base import NUMBER, TEXT, Floats, null_error
from prodml.features._dates import record_in_zone, record_time, shift_days

__all__ = [
    "RecordFn",
    "build_record_fn",
    "exact_width",
    "program_code",
    "record_namespace",
    "record_text",
]

RecordFn = Callable[[Mapping[str, Any]], Floats]


def record_text(value: object, column: str) -> str | None:
    """A record value as text (None for nulls), as the batch path reads it.

    Raises
    ------
    SchemaError
        For numbers and other non-text values.
    """
    if value is None or (isinstance(value, float) and value != value):  # noqa: PLR0124
        return None
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ == "NAType":
        return None
    raise SchemaError(
        problems=[
            SchemaProblem(
                column, "type", f"expected string, got {type_name(value)} {short_repr(value)}"
            )
        ]
    )


def exact_width(known: frozenset[str], programs: Sequence[Any]) -> int:
    """The key count of a record holding exactly the input columns, when that is checkable.

    The record function reads every input column (raising on a missing one) when each
    input column has a program; then a dict with ``len(known)`` keys on which it succeeds
    has no other key, and the pipeline may skip its search for extra keys. Otherwise -1,
    which no record length matches.
    """
    return len(known) if {p.column for p in programs} == known else -1


def _missing(err: KeyError, record: Mapping[str, Any]) -> Exception:
    key = err.args[0] if err.args else None
    if isinstance(key, str) and key not in record:
        return SchemaError(
            problems=[SchemaProblem(key, "missing", "column is missing from the record")]
        )
    return err


def record_namespace(n_out: int) -> dict[str, Any]:
    """The names every generated record function reads (see :func:`program_code`)."""
    return {
        "zeros": np.zeros,
        "record_number": record_number,
        "record_bool": record_bool,
        "INF": float("inf"),
        "NINF": -float("inf"),
        "record_text": record_text,
        "record_time": record_time,
        "record_in_zone": record_in_zone,
        "DATETIME": _dt.datetime,
        # datetime's own, on a Timestamp too: pandas' override costs 30 times as much.
        "ORDINAL": _dt.datetime.toordinal,
        "TZINFO": _dt.datetime.tzinfo.__get__,  # the slot: Timestamp.tzinfo costs twice
        "TIMESTAMP": pd.Timestamp,
        "null_error": null_error,
        "n_out": n_out,
    }


def program_code(k: int, p: Any, ns: dict[str, Any]) -> tuple[str, str, list[str]]:
    """The record code of program ``k`` (``p``), its fitted values bound in ``ns``.

    Returns ``(slow, convert, rest)``: after ``v = record[col<k>]``, the value is converted
    by ``convert`` only when the test ``slow`` holds (it does not for the usual value:
    a finite float, a str, a datetime); ``rest`` runs the steps and writes into ``row``.
    For a datetime column fitted in a zone, ``rest`` starts with the ``elif`` of the
    line ``if {slow}: {convert}``, which brings an aware value to that zone.
    """
    col, label = f"col{k}", f"label{k}"
    ns[col] = p.column
    ns[label] = type(p.steps[p.null_at]).__name__ if p.null_at < len(p.steps) else "the output"
    body: list[str] = []
    if p.kind == NUMBER and p.dtype == "bool":
        slow, convert = "True", f"v = record_bool(v, {col})"
    elif p.kind == NUMBER:
        # Finite floats skip the call; NaN, inf and other types take the rule's path.
        slow, convert = "type(v) is not float or not NINF < v < INF", f"v = record_number(v, {col})"
    elif p.kind == TEXT:
        slow, convert = "type(v) is not str", f"v = record_text(v, {col})"
    else:
        # A datetime or Timestamp of a year datetime64[ns] holds whole is returned as it
        # is (pd.NaT has a type of its own); others, and the edge years 1677 and 2262,
        # are checked as the batch path does. Years are wall-clock, as the batch reads.
        slow = "(type(v) is not DATETIME and type(v) is not TIMESTAMP) or not 1677 < v.year < 2262"
        convert = f"v = record_time(v, {col})"
        if p.zone is None:  # fitted naive: record_time refuses an aware value
            slow += " or TZINFO(v) is not None"
        else:  # read in the fitted zone
            zone, tz, days = f"zone{k}", f"tz{k}", f"days{k}"
            ns[zone], ns[tz] = p.zone, zone_tzinfo(p.zone)
            convert = f"v = record_time(v, {col}, {zone}, {tz})"
            # The `elif` of the line `if {slow}: {convert}`: a value whose tzinfo is the
            # zone's own object (the usual case, compared by identity first: one read of
            # tzinfo, a property of pd.Timestamp) or an equal fixed offset is kept as it
            # is, except on the days the zone's offset changes, where a skipped wall time
            # moves; record_in_zone reads every other value as the batch path reads it
            # (wall_clock): other spellings kept, other zones converted, naive refused.
            shift = shift_days(p.zone)
            on_shift = ""
            if shift:
                ns[days] = shift
                on_shift = f" or ORDINAL(v) in {days}"
            body.append(
                f"elif ((vz := v.tzinfo) is not {tz} and vz != {tz}){on_shift}: "
                f"v = record_in_zone(v, {col}, {zone}, {tz})"
            )
    for j in range(p.n_values + 1):
        if j == p.null_at:
            kind = p.kinds[j] if j < len(p.kinds) else NUMBER
            test = "v != v" if kind == NUMBER else "v is None"
            body.append(f"if {test}: raise null_error({col}, record[{col}], None, {label})")
        if j == p.n_values:
            break
        step, key = p.steps[j], f"s{k}_{j}_"
        code = step.record_code(p.column, p.kinds[j], ns, key)
        if code is None:
            ns[key + "fn"] = step.record_fn(p.column, p.kinds[j])
            code = [f"v = {key}fn(v)"]
        body.extend(code)
    enc = p.encoder
    if enc is None:
        body.append(f"row[{p.offset}] = v")
        return slow, convert, body
    key = f"e{k}_"
    code = enc.record_code(p.column, p.kinds[-1], ns, key, offset=p.offset)
    if code is None:
        ns[key + "fn"] = enc.record_encoder(p.column, p.offset, p.kinds[-1])
        code = [f"{key}fn(v, row)"]
    body.extend(code)
    return slow, convert, body


def build_record_fn(programs: Sequence[Any], n_out: int) -> RecordFn:
    """Compile the record path of fitted column programs into one function."""
    ns = record_namespace(n_out)
    body: list[str] = []
    for k, p in enumerate(programs):
        slow, convert, rest = program_code(k, p, ns)
        body.append(f"v = record[col{k}]")
        body.append(convert if slow == "True" else f"if {slow}: {convert}")
        body.extend(rest)
    inner = "\n".join("            " + line for line in body)
    src = (
        f"def _make({', '.join(ns)}, _missing):\n"
        "    def transform_record(record):\n"
        "        row = zeros(n_out)\n"
        "        try:\n"
        f"{inner}\n"
        "        except KeyError as err:\n"
        "            raise _missing(err, record) from None\n"
        "        return row\n"
        "    return transform_record\n"
    )
    scope: dict[str, Any] = {}
    exec(compile(src, "<prodml.features record path>", "exec"), scope)  # noqa: S102 - our own generated code, no user text in it
    # Positional: binding tens of thousands of keyword arguments is quadratic in CPython.
    fn: RecordFn = scope["_make"](*ns.values(), _missing)
    return fn
