"""The body limit holds while the body streams, whatever its headers say.

A chunked body says no length: the app counts bytes as they arrive and answers 413 as
soon as the count passes ``max_body_bytes``, without waiting for the rest (a client that
never ends its body gets the 413, not the 408 of the body timeout). A ``Content-Length``
that lies (under the limit, with more bytes behind it: an HTTP/2 server hands DATA
frames on as they come) is not trusted either: the bytes are counted.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import SCHEMA

LIMIT = 65_536


@pytest.fixture(scope="module")
def app(pipe: Any, lr: Any) -> Any:
    pred = Predictor(pipe, lr, schema=SCHEMA, name="churn")
    # A long body timeout: a server that waited for the whole body would answer 408 late.
    return create_app(pred, max_body_bytes=LIMIT, body_timeout_s=120.0)


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65_536)
        assert part, data
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        part = sock.recv(65_536)
        assert part
        body += part
    return int(lines[0].split()[1]), headers, body


def test_a_chunked_body_over_the_limit_is_refused_before_it_ends(app: Any) -> None:
    """The client sends limit + 1 bytes and then nothing (no last chunk): 413 at once."""
    with BackgroundServer(app) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        with sock:
            sock.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"[" + b" " * 8190 + b"1"  # 8 KiB of a JSON array's start
            sent = 0
            while sent <= LIMIT:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            status, headers, body = _read_answer(sock)
            assert status == 413
            assert headers["connection"] == "close"  # the rest is never read
            problem = json.loads(body)
            assert problem["detail"] == f"the request body is over {LIMIT} bytes"
            sock.settimeout(30)
            assert sock.recv(1) == b""  # closed by the server
        # The server goes on answering.
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        with sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_answer(sock)[0] == 200


def test_a_content_length_that_lies_is_not_trusted(app: Any) -> None:
    """Content-Length: 20, then 200 KB: 413 once the count passes the limit, not after."""
    chunks = [b"[" + b"1," * 8191 + b"1"] * 12 + [b"]"]
    pulled = [0]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pulled[0] >= len(chunks):
            await asyncio.sleep(3600)  # never reached: the app stops reading first
        pulled[0] += 1
        return {"type": "http.request", "body": chunks[pulled[0] - 1],
                "more_body": pulled[0] < len(chunks)}  # fmt: skip

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "2", "method": "POST",
             "scheme": "http", "path": "/v1/predict", "raw_path": b"/v1/predict",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80),
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", b"20")]}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"] == f"the request body is over {LIMIT} bytes"
    # 16 KiB chunks: the fifth passes 64 KiB; nothing after it was asked for.
    assert pulled[0] == 5
