"""Between :class:`prodml.schema.Schema` and ``pyarrow.Schema``, both ways.

The arrow type of each logical type (:data:`_ARROW_TYPES`), and the field and schema
metadata (under the ``prodml`` key) that carry what arrow types cannot say: allowed
values, ranges, descriptions, ``sensitive``, a time zone's declared spelling when arrow's
type holds its canonical one (``'+0530'`` as ``'+05:30'``) and the schema's ``strict`` flag.

``prodml.schema`` imports this module inside :meth:`~prodml.schema.Schema.to_arrow` and
:meth:`~prodml.schema.Schema.from_arrow`, so this one imports the schema's types at
module level without a cycle.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from prodml._data import column_kind
from prodml._zones import canonical_zone, same_zone, zone_error
from prodml.errors import SchemaError, SchemaProblem
from prodml.schema import Column, LogicalType, Schema

_META_KEY = b"prodml"

_ARROW_TYPES = {
    LogicalType.FLOAT: lambda c: pa.float64(),
    LogicalType.INT: lambda c: pa.int64(),
    LogicalType.BOOL: lambda c: pa.bool_(),
    LogicalType.STRING: lambda c: pa.string(),
    LogicalType.CATEGORY: lambda c: pa.dictionary(pa.int32(), pa.string()),
    # The canonical spelling of the zone ('UTC', '+05:30'): arrow needs a tz database for
    # 'Z', 'utc' or '+0530' (and has none for them), pandas reads '+0530' as +05:00.
    LogicalType.DATETIME: lambda c: pa.timestamp(
        "ns", tz=None if c.timezone is None else canonical_zone(c.timezone)
    ),
}


def _arrow_schema(schema: Schema) -> pa.Schema:
    """The ``pyarrow.Schema`` of ``schema`` (see :meth:`Schema.to_arrow`)."""
    fields = []
    for c in schema.columns:
        extra = {
            k: v
            for k, v in (
                ("allowed", list(c.allowed) if c.allowed is not None else None),
                ("min", c.min),
                ("max", c.max),
                ("description", c.description or None),
                ("sensitive", True if c.sensitive else None),
                ("timezone", _spelling(c)),
            )
            if v is not None
        }
        meta = {_META_KEY: json.dumps(extra).encode()} if extra else None
        fields.append(pa.field(c.name, _ARROW_TYPES[c.dtype](c), c.nullable, meta))
    meta = {_META_KEY: b'{"strict": true}'} if schema.strict else None
    return pa.schema(fields, metadata=meta)


def _spelling(c: Column) -> str | None:
    """The declared zone when the arrow type spells it otherwise (restored by from_arrow)."""
    if c.timezone is None or canonical_zone(c.timezone) == c.timezone:
        return None
    return c.timezone


def _zone(f: pa.Field, extra: dict[str, object]) -> str | None:
    """The zone of a timestamp field: as declared when the metadata says so, else canonical.

    The type decides: a declared spelling in the metadata is used only when it is the
    type's zone (a column converted to another zone keeps its field metadata).
    """
    tz = getattr(f.type, "tz", None)
    if tz is None:
        return None
    declared = extra.get("timezone")
    if isinstance(declared, str) and zone_error(declared) is None and same_zone(declared, tz):
        return declared
    return canonical_zone(tz)


def _arrow_columns(schema: pa.Schema) -> tuple[list[Column], bool]:
    """The columns and the ``strict`` flag of an arrow schema (see :meth:`Schema.from_arrow`).

    Raises
    ------
    SchemaError
        For arrow types with no logical equivalent (lists, structs, binary, ...).
    """
    columns: list[Column] = []
    problems = []
    for f in schema:
        kind = column_kind(pa.chunked_array([], type=f.type)).kind
        if kind in ("mixed", "null"):
            problems.append(
                SchemaProblem(f.name, "type", f"arrow type {f.type} has no logical type")
            )
            continue
        extra = _metadata(f.metadata, f"column {f.name!r}")
        tz = _zone(f, extra) if kind == "datetime" else None
        columns.append(
            Column(
                f.name,
                kind,
                nullable=f.nullable,
                timezone=tz,
                allowed=extra.get("allowed"),
                min=extra.get("min"),
                max=extra.get("max"),
                description=extra.get("description", ""),
                sensitive=_flag(extra, "sensitive", f"column {f.name!r}"),
            )
        )
    if problems:
        raise SchemaError(problems=problems)
    smeta = _metadata(schema.metadata, "schema")
    return columns, _flag(smeta, "strict", "schema")


def _metadata(metadata: dict[bytes, bytes] | None, where: str) -> dict[str, Any]:
    """The metadata prodml wrote on a field or schema, as a dict; else a ``StateError``.

    A Parquet file's schema comes from wherever the file does: its metadata is read as
    saved state is (size and nesting bounded, JSON only), never trusted to be a dict.
    """
    if not metadata or _META_KEY not in metadata:
        return {}
    from prodml._state import Field, load_json  # noqa: PLC0415 - _state imports pydantic

    owner = f"Schema.from_arrow, metadata of the {where},"
    return dict(Field(load_json(metadata[_META_KEY], owner=owner), owner=owner).dict())


def _flag(extra: dict[str, Any], key: str, where: str) -> bool:
    """A true/false entry of the metadata: ``"false"`` is not true (``bool("false")`` is)."""
    from prodml._state import Field  # noqa: PLC0415 - _state imports pydantic

    value = extra.get(key, False)
    return Field(value, key, owner=f"Schema.from_arrow, metadata of the {where},").bool()
