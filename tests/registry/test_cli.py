"""``prodml registry``: list models, versions and aliases of a registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodml.cli import main
from prodml.registry import ModelRegistry
from prodml.schema import Column, Schema


@pytest.fixture
def local(tmp_path: Path) -> Path:
    reg = ModelRegistry.local(tmp_path / "reg")
    try:
        for auc in (0.8, 0.9):
            reg.register("churn", Schema([Column("x", "float")]), metrics={"auc": auc})
        reg.register("fraud", Schema([Column("y", "int")]), tags={"team": "risk"})
        reg.set_alias("churn", "production", 1)
        reg.set_alias("churn", "staging", 2)
    finally:
        reg.close()
    return tmp_path / "reg"


def test_lists_models_with_latest_version_and_aliases(
    local: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", str(local), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {"model": "churn", "latest": 2, "aliases": "production->v1, staging->v2"},
        {"model": "fraud", "latest": 1, "aliases": ""},
    ]


def test_lists_a_models_versions_newest_first(
    local: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", str(local), "churn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["version", "status", "aliases", "created", "metrics", "tags"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]
    assert "staging" in lines[1]
    assert "auc=0.9" in lines[1]
    assert "production" in lines[2]
    assert "auc=0.8" in lines[2]


def test_any_backend_by_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, artifacts = f"sqlite:///{tmp_path / 'm.db'}", (tmp_path / "a").as_uri()
    reg = ModelRegistry(db, artifacts)
    reg.register("churn", Schema([Column("x", "float")]))
    reg.close()
    assert main(["registry", "--db", db, "--artifacts", artifacts, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["model"] == "churn"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["registry"], "give a registry folder"),
        (["registry", "--db", "sqlite://"], "--db needs --artifacts"),
        (["registry", "no-such-folder"], "no registry at no-such-folder"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_model_exits_2(local: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", str(local), "nope"]) == 2
    assert "nope" in capsys.readouterr().err
