"""The ASGI application: a predictor behind ``/v1/predict``, ``/v1/model`` and probes.

Errors are ``application/problem+json`` (RFC 9457): 400 for a body that is not JSON (the
parser's reason, never the body; NaN, Infinity and numbers no double holds are refused by
either JSON library), 408 for a body that does not arrive within ``body_timeout_s``, 413
for a body over ``max_body_bytes`` or a list over ``max_records``, 415 for another content
type, charset or a content coding, 422 for JSON that is not a record (an object) and
listing every schema problem of every record (``errors[].pointer`` is a JSON Pointer into
the request body), 500 when the model (or anything else) raises, with no traceback, type
or value of the failure in the body, only the request id the server's log line carries.
Every answer carries an ``X-Request-ID`` (see :mod:`prodml.serving._guard`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

import pandas as pd

from prodml._extras import require
from prodml._params import NONE, Interval, OneOf, TypeOf, check_params
from prodml._state import STRICT_JSON
from prodml._zones import canonical_zone, zone_fits
from prodml.errors import ConfigError, SchemaError
from prodml.schema import LogicalType
from prodml.serving._batcher import MicroBatcher
from prodml.serving._echo import echo
from prodml.serving._openapi import READABLE
from prodml.serving._predictor import Prediction, Predictor
from prodml.serving._served import ModelError

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["ProblemError", "check_app_options", "create_app", "echo", "problems"]


class ProblemError(Exception):
    """An HTTP problem (RFC 9457) raised inside a route and answered as problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        unread: tuple[list[Any], bool] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        self.headers = dict(headers or {})
        # A body of values that are not all records (JSON objects), and whether it was one
        # value (not a list): the route counts them as the predictor counts them in process
        # before it answers (they are never in the answer).
        self.unread = unread


def _codec(json_library: str) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    if json_library in ("auto", "orjson"):
        try:
            import orjson  # noqa: PLC0415 - optional, measured faster (benchmarks/)
        except ImportError:
            if json_library == "orjson":
                raise
        else:

            def dumps_orjson(obj: Any) -> bytes:
                return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)

            return orjson.loads, dumps_orjson

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    return _loads_json, dumps


def _loads_json(raw: bytes) -> Any:
    """The standard library's parse of UTF-8 JSON, reading what orjson reads.

    :data:`prodml._state.STRICT_JSON`: every failure is a ``ValueError``.
    """
    return STRICT_JSON.decode(raw.decode("utf-8"))


def _timestamps(record: Any, columns: tuple[tuple[str, str | None], ...]) -> Any:
    """ISO 8601 strings of datetime columns as timestamps (others left for validation).

    ``columns`` pairs each datetime column with the zone every served schema declares for
    it (``None``: naive, or versions that disagree). JSON has no zone names, only offsets:
    a string with an offset (``+01:00``, ``Z``) for a column with a zone is converted to
    that zone (the same instant); a naive string stays naive, and validation refuses it
    in a zoned column rather than guess the zone it was written in.
    """
    if not columns or type(record) is not dict:
        return record
    for name, zone in columns:
        v = record.get(name)
        if type(v) is str and READABLE.fullmatch(v) is not None:
            # Only what /openapi.json's patterns describe is read (not every form
            # fromisoformat takes: "2024-07-01T07", "+0100", week dates, 7+ fraction
            # digits silently cut); any other string stays, and validation refuses it
            # (so does one in a zone no installed tz database holds).
            with contextlib.suppress(ValueError, KeyError):  # KeyError: zone lookups
                sent = _dt.datetime.fromisoformat(v)
                stamp = pd.Timestamp(sent)
                if zone is not None and stamp.tzinfo is not None:
                    stamp = stamp.tz_convert(zone)
                # Converted past Python's years ("9999-12-31T23:59:59-10:00" in UTC), a
                # Timestamp breaks the record path's checks: the value as sent, which
                # validation refuses (outside the range prodml computes with).
                record[name] = stamp if 1 <= stamp.year <= 9999 else sent
    return record


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "a number", float: "a number", type(None): "null"}  # fmt: skip


def not_a_record(data: Any, pointer: str) -> dict[str, Any]:
    """The ``errors`` entry of a record that is not a JSON object."""
    kind = _JSON_TYPES.get(type(data), "not an object")
    return {"pointer": pointer, "column": None, "kind": "type",
            "detail": f"a record must be a JSON object, got {kind}"}  # fmt: skip


def problems(err: SchemaError, *, in_list: bool) -> list[dict[str, Any]]:
    """Each schema problem as an RFC 9457 ``errors`` entry with a JSON Pointer.

    The schema's messages quote a short prefix of a wrong value and redact what looks
    like personal data; each then goes through :func:`echo`, since an answer may be
    logged by whoever relays it.
    """
    out = []
    for p in err.problems:
        where = f"/{p.row}" if in_list and p.row is not None else ""
        pointer = where + (f"/{_escape(p.column)}" if p.column is not None else "")
        entry: dict[str, Any] = {
            "pointer": pointer,
            "column": p.column,
            "kind": p.kind,
            "detail": echo(p.message),
        }
        if in_list:
            entry["record"] = p.row
        out.append(entry)
    return out


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def create_app(
    predictor: Predictor,
    *,
    max_body_bytes: int = 1_048_576,
    max_records: int = 1000,
    max_explain: int = 100,
    max_batch: int | None = None,
    max_wait_ms: float = 2.0,
    json_library: Literal["auto", "orjson", "json"] = "auto",
    body_timeout_s: float = 30.0,
    access_log: bool = False,
) -> Starlette:
    """An ASGI (Starlette) application serving ``predictor``.

    Routes: ``POST /v1/predict`` (a JSON object: one record; a JSON array: many, answered
    as an array; ``?explain=true`` adds explanations; each record's ``id`` is a prediction
    id the server made, the one to send its label against, also in ``X-Prediction-ID`` for
    one record; a client's ``X-Request-ID`` is echoed, for tracing only), ``GET /v1/model``
    (name, version, schema, fingerprint, variants), ``GET /healthz`` (the process
    answers), ``GET /readyz`` (a verified model is loaded and the app is not shutting
    down), ``GET /metrics`` (Prometheus text: serving counters, plus the monitor's
    ``PrometheusSink`` registry when it has one) and ``GET /openapi.json`` (the OpenAPI 3.1
    document, with the served schema as the request record's JSON Schema).

    Parameters
    ----------
    predictor
        What to serve; the app never closes it.
    max_body_bytes
        Larger request bodies get 413: before they are read when they say their length,
        while they are read otherwise (chunked).
    max_records
        Longer lists get 413.
    max_explain
        Longer lists with ``?explain=true`` get 413: an explanation can cost far more
        than its prediction (a sampling explainer runs the model hundreds of times).
    max_batch, max_wait_ms
        Micro-batching (off when ``max_batch`` is ``None``): concurrent single-record
        requests are predicted together, up to ``max_batch`` of them, the first waiting
        at most ``max_wait_ms``; answers equal the unbatched ones bit for bit.
    json_library
        ``"auto"`` (orjson when installed, else the standard library), ``"orjson"`` or
        ``"json"``. Both read the same values: numbers no double holds (``1e400``) and
        lone surrogate escapes are refused, integers beyond 64 bits become floats, and of
        an object's duplicate keys the last wins.
    body_timeout_s
        Seconds a request's body may take to arrive, from when the route starts reading
        it; a client that stalls gets 408 and its connection is closed.
    access_log
        Log one JSON line per request (time, method, path, status, duration, bytes,
        request id; never the query string, headers, bodies or feature values) on the
        ``prodml.serving.access`` logger at INFO (see :mod:`prodml.serving._access`).
        The app adds no handler: configure logging to keep the lines.

    Raises
    ------
    MissingExtraError
        When starlette is not installed (extra ``serve``).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from starlette.testclient import TestClient
    >>> from prodml.features import FeaturePipeline, steps
    >>> df = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    >>> pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(df)
    >>> pred = Predictor(pipe, LogisticRegression().fit(pipe.transform(df), [0, 0, 1, 1]))
    >>> with TestClient(create_app(pred)) as client:
    ...     ok = client.post("/v1/predict", json={"x": 2.5})
    ...     bad = client.post("/v1/predict", json=[{"x": 1.0}, {"x": "high"}])
    >>> ok.status_code, ok.json()["variant"]
    (200, 'default')
    >>> bad.status_code, bad.headers["content-type"], [e["pointer"] for e in bad.json()["errors"]]
    (422, 'application/problem+json', ['/1/x'])
    """
    check_app_options(
        max_body_bytes=max_body_bytes,
        max_records=max_records,
        max_explain=max_explain,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        json_library=json_library,
        body_timeout_s=body_timeout_s,
        access_log=access_log,
    )
    if not isinstance(predictor, Predictor):
        raise ConfigError("create_app needs a prodml.serving.Predictor", parameter="predictor")
    require("starlette", extra="serve", feature="prodml.serving.create_app")
    from prodml.serving._routes import build_app  # noqa: PLC0415 - imports starlette

    return build_app(
        _Settings(
            predictor,
            max_body_bytes,
            max_records,
            max_batch,
            max_wait_ms / 1000.0,
            body_timeout_s=float(body_timeout_s),
            max_explain=max_explain,
            access_log=access_log,
        ),
        _codec(json_library),
    )


def check_app_options(**options: Any) -> None:
    """Check :func:`create_app`'s settings (a ``ConfigError`` naming the first wrong one).

    ``prodml serve`` checks them before it listens, long before the model has loaded.
    """
    check_params(
        "create_app",
        options,
        {
            "max_body_bytes": [Interval(int, 1, None)],
            "max_records": [Interval(int, 1, None)],
            "max_explain": [Interval(int, 1, None)],
            "max_batch": [Interval(int, 2, None), NONE],
            "max_wait_ms": [Interval(float, 0, None)],
            "json_library": [OneOf(("auto", "orjson", "json"))],
            "body_timeout_s": [Interval(float, 0, None, closed="neither")],
            "access_log": [TypeOf(bool, "a bool")],
        },
    )


def _refuses_null(versions: Iterable[Any]) -> frozenset[str]:
    """Columns some served version refuses a null in: its schema's or its pipeline's word.

    A request may go to any version (a canary, an A/B arm), so a column is documented
    nullable only when every version takes a null there. A pipeline without
    ``accepts_missing`` (a user's own class) is taken at its schema's word.
    """
    out: set[str] = set()
    for served in versions:
        out.update(c.name for c in served.schema.columns if not c.nullable)
        accepts = getattr(served.pipeline, "accepts_missing", None)
        if callable(accepts):
            names = served.pipeline.input_schema.names
            out.update(n for n in served.schema.names if n in names and not accepts(n))
    return frozenset(out)


class _Settings:
    """What the routes need: the predictor, the limits and the batcher (made at startup)."""

    def __init__(
        self,
        predictor: Predictor,
        max_body_bytes: int,
        max_records: int,
        max_batch: int | None,
        max_wait_s: float,
        *,
        body_timeout_s: float = 30.0,
        max_explain: int = 100,
        access_log: bool = False,
    ) -> None:
        self.predictor = predictor
        self.access_log = access_log
        self.max_explain = max_explain
        self.body_timeout_s = body_timeout_s
        self.max_body_bytes = max_body_bytes
        self.max_records = max_records
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.batcher: MicroBatcher | None = None
        self.ready = False
        self._dt_state: object = None
        self._dt_columns: tuple[tuple[str, str | None], ...] = ()
        self._doc: tuple[object, bytes] = (None, b"")

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        if self.max_batch is not None:
            self.batcher = MicroBatcher(self.predictor, self.max_batch, self.max_wait_s)
        self.ready = True
        try:
            yield
        finally:
            self.ready = False
            if self.batcher is not None:
                self.batcher.flush()
            self.predictor.drain_shadow()

    def datetime_columns(self) -> tuple[tuple[str, str | None], ...]:
        """Datetime columns of every served schema, each with the zone they all declare.

        The zone is ``None`` for naive columns and where two versions declare different
        zones (a request's offset is then left as sent). Recomputed when a version changes.
        """
        state = self.predictor._state
        if state is not self._dt_state:
            zones: dict[str, list[str | None]] = {}
            for served in state.versions.values():
                for c in served.schema.columns:
                    if c.dtype is LogicalType.DATETIME:
                        zones.setdefault(c.name, []).append(c.timezone)
            # The canonical spelling: pandas reads '+0530' as +05:00 and knows no 'Z'.
            agreed = {
                name: canonical_zone(z[0])
                if z[0] is not None and all(zone_fits(z[0], other) for other in z)
                else None
                for name, z in zones.items()
            }
            self._dt_columns, self._dt_state = tuple(sorted(agreed.items())), state
        return self._dt_columns

    async def predict_one(self, record: Any, pid: str, explain: bool) -> Prediction:
        """``record``'s prediction, with the prediction id ``pid``."""
        if self.batcher is not None and not explain:
            return await self.batcher.predict(record, pid)
        return self.predictor.predict_record(record, id=pid, explain=explain)

    def predict_list(self, records: list[Any], ids: list[str], explain: bool) -> list[Prediction]:
        """Every record's prediction (``ids[i]`` is record ``i``'s), or a 422 for all."""
        results = self.predictor.predict_many(records, ids=ids, explain=explain, atomic=True)
        bad = [r for r in results if isinstance(r, SchemaError)]
        if bad:
            found = [p for err in bad for p in problems(err, in_list=True)]
            raise ProblemError(
                422,
                "Invalid records",
                f"{len(bad)} of {len(records)} records are invalid",
                errors=found,
            )
        failed = [r for r in results if isinstance(r, ModelError)]
        if failed:
            raise failed[0]
        # atomic, and no record failed: every entry is a Prediction
        return cast("list[Prediction]", results)

    def openapi(self, dumps: Callable[[Any], bytes]) -> bytes:
        """The OpenAPI document of what serves now (remade when a version changes)."""
        state = self.predictor._state
        if self._doc[0] is not state:
            from prodml.serving._openapi import openapi_document  # noqa: PLC0415

            home = state.versions[state.home]
            doc = openapi_document(
                home.schema,
                title=f"prodml serving: {home.name}",
                version=str(home.version) if home.version is not None else "unversioned",
                max_records=self.max_records,
                max_body_bytes=self.max_body_bytes,
                explains=all(s.explainer is not None for s in state.versions.values()),
                refuses_null=_refuses_null(state.versions.values()),
            )
            self._doc = (state, dumps(doc))
        return self._doc[1]

    @staticmethod
    def problem_body(err: ProblemError) -> dict[str, Any]:
        return {"type": "about:blank", "title": err.title, "status": err.status,
                "detail": err.detail, **err.extra}  # fmt: skip

    @staticmethod
    def model_info(predictor: Predictor) -> Mapping[str, Any]:
        return predictor.describe()

    def metrics_text(self) -> str:
        """Serving metrics, then each monitor's ``PrometheusSink`` registry, as text."""
        from prodml.monitoring.prometheus import PrometheusSink  # noqa: PLC0415

        text = self.predictor.metrics_text()
        registries: dict[int, Any] = {}
        for monitor in self.predictor.monitors.values():
            for sink in getattr(monitor, "sinks", ()):
                if isinstance(sink, PrometheusSink):
                    registries.setdefault(id(sink.registry), sink.registry)
        if registries:
            from prometheus_client import generate_latest  # noqa: PLC0415 - the sink's extra

            text += "".join(generate_latest(r).decode() for r in registries.values())
        return text
