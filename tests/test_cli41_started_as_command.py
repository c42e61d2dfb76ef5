"""Which processes are the ``prodml`` command, whose start-up Ctrl-C handling they get.

``prodml/__init__.py`` sets a SIGINT handler and ``sys.excepthook`` only in the command.
It knew the command by ``sys.argv[0]``: the console script's name, or ``-m``. But
``sys.argv[0]`` is ``-m`` also while ``python -m app`` imports the package ``app``: a
service whose package imports prodml lost ``asyncio.run``'s own Ctrl-C handling (it
installs one only over Python's default handler). And a renamed or linked console script
(``pipx install --suffix``, ``ln -s``) was not the command. Each case runs in a fresh
process; the SIGINT handler it ends with says what prodml decided.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import prodml

SRC = Path(__file__).resolve().parents[1] / "src"

# Prints, at exit, the SIGINT handler the process ends with.
REPORT = """
import atexit, signal, sys
atexit.register(lambda: print(
    "SIGINT:", getattr(signal.getsignal(signal.SIGINT), "__name__", "?"), file=sys.stderr
))
"""

COMMAND, PROGRAM = "_note_ctrl_c", "default_int_handler"


def _sigint_as_a_terminal_leaves_it() -> None:
    # A suite run in the background of a non-interactive shell (`pytest &`) starts with
    # SIGINT ignored, which children inherit and prodml rightly keeps: the cases here are
    # about a process started from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _handler_after(args: list[str], tmp_path: Path, cwd: Path | None = None) -> str:
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(REPORT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(hooks), str(SRC), str(tmp_path)])
    proc = subprocess.run(
        args,
        env=env,
        cwd=cwd or tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_sigint_as_a_terminal_leaves_it,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("SIGINT: ")]
    assert lines, proc.stderr
    return lines[-1].removeprefix("SIGINT: ")


def _script(folder: Path, name: str) -> Path:
    """A console script as pip, uv and pipx write it (the installed one's text)."""
    import shutil

    found = shutil.which("prodml", path=os.path.dirname(sys.executable))
    assert found, "the prodml console script is installed beside the test interpreter"
    text = Path(found).read_text()
    assert "from prodml.__main__ import main\n" in text  # what the check relies on
    script = folder / name
    script.write_text(f"#!{sys.executable}\n" + text.partition("\n")[2])
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "prodml", "version"],
        ["-m", "prodml.cli", "version"],
        ["-B", "-mprodml", "version"],  # options before, the module glued to -m
        ["-X", "utf8", "-W", "ignore", "-m", "prodml", "version"],
    ],
    ids=["-m prodml", "-m prodml.cli", "-mprodml", "options"],
)
def test_python_m_prodml_is_the_command(args: list[str], tmp_path: Path) -> None:
    assert _handler_after([sys.executable, *args], tmp_path) == COMMAND


@pytest.mark.parametrize("name", ["prodml", "pml", "prodml_dev", "prodml@1.0"])
@pytest.mark.parametrize("how", ["copy", "symlink"])
def test_the_console_script_is_the_command_under_any_name(
    name: str, how: str, tmp_path: Path
) -> None:
    # pipx links venv/bin/prodml into ~/.local/bin (named prodml, or with --suffix).
    script = _script(tmp_path, "prodml-real")
    path = tmp_path / "bin" / name
    path.parent.mkdir()
    if how == "symlink":
        path.symlink_to(script)
    else:
        path.write_bytes(script.read_bytes())
        path.chmod(0o755)
    assert _handler_after([str(path), "version"], tmp_path) == COMMAND


def test_the_installed_console_script_is_the_command(tmp_path: Path) -> None:
    import shutil

    found = shutil.which("prodml", path=os.path.dirname(sys.executable))
    assert found, "the prodml console script is installed beside the test interpreter"
    assert _handler_after([found, "version"], tmp_path) == COMMAND


def test_python_m_of_a_package_importing_prodml_is_not_the_command(tmp_path: Path) -> None:
    # Before: the command's handler, as sys.argv[0] is "-m" while runpy imports `app`.
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("import prodml\n")
    (app / "__main__.py").write_text("import prodml.schema\n")
    assert _handler_after([sys.executable, "-m", "app"], tmp_path) == PROGRAM


def test_asyncio_keeps_its_ctrl_c_handling_in_python_m_app(tmp_path: Path) -> None:
    # asyncio.run cancels its task on Ctrl-C only over Python's own SIGINT handler.
    app = tmp_path / "svc"
    app.mkdir()
    (app / "__init__.py").write_text("import prodml\n")
    (app / "__main__.py").write_text(
        "import asyncio, signal\n"
        "async def main():\n"
        "    handler = signal.getsignal(signal.SIGINT)\n"
        "    print('asyncio:', getattr(handler, 'func', handler).__qualname__)\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(tmp_path)])
    proc = subprocess.run(
        [sys.executable, "-m", "svc"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_sigint_as_a_terminal_leaves_it,
    )
    assert proc.stdout.strip() == "asyncio: Runner._on_sigint", proc.stderr


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import prodml", PROGRAM),
        ("import prodml.cli", PROGRAM),
        ("def f():\n    from prodml.__main__ import main\nf()", PROGRAM),  # not module level
        ("from prodml.__main__ import main", COMMAND),  # the console script's own line
    ],
    ids=["import", "import-cli", "in-a-function", "entry-import"],
)
def test_python_c_and_programs(code: str, expected: str, tmp_path: Path) -> None:
    assert _handler_after([sys.executable, "-c", code], tmp_path) == expected
    program = tmp_path / "mine.py"
    program.write_text(code + "\n")
    assert _handler_after([sys.executable, str(program)], tmp_path) == expected


def test_a_wrapper_script_entering_through_prodml_main_is_the_command(tmp_path: Path) -> None:
    tool = tmp_path / "tool.py"
    tool.write_text("import sys\nfrom prodml.__main__ import main\nsys.exit(main())\n")
    assert _handler_after([sys.executable, str(tool), "version"], tmp_path) == COMMAND


@pytest.mark.parametrize(
    ("orig_argv", "module"),
    [
        (["python", "-m", "prodml"], "prodml"),
        (["python", "-mprodml", "demo"], "prodml"),
        (["python", "-Im", "prodml.cli", "-m", "x"], "prodml.cli"),
        (["python", "-X", "dev", "-Wd", "-m", "app"], "app"),
        (["python", "-Xdev", "-W", "error", "-E", "-m", "app"], "app"),
        (["python", "--check-hash-based-pycs", "always", "-m", "app"], "app"),
        (["python", "-c", "-m prodml"], None),
        (["python", "-Ic", "import prodml", "-m", "prodml"], None),
        (["python", "script.py", "-m", "prodml"], None),  # the script's own -m
        (["python", "-", "-m", "prodml"], None),  # standard input
        (["python", "--", "-m"], None),
        (["python"], None),
        ([], None),
    ],
)
def test_module_run_reads_options_as_python_does(orig_argv: list[str], module: str | None) -> None:
    assert prodml._module_run(orig_argv) == module
