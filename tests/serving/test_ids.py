"""Request ids trace, prediction ids name: no client can name (or cross) another's labels.

Against a real uvicorn server: the ids travel in headers and bodies over a socket.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.monitoring import ModelMonitor
from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import SCHEMA, records

PREDICTION_ID = re.compile(r"[0-9a-f]{32}")


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


@pytest.fixture(params=[None, 8], ids=["unbatched", "micro-batched"])
def served(
    request: pytest.FixtureRequest, pipe: Any, lr: Any
) -> Iterator[tuple[ModelMonitor, httpx.Client]]:
    monitor = ModelMonitor(evaluate_every_s=None)
    pred = Predictor(pipe, lr, schema=SCHEMA, monitor=monitor)
    app = create_app(pred, max_batch=request.param, max_wait_ms=20)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        yield monitor, client


def test_clients_sending_the_same_request_id_get_their_own_predictions(
    served: tuple[ModelMonitor, httpx.Client], data: pd.DataFrame
) -> None:
    """Was: the X-Request-ID was the prediction id, so the second client's prediction
    replaced the first's in the monitor and the first client's label joined it."""
    monitor, client = served
    recs = [jsonable(r) for r in records(data.head(8))]

    def post(i: int) -> httpx.Response:
        return client.post("/v1/predict", json=recs[i], headers={"X-Request-ID": "same"})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    ids = [r.json()["id"] for r in answers]
    assert all(PREDICTION_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == 8
    assert [r.headers["x-prediction-id"] for r in answers] == ids
    assert {r.headers["x-request-id"] for r in answers} == {"same"}  # echoed, for tracing
    assert monitor.counters()["duplicate_predictions_total"] == 0
    assert monitor.metrics()["pending"] == 8
    # Each label joins the prediction it names; a second label for it is refused.
    assert all(monitor.log_label(i, 1) for i in ids)
    assert not monitor.log_label(ids[0], 0)
    counts = monitor.counters()
    assert (counts["labels_total"], counts["duplicate_labels_total"]) == (8, 1)
    assert counts["unmatched_total"] == 0


def test_records_of_a_list_get_ids_no_other_request_can_take(
    served: tuple[ModelMonitor, httpx.Client], data: pd.DataFrame
) -> None:
    """Was: a list's records were "<request id>-<i>": a single request with the id "x-0"
    named the same prediction as the first record of a list sent with "x"."""
    monitor, client = served
    recs = [jsonable(r) for r in records(data.head(3))]
    many = client.post("/v1/predict", json=recs, headers={"X-Request-ID": "x"})
    one = client.post("/v1/predict", json=recs[0], headers={"X-Request-ID": "x-0"})
    ids = [p["id"] for p in many.json()] + [one.json()["id"]]
    assert len(set(ids)) == 4
    assert all(PREDICTION_ID.fullmatch(i) for i in ids)
    assert "x-prediction-id" not in many.headers  # a list's ids are in its body
    assert many.headers["x-request-id"] == "x"
    assert monitor.counters()["duplicate_predictions_total"] == 0
    assert monitor.log_label(ids[0], 0)
    assert monitor.log_label(ids[3], 1)
    assert monitor.metrics()["pending"] == 2


def test_the_debug_log_traces_a_request_id_to_its_prediction_ids(
    pipe: Any, lr: Any, data: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    pred = Predictor(pipe, lr, schema=SCHEMA)
    recs = [jsonable(r) for r in records(data.head(2))]
    with (
        caplog.at_level(logging.DEBUG, logger="prodml.serving"),
        BackgroundServer(create_app(pred), log_config=None) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        one = client.post("/v1/predict", json=recs[0], headers={"X-Request-ID": "trace-1"})
        many = client.post("/v1/predict", json=recs, headers={"X-Request-ID": "trace-2"})
    lines = [r.getMessage() for r in caplog.records if r.name == "prodml.serving"]
    assert f"prodml serving: request trace-1: predictions {one.json()['id']}" in lines
    ids = " ".join(p["id"] for p in many.json())
    assert f"prodml serving: request trace-2: predictions {ids}" in lines
