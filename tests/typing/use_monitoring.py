"""What a type-checked user of prodml.monitoring sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from typing_extensions import assert_type

from prodml.drift import ADWIN, DriftDetector
from prodml.fairness import GroupMetrics
from prodml.monitoring import (
    AlertEvent,
    AlertRule,
    BurnRateRule,
    CountWindow,
    InMemorySink,
    MetricsSnapshot,
    ModelMonitor,
)


def main() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(40, 10, 2000)})
    now = [0.0]
    alerts = InMemorySink()
    monitor = ModelMonitor(
        "churn",
        task="binary",
        window=CountWindow(200),
        rules=[
            AlertRule(
                "accuracy-low", metric="accuracy", op="<", fire=0.8, clear=0.85, min_count=100
            ),
            BurnRateRule("errors-slo", objective=0.9, min_count=100),
        ],
        sinks=[alerts],
        clock=lambda: now[0],
        reference=reference,
        drift_detector=DriftDetector(alpha=0.01),
        drift_window=500,
        concept_detector=ADWIN(),
        group_by=GroupMetrics(["sex"], ["tpr"]),
        evaluate_every_s=None,
    )
    for i in range(1_000):
        now[0] = i * 0.5
        label = int(rng.integers(0, 2))
        right = rng.random() < (0.95 if i < 500 else 0.5)
        score = 0.9 if (label == 1) == right else 0.1
        sex = "F" if i % 2 else "M"
        monitor.log_prediction(
            f"req-{i}",
            {"age": float(rng.normal(40, 10))},
            score,
            latency_s=0.02,
            groups={"sex": sex},
        )
        joined = monitor.log_label(f"req-{i}", label)
        assert_type(joined, bool)
        assert joined
    metrics = monitor.metrics()
    assert_type(metrics, dict[str, float])
    assert metrics["accuracy"] < 0.8
    events = monitor.evaluate()
    assert_type(events, list[AlertEvent])
    event = alerts.events[0]
    assert_type(event, AlertEvent)
    assert_type(event.state, Literal["firing", "resolved"])
    assert_type(event.value, float)
    assert event.rule in {"accuracy-low", "errors-slo"}
    assert event.state == "firing"
    states = monitor.alert_states()
    assert_type(states, dict[str, Literal["inactive", "pending", "firing"]])
    assert states["accuracy-low"] == "firing"
    assert_type(alerts.snapshots[-1] if alerts.snapshots else None, MetricsSnapshot | None)

    restored = ModelMonitor.from_json(monitor.to_json(), clock=lambda: now[0])
    assert_type(restored, ModelMonitor)
    assert restored.alert_states() == states


if __name__ == "__main__":
    main()
