"""The app's outer layer: ids on every answer, and no failure seen from outside.

A pure ASGI middleware (no starlette import). Each HTTP request gets a **request id**, for
tracing only: the client's ``X-Request-ID`` when it is plain (at most 200 printable ASCII
characters, so no CR/LF can reach a header), else one made here; the answer carries it
back in ``X-Request-ID`` (one holding what looks like a credential or personal data is
replaced too: it would be logged). It never names a prediction: two clients (or a retry, or a load
balancer fanning one id out) may send the same one. Each predicted record gets a
**prediction id** made here (:func:`new_prediction_ids`: 128 random bits, so unique and
not guessable from another client's), the id its monitor and its labels use.

An exception that escapes the routes is answered with a 500 saying ``"internal error"``
and the request id, and logged at ERROR with that id, the exception type and the
traceback's frames. The exception's message, which may quote a request's values, is
logged at DEBUG only, masked as a 4xx answer's quotes are. Starlette's own last-resort
handler would re-raise to the server, which logs the message and the whole traceback at
ERROR.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prodml.serving._echo import logged, unsafe_id

__all__ = [
    "MAX_ID",
    "RequestGuard",
    "log_failure",
    "new_id",
    "new_prediction_ids",
    "plain_id",
    "request_id",
]

_log = logging.getLogger("prodml.serving")

MAX_ID = 200
"""Longest ``X-Request-ID`` kept: it is sent back in a header, and logged."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_STATE_KEY = "prodml_request_id"
_PREFIX = secrets.token_hex(8)  # per process: ids made here are unique across restarts
_COUNTER = itertools.count(1)


def new_id() -> str:
    """A request id for a request that came without one: 16 hex digits, ``-``, a count."""
    return f"{_PREFIX}-{next(_COUNTER)}"


def new_prediction_ids(n: int) -> list[str]:
    """``n`` prediction ids: 32 hex digits each, 128 bits from the OS's random source.

    Random, not counted: a client that knows its own prediction ids cannot derive another
    client's to attach labels to it, and processes (workers, restarts) never collide.

    Examples
    --------
    >>> a, b = new_prediction_ids(2)
    >>> len(a), a != b, int(a, 16) >= 0
    (32, True, True)
    """
    raw = os.urandom(16 * n).hex()
    return [raw[i : i + 32] for i in range(0, 32 * n, 32)]


def plain_id(rid: str) -> bool:
    """An X-Request-ID that is short, ASCII and without control characters."""
    return len(rid) <= MAX_ID and rid.isascii() and rid.isprintable()


def request_id(scope: Scope) -> str:
    """The request id the guard gave this request (a fresh one outside the guard)."""
    state = scope.get("state")
    rid = state.get(_STATE_KEY) if isinstance(state, dict) else None
    return rid if isinstance(rid, str) else new_id()


def log_failure(rid: str, what: str, err: BaseException) -> None:
    """Log a failure on a request: where it raised at ERROR, what it said at DEBUG.

    ``what`` is prodml's own description (no request values); the exception's message may
    quote the request's values (numpy's "could not convert string to float:
    'ann@example.com'"), which are data about people: logged at DEBUG only, through
    :func:`~prodml.serving._echo.logged` (credentials and personal data masked).
    """
    frames = "".join(traceback.format_tb(err.__traceback__)).rstrip()
    _log.error(
        "prodml serving: request %s failed: %s (its message is logged at DEBUG: it may "
        "quote the request)%s",
        rid,
        what,
        f"\nTraceback (most recent call last):\n{frames}" if frames else "",
    )
    _log.debug("prodml serving: request %s: %s: %s", rid, type(err).__name__, logged(err))


class RequestGuard:
    """ASGI middleware: request ids in and out, and a quiet 500 for anything that raised."""

    def __init__(self, app: Any, dumps: Callable[[Any], bytes]) -> None:
        self.app = app
        self.dumps = dumps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                text = value.decode("latin-1")
                # One holding a key id or an e-mail would be logged: replaced.
                rid = text if plain_id(text) and not unsafe_id(text) else None
                break
        rid = rid or new_id()
        state = scope.setdefault("state", {})
        state[_STATE_KEY] = rid
        header = (b"x-request-id", rid.encode("ascii"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as err:  # noqa: BLE001 - answered and logged without its message
            log_failure(rid, f"unexpected {type(err).__name__}", err)
            if started:  # the answer is half sent: the server closes the connection
                return
            body = self.dumps(
                {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                 "detail": "internal error", "request_id": rid}
            )  # fmt: skip
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        header,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
