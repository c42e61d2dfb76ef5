"""Every ``prodml`` command shows a path in its messages the same way.

``prodml store`` quoted a path as ``repr`` does (``"it's my dätä"``, in double quotes
because of the ``'``), ``prodml registry`` and the file commands showed it as typed, and
``prodml score`` said ``no such file or folder: "..."`` where ``prodml schema`` said
``no such file: ...``. Now one helper, :func:`prodml._quote.shown_path`, shows it: as
typed when that reads back unambiguously, quoted (``repr``) and cut otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml import cli
from prodml._files import PATH_QUOTE

NAME = "it's my dätä"  # a space, a quote and a non-ASCII letter


@pytest.fixture
def d(tmp_path: Path) -> Path:
    folder = tmp_path / NAME
    folder.mkdir()
    (folder / "file").write_text("x")
    (folder / "empty").mkdir()
    pd.DataFrame({"x": np.arange(20.0)}).to_parquet(folder / "ref.parquet")
    return folder


# (argv, the message), with {d} the folder above: each message names a path under it.
CASES = [
    (["schema", "{d}/missing.csv"], "no such file: {d}/missing.csv"),
    (["schema", "{d}/empty"], "{d}/empty: the folder holds no Parquet files"),
    (["fingerprint", "{d}/missing"], "no such file: {d}/missing"),
    (["fingerprint", "--content", "{d}/missing.csv"], "no such file: {d}/missing.csv"),
    (["drift", "{d}/missing.parquet", "{d}/ref.parquet"], "no such file: {d}/missing.parquet"),
    (
        ["drift", "{d}/ref.parquet", "{d}/ref.parquet", "--html", "{d}/none/r.html"],
        "cannot write {d}/none/r.html: the folder {d}/none does not exist",
    ),
    (["demo", "--out", "{d}/file"], "cannot write to {d}/file: it is a file, not a folder"),
    (["registry", "{d}"], "no registry at {d} (expected {d}/registry.db)"),
    (["registry", "card", "{d}", "churn@1"], "no registry at {d} (expected {d}/registry.db)"),
    (
        ["registry", "card", "{d}", "churn@1", "--out", "{d}/none/card.md"],
        "cannot write {d}/none/card.md: the folder {d}/none does not exist",
    ),
    (
        ["registry", "prune-history", "{d}", "churn", "--keep", "1"],
        "no registry at {d} (expected {d}/registry.db)",
    ),
    (["serve", "churn@1", "--registry", "{d}"], "no registry at {d} (expected {d}/registry.db)"),
    (
        ["score", "churn@1", "{d}/missing.parquet", "{d}/out", "--registry", "{d}"],
        "no such file: {d}/missing.parquet",
    ),
    (
        ["score", "churn@1", "{d}/ref.parquet", "{d}/file", "--registry", "{d}"],
        "cannot write to {d}/file: it is a file, not a folder",
    ),
    (["store", "views", "{d}"], "no feature store at {d} (expected online.db in it)"),
    (
        ["store", "apply", "{d}", "--file", "{d}/missing.json"],
        "cannot read definitions from {d}/missing.json: No such file or directory",
    ),
    (["store", "apply", "{d}", "--file", "{d}"], "--file {d} is a folder: give a JSON file"),
    (
        [
            "store",
            "views",
            "--offline",
            "duckdb:///{d}/o.duckdb",
            "--online",
            "sqlite:///{d}/on.db",
        ],
        "no online store at {d}/on.db",
    ),
]


@pytest.mark.parametrize(
    ("argv", "message"), CASES, ids=[" ".join(a[:2]) + f"-{i}" for i, (a, _) in enumerate(CASES)]
)
def test_each_command_shows_a_path_as_typed(
    d: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([a.format(d=d) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {message.format(d=d)}\n"
    assert repr(str(d))[:-1] not in err  # never quoted (repr would open with " here)


@pytest.mark.parametrize(
    "argv",
    [
        ["schema", "{d}/missing.csv "],
        ["registry", "{d} "],
        ["store", "views", "{d} "],
        ["score", "churn@1", "{d}/missing.parquet ", "{d}/out", "--registry", "{d}"],
    ],
)
def test_a_path_that_does_not_read_back_as_typed_is_quoted_by_every_command(
    d: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A space at the end would be invisible as typed: each command quotes it, alike."""
    assert cli.main([a.format(d=d) for a in argv]) == 2
    err = capsys.readouterr().err
    quoted = repr(next(a.format(d=d) for a in argv if a.endswith(" ")))
    assert quoted in err, err


@given(st.text(max_size=PATH_QUOTE + 20))
def test_shown_path_is_the_text_or_one_quoted_line(text: str) -> None:
    from prodml._quote import shown_path  # here: the other tests run without it too

    shown = shown_path(text)
    plain = bool(text) and text.isprintable() and text == text.strip()
    if plain and len(text) <= PATH_QUOTE:
        assert shown == text
    else:
        assert shown != text
        assert shown[0] in "'\"<"  # a repr, or <redacted> for a value that looks personal
        assert shown.isprintable()
        assert len(shown) <= PATH_QUOTE + 40
