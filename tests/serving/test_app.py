"""The ASGI app over real HTTP: uvicorn on a free loopback port, driven with httpx."""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from prodml.errors import ConfigError
from prodml.monitoring import ModelMonitor
from prodml.schema import Column, Schema
from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import SCHEMA, Broken, Slow, fit_pipeline, records

prometheus_client = pytest.importorskip("prometheus_client", reason="needs the 'prometheus' extra")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


@pytest.fixture
def served(pipe: Any, lr: Any) -> Iterator[tuple[Predictor, str]]:
    pred = Predictor(pipe, lr, schema=SCHEMA, name="churn", version=4)
    with BackgroundServer(create_app(pred, max_body_bytes=20_000, max_records=10)) as server:
        yield pred, server.url


def test_predict_one_and_many(served: tuple[Predictor, str], data: pd.DataFrame) -> None:
    pred, url = served
    recs = records(data.head(5))
    r = httpx.post(f"{url}/v1/predict", json=jsonable(recs[0]), headers={"X-Request-ID": "abc"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["value"] == pred.predict_record(recs[0]).value  # JSON floats round-trip exactly
    assert (body["version"], body["variant"], body["model"]) == (4, "default", "churn")
    # The prediction id is the server's (tests/serving/test_ids.py); the request id traces.
    assert body["id"] == r.headers["x-prediction-id"] != "abc" == r.headers["x-request-id"]
    r = httpx.post(
        f"{url}/v1/predict", json=[jsonable(x) for x in recs], headers={"X-Request-ID": "b"}
    )
    assert r.status_code == 200
    assert [p["value"] for p in r.json()] == [pred.predict_record(x).value for x in recs]
    assert len({p["id"] for p in r.json()}) == 5
    assert r.headers["x-request-id"] == "b"


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    return body


def test_every_schema_problem_in_one_422(served: tuple[Predictor, str], data: pd.DataFrame) -> None:
    _, url = served
    good = jsonable(records(data.head(3))[0])
    bad = {**good, "f0": 99.0, "s0": 7, "ts": "not a date"}
    del bad["f1"]
    body = problem(httpx.post(f"{url}/v1/predict", json=bad), 422)
    assert {e["pointer"] for e in body["errors"]} == {"/f0", "/f1", "/s0", "/ts"}
    assert all(e["detail"] for e in body["errors"])
    body = problem(
        httpx.post(f"{url}/v1/predict", json=[good, bad, good, {**good, "f2": "x"}]), 422
    )
    assert {e["pointer"] for e in body["errors"]} == {"/1/f0", "/1/f1", "/1/s0", "/1/ts", "/3/f2"}
    assert body["detail"] == "2 of 4 records are invalid"
    body = problem(httpx.post(f"{url}/v1/predict", json=[1, 2]), 422)
    assert body["errors"][0]["pointer"] == "/0"


def test_bad_bodies(served: tuple[Predictor, str]) -> None:
    _, url = served
    problem(httpx.post(f"{url}/v1/predict", content=b"{not json"), 400)
    problem(
        httpx.post(f"{url}/v1/predict", content=b"a=1", headers={"content-type": "text/plain"}), 415
    )
    problem(httpx.post(f"{url}/v1/predict", content=b"[" + b"1," * 20_000 + b"1]"), 413)

    def chunked() -> Iterator[bytes]:  # no content-length: the limit applies while reading
        for _ in range(50):
            yield b" " * 1000

    problem(httpx.post(f"{url}/v1/predict", content=chunked()), 413)
    body = problem(httpx.post(f"{url}/v1/predict", json=[{}] * 11), 413)
    assert "at most 10" in body["detail"]
    problem(httpx.get(f"{url}/v1/predict"), 405)
    problem(httpx.get(f"{url}/nope"), 404)
    problem(httpx.post(f"{url}/v1/predict?explain=true", json={}), 422)


def test_model_error_is_500_without_internals(pipe: Any, lr: Any, data: pd.DataFrame) -> None:
    pred = Predictor(pipe, Broken(lr), schema=SCHEMA)
    rec = {**jsonable(records(data.head(1))[0]), "f0": 45.0}
    with BackgroundServer(create_app(pred)) as server:
        r = httpx.post(f"{server.url}/v1/predict", json=rec)
        body = problem(r, 500)
        assert body["detail"] == "the model failed on this request"
        text = r.text.replace(body["request_id"], "")  # random hex: may hold "45"
        for leak in ("12345", "RuntimeError", "Traceback", "45", "secret"):
            assert leak not in text
        assert httpx.post(f"{server.url}/v1/predict", json={**rec, "f0": 1.0}).status_code == 200


def test_a_model_failure_is_logged_without_its_message_unless_debug(
    pipe: Any, lr: Any, data: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """The model's message may quote the request: ERROR has where, DEBUG what it said."""
    pred = Predictor(pipe, Broken(lr), schema=SCHEMA)
    rec = {**jsonable(records(data.head(1))[0]), "f0": 45.0}
    with BackgroundServer(create_app(pred)) as server:
        with caplog.at_level(logging.ERROR, logger="prodml.serving"):
            r = httpx.post(f"{server.url}/v1/predict", json=rec, headers={"x-request-id": "r-1"})
        assert r.status_code == 500
        errors = [x for x in caplog.records if x.levelno >= logging.ERROR]
        text = "\n".join(x.getMessage() for x in errors)
        assert "request r-1 failed" in text
        assert "raised RuntimeError" in text
        assert "in predict_proba" in text  # the frames say where
        # The frames quote the model's code (here a literal); the message line does not.
        assert "RuntimeError: secret internal detail 12345" not in text
        assert not any(x.exc_info for x in errors)  # no traceback with the message in it
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="prodml.serving"):
            httpx.post(f"{server.url}/v1/predict", json=rec, headers={"x-request-id": "r-2"})
        debug = [x.getMessage() for x in caplog.records if x.levelno == logging.DEBUG]
        assert any("r-2" in m and "secret internal detail 12345" in m for m in debug)


def test_model_info_probes_and_metrics(pipe: Any, lr: Any, data: pd.DataFrame) -> None:
    registry = prometheus_client.CollectorRegistry()
    from prodml.monitoring.prometheus import PrometheusSink

    mon = ModelMonitor("churn", sinks=[PrometheusSink(registry)], evaluate_every_s=None)
    pred = Predictor(pipe, lr, schema=SCHEMA, name="churn", version=4, monitor=mon)
    app = create_app(pred)
    with BackgroundServer(app) as server:
        url = server.url
        info = httpx.get(f"{url}/v1/model").json()
        assert (info["name"], info["version"], info["variant"]) == ("churn", 4, "default")
        assert info["schema"] == SCHEMA.to_dict()
        assert info["fingerprint"] == pred.variants["default"].fingerprint
        assert len(info["fingerprint"]) == 64
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").json() == {"status": "ready"}
        for rec in records(data.head(3)):
            httpx.post(f"{url}/v1/predict", json=jsonable(rec))
        httpx.post(f"{url}/v1/predict", json={"f0": "x"})
        mon.evaluate()
        text = httpx.get(f"{url}/metrics")
        assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
        parsed = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text.text)
            for s in fam.samples
        }
        ok = ("prodml_serving_requests_total", (("outcome", "ok"), ("variant", "default")))
        bad = ("prodml_serving_requests_total", (("outcome", "invalid"), ("variant", "default")))
        assert parsed[ok] == 3.0
        assert parsed[bad] == 1.0
        assert parsed[("prodml_predictions_total", (("model", "churn"),))] == 3.0
        assert (
            parsed[("prodml_serving_model_info", (("variant", "default"), ("version", "4")))] == 1.0
        )
    with pytest.raises(ConfigError, match="Predictor"):
        create_app("not a predictor")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_batch"):
        create_app(pred, max_batch=1)


def test_datetime_strings_are_parsed(served: tuple[Predictor, str], data: pd.DataFrame) -> None:
    pred, url = served
    rec = records(data.head(1))[0]
    r = httpx.post(f"{url}/v1/predict", json=jsonable(rec))
    assert r.json()["value"] == pred.predict_record(rec).value


@pytest.mark.parametrize("zone", ["Europe/Paris", "UTC", "+05:30", "+0530", "UTC+05:30", "Z"])
def test_an_offset_string_is_read_in_the_columns_declared_zone(
    data: pd.DataFrame, lr: Any, zone: str
) -> None:
    """JSON carries offsets, not zone names: '...Z' for a Paris column is that instant in Paris.

    A naive string in a zoned column is refused (its zone would be a guess). A zone spelled
    as pandas misreads ('+0530' is +05:00 to pandas) or does not know ('Z') is converted to
    through its canonical spelling.
    """
    from prodml._zones import canonical_zone

    zoned = data.assign(ts=data["ts"].dt.tz_localize("UTC").dt.tz_convert(canonical_zone(zone)))
    schema = Schema(
        [*(c for c in SCHEMA.columns if c.name != "ts"), Column("ts", "datetime", timezone=zone)]
    )
    pipe = fit_pipeline(zoned)
    pred = Predictor(pipe, lr, schema=schema)
    rec = records(zoned.head(1))[0]
    in_zone = pred.predict_record(rec).value
    instant = rec["ts"]
    with BackgroundServer(create_app(pred)) as server:
        for sent in (
            instant.isoformat(),  # the declared zone's own offset
            instant.tz_convert("UTC").isoformat().replace("+00:00", "Z"),
            instant.tz_convert("America/Los_Angeles").isoformat(),
        ):
            r = httpx.post(f"{server.url}/v1/predict", json={**jsonable(rec), "ts": sent})
            assert r.status_code == 200, (sent, r.text)
            assert r.json()["value"] == in_zone, sent
        naive = instant.tz_localize(None).isoformat()
        body = problem(
            httpx.post(f"{server.url}/v1/predict", json={**jsonable(rec), "ts": naive}), 422
        )
        assert [e["pointer"] for e in body["errors"]] == ["/ts"]
        assert "naive" in body["errors"][0]["detail"]


def test_versions_that_disagree_on_a_zone_get_the_string_as_sent(
    data: pd.DataFrame, lr: Any, lr2: Any
) -> None:
    from prodml.rollout import Canary, Step
    from prodml.serving._app import _Settings, _timestamps

    utc = data.assign(ts=data["ts"].dt.tz_localize("UTC"))
    paris = utc.assign(ts=utc["ts"].dt.tz_convert("Europe/Paris"))
    pred = Predictor(
        fit_pipeline(utc), lr,
        variants={"candidate": (fit_pipeline(paris), lr2)},
        policy=Canary(steps=[Step(0.5)], salt="z"),
    )  # fmt: skip
    settings = _Settings(pred, 1_000_000, 10, None, 0.0)
    columns = settings.datetime_columns()
    assert columns == (("ts", None),)  # no zone both versions declare
    record = _timestamps({"ts": "2024-07-01T07:00:00Z"}, columns)
    assert record["ts"] == pd.Timestamp("2024-07-01T07:00:00Z")
    assert str(record["ts"].tz) == "UTC"  # as sent: not converted to either zone
    same = Predictor(fit_pipeline(paris), lr)
    assert _Settings(same, 1_000_000, 10, None, 0.0).datetime_columns() == (("ts", "Europe/Paris"),)


def test_a_naive_column_refuses_an_offset_string(
    served: tuple[Predictor, str], data: pd.DataFrame
) -> None:
    _, url = served
    rec = jsonable(records(data.head(1))[0])
    body = problem(httpx.post(f"{url}/v1/predict", json={**rec, "ts": rec["ts"] + "+01:00"}), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/ts"]
    assert "naive datetimes" in body["errors"][0]["detail"]


def test_graceful_shutdown_drains_in_flight_requests(
    pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    slow = Slow(lr)
    pred = Predictor(pipe, slow, schema=SCHEMA)
    rec = jsonable(records(data.head(1))[0])
    server = BackgroundServer(create_app(pred), graceful_s=10).start()
    slow.gate.clear()
    slow.entered.clear()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(httpx.post, f"{server.url}/v1/predict", json=rec, timeout=20)
        assert slow.entered.wait(10)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        time.sleep(0.3)  # shutdown has begun while the request is in the model
        slow.gate.set()
        response = future.result()
        stopper.join(20)
    assert response.status_code == 200
    assert 0 <= response.json()["value"] <= 1
    assert not stopper.is_alive()


@pytest.mark.parametrize("model_name", ["lr", "gbc"])
def test_micro_batching_equals_unbatched_bit_for_bit(
    model_name: str, request: Any, pipe: Any, data: pd.DataFrame
) -> None:
    model = request.getfixturevalue(model_name)
    pred = Predictor(pipe, model, schema=SCHEMA)
    recs = records(data.head(120))
    expected = [pred.predict_record(r).value for r in recs]
    app = create_app(pred, max_batch=16, max_wait_ms=20)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:

        def post(i: int) -> Any:
            return client.post(
                "/v1/predict", json=jsonable(recs[i]), headers={"X-Request-ID": str(i)}
            )

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(post, range(len(recs))))
        bad = {**jsonable(recs[0]), "f0": "x"}
        assert post_bad(client, bad).status_code == 422
        text = client.get("/metrics").text
    assert [r.status_code for r in responses] == [200] * len(recs)
    assert [r.json()["value"] for r in responses] == expected
    assert [r.headers["x-request-id"] for r in responses] == [str(i) for i in range(len(recs))]
    assert len({r.json()["id"] for r in responses}) == len(recs)
    sizes = pred.stats.batch_size
    assert sizes.count >= 1
    assert sizes.sum == len(recs) + 1
    assert sizes.sum > sizes.count
    assert "prodml_serving_batch_size_count" in text
    assert "prodml_serving_batch_wait_seconds_sum" in text


def post_bad(client: httpx.Client, rec: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/predict", json=rec)


def test_background_server_errors() -> None:
    with pytest.raises(ConfigError, match="not running"):
        _ = BackgroundServer(object()).url


def test_numpy_values_in_explanations_serialise(pipe: Any, lr: Any, data: pd.DataFrame) -> None:
    class Exp:
        def explain_record(self, record: Any) -> Any:
            return {"values": np.arange(3.0), "base": np.float64(0.5)}

    pred = Predictor(pipe, lr, schema=SCHEMA, explainer=Exp())
    for lib in ("json", "orjson"):
        with BackgroundServer(create_app(pred, json_library=lib)) as server:
            r = httpx.post(
                f"{server.url}/v1/predict?explain=true", json=jsonable(records(data.head(1))[0])
            )
        assert r.json()["explanation"] == {"values": [0.0, 1.0, 2.0], "base": 0.5}


@pytest.mark.parametrize("lib", ["orjson", "json"])
def test_hostile_bodies_get_a_4xx_naming_the_problem(
    lib: str, pipe: Any, lr: Any, data: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    pred = Predictor(pipe, lr, schema=SCHEMA)
    good = jsonable(records(data.head(1))[0])
    app = create_app(pred, json_library=lib, max_records=10)
    with (
        caplog.at_level("DEBUG"),
        BackgroundServer(app, log_config=None) as server,  # uvicorn's logs reach caplog
        httpx.Client(base_url=server.url) as client,
    ):

        def post(body: bytes) -> httpx.Response:
            return client.post("/v1/predict", content=body)

        # Not JSON: the parser's reason, the same status whichever library parses.
        assert "the body is empty" in problem(post(b""), 400)["detail"]
        for literal in (b"NaN", b"Infinity", b"-Infinity"):  # not JSON (the json module took them)
            problem(post(b'{"f0": ' + literal + b"}"), 400)
        for deep in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000):
            body = problem(post(deep), 400)  # was a 500 (RecursionError) with json
            assert "depth limit exceeded" in body["detail"]
        assert "line 1 column 2" in problem(post(b"{oops"), 400)["detail"]
        # JSON, but not a record: which JSON type came, where (was a message about pandas).
        for raw, kind in ((b"null", "null"), (b"1", "a number"), (b'"x"', "a string")):
            body = problem(post(raw), 422)
            assert body["errors"] == [
                {"pointer": "", "column": None, "kind": "type",
                 "detail": f"a record must be a JSON object, got {kind}"}
            ]  # fmt: skip
        body = problem(post(b'[{"f0": 1}, [1], true]'), 422)
        assert body["detail"] == "2 of 3 records are not JSON objects"
        assert [(e["pointer"], e["record"]) for e in body["errors"]] == [("/1", 1), ("/2", 2)]
        assert "an array" in body["errors"][0]["detail"]
        assert "a boolean" in body["errors"][1]["detail"]
        # A flag that is neither true nor false is said, not read as false.
        assert problem(client.post("/v1/predict?explain=maybe", json=good), 400)["detail"] == (
            "explain must be true or false"
        )
        # A request id is sent back and logged: bounded (was any size: 1 MB passed, past
        # max_body_bytes) and without control characters.
        for rid in (b"a" * 201, b"a\tb", "caf\u00e9".encode("latin-1")):
            r = client.post("/v1/predict", json=good, headers={"x-request-id": rid})
            body = problem(r, 400)
            assert body["detail"] == "X-Request-ID must be at most 200 printable ASCII characters"
        ok = client.post("/v1/predict", json=good, headers={"x-request-id": "r-" + "a" * 198})
        assert ok.headers["x-request-id"] == "r-" + "a" * 198 != ok.json()["id"]
        # 405 names the allowed methods (RFC 9110).
        r = client.get("/v1/predict")
        problem(r, 405)
        assert r.headers["allow"] == "POST"
        # A client gone before its body arrived: no error logged, the server goes on.
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 500\r\n\r\n" + b'{"f0": '
            )
            time.sleep(0.1)
        deadline = time.monotonic() + 5
        while not any("disconnected" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the disconnect was not seen"
            time.sleep(0.02)
        assert client.post("/v1/predict", json=good).status_code == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_explanations_have_their_own_record_limit(pipe: Any, lr: Any, data: pd.DataFrame) -> None:
    """An explanation can cost far more than its prediction (a sampling explainer runs
    the model hundreds of times): ``?explain=true`` lists have a lower limit, 413 past it."""
    calls: list[int] = []

    class Exp:
        def explain_record(self, record: Any) -> Any:
            calls.append(1)
            return {"values": [0.0], "base": 0.0}

    pred = Predictor(pipe, lr, schema=SCHEMA, explainer=Exp())
    batch = [jsonable(r) for r in records(data.head(5))]
    with BackgroundServer(create_app(pred, max_explain=4)) as server:
        over = httpx.post(f"{server.url}/v1/predict?explain=true", json=batch)
        plain = httpx.post(f"{server.url}/v1/predict", json=batch)
        within = httpx.post(f"{server.url}/v1/predict?explain=true", json=batch[:4])
    assert over.status_code == 413
    assert over.json()["detail"] == "5 records with explain=true; at most 4 per request"
    assert plain.status_code == 200  # the same list without explanations: max_records
    assert within.status_code == 200
    assert len(within.json()) == 4
    assert len(calls) == 4  # nothing explained for the refused list
    with pytest.raises(ConfigError, match="max_explain"):
        create_app(pred, max_explain=0)
