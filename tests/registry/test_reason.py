"""``reason=`` on alias moves: it reaches the audit event, checked, cut to size, redacted."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.dummy import DummyClassifier

from prodml.errors import ConfigError
from prodml.privacy import redact_personal
from prodml.registry import MetricThreshold, ModelRegistry
from prodml.registry._aliases import MAX_REASON

SECRET = "tok-9f8e7d6c5b4a"  # noqa: S105 - a canary, not a credential


def _registry(tmp_path: Path) -> ModelRegistry:
    reg = ModelRegistry(f"sqlite:///{tmp_path}/r.db?token={SECRET}", f"file://{tmp_path}/art")
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    for acc in (0.8, 0.9, 0.95):
        reg.register("churn", model, metrics={"accuracy": acc})
    return reg


def test_every_move_records_its_reason(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    reg.set_alias("churn", "production", 1, reason="first release")
    reg.promote("churn", "production", 2, checks=[MetricThreshold("accuracy", min=0.85)],
                reason="weekly retrain, accuracy 0.90")  # fmt: skip
    reg.rollback("churn", "production", reason="canary error rate 2x the baseline")
    reg.set_alias("churn", "staging", 3)
    reg.delete_alias("churn", "staging", reason="staging retired")
    events = list(reversed(reg.history("churn").items))
    moves = [(e.action, e.alias, e.version, e.detail.get("reason")) for e in events[3:]]
    assert moves == [
        ("set_alias", "production", 1, "first release"),
        ("set_alias", "production", 2, "weekly retrain, accuracy 0.90"),
        ("rollback", "production", 1, "canary error rate 2x the baseline"),
        ("set_alias", "staging", 3, None),
        ("delete_alias", "staging", None, "staging retired"),
    ]
    # The promotion keeps its checks beside the reason; the rollback its stack step.
    assert events[4].detail["checks"] == ["MetricThreshold(metric='accuracy', min=0.85, max=None)"]
    assert events[5].detail["pop"] == 1


def test_reason_is_cut_cleaned_and_redacted(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    reg.set_alias("churn", "production", 1, reason="x" * 5000)
    reg.set_alias("churn", "production", 2, reason=f"  line one\nline\ttwo {SECRET}  ")
    reg.set_alias("churn", "production", 3, reason="asked by ann@example.com, +44 20 7946 0958")
    first, second, third = (e.detail["reason"] for e in reversed(reg.history("churn").items[:3]))
    assert len(first) == MAX_REASON
    assert first.endswith("...")
    assert second == "line one line two ***"  # the store's own credential never gets in
    assert third == "asked by <redacted>, <redacted>"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("run 17 promoted at 2026-12-02", "run 17 promoted at 2026-12-02"),
        ("card 4111 1111 1111 1111 seen", "card <redacted> seen"),
        ("ok 4111 1111 1111 1112", "ok 4111 1111 1111 1112"),  # fails Luhn: not a card
    ],
)
def test_redact_personal_keeps_ordinary_text(reason: str, expected: str) -> None:
    assert redact_personal(reason) == expected


@pytest.mark.parametrize("bad", ["", "   ", 42, b"bytes"])
def test_a_bad_reason_is_refused_and_nothing_moves(tmp_path: Path, bad: object) -> None:
    reg = _registry(tmp_path)
    reg.set_alias("churn", "production", 1)
    before = len(reg.history("churn").items)
    with pytest.raises(ConfigError, match="reason must be a non-empty str"):
        reg.promote("churn", "production", 2, reason=bad)  # type: ignore[call-overload]
    with pytest.raises(ConfigError, match="reason"):
        reg.set_alias("churn", "production", 2, reason=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="reason"):
        reg.rollback("churn", "production", reason=bad)  # type: ignore[arg-type]
    assert reg.aliases("churn") == {"production": 1}
    assert len(reg.history("churn").items) == before
