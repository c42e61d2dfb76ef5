"""ModelMonitor(group_by=...): per-group values and gaps for alert rules and Prometheus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prodml.errors import ConfigError, SchemaError
from prodml.fairness import GroupMetrics
from prodml.monitoring import AlertRule, CountWindow, InMemorySink, ModelMonitor, TimeWindow


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def feed(
    mon: ModelMonitor, clock: Clock, n: int, *, tpr_f: float, seed: int = 0, start: int = 0
) -> None:
    rng = np.random.default_rng(seed)
    for i in range(start, start + n):
        clock.t = float(i)
        sex = "F" if rng.random() < 0.5 else "M"
        y = int(rng.random() < 0.5)
        hit = rng.random() < ((tpr_f if sex == "F" else 0.8) if y else 0.1)
        mon.log_prediction(i, {"sex": sex, "x": 1.0}, 0.9 if hit else 0.2)
        mon.log_label(i, y)


def test_group_values_and_gaps_join_the_monitor_metrics() -> None:
    clock = Clock()
    mon = ModelMonitor("churn", clock=clock, group_by=["sex"], evaluate_every_s=None)
    feed(mon, clock, 2000, tpr_f=0.6)
    m = mon.metrics()
    assert m["group_window_count"] == 1000.0  # the default: the monitor's CountWindow(1000)
    for name in ("tpr[sex=F]", "tpr[sex=M]", "tpr_difference", "tpr_ratio",
                 "tpr_difference_lower", "tpr_ratio_upper", "tpr_flagged",
                 "selection_rate_difference", "precision[sex=F]", "accuracy_ratio"):  # fmt: skip
        assert name in m, name
    assert m["tpr_difference"] == pytest.approx(m["tpr[sex=M]"] - m["tpr[sex=F]"])
    assert 0 < m["tpr_difference_lower"] < m["tpr_difference"]
    window = GroupMetrics(["sex"], threshold=0.5, missing="group", max_groups=100, alpha=1e-4)
    assert mon._groups is not None
    assert mon._groups.metrics.config() == window.config()


def test_rules_may_watch_group_values_and_unknown_ones_are_refused() -> None:
    rules = [
        AlertRule("gap", metric="tpr_difference", op=">", fire=0.1),
        AlertRule("f", metric="tpr[sex=F]", op="<", fire=0.5),
        AlertRule("n", metric="group_window_count", op="<", fire=1),
    ]
    ModelMonitor(rules=rules, group_by=["sex"])
    with pytest.raises(ConfigError, match="auc_difference"):
        ModelMonitor(rules=[AlertRule("a", metric="auc_difference", op=">")], group_by=["sex"])
    with pytest.raises(ConfigError, match="tpr_difference"):
        ModelMonitor(rules=[AlertRule("a", metric="tpr_difference", op=">")])
    with pytest.raises(ConfigError, match="binary"):
        ModelMonitor(task="regression", group_by=["sex"])
    with pytest.raises(ConfigError, match="group_by"):
        ModelMonitor(group_by="sex")
    # A monitor logs records without weights: a weighted GroupMetrics would weigh each 1.
    with pytest.raises(ConfigError, match=r"without weights.*weighted=False"):
        ModelMonitor(group_by=GroupMetrics(["sex"], weighted=True))
    with pytest.raises(ConfigError, match="group_window"):
        ModelMonitor(group_by=["sex"], group_window=10)  # type: ignore[arg-type]


def test_alert_traffic_is_the_group_window() -> None:
    clock = Clock()
    sink = InMemorySink()
    rule = AlertRule("gap", metric="tpr_difference", op=">", fire=0.0, min_count=500)
    mon = ModelMonitor("m", clock=clock, sinks=[sink], rules=[rule], group_by=["sex"],
                       group_window=CountWindow(2000), evaluate_every_s=50)  # fmt: skip
    feed(mon, clock, 600, tpr_f=0.5)
    fired = [e.at for e in sink.events if e.state == "firing"]
    assert fired
    assert fired[0] >= 500  # not before 500 labelled predictions were in the window


def test_sensitive_values_come_from_groups_or_features_under_the_policy() -> None:
    strict = GroupMetrics(["sex"], ["tpr"], missing="error")
    mon = ModelMonitor(clock=lambda: 0.0, group_by=strict, evaluate_every_s=None)
    with pytest.raises(SchemaError, match=r"sex.*missing"):
        mon.log_prediction(1, {"x": 1.0}, 0.7)
    assert mon.pending_count == 0  # refused whole
    mon.log_prediction(2, None, 0.7, groups={"sex": "F"})
    mon.log_prediction(3, {"sex": "M"}, 0.2)
    assert mon.log_label(2, 1)
    assert mon.log_label(3, 1)
    assert mon.metrics()["group_window_count"] == 2.0
    lenient = ModelMonitor(clock=lambda: 0.0, group_by=["sex"], evaluate_every_s=None)
    lenient.log_prediction(1, None, 0.7)
    lenient.log_label(1, 1)
    assert lenient._groups is not None
    assert lenient._groups.metrics.counts() == {(None,): [0, 0, 0, 1]}
    dropping = ModelMonitor(clock=lambda: 0.0, evaluate_every_s=None,
                            group_by=GroupMetrics(["sex"], missing="drop"))  # fmt: skip
    dropping.log_prediction(1, None, 0.7)
    dropping.log_label(1, 1)
    assert dropping.metrics()["group_dropped"] == 1.0


def test_time_windows_let_old_labels_go() -> None:
    clock = Clock()
    mon = ModelMonitor(clock=clock, group_by=["sex"], group_window=TimeWindow(100.0),
                       evaluate_every_s=None)  # fmt: skip
    feed(mon, clock, 300, tpr_f=0.8)
    assert mon.metrics(now=299.0)["group_window_count"] == 100.0
    assert mon.metrics(now=10_000.0)["group_window_count"] == 0.0


def test_state_round_trips_and_resumes() -> None:
    clock = Clock()
    mon = ModelMonitor("m", clock=clock, group_by=GroupMetrics(["sex"], ["tpr", "fpr"]),
                       group_window=CountWindow(500), evaluate_every_s=None)  # fmt: skip
    feed(mon, clock, 800, tpr_f=0.6)
    mon.log_prediction("open", {"sex": "F"}, 0.9)
    back = ModelMonitor.from_json(mon.to_json(), clock=clock)
    a, b = mon.metrics(), back.metrics()
    assert a.keys() == b.keys()
    assert all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)
    assert back.log_label("open", 1)
    assert mon.log_label("open", 1)
    feed(back, clock, 100, tpr_f=0.6, start=800)
    feed(mon, clock, 100, tpr_f=0.6, start=800)
    assert back.metrics()["tpr_difference"] == mon.metrics()["tpr_difference"]
    bad = mon.to_dict()
    bad["state"]["groups"]["window"][0][2] = 7
    with pytest.raises(ConfigError, match=r"state.groups"):
        ModelMonitor.from_dict(bad, clock=clock)


def test_prometheus_exports_groups_with_bounded_labels() -> None:
    prom = pytest.importorskip("prometheus_client", reason="needs the 'prometheus' extra")
    from prodml.monitoring.prometheus import PrometheusSink

    registry = prom.CollectorRegistry()
    clock = Clock()
    mon = ModelMonitor("churn", clock=clock, sinks=[PrometheusSink(registry, max_label_values=3)],
                       group_by=GroupMetrics(["sex"], ["tpr", "count"], min_count=1),
                       evaluate_every_s=None)  # fmt: skip
    feed(mon, clock, 400, tpr_f=0.6)
    for i, sex in enumerate(["X", "Y", "Z"]):  # more groups than the label allows
        mon.log_prediction(f"x{i}", {"sex": sex}, 0.9)
        mon.log_label(f"x{i}", 1)
    mon.evaluate()
    value = registry.get_sample_value
    labels = {"model": "churn", "metric": "tpr", "group": "sex=F"}
    assert value("prodml_fairness_group_ratio", labels) == pytest.approx(
        mon.metrics()["tpr[sex=F]"]
    )
    gap = value(
        "prodml_fairness_gap_ratio", {"model": "churn", "metric": "tpr", "gap": "difference"}
    )
    assert gap == pytest.approx(mon.metrics()["tpr_difference"])
    assert value("prodml_fairness_group_records", {"model": "churn", "group": "sex=F"}) > 0
    assert value("prodml_fairness_flagged_pairs", {"model": "churn", "metric": "tpr"}) is not None
    assert value("prodml_label_overflow_values", {"label": "group"}) == 2.0  # sex=Y, sex=Z
