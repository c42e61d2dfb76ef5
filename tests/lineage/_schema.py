"""The OpenLineage RunEvent JSON schema, built from openlineage-python's own classes.

The client generates its attrs classes from the OpenLineage spec; walking their fields
and types back gives the spec's structure (required fields, types, enums, nesting)
without copying the spec file. Formats the client checks in its validators (a UUID run
id, ISO date-times, URI producers) are added by field name.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

import attr

_FORMATS = {
    "runId": "uuid",
    "eventTime": "date-time",
    "producer": "uri",
    "schemaURL": "uri",
    "_producer": "uri",
    "_schemaURL": "uri",
}
# Fields the client fills in by default but the spec requires of every event and facet.
_FACET_REQUIRED = ("_producer", "_schemaURL", "producer", "schemaURL")


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema(a, defs) for a in args]}
    if tp is type(None):
        return {"type": "null"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if origin is list:
        return {"type": "array", "items": _schema(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if isinstance(tp, type) and attr.has(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # recursion guard
            hints = typing.get_type_hints(tp)
            props, required = {}, []
            for f in attr.fields(tp):
                if f.name.startswith("_") and f.name not in _FACET_REQUIRED:
                    continue
                prop = _schema(hints[f.name], defs)
                if f.name in _FORMATS:
                    prop = {**prop, "format": _FORMATS[f.name]}
                props[f.name] = prop
                if f.default is attr.NOTHING or f.name in _FACET_REQUIRED:
                    required.append(f.name)
            defs[name] = {"type": "object", "properties": props, "required": required}
        return {"$ref": f"#/$defs/{name}"}
    return {}  # Any


def run_event_schema() -> dict[str, Any]:
    """JSON schema of ``openlineage.client.event_v2.RunEvent``."""
    from openlineage.client import event_v2

    defs: dict[str, Any] = {}
    root = _schema(event_v2.RunEvent, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root, "$defs": defs}
