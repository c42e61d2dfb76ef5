"""Audit 40: a ModelMonitor fed with the values a pandas 3 frame read from Parquet holds.

pandas 3 reads a nullable integer column as ``Int64`` (whose cells are ``np.int64``) or,
with ``dtype_backend="pyarrow"``, as ``int64[pyarrow]`` (whose cells are ``int``); floats
as ``np.float64``/``np.float32``; flags as ``boolean``; text as Arrow-backed ``str`` with
``pd.NA``. Each value a monitor stores must be saved and loaded back, and each value it
cannot use must be refused at the call, by a SchemaError naming it: before this audit an
``np.int64`` timestamp made ``to_json`` raise TypeError, a ``float32`` one warned of an
overflow, a bool timestamp or a bool score saved a state that did not load, and a
multiclass output of ``pd.NA``, ``None``, NaN or a list was kept until its label came.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from prodml.errors import SchemaError
from prodml.monitoring import CountWindow, ModelMonitor, TimeWindow

BACKENDS = ["default", "numpy_nullable", "pyarrow"]


def _read(path: Path, backend: str) -> pd.DataFrame:
    """pandas 3's default (``str``, ``Int64``...), or one of its dtype backends."""
    if backend == "default":
        return pd.read_parquet(path)
    return pd.read_parquet(path, dtype_backend=backend)  # type: ignore[call-overload]


def _frame(path: Path, n: int = 400, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "id": pd.array(np.arange(n) * 7 + 1, dtype="Int64"),
            "t": pd.array(1_700_000_000 + np.arange(n), dtype="Int64"),  # epoch seconds
            "score": rng.random(n).astype(np.float32),
            "label": pd.array(rng.integers(0, 2, n), dtype="Int64"),
            "flag": pd.array(rng.integers(0, 2, n).astype(bool), dtype="boolean"),
            "sex": pd.array([None if i % 11 == 0 else "FM"[i % 2] for i in range(n)], dtype="str"),
            "latency": (rng.random(n) / 10).astype(np.float32),
        }
    )
    out = path / "served.parquet"
    df.to_parquet(out)
    return out


def _feed(mon: ModelMonitor, frame: pd.DataFrame, rows: str) -> None:
    it = (
        (frame.iloc[i] for i in range(len(frame)))
        if rows == "iloc"
        else iter(frame.to_dict("records"))
    )
    for rec in it:
        mon.log_prediction(
            rec["id"],
            None,
            rec["score"],
            latency_s=rec["latency"],
            timestamp=rec["t"],
            groups={"sex": rec["sex"]},
        )
        mon.log_label(rec["id"], rec["label"], timestamp=rec["t"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rows", ["iloc", "records"])
def test_parquet_rows_feed_a_monitor_that_saves_and_matches_sklearn(
    tmp_path: Path, backend: str, rows: str
) -> None:
    frame = _read(_frame(tmp_path), backend)
    mon = ModelMonitor(
        window=CountWindow(1000),
        group_by=["sex"],
        evaluate_every_s=None,
        stats_window_s=1000.0,
        clock=lambda: 1_700_000_400.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a float32 compared with the float range warned
        _feed(mon, frame, rows)
    got = mon.metrics()
    y = frame["label"].to_numpy(dtype=np.int64)
    s = frame["score"].to_numpy(dtype=np.float64)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, s >= 0.5), abs=1e-12)
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, s), abs=1e-12)
    # The latency sum stays a Python float (a float32 sum lost the seconds' digits).
    lat = frame["latency"].to_numpy(dtype=np.float64)
    assert got["latency_mean"] == pytest.approx(lat.mean(), rel=1e-12)
    sex = frame["sex"].astype(object)
    for g in ("F", "M"):
        mask = (sex == g).to_numpy()
        assert got[f"tpr[sex={g}]"] == pytest.approx(
            skm.recall_score(y[mask], s[mask] >= 0.5), abs=1e-12
        )
    missing = sex.isna().to_numpy()
    assert got["selection_rate[sex=<missing>]"] == pytest.approx(
        float((s[missing] >= 0.5).mean()), abs=1e-12
    )
    text = mon.to_json()  # raised TypeError: Object of type int64 is not JSON serializable
    back = ModelMonitor.from_json(text, clock=lambda: 1_700_000_400.0)
    assert back.to_dict()["state"] == json.loads(text)["state"]
    assert back.metrics()["auc"] == got["auc"]


@pytest.mark.parametrize(
    "stamp", [np.int64(5), np.int32(5), np.float32(5.0), np.uint8(5), 5], ids=repr
)
def test_numpy_timestamps_are_stored_as_floats(stamp: object) -> None:
    mon = ModelMonitor(evaluate_every_s=None, window=TimeWindow(100.0), clock=lambda: 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mon.log_prediction("a", None, 0.7, timestamp=stamp)  # type: ignore[arg-type]
        mon.log_prediction("b", None, 0.7, timestamp=stamp)  # type: ignore[arg-type]
        assert mon.log_label("a", 1, timestamp=stamp)  # type: ignore[arg-type]
    state = json.loads(mon.to_json())["state"]
    assert state["pending"] == [["b", 5.0, 0.7]]
    assert state["labelled"] == [["a", 5.0]]
    assert state["window"]["times"] == [5.0]
    assert all(type(t) is float for t in mon.window.times())
    ModelMonitor.from_json(mon.to_json())


@pytest.mark.parametrize("stamp", [True, np.bool_(False)], ids=repr)
def test_a_bool_timestamp_is_refused_at_the_call(stamp: object) -> None:
    mon = ModelMonitor(evaluate_every_s=None)
    with pytest.raises(SchemaError, match="timestamp must be a finite number") as err:
        mon.log_prediction("a", None, 0.5, timestamp=stamp)  # type: ignore[arg-type]
    assert err.value.column == "timestamp"
    mon.log_prediction("a", None, 0.5, timestamp=1.0)
    with pytest.raises(SchemaError, match="timestamp"):
        mon.log_label("a", 1, timestamp=stamp)  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="now must be a finite number"):
        mon.evaluate(np.bool_(True))  # type: ignore[arg-type]
    assert mon.pending_count == 1


@pytest.mark.parametrize("score", [True, np.bool_(True), np.float16(1.0), np.int8(1)], ids=repr)
def test_binary_scores_of_any_real_type_save_and_load(score: object) -> None:
    # A bool score was kept as True, and the saved window then failed to load.
    mon = ModelMonitor(evaluate_every_s=None, clock=lambda: 0.0)
    mon.log_prediction(1, None, score, timestamp=1.0)
    mon.log_label(1, 1, timestamp=1.0)
    back = ModelMonitor.from_json(mon.to_json(), clock=lambda: 0.0)
    assert back.window.outputs() == [1.0]
    assert back.metrics()["accuracy"] == 1.0


def test_a_bool_regression_output_is_refused_like_a_bool_label() -> None:
    mon = ModelMonitor(task="regression", evaluate_every_s=None)
    with pytest.raises(SchemaError, match="output of a regression model") as err:
        mon.log_prediction(1, None, True, timestamp=1.0)
    assert "True" in str(err.value)  # the value given, not what it was turned into
    mon.log_prediction(1, None, np.float32(2.5), timestamp=1.0)
    mon.log_label(1, np.int64(2), timestamp=1.0)
    assert mon.metrics()["mae"] == 0.5


@pytest.mark.parametrize(
    "output", [pd.NA, None, float("nan"), np.float64("inf"), [1, 2], {"a": 1}, pd.NaT], ids=repr
)
def test_a_multiclass_output_that_is_no_class_label_is_refused_at_the_call(
    output: object,
) -> None:
    mon = ModelMonitor(task="multiclass", evaluate_every_s=None)
    with pytest.raises(SchemaError, match="output of a multiclass model must be a class") as err:
        mon.log_prediction(1, None, output, timestamp=1.0)
    assert err.value.column == "output"
    assert mon.pending_count == 0
    assert mon.log_label(1, 1, timestamp=2.0) is False  # nothing was kept


@pytest.mark.parametrize(
    ("output", "label"),
    [(np.int64(2), 2), (np.str_("cat"), "cat"), (np.bool_(True), True), ("1", 1)],
    ids=repr,
)
def test_multiclass_outputs_from_frames_are_stored_as_python_scalars(
    output: object, label: object
) -> None:
    mon = ModelMonitor(task="multiclass", evaluate_every_s=None, clock=lambda: 0.0)
    mon.log_prediction(1, None, output, timestamp=1.0)
    mon.log_label(1, label, timestamp=1.0)
    stored = mon.window.outputs()[0]
    assert type(stored) in (str, int, bool)
    back = ModelMonitor.from_json(mon.to_json(), clock=lambda: 0.0)
    # "1" and 1 are different classes (no accuracy for a str output and an int label).
    assert back.metrics()["accuracy"] == (0.0 if output == "1" else 1.0)


def test_served_predictions_with_numpy_values_save() -> None:
    # The serving entry point queues predictions without the lock; a clock returning
    # np.int64 and float32 outputs and latencies are stored as Python floats there too.
    mon = ModelMonitor(evaluate_every_s=None, clock=lambda: np.int64(5))  # type: ignore[arg-type, return-value]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mon._log_served("a", None, np.float32(0.25), np.float32(0.01))  # type: ignore[arg-type]
        mon._log_served("b", None, np.bool_(True), 0.02)
    state = json.loads(mon.to_json())["state"]
    assert state["pending"] == [["a", 5.0, 0.25], ["b", 5.0, 1.0]]
    assert mon.metrics()["latency_count"] == 2.0
    assert type(mon._stats.current.sum) is float


def test_a_personal_group_name_never_reaches_the_metric_names() -> None:
    # Metric names go to Prometheus labels, OpenTelemetry attributes and snapshots.
    mon = ModelMonitor(group_by=["who"], evaluate_every_s=None, clock=lambda: 0.0)
    for i in range(100):
        who = "ann.lee@example.com" if i % 2 else "bob@example.org"
        mon.log_prediction(i, None, 0.9 if i % 2 else 0.2, timestamp=float(i), groups={"who": who})
        mon.log_label(i, 1, timestamp=float(i))
    names = [k for k in mon.metrics() if k.startswith("tpr[")]
    assert len(names) == 2
    assert all(n.startswith("tpr[who=pm:") for n in names)
    assert not any("example" in k for k in mon.metrics())
    assert mon.metrics()["tpr_difference"] == 1.0
