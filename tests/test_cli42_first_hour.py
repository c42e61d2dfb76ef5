"""The first hour again, as a new user on a fresh install: typos and wrong values.

Each case here was found by running the commands of README.md and docs/cli.md with a
wrong value, and each was a misleading message, a late failure or a value taken:

- ``prodml serve --watch-every -1`` (or ``nan``) listened, then failed the load with
  "The 'watch_every_s' parameter of Predictor.from_registry must be ..."; ``--limit-
  concurrency 0`` served, answering every request 503; ``--timeout-keep-alive -1`` was
  taken; ``--max-records 0`` and the like named a parameter of ``create_app``, not the
  flag; ``prodml score --chunk-rows 0`` said so only once the model had loaded.
- ``prodml registry prodml-demo/registry/registry.db`` (the database file, not its folder)
  said "expected .../registry.db/registry.db".
- ``prodml store views prodml-demo`` said only "no feature store" (the demo writes it
  to ``prodml-demo/feature_store/store``), where ``prodml registry`` suggests the folder.
- ``prodml schema FOLDER`` with a file in it that is not Parquet said "cannot read
  FOLDER as Parquet: Parquet magic bytes not found ... rename a CSV (.csv) file to
  match", naming neither the file nor what to do.
- ``prodml store materialize --end 2024-01-01`` said "pass a timezone-aware datetime
  (e.g. datetime.now(timezone.utc))": Python, for a flag.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodml import cli

BEFORE = {
    "serve": ["serve", "churn@1", "--registry", "{tmp}/reg"],
    "score": ["score", "churn@1", "{tmp}/in.parquet", "{tmp}/out", "--registry", "{tmp}/reg"],
}
SECONDS_0 = "expected 0 or more"
SECONDS_ABOVE_0 = "expected a number above 0"


@pytest.mark.parametrize(
    ("command", "flag", "value", "said"),
    [
        ("serve", "--watch-every", "-1", f"invalid seconds -1: {SECONDS_0}"),
        ("serve", "--watch-every", "nan", f"invalid seconds nan: {SECONDS_0}"),
        ("serve", "--limit-concurrency", "0", "invalid count 0: expected 1 or more"),
        ("serve", "--timeout-keep-alive", "-1", f"invalid seconds -1: {SECONDS_0}"),
        ("serve", "--timeout-keep-alive", "inf", f"invalid seconds inf: {SECONDS_0}"),
        ("serve", "--max-records", "0", "invalid count 0: expected 1 or more"),
        ("serve", "--max-explain", "x", "invalid count 'x': not a whole number"),
        ("serve", "--max-body-bytes", "0", "invalid count 0: expected 1 or more"),
        ("serve", "--max-batch", "1", "invalid count 1: expected 2 or more"),
        ("serve", "--max-wait-ms", "-1", f"invalid seconds -1: {SECONDS_0}"),
        ("serve", "--body-timeout", "0", f"invalid seconds 0: {SECONDS_ABOVE_0}"),
        ("serve", "--header-timeout", "-2", f"invalid seconds -2: {SECONDS_ABOVE_0}"),
        ("serve", "--max-header-bytes", "1024", "invalid count 1024: expected 1025 or more"),
        ("serve", "--load-retry-for", "-1", f"invalid seconds -1: {SECONDS_0}"),
        ("score", "--chunk-rows", "0", "invalid count 0: expected 1 or more"),
    ],
)
def test_a_limit_out_of_range_is_a_usage_error_naming_the_flag(  # noqa: PLR0917 - parametrized
    tmp_path: Path,
    command: str,
    flag: str,
    value: str,
    said: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.format(tmp=tmp_path) for a in BEFORE[command]] + [flag, value]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    prog = f"prodml {command}"
    assert (out, err) == ("", f"error: {prog}: argument {flag}: {said} (see '{prog} --help')\n")
    assert not (tmp_path / "out").exists()


def test_load_retry_for_may_still_be_forever() -> None:
    parser = cli.build_parser("serve")
    args = parser.parse_args(["serve", "churn@1", "--load-retry-for", "inf"])
    assert args.load_retry_for == float("inf")


def test_the_registry_database_file_given_as_the_registry_names_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "registry.db").write_bytes(b"")
    for argv in (
        ["registry", f"{tmp_path}/reg/registry.db"],
        ["serve", "churn@1", "--registry", f"{tmp_path}/reg/registry.db"],
    ):
        assert cli.main(argv) == 2
        assert capsys.readouterr().err == (
            f"error: no registry at {tmp_path}/reg/registry.db: it is a file, not a registry "
            f"folder: give its folder, {tmp_path}/reg\n"
        )


@pytest.mark.parametrize("given", ["demo", "demo/feature_store"])
def test_a_store_one_folder_down_is_suggested(
    tmp_path: Path, given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "demo" / "feature_store" / "store"
    store.mkdir(parents=True)
    (store / "online.db").write_bytes(b"")
    assert cli.main(["store", "views", str(tmp_path / given)]) == 2
    assert capsys.readouterr().err == (
        f"error: no feature store at {tmp_path / given} (expected online.db in it); "
        f"did you mean {store}?\n"
    )


def test_no_store_anywhere_gives_no_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other").mkdir()
    assert cli.main(["store", "views", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: no feature store at {tmp_path} (expected online.db in it)\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["schema", "{d}"],
        ["fingerprint", "--content", "{d}"],
        ["drift", "{d}", "{d}/part-0.parquet"],
    ],
)
def test_a_folder_with_a_file_that_is_not_parquet_names_it(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    (folder / "notes").mkdir(parents=True)
    pd.DataFrame({"x": np.arange(10.0)}).to_parquet(folder / "part-0.parquet")
    (folder / "notes" / "read me.txt").write_text("not Parquet")
    assert cli.main([a.format(d=folder) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read {folder} as Parquet (notes/read me.txt in it): ")
    hint = "(every file in a folder is read as Parquet: move the others out, or give one file)"
    assert err.endswith(f"{hint}\n")
    assert "rename a CSV" not in err


@pytest.mark.parametrize(
    ("end", "said"),
    [
        ("2024-01-01", "2024-01-01T00:00:00+00:00 or 2024-01-01T00:00:00Z"),
        ("2024-01-01T06:30", "2024-01-01T06:30:00+00:00 or 2024-01-01T06:30:00Z"),
    ],
)
def test_an_end_without_a_zone_says_how_to_write_one(
    tmp_path: Path, end: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("duckdb", reason="needs the 'store' extra")
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "online.db").write_bytes(b"")
    assert cli.main(["store", "materialize", str(tmp_path / "fs"), "--end", end]) == 2
    assert capsys.readouterr().err == (
        f"error: --end '{end}' has no zone: add one, e.g. {said} for UTC\n"
    )
