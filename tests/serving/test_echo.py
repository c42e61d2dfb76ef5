"""What a 4xx answer quotes back: a short prefix of the wrong value, never a credential or
personal data, whichever answer quotes it (one record, a list, explain, a routing key).

Against a real uvicorn server, as a client would read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.rollout import Shadow
from prodml.serving import BackgroundServer, Predictor, create_app
from prodml.serving._app import echo

from .conftest import SCHEMA, records

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key id
EMAIL = "ann.lee@example.com"
PASSWORD = "hunter2pw"  # noqa: S105 - a made-up one, to find in what is echoed
URL = f"https://bob:{PASSWORD}@db.example.com/x"
SECRETS = {"an AWS key id": AWS_KEY_ID, "an e-mail": EMAIL, "a URL with a password": URL}


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


def positions(secret: str) -> dict[str, Any]:
    """Wrong values holding ``secret``: as the value, glued to a word, a key, nested."""
    return {
        "value": secret,
        "inside a word": f"ref{secret}x",
        "after 30 characters": "x" * 30 + secret,
        "a key": {secret: 1},
        "a nested key": [1, {"a": {secret: 2}}],
        "a nested value": [1, {"k": [secret]}],
    }


@pytest.fixture(scope="module")
def client(pipe: Any, lr: Any, lr2: Any) -> Iterator[httpx.Client]:
    """A server whose predictor routes by the ``customer`` field (a shadow policy)."""
    pred = Predictor(
        pipe, lr, schema=SCHEMA, variants={"shadow": (pipe, lr2)},
        policy=Shadow("primary", "shadow", mirror=1.0), key_column="customer",
    )  # fmt: skip
    with BackgroundServer(create_app(pred)) as server, httpx.Client(base_url=server.url) as c:
        yield c
    pred.close()


@pytest.fixture(scope="module")
def good(data: pd.DataFrame) -> dict[str, Any]:
    return {**jsonable(records(data.head(1))[0]), "customer": "c-1"}


def leaks(text: str, secret: str) -> bool:
    """Whether ``text`` shows ``secret``, or enough of it to matter."""
    if secret == URL:
        return PASSWORD in text
    return secret in text or secret[:12] in text


@pytest.mark.parametrize("what", list(SECRETS))
def test_a_422_never_echoes_a_secret_in_any_position(
    client: httpx.Client, good: dict[str, Any], what: str
) -> None:
    """Was: an access key id glued to other characters ("x" * 30 + key id) was quoted
    whole (its pattern wanted a word boundary)."""
    secret = SECRETS[what]
    for where, wrong in positions(secret).items():
        for column in ("f0", "s0", "ts"):
            if column == "s0" and isinstance(wrong, str):
                continue  # a category never seen: answered
            bad = {**good, column: wrong}
            answers = {
                "one record": client.post("/v1/predict", json=bad),
                "a list": client.post("/v1/predict", json=[good, bad]),
                "explain": client.post("/v1/predict?explain=true", json=[good, bad]),
            }
            for path, r in answers.items():
                assert r.status_code == 422, (where, column, path, r.text)
                body = r.json()
                assert [e["column"] for e in body["errors"]] == [column]
                assert not leaks(r.text, secret), (where, column, path, r.text)


@pytest.mark.parametrize("what", list(SECRETS))
def test_a_400_for_a_refused_routing_key_never_echoes_a_secret(
    client: httpx.Client, good: dict[str, Any], what: str
) -> None:
    secret = SECRETS[what]
    for where, wrong in positions(secret).items():
        if isinstance(wrong, str):
            continue  # a str is a valid routing key
        r = client.post("/v1/predict", json={**good, "customer": wrong})
        assert r.status_code == 400, (where, r.text)
        assert "routing key" in r.json()["detail"]
        assert not leaks(r.text, secret), (where, r.text)


def test_the_quoted_prefix_stays_where_nothing_is_secret(
    client: httpx.Client, good: dict[str, Any]
) -> None:
    r = client.post("/v1/predict", json={**good, "f0": "high"})
    assert r.json()["errors"][0]["detail"] == "expected float, got str 'high'"


def test_echo_masks_each_kind_and_keeps_the_rest() -> None:
    assert echo(f"got 'ref{AWS_KEY_ID}x' and {EMAIL} from {URL}") == (
        "got 'ref***x' and <redacted> from https://bob:***@db.example.com/x"
    )
    assert echo("expected float, got str 'high'") == "expected float, got str 'high'"
