"""`prodml registry` given a URL as its folder, or a plain path as --artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodml.cli import main
from prodml.errors import ConfigError
from prodml.registry import ModelRegistry
from prodml.schema import Column, Schema


@pytest.mark.parametrize(
    "argv",
    [
        ["registry", "postgresql://u:hunter2@db.example/reg"],
        ["registry", "card", "postgresql://u:hunter2@db.example/reg", "churn"],
        [
            "registry",
            "prune-history",
            "postgresql://u:hunter2@db.example/reg",
            "churn",
            "--keep",
            "1",
        ],
    ],
)
def test_a_url_where_a_folder_is_expected_points_at_db(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "no registry at ... (expected .../registry.db)", a folder's message."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is a URL, not a registry folder" in err
    assert "--db URL --artifacts URL" in err
    assert "no registry at" not in err
    assert "hunter2" not in err  # the password is redacted


def test_a_plain_artifacts_path_is_the_local_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--artifacts ./models` was refused as "has no scheme"."""
    db = f"sqlite:///{tmp_path / 'm.db'}"
    with ModelRegistry(db, (tmp_path / "models").as_uri()) as reg:
        reg.register("churn", Schema([Column("x", "float")]))
    monkeypatch.chdir(tmp_path)
    for artifacts in ("models", str(tmp_path / "models")):
        assert main(["registry", "--db", db, "--artifacts", artifacts, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["model"] == "churn"
    # A relative folder that does not exist is named by its absolute path.
    assert main(["registry", "--db", db, "--artifacts", "no-such", "--json"]) == 2
    err = capsys.readouterr().err
    assert "no scheme" not in err
    assert str(tmp_path / "no-such") in err


def test_the_library_names_the_file_url_of_a_local_folder() -> None:
    with pytest.raises(ConfigError, match="'file://' and its absolute path") as info:
        ModelRegistry("memory://", "models")
    assert info.value.parameter == "artifacts_url"
