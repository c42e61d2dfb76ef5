"""The OpenAPI 3.1 document of :func:`~prodml.serving.create_app`, served at ``/openapi.json``.

The request record's JSON Schema comes from the served version's :class:`~prodml.schema.Schema`
(one property per column: its type, ``null`` when a null is served: the column is nullable
and every served pipeline accepts a null there (``FeaturePipeline.accepts_missing``),
``enum`` of the allowed values,
``minimum`` / ``maximum``; extra keys refused when the schema is strict), so clients and
tools (schemathesis, code generators, Swagger UI pointed at the URL) see the contract the
server enforces. Every error is ``application/problem+json`` (RFC 9457).
"""

from __future__ import annotations

import re
from typing import Any

from prodml.schema import Column, LogicalType, Schema

__all__ = ["AWARE", "NAIVE", "READABLE", "openapi_document"]

_TYPES = {
    LogicalType.FLOAT: {"type": "number"},
    LogicalType.INT: {"type": "integer"},
    LogicalType.BOOL: {"type": "boolean"},
    LogicalType.STRING: {"type": "string"},
    LogicalType.CATEGORY: {"type": "string"},
}

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "kind", "detail"],
                "properties": {
                    "pointer": {"type": "string"},
                    "column": {"type": ["string", "null"]},
                    "kind": {"type": "string"},
                    "detail": {"type": "string"},
                    "record": {"type": "integer"},
                },
            },
        },
    },
}

_PREDICTION = {
    "type": "object",
    "required": ["value", "version", "variant", "latency_s", "id", "model"],
    "properties": {
        "value": {"description": "the model's answer (a score in [0, 1] for a classifier)"},
        "version": {"type": ["integer", "null"]},
        "variant": {"type": "string"},
        "latency_s": {"type": "number"},
        "id": {"type": "string", "description": "the prediction id to send its label against"},
        "model": {"type": "string"},
        "explanation": {"description": "with ?explain=true"},
    },
}

_REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "echoed for tracing (a plain one; another is replaced by the server's)",
    "schema": {"type": "string", "maxLength": 200, "pattern": "^[\\x20-\\x7e]*$"},
}

_YES, _NO = ["true", "1", "yes"], ["false", "0", "no", ""]


def _explain(explains: bool) -> dict[str, Any]:
    """The ``explain`` flag: true only when every served version has an explainer."""
    return {
        "name": "explain",
        "in": "query",
        "required": False,
        "description": "add explanations" if explains else "no version served explains",
        "schema": {"type": "string", "enum": [*_YES, *_NO] if explains else _NO},
    }


FIRST_YEAR, LAST_YEAR = 1678, 2261
"""Whole years prodml computes in (datetime64[ns] holds 1677-09-21 .. 2262-04-11): any
offset (at most 23:59) keeps a time of these years inside that range."""


def _years(years: list[int]) -> str:
    """A regular expression matching exactly these four-digit years (decade by decade)."""
    decades: dict[str, list[str]] = {}
    for y in years:
        decades.setdefault(str(y)[:3], []).append(str(y)[3])
    parts = [p + (d[0] if len(d) == 1 else f"[{''.join(d)}]") for p, d in sorted(decades.items())]
    return f"(?:{'|'.join(parts)})"


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


_ALL = list(range(FIRST_YEAR, LAST_YEAR + 1))
# Each month's days, and 29 February in leap years only (1700, 1800, 1900, 2100 and 2200
# are not; 2000 is).
_DATE = (
    f"(?:{_years(_ALL)}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])"
    f"|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))"
    f"|{_years([y for y in _ALL if _leap(y)])}-02-29)"
)
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
AWARE = f"^{_DATE}[T ]{_TIME}{_OFFSET}$"
"""What a datetime column with a ``timezone`` reads: a date, a time and an offset."""
NAIVE = f"^{_DATE}(?:[T ]{_TIME})?$"
"""What a naive datetime column reads: a date, or a date and a time, without an offset."""
READABLE = re.compile(f"^{_DATE}(?:[T ]{_TIME}{_OFFSET}?)?$", re.ASCII)
"""Either (ASCII digits only, as ECMA-262's ``\\d``; matched whole with ``fullmatch``):
the strings the app turns into timestamps (any other string stays a string, which
validation refuses), so the document says exactly what the server reads."""


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _column(c: Column, nullable: bool) -> dict[str, Any]:
    if c.dtype is LogicalType.DATETIME:
        # JSON has offsets, not zone names: an aware column wants one, a naive one none.
        # Not format "date-time": RFC 3339 wants seconds, and allows leap seconds,
        # lowercase "t" and years the server refuses; the pattern is exactly what the
        # server reads (_app._timestamps reads no other string).
        span = f"years {FIRST_YEAR} to {LAST_YEAR}"
        if c.timezone is not None:
            text = f"ISO 8601 with an offset ({span}), converted to {c.timezone}"
            pattern = AWARE
        else:
            text = f"ISO 8601 without an offset, a naive timestamp or a date ({span})"
            pattern = NAIVE
        out: dict[str, Any] = {"type": "string", "pattern": pattern, "description": text}
    else:
        out = dict(_TYPES[c.dtype])
    if c.allowed is not None:
        out["enum"] = list(c.allowed)
    if c.min is not None:
        out["minimum"] = c.min
    if c.max is not None:
        out["maximum"] = c.max
    if nullable:
        out = {"anyOf": [out, {"type": "null"}]}
    if c.description:
        out["description"] = c.description
    return out


def record_schema(schema: Schema, refuses_null: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON Schema of one request record for ``schema``.

    A column is nullable when the schema says so and it is not in ``refuses_null`` (the
    columns a served pipeline refuses a null in, whatever the schema lets through).
    """
    return {
        "type": "object",
        "properties": {
            c.name: _column(c, c.nullable and c.name not in refuses_null) for c in schema.columns
        },
        "required": [c.name for c in schema.columns],  # a missing column is refused
        "additionalProperties": not schema.strict,
    }


def openapi_document(
    schema: Schema,
    *,
    title: str,
    version: str,
    max_records: int,
    max_body_bytes: int,
    explains: bool,
    refuses_null: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app serving a model with request schema ``schema``.

    ``explains``: whether every served version has an explainer (``?explain=true``);
    ``refuses_null``: columns documented non-nullable whatever ``schema`` says.
    """
    predict_body = {
        "oneOf": [
            {"$ref": "#/components/schemas/Record"},
            {"type": "array", "maxItems": max_records,
             "items": {"$ref": "#/components/schemas/Record"}},
        ]
    }  # fmt: skip
    answer = {
        "oneOf": [
            {"$ref": "#/components/schemas/Prediction"},
            {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}},
        ]
    }
    json_object = {"application/json": {"schema": {"type": "object"}}}
    status = {"application/json": {"schema": {"type": "object", "required": ["status"],
              "properties": {"status": {"type": "string"}}}}}  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {
            "/v1/predict": {
                "post": {
                    "summary": "Predict one record (an object) or many (an array of them)",
                    "parameters": [_explain(explains), _REQUEST_ID],
                    "requestBody": {
                        "required": True,
                        "description": f"UTF-8 JSON, at most {max_body_bytes} bytes",
                        "content": {"application/json": {"schema": predict_body}},
                    },
                    "responses": {
                        "200": {
                            "description": "a prediction, or an array of them for an array",
                            "content": {"application/json": {"schema": answer}},
                        },
                        "400": _problem("not JSON, or a bad parameter or header"),
                        "408": _problem("the body did not arrive in time"),
                        "413": _problem("the body or the array is too large"),
                        "415": _problem("not UTF-8 JSON, or a content coding"),
                        "422": _problem("JSON that is not records of the schema (every problem)"),
                        "500": _problem("the model failed (the request id, nothing else)"),
                    },
                }
            },
            "/v1/model": {
                "get": {
                    "summary": "What is served: name, version, schema, fingerprint, variants",
                    "responses": {"200": {"description": "the model", "content": json_object}},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness: the process answers",
                    "responses": {"200": {"description": "alive", "content": status}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: a verified model serves and the app is not stopping",
                    "responses": {
                        "200": {"description": "ready", "content": status},
                        "503": {"description": "not ready", "content": status},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text",
                    "responses": {
                        "200": {
                            "description": "the metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": json_object}},
                }
            },
        },
        "components": {
            "schemas": {
                "Record": record_schema(schema, refuses_null),
                "Prediction": _PREDICTION,
                "Problem": _PROBLEM,
            }
        },
    }
