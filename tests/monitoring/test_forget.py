"""ModelMonitor.forget: an entity leaves the buffers and the saved state."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from prodml.errors import SchemaError
from prodml.monitoring import ModelMonitor


def _monitor() -> ModelMonitor:
    ref = pd.DataFrame({"customer": ["c0", "c1", "c2"] * 10, "x": [0.0, 1.0, 2.0] * 10})
    return ModelMonitor(
        reference=ref,
        drift_window=100,
        group_by=["region"],
        evaluate_every_s=None,
        clock=lambda: 0.0,
    )


def _log(mon: ModelMonitor) -> None:
    for i in range(9):
        mon.log_prediction(f"p{i}", {"customer": f"c{i % 3}", "x": float(i), "region": "eu"}, 0.5)


def test_forget_removes_the_prediction_its_group_and_its_feature_rows() -> None:
    mon = _monitor()
    _log(mon)
    assert mon.forget("p4") == 1
    assert mon.pending_count == 8
    assert mon.log_label("p4", 1) is False  # gone: its label no longer joins
    assert "p4" not in mon._groups._pending
    assert mon.forget("c1", field="customer") == 3  # p1, p4 and p7's feature records
    state = mon.to_json()
    assert '"c1"' not in state
    assert '"p4"' not in state
    assert '"c0"' in state  # others stay
    assert json.loads(state)["state"]["drift_rows"][0]["customer"] == "c0"
    assert mon.forget("nobody") == 0
    assert mon.forget("nobody", field="customer") == 0


def test_forget_reaches_a_closed_window_not_yet_tested_and_a_restored_monitor() -> None:
    mon = _monitor()
    mon.drift_window = 5
    _log(mon)  # the first 5 rows wait in the ready window, 4 in the open one
    assert len(mon._drift_ready) == 5
    assert mon.forget("c0", field="customer") == 3
    assert all(r["customer"] != "c0" for r in mon._drift_ready + mon._drift_rows)
    ref = pd.DataFrame({"customer": ["c0", "c1", "c2"] * 10, "x": [0.0, 1.0, 2.0] * 10})
    back = ModelMonitor.from_json(mon.to_json(), reference=ref, clock=lambda: 0.0)
    # Predictions are keyed by their own ids: erase them one by one (p0, p3, p6 were c0's).
    assert sum(back.forget(p) for p in ("p0", "p3", "p6")) == 3
    saved = back.to_json()
    assert not any(f'"{p}"' in saved for p in ("p0", "p3", "p6"))
    assert '"c0"' not in saved


def test_forget_needs_a_hashable_key() -> None:
    with pytest.raises(SchemaError, match="hashable"):
        _monitor().forget(["p1"])  # type: ignore[arg-type]
