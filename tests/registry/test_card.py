"""Model cards: every section from what the registry knows, three renderings, the CLI."""

from __future__ import annotations

import json
import platform
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from prodml.cli import main
from prodml.errors import ConfigError, NotFoundError, StateError
from prodml.fairness import GroupMetrics
from prodml.registry import AuditEvent, ModelCard, ModelRegistry
from prodml.registry._card import build_card
from prodml.schema import Column, Schema

SIGNATURE = Schema(
    [
        Column("tenure", "int", min=0, max=600, nullable=False),
        Column("plan", "category", allowed=["free", "pro"]),
        Column("email", "string", allowed=["ann@example.com"], sensitive=True),
    ]
)


def _fairness() -> dict:
    gm = GroupMetrics(["sex"], ["selection_rate", "tpr"], min_count=1)
    gm.update([1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 1, 1], ["F", "F", "F", "M", "M", "M"])
    return gm.report().to_dict()


@pytest.fixture
def reg(tmp_path: Path) -> ModelRegistry:
    reg = ModelRegistry.local(tmp_path / "reg", actor="ann")
    reg.register(
        "churn",
        SIGNATURE,
        signature=SIGNATURE,
        description="Monthly <churn> score",
        tags={
            "intended_use": "rank accounts for retention calls",
            "limitations": "trained on EU customers only",
            "team": "growth",
            "contact": "owner is bob@example.com",
        },
        metrics={"auc": 0.81, "log_loss": 0.42},
        lineage={
            "data_fingerprint": "d" * 64,
            "pipeline_fingerprint": "p" * 64,
            "code_version": "abc123",
            "feature_views": {"customer_stats": "f" * 64},
            "environment": {"python": "3.11.7", "packages": {"scikit-learn": "1.5.0"}},
            "fairness": _fairness(),
            "importance": {"tenure": 0.7, "plan": -0.2},
            "run_id": "run-42",
        },
    )
    reg.register(
        "churn",
        SIGNATURE,
        signature=SIGNATURE,
        metrics={"auc": 0.83},
        lineage={"parent_version": 1},
    )
    reg.set_alias("churn", "production", 1)
    reg.set_alias("churn", "production", 2)
    reg.rollback("churn", "production")
    reg.set_alias("churn", "staging", 2)
    yield reg
    reg.close()


def test_card_gathers_every_section(reg: ModelRegistry) -> None:
    card = reg.card("churn@production")
    assert card.model["ref"] == "churn@1"
    assert card.model["created_by"] == "ann"
    assert card.aliases == ["production"]
    assert card.intended_use == {
        "intended_use": "rank accounts for retention calls",
        "limitations": "trained on EU customers only",
    }
    assert card.tags == {"team": "growth", "contact": "<redacted>"}
    assert card.metrics == {"auc": 0.81, "log_loss": 0.42}
    assert card.lineage["data_fingerprint"] == "d" * 64
    assert card.lineage["feature_views"] == {"customer_stats": "f" * 64}
    assert card.lineage["run_id"] == "run-42"
    assert card.environment == {"python": "3.11.7", "packages": {"scikit-learn": "1.5.0"}}
    assert {g["metric"] for g in card.fairness["gaps"]} == {"selection_rate", "tpr"}
    assert card.importance == {"tenure": 0.7, "plan": -0.2}
    by_name = {c["name"]: c for c in card.signature}
    assert by_name["plan"]["allowed"] == ["free", "pro"]
    assert by_name["email"]["allowed"] is None  # a sensitive column's values are not listed
    assert by_name["email"]["sensitive"]
    # The audit trail of version 1: registered, promoted, replaced, rolled back to.
    moves = [(e["action"], e["alias"], e["previous_version"], e["version"]) for e in card.audit]
    assert moves == [
        ("register", None, None, 1),
        ("set_alias", "production", None, 1),
        ("set_alias", "production", 1, 2),
        ("rollback", "production", 2, 1),
    ]
    v2 = reg.card("churn@staging")
    assert v2.lineage == {"parent_version": 1}
    assert v2.environment is not None  # recorded by register
    assert v2.environment["python"] == platform.python_version()
    assert v2.fairness is None
    assert v2.aliases == ["staging"]


def test_markdown_and_html_render_each_section(reg: ModelRegistry, tmp_path: Path) -> None:
    card = reg.card("churn", 1, owner="growth team")
    md = card.to_markdown(tmp_path / "card.md")
    assert (tmp_path / "card.md").read_text() == md
    titles = re.findall(r"^## (.+)$", md, re.M)
    assert titles == [
        "Model",
        "Intended use",
        "Metrics",
        "Signature",
        "Lineage",
        "Environment",
        "Fairness",
        "Feature importance",
        "Approvals and alias history",
        "Tags",
    ]
    assert "| owner | growth team |" in md
    assert "| packages.scikit-learn | 1.5.0 |" in md
    assert "| tenure | int | no | >= 0; <= 600 |  |" in md
    assert "| production | 2 -> 1 |" in md
    page = card.to_html(tmp_path / "card.html")
    assert "&lt;churn&gt;" in page
    assert "<churn>" not in page
    for external in ("<script", "http://", "https://", "src=", "<link"):
        assert external not in page
    assert page.count("<table>") == len(titles)


def test_approvals_and_signing_key_ids_from_the_audit_log(reg: ModelRegistry) -> None:
    mv = reg.get("churn@1")
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    events = [
        AuditEvent(seq=1, name="churn", action="register", version=1, actor="ann", at=at),
        AuditEvent(
            seq=2,
            name="churn",
            action="set_alias",
            alias="production",
            version=1,
            actor="ci",
            at=at,
            detail={"approver": "carol", "signer_key_id": "sha256:1f2e", "pop": 1},
        ),
        AuditEvent(seq=3, name="other", action="register", version=2, actor="x", at=at),
    ]
    card = build_card(mv, events, {"production": 1}, {})
    assert [e["seq"] for e in card.audit] == [1, 2]
    assert card.audit[1]["detail"] == {"approver": "carol", "signer_key_id": "sha256:1f2e"}
    assert "approver=carol, signer_key_id=sha256:1f2e" in card.to_markdown()


def test_state_round_trip_and_validation(reg: ModelRegistry) -> None:
    card = reg.card("churn@production")
    assert ModelCard.from_json(card.to_json()) == card
    state = card.to_dict()
    with pytest.raises(ConfigError, match="format_version"):
        ModelCard.from_dict({**state, "format_version": 2})
    with pytest.raises(StateError, match=r"field 'metrics.auc' must be a finite number"):
        ModelCard.from_dict({**state, "metrics": {"auc": "high"}})
    with pytest.raises(ConfigError, match="not valid JSON"):
        ModelCard.from_json("{not json")
    # Every field a rendering reads is checked, and the error names its path.
    bad_column = {**state["signature"][0], "dtype": 3}
    with pytest.raises(StateError, match=r"'signature\[0\]\.dtype' must be one of") as info:
        ModelCard.from_dict({**state, "signature": [bad_column]})
    assert isinstance(info.value, ConfigError)
    assert info.value.path == "signature[0].dtype"
    with pytest.raises(StateError, match=r"'model.ref' must be a non-empty str"):
        ModelCard.from_dict({**state, "model": {**state["model"], "ref": None}})
    with pytest.raises(StateError, match=r"'lineage.run.score' must be a finite number"):
        ModelCard.from_dict({**state, "lineage": {"run": {"score": float("nan")}}})
    with pytest.raises(StateError, match=r"'audit\[0\].seq' must be an int >= 0"):
        ModelCard.from_dict({**state, "audit": [{**state["audit"][0], "seq": -1}]})
    with pytest.raises(StateError, match="nested 100000 levels"):
        ModelCard.from_json("[" * 100_000)
    # A stored card is checked again: a personal value put in by hand is redacted.
    forged = ModelCard.from_dict({**state, "tags": {"who": "carl@example.net"}})
    assert forged.tags == {"who": "<redacted>"}


def test_bad_requests(reg: ModelRegistry) -> None:
    with pytest.raises(NotFoundError):
        reg.card("churn@canary")
    with pytest.raises(ConfigError, match="unknown model card field"):
        reg.card("churn", 1, purpose="x")


@pytest.fixture
def local(tmp_path: Path) -> Path:
    reg = ModelRegistry.local(tmp_path / "reg", actor="ann")
    reg.register("churn", SIGNATURE, metrics={"auc": 0.8}, tags={"intended_use": "demo"})
    reg.set_alias("churn", "production", 1)
    reg.close()
    return tmp_path / "reg"


def test_cli_card(local: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "card", str(local), "churn@production"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Model card: churn@1\n")
    assert "| intended use | demo |" in out
    assert main(["registry", "card", str(local), "churn", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == {"auc": 0.8}
    target = tmp_path / "card.html"
    args = ["registry", "card", str(local), "churn@1", "--format", "html", "--out", str(target)]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == f"model card of churn@1: {target}"
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert main(["registry", "card", str(local), "churn@canary"]) == 2
    assert "canary" in capsys.readouterr().err
    assert main(["registry", str(local), "--json"]) == 0  # listing still works
    assert json.loads(capsys.readouterr().out)[0]["model"] == "churn"


def test_cli_card_with_only_the_registry_folder_asks_for_the_version(
    local: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "card", str(local)]) == 2
    err = capsys.readouterr().err
    assert "is a registry folder: give the version too" in err
    assert "give a registry folder" not in err  # the old, wrong hint


def test_card_shows_signer_key_id_and_approver_from_a_signed_registry(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="needs the 'sign' extra")
    from prodml.registry.authz import RequireApproval
    from prodml.registry.signing import Ed25519Signer, TrustPolicy

    signer = Ed25519Signer.generate()
    reg = ModelRegistry.local(
        tmp_path / "signed",
        actor="ci",
        signer=signer,
        trust=TrustPolicy([signer.verifier()]),
        authorizer=RequireApproval({"production"}),
    )
    try:
        reg.register("churn", SIGNATURE, metrics={"auc": 0.8})
        reg.set_alias("churn", "production", 1, approved_by="carol")
        card = reg.card("churn@production")
    finally:
        reg.close()
    register, promote = card.audit
    assert register["detail"] == {"signer_key_id": signer.key_id}
    assert promote["detail"]["approved_by"] == "carol"
    md = card.to_markdown()
    assert f"signer_key_id={signer.key_id}" in md
    assert "approved_by=carol" in md
