"""What a new user met following README.md, docs/index.md and docs/cli.md in a fresh venv.

- ``prodml demo --help`` ended "list what it registered with 'prodml registry OUT
  churn'": the registry is ``OUT/registry``, and the command it gave failed ("no
  registry at OUT").
- ``prodml demo`` printed nothing for the seconds its imports took (9 s in a fresh venv,
  which compiles them first): its first line came after numpy, pandas and scikit-learn
  had loaded.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from prodml.cli import main

if TYPE_CHECKING:
    from tests.conftest import DemoRun

SRC = Path(__file__).resolve().parents[1] / "src"


def test_the_command_demo_help_suggests_lists_what_the_demo_registered(
    demo_run: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    command = re.search(r"'(prodml registry [^']+)'", help_text)
    assert command is not None, help_text
    argv = shlex.split(command.group(1).replace("OUT", shlex.quote(str(demo_run.out))))[1:]
    assert main(argv) == 0, capsys.readouterr().err
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:2] == ["version", "status"]
    assert [line.split()[0] for line in listed[1:]] == ["3", "2", "1"]


# Runs the demo in a fresh interpreter up to its first narrated line, then stops it.
FIRST_LINE = """
import sys
from pathlib import Path
import prodml._demo as demo

class Stop(Exception):
    pass

def first(self, message):
    print(repr(message), sorted(m for m in ("numpy", "pandas", "sklearn") if m in sys.modules))
    raise Stop

demo._Progress.__call__ = first
try:
    demo.run_demo(Path(sys.argv[1]))
except Stop:
    pass
"""


def test_the_demo_says_it_started_before_loading_its_libraries(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_LINE, str(tmp_path / "out")],
        env={**env, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "'loading numpy, pandas, scikit-learn and prodml (a few seconds)' []"
    )


def test_importing_the_demo_package_loads_no_data_library() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    code = (
        "import sys, prodml._demo\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'sklearn') if m in sys.modules))\n"
        "from prodml._demo import make_churn_data\n"  # still importable, on first use
        "print(len(make_churn_data(3)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout.split("\n")[:2] == ["[]", "3"], proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "churn@1", "{tmp}/in.parquet", "{tmp}/out/deep", "--registry", "{tmp}/noreg"],
        ["score", "churn@1", "{tmp}/in.parquet", "{tmp}/out/deep", "--db", "sqlite:///{tmp}/x.db",
         "--artifacts", "{tmp}/art"],
    ],
)  # fmt: skip
def test_a_command_that_fails_leaves_no_empty_output_folder(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `prodml score ... out/` made out/ when it checked it could write there, then failed
    # on the registry (or the input): an empty folder was left for the user to clean up.
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_the_output_check_still_refuses_what_cannot_be_made(tmp_path: Path) -> None:
    from prodml._cli_files import _check_writable
    from prodml.errors import ConfigError

    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot create the folder .*file/sub"):
        _check_writable(tmp_path / "file" / "sub", folder=True)
    assert _check_writable(tmp_path / "a" / "b", folder=True) == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]  # a/ made to try, then removed
    (tmp_path / "kept").mkdir()
    _check_writable(tmp_path / "kept", folder=True)
    assert (tmp_path / "kept").is_dir()  # a folder that was there stays
