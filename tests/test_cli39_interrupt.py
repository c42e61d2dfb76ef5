"""Ctrl-C at any moment of a real ``prodml`` process: one line, ``interrupted``, no traceback.

A SIGINT is sent to a real subprocess (the console script) at chosen moments: while
``prodml.cli`` itself is importing (before :func:`prodml.cli.main` runs), while a
subcommand's module is importing, and while a long command reads its file. The moments
are made exact with a ``sitecustomize`` module on ``PYTHONPATH`` whose import hook sends
the signal when a given module starts to load, or by watching ``/proc`` for the open file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Sends SIGINT to its own process when TRIGGER starts to load while WHILE is loading,
# then sleeps: the KeyboardInterrupt is raised inside that import, as a real Ctrl-C is.
SITECUSTOMIZE = """
import os, signal, sys, time

class _Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["CLI39_TRIGGER"] and os.environ["CLI39_WHILE"] in sys.modules:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        return None

sys.meta_path.insert(0, _Interrupt())
"""


def _script() -> str:
    found = shutil.which("prodml", path=os.path.dirname(sys.executable))
    assert found, "the prodml console script is installed beside the test interpreter"
    return found


def _env(hooks: Path | None, **extra: str) -> dict[str, str]:
    path = [str(SRC)] if hooks is None else [str(hooks), str(SRC)]
    # The test's own Python settings only: an inherited PYTHONWARNINGS naming a category
    # imports its module (and pathlib, argparse...) before prodml.cli starts to load.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return {**env, "PYTHONPATH": os.pathsep.join(path), **extra}


def _ctrl_c_as_a_terminal_delivers_it() -> None:
    """In the child, before exec: SIGINT default and unblocked, as a terminal's job has it.

    Both are inherited through exec: a test process that ignores or blocks SIGINT (some
    libraries block it around the processes they start) would start a prodml that the
    signal never reaches, and it would run to the end with exit 0.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


def _interrupted(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "KeyboardInterrupt" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == ["interrupted"], proc.stderr
    # 130 from main(); killed by SIGINT (which a shell shows as 130) before main runs.
    assert proc.returncode in (130, -signal.SIGINT), proc.returncode


@pytest.mark.parametrize("trigger", ["argparse", "pathlib"])
def test_ctrl_c_while_prodml_cli_imports_prints_no_traceback(hooks: Path, trigger: str) -> None:
    # Before the fix: Python's traceback of the import machinery, ending 'KeyboardInterrupt'.
    proc = subprocess.run(
        [_script(), "--help"],
        env=_env(hooks, CLI39_TRIGGER=trigger, CLI39_WHILE="prodml.cli"),
        preexec_fn=_ctrl_c_as_a_terminal_delivers_it,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    _interrupted(proc)
    assert proc.stdout == ""


def test_ctrl_c_while_python_m_prodml_imports_prints_no_traceback(hooks: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "prodml", "--help"],
        env=_env(hooks, CLI39_TRIGGER="argparse", CLI39_WHILE="prodml.cli"),
        preexec_fn=_ctrl_c_as_a_terminal_delivers_it,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    _interrupted(proc)


def test_ctrl_c_while_a_subcommand_module_imports(hooks: Path, tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1.0, 2.0]}), tmp_path / "a.parquet")
    proc = subprocess.run(
        [_script(), "schema", str(tmp_path / "a.parquet")],
        env=_env(hooks, CLI39_TRIGGER="pyarrow.parquet", CLI39_WHILE="prodml.cli"),
        preexec_fn=_ctrl_c_as_a_terminal_delivers_it,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    _interrupted(proc)
    assert proc.returncode == 130


def test_interrupt_hook_is_gone_after_a_complete_import() -> None:
    code = "import sys; h = sys.excepthook; import prodml.cli; print(sys.excepthook is h)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(None),
        preexec_fn=_ctrl_c_as_a_terminal_delivers_it,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "True"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_ctrl_c_during_a_long_drift_ends_with_130_and_one_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    big = tmp_path / "big.parquet"
    table = pa.table({f"x{i}": rng.normal(size=2_000_000) for i in range(4)})
    pq.write_table(table, big, row_group_size=50_000)
    proc = subprocess.Popen(
        [_script(), "drift", str(big), str(big)],
        env=_env(None),
        preexec_fn=_ctrl_c_as_a_terminal_delivers_it,  # noqa: PLW1509
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    fds = Path(f"/proc/{proc.pid}/fd")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # until it reads the file
        try:
            if any(os.readlink(fd) == str(big) for fd in fds.iterdir()):
                break
        except OSError:  # a descriptor closed while listed
            pass
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    _interrupted(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert proc.returncode == 130
