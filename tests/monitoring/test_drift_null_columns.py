"""A feature that arrives as null only is data drift for the monitor too."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prodml.drift import DriftDetector
from prodml.monitoring import AlertRule, InMemorySink, ModelMonitor

from .conftest import FakeClock


def test_a_feature_turning_all_null_counts_in_drift_share_and_pages() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})
    clock, sink = FakeClock(), InMemorySink()
    mon = ModelMonitor(
        rules=[AlertRule("drift", metric="drift_share", op=">", fire=0.0, min_count=100)],
        sinks=[sink],
        clock=clock,
        reference=ref,
        drift_detector=DriftDetector(),
        drift_window=400,
        evaluate_every_s=None,
    )
    for i, x in enumerate(rng.normal(size=400).tolist()):
        mon.log_prediction(i, {"x": x, "y": None}, 0.5)  # y's upstream broke
    clock.t = 10.0
    events = mon.evaluate()
    m = mon.metrics()
    # y's values cannot be compared, but its null share went from 0% to 100%.
    assert m["drifted_columns"] == 1.0
    assert m["drift_share"] == 0.5  # of the 2 columns tested (values or null share)
    assert [(e.rule, e.state) for e in events] == [("drift", "firing")]
