"""No 4xx answer and no log line shows a credential or an e-mail a request carried.

Whatever shape it has: an access key id glued to letters or digits on either side, of 16
or 20 characters, a temporary one (``ASIA``), inside a JSON text, a URL with a password,
an e-mail address; wherever it sits: a value, a list's record, a routing key, an
``X-Request-ID``, the path.

Was: ``prodml._secrets`` masks a key id only when neither a letter nor a digit touches it
and it is exactly 20 characters; serving kept a second pattern beside it, and a client's
``X-Request-ID`` holding a key id was sent back and logged as it came.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.rollout import Shadow
from prodml.serving import BackgroundServer, Predictor, create_app
from prodml.serving._echo import echo

from .conftest import SCHEMA, records

# name: (the text sent, what of it must never come back or be logged)
SECRETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "key glued to upper-case text both sides": ("KEYAKIAIOSFODNN7EXAMPLEEND", ("IOSFODNN7EXA",)),
    "key glued to lower-case text both sides": ("refAKIAIOSFODNN7EXAMPLEx", ("IOSFODNN7EXA",)),
    "key followed by a digit": ("AKIAIOSFODNN7EXAMPLE2", ("IOSFODNN7EXA",)),
    "key of 16 characters": ("idAKIAZ3Q9V7K2M4P8", ("Z3Q9V7K2M4P8",)),
    "key of 20 characters": ("AKIAJ7Q2W4E6R8T0Y1U3", ("J7Q2W4E6R8T0",)),
    "key of 24 characters": ("AKIAJ7Q2W4E6R8T0Y1U3I5O7", ("J7Q2W4E6R8T0", "Y1U3I5O7")),
    "temporary key": ("xASIAY34FZKBOKMUTVV7A9", ("Y34FZKBOKMUT",)),
    "key in a JSON text": ('{"aws_key_id":"AKIAIOSFODNN7EXAMPLE"}', ("IOSFODNN7EXA",)),
    "key glued in a JSON text": ('{"k":"zAKIAIOSFODNN7EXAMPLE7"}', ("IOSFODNN7EXA",)),
    "URL with a password": ("https://bob:hunter2pw@db.example.com/x", ("hunter2pw",)),
    "database URL": ("postgresql://ann:s3cr3tpw@10.0.0.7/db", ("s3cr3tpw",)),
    "URL with a token": ("s3://b/p?token=t0kenvalue123&x=1", ("t0kenvalue123",)),
    "e-mail": ("ann.lee@example.com", ("ann.lee@example.com", "ann.lee")),
    "e-mail glued": ("to:ann.lee@example.com;", ("ann.lee@example.com",)),
}


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


class Capture(logging.Handler):
    """Every record of the loggers serving and its server write to, at every level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def capturing(handler: Capture) -> Iterator[None]:
    """``handler`` on serving's and uvicorn's loggers, at DEBUG, inside the block.

    Entered after the server started: uvicorn's logging set-up replaces its loggers'
    handlers (``uvicorn.access`` does not propagate to the root logger).
    """
    names = ["prodml", "uvicorn", "uvicorn.error", "uvicorn.access"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


@pytest.fixture(scope="module")
def capture() -> Capture:
    return Capture()


@pytest.fixture(scope="module")
def client(pipe: Any, lr: Any, lr2: Any, capture: Capture) -> Iterator[httpx.Client]:
    pred = Predictor(
        pipe, lr, schema=SCHEMA, variants={"shadow": (pipe, lr2)},
        policy=Shadow("primary", "shadow", mirror=1.0), key_column="customer",
    )  # fmt: skip
    server = BackgroundServer(create_app(pred), log_level="debug")  # the access log on
    with server, capturing(capture), httpx.Client(base_url=server.url) as c:
        yield c
    pred.close()


@pytest.fixture(scope="module")
def good(data: pd.DataFrame) -> dict[str, Any]:
    return {**jsonable(records(data.head(1))[0]), "customer": "c-1"}


def requests(good: dict[str, Any], secret: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Ways to send ``secret`` that are answered 4xx: (method and path, JSON body, headers)."""
    body = {**good, "f0": secret}
    return {
        "a value": ("/v1/predict", body, {}),
        "a value, with explain": ("/v1/predict?explain=true", body, {}),
        "a value in a list": ("/v1/predict", [good, {**good, "ts": secret}], {}),
        "a value nested": ("/v1/predict", {**good, "f1": [{"a": [secret]}]}, {}),
        "a routing key": ("/v1/predict", {**good, "customer": [secret]}, {}),
        "a list's routing key": ("/v1/predict", [good, {**good, "customer": {"k": secret}}], {}),
        "an X-Request-ID": ("/v1/predict", body, {"x-request-id": secret}),
        "the path": (f"/v1/{secret}", good, {}),
    }


@pytest.mark.parametrize("name", list(SECRETS))
def test_no_4xx_answer_or_log_line_shows_a_secret(
    client: httpx.Client, good: dict[str, Any], capture: Capture, name: str
) -> None:
    secret, tells = SECRETS[name]
    assert all(t in secret for t in tells)  # the test's own premise
    for where, (path, body, headers) in requests(good, secret).items():
        capture.lines.clear()
        answer = client.post(path, json=body, headers=headers)
        assert 400 <= answer.status_code < 500, (where, answer.status_code, answer.text)
        shown = answer.text + " ".join(f"{k}: {v}" for k, v in answer.headers.items())
        logged = "\n".join(capture.lines)
        assert f'HTTP/1.1" {answer.status_code}' in logged  # uvicorn's access log line
        for tell in tells:
            assert tell not in shown, (where, shown)
            assert tell not in logged, (where, logged)


def test_an_x_request_id_holding_a_secret_is_replaced(
    client: httpx.Client, good: dict[str, Any]
) -> None:
    """A plain one is kept (tracing); one holding a key id gets an id made here."""
    kept = client.post("/v1/predict", json=good, headers={"x-request-id": "trace-42"})
    assert kept.headers["x-request-id"] == "trace-42"
    swapped = client.post(
        "/v1/predict", json=good, headers={"x-request-id": "trace-AKIAIOSFODNN7EXAMPLE"}
    )
    assert swapped.status_code == 200
    assert "AKIA" not in swapped.headers["x-request-id"]


@pytest.mark.parametrize("name", list(SECRETS))
def test_echo_masks_every_shape(name: str) -> None:
    secret, tells = SECRETS[name]
    for text in (secret, f"got '{secret}' here", f"{'x' * 40}{secret}{'y' * 40}"):
        masked = echo(text)
        assert not any(t in masked for t in tells), masked


def test_echo_keeps_ordinary_text() -> None:
    for text in ("expected float, got str 'high'", "AKIA", "column 'ASIAN_MARKET'", "x" * 50):
        assert echo(text) == text


QUOTING = "bad input AKIAIOSFODNN7EXAMPLE9 from ann.lee@example.com"


class Raises:
    """A model whose message quotes what it was given (as numpy's conversions do)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.n_features_in_ = inner.n_features_in_

    def predict(self, X: Any) -> Any:
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        if (X[:, 0] > 15).any():
            raise ValueError(QUOTING)  # not the literal: the traceback shows this line
        return self.inner.predict_proba(X)


def test_a_500_logs_the_model_message_masked(
    pipe: Any, lr: Any, good: dict[str, Any], capture: Capture
) -> None:
    """Was: the DEBUG line logged the model's message as it was (it may quote the request)."""
    pred = Predictor(pipe, Raises(lr), schema=SCHEMA)
    capture.lines.clear()
    with BackgroundServer(create_app(pred)) as server, capturing(capture):
        answer = httpx.post(f"{server.url}/v1/predict", json={**good, "f0": 45.0})
    assert answer.status_code == 500
    logged = "\n".join(capture.lines)
    assert "bad input *** from <redacted>" in logged  # the message is there, masked
    assert "IOSFODNN7EXA" not in logged + answer.text
    assert "ann.lee" not in logged + answer.text
    pred.close()
