"""The HTTP surface as an MLServer or BentoML user meets it: its OpenAPI document, and
what a fuzzer (schemathesis, run against ``/openapi.json``) found, over real uvicorn."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import Any

import httpx
import jsonschema
import pandas as pd
import pytest
from referencing import Registry, Resource

from prodml.registry import ModelRegistry
from prodml.schema import Column, Schema
from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import SCHEMA, fit_pipeline, records


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


def zoned(data: pd.DataFrame, lr: Any) -> tuple[Predictor, dict[str, Any]]:
    """A predictor whose ``ts`` column is declared in UTC, and one of its records."""
    utc = data.assign(ts=data["ts"].dt.tz_localize("UTC"))
    schema = Schema(
        [*(c for c in SCHEMA.columns if c.name != "ts"), Column("ts", "datetime", timezone="UTC")]
    )
    pred = Predictor(fit_pipeline(utc), lr, schema=schema)
    return pred, jsonable(records(utc.head(1))[0])


@pytest.mark.parametrize("json_library", ["orjson", "json"])
@pytest.mark.parametrize(
    "sent",
    [
        "9999-12-31T23:59:59-10:00",  # in UTC: year 10000, past Python's datetime
        "0001-01-01T00:00:00+01:00",  # in UTC: year 0
    ],
)
def test_an_offset_that_moves_a_time_past_pythons_years_is_a_422_not_a_500(
    data: pd.DataFrame, lr: Any, sent: str, json_library: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by schemathesis: converted to the column's zone, the string became a pandas
    Timestamp no ``datetime`` holds, and the record path's range check raised ValueError."""
    pred, rec = zoned(data, lr)
    caplog.set_level(logging.ERROR, logger="prodml.serving")
    with BackgroundServer(create_app(pred, json_library=json_library)) as server:
        one = httpx.post(f"{server.url}/v1/predict", json={**rec, "ts": sent})
        many = httpx.post(f"{server.url}/v1/predict", json=[rec, {**rec, "ts": sent}])
        fine = httpx.post(f"{server.url}/v1/predict", json=rec)
    assert one.status_code == 422, one.text
    assert [e["pointer"] for e in one.json()["errors"]] == ["/ts"]
    # Outside the years /openapi.json's pattern allows, the string is not read at all.
    assert "expected datetime, got str" in one.json()["errors"][0]["detail"]
    assert many.status_code == 422, many.text
    assert [e["pointer"] for e in many.json()["errors"]] == ["/1/ts"]
    assert fine.status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def document_validator(doc: dict[str, Any], name: str) -> jsonschema.protocols.Validator:
    """A validator of ``#/components/schemas/<name>`` that resolves the document's refs."""
    registry: Registry[Any] = Registry().with_resource("urn:doc", Resource.from_contents(
        {**doc, "$schema": "https://json-schema.org/draft/2020-12/schema"}
    ))  # fmt: skip
    schema = {"$ref": f"urn:doc#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_the_openapi_document_describes_what_the_server_answers(
    pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    """``/openapi.json``: the served schema as the record's JSON Schema; the answers match it."""
    pred = Predictor(pipe, lr, schema=SCHEMA, name="churn", version=4)
    recs = [jsonable(r) for r in records(data.head(30))]
    with BackgroundServer(create_app(pred, max_records=7)) as server:
        r = httpx.get(f"{server.url}/openapi.json")
        doc = r.json()
        one = httpx.post(f"{server.url}/v1/predict", json=recs[0])
        many = httpx.post(f"{server.url}/v1/predict", json=recs[:3])
        bad = httpx.post(f"{server.url}/v1/predict", json={**recs[0], "f0": "high"})
        explain = httpx.post(f"{server.url}/v1/predict?explain=true", json=recs[0])
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "prodml serving: churn", "version": "4"}
    assert set(doc["paths"]) == {
        "/v1/predict", "/v1/model", "/healthz", "/readyz", "/metrics", "/openapi.json"
    }  # fmt: skip
    record = doc["components"]["schemas"]["Record"]
    assert list(record["properties"]) == SCHEMA.names
    assert record["required"] == SCHEMA.names  # a missing column is refused, null or not
    assert record["properties"]["f0"] == {
        "anyOf": [{"type": "number", "minimum": -50, "maximum": 50}, {"type": "null"}]
    }
    body = doc["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][1]["maxItems"] == 7
    # Every record the server scores is valid for the document, and the answers match it.
    for rec in recs:
        document_validator(doc, "Record").validate(rec)
    answer = doc["paths"]["/v1/predict"]["post"]["responses"]["200"]["content"]
    answer_validator = jsonschema.Draft202012Validator(
        {**answer["application/json"]["schema"], "components": doc["components"]}
    )
    assert one.status_code == many.status_code == 200
    answer_validator.validate(one.json())
    answer_validator.validate(many.json())
    assert bad.status_code == 422
    assert not document_validator(doc, "Record").is_valid({**recs[0], "f0": "high"})
    document_validator(doc, "Problem").validate(bad.json())
    # No explainer: the document offers only the false spellings of ?explain.
    (flag,) = [p for p in doc["paths"]["/v1/predict"]["post"]["parameters"] if p["in"] == "query"]
    assert "true" not in flag["schema"]["enum"]
    assert explain.status_code == 400


def test_a_datetime_pattern_matches_what_the_server_reads(data: pd.DataFrame, lr: Any) -> None:
    """Strings the document's pattern allows are read; ones it refuses are refused."""
    pred, rec = zoned(data, lr)
    with BackgroundServer(create_app(pred)) as server:
        doc = httpx.get(f"{server.url}/openapi.json").json()
        ts = doc["components"]["schemas"]["Record"]["properties"]["ts"]
        # DateParts takes no null: the column is documented non-nullable (no anyOf).
        assert "anyOf" not in ts
        pattern = ts
        check = jsonschema.Draft202012Validator(pattern)
        for sent, ok in [
            ("2024-02-28T10:00:00Z", True),
            ("2024-03-31 23:59:59.123456+05:30", True),
            ("1678-01-01T00:00+14:00", True),
            ("2261-12-31T23:59-10:00", True),
            ("2024-01-01T10:00:00", False),  # naive, in a zoned column
            ("2024-02-30T10:00:00Z", False),
            ("2016-12-31T23:59:60Z", False),  # a leap second: RFC 3339 has it, Python not
            ("1600-01-01T00:00:00Z", False),  # outside datetime64[ns]
        ]:
            assert check.is_valid(sent) is ok, sent
            r = httpx.post(f"{server.url}/v1/predict", json={**rec, "ts": sent})
            assert (r.status_code == 200) is ok, (sent, r.text)


def test_the_openapi_document_follows_a_hot_swap(registry: ModelRegistry) -> None:
    pred = Predictor.from_registry(registry, "churn@production", watch_every_s=None)
    try:
        with BackgroundServer(create_app(pred)) as server:
            before = httpx.get(f"{server.url}/openapi.json").json()["info"]["version"]
            registry.set_alias("churn", "production", 2)
            pred.refresh()
            after = httpx.get(f"{server.url}/openapi.json").json()["info"]["version"]
    finally:
        pred.close()
    assert (before, after) == ("1", "2")


def test_no_answer_mixes_two_versions_while_the_alias_flips(
    registry: ModelRegistry, pipe: Any, lr: Any, lr2: Any, data: pd.DataFrame
) -> None:
    """Lists (on worker threads) and micro-batched records while the alias moves 1 <-> 2.

    Every request answers 200; a list's records all come from one version, and each
    value is that version's own in-process prediction of the record, bit for bit.
    """
    raw = records(data.head(20))
    recs = [jsonable(r) for r in raw]
    expected = {
        v: [Predictor(pipe, model, schema=SCHEMA).predict_record(r).value for r in raw]
        for v, model in ((1, lr), (2, lr2))
    }
    assert expected[1] != expected[2]
    pred = Predictor.from_registry(registry, "churn@production", watch_every_s=None)
    stop = threading.Event()
    moves = 0

    def flip() -> None:
        nonlocal moves
        while not stop.is_set():
            registry.set_alias("churn", "production", 2 if moves % 2 == 0 else 1)
            pred.refresh()
            moves += 1
            time.sleep(0.005)

    def lists(url: str) -> list[tuple[int, list[tuple[int, float]]]]:
        out = []
        with httpx.Client(base_url=url, timeout=30) as c:
            while not stop.is_set():
                r = c.post("/v1/predict", json=recs)
                out.append((r.status_code, [(p["version"], p["value"]) for p in r.json()]))
        return out

    def singles(url: str, i: int) -> list[tuple[int, int, float, int]]:
        out = []
        with httpx.Client(base_url=url, timeout=30) as c:
            n = 0
            while not stop.is_set():
                k = (i + n) % len(recs)
                r = c.post("/v1/predict", json=recs[k])
                out.append((r.status_code, r.json()["version"], r.json()["value"], k))
                n += 1
        return out

    try:
        with (
            BackgroundServer(create_app(pred, max_batch=4, max_wait_ms=2.0)) as server,
            concurrent.futures.ThreadPoolExecutor(6) as pool,
        ):
            flipper = pool.submit(flip)
            many = [pool.submit(lists, server.url) for _ in range(2)]
            one = [pool.submit(singles, server.url, i) for i in range(3)]
            deadline = time.monotonic() + 60  # a refresh verifies and loads: slow when loaded
            while moves < 10 and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            flipper.result()
            listed = [x for f in many for x in f.result()]
            single = [x for f in one for x in f.result()]
    finally:
        pred.close()
    assert moves >= 10
    assert {s for s, _ in listed} == {200}
    assert len(listed) > 5
    versions_seen = set()
    for _, answer in listed:
        (version,) = {v for v, _ in answer}  # one version per request
        versions_seen.add(version)
        assert [value for _, value in answer] == expected[version]
    assert {s for s, *_ in single} == {200}
    assert len(single) > 20
    for _, version, value, k in single:
        versions_seen.add(version)
        assert value == expected[version][k]
    assert versions_seen == {1, 2}
