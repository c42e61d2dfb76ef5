"""A service embedding the predictor counts what its HTTP twin counts, record for record.

Was: over HTTP a record the predictor refused (a routing key the policy refuses,
``explain=true`` without an explainer) was counted ``outcome="refused"`` by the route,
while ``Predictor.predict_record`` / ``predict_many`` called in process counted nothing;
and the valid records of a list refused for another's schema problem were counted by
neither.
"""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.errors import ConfigError, ProdMLError
from prodml.monitoring import ModelMonitor
from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import records
from .test_counts_once import shadowed

Call = tuple[Any, bool]  # a record (a dict) or a list of records, and explain


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


def calls(data: pd.DataFrame) -> list[Call]:
    recs = [{**r, "customer": f"c{i}"} for i, r in enumerate(records(data.head(6)))]
    invalid = {**recs[0], "f0": "high"}
    refused = {**recs[1], "customer": 1.5}  # a routing key must be a str, int or bytes
    return [
        (recs[0], False),
        (invalid, False),
        (refused, False),
        (recs[2], True),  # explain, and no explainer
        ([recs[3], recs[4]], False),
        ([recs[3], invalid, recs[4], recs[5]], False),  # 1 invalid, 3 not predicted
        ([recs[5], refused, recs[0]], False),
        ([recs[1], recs[2]], True),
        ([], False),
    ]


def in_process(pred: Predictor, call: Call) -> None:
    """``call`` as a service embedding the predictor makes it (the app's own calls)."""
    body, explain = call
    try:
        if isinstance(body, dict):
            pred.predict_record(body, explain=explain)
        else:
            pred.predict_many(body, explain=explain, atomic=True)
    except ProdMLError:
        pass  # what is counted is compared below


def over_http(client: httpx.Client, call: Call) -> int:
    body, explain = call
    payload = jsonable(body) if isinstance(body, dict) else [jsonable(r) for r in body]
    return client.post(f"/v1/predict?explain={str(explain).lower()}", json=payload).status_code


EXPECTED = {
    ("primary", "ok"): 1 + 2,
    ("primary", "invalid"): 1 + 1,
    ("", "refused"): 1 + 1 + 3 + 3 + 2,
}


@pytest.mark.parametrize("max_batch", [None, 4])
def test_in_process_and_http_count_the_same(
    pipe: Any, lr: Any, lr2: Any, data: pd.DataFrame, max_batch: int | None
) -> None:
    here_monitor, there_monitor = (ModelMonitor(evaluate_every_s=None) for _ in range(2))
    here = shadowed(pipe, lr, lr2, here_monitor)
    there = shadowed(pipe, lr, lr2, there_monitor)
    for call in calls(data):
        in_process(here, call)
    batching = {} if max_batch is None else {"max_batch": max_batch, "max_wait_ms": 1}
    with (
        BackgroundServer(create_app(there, **batching)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        statuses = [over_http(client, call) for call in calls(data)]
        text = client.get("/metrics").text
    assert statuses == [200, 422, 400, 400, 200, 422, 400, 400, 200]
    assert here.stats.totals() == there.stats.totals() == EXPECTED
    for (variant, outcome), n in EXPECTED.items():
        line = f'prodml_serving_requests_total{{variant="{variant}",outcome="{outcome}"}}'
        assert f"{line} {float(n)!r}" in text
    assert here_monitor.counters()["predictions_total"] == 3
    assert there_monitor.counters()["predictions_total"] == 3
    here.close()
    there.close()


def test_each_in_process_call_counts_its_records_once(
    pipe: Any, lr: Any, lr2: Any, data: pd.DataFrame
) -> None:
    """Call by call: the records of each call, counted once, under one outcome each."""
    pred = shadowed(pipe, lr, lr2, ModelMonitor(evaluate_every_s=None))
    for call in calls(data):
        before = sum(pred.stats.totals().values())
        in_process(pred, call)
        body = call[0]
        assert sum(pred.stats.totals().values()) - before == (
            1 if isinstance(body, dict) else len(body)
        )
    pred.close()


def test_predict_many_not_atomic_counts_the_valid_records_ok(
    pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    """Without ``atomic`` the valid records are predicted and counted ``ok``, not refused."""
    pred = Predictor(pipe, lr)
    recs = records(data.head(3))
    out = pred.predict_many([recs[0], {**recs[1], "f0": "high"}, recs[2]])
    assert [type(r).__name__ for r in out] == ["Prediction", "SchemaError", "Prediction"]
    assert pred.stats.totals() == {("default", "ok"): 2, ("default", "invalid"): 1}


def test_predict_many_with_ids_not_one_per_record_is_a_config_error(
    pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    """Was: an IndexError from deep inside (or ids silently ignored past the records)."""
    pred = Predictor(pipe, lr)
    recs = records(data.head(3))
    for kwargs in ({"ids": ["a", "b"]}, {"keys": [1, 2, 3, 4]}, {"started": [0.0]}):
        with pytest.raises(ConfigError, match="3 records and") as info:
            pred.predict_many(recs, **kwargs)
        assert info.value.parameter == next(iter(kwargs))
    assert pred.stats.totals() == {}  # the caller's mistake, no record's outcome
