"""Hostile and broken clients against a real uvicorn server (and TestClient where a socket
adds nothing): bodies, parsers, headers, slow clients, concurrency, and what leaks.

Limits are lowered where the behaviour, not the size, is tested; peak memory is measured
outside the tests (see the report of the serving sweep), never asserted here.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import socket
import time
from typing import Any

import httpx
import pandas as pd
import pytest
from starlette.testclient import TestClient

from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import SCHEMA, Broken, Slow, records

EMAIL = "ann.lee@example.com"
PASSWORD = "hunter2pw"  # noqa: S105 - a made-up one, to find in what leaks
SECRET_URL = f"postgresql://ann:{PASSWORD}@h/db"
HEX_ID = re.compile(r"[0-9a-f]{16}-[0-9]+")  # a request id the server made


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


@pytest.fixture
def pred(pipe: Any, lr: Any) -> Predictor:
    return Predictor(pipe, lr, schema=SCHEMA, name="churn", version=3)


@pytest.fixture
def good(data: pd.DataFrame) -> dict[str, Any]:
    return jsonable(records(data.head(1))[0])


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def raw_exchange(port: int, data: bytes, *, wait: float = 0.0, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a new connection, wait, and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        time.sleep(wait)
        chunks = []
        while chunk := sock.recv(65_536):
            chunks.append(chunk)
    return b"".join(chunks)


def closed_while_sending(port: int, data: bytes, *, times: int) -> bool:
    """Whether the server closes the connection while ``data`` is sent ``times`` times."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            for _ in range(times):
                sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:  # the server stopped reading, and kept the connection
            return False
    return False


# -- parsers: a value means the same whichever JSON library reads it ----------------------


@pytest.mark.parametrize("lib", ["orjson", "json"])
def test_both_json_libraries_read_the_same_values(
    lib: str, pred: Predictor, good: dict[str, Any]
) -> None:
    """Numbers no double holds, 65-bit integers, lone surrogates, duplicate keys.

    With the standard library, 1e400 was read as infinity (422, where orjson says 400),
    an integer beyond 64 bits crashed the schema check (500), and a lone surrogate was
    accepted (orjson refuses it).
    """
    with TestClient(create_app(pred, json_library=lib)) as client:

        def post(text: str) -> httpx.Response:
            return client.post("/v1/predict", content=text.encode())

        rest = httpx.Response(200, json={**good, "f0": 0, "s0": "S0"}).text.partition(",")[2]

        def record(f0: str, s0: str = '"c1"') -> str:
            return '{"f0": ' + f0 + "," + rest.replace('"S0"', s0)

        for number in ("1e400", "-1e400", "1" + "0" * 400):
            assert "infinity" in problem(post(record(number)), 400)["detail"], number
        for number in ("100000000000000000000", "-9223372036854775809", "18446744073709551615"):
            body = problem(post(record(number)), 422)
            assert [(e["pointer"], e["kind"]) for e in body["errors"]] == [("/f0", "range")]
        assert post(record("1e-400")).status_code == 200  # underflow is 0.0 in both
        for escape in ("\\ud800", "\\udfff", "a\\ud83dz"):
            problem(post(record("1.0", f'"{escape}"')), 400)
        # A pair of surrogates is one character, and fine.
        assert post(record("1.0", '"\\ud83d\\ude00"')).status_code == 200
        # Duplicate keys: the last one wins, in both libraries (RFC 8259 leaves it open).
        first = post(record("49.0")).json()
        twice = post(record("99.0")[:-1] + ', "f0": 49.0}')
        assert twice.status_code == 200
        assert twice.json()["value"] == first["value"]
        refused = post(record("49.0")[:-1] + ', "f0": 99.0}')
        assert [e["pointer"] for e in problem(refused, 422)["errors"]] == ["/f0"]


def test_the_standard_library_parser_matches_orjson_value_for_value() -> None:
    import orjson

    from prodml.serving._app import _loads_json

    for text in (
        b"[0, -1, 9223372036854775807, 18446744073709551615, 18446744073709551616]",
        b"[-9223372036854775808, -9223372036854775809, 1e308, 1.5, 1e-400, 123456789012345678901]",
        b'{"a": 1, "a": {"b": [true, false, null, "\\ud83d\\ude00", "\\u00e9"]}}',
    ):
        ours, theirs = _loads_json(text), orjson.loads(text)
        assert ours == theirs
        assert repr(ours) == repr(theirs)  # ints stay ints, floats floats


# -- content type, coding, length --------------------------------------------------------


def test_what_the_body_is_sent_as_is_checked_before_it_is_read(
    pred: Predictor, good: dict[str, Any]
) -> None:
    """A compressed or non-UTF-8 body is a 415 (was a 400 "not JSON" quoting a byte)."""
    body = httpx.Response(200, json=good).content
    with TestClient(create_app(pred)) as client:

        def post(headers: dict[str, str], content: bytes = body) -> httpx.Response:
            return client.post("/v1/predict", content=content, headers=headers)

        for coding in ("gzip", "deflate", "br"):
            detail = problem(post({"content-encoding": coding}, b"\x1f\x8b\x08\x00"), 415)
            assert detail["detail"] == "send the body without a Content-Encoding"
        assert post({"content-encoding": "identity"}).status_code == 200
        detail = problem(
            post(
                {"content-type": "application/json; charset=utf-16"}, body.decode().encode("utf-16")
            ),
            415,
        )
        assert detail["detail"] == "JSON must be sent as UTF-8 (charset=utf-8), not 'utf-16'"
        for ok in ("application/json; charset=utf-8", 'application/json;charset="UTF-8"',
                   "application/problem+json"):  # fmt: skip
            assert post({"content-type": ok}).status_code == 200, ok
        problem(post({"content-type": "application/x-www-form-urlencoded"}), 415)
        problem(post({"content-type": "text/json"}), 415)


def test_a_content_length_that_is_not_a_number_is_a_400(pred: Predictor) -> None:
    """The app's own check (servers refuse it first; the app may be mounted elsewhere)."""
    app = create_app(pred)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    import asyncio

    scope = {"type": "http", "method": "POST", "path": "/v1/predict", "raw_path": b"/v1/predict",
             "query_string": b"", "root_path": "", "scheme": "http", "server": ("t", 80),
             "headers": [(b"content-length", b"-5"), (b"content-type", b"application/json")],
             "http_version": "1.1", "asgi": {"version": "3.0"}}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert b"Content-Length must be a number" in sent[1]["body"]


# -- request ids and 500s -----------------------------------------------------------------


class Exploding(Predictor):
    """A predictor whose record path fails outside the model, quoting the record."""

    def predict_record(self, record: Any, **kwargs: Any) -> Any:
        raise TypeError(f"cannot handle {record.get('s0')!r}")


def test_an_unexpected_failure_is_a_500_with_a_request_id_and_a_quiet_log(
    pipe: Any, lr: Any, good: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Was: "the server failed" with no id, and the exception's message and whole traceback
    at ERROR twice (prodml's handler, then uvicorn's "Exception in ASGI application")."""
    pred = Exploding(pipe, lr, schema=SCHEMA)
    with (
        caplog.at_level(logging.INFO),
        BackgroundServer(create_app(pred), log_config=None) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        r = client.post("/v1/predict", json={**good, "s0": EMAIL})
        body = problem(r, 500)
        rid = body["request_id"]
        assert HEX_ID.fullmatch(rid)
        assert r.headers["x-request-id"] == rid
        assert body["detail"] == "internal error"
        assert set(body) == {"type", "title", "status", "detail", "request_id"}
        r = client.post("/v1/predict", json={**good, "s0": EMAIL}, headers={"x-request-id": "q-7"})
        assert problem(r, 500)["request_id"] == "q-7" == r.headers["x-request-id"]
        assert client.get("/healthz").status_code == 200
    errors = [x for x in caplog.records if x.levelno >= logging.ERROR]
    assert [x.name for x in errors] == ["prodml.serving", "prodml.serving"]
    assert rid in errors[0].getMessage()
    assert "q-7" in errors[1].getMessage()
    assert "unexpected TypeError" in errors[0].getMessage()
    assert "in predict_record" in errors[0].getMessage()  # the frames say where
    text = "\n".join(x.getMessage() for x in caplog.records)
    assert EMAIL not in text
    assert not any(x.exc_info for x in caplog.records)


def test_a_model_failure_names_the_request_id_its_log_line_carries(
    pipe: Any, lr: Any, good: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Without an X-Request-ID the server makes one (the log said "request None")."""
    pred = Predictor(pipe, Broken(lr), schema=SCHEMA)
    with caplog.at_level(logging.ERROR, logger="prodml.serving"), TestClient(create_app(pred)) as c:
        r = c.post("/v1/predict", json={**good, "f0": 45.0})
    body = problem(r, 500)
    assert body["detail"] == "the model failed on this request"
    assert HEX_ID.fullmatch(body["request_id"])
    assert r.headers["x-request-id"] == body["request_id"]
    (line,) = [x.getMessage() for x in caplog.records]
    assert f"request {body['request_id']} failed" in line


def test_request_ids_are_echoed_only_when_plain(pred: Predictor, good: dict[str, Any]) -> None:
    with BackgroundServer(create_app(pred)) as server, httpx.Client(base_url=server.url) as c:
        r = c.post("/v1/predict", json=good, headers={"x-request-id": "abc-1"})
        assert r.headers["x-request-id"] == "abc-1" != r.json()["id"]  # it names no prediction
        assert HEX_ID.fullmatch(c.get("/healthz").headers["x-request-id"])
        assert HEX_ID.fullmatch(c.get("/nope").headers["x-request-id"])  # 404s too
        for bad in (b"a" * 201, b"caf\xe9", b"a\tb"):
            r = c.get("/healthz", headers={"x-request-id": bad})
            assert HEX_ID.fullmatch(r.headers["x-request-id"]), bad  # never echoed
        for bad in (b"a\x7fb", b"a\x00b"):  # the HTTP parser refuses these itself
            answer = raw_exchange(
                server.port,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: " + bad + b"\r\n\r\n",
            )
            assert answer.startswith(b"HTTP/1.1 400 ")
            assert b"x-request-id" not in answer.lower()
        # CR/LF cannot reach a header: the parser ends the header at CRLF and refuses a
        # bare CR or LF inside one (nothing is injected into the answer).
        for attack in (b"X-Request-ID: a\r\nSet-Cookie: x=1\r\n", b"X-Request-ID: a\rb\r\n",
                       b"X-Request-ID: a\nSet-Cookie: x=1\r\n"):  # fmt: skip
            answer = raw_exchange(
                server.port,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + attack + b"\r\n",
            )
            head = answer.partition(b"\r\n\r\n")[0].lower()
            assert b"set-cookie" not in head
            assert b"\nb" not in head
            assert b"\rb" not in head


# -- header and path handling -------------------------------------------------------------


def test_paths_methods_and_odd_urls_are_json_problems(pred: Predictor) -> None:
    with BackgroundServer(create_app(pred)) as server:
        for path in (b"/v1/predict/..", b"/v1/../v1/model/../../etc/passwd", b"/v1%2fpredict",
                     b"/v1/predict%00", b"/v1/mod%C3%A9l", b"/%2e%2e/%2e%2e/healthz",
                     b"/v1/" + "é".encode(), b"/" + b"a" * 4000):  # fmt: skip
            answer = raw_exchange(
                server.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            status = int(answer.split(b" ", 2)[1])
            assert status in (400, 404, 405), (path, answer[:200])  # %2f is "/" once decoded
            if status != 400:  # not refused by the HTTP parser: answered by the app
                assert b"application/problem+json" in answer
                assert b"passwd" not in answer.partition(b"\r\n\r\n")[2]
        r = httpx.request("DELETE", f"{server.url}/v1/model")
        assert problem(r, 405)
        assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_headers_over_the_limit_get_431_and_the_server_goes_on(pred: Predictor) -> None:
    """Was: any size (a 100 MB header was read into memory, then served)."""
    with BackgroundServer(create_app(pred), max_header_bytes=8192) as server:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        for extra in (
            b"X-Big: " + b"a" * 20_000,
            b"".join(b"X-%d: a\r\n" % i for i in range(3000)),
        ):
            answer = raw_exchange(server.port, head + extra, wait=0.2)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
            assert b'"status":431' in answer
        long_url = b"GET /healthz?" + b"a" * 20_000
        assert raw_exchange(server.port, long_url, wait=0.2).startswith(b"HTTP/1.1 431 ")
        ok = head + b"X-Ok: " + b"a" * 6000 + b"\r\nConnection: close\r\n\r\n"
        assert raw_exchange(server.port, ok).startswith(b"HTTP/1.1 200 ")
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_header_limits_are_checked(pred: Predictor) -> None:
    from prodml.errors import ConfigError

    for bad in ({"max_header_bytes": 10}, {"header_timeout_s": 0}, {"header_timeout_s": "1"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            BackgroundServer(create_app(pred), **bad).start()  # type: ignore[arg-type]


# -- slow and broken clients --------------------------------------------------------------


def test_slow_clients_are_cut_off_and_others_are_served(
    pred: Predictor, good: dict[str, Any]
) -> None:
    """A client that connects and says nothing, sends half its headers, or half its body.

    Was: each held its connection forever (uvicorn has no header or body timeout). The
    others being served "at once" is checked by order (all five answered while the slow
    clients are still held), not by a wall-clock bound a loaded machine can miss.
    """
    app = create_app(pred, body_timeout_s=2.0)
    with (
        BackgroundServer(app, header_timeout_s=2.0) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            idle = pool.submit(raw_exchange, server.port, b"")
            half_head = pool.submit(raw_exchange, server.port, b"POST /v1/predict HTTP/1.1\r\nHo")
            half_body = pool.submit(
                raw_exchange,
                server.port,
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 300\r\n\r\n" + b'{"f0": ',
            )
            # Meanwhile, others are served at once.
            for _ in range(5):
                assert client.post("/v1/predict", json=good).status_code == 200
            assert not any(f.done() for f in (idle, half_head, half_body))  # still held
            answers = [f.result() for f in (idle, half_head, half_body)]
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
            assert b"connection: close" in answer.lower()
        assert b"the request body did not arrive within 2" in answers[2]
        assert b"the request headers did not arrive within 2" in answers[0]
        assert client.post("/v1/predict", json=good).status_code == 200


def test_a_client_that_never_reads_its_answer_blocks_nobody(
    pred: Predictor, good: dict[str, Any]
) -> None:
    many = httpx.Response(200, json=[good] * 1000).content  # ~250 kB of answer
    app = create_app(pred, max_records=1000, max_body_bytes=1_000_000)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        sockets = []
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(many) + many
            )
            sockets.append(sock)
        try:
            time.sleep(0.3)
            for _ in range(10):
                r = client.post("/v1/predict", json=[good, good])
                assert r.status_code == 200
                assert len(r.json()) == 2
        finally:
            for sock in sockets:
                sock.close()
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("max_batch", [None, 8])
def test_fifty_parallel_clients_each_get_their_own_answer(
    max_batch: int | None, pred: Predictor, data: pd.DataFrame
) -> None:
    recs = records(data.head(200))
    expected = [pred.predict_record(r).value for r in recs]
    app = create_app(pred, max_batch=max_batch, max_wait_ms=5)
    with BackgroundServer(app) as server:
        limits = httpx.Limits(max_connections=50)
        with httpx.Client(base_url=server.url, limits=limits) as client:

            def post(i: int) -> tuple[int, Any]:
                one = i % 3 != 0
                body = jsonable(recs[i]) if one else [jsonable(recs[i]), jsonable(recs[-1 - i])]
                r = client.post("/v1/predict", json=body, headers={"x-request-id": f"c{i}"})
                assert r.headers["x-request-id"] == f"c{i}"
                return i, r.json()

            with concurrent.futures.ThreadPoolExecutor(50) as pool:
                answers = list(pool.map(post, range(len(recs))))
    ids = []
    for i, answer in answers:
        if i % 3 != 0:
            assert answer["value"] == expected[i]
            ids.append(answer["id"])
        else:
            assert [a["value"] for a in answer] == [expected[i], expected[-1 - i]]
            ids += [a["id"] for a in answer]
    assert len(set(ids)) == len(ids)  # every record its own prediction id


# -- sizes --------------------------------------------------------------------------------


def test_big_and_wide_bodies_get_413_or_an_answer_and_the_server_goes_on(
    pred: Predictor, good: dict[str, Any]
) -> None:
    app = create_app(pred, max_records=50, max_body_bytes=3_100_000)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        # A real-size body: 100 MB, refused from its Content-Length, unread.
        r = c.post("/v1/predict", content=b" " * 100_000_000)
        assert problem(r, 413)["detail"] == "the request body is over 3100000 bytes"
        # A million records, as small as a record can be, within the byte limit: refused
        # by count (the 3 MB of "[{},{},...]" is parsed, then counted).
        million = b"[" + b"{}," * 999_999 + b"{}]"
        assert problem(c.post("/v1/predict", content=million), 413)["detail"] == (
            "1000000 records; at most 50 per request"
        )
        # 100,000 unknown keys in one record: ignored, the record answered.
        wide = {**good, **{f"k{i}": i for i in range(100_000)}}
        assert c.post("/v1/predict", json=wide).status_code == 200
        # A 2 MB string in a feature: the detail quotes a short prefix only.
        r = c.post("/v1/predict", json={**good, "f0": "x" * 2_000_000})
        body = problem(r, 422)
        assert len(r.content) < 1000
        assert "2000000 characters in all" in body["errors"][0]["detail"]
        # Nesting 10,000 deep: refused by the parser.
        assert (
            "depth"
            in problem(c.post("/v1/predict", content=b"[" * 10_000 + b"]" * 10_000), 400)["detail"]
        )
        assert c.post("/v1/predict", json=good).status_code == 200


# -- nothing leaks -------------------------------------------------------------------------


@pytest.mark.parametrize("lib", ["orjson", "json"])
def test_personal_data_and_secrets_in_records_never_leak(
    lib: str, pipe: Any, lr: Any, good: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """An e-mail address and a URL with a password, in every place a record can carry them.

    Was: a URL's password quoted in a 422 when the URL did not look like an e-mail address.
    """
    pred = Predictor(pipe, Broken(lr), schema=SCHEMA, name="churn")
    poison = [EMAIL, SECRET_URL, f"https://bob:{PASSWORD}@db.example.com/x"]
    bodies = []
    with (
        caplog.at_level(logging.INFO),
        BackgroundServer(create_app(pred, json_library=lib), log_config=None) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        for value in poison:
            for record in (
                {**good, "f0": value},  # a string where a float goes
                {**good, "f0": [value]},
                {**good, "f0": {"url": value}},
                {**good, "ts": value},
                {**good, "s0": value},  # a category never seen: answered
                {**good, "f0": 45.0, "s0": value},  # the model fails on it: 500
                {**good, value: value},  # a field the schema does not name
                {"f0": value},  # missing columns
            ):
                bodies.append(client.post("/v1/predict", json=record))
                bodies.append(client.post("/v1/predict", json=[good, record]))
            bodies.append(client.post(f"/v1/predict?explain={value}", json=good))
            bodies.append(client.get(f"/{value}"))
        bodies.append(client.get("/metrics"))
        bodies.append(client.get("/v1/model"))
    statuses = {r.status_code for r in bodies}
    assert {200, 400, 404, 422, 500} <= statuses
    server_logs = [
        x.getMessage() for x in caplog.records if x.name.startswith(("prodml", "uvicorn"))
    ]
    assert any("request" in m for m in server_logs)  # the 500s were logged
    everything = "\n".join([r.text + str(r.headers) for r in bodies] + server_logs)
    assert EMAIL not in everything
    assert PASSWORD not in everything
    assert "Traceback" not in "".join(r.text for r in bodies)


def test_the_registry_urls_password_appears_nowhere(
    postgres_url: str, tmp_path: Any, good: dict[str, Any], caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """Served from PostgreSQL: answers, metrics, model info and the reload log."""
    pipe, lr = request.getfixturevalue("pipe"), request.getfixturevalue("lr")
    from urllib.parse import urlsplit

    from prodml.errors import NotFoundError
    from prodml.registry import ModelRegistry

    parts = urlsplit(postgres_url)
    password = parts.password
    if password is None:  # a server that trusts local users takes any password
        password = "pg-Secret-77"  # noqa: S105 - made up, to look for
        netloc = parts.netloc.replace("@", f":{password}@", 1)
        postgres_url = parts._replace(netloc=netloc).geturl()
    reg = ModelRegistry(postgres_url, (tmp_path / "artifacts").as_uri())
    try:
        reg.register("churn", (pipe, lr), signature=SCHEMA)
        reg.set_alias("churn", "production", 1)
        pred = Predictor.from_registry(reg, "churn@production", watch_every_s=None)
        answers = []
        with (
            caplog.at_level(logging.DEBUG),
            BackgroundServer(create_app(pred), log_config=None) as server,
            httpx.Client(base_url=server.url) as client,
        ):
            answers += [client.post("/v1/predict", json=good), client.get("/v1/model")]
            answers += [client.get("/metrics"), client.post("/v1/predict", json={"f0": "x"})]
            reg.delete_alias("churn", "production")
            with pytest.raises(NotFoundError) as err:
                pred.refresh()
            answers.append(client.post("/v1/predict", json=good))  # the old version serves
        pred.close()
    finally:
        reg.close()
    assert [r.status_code for r in answers] == [200, 200, 200, 422, 200]
    texts = [r.text + str(r.headers) for r in answers] + [str(err.value), repr(pred)]
    texts += [x.getMessage() for x in caplog.records]
    assert not [t for t in texts if password in t]


def test_pipelined_requests_are_answered_in_order_up_to_a_bound(pred: Predictor) -> None:
    """Was: queued without a bound (200,000 sent unread took 500 MB of the server)."""
    from prodml.serving._protocol import MAX_PIPELINED

    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: p%d\r\n\r\n"
    with BackgroundServer(create_app(pred)) as server:
        last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        answer = raw_exchange(server.port, b"".join(one % i for i in range(20)) + last)
        assert answer.count(b"HTTP/1.1 200 OK") == 21
        ids = re.findall(rb"x-request-id: (p\d+)", answer)
        assert ids == [b"p%d" % i for i in range(20)]
        flood = b"".join(one % i for i in range(MAX_PIPELINED * 20))
        assert closed_while_sending(server.port, flood, times=100)
        assert httpx.get(f"{server.url}/healthz").status_code == 200


class FailsOnMarker(Predictor):
    """A predictor whose batch path raises when any record carries the marker field."""

    def predict_many(self, records: Any, **kwargs: Any) -> Any:
        if any("boom" in r for r in records):
            raise TypeError("unexpected")
        return super().predict_many(records, **kwargs)


def test_one_record_failing_a_micro_batch_fails_only_its_own_request(
    pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    """Was: every request grouped with it got its 500 (cross-talk between clients)."""
    pred = FailsOnMarker(pipe, lr, schema=SCHEMA)
    recs = [jsonable(r) for r in records(data.head(40))]
    app = create_app(pred, max_batch=40, max_wait_ms=200)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:

        def post(i: int) -> int:
            body = {**recs[i], "boom": 1} if i == 7 else recs[i]
            return client.post("/v1/predict", json=body).status_code

        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(post, range(40)))
    assert statuses[7] == 500
    assert statuses[:7] + statuses[8:] == [200] * 39
    assert pred.stats.batch_size.sum > pred.stats.batch_size.count  # they were grouped


def test_a_long_list_does_not_stop_the_server_answering_others(
    pipe: Any, lr: Any, good: dict[str, Any]
) -> None:
    """Was: predicted on the event loop, so a slow list (1,000 invalid records take
    seconds to check) held every other request, liveness probes included."""
    slow = Slow(lr)
    pred = Predictor(pipe, slow, schema=SCHEMA)
    with BackgroundServer(create_app(pred)) as server, httpx.Client(base_url=server.url) as c:
        slow.gate.clear()
        slow.entered.clear()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(c.post, "/v1/predict", json=[good] * 20, timeout=30)
            try:
                assert slow.entered.wait(10)
                assert c.get("/healthz", timeout=2).status_code == 200
                assert c.get("/readyz", timeout=2).status_code == 200
            finally:
                slow.gate.set()
            assert pending.result().status_code == 200
