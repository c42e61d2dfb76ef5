"""Starlette routes of :func:`prodml.serving.create_app` (imported only with starlette)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from prodml.errors import ProdMLError, SchemaError
from prodml.serving._app import ProblemError, _Settings, _timestamps, not_a_record, problems
from prodml.serving._served import ModelError

__all__ = ["build_app"]

_log = logging.getLogger("prodml.serving")

_JSON = "application/json"
_PROBLEM = "application/problem+json"
_METRICS = "text/plain; version=0.0.4; charset=utf-8"
_TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_MAX_ID = 200  # an X-Request-ID is stored with the prediction: bounded like the body


def _plain_id(rid: str) -> bool:
    """An X-Request-ID that is short, ASCII and without control characters."""
    return len(rid) <= _MAX_ID and rid.isascii() and rid.isprintable()


_FLAGS = {"": False, "0": False, "false": False, "no": False,
          "1": True, "true": True, "yes": True}  # fmt: skip


Codec = tuple[Callable[[bytes], Any], Callable[[Any], bytes]]


def _log_model_failure(rid: str | None, err: ModelError) -> None:
    """Log a model's failure on a request: where it raised, not what it said.

    The model's own message may quote the request's values (numpy's "could not convert
    string to float: 'ann@example.com'"), which are data about people: at ERROR the log
    has the request id, the model, version and exception type (``err``'s message) and the
    traceback's frames; the message itself only at DEBUG, for an operator who asks.
    """
    cause = err.__cause__
    frames = "".join(traceback.format_tb(cause.__traceback__)).rstrip() if cause else ""
    _log.error(
        "prodml serving: request %s failed: %s (its message is logged at DEBUG: it may "
        "quote the request)%s",
        rid,
        err,
        f"\nTraceback (most recent call last):\n{frames}" if frames else "",
    )
    if cause is not None:
        _log.debug("prodml serving: request %s: %s: %s", rid, type(cause).__name__, cause)


def build_app(settings: _Settings, codec: Codec) -> Starlette:  # noqa: PLR0915 - one closure per route
    """The Starlette application for ``settings``."""
    loads, dumps = codec
    pred = settings.predictor

    def problem(err: ProblemError) -> Response:
        return Response(dumps(settings.problem_body(err)), err.status, media_type=_PROBLEM)

    async def read_body(request: Request) -> bytes:
        limit = settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise ProblemError(413, "Content Too Large", f"the request body is over {limit} bytes")
        kind = request.headers.get("content-type", _JSON).partition(";")[0].strip().lower()
        if kind != _JSON and not kind.endswith("+json"):
            raise ProblemError(
                415, "Unsupported Media Type", "send the records as application/json"
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ProblemError(
                    413, "Content Too Large", f"the request body is over {limit} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def parse(body: bytes) -> Any:
        """The JSON body: an object, or an array of objects (else a 400 or 422 problem)."""
        try:
            data = loads(body)
        except ValueError as err:
            # The parser's reason and position, never the body itself.
            reason = str(err).splitlines()[0][:120] if body else "the body is empty"
            raise ProblemError(
                400, "Bad Request", f"the request body is not JSON: {reason}"
            ) from None
        if type(data) is dict:
            return data
        if type(data) is not list:
            raise ProblemError(
                422, "Invalid record", "send one record as a JSON object, or an array of them",
                errors=[not_a_record(data, "")],
            )  # fmt: skip
        if len(data) > settings.max_records:
            raise ProblemError(
                413,
                "Content Too Large",
                f"{len(data)} records; at most {settings.max_records} per request",
            )
        bad = [not_a_record(r, f"/{i}") for i, r in enumerate(data) if type(r) is not dict]
        if bad:
            raise ProblemError(
                422,
                "Invalid records",
                f"{len(bad)} of {len(data)} records are not JSON objects",
                errors=[{**e, "record": int(e["pointer"][1:])} for e in bad],
            )
        return data

    async def predict(request: Request) -> Response:
        rid = request.headers.get("x-request-id")
        try:
            if rid is not None and not _plain_id(rid):
                raise ProblemError(
                    400,
                    "Bad Request",
                    f"X-Request-ID must be at most {_MAX_ID} printable ASCII characters",
                )
            explain = _FLAGS.get(request.query_params.get("explain", "").lower())
            if explain is None:
                raise ProblemError(400, "Bad Request", "explain must be true or false")
            data = parse(await read_body(request))
            columns = settings.datetime_columns()
            if type(data) is list:
                records = [_timestamps(r, columns) for r in data]
                out: Any = [p.to_dict() for p in settings.predict_list(records, rid, explain)]
            else:
                result = await settings.predict_one(_timestamps(data, columns), rid, explain)
                out = result.to_dict()
        except ProblemError as err:
            return problem(err)
        except ClientDisconnect:  # gone before its body arrived: nobody reads an answer
            _log.debug("prodml serving: request %s: the client disconnected", rid)
            return Response(status_code=400)
        except SchemaError as err:
            return problem(
                ProblemError(
                    422, "Invalid record", str(err.problems[0]) if len(err.problems) == 1
                    else f"{len(err.problems)} problems found",
                    errors=problems(err, in_list=False),
                )
            )  # fmt: skip
        except ModelError as err:
            _log_model_failure(rid, err)
            return problem(
                ProblemError(500, "Internal Server Error", "the model failed on this request")
            )
        except ProdMLError as err:  # e.g. explain=true without an explainer
            return problem(ProblemError(400, "Bad Request", str(err)))
        return Response(dumps(out), media_type=_JSON)

    async def model(request: Request) -> Response:
        return Response(dumps(settings.model_info(pred)), media_type=_JSON)

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=_JSON)

    async def readyz(request: Request) -> Response:
        if settings.ready:
            return Response(b'{"status":"ready"}', media_type=_JSON)
        return Response(b'{"status":"not ready"}', 503, media_type=_JSON)

    async def metrics(request: Request) -> Response:
        return Response(settings.metrics_text(), media_type=_METRICS)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        title = _TITLES.get(status, "Error")
        response = problem(ProblemError(status, title, str(getattr(exc, "detail", title))))
        # A 405 names the allowed methods (RFC 9110: Allow is required there).
        response.headers.update(getattr(exc, "headers", None) or {})
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        _log.error("prodml serving: unexpected error", exc_info=exc)
        return problem(ProblemError(500, "Internal Server Error", "the server failed"))

    return Starlette(
        routes=[
            Route("/v1/predict", predict, methods=["POST"]),
            Route("/v1/model", model, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=settings.lifespan,
    )
