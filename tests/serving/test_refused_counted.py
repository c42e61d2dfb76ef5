"""Requests the predictor refuses (answered 400) are counted as ``refused``, once per record.

Was: a routing key the policy refuses, or ``?explain=true`` without an explainer, was
answered 400 and counted nowhere in ``prodml_serving_requests_total``, so dashboards of
that family did not see them.
"""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.errors import ConfigError
from prodml.monitoring import ModelMonitor
from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import records
from .test_counts_once import shadowed

prometheus_client = pytest.importorskip("prometheus_client", reason="needs the 'prometheus' extra")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

REFUSED = ("prodml_serving_requests_total", (("outcome", "refused"), ("variant", "")))


def _requests(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "prodml_serving_requests_total"
    }


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


@pytest.mark.parametrize("max_batch", [None, 8])
def test_refused_routing_keys_are_counted_once_per_record(
    pipe: Any, lr: Any, lr2: Any, data: pd.DataFrame, max_batch: int | None
) -> None:
    monitor = ModelMonitor(evaluate_every_s=None)
    pred = shadowed(pipe, lr, lr2, monitor)  # a float customer is a refused routing key
    recs = [{**_jsonable(r), "customer": f"c{i}"} for i, r in enumerate(records(data.head(4)))]
    bad = {**recs[0], "customer": 1.5}
    batching = {} if max_batch is None else {"max_batch": max_batch, "max_wait_ms": 5}
    with (
        BackgroundServer(create_app(pred, **batching)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert client.post("/v1/predict", json=bad).status_code == 400
        assert client.post("/v1/predict", json=[recs[1], bad, recs[2]]).status_code == 400
        assert client.post("/v1/predict", json=recs[3]).status_code == 200
        counted = _requests(client.get("/metrics").text)
    assert counted == {
        REFUSED: 4.0,  # the single record, and the three of the refused list
        ("prodml_serving_requests_total", (("outcome", "ok"), ("variant", "primary"))): 1.0,
    }
    assert monitor.counters()["predictions_total"] == 1  # refused records are not logged
    pred.close()


def test_explain_without_an_explainer_is_counted_refused(
    pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    pred = Predictor(pipe, lr)
    recs = [_jsonable(r) for r in records(data.head(3))]
    with (
        BackgroundServer(create_app(pred)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        one = client.post("/v1/predict?explain=true", json=recs[0])
        many = client.post("/v1/predict?explain=true", json=recs[1:])
        assert (one.status_code, many.status_code) == (400, 400)
        assert "explainer" in one.json()["detail"]
        assert client.post("/v1/predict", json=recs[0]).status_code == 200
        text = client.get("/metrics").text
    assert _requests(text) == {
        REFUSED: 3.0,
        ("prodml_serving_requests_total", (("outcome", "ok"), ("variant", "default"))): 1.0,
    }
    assert 'prodml_serving_requests_total{variant="",outcome="refused"} 3.0' in text
    # In process, the caller gets the exception and the record is counted, as over HTTP.
    with pytest.raises(ConfigError, match="explainer"):
        pred.predict_record(records(data.head(1))[0], explain=True)
    assert pred.stats.totals() == {("", "refused"): 4, ("default", "ok"): 1}


def test_bodies_refused_before_they_are_records_are_not_counted(
    pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    pred = Predictor(pipe, lr)
    with (
        BackgroundServer(create_app(pred)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        bad_json = client.post(
            "/v1/predict", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400
        assert client.post("/v1/predict?explain=maybe", json={}).status_code == 400
    assert pred.stats.totals() == {}
