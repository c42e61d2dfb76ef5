"""Each URL flag's error names the extra that flag needs, and every one that is missing.

Without the ``postgres`` and ``s3`` extras, ``--db postgresql://... --artifacts s3://...``
named only ``prodml[s3]`` (the registry opens its artifact store first): a user installed
it, ran the command again, and only then learned of ``prodml[postgres]``. The missing
packages are made to fail to import in a subprocess (``sys.modules[name] = None``), not
uninstalled.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SECRET = "Zq8SECRETpw"  # noqa: S105 - a made-up password, looked for in what is shown
DB = f"postgresql+psycopg://bob:{SECRET}@127.0.0.1:1/models"
S3 = "s3://models/registry"
REDIS = f"redis://:{SECRET}@127.0.0.1:1/0"

_RUN = """
import contextlib, io, json, sys
for name in sys.argv[1].split(","):
    if name:
        sys.modules[name] = None  # import fails as for a package not installed
from prodml.cli import main
results = []
for argv in json.loads(sys.argv[2]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""

REGISTRY_COMMANDS = [
    ["registry", "--db", "{db}", "--artifacts", "{art}"],
    ["registry", "--db", "{db}", "--artifacts", "{art}", "churn"],
    ["registry", "card", "--db", "{db}", "--artifacts", "{art}", "churn@1"],
    ["registry", "prune-history", "--db", "{db}", "--artifacts", "{art}", "churn", "--keep", "1"],
    ["serve", "churn@1", "--db", "{db}", "--artifacts", "{art}", "--port", "0"],
    ["score", "churn@1", "{src}", "{out}", "--db", "{db}", "--artifacts", "{art}"],
]

POSTGRES = "--db postgresql+psycopg://... needs the optional package 'psycopg'"
BOTH = (
    "--db postgresql+psycopg://... needs 'psycopg' (extra 'postgres') and --artifacts "
    "s3://... needs 's3fs' (extra 's3'): optional packages that are not installed. "
    "Install them with: pip install 'prodml[postgres,s3]'"
)


def _run(missing: list[str], commands: list[list[str]]) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN, ",".join(missing), json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [(code, err) for code, err in json.loads(done.stdout)]


def _commands(db: str, art: str, tmp: str) -> list[list[str]]:
    src = f"{tmp}/in.parquet"
    with open(src, "wb") as f:  # score checks its input first: it must exist
        f.write(b"PAR1")
    fill = {"db": db, "art": art, "src": src, "out": f"{tmp}/out"}
    return [[a.format(**fill) for a in argv] for argv in REGISTRY_COMMANDS]


@pytest.mark.parametrize(
    ("missing", "db", "art", "said"),
    [
        (["psycopg", "s3fs"], DB, S3, BOTH),
        (
            ["psycopg", "s3fs"],
            DB,
            "/srv/artifacts",
            f"{POSTGRES}, which is not installed. Install it with: pip install 'prodml[postgres]'",
        ),
        (
            ["psycopg", "s3fs"],
            "sqlite:///nowhere/registry.db",
            S3,
            (
                "--artifacts s3://... needs the optional package 's3fs', which is not "
                "installed. Install it with: pip install 'prodml[s3]'"
            ),
        ),
        (
            ["psycopg"],
            DB,
            S3,
            f"{POSTGRES}, which is not installed. Install it with: pip install 'prodml[postgres]'",
        ),
    ],
    ids=["both-missing", "db-missing-local-artifacts", "artifacts-missing", "db-missing"],
)
def test_each_flag_names_the_extra_it_needs(
    missing: list[str], db: str, art: str, said: str, tmp_path: object
) -> None:
    commands = _commands(db, art, str(tmp_path))
    for argv, (code, err) in zip(commands, _run(missing, commands), strict=True):
        assert (code, err) == (2, f"error: {said}\n"), argv
        assert SECRET not in err


def test_the_store_flags_name_their_extras_too(tmp_path: object) -> None:
    commands = [
        ["store", "views", "--offline", DB, "--online", REDIS],
        ["store", "materialize", "--offline", DB, "--online", REDIS],
    ]
    said = (
        "error: --offline postgresql+psycopg://... needs 'psycopg' (extra 'postgres') and "
        "--online redis://... needs 'redis' (extra 'redis'): optional packages that are not "
        "installed. Install them with: pip install 'prodml[postgres,redis]'\n"
    )
    assert _run(["psycopg", "redis"], commands) == [(2, said), (2, said)]


def test_with_the_extras_installed_nothing_is_said_of_them(tmp_path: object) -> None:
    """The check imports what the stores import: nothing missing, the command goes on."""
    pytest.importorskip("psycopg", reason="needs the 'postgres' extra")
    pytest.importorskip("s3fs", reason="needs the 's3' extra")
    commands = _commands(DB, S3, str(tmp_path))[:1]
    [(code, err)] = _run([], commands)
    assert code == 2  # the database at port 1 cannot be reached
    assert "extra" not in err, err
    assert "pip install" not in err, err
    assert SECRET not in err
