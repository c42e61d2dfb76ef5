"""The request path's fast parts against the general ones they stand for.

``Served.features`` checks the schema while transforming; ``ModelMonitor._log_served``
queues what ``log_prediction`` applies at once; ids come from one C-level iterator.
Each must give what the general path gives.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError
from prodml.monitoring import BurnRateRule, CountWindow, ModelMonitor
from prodml.monitoring.alerts import BurnWindow
from prodml.schema import Column, Schema
from prodml.serving import Predictor
from prodml.serving._served import Served
from prodml.testing import strategies as pst

from .conftest import FLOATS, SCHEMA, STRINGS, records

NAMES = [*FLOATS, *STRINGS, "ts"]
JUNK = st.sampled_from(
    [None, float("nan"), float("inf"), 1.5, -80.0, 3, True, "x", "c1", "c9",
     pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-01", tz="UTC"), pd.NaT, b"x"]
)  # fmt: skip


@st.composite
def schemas(draw: Any) -> Schema:
    """Schemas over the pipeline's columns: other types, bounds, allowed values, a column
    more or less, strict or not."""
    cols = []
    for name in NAMES:
        if draw(st.integers(0, 9)) == 0:
            continue  # a column the schema does not have
        col = draw(pst.columns(name=name))
        if col.dtype.value in {"float", "int"} and draw(st.booleans()):
            col = Column(name, col.dtype.value, nullable=col.nullable, min=-1, max=2)
        elif col.dtype.value in {"string", "category"} and draw(st.booleans()):
            col = Column(name, col.dtype.value, nullable=col.nullable, allowed=["c1", "c2"])
        cols.append(col)
    if draw(st.booleans()):
        cols.append(Column("extra", "int", nullable=draw(st.booleans())))
    return Schema(cols, strict=draw(st.booleans()))


def general(served: Served, record: Any) -> Any:
    try:
        return ("row", served.transform(record).tobytes())
    except SchemaError as err:
        return ("error", err.problems)


@settings(max_examples=300, deadline=None)
@given(d=st.data())
def test_features_is_the_schema_check_and_the_pipeline(
    pipe: Any, lr: Any, data: pd.DataFrame, d: Any
) -> None:
    schema = d.draw(st.one_of(st.just(pipe.input_schema), st.just(SCHEMA), schemas()))
    served = Served(pipe, lr, schema=schema)
    record = dict(d.draw(st.sampled_from(records(data.head(40)))))
    for _ in range(d.draw(st.integers(0, 3))):
        record[d.draw(st.sampled_from([*NAMES, "extra", "id"]))] = d.draw(JUNK)
    if d.draw(st.integers(0, 5)) == 0:
        del record[d.draw(st.sampled_from(NAMES))]
    got = served.features(record)  # raises nothing: the general path words errors
    want = general(served, record)
    if got is None:
        clean = served.check(record) and served.known.issubset(record)
        assert not (clean and want[0] == "row"), "a clean record must take the fast path"
    else:
        assert want == ("row", got.tobytes())


def test_every_clean_record_takes_the_fast_path(pipe: Any, lr: Any, data: pd.DataFrame) -> None:
    for schema in (pipe.input_schema, SCHEMA):
        served = Served(pipe, lr, schema=schema)
        for r in records(data):
            if served.check(r):
                x = served.features(r)
                assert x is not None
                assert x.tobytes() == pipe.transform_record(r).tobytes()


def test_a_pipeline_with_its_own_record_path_keeps_it(pipe: Any, lr: Any, data: Any) -> None:
    class Doubling(type(pipe)):  # type: ignore[misc]
        def transform_record(self, record: Any) -> Any:
            return 2 * super().transform_record(record)

    twin = Doubling.__new__(Doubling)
    twin.__dict__.update(pipe.__dict__)
    rec = records(data.head(1))[0]
    served = Served(twin, lr)
    assert served.features(rec) is None
    assert served.transform(rec).tolist() == (2 * pipe.transform_record(rec)).tolist()


def twin_monitors(slo: bool) -> tuple[ModelMonitor, ModelMonitor, list[float]]:
    ticks = [0.0, 0.0]

    def clock(i: int) -> Any:
        def now() -> float:
            ticks[i] += 0.013
            return ticks[i]

        return now

    rules = (
        [BurnRateRule("lat", sli="latency", latency_threshold_s=1e-4,
                      windows=(BurnWindow(60, 10, 2.0, "page"),), min_count=1)]
        if slo else []
    )  # fmt: skip
    ref = make_reference()
    mons = [
        ModelMonitor(
            "churn",
            window=CountWindow(50),
            rules=rules,
            clock=clock(i),
            max_pending=120,
            stats_interval_s=1.0,
            evaluate_every_s=2.0,
            reference=ref,
            drift_window=64,
        )
        for i in range(2)
    ]
    return mons[0], mons[1], ticks


def make_reference() -> pd.DataFrame:
    from .conftest import make_data

    return make_data(300, seed=5).drop(columns=["y"])


@pytest.mark.parametrize("slo", [False, True])
def test_monitor_state_equals_log_prediction_after_many_records(
    pipe: Any, lr: Any, data: pd.DataFrame, slo: bool
) -> None:
    fast, plain, _ = twin_monitors(slo)
    pred = Predictor(pipe, lr, monitor=fast)
    recs = records(data)
    for i, r in enumerate(recs):
        p = pred.predict_record(r)
        plain.log_prediction(p.id, r, p.value, latency_s=p.latency_s)
        if i % 4 == 0:
            y = int(data.y.iloc[i])
            assert fast.log_label(p.id, y) == plain.log_label(p.id, y)
    many = pred.predict_many(recs[:100])
    for r, p in zip(recs[:100], many, strict=True):
        plain.log_prediction(p.id, r, p.value, latency_s=p.latency_s)
    assert fast.to_dict() == plain.to_dict()
    assert fast.counters()["predictions_total"] == len(recs) + 100
    assert fast.counters()["drift_windows_total"] > 0
    assert [e.to_dict() for e in fast.evaluate()] == [e.to_dict() for e in plain.evaluate()]


def test_a_monitor_subclass_or_a_patched_log_prediction_is_called(
    pipe: Any, lr: Any, data: Any
) -> None:
    seen: list[Any] = []

    class Mine(ModelMonitor):
        def log_prediction(self, *args: Any, **kwargs: Any) -> None:
            seen.append(("subclass", args[0]))
            super().log_prediction(*args, **kwargs)

    patched = ModelMonitor(evaluate_every_s=None)
    patched.log_prediction = lambda *a, **k: seen.append(("patched", a[0]))  # type: ignore[method-assign]
    rec = records(data.head(1))[0]
    for mon in (Mine(evaluate_every_s=None), patched):
        Predictor(pipe, lr, monitor=mon).predict_record(rec, id="r1")
    assert seen == [("subclass", "r1"), ("patched", "r1")]


def test_generated_ids_are_unique_across_threads(pipe: Any, lr: Any, data: Any) -> None:
    mon = ModelMonitor(evaluate_every_s=None, max_pending=10_000)
    pred = Predictor(pipe, lr, monitor=mon)
    recs = records(data.head(50))
    ids: list[list[str]] = [[] for _ in range(4)]

    def work(k: int) -> None:
        for _ in range(5):
            ids[k].extend(p.id for p in (pred.predict_record(r) for r in recs))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for chunk in ids for i in chunk]
    assert len(set(every)) == len(every) == 1000
    prefix = every[0].split("-")[0]
    assert sorted(int(i.split("-")[1]) for i in every) == list(range(1, 1001))
    assert all(i.startswith(prefix + "-") for i in every)
    assert mon.counters()["predictions_total"] == 1000
    assert mon.pending_count == 1000
    assert np.isfinite(mon.metrics()["latency_p50"])
