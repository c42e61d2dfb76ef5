"""The opt-in access log: one JSON line per HTTP request, with nothing a request carried.

:class:`AccessLog` is a pure ASGI middleware (no starlette import), outside the request
guard so that it sees every answer, the guard's own 500 included. Each line is logged on
the ``prodml.serving.access`` logger at INFO, as one JSON object on one line, e.g.
``{"time":"2026-12-06T07:00:00.123+00:00","method":"POST","path":"/v1/predict",
"status":200,"duration_s":0.00042,"bytes":187,"request_id":"5f0c...-1"}``.

``time`` is when the request began (UTC), ``duration_s`` runs until the app returned
(the last byte of the answer handed to the server), ``bytes`` counts the answer's body
and ``request_id`` is the one the answer's ``X-Request-ID`` carries. Never logged: the
query string (it may hold a token), any header but the request id the guard vetted,
the request's and the answer's bodies (feature values are data about people). The path
is masked as a 4xx answer's quotes are (:func:`~prodml.serving._echo.echo`) and cut to
200 characters: a client may put anything there. The library adds no handler: the
application decides where the lines go (``prodml serve --access-log`` writes them to
stdout).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from typing import Any

from prodml.serving._echo import echo
from prodml.serving._guard import Message, Receive, Scope, Send

__all__ = ["ACCESS_LOGGER", "AccessLog"]

ACCESS_LOGGER = "prodml.serving.access"
_log = logging.getLogger(ACCESS_LOGGER)
_MAX_PATH = 200
_UTC = _dt.timezone.utc
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-")


def _path(path: Any) -> str:
    """The path as logged: the routes' own as they are, any other masked and cut short."""
    text = str(path)[:_MAX_PATH]
    # The routes' paths (and most others) are plain: no mask can apply, none is run.
    return text if _PLAIN.issuperset(text) else echo(text)


class AccessLog:
    """ASGI middleware: one JSON line per HTTP request on ``prodml.serving.access``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        began, start = time.time(), time.perf_counter()
        status, size, rid = 0, 0, ""

        async def send_logged(message: Message) -> None:
            nonlocal status, size, rid
            kind = message["type"]
            if kind == "http.response.body":
                size += len(message.get("body", b""))
            elif kind == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name == b"x-request-id":  # set by the guard: plain, vetted
                        rid = value.decode("ascii", "replace")
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            line = {
                "time": _dt.datetime.fromtimestamp(began, _UTC).isoformat(timespec="milliseconds"),
                "method": str(scope.get("method", ""))[:16],
                "path": _path(scope.get("path", "")),
                "status": status,  # 0: no answer was sent (the client left first)
                "duration_s": round(time.perf_counter() - start, 6),
                "bytes": size,
                "request_id": rid,
            }
            _log.info("%s", json.dumps(line, separators=(",", ":"), ensure_ascii=True))
