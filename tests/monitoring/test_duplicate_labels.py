"""A second label for a labelled prediction is told apart from a label for an unknown id.

Both make ``log_label`` return ``False`` and leave the window alone; a duplicate counts in
``duplicate_labels_total`` (a client sending labels twice), an unknown id in
``unmatched_total`` (a join on the wrong key, evicted or expired predictions). The record
of labelled ids is bounded as the pending predictions are (``max_pending``,
``pending_ttl_s``) and survives a save and restore.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from prodml.errors import StateError
from prodml.monitoring import ModelMonitor

from .conftest import FakeClock


def _monitor(clock: FakeClock, **kw: Any) -> ModelMonitor:
    return ModelMonitor(evaluate_every_s=None, clock=clock, **kw)


def _label_counts(mon: ModelMonitor) -> tuple[int, int, int]:
    c = mon.counters()
    return c["labels_total"], c["duplicate_labels_total"], c["unmatched_total"]


@pytest.mark.parametrize("path", ["log_prediction", "served queue"])
def test_a_second_label_is_a_duplicate_and_an_unknown_id_is_unmatched(path: str) -> None:
    mon = _monitor(FakeClock(1.0))
    for pid in ("a", "b"):
        if path == "served queue":
            mon._log_served(pid, None, 0.9, 0.01)
        else:
            mon.log_prediction(pid, None, 0.9)
    assert mon.log_label("a", 1) is True
    assert mon.log_label("a", 0) is False  # sent twice
    assert mon.log_label("a", 1) is False  # and three times
    assert mon.log_label("never-logged", 1) is False
    assert _label_counts(mon) == (1, 2, 1)
    m = mon.metrics()
    assert (m["window_count"], m["accuracy"]) == (1.0, 1.0)  # the repeats were not added
    assert (m["duplicate_labels_total"], m["unmatched_total"]) == (2.0, 1.0)
    assert m["pending"] == 1.0  # "b" waits for its own label


def test_a_prediction_logged_again_after_its_label_takes_one_more_label() -> None:
    mon = _monitor(FakeClock(1.0))
    mon.log_prediction(7, None, 0.9)
    assert mon.log_label(7, 1)
    mon.log_prediction(7, None, 0.2)  # the id is reused: a new pending prediction
    assert mon.log_label(7, 0) is True
    assert mon.log_label(7, 0) is False
    assert _label_counts(mon) == (2, 1, 0)
    assert list(mon._labelled) == [7]  # one entry per id


def test_the_record_of_labelled_ids_holds_at_most_max_pending() -> None:
    mon = _monitor(FakeClock(1.0), max_pending=3)
    for i in range(10):
        mon.log_prediction(i, None, 0.9)
        assert mon.log_label(i, 1)
        assert len(mon._labelled) <= 3
    assert list(mon._labelled) == [7, 8, 9]
    assert mon.log_label(9, 1) is False  # still remembered: a duplicate
    assert mon.log_label(0, 1) is False  # forgotten long ago: counted as unmatched
    assert _label_counts(mon) == (10, 1, 1)


def test_labelled_ids_expire_after_pending_ttl_s() -> None:
    clock = FakeClock(0.0)
    mon = _monitor(clock, pending_ttl_s=10.0)
    mon.log_prediction("old", None, 0.9)
    assert mon.log_label("old", 1)  # labelled at t=0
    clock.t = 8.0
    mon.log_prediction("new", None, 0.9)
    assert mon.log_label("new", 1)  # labelled at t=8
    clock.t = 15.0
    mon.evaluate()  # expires what was labelled at or before t=5
    assert list(mon._labelled) == ["new"]
    assert mon.log_label("old", 1) is False
    assert mon.log_label("new", 1) is False
    assert _label_counts(mon) == (2, 1, 1)
    assert mon.counters()["expired_total"] == 0  # labelled predictions are not expiries


def test_the_record_round_trips_and_still_tells_duplicates_after_a_restart() -> None:
    clock = FakeClock(2.0)
    mon = _monitor(clock, max_pending=4)
    for i in range(3):
        mon.log_prediction(f"p{i}", None, 0.9)
        mon.log_label(f"p{i}", 1)
    mon.log_label("p0", 1)
    state = json.loads(mon.to_json())
    assert state["format_version"] == 2
    assert state["state"]["labelled"] == [["p0", 2.0], ["p1", 2.0], ["p2", 2.0]]
    back = ModelMonitor.from_dict(state, clock=clock)
    assert back.to_dict() == mon.to_dict()
    assert back.log_label("p1", 0) is False
    assert back.log_label("p9", 0) is False
    assert _label_counts(back) == (3, 2, 1)


def test_ids_json_cannot_hold_are_left_out_of_the_saved_record() -> None:
    mon = _monitor(FakeClock(1.0))
    mon.log_prediction(("tuple", 1), None, 0.9)
    mon.log_label(("tuple", 1), 1)
    mon.log_prediction("s", None, 0.9)
    mon.log_label("s", 1)
    state = mon.to_dict()  # saving works: the tuple id was labelled, no longer pending
    assert state["state"]["labelled"] == [["s", 1.0]]
    back = ModelMonitor.from_dict(json.loads(json.dumps(state)), clock=FakeClock(1.0))
    assert back.log_label(("tuple", 1), 1) is False
    assert _label_counts(back) == (2, 0, 1)


def test_a_format_1_state_without_the_record_still_loads() -> None:
    mon = _monitor(FakeClock(1.0))
    mon.log_prediction("a", None, 0.9)
    mon.log_label("a", 1)
    mon.log_label("ghost", 1)
    old = json.loads(mon.to_json())
    old["format_version"] = 1  # as written before the record and its counter existed
    del old["state"]["labelled"]
    del old["state"]["counters"]["duplicate_labels_total"]
    back = ModelMonitor.from_dict(old, clock=FakeClock(1.0))
    assert not back._labelled
    assert _label_counts(back) == (1, 0, 1)
    assert back.log_label("a", 1) is False  # the record starts empty: unmatched
    assert _label_counts(back) == (1, 0, 2)
    assert back.to_dict()["format_version"] == 2


@pytest.mark.parametrize(
    ("labelled", "where", "words"),
    [
        ([["a", 1.0], ["a", 2.0]], r"state\.labelled\[1\]\[0\]", "an id not listed before"),
        ([[True, 1.0]], r"state\.labelled\[0\]\[0\]", "a str or int id"),
        ([[1.5, 1.0]], r"state\.labelled\[0\]\[0\]", "a str or int id"),
        ([["a", "1.0"]], r"state\.labelled\[0\]\[1\]", "a finite number"),
        ([["a", 1.0, 0.5]], r"state\.labelled\[0\]", "a list of 2 items"),
        ([[f"p{i}", 1.0] for i in range(5)], r"state\.labelled", "at most 4"),
        ({"a": 1.0}, r"state\.labelled", "a list"),
    ],
)
def test_a_hostile_record_is_refused_naming_the_item(
    labelled: object, where: str, words: str
) -> None:
    state = json.loads(_monitor(FakeClock(1.0), max_pending=4).to_json())
    state["state"]["labelled"] = labelled
    with pytest.raises(StateError, match=where) as err:
        ModelMonitor.from_dict(state, clock=FakeClock(1.0))
    assert words in str(err.value)


def test_forget_erases_a_labelled_id_from_the_record_and_the_saved_state() -> None:
    mon = _monitor(FakeClock(1.0))
    mon.log_prediction("p-anna", None, 0.9)
    mon.log_label("p-anna", 1)
    assert '"p-anna"' in mon.to_json()
    assert mon.forget("p-anna") == 1
    assert '"p-anna"' not in mon.to_json()
    assert mon.log_label("p-anna", 1) is False  # no longer known at all: unmatched
    assert _label_counts(mon) == (1, 0, 1)


def test_prometheus_exports_the_counter() -> None:
    prometheus_client = pytest.importorskip(
        "prometheus_client", reason="needs the 'prometheus' extra"
    )
    from prodml.monitoring.prometheus import PrometheusSink

    registry = prometheus_client.CollectorRegistry()
    mon = ModelMonitor("churn", sinks=[PrometheusSink(registry)], clock=FakeClock(1.0))
    mon.log_prediction("a", None, 0.9)
    mon.log_label("a", 1)
    mon.log_label("a", 1)
    mon.log_label("b", 1)
    mon.evaluate()
    model = {"model": "churn"}
    assert registry.get_sample_value("prodml_labels_duplicate_total", model) == 1.0
    assert registry.get_sample_value("prodml_labels_unmatched_total", model) == 1.0


def test_opentelemetry_exports_the_counter() -> None:
    pytest.importorskip(
        "opentelemetry.sdk.metrics", reason="needs the 'otel' extra and opentelemetry-sdk"
    )
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from prodml.monitoring.otel import OpenTelemetrySink

    reader = InMemoryMetricReader()
    sink = OpenTelemetrySink(MeterProvider(metric_readers=[reader]))
    mon = ModelMonitor("churn", sinks=[sink], clock=FakeClock(1.0))
    mon.log_prediction("a", None, 0.9)
    mon.log_label("a", 1)
    mon.log_label("a", 1)
    mon.log_label("a", 0)
    mon.evaluate()
    points = {
        m.name: [p.value for p in m.data.data_points]
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert points["prodml.labels.duplicate"] == [2.0]
    assert points["prodml.labels.unmatched"] == [0.0]
