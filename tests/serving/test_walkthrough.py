"""A user's walk through a registry model served over HTTP, hostile requests included.

Each request gets the right answer or a clear 4xx naming what is wrong: never a 500, a
traceback, or a quote of the request that may hold a secret. With either JSON library.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.registry import ModelRegistry
from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import SCHEMA, records

JSON = {"content-type": "application/json"}
KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(scope="module", params=["orjson", "json"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    pipe: Any, lr: Any, lr2: Any,
) -> Iterator[tuple[httpx.Client, ModelRegistry]]:  # fmt: skip
    if request.param == "orjson":
        pytest.importorskip("orjson", reason="needs orjson (the 'serve' extra)")
    reg = ModelRegistry.local(tmp_path_factory.mktemp("walk") / "registry")
    reg.register("churn", (pipe, lr), signature=SCHEMA)
    reg.register("churn", (pipe, lr2), signature=SCHEMA)
    reg.set_alias("churn", "production", 1)
    pred = Predictor.from_registry(reg, "churn@production", watch_every_s=0.05)
    app = create_app(pred, json_library=request.param, max_body_bytes=4_000_000)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        yield c, reg
    pred.close()
    reg.close()


@pytest.fixture(scope="module")
def rec(data: pd.DataFrame) -> dict[str, Any]:
    r = records(data.head(1))[0]
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in r.items()}


def problem(r: httpx.Response, status: int, *words: str) -> str:
    """The detail of a problem+json answer with ``status`` that names each of ``words``."""
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    text = json.dumps(body)
    assert "Traceback" not in text
    assert KEY[4:16] not in text
    for word in words:
        assert word in text, (word, text[:300])
    return str(body["detail"])


def test_routes_a_client_of_another_server_tries_are_named(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any]
) -> None:
    """Was: ``Not Found`` / ``Method Not Allowed`` and nothing more."""
    c, _ = served
    for path in ("/v1/explain", "/v1/labels", "/predict", "/v2/models/churn/infer", f"/{KEY}"):
        problem(c.post(path, json=rec), 404, "no such route", "POST /v1/predict", "?explain=true")
    detail = problem(c.get("/v1/predict"), 405, "answers POST only", "GET /healthz")
    assert "GET /v1/model" in detail
    assert c.post("/v1/predict?explain=true", json=rec).status_code == 400  # no explainer


def test_one_record_and_a_batch_agree(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any]
) -> None:
    c, _ = served
    one = c.post("/v1/predict", json=rec).json()
    many = c.post("/v1/predict", json=[rec, rec]).json()
    assert [p["value"] for p in many] == [one["value"]] * 2
    assert len({one["id"], *(p["id"] for p in many)}) == 3


def test_size_limits_name_the_limit(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any]
) -> None:
    c, _ = served
    many = [{"f0": 1.0}] * 10_000  # small records: the record limit, not the body's
    problem(c.post("/v1/predict", json=many), 413, "10000 records", "at most 1000")
    ten_mb = b"[" + b" " * 10_000_000 + b"]"
    problem(c.post("/v1/predict", content=ten_mb, headers=JSON), 413, "over 4000000 bytes")
    chunked = c.post("/v1/predict", content=iter([ten_mb[:5_000_000], ten_mb[5_000_000:]]),
                     headers=JSON)  # fmt: skip
    problem(chunked, 413, "over 4000000 bytes")


@pytest.mark.parametrize("depth", [100, 900, 5000])
def test_deeply_nested_json_is_a_4xx(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any], depth: int
) -> None:
    c, _ = served
    head = json.dumps(rec)[:-1].encode()
    for nested in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        body = head + b', "f0": ' + nested + b"}"
        r = c.post("/v1/predict", content=body, headers=JSON)
        if r.status_code == 400:
            problem(r, 400, "not JSON", "depth limit exceeded")
        else:
            problem(r, 422, "expected float")
        whole = c.post("/v1/predict", content=b"[" * depth + b"]" * depth, headers=JSON)
        assert whole.status_code in (400, 422), whole.text[:200]


def test_duplicate_keys_the_last_wins(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any]
) -> None:
    c, _ = served
    body = json.dumps({**rec, "f0": "not a number"})[:-1] + ', "f0": 1.5}'
    r = c.post("/v1/predict", content=body.encode(), headers=JSON)
    assert r.status_code == 200
    assert r.json()["value"] == c.post("/v1/predict", json={**rec, "f0": 1.5}).json()["value"]


@pytest.mark.parametrize(
    ("literal", "reason"),
    [("NaN", ""), ("Infinity", ""), ("-Infinity", ""), ("1e400", "infinity")],
)
def test_non_finite_numbers_are_not_json(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any], literal: str, reason: str
) -> None:
    c, _ = served
    body = json.dumps(rec)[:-1] + f', "f1": {literal}}}'
    problem(c.post("/v1/predict", content=body.encode(), headers=JSON), 400, "not JSON", reason)


def test_content_types_and_codings_are_named(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any]
) -> None:
    c, _ = served
    raw = json.dumps(rec).encode()
    plain = c.post("/v1/predict", content=raw, headers={"content-type": "text/plain"})
    problem(plain, 415, "application/json")
    problem(c.post("/v1/predict", data={"f0": "1"}), 415, "application/json")  # curl -d
    latin = {"content-type": "application/json; charset=latin-1"}
    problem(c.post("/v1/predict", content=raw, headers=latin), 415, "UTF-8")
    zipped = c.post(
        "/v1/predict", content=gzip.compress(raw), headers={**JSON, "content-encoding": "gzip"}
    )
    problem(zipped, 415, "Content-Encoding")
    assert c.post("/v1/predict", content=raw).status_code == 200  # no type: JSON


def test_health_and_readiness_stay_up_while_the_alias_moves(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any]
) -> None:
    c, reg = served
    versions = set()
    for target in (2, 1):
        reg.set_alias("churn", "production", target)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert c.get("/healthz").status_code == 200
            assert c.get("/readyz").json() == {"status": "ready"}
            answer = c.post("/v1/predict", json=rec)
            assert answer.status_code == 200
            versions.add(answer.json()["version"])
            if answer.json()["version"] == target:
                break
            time.sleep(0.02)
        assert c.get("/v1/model").json()["version"] == target
    assert versions == {1, 2}


def test_charset_utf8_spellings_are_accepted_and_others_named(
    served: tuple[httpx.Client, ModelRegistry], rec: dict[str, Any]
) -> None:
    """Was: ``charset=utf8`` (MySQL's spelling) got 415 "JSON must be sent as UTF-8"."""
    c, _ = served
    raw = json.dumps(rec).encode()
    for charset in ("utf-8", "UTF8", '"utf8"'):
        ok = c.post(
            "/v1/predict",
            content=raw,
            headers={"content-type": f"{JSON['content-type']}; charset={charset}"},
        )
        assert ok.status_code == 200, (charset, ok.text)
    latin = {"content-type": "application/json; charset=iso-8859-1"}
    problem(c.post("/v1/predict", content=raw, headers=latin), 415, "UTF-8", "'iso-8859-1'")
