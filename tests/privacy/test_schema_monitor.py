"""Column(sensitive=True), personal-data detection at Schema.infer, the monitor's state."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from prodml.drift import DriftDetector
from prodml.monitoring import ModelMonitor
from prodml.privacy import PersonalDataWarning, Privacy, is_token
from prodml.schema import Column, Schema


def test_sensitive_flag_round_trips_and_leaves_old_fingerprints_alone() -> None:
    plain = Schema([Column("x", "float"), Column("c", "string")])
    assert "sensitive" not in json.dumps(plain.to_dict())  # same JSON as before the flag
    marked = Schema([Column("x", "float"), Column("c", "string", sensitive=True)])
    assert marked.fingerprint != plain.fingerprint
    assert Schema.from_json(marked.to_json()) == marked
    assert Schema.from_arrow(marked.to_arrow()) == marked
    assert Privacy.from_schema(marked, sensitive=["x"]).sensitive == ("c", "x")


def test_infer_warns_names_the_column_and_never_a_value() -> None:
    df = pd.DataFrame(
        {
            "contact": [f"user{i}@example.com" for i in range(20)],
            "plan": ["pro", "free"] * 10,
            "phone": ["+44 20 7946 0958"] + ["n/a"] * 19,  # 1 of 2 distinct values
        }
    )
    with pytest.warns(PersonalDataWarning) as caught:
        schema = Schema.infer(df)
    assert [c.name for c in schema.columns if c.sensitive] == ["contact", "phone"]
    text = " ".join(str(w.message) for w in caught)
    assert "'contact'" in text
    assert "email" in text
    assert "user0@example.com" not in text
    assert "7946" not in text


def test_infer_detection_can_be_off_filtered_or_replaced() -> None:
    df = pd.DataFrame({"contact": ["a@example.com", "b@example.com"], "n": [1, 2]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        off = Schema.infer(df, detect_personal=False)
        assert not any(c.sensitive for c in off.columns)
        warnings.filterwarnings("ignore", category=PersonalDataWarning)
        assert Schema.infer(df)["contact"].sensitive
    seen: list[list[str]] = []

    def detector(values: list[str]) -> str | None:
        seen.append(values)
        return "custom" if any(v.startswith("a@") for v in values) else None

    with pytest.warns(PersonalDataWarning, match="custom"):
        schema = Schema.infer(df, detect_personal=detector)
    assert schema["contact"].sensitive
    assert not schema["n"].sensitive
    assert seen == [["a@example.com", "b@example.com"]]  # text columns only


def test_infer_detection_samples_a_bounded_number_of_values() -> None:
    n = 5000
    df = pd.DataFrame({"c": [f"v{i}" for i in range(n)]})
    seen: list[int] = []
    Schema.infer(df, detect_personal=lambda v: seen.append(len(v)))  # type: ignore[func-returns-value]
    assert seen == [200]


def test_infer_finds_personal_data_in_a_later_chunk_and_stops_searching_once_found() -> None:
    late = [pd.DataFrame({"e": ["plain", "text"]}), pd.DataFrame({"e": ["ann@example.com"] * 3})]
    with pytest.warns(PersonalDataWarning, match="'e'"):
        assert Schema.infer(iter(late))["e"].sensitive is True
    seen: list[list[str]] = []

    def detector(values: list[str]) -> str | None:
        seen.append(values)
        return "email" if any("@" in v for v in values) else None

    chunks = [pd.DataFrame({"e": ["a", "b"]}), pd.DataFrame({"e": ["c@d.org", "b"]})]
    chunks += [pd.DataFrame({"e": [f"z{i}"]}) for i in range(3)]
    with pytest.warns(PersonalDataWarning):
        Schema.infer(iter(chunks), detect_personal=detector)
    assert seen == [["a", "b"], ["c@d.org", "b"]]  # not searched after the find


def test_sensitive_values_are_redacted_in_validation_errors() -> None:
    schema = Schema([Column("age", "int", max=130, sensitive=True), Column("plan", "string")])
    with pytest.raises(Exception, match=r"above the maximum 130, e\.g\. <redacted>") as err:
        schema.validate(pd.DataFrame({"age": [200], "plan": ["pro"]}))
    assert "200" not in str(err.value).replace("130", "")


def test_monitor_saves_sensitive_window_rows_hashed_and_restores_the_policy() -> None:
    policy = Privacy(salt="s", sensitive=["income", "name"])
    ref = pd.DataFrame({"income": [1000.0, 2000.0] * 50, "name": ["ann", "bob"] * 50})
    mon = ModelMonitor(
        reference=ref,
        drift_detector=DriftDetector(privacy=policy),
        drift_window=50,
        evaluate_every_s=None,
        clock=lambda: 0.0,
    )
    mon.log_prediction(1, {"income": 1234.5, "name": "ann"}, 0.4)
    state = mon.to_dict()
    row = state["state"]["drift_rows"][0]
    assert row["income"] is None
    assert is_token(row["name"])
    assert row["name"] == policy.token("ann")
    saved = state["config"]["drift_detector"]["params"]["privacy"]
    assert saved["sensitive"] == ["income", "name"]
    assert "salt" not in saved
    back = ModelMonitor.from_dict(state, reference=ref, clock=lambda: 0.0)
    assert back._drift_fitted.privacy.sensitive == ("income", "name")


def test_monitor_saves_ids_of_a_column_past_the_cardinality_limit_hashed() -> None:
    # An id that matches no personal-data pattern: the reference keeps it hashed (past
    # max_categories), so the saved window rows must not keep it raw either.
    policy = Privacy(salt="s", max_categories=50)
    ids = [f"cust-{i:05d}" for i in range(200)]
    ref = pd.DataFrame({"customer": ids, "plan": ["a", "b"] * 100, "x": range(200)})

    def monitor() -> ModelMonitor:
        return ModelMonitor(
            reference=ref,
            drift_detector=DriftDetector(privacy=policy),
            drift_window=120,
            evaluate_every_s=None,
            clock=lambda: 0.0,
        )

    mon = monitor()
    assert mon._drift_fitted.reference_.columns["customer"].hashed
    for i in range(120):
        mon.log_prediction(i, {"customer": f"cust-{i + 100:05d}", "plan": "a", "x": i / 2}, 0.5)
    text = mon.to_json()
    assert "cust-" not in text
    rows = json.loads(text)["state"]["drift_ready"]  # the full window, waiting for its test
    expected = [policy.token(f"cust-{i + 100:05d}") for i in range(120)]
    assert [r["customer"] for r in rows] == expected
    assert rows[1]["plan"] == "a"  # other columns stay as they are
    assert rows[1]["x"] == 0.5
    # Restored (the salt is never saved: the same policy is passed again), the window tests
    # the hashed ids against the hashed reference exactly as the live monitor tests the raw ids.
    back = ModelMonitor.from_json(
        text, reference=ref, drift_detector=DriftDetector(privacy=policy), clock=lambda: 0.0
    )
    mon.evaluate(1.0)
    back.evaluate(1.0)
    live, restored = mon._drift_summary.columns, back._drift_summary.columns
    assert live["customer"]["statistic"] > 0.5  # all 100 new ids are unseen: a real change
    assert restored == live
