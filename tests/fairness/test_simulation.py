"""Bias alerts in simulation: quiet on fair data, prompt on an injected 0.05 tpr gap.

Setting (recorded in docs/fairness.md): two groups of equal size, 80 % positives, tpr 0.80
in both; a monitor with ``group_window=CountWindow(10_000)``, ``alpha=1e-4``, evaluated
every 500 labelled predictions, and the rule ``tpr_difference_lower > 0`` once the
window is full. The rule fires when some pair of groups is shown to differ.

The 20 seeds of each kind run on the monitor's window arithmetic directly (GroupMetrics
updated and taken back 500 records at a time, exactly what the monitor holds at each
evaluation); :func:`test_the_monitor_fires_exactly_where_the_window_simulation_does`
checks that the ModelMonitor fires at the same prediction.
"""

from __future__ import annotations

import numpy as np

from prodml.fairness import GroupMetrics
from prodml.monitoring import AlertRule, CountWindow, InMemorySink, ModelMonitor

WINDOW = 10_000
EVERY = 500
ALPHA = 1e-4
STATED_DELAY = 25_000  # labelled predictions after the change, 2.5 windows


def settings() -> GroupMetrics:
    return GroupMetrics(["sex"], ["tpr"], alpha=ALPHA, missing="group", max_groups=100)


def stream(seed: int, n: int, change_at: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, labels and groups; from ``change_at`` on, group F's tpr is 0.05 lower."""
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.5, "F", "M")
    y = (rng.random(n) < 0.8).astype(np.int64)
    tpr = np.where((sex == "F") & (np.arange(n) >= change_at), 0.75, 0.80)
    hit = rng.random(n) < np.where(y == 1, tpr, 0.1)
    return np.where(hit, 0.75, 0.25), y, sex


def first_alert(score: np.ndarray, y: np.ndarray, sex: np.ndarray) -> int | None:
    """The first evaluation (labelled predictions so far) at which the rule holds."""
    gm = GroupMetrics(**{**settings().config(), "threshold": 0.5})
    for end in range(EVERY, len(y) + 1, EVERY):
        new = slice(end - EVERY, end)
        gm.update(y[new], score[new], {"sex": sex[new]})
        if end > WINDOW:
            old = slice(end - WINDOW - EVERY, end - WINDOW)
            gm.remove(y[old], score[old], {"sex": sex[old]})
        if end >= WINDOW and gm.report().to_metrics(counts=False)["tpr_difference_lower"] > 0:
            return end
    return None


def test_no_false_bias_alert_over_20_seeds_of_fair_data() -> None:
    n = WINDOW + 12_000  # 25 evaluations of a full window
    alerts = [first_alert(*stream(seed, n, change_at=n)) for seed in range(20)]
    assert alerts == [None] * 20


def test_an_injected_tpr_gap_is_alerted_within_the_stated_delay() -> None:
    delays = []
    for seed in range(20):
        at = first_alert(*stream(100 + seed, WINDOW + STATED_DELAY, change_at=WINDOW))
        assert at is not None, f"seed {100 + seed} never alerted"
        delays.append(at - WINDOW)
    assert max(delays) <= STATED_DELAY
    assert 0 < float(np.median(delays)) <= WINDOW


def monitor_first_alert(score: np.ndarray, y: np.ndarray, sex: np.ndarray) -> float | None:
    clock = [0.0]
    sink = InMemorySink()
    rule = AlertRule("tpr-gap", metric="tpr_difference_lower", op=">", fire=0.0, min_count=WINDOW)
    mon = ModelMonitor(
        "churn",
        clock=lambda: clock[0],
        sinks=[sink],
        rules=[rule],
        evaluate_every_s=EVERY,
        group_by=settings(),
        group_window=CountWindow(WINDOW),
    )
    groups = {"F": {"sex": "F"}, "M": {"sex": "M"}}
    for i, (s, label, g) in enumerate(zip(score.tolist(), y.tolist(), sex.tolist(), strict=True)):
        clock[0] = float(i)
        mon.log_prediction(i, None, s, groups=groups[g])
        mon.log_label(i, label)
        if sink.events:
            return sink.events[0].at
    return None


def test_the_monitor_fires_exactly_where_the_window_simulation_does() -> None:
    changed = stream(100, WINDOW + STATED_DELAY, change_at=WINDOW)
    expected = first_alert(*changed)
    assert expected is not None
    assert monitor_first_alert(*changed) == float(expected)
    fair = stream(0, WINDOW + 4_000, change_at=10**9)
    assert first_alert(*fair) is None
    assert monitor_first_alert(*fair) is None
