"""Encoding between user data and the stores: entity keys, entity tables, JSON values.

Online records hold an entity key string and the view's feature values as a JSON array
in the view's feature order (datetimes as UTC microseconds). Key and value checks happen
here, once, with errors naming the column and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from prodml._data import type_name
from prodml.errors import SchemaError, SchemaProblem
from prodml.schema import LogicalType, Schema
from prodml.store._definitions import Entity
from prodml.store._time import UTC_US, from_micros, micros, utc_column

__all__ = [
    "as_arrow",
    "decoders",
    "encode_key",
    "encode_payloads",
    "entity_table",
    "json_loads",
    "key_columns",
    "micros",
    "record_key",
]


def _key_problem(entity: Entity, key: str, want: LogicalType, got: str) -> SchemaError:
    return SchemaError(
        problems=[
            SchemaProblem(
                key,
                "type",
                f"entity {entity.name!r} has {want} keys, got {got}",
            )
        ]
    )


def record_key(entity: Entity, record: Mapping[str, Any]) -> str:
    """The online key of one entity, from a mapping holding its key columns."""
    dtypes = entity.dtypes or ()
    values = []
    for key, want in zip(entity.keys, dtypes, strict=True):
        try:
            v = record[key]
        except KeyError:
            raise SchemaError(
                problems=[
                    SchemaProblem(key, "missing", f"entity {entity.name!r} needs key {key!r}")
                ]
            ) from None
        if want is LogicalType.INT:
            if type(v) is not int:
                if isinstance(v, np.integer):
                    v = int(v)
                else:
                    raise _key_problem(entity, key, want, f"{type_name(v)} {str(v)[:40]!r}")
        elif type(v) is not str:
            if isinstance(v, np.str_):  # an element of a numpy array, as np.integer above
                v = str(v)
            else:
                raise _key_problem(entity, key, want, f"{type_name(v)} {str(v)[:40]!r}")
        values.append(v)
    return encode_key(values)


def encode_key(values: Sequence[Any]) -> str:
    """The key string of one entity's key values (ints and strings)."""
    if len(values) == 1:
        v = values[0]
        return str(v) if type(v) is int else "s" + v
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


def key_columns(entity: Entity, table: pa.Table, *, what: str) -> dict[str, pa.ChunkedArray]:
    """The entity's key columns of ``table``, as int64 or string, checked."""
    out: dict[str, pa.ChunkedArray] = {}
    problems: list[SchemaProblem] = []
    for key, want in zip(entity.keys, entity.dtypes or (), strict=True):
        if key not in table.column_names:
            problems.append(
                SchemaProblem(key, "missing", f"{what} has no key column for {entity.name!r}")
            )
            continue
        col = table.column(key)
        t = col.type
        if pa.types.is_dictionary(t):
            col = pc.cast(col, t.value_type)
            t = col.type
        ok_int = pa.types.is_integer(t)
        # string_view: what Polars hands to Arrow.
        ok_str = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
        if want is LogicalType.INT and ok_int:
            try:
                out[key] = pc.cast(col, pa.int64())
            except pa.ArrowInvalid:  # uint64 keys past 2**63 - 1
                problems.append(
                    SchemaProblem(key, "range", f"{what} has keys outside the int64 range")
                )
        elif want is LogicalType.STRING and ok_str:
            out[key] = pc.cast(col, pa.string())
        else:
            problems.append(
                SchemaProblem(
                    key, "type", f"entity {entity.name!r} has {want} keys, {what} has {t}"
                )
            )
    if problems:
        raise SchemaError(problems=problems)
    return out


def as_arrow(data: object, *, what: str) -> pa.Table:
    """A pyarrow Table of a DataFrame, Table or RecordBatch (pandas index dropped)."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pd.DataFrame):
        bad = [c for c in data.columns if not isinstance(c, str)]
        if bad:
            raise SchemaError(
                problems=[SchemaProblem(None, "input", f"{what} column names must be strings")]
            )
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise SchemaError(
                problems=[SchemaProblem(None, "input", f"{what}: {str(err)[:200]}")]
            ) from err
    raise SchemaError(
        problems=[
            SchemaProblem(
                None,
                "input",
                f"{what} must be a pandas DataFrame or pyarrow Table, got {type_name(data)}",
            )
        ]
    )


def entity_table(
    table: pa.Table, entities: Sequence[Entity], timestamp: str, *, what: str
) -> pa.Table:
    """``__row``, ``__ts`` (UTC) and every entity's key columns of ``table``, checked."""
    if timestamp not in table.column_names:
        raise SchemaError(
            problems=[
                SchemaProblem(
                    timestamp,
                    "missing",
                    f"{what} has no timestamp column {timestamp!r} (pass timestamp=...)",
                )
            ]
        )
    ts = utc_column(table.column(timestamp), timestamp, what=what)
    if ts.null_count:
        raise SchemaError(
            problems=[SchemaProblem(timestamp, "null", f"{what} has {ts.null_count} null times")]
        )
    cols: dict[str, Any] = {"__row": pa.array(np.arange(table.num_rows, dtype=np.int64))}
    cols["__ts"] = ts
    problems: list[SchemaProblem] = []
    for entity in entities:
        try:
            cols.update(key_columns(entity, table, what=what))
        except SchemaError as err:  # noqa: PERF203 - one error lists every entity's problems
            problems.extend(err.problems)
    if problems:
        raise SchemaError(problems=problems)
    return pa.table(cols)


def _value(t: LogicalType) -> Callable[[pa.ChunkedArray], list[Any]]:
    if t is LogicalType.FLOAT:
        return lambda col: pc.cast(col, pa.float64()).to_pylist()
    if t is LogicalType.DATETIME:
        return lambda col: pc.cast(pc.cast(col, UTC_US), pa.int64()).to_pylist()
    if t is LogicalType.CATEGORY:
        return lambda col: pc.cast(col, pa.string()).to_pylist()
    return lambda col: col.to_pylist()


def encode_payloads(batch: pa.RecordBatch, schema: Schema) -> list[str]:
    """One JSON array per row of ``batch``'s feature columns, in the schema's order."""
    columns = [_value(c.dtype)(batch.column(c.name)) for c in schema.columns]
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    return [dumps(list(row)) for row in zip(*columns, strict=True)]


def json_loads() -> Callable[[str], Any]:
    """The fastest JSON decoder at hand: orjson (the ``store`` extra) with a fallback.

    Payloads are written by the standard library, which writes NaN and infinities as
    ``NaN``/``Infinity``; orjson refuses those, so such a payload is decoded again by the
    standard library.
    """
    try:
        import orjson  # noqa: PLC0415 - optional speed-up
    except ImportError:
        return json.loads
    fast = orjson.loads
    error = orjson.JSONDecodeError
    slow = json.loads

    def loads(text: str) -> Any:
        try:
            return fast(text)
        except error:
            return slow(text)

    return loads


def _to_datetime(v: Any) -> datetime | None:
    return None if v is None else from_micros(int(v))


def decoders(schema: Schema) -> list[Callable[[Any], Any] | None]:
    """Per feature, a function turning its JSON value into the typed Python value."""
    out: list[Callable[[Any], Any] | None] = []
    for c in schema.columns:
        if c.dtype is LogicalType.DATETIME:
            out.append(_to_datetime)
        else:
            out.append(None)
    return out
