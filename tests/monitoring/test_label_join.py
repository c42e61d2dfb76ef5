"""A label joins exactly the prediction it names, once, on either logging path.

The serving path (``_log_served``, queued) and ``log_prediction`` must agree: one label
per prediction id is added to the window; a second label for it is refused and counted
(``duplicate_labels_total``), never added again; a label for another id leaves it pending.
"""

from __future__ import annotations

import pytest

from prodml.monitoring import ModelMonitor


@pytest.mark.parametrize("path", ["log_prediction", "served queue"])
def test_a_second_label_for_a_prediction_is_reported_not_counted(path: str) -> None:
    clock = iter(float(t) for t in range(1, 1000))
    mon = ModelMonitor(evaluate_every_s=None, clock=lambda: next(clock))
    for pid, output in (("a", 0.9), ("b", 0.1)):
        if path == "served queue":
            mon._log_served(pid, None, output, 0.01)
        else:
            mon.log_prediction(pid, None, output, latency_s=0.01)
    assert mon.log_label("a", 1) is True
    assert mon.log_label("a", 0) is False  # the same prediction again: refused
    counts = mon.counters()
    assert (counts["labels_total"], counts["duplicate_labels_total"]) == (1, 1)
    assert counts["unmatched_total"] == 0  # not a label for an unknown id
    assert mon.metrics()["pending"] == 1.0  # "b" still waits for its own label
    assert mon.metrics()["accuracy"] == 1.0  # the first label joined "a"'s 0.9, once
    assert mon.log_label("b", 0) is True
    assert mon.metrics()["accuracy"] == 1.0  # and "b"'s joined 0.1
