"""The httptools protocol of uvicorn, with the limits it lacks: header size and time, pipelining.

uvicorn with httptools (its default when installed) reads a request's headers without a
size limit (a 100 MB header is held in memory, then served) and without a time limit (a
client that connects, or sends half its headers, and stalls holds the connection
forever: slowloris), and it queues pipelined requests without a bound.
:func:`guarded_protocol` makes a subclass that answers 431 when a request's line and
headers pass ``max_header_bytes`` before they end, and 408 when they have not ended
``header_timeout_s`` after the connection opened or the request's first byte arrived,
closing the connection either way; and closes a connection that queues more than
:data:`MAX_PIPELINED` requests. Idle keep-alive connections are closed by
uvicorn's own ``timeout_keep_alive``; a stalled body by the app's ``body_timeout_s``.
"""

from __future__ import annotations

import asyncio
from typing import Any

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


class _Guarded(HttpToolsProtocol):
    max_header_bytes = 65_536
    header_timeout_s = 20.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, answer: bytes) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = getattr(self, "cycle", None)  # uvicorn's; getattr: not a public attribute
        if cycle is None or getattr(cycle, "response_complete", True):  # else: just close
            self.transport.write(answer)
        self.transport.close()

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._in_head:
            detail = f"the request headers did not arrive within {self.header_timeout_s:g} s"
            self._refuse(_answer(408, "Request Timeout", detail))

    def data_received(self, data: bytes) -> None:
        was_in_head = self._in_head
        if was_in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the headers after more than the limit: they are over it (a request
        # whose headers ended is never refused, whatever body came in the same read). A
        # request that began within this read has not counted it (its start in the read
        # is not known; pipelined requests before it are not its headers): its headers
        # may pass the limit by one read (at most 256 KiB) before they are refused.
        if self._in_head and self._head_bytes > self.max_header_bytes:
            detail = f"the request line and headers are over {self.max_header_bytes} bytes"
            self._refuse(_answer(431, "Request Header Fields Too Large", detail))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._in_head = True
            self._head_bytes = 0
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()
        # uvicorn queues pipelined requests without a bound (each holds its scope and
        # state, about 2.5 kB: 200,000 sent unread took 500 MB) and reads on after every
        # answer. A client that queues more than this is cut off.
        queued = len(getattr(self, "pipeline", ()))  # uvicorn's queue (not public API)
        if queued > MAX_PIPELINED and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(max_header_bytes: int, header_timeout_s: float) -> type[Any]:
    """An httptools protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (_Guarded,),
        {"max_header_bytes": max_header_bytes, "header_timeout_s": header_timeout_s},
    )
