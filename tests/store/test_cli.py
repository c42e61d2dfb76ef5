"""``prodml store``: apply definitions from JSON, materialize, list, read online values."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from tests.store.conftest import T0, H

from prodml.cli import main
from prodml.store import Entity, FeatureStore, FeatureView


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    store = FeatureStore.local(tmp_path / "fs")
    rows = pa.table({"user_id": [1, 2], "event_at": [T0, T0 + H], "spend": [3.0, 4.0]})
    source = store.offline_store.write_source("spend", rows, timestamp="event_at")
    store.close()
    user = Entity("user", keys=["user_id"])
    view = FeatureView(
        "spend", entity=user, source=source, features=["spend"], ttl=timedelta(days=1)
    )
    path = tmp_path / "defs.json"
    path.write_text(json.dumps([user.to_dict(), view.to_dict()]))
    return path


def test_apply_materialize_list_and_read(
    tmp_path: Path, definitions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fs = str(tmp_path / "fs")
    assert main(["store", "apply", fs, "--json", "--file", str(definitions)]) == 0
    assert json.loads(capsys.readouterr().out) == {"user": "created", "spend": "created"}
    end = (T0 + 2 * H).isoformat()
    assert main(["store", "materialize", fs, "--json", "--end", end]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert (run["view"], run["entities"], run["written"]) == ("spend", 2, 2)
    assert main(["store", "views", fs]) == 0
    table = capsys.readouterr().out
    assert "spend" in table
    assert "2024-01-01T02:00:00+00:00" in table
    assert (
        main(["store", "online", fs, "--entity", '{"user_id": 2}', "--feature", "spend:spend"]) == 0
    )
    got = json.loads(capsys.readouterr().out)
    assert got["values"] == {"spend": None}  # the read is now: a day past the ttl
    assert got["missing"] == ["spend:spend"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["store", "views", "{tmp}/none"], "no feature store at"),
        (["store", "views"], "give a store folder"),
        (["store", "views", "--offline", "duckdb://"], "go together"),
        (
            ["store", "views", "{tmp}/fs", "--offline", "duckdb://", "--online", "sqlite://"],
            "not both",
        ),
        (["store", "apply", "{tmp}/fs", "--file", "{tmp}/missing.json"], "cannot read"),
        (["store", "materialize", "{tmp}/fs", "--end", "yesterday"], "not an ISO time"),
        (
            ["store", "online", "{tmp}/fs", "--entity", "[1]", "--feature", "spend:spend"],
            "JSON object",
        ),
        (
            ["store", "online", "{tmp}/fs", "--entity", "{{}}", "--feature", "spend:nope"],
            "no feature 'nope'",
        ),
    ],
)
def test_errors_exit_2_with_a_message(
    tmp_path: Path, definitions: Path, capsys: pytest.CaptureFixture[str], argv, message
) -> None:
    main(["store", "apply", str(tmp_path / "fs"), "--file", str(definitions)])
    capsys.readouterr()
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read definitions from"),
        ("{not json", "cannot read definitions from"),
        ('{"a": 1}', "expected a JSON list of definition objects"),
    ],
)
def test_a_bad_definitions_file_creates_no_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    defs = tmp_path / "defs.json"
    if content is not None:
        defs.write_text(content)
    assert main(["store", "apply", str(tmp_path / "new-fs"), "--file", str(defs)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new-fs").exists()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "--file is empty: give a JSON file of definitions"),
        ("folder", "is a folder: give a JSON file"),
        ("fifo", "is not a regular file: give a JSON file"),
        ("nan", "cannot read definitions from"),
        ("missing", "No such file or directory"),
    ],
)
def test_a_definitions_path_that_is_not_a_json_file_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, message: str
) -> None:
    """An empty path (the current folder), a folder or a FIFO (which would block) is
    refused before anything is read; NaN is not JSON; the OS's reason has no errno."""
    import os

    if kind == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("needs os.mkfifo (POSIX)")
    path = {"empty": "", "missing": str(tmp_path / "nope.json")}.get(kind, str(tmp_path / "d"))
    if kind == "folder":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "nan":
        Path(path).write_text('[{"name": "user", "keys": ["id"], "x": NaN}]')
    assert main(["store", "apply", str(tmp_path / "new-fs"), "--file", path]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Errno" not in err
    assert not (tmp_path / "new-fs").exists()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_online_refuses_an_entity_with_a_non_finite_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    argv = ["store", "online", str(tmp_path / "fs"), "--entity", f'{{"id": {value}}}']
    assert main([*argv, "--feature", "v:f"]) == 2
    assert f"--entity is not JSON: {value} is not JSON" in capsys.readouterr().err
