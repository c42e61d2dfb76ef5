"""Instruction counts of the paths the 2026-12-05 audits touched that ``callgrind_compare.py``
does not count: scaler fits (near-constant rule), the HTTP app's one-record request (request
id check, refusal counting), ``predict_many`` (argument checks, refusal counting) and
``ModelMonitor.log_label`` into a ``TimeWindow`` (the clock-step check) and a registry
``search`` page (the page tokens).

It adds these workloads to ``callgrind_compare.py``'s and runs that script's driver, so the
options, the method (one valgrind process per tree, ``n`` calls after a warm-up, an empty
call subtracted) and the output are the same::

    git worktree add --detach /work/wt/perf37-old 1cd8a62
    python benchmarks/callgrind_audit37.py --tree old=/work/wt/perf37-old --tree new=. \
        --only "fit F1" "fit W1 wide" "fit scalers" "http predict one record" \
        "predict_many 50" "log_label time window" "registry search page" --jobs 2

Every workload uses APIs that exist at ``1cd8a62`` (the morning of 2026-12-05) and later.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import callgrind_compare as cc  # noqa: E402

# The driver starts each valgrind worker as ``python <cc.__file__> --worker``: this file,
# so that the worker registers the workloads below too.
cc.__file__ = __file__

Call = tuple[Callable[[int], object], int, int]


@cc.workload("fit F1", "FeaturePipeline.fit, F1 at 5,000 rows (10 scaled columns)")
def _fit_f1(tmp: Path) -> Call:
    from bench_features import make_f1, prodml_pipeline

    df = make_f1(5000, seed=2)
    return (lambda i: prodml_pipeline().fit(df)), 3, 1


@cc.workload("fit W1 wide", "StandardScale + OneHot fit, W1 at 200 columns x 500 rows")
def _fit_wide(tmp: Path) -> Call:
    from bench_wide import make_w1

    from prodml.features import FeaturePipeline, steps

    df = make_w1(200, rows=500)
    floats = [c for c in df.columns if c.startswith("f")]
    strings = [c for c in df.columns if c.startswith("s")]

    def call(i: int) -> object:
        return FeaturePipeline([steps.StandardScale(floats), steps.OneHot(strings)]).fit(df)

    return call, 2, 1


@cc.workload("fit scalers", "StandardScale, MinMaxScale, RobustScale fit, 5 columns x 20,000")
def _fit_scalers(tmp: Path) -> Call:
    from prodml.features import FeaturePipeline, steps

    df = cc._frame(20_000, seed=6)
    cols = [f"f{i}" for i in range(5)]

    def call(i: int) -> object:
        return FeaturePipeline(
            [steps.StandardScale(cols), steps.MinMaxScale(cols), steps.RobustScale(cols)]
        ).fit(df)

    return call, 3, 1


@cc.workload("http predict one record", "create_app: POST /v1/predict of one F1 record")
def _http_one(tmp: Path) -> Call:
    import asyncio
    import json

    from prodml.serving import create_app

    pred, recs = cc._f1_served(False, False)
    app = create_app(pred, json_library="json")
    bodies = [json.dumps(r, default=str).encode() for r in recs]
    loop = asyncio.new_event_loop()
    status: list[int] = []

    def call(i: int) -> object:
        body = bodies[i % len(bodies)]
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/predict",
            "raw_path": b"/v1/predict",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"localhost"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", f"3f2b8c1e-9a4d-4e7b-8c2d-{i:012d}".encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        loop.run_until_complete(app(scope, receive, send))
        if status[-1] != 200:
            raise RuntimeError(f"answered {status[-1]}")
        return None

    return call, 200, 100


@cc.workload("predict_many 50", "Predictor.predict_many of 50 F1 records, compiled=False")
def _many(tmp: Path) -> Call:
    pred, recs = cc._f1_served(False, False)
    groups = [recs[k : k + 50] for k in range(0, 500, 50)]
    return (lambda i: pred.predict_many(groups[i % len(groups)])), 20, 10


@cc.workload("log_label time window", "ModelMonitor.log_label into a TimeWindow(3600)")
def _log_label(tmp: Path) -> Call:
    from bench_features import make_f1

    from prodml.monitoring import ModelMonitor
    from prodml.monitoring.windows import TimeWindow

    recs = cc._records(make_f1(3000, seed=5))
    mon = ModelMonitor("m", window=TimeWindow(3600.0), max_pending=100_000, evaluate_every_s=None)
    for i in range(3000):
        mon.log_prediction(i, recs[i], 0.5, latency_s=1e-4, timestamp=1.7e9 + i)
    for i in range(1000, 2000):  # warm on other ids than the counted ones
        mon.log_label(i, 1, timestamp=1.7e9 + 5000 + i)

    def call(i: int) -> object:
        return mon.log_label(i, i % 2, timestamp=1.7e9 + 5000 + i)

    return call, 1000, 0


@cc.workload("registry search page", "ModelRegistry.local: search, a page of 10 from the middle")
def _search(tmp: Path) -> Call:
    reg, model = cc._registry(tmp, None), cc._small_model()
    for _ in range(30):
        reg.register("m", model, environment=False)
    token = reg.search("m", page_size=10).next_token
    if token is None:
        raise RuntimeError("no second page")
    return (lambda i: reg.search("m", page_size=10, page_token=token)), 20, 5


if __name__ == "__main__":
    cc.main()
