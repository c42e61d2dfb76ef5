"""Each record's outcome is counted once: serving counters, monitor counts and latencies.

A micro-batch group that raises part-way is retried record by record; whatever the group
had counted or logged before it raised must not be counted again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.errors import PolicyError
from prodml.monitoring import ModelMonitor
from prodml.rollout import Shadow
from prodml.serving import BackgroundServer, Predictor, create_app
from prodml.serving._batcher import MicroBatcher
from prodml.serving._served import ModelError

from .conftest import SCHEMA, records


def shadowed(pipe: Any, lr: Any, lr2: Any, monitor: ModelMonitor) -> Predictor:
    """A predictor mirroring every customer to a shadow: a float customer is refused."""
    return Predictor(
        pipe, lr, schema=SCHEMA, variants={"shadow": (pipe, lr2)},
        policy=Shadow("primary", "shadow", mirror=1.0), monitor={"primary": monitor},
        key_column="customer",
    )  # fmt: skip


def run_group(pred: Predictor, recs: list[dict[str, Any]]) -> list[Any]:
    """All of ``recs`` in one micro-batch; each request's prediction or exception."""

    async def main() -> list[Any]:
        batcher = MicroBatcher(pred, max_batch=len(recs), max_wait_s=5.0)
        return await asyncio.gather(
            *(batcher.predict(r, f"p{i}") for i, r in enumerate(recs)), return_exceptions=True
        )

    return asyncio.run(main())


def test_a_group_with_one_bad_record_counts_each_record_once(
    pipe: Any, lr: Any, lr2: Any, data: pd.DataFrame
) -> None:
    """Was: the group raised at the bad record after logging those before it; retried
    one by one, they were logged again (predictions, latencies, "duplicate" ids)."""
    monitor = ModelMonitor(evaluate_every_s=None)
    pred = shadowed(pipe, lr, lr2, monitor)
    recs = [{**r, "customer": f"c{i}"} for i, r in enumerate(records(data.head(8)))]
    recs[5]["customer"] = 1.5  # a routing key must be a str, int or bytes
    recs[6] = {**recs[6], "f0": "high"}  # and one invalid record
    answers = run_group(pred, recs)
    assert isinstance(answers[5], PolicyError)
    assert type(answers[6]).__name__ == "SchemaError"
    good = [a for i, a in enumerate(answers) if i not in (5, 6)]
    assert [a.id for a in good] == [f"p{i}" for i in (0, 1, 2, 3, 4, 7)]
    assert pred.stats.totals() == {
        ("primary", "ok"): 6, ("primary", "invalid"): 1, ("", "refused"): 1,
    }  # fmt: skip
    assert pred.stats.batch_size.count == 1
    counts = monitor.counters()
    assert counts["predictions_total"] == 6
    assert counts["duplicate_predictions_total"] == 0
    assert monitor.metrics()["latency_count"] == 6
    pred.close()


def test_a_refused_routing_key_leaves_no_trace_unbatched(
    pipe: Any, lr: Any, lr2: Any, data: pd.DataFrame
) -> None:
    """Was: predict_record logged the prediction, then raised deciding the mirror."""
    monitor = ModelMonitor(evaluate_every_s=None)
    pred = shadowed(pipe, lr, lr2, monitor)
    record = {**records(data.head(1))[0], "customer": 1.5}
    with pytest.raises(PolicyError, match="routing key"):
        pred.predict_record(record)
    assert monitor.counters()["predictions_total"] == 0
    assert pred.stats.totals() == {("", "refused"): 1}  # counted as the HTTP app's 400
    pred.close()


class FailingExplainer:
    """Explains every record but those with s0 == "c1", where it raises."""

    def explain_record(self, record: Any) -> dict[str, float]:
        if record.get("s0") == "c1":
            raise RuntimeError("explainer broke")
        return {"f0": 0.0}


def test_an_explainer_failure_counts_as_one_error_on_either_path(
    pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    """Was: counted by neither predict_record nor predict_many (the record vanished from
    prodml_serving_requests_total)."""
    pred = Predictor(pipe, lr, schema=SCHEMA, explainer=FailingExplainer())
    recs = [{**r, "s0": "c1" if i == 2 else "c0"} for i, r in enumerate(records(data.head(4)))]
    out = pred.predict_many(recs, explain=True)
    assert type(out[2]).__name__ == "ModelError"
    assert pred.stats.totals() == {("default", "ok"): 3, ("default", "error"): 1}
    with pytest.raises(ModelError):
        pred.predict_record(recs[2], explain=True)
    assert pred.predict_record(recs[0], explain=True).explanation == {"f0": 0.0}
    assert pred.stats.totals() == {("default", "ok"): 4, ("default", "error"): 2}


def test_over_http_a_micro_batch_with_a_refused_key_counts_each_request_once(
    pipe: Any, lr: Any, lr2: Any, data: pd.DataFrame
) -> None:
    """The same through uvicorn: 16 concurrent requests grouped, one with a float key."""
    monitor = ModelMonitor(evaluate_every_s=None)
    pred = shadowed(pipe, lr, lr2, monitor)
    recs = [
        {**{k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in r.items()},
         "customer": f"c{i}"}
        for i, r in enumerate(records(data.head(16)))
    ]  # fmt: skip
    recs[7]["customer"] = 1.5
    app = create_app(pred, max_batch=16, max_wait_ms=300)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda r: client.post("/v1/predict", json=r), recs))
        text = client.get("/metrics").text
    assert [r.status_code for r in answers] == [200] * 7 + [400] + [200] * 8
    assert pred.stats.batch_size.sum > pred.stats.batch_size.count  # they were grouped
    assert 'prodml_serving_requests_total{variant="primary",outcome="ok"} 15.0' in text
    counts = monitor.counters()
    assert (counts["predictions_total"], counts["duplicate_predictions_total"]) == (15, 0)
    assert monitor.metrics()["latency_count"] == 15
    pred.close()
