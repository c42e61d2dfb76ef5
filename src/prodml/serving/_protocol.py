"""Limits uvicorn lacks (header size and time, pipelining), kept with public APIs only.

uvicorn with httptools (its default when installed) reads a request's headers without a
size limit (a 100 MB header is held in memory, then served) and without a time limit (a
client that connects, or sends half its headers, and stalls holds the connection
forever: slowloris), and it queues pipelined requests without a bound.

:func:`guarded_protocol` makes a plain :class:`asyncio.Protocol` for
``uvicorn.Config(http=...)`` that *wraps* uvicorn's own protocol instead of subclassing
it: it builds the inner protocol with the keyword arguments uvicorn gives it, passes the
connection's events on through the :class:`asyncio.Protocol` interface, and reads what
goes by with its own parsers (httptools' public ``HttpRequestParser`` on the bytes coming
in, ``HttpResponseParser`` on the bytes the inner protocol writes). Nothing of uvicorn's
besides that interface and the class it names ``http="httptools"`` is used, so a uvicorn
upgrade that renames its internals cannot turn the limits off silently. It answers 431
when a request's line and headers pass ``max_header_bytes`` before they end and 408 when
they have not ended ``header_timeout_s`` after the connection opened or the request's
first byte arrived, closing the connection either way; and closes a connection that
queues more than :data:`MAX_PIPELINED` requests behind the one being answered. Idle
keep-alive connections are closed by uvicorn's own ``timeout_keep_alive``; a stalled body
by the app's ``body_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_PIPELINED", "guarded_protocol"]

MAX_PIPELINED = 64
"""Requests a client may queue on one connection behind the one being answered."""


def _answer(status: int, reason: str, detail: str) -> bytes:
    body = (
        f'{{"type":"about:blank","title":"{reason}","status":{status},"detail":"{detail}"}}'
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + body


def _request_parser(callbacks: object) -> Any:
    parser = httptools.HttpRequestParser(callbacks)
    # uvicorn's parser reads past a "Connection: close" request (to answer it): so does this
    with contextlib.suppress(AttributeError):  # httptools < 0.6.3
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
    return parser


class _Requests:
    """Callbacks of the guard's parser of incoming bytes: where each header section is."""

    __slots__ = ("guard",)

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def on_message_begin(self) -> None:
        self.guard.head_begins()

    def on_headers_complete(self) -> None:
        self.guard.head_ends()


class _Responses:
    """Callbacks of the guard's parser of the inner protocol's writes: answers finished."""

    __slots__ = ("guard",)

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def on_headers_complete(self) -> None:
        self.guard.response_head()

    def on_message_complete(self) -> None:
        self.guard.response_done()


class _Transport:
    """The connection's transport as the inner protocol sees it: writes are also read here."""

    def __init__(self, transport: asyncio.Transport, guard: _Guard) -> None:
        self._transport = transport
        self._guard = guard

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._guard.written(bytes(data))
        self._transport.write(data)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Guard(asyncio.Protocol):
    """An :class:`asyncio.Protocol` around uvicorn's, adding the limits (see the module)."""

    inner_class: type[Any] = HttpToolsProtocol
    max_header_bytes = 65_536
    header_timeout_s = 20.0

    def __init__(self, **uvicorn_arguments: Any) -> None:
        self.inner = self.inner_class(**uvicorn_arguments)
        self.transport: asyncio.Transport | None = None
        self.requests: Any = _request_parser(_Requests(self))
        self.responses: Any = httptools.HttpResponseParser(_Responses(self))
        self.in_head = True
        self.head_bytes = 0
        self.timer: asyncio.TimerHandle | None = None
        self.heads = 0  # requests whose headers ended
        self.answered = 0  # answers the inner protocol finished writing
        self.is_head: deque[bool] = deque()  # per request not answered: a HEAD request?
        self.head_answer = False  # the answer being written is a HEAD's: no body follows

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.inner.connection_made(_Transport(self.transport, self))  # type: ignore[arg-type]
        self.arm()

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.requests is not None:
            if self.in_head:
                self.head_bytes += len(data)
            try:
                self.requests.feed_data(data)
            except (httptools.HttpParserUpgrade, httptools.HttpParserError):
                # The inner protocol answers it (400, or an upgrade): no more tracking.
                self.requests = None
                self.disarm()
            # Still in the headers after more than the limit: they are over it (a request
            # whose headers ended is never refused, whatever body came in the same read).
            # A request that began within this read has not counted it (its start in the
            # read is not known): its headers may pass the limit by one read (at most
            # 256 KiB) before they are refused.
            if self.in_head and self.head_bytes > self.max_header_bytes:
                detail = f"the request line and headers are over {self.max_header_bytes} bytes"
                self.refuse(_answer(431, "Request Header Fields Too Large", detail))
                return
            # uvicorn queues pipelined requests without a bound (each holds its scope and
            # state, about 2.5 kB: 200,000 sent unread took 500 MB): cut off.
            if self.heads - self.answered - 1 > MAX_PIPELINED:
                transport.close()
                return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- the request side -----------------------------------------------------------------

    def head_begins(self) -> None:
        if not self.in_head:  # the next request on a kept-alive connection
            self.in_head = True
            self.head_bytes = 0
        self.arm()

    def head_ends(self) -> None:
        self.in_head = False
        self.disarm()
        self.heads += 1
        self.is_head.append(self.requests.get_method() == b"HEAD")

    def arm(self) -> None:
        if self.timer is None and self.transport is not None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.header_timeout_s, self.head_expired)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def head_expired(self) -> None:
        self.timer = None
        if self.in_head and self.requests is not None:
            detail = f"the request headers did not arrive within {self.header_timeout_s:g} s"
            self.refuse(_answer(408, "Request Timeout", detail))

    def refuse(self, answer: bytes) -> None:
        """Answer (when no answer is being written) and close the connection."""
        self.disarm()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.answered >= self.heads:  # else an answer is half written: just close
            transport.write(answer)
        transport.close()

    # -- the response side ----------------------------------------------------------------

    def written(self, data: bytes) -> None:
        if self.responses is None:
            return
        try:
            self.responses.feed_data(data)
        except (httptools.HttpParserUpgrade, httptools.HttpParserError):
            self.responses = None  # not HTTP/1.1 as expected: the pipelining bound is off
            return
        if self.head_answer:  # a HEAD's answer: its head was all; the next answer follows
            self.head_answer = False
            self.responses = httptools.HttpResponseParser(_Responses(self))

    def response_head(self) -> None:
        if self.responses.get_status_code() >= 200 and self.is_head and self.is_head[0]:
            self.head_answer = True
            self.finished()

    def response_done(self) -> None:
        if self.responses.get_status_code() >= 200 and not self.head_answer:  # 1xx: more
            self.finished()

    def finished(self) -> None:
        self.answered += 1
        if self.is_head:
            self.is_head.popleft()


def guarded_protocol(
    max_header_bytes: int, header_timeout_s: float, inner: type[Any] = HttpToolsProtocol
) -> type[Any]:
    """A protocol class for ``uvicorn.Config(http=...)`` wrapping ``inner`` with these limits."""
    return type(
        "GuardedHttpProtocol",
        (_Guard,),
        {
            "inner_class": inner,
            "max_header_bytes": max_header_bytes,
            "header_timeout_s": header_timeout_s,
        },
    )
