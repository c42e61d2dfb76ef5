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
        {
            "model": "churn",
            "latest": 2,
            "aliases": {"production": 1, "staging": 2},
            "newest": 2,
            "newest_status": "ready",
        },
        {"model": "fraud", "latest": 1, "aliases": {}, "newest": 1, "newest_status": "ready"},
    ]
    assert main(["registry", str(local)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "latest", "ready", "newest", "aliases"]
    assert lines[1].split() == ["churn", "2", "2", "production->v1,", "staging->v2"]
    assert lines[2].split() == ["fraud", "1", "1"]


def test_the_model_listing_says_latest_counts_ready_versions(
    local: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`latest` showed 2 beside an archived v3 under a bare `latest` header."""
    with ModelRegistry.local(local) as reg:
        reg.register("churn", Schema([Column("x", "float")]))
        reg.archive("churn", 3)
        reg.archive("fraud", 1)
    assert main(["registry", str(local), "--json"]) == 0
    rows = {row["model"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["churn"]["latest"], rows["churn"]["newest"]) == (2, 3)
    assert rows["churn"]["newest_status"] == "archived"
    assert (rows["fraud"]["latest"], rows["fraud"]["newest"]) == (1, 1)
    assert main(["registry", str(local)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "latest", "ready", "newest", "aliases"]
    assert lines[1].split()[:4] == ["churn", "2", "3", "(archived)"]
    # every version archived: `fraud` loads the newest archived one, and says so
    assert lines[2].split() == ["fraud", "1", "(archived)", "1", "(archived)"]


@pytest.mark.parametrize("ref", ["churn@production", "churn@1"])
def test_a_reference_lists_that_version(
    local: Path, ref: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It answered "give the version either in the reference ... or as version=, not
    both" though no version= was given."""
    assert main(["registry", str(local), ref, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["version"], row["aliases"], row["metrics"]) == (1, ["production"], {"auc": 0.8})
    assert main(["registry", str(local), ref]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["version", "1"]


def test_a_reference_to_nothing_exits_2(local: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", str(local), "churn@canary"]) == 2
    assert capsys.readouterr().err == "error: model 'churn' has no alias 'canary'\n"
    assert main(["registry", str(local), "churn@9"]) == 2
    assert "9" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("words", "ref", "hint"),
    [
        (["registry"], "churn/2", "churn@2"),
        (["registry"], "models:/churn/2", "churn@2"),
        (["registry"], "models:/churn@production", "churn@production"),
        (["registry", "card"], "churn/2", "churn@2"),
        (["registry", "card"], "models:/churn/staging", "churn@staging"),
        (["registry", "card"], "a/b/c", "NAME@VERSION"),
    ],
)
def test_mlflow_style_references_say_what_to_type(
    local: Path, words: list[str], ref: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*words, str(local), ref]) == 2
    err = capsys.readouterr().err
    assert f"{ref!r} is not a model reference" in err
    assert err.endswith(f"e.g. prodml {' '.join(words)} {local} {hint}\n")


def test_prune_history_of_a_version_says_to_name_the_model(
    local: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["registry", "prune-history", str(local), "churn@2", "--keep", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "works on a whole model, not one version" in err
    assert "give the model name ('churn')" in err


def test_a_folder_holding_a_registry_folder_is_suggested(
    local: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`prodml registry prodml-demo` (the demo's output) said only "no registry at"."""
    outer = local.parent  # tmp_path, whose registry/ is not there: no suggestion
    assert main(["registry", str(outer)]) == 2
    assert "did you mean" not in capsys.readouterr().err
    demo = outer / "prodml-demo"
    with ModelRegistry.local(demo / "registry") as reg:
        reg.register("churn", Schema([Column("x", "float")]))
    for argv in (["registry", str(demo)], ["registry", "card", str(demo), "churn"]):
        assert main(argv) == 2
        assert capsys.readouterr().err == (
            f"error: no registry at {demo} (expected {demo}/registry.db); "
            f"did you mean {demo / 'registry'}?\n"
        )


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


def test_a_models_versions_as_json(local: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", str(local), "churn", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["aliases"], r["metrics"], r["tags"]) for r in rows] == [
        (2, ["staging"], {"auc": 0.9}, {}),
        (1, ["production"], {"auc": 0.8}, {}),
    ]


def test_listing_changes_nothing(local: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.stat().st_mtime_ns for p in local.rglob("*") if p.is_file()}
    assert main(["registry", str(local), "churn"]) == 0
    after = {p: p.stat().st_mtime_ns for p in local.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if not p.name.endswith(("-wal", "-shm"))} == {
        p: t for p, t in before.items() if not p.name.endswith(("-wal", "-shm"))
    }


def test_a_database_that_does_not_exist_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nothing-here.db"
    assert main(["registry", "--db", f"sqlite:///{db}", "--artifacts", tmp_path.as_uri()]) == 2
    assert "no registry database at" in capsys.readouterr().err
    assert not db.exists()
    db.touch()  # a zero-length file is not a registry either
    assert main(["registry", "--db", f"sqlite:///{db}", "--artifacts", tmp_path.as_uri()]) == 2
    assert "no registry" in capsys.readouterr().err
    assert db.stat().st_size == 0


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


def test_a_model_after_db_urls_lists_its_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --db, the one positional is the model: it was taken for PATH and ignored, so
    every model was listed, and a model that does not exist exited 0."""
    db, artifacts = f"sqlite:///{tmp_path / 'm.db'}", (tmp_path / "a").as_uri()
    with ModelRegistry(db, artifacts) as reg:
        reg.register("churn", Schema([Column("x", "float")]))
        reg.register("churn", Schema([Column("x", "float")]))
        reg.register("fraud", Schema([Column("y", "int")]))
    urls = ["--db", db, "--artifacts", artifacts]
    assert main(["registry", *urls, "churn", "--json"]) == 0
    assert [row["version"] for row in json.loads(capsys.readouterr().out)] == [2, 1]
    assert main(["registry", *urls, "nope"]) == 2
    assert capsys.readouterr().err == "error: model 'nope' has no versions\n"
    assert main(["registry", str(tmp_path), "churn", *urls]) == 2
    assert "not both" in capsys.readouterr().err


def test_prune_history_creates_no_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It opened the registry read-write, which created the database and artifacts folder."""
    db, artifacts = tmp_path / "new" / "r.db", tmp_path / "new" / "a"
    argv = ["registry", "prune-history", "churn", "--keep", "0"]
    assert main([*argv, "--db", f"sqlite:///{db}", "--artifacts", artifacts.as_uri()]) == 2
    assert "no registry database at" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_an_artifacts_folder_that_does_not_exist_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in --artifacts listed the registry (exit 0) and failed at the first load
    with "artifact file ... is missing"; prune-history made the folder."""
    db = f"sqlite:///{tmp_path / 'm.db'}"
    with ModelRegistry(db, (tmp_path / "artifacts").as_uri()) as reg:
        reg.register("churn", Schema([Column("x", "float")]))
    typo = tmp_path / "artifcats"
    urls = ["--db", db, "--artifacts", typo.as_uri()]
    for argv in (
        ["registry", *urls],
        ["registry", "card", *urls, "churn@1"],
        ["registry", "prune-history", *urls, "churn", "--keep", "0"],
    ):
        assert main(argv) == 2
        assert capsys.readouterr().err == f"error: the artifacts folder '{typo}' does not exist\n"
    assert not typo.exists()


def test_a_registry_without_models_needs_no_artifacts_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    ModelRegistry(db, (tmp_path / "artifacts").as_uri()).close()
    (tmp_path / "artifacts").rmdir()  # as a copy of the registry without its empty folder
    assert main(["registry", "--db", db, "--artifacts", (tmp_path / "artifacts").as_uri()]) == 0
    assert capsys.readouterr().out == "(empty)\n"
