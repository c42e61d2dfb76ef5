"""Starlette routes of :func:`prodml.serving.create_app` (imported only with starlette)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from prodml.errors import ProdMLError, SchemaError
from prodml.serving._access import AccessLog
from prodml.serving._app import (
    ProblemError,
    _Settings,
    _timestamps,
    echo,
    not_a_record,
    problems,
)
from prodml.serving._guard import (
    MAX_ID,
    RequestGuard,
    log_failure,
    new_prediction_ids,
    plain_id,
    request_id,
)
from prodml.serving._served import ModelError

__all__ = ["build_app"]

_log = logging.getLogger("prodml.serving")

_JSON = "application/json"
_PROBLEM = "application/problem+json"
_METRICS = "text/plain; version=0.0.4; charset=utf-8"
_TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_ON_LOOP = 8  # lists up to this long are predicted on the event loop, longer ones not
_CLOSE = {"connection": "close"}  # the rest of the body is not read: no keep-alive after
_EXPIRED = "prodml_body_expired"
_ROUTES = (
    "POST /v1/predict (one record as a JSON object, or an array of them; ?explain=true "
    "adds explanations), GET /v1/model, GET /healthz, GET /readyz, GET /metrics and "
    "GET /openapi.json"
)
"""What a 404 or 405 names: the routes (an MLServer, KServe or BentoML client tries others)."""


def _expire(task: asyncio.Task[Any] | None, request: Request) -> None:
    """The body timer went off: mark the request and cancel the task reading its body."""
    request.scope[_EXPIRED] = True
    if task is not None:
        task.cancel()


_UTF8 = ("utf-8", "utf8")  # "utf8": MySQL's and some clients' spelling of the same

_FLAGS = {"": False, "0": False, "false": False, "no": False,
          "1": True, "true": True, "yes": True}  # fmt: skip


Codec = tuple[Callable[[bytes], Any], Callable[[Any], bytes]]


def _content_type_problem(request: Request) -> ProblemError | None:
    """415 for a body that is not UTF-8 JSON as sent: another type, charset or coding."""
    kind, _, params = request.headers.get("content-type", _JSON).partition(";")
    kind = kind.strip().lower()
    if kind != _JSON and not kind.endswith("+json"):
        return ProblemError(415, "Unsupported Media Type", "send the records as application/json")
    for param in params.split(";"):
        key, _, value = param.partition("=")
        charset = value.strip().strip('"')
        if key.strip().lower() == "charset" and charset.lower() not in _UTF8:
            return ProblemError(
                415, "Unsupported Media Type",
                f"JSON must be sent as UTF-8 (charset=utf-8), not {echo(repr(charset[:40]))}",
            )  # fmt: skip
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding != "identity":
        # Nothing is decompressed (no gzip bomb): RFC 9110 answers a coding with 415.
        return ProblemError(
            415, "Unsupported Media Type", "send the body without a Content-Encoding"
        )
    return None


def build_app(settings: _Settings, codec: Codec) -> Starlette:  # noqa: PLR0915 - one closure per route
    """The Starlette application for ``settings``."""
    loads, dumps = codec
    pred = settings.predictor

    def problem(err: ProblemError) -> Response:
        response = Response(dumps(settings.problem_body(err)), err.status, media_type=_PROBLEM)
        response.headers.update(err.headers)
        return response

    async def read_body(request: Request) -> bytes:
        limit = settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise ProblemError(400, "Bad Request", "Content-Length must be a number")
            if int(length) > limit:
                raise ProblemError(
                    413, "Content Too Large", f"the request body is over {limit} bytes"
                )
        unsupported = _content_type_problem(request)
        if unsupported is not None:
            raise unsupported
        # A client that stalls mid-body is cut off: a timer cancels this task (cheaper
        # on the hot path than a task per request for asyncio.wait_for).
        task = asyncio.current_task()
        timer = asyncio.get_running_loop().call_later(
            settings.body_timeout_s, _expire, task, request
        )
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ProblemError(
                        413, "Content Too Large", f"the request body is over {limit} bytes",
                        headers=_CLOSE,
                    )  # fmt: skip
                chunks.append(chunk)
        except asyncio.CancelledError:
            uncancel = getattr(task, "uncancel", None)  # Python 3.11+
            if not request.scope.get(_EXPIRED) or (uncancel is not None and uncancel()):
                raise  # cancelled by someone else too (shutdown)
            raise ProblemError(
                408, "Request Timeout",
                f"the request body did not arrive within {settings.body_timeout_s:g} s",
                headers=_CLOSE,
            ) from None  # fmt: skip
        finally:
            timer.cancel()
        return b"".join(chunks)

    def parse(body: bytes) -> Any:
        """The JSON body: an object, or an array of objects (else a 400 or 422 problem)."""
        try:
            data = loads(body)
        except ValueError as err:
            # The parser's reason and position, never the body itself.
            reason = echo(str(err).splitlines()[0][:120]) if body else "the body is empty"
            raise ProblemError(
                400, "Bad Request", f"the request body is not JSON: {reason}"
            ) from None
        if type(data) is dict:
            return data
        if type(data) is not list:
            raise ProblemError(
                422, "Invalid record", "send one record as a JSON object, or an array of them",
                errors=[not_a_record(data, "")], unread=([data], True),
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
                unread=(data, False),
            )
        return data

    def count_unread(values: list[Any], single: bool, explain: bool) -> None:
        """Count values that are not all records as the predictor counts them in process.

        A lone value is ``predict_record``'s ``invalid``; a list is ``predict_many``'s
        (``atomic``, as the app calls it): ``invalid`` for each value that is not an object
        (and each invalid record), ``refused`` for the rest. Nothing is scored or logged.
        """
        columns = settings.datetime_columns()
        values = [_timestamps(v, columns) for v in values]
        with contextlib.suppress(ProdMLError):
            if single:
                pred.predict_record(values[0], explain=explain)
            else:
                ids = new_prediction_ids(len(values))
                pred.predict_many(values, ids=ids, explain=explain, atomic=True)

    async def predict(request: Request) -> Response:
        rid = request.headers.get("x-request-id")
        headers: dict[str, str] | None = None
        try:
            if rid is not None and not plain_id(rid):
                raise ProblemError(
                    400,
                    "Bad Request",
                    f"X-Request-ID must be at most {MAX_ID} printable ASCII characters",
                )
            explain = _FLAGS.get(request.query_params.get("explain", "").lower())
            if explain is None:
                raise ProblemError(400, "Bad Request", "explain must be true or false")
            data = parse(await read_body(request))
            columns = settings.datetime_columns()
            if type(data) is list:
                if explain and len(data) > settings.max_explain:
                    raise ProblemError(
                        413,
                        "Content Too Large",
                        f"{len(data)} records with explain=true; at most "
                        f"{settings.max_explain} per request",
                    )
                records = [_timestamps(r, columns) for r in data]
                # Prediction ids are made here, never taken from the client (see _guard).
                ids = new_prediction_ids(len(records))
                if len(records) > _ON_LOOP:
                    # A long list (each invalid record costs milliseconds to check) runs
                    # on a worker thread: the loop goes on answering probes and others.
                    done = await run_in_threadpool(settings.predict_list, records, ids, explain)
                else:
                    done = settings.predict_list(records, ids, explain)
                out: Any = [p.to_dict() for p in done]
            else:
                (pid,) = new_prediction_ids(1)
                result = await settings.predict_one(_timestamps(data, columns), pid, explain)
                out = result.to_dict()
                headers = {"x-prediction-id": pid}
                ids = [pid]
            if _log.isEnabledFor(logging.DEBUG):  # the trace from a request to its records
                _log.debug(
                    "prodml serving: request %s: predictions %s",
                    request_id(request.scope),
                    " ".join(ids),
                )
        except ProblemError as err:
            if err.unread is not None:
                values, single = err.unread
                if len(values) > _ON_LOOP:
                    await run_in_threadpool(count_unread, values, single, bool(explain))
                else:
                    count_unread(values, single, bool(explain))
            return problem(err)
        except ClientDisconnect:  # gone before its body arrived: nobody reads an answer
            gone = request_id(request.scope)
            _log.debug("prodml serving: request %s: the client disconnected", gone)
            return Response(status_code=400)
        except SchemaError as err:
            return problem(
                ProblemError(
                    422, "Invalid record", echo(str(err.problems[0]))
                    if len(err.problems) == 1 else f"{len(err.problems)} problems found",
                    errors=problems(err, in_list=False),
                )
            )  # fmt: skip
        except ModelError as err:
            logged = request_id(request.scope)
            log_failure(logged, str(err), err.__cause__ or err)
            return problem(
                ProblemError(
                    500, "Internal Server Error", "the model failed on this request",
                    request_id=logged,
                )
            )  # fmt: skip
        except ProdMLError as err:  # e.g. explain=true without an explainer
            # The predictor counted the request's records as refused, once each.
            return problem(ProblemError(400, "Bad Request", echo(str(err))))
        return Response(dumps(out), media_type=_JSON, headers=headers)

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

    async def openapi(request: Request) -> Response:
        return Response(settings.openapi(dumps), media_type=_JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        title = _TITLES.get(status, "Error")
        headers = getattr(exc, "headers", None) or {}
        # The path is not quoted (it may hold anything): the answer says what is served.
        if status == 404:
            detail = f"no such route; this server answers {_ROUTES}"
        elif status == 405 and headers.get("Allow"):
            detail = f"this route answers {headers['Allow']} only; it answers {_ROUTES}"
        else:
            detail = echo(str(getattr(exc, "detail", title)))
        response = problem(ProblemError(status, title, detail))
        # A 405 names the allowed methods (RFC 9110: Allow is required there).
        response.headers.update(headers)
        return response

    return Starlette(
        routes=[
            Route("/v1/predict", predict, methods=["POST"]),
            Route("/v1/model", model, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        # The guard answers what escapes the routes (Starlette's handler of Exception
        # would log the exception's message through the server).
        # The access log, outermost, sees every answer (the guard's 500 too) and its id.
        middleware=[
            *([Middleware(AccessLog)] if settings.access_log else []),
            Middleware(RequestGuard, dumps=dumps),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=settings.lifespan,
    )
