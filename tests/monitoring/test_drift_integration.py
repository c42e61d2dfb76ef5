"""Data drift (prodml.drift.DriftDetector per feature window) and concept drift (a
streaming detector on the error stream), against the real prodml.drift."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from prodml.drift import DriftDetector, streaming
from prodml.errors import ConfigError, DriftError
from prodml.monitoring import AlertRule, InMemorySink, ModelMonitor

from .conftest import FakeClock, binary_stream, same_values


def reference(rng: np.random.Generator, n: int = 3000) -> pd.DataFrame:
    return pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n)})


def feature_rows(rng: np.random.Generator, n: int, shift: float) -> list[dict]:
    xs = rng.normal(shift, 1.0, n)
    cs = rng.choice(["a", "b", "c"], n)
    return [{"x": float(x), "c": str(c)} for x, c in zip(xs, cs, strict=True)]


def test_data_drift_per_window_matches_the_detector_and_alerts() -> None:
    rng = np.random.default_rng(0)
    ref = reference(rng)
    clock, sink = FakeClock(), InMemorySink()
    rule = AlertRule("drift", metric="drift_share", op=">", fire=0.0, min_count=100)
    mon = ModelMonitor(
        rules=[rule],
        sinks=[sink],
        clock=clock,
        reference=ref,
        drift_detector=DriftDetector(alpha=0.01),
        drift_window=500,
        evaluate_every_s=1.0,
    )
    rows = feature_rows(rng, 1000, 0.0) + feature_rows(rng, 500, 0.6)
    for i, row in enumerate(rows):
        clock.t = float(i)
        mon.log_prediction(i, row, 0.5)
        if i == 999:
            mon.evaluate()
            m = mon.metrics()
            assert (m["drift_windows_total"], m["drift_share"]) == (2.0, 0.0)
    clock.t = 1500.0
    mon.evaluate()
    m = mon.metrics()
    assert m["drift_windows_total"] == 3.0
    assert m["drift_count"] == 500.0
    expected = DriftDetector(alpha=0.01).fit(ref).detect(pd.DataFrame(rows[1000:]))
    assert expected.drifted_columns == ["x"]
    assert m["drifted_columns"] == 1.0
    assert m["drift_share"] == 0.5
    cols = mon._drift_summary.columns
    for r in expected.results:
        assert cols[r.column]["drifted"] == float(r.drifted)
        assert cols[r.column]["p_value"] == pytest.approx(r.p_value, rel=1e-12)
        assert cols[r.column]["statistic"] == pytest.approx(r.statistic, rel=1e-12)
    assert [(e.rule, e.state) for e in sink.events] == [("drift", "firing")]


def test_a_drift_window_not_yet_evaluated_is_replaced_and_counted() -> None:
    rng = np.random.default_rng(1)
    mon = ModelMonitor(
        clock=FakeClock(), reference=reference(rng), drift_window=10, evaluate_every_s=None
    )
    for i, row in enumerate(feature_rows(rng, 35, 0.0)):
        mon.log_prediction(i, row, 0.5)
    m = mon.metrics()
    assert m["drift_windows_skipped_total"] == 2.0  # windows 1 and 2 replaced by window 3
    assert m["drift_windows_total"] == 1.0
    assert m["drift_count"] == 10.0
    assert len(mon._drift_rows) == 5  # bounded buffer of the open window


def test_bad_live_features_are_counted_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(2)
    mon = ModelMonitor(
        clock=FakeClock(), reference=reference(rng), drift_window=5, evaluate_every_s=None
    )
    for i in range(5):
        mon.log_prediction(i, {"c": "a"}, 0.5)  # column x missing
    with caplog.at_level(logging.ERROR, logger="prodml.monitoring"):
        m = mon.metrics()
    assert (m["drift_errors_total"], m["drift_windows_total"]) == (1.0, 0.0)
    assert "data-drift window failed" in caplog.text


def test_bad_reference_fails_at_construction() -> None:
    with pytest.raises(DriftError, match="no rows"):
        ModelMonitor(reference=pd.DataFrame({"x": np.array([], dtype=float)}))
    with pytest.raises(ConfigError, match="must have fit\\(\\) and detect\\(\\)"):
        ModelMonitor(reference=pd.DataFrame({"x": [1.0]}), drift_detector=object())


def test_drift_state_round_trip_needs_the_reference_again() -> None:
    rng = np.random.default_rng(3)
    ref = reference(rng)
    clock = FakeClock()
    mon = ModelMonitor(clock=clock, reference=ref, drift_window=50, evaluate_every_s=None)
    for i, row in enumerate(feature_rows(rng, 120, 1.0)):
        mon.log_prediction(i, row, 0.5)
        if i == 60:
            mon.evaluate()  # tests the first window; the second waits in the state
    text = mon.to_json()
    assert json.loads(text)["state"]["drift_ready"] is not None
    back = ModelMonitor.from_json(text, clock=clock, reference=ref)
    assert json.loads(back.to_json()) == json.loads(text)
    assert same_values(back.metrics(), mon.metrics())
    # Without the reference, data drift is off but the last verdict is still readable.
    blind = ModelMonitor.from_json(text, clock=clock)
    assert blind._drift_rows is None
    assert blind.metrics()["drift_windows_total"] == 1.0
    assert blind._drift_summary.columns["x"]["drifted"] == 1.0


# ---------------------------------------------------------------- concept drift
@pytest.mark.parametrize("make", [streaming.ADWIN, streaming.DDM])
def test_concept_drift_on_the_error_stream(make) -> None:
    rng = np.random.default_rng(4)
    clock, sink = FakeClock(), InMemorySink()
    rule = AlertRule("concept", metric="concept_drift_events", op=">", fire=0.0)
    mon = ModelMonitor(
        rules=[rule],
        sinks=[sink],
        clock=clock,
        concept_detector=make(),
        concept_window_s=600.0,
        evaluate_every_s=10.0,
    )
    pairs = binary_stream(rng, 4000, lambda i: 0.9 if i < 2000 else 0.6)
    errors = []
    for i, (s, y) in enumerate(pairs):
        clock.t = float(i)
        mon.log_prediction(i, None, s)
        mon.log_label(i, y)
        errors.append(float((s >= 0.5) != (y == 1)))
    # Same alarms as the detector fed the same 0/1 error stream directly.
    alarms = make().update_many(np.array(errors))
    assert mon.metrics()["concept_drift_total"] == float(len(alarms))
    assert len(alarms) >= 1
    assert alarms[0] >= 2000
    firing = [e for e in sink.events if e.state == "firing"]
    assert firing
    assert firing[0].at >= float(alarms[0])


def test_concept_detector_state_round_trips() -> None:
    rng = np.random.default_rng(5)
    clock = FakeClock()
    mon = ModelMonitor(clock=clock, concept_detector=streaming.ADWIN(), evaluate_every_s=None)
    pairs = binary_stream(rng, 600, lambda i: 0.8)
    for i, (s, y) in enumerate(pairs[:300]):
        mon.log_prediction(i, None, s)
        mon.log_label(i, y)
    back = ModelMonitor.from_json(mon.to_json(), clock=clock)
    assert isinstance(back.concept_detector, streaming.ADWIN)
    for i, (s, y) in enumerate(pairs[300:], start=300):
        for m in (mon, back):
            m.log_prediction(i, None, s)
            m.log_label(i, y)
    assert back.to_dict() == mon.to_dict()


def test_regression_rejects_a_binary_concept_detector() -> None:
    with pytest.raises(ConfigError, match="regression monitor feeds it absolute errors"):
        ModelMonitor(task="regression", concept_detector=streaming.DDM())
    mon = ModelMonitor(
        task="regression", concept_detector=streaming.PageHinkley(), clock=FakeClock()
    )
    assert mon.concept_detector is not None


def test_drift_detector_settings_survive_a_restart() -> None:
    rng = np.random.default_rng(6)
    ref = reference(rng)
    det = DriftDetector(alpha=0.001, min_effect=0.1, columns=["x"])
    mon = ModelMonitor(clock=FakeClock(), reference=ref, drift_detector=det, drift_window=50)
    back = ModelMonitor.from_json(mon.to_json(), clock=FakeClock(), reference=ref)
    assert back._drift_fitted is not det
    assert back._drift_fitted.get_params() == det.get_params()
    # An explicitly passed detector wins over the saved settings.
    other = DriftDetector(alpha=0.2)
    again = ModelMonitor.from_json(mon.to_json(), reference=ref, drift_detector=other)
    assert again._drift_fitted is other


def _held_bytes(mon: ModelMonitor) -> int:
    """Bytes of feature strings the monitor holds (open and ready drift windows)."""
    rows = list(mon._drift_rows or []) + list(mon._drift_ready or [])
    return sum(len(v) for row in rows for v in row.values() if isinstance(v, str))


def test_drift_window_is_bounded_in_bytes_with_big_strings() -> None:
    """150 rows of 1 MB strings with a 4 MB bound: never more than two windows held."""
    import tracemalloc

    rng = np.random.default_rng(1)
    clock = FakeClock()
    limit = 4 * 2**20
    mon = ModelMonitor(
        clock=clock,
        reference=reference(rng, 500),
        drift_window=1000,
        drift_window_bytes=limit,
        evaluate_every_s=None,
    )
    big = 2**20
    peak_held = 0
    tracemalloc.start()
    try:
        for i in range(150):
            clock.t = float(i)
            # A fresh 1 MB string per row: the caller drops it, only the monitor keeps it.
            mon.log_prediction(i, {"x": 0.0, "c": "abc"[i % 3] * big}, 0.5)
            peak_held = max(peak_held, _held_bytes(mon))
            assert mon._drift_bytes < limit
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One open window below the bound plus one ready window (each < limit + one row).
    assert peak_held <= 2 * (limit + big)
    assert peak < 3 * (limit + big) + 2**20  # not 150 MB: rows are released, not kept
    # Windows closed on size (4 rows each), the rows bound never reached.
    assert mon.counters()["drift_windows_skipped_total"] >= 30


def test_drift_window_bytes_is_validated_and_saved() -> None:
    rng = np.random.default_rng(2)
    with pytest.raises(ConfigError, match="drift_window_bytes"):
        ModelMonitor(reference=reference(rng, 100), drift_window_bytes=10)
    clock = FakeClock()
    mon = ModelMonitor(clock=clock, reference=reference(rng, 200), drift_window_bytes=64 * 1024)
    mon.log_prediction(1, {"x": 0.1, "c": "a" * 1000}, 0.5)
    state = json.loads(json.dumps(mon.to_dict()))
    assert state["config"]["drift_window_bytes"] == 64 * 1024
    back = ModelMonitor.from_dict(state, clock=clock, reference=reference(rng, 200))
    assert back.drift_window_bytes == 64 * 1024
    assert back._drift_bytes == mon._drift_bytes > 1000
