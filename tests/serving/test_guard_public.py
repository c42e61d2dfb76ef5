"""The header and pipelining guard wraps uvicorn's protocol through public interfaces only.

It once subclassed uvicorn's httptools protocol and read its private ``cycle`` and
``pipeline`` attributes, so a uvicorn release renaming them would have turned the limits
off without a failure. Now it wraps whatever protocol class it is given through the
:class:`asyncio.Protocol` interface: the same limits hold around uvicorn's h11 protocol,
whose internals share nothing with httptools', and around a protocol written here.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from prodml.serving import BackgroundServer, Predictor, create_app
from prodml.serving._protocol import MAX_PIPELINED, guarded_protocol

from .conftest import SCHEMA
from .test_hostile import closed_while_sending, raw_exchange


@pytest.fixture
def pred(pipe: Any, lr: Any) -> Predictor:
    return Predictor(pipe, lr, schema=SCHEMA, name="churn", version=3)


class Minimal(asyncio.Protocol):
    """A bare HTTP/1.1 server protocol: answers each request line ``200 ok``, nothing else.

    It has no attribute uvicorn's protocols have: the guard can only use the
    :class:`asyncio.Protocol` interface with it.
    """

    def __init__(self, **uvicorn_arguments: Any) -> None:
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            body = b"" if head.startswith(b"HEAD ") else b"ok"
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n" + body)


@pytest.mark.parametrize("inner", [HttpToolsProtocol, H11Protocol, Minimal])
def test_the_limits_hold_around_any_protocol(inner: type[Any], pred: Predictor) -> None:
    protocol = guarded_protocol(8192, 0.5, inner=inner)
    with BackgroundServer(create_app(pred), http=protocol) as server:
        answer = raw_exchange(server.port, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20_000)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        started = time.monotonic()
        answer = raw_exchange(server.port, b"GET /healthz HTTP/1.1\r\nHo")
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        assert time.monotonic() - started < 5
        if inner is Minimal:  # answers as it reads: nothing queues; it never closes
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert sock.recv(100) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
            return
        flood = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * (MAX_PIPELINED * 20)
        assert closed_while_sending(server.port, flood, times=100)
        ok = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert raw_exchange(server.port, ok).startswith(b"HTTP/1.1 200 ")
        assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.parametrize("inner", [HttpToolsProtocol, H11Protocol])
def test_answers_to_head_and_100_continue_are_counted_as_answered(
    inner: type[Any], pred: Predictor
) -> None:
    """HEAD answers have no body and 100 Continue is not an answer: a miscount would
    close a connection that never queues more than a few requests."""
    protocol = guarded_protocol(8192, 5.0, inner=inner)
    head = b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with (
        BackgroundServer(create_app(pred), http=protocol) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        for _ in range(2 * MAX_PIPELINED):
            sock.sendall(head * 2)
            got = b""
            while got.count(b"HTTP/1.1 200 ") < 2:
                chunk = sock.recv(65_536)
                assert chunk, "the server closed the connection"
                got += chunk
        body = b'{"f0": 1}'
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(65_536).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65_536)
        assert answer.startswith(b"HTTP/1.1 422 ")
        head_part, _, rest = answer.partition(b"\r\n\r\n")
        length = int(head_part.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += sock.recv(65_536)
        sock.sendall(head)
        assert sock.recv(65_536).startswith(b"HTTP/1.1 200 ")
