"""A monitor's saved group window keeps values that look like personal data as tokens.

``ModelMonitor(group_by=...)`` saves each pending prediction's group and each labelled
record of its window. Before, they were saved as given, so an e-mail address used as a
group value sat in the JSON although every metric name showed it as a token. Now the
saved bytes hold tokens, and the monitor loaded from them reports and alerts alike, and
joins later labels of pending predictions to the same groups.
"""

from __future__ import annotations

import json

import pytest

from prodml.monitoring import AlertRule, InMemorySink, ModelMonitor
from prodml.privacy import PersonalDataWarning

PEOPLE = ["ann.lee@example.com", "+44 20 7946 0958"]


def _monitor(sink: InMemorySink) -> ModelMonitor:
    rule = AlertRule("tpr_gap", "tpr_difference", ">", 0.3, min_count=1)
    mon = ModelMonitor(
        "m", group_by=["who"], rules=[rule], sinks=[sink], evaluate_every_s=None,
        clock=lambda: 0.0,
    )  # fmt: skip
    for i in range(300):
        who = PEOPLE[i % 2] if i % 3 else "staff"
        mon.log_prediction(i, None, 0.9 if i % 2 else 0.2, timestamp=float(i), groups={"who": who})
        if i < 250:
            mon.log_label(i, 1, timestamp=float(i))
    return mon


def test_no_personal_group_value_in_a_saved_monitor() -> None:
    mon = _monitor(InMemorySink())
    text = mon.to_json()
    assert not any(value in text for value in PEOPLE)
    groups = json.loads(text)["state"]["groups"]
    assert len(groups["pending"]) == 50
    assert len(groups["window"]) == 250
    assert {k[0] for _, k in groups["pending"]} >= {"staff"}
    assert isinstance(groups["salt_id"], str)


def test_a_loaded_monitor_reports_and_alerts_alike() -> None:
    first, second = InMemorySink(), InMemorySink()
    mon = _monitor(first)
    loaded = ModelMonitor.from_json(mon.to_json(), sinks=[second], clock=lambda: 0.0)
    assert loaded.metrics() == mon.metrics()
    assert sum(k.startswith("tpr[who=pm:") for k in mon.metrics()) == 2
    for target in (mon, loaded):  # the pending predictions' labels join the same groups
        for i in range(250, 300):
            target.log_label(i, i % 2, timestamp=float(i))
        target.evaluate(300.0)
    assert loaded.metrics() == mon.metrics()
    assert mon.metrics()["tpr_difference"] == 1.0
    assert [(e.rule, e.state) for e in first.events] == [("tpr_gap", "firing")]
    assert [(e.rule, e.state, e.value) for e in second.events] == [
        (e.rule, e.state, e.value) for e in first.events
    ]


def test_a_monitor_saved_with_another_salt_warns() -> None:
    mon = _monitor(InMemorySink())
    state = json.loads(mon.to_json())
    state["state"]["groups"]["salt_id"] = "0123456789abcdef"
    with pytest.warns(PersonalDataWarning, match="PRODML_PRIVACY_SALT"):
        loaded = ModelMonitor.from_dict(state, clock=lambda: 0.0)
    assert loaded.metrics() == mon.metrics()
