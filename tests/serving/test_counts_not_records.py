"""Bodies that are not all records are counted over HTTP as in process.

Was: a JSON body that is not an object (``42``, ``null``) or a list holding one was
answered 422 before the predictor saw it, so ``prodml_serving_requests_total`` counted
nothing, while the same values given to ``predict_record`` / ``predict_many`` in process
count ``invalid`` for each value that is not a record and ``refused`` for the others.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.errors import ProdMLError
from prodml.monitoring import ModelMonitor
from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import records
from .test_counts_once import shadowed


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value.isoformat() if isinstance(value, pd.Timestamp) else value


def bodies(data: pd.DataFrame) -> list[tuple[Any, bool]]:
    recs = [{**r, "customer": f"c{i}"} for i, r in enumerate(records(data.head(3)))]
    return [
        (42, False),
        (None, False),
        ("a record", False),
        ([recs[0], 42, recs[1]], False),  # 1 not a record, 2 not predicted
        ([None, [recs[2]]], False),
        ([recs[0], 7], True),  # explain, no explainer: 7 is invalid (checked first), 1 refused
        (list(range(12)), False),  # long: counted on a worker thread
    ]


def in_process(pred: Predictor, body: Any, explain: bool) -> None:
    try:
        if isinstance(body, list):
            pred.predict_many(body, explain=explain, atomic=True)
        else:
            pred.predict_record(body, explain=explain)
    except ProdMLError:
        pass  # what is counted is compared below


EXPECTED = {("primary", "invalid"): 3 + 1 + 2 + 1 + 12, ("", "refused"): 2 + 1}


@pytest.mark.parametrize("max_batch", [None, 4])
def test_values_that_are_not_records_count_as_in_process(
    pipe: Any, lr: Any, lr2: Any, data: pd.DataFrame, max_batch: int | None
) -> None:
    here_monitor, there_monitor = (ModelMonitor(evaluate_every_s=None) for _ in range(2))
    here = shadowed(pipe, lr, lr2, here_monitor)
    there = shadowed(pipe, lr, lr2, there_monitor)
    for body, explain in bodies(data):
        in_process(here, body, explain)
    batching = {} if max_batch is None else {"max_batch": max_batch, "max_wait_ms": 1}
    with (
        BackgroundServer(create_app(there, **batching)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        answers = [
            client.post(
                f"/v1/predict?explain={str(explain).lower()}",
                content=json.dumps(jsonable(body)),  # json=None would send no body
                headers={"content-type": "application/json"},
            )
            for body, explain in bodies(data)
        ]
    assert [a.status_code for a in answers] == [422] * 7
    # The answer is the same as before: which values are not objects, nothing else.
    assert [e["pointer"] for e in answers[3].json()["errors"]] == ["/1"]
    assert [e["pointer"] for e in answers[4].json()["errors"]] == ["/0", "/1"]
    assert (
        answers[0].json()["errors"][0]["detail"] == "a record must be a JSON object, got a number"
    )
    assert here.stats.totals() == there.stats.totals() == EXPECTED
    assert here_monitor.counters()["predictions_total"] == 0
    assert there_monitor.counters()["predictions_total"] == 0
    here.close()
    there.close()
