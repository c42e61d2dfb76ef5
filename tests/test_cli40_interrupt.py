"""Ctrl-C from the first statement of prodml on: ``interrupted``, never a traceback.

Stop 39 caught a Ctrl-C from ``prodml.cli``'s first line on; one while ``import prodml``
ran, or while the import system looked for ``prodml.cli``, still printed Python's
traceback. The command now starts in ``prodml/__init__.py``'s first statement (when the
process is the command) and enters through the tiny ``prodml.__main__``.

The signal is sent at exact moments by a ``sitecustomize`` on ``PYTHONPATH``: when a given
module is looked for, or a chosen delay after ``import prodml`` (an audit hook on the
first import after it). What Python does before that (its own start-up, ``site``,
finding the ``prodml`` folder) is out of prodml's reach.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import prodml
from prodml import cli

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# Sends SIGINT when TRIGGER is looked for while WHILE is loaded, then sleeps: the
# KeyboardInterrupt is raised inside that import, as a real Ctrl-C is.
AT_IMPORT = """
import os, signal, sys, time

class _Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["CLI40_TRIGGER"] and os.environ["CLI40_WHILE"] in sys.modules:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        return None

sys.meta_path.insert(0, _Interrupt())
"""

# Sends SIGINT CLI40_DELAY seconds after `import prodml` ran, from the first import after
# it: a thread started before, waiting, so that nothing but the delay stands between.
AFTER_DELAY = """
import os, signal, sys, threading, time

_go = threading.Event()

def _send():
    _go.wait()
    time.sleep(float(os.environ["CLI40_DELAY"]))
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=_send, daemon=True).start()

def _audit(event, args):
    # The event of `prodml.cli` comes before prodml is imported as its parent: wait for one
    # once prodml ran (its first submodule, or the first module that one imports).
    prodml = sys.modules.get("prodml")
    if event == "import" and not _go.is_set() and prodml is not None:
        if not getattr(prodml.__spec__, "_initializing", True):
            _go.set()

sys.addaudithook(_audit)
"""


def _ctrl_c_as_a_terminal_delivers_it() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _env(hooks: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return {**env, "PYTHONPATH": os.pathsep.join([str(hooks), str(SRC)]), **extra}


def _hooks(tmp_path: Path, code: str) -> Path:
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(code)
    return folder


def _installed_script() -> Path:
    found = shutil.which("prodml", path=os.path.dirname(sys.executable))
    assert found, "the prodml console script is installed beside the test interpreter"
    return Path(found)


def _declared_script(folder: Path) -> Path:
    """The console script an installer writes for pyproject's entry point, in ``folder``.

    The installed one may predate the entry point (an editable install keeps the script
    it wrote): it is the template, with its import line pointed at the declared entry.
    """
    entry = re.search(
        r'^\[project\.scripts\]\nprodml = "([\w.]+):(\w+)"$',
        (ROOT / "pyproject.toml").read_text(),
        re.MULTILINE,
    )
    assert entry, "pyproject.toml declares the prodml console script"
    template = _installed_script().read_text()
    text, count = re.subn(
        r"^from [\w.]+ import \w+$",
        f"from {entry[1]} import {entry[2]}",
        template,
        count=1,
        flags=re.MULTILINE,
    )
    assert count == 1, template
    script = folder / "prodml"  # the name: the command knows itself by it
    script.write_text(f"#!{sys.executable}\n" + text.partition("\n")[2])
    script.chmod(0o755)
    return script


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=env,
        preexec_fn=_ctrl_c_as_a_terminal_delivers_it,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _interrupted(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "KeyboardInterrupt" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == ["interrupted"], proc.stderr
    # 130 from main(); killed by SIGINT (which a shell shows as 130) before main runs.
    assert proc.returncode in (130, -signal.SIGINT), proc.returncode


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0]}), path)
    return path


def test_the_console_script_enters_through_the_tiny_entry_module() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '\n[project.scripts]\nprodml = "prodml.__main__:main"\n' in text


@pytest.mark.parametrize("script", ["installed", "declared"])
def test_ctrl_c_while_the_import_system_looks_for_prodml_cli(tmp_path: Path, script: str) -> None:
    # Before: a traceback of <frozen importlib._bootstrap>, from the script's import line.
    hooks = _hooks(tmp_path, AT_IMPORT)
    path = _installed_script() if script == "installed" else _declared_script(tmp_path)
    env = _env(hooks, CLI40_TRIGGER="prodml.cli", CLI40_WHILE="prodml")
    proc = _run([str(path), "--help"], env)
    _interrupted(proc)
    assert proc.stdout == ""


def test_ctrl_c_while_import_prodml_runs(tmp_path: Path) -> None:
    # prodml/__init__.py imported __future__ before anything else, outside any handling.
    hooks = _hooks(tmp_path, AT_IMPORT)
    env = _env(hooks, CLI40_TRIGGER="__future__", CLI40_WHILE="prodml")
    _interrupted(_run([str(_declared_script(tmp_path)), "--help"], env))


def test_ctrl_c_while_python_m_prodml_looks_for_its_main(tmp_path: Path) -> None:
    hooks = _hooks(tmp_path, AT_IMPORT)
    env = _env(hooks, CLI40_TRIGGER="prodml.__main__", CLI40_WHILE="prodml")
    _interrupted(_run([sys.executable, "-m", "prodml", "--help"], env))


@pytest.mark.parametrize("script", ["installed", "declared"])
@pytest.mark.parametrize("delay_ms", [0, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50])
def test_ctrl_c_at_any_delay_after_import_prodml(
    tmp_path: Path, parquet: Path, delay_ms: float, script: str
) -> None:
    # `schema` loads pyarrow and pydantic: a run of several hundred milliseconds, so every
    # delay lands while the command still runs (at start-up, or under main()).
    hooks = _hooks(tmp_path, AFTER_DELAY)
    path = _installed_script() if script == "installed" else _declared_script(tmp_path)
    env = _env(hooks, CLI40_DELAY=str(delay_ms / 1000))
    _interrupted(_run([str(path), "schema", str(parquet)], env))


def test_a_program_importing_prodml_keeps_its_excepthook(tmp_path: Path) -> None:
    # Named otherwise than the command: `import prodml` changes nothing of the program's.
    program = tmp_path / "mine.py"
    program.write_text(
        "import sys\nh = sys.excepthook\nimport prodml, prodml.cli\nprint(sys.excepthook is h)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = _run([sys.executable, str(program)], {**env, "PYTHONPATH": str(SRC)})
    assert proc.stdout.strip() == "True", proc.stderr


def test_main_puts_back_the_hook_the_command_started_with(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def before(*args: object) -> None:  # pragma: no cover - never called
        raise AssertionError(args)

    monkeypatch.setattr(prodml, "_hook_before_start", before)
    monkeypatch.setattr(sys, "excepthook", prodml._interrupted_while_starting)
    assert cli.main(["version"]) == 0
    assert sys.excepthook is before
    assert capsys.readouterr().out.strip() == prodml.__version__


def _wrapped_ctrl_c() -> RuntimeError:
    """What Python 3.11 raises for a Ctrl-C inside ``__set_name__`` (seen importing pathlib)."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            raise RuntimeError("Error calling __set_name__ on 'cached_property'") from err
    except RuntimeError as wrapped:
        return wrapped


def test_a_ctrl_c_python_wrapped_in_a_runtime_error_is_an_interrupt_not_a_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: the RuntimeError's traceback, "a bug in prodml (RuntimeError)", exit 70.
    def version(args: object) -> int:
        raise _wrapped_ctrl_c()

    monkeypatch.setattr(cli, "_cmd_version", version)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # _interrupted() resets SIGINT
    assert cli.main(["version"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_the_start_up_hook_knows_a_wrapped_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[type[BaseException]] = []
    monkeypatch.setattr(prodml, "_hook_before_start", lambda kind, *_: seen.append(kind))
    monkeypatch.setattr(sys, "excepthook", prodml._interrupted_while_starting)
    wrapped = _wrapped_ctrl_c()
    prodml._interrupted_while_starting(RuntimeError, wrapped, wrapped.__traceback__)
    assert capsys.readouterr().err == "interrupted\n"
    assert seen == []
    other = ValueError("not a Ctrl-C")
    prodml._interrupted_while_starting(ValueError, other, None)
    assert seen == [ValueError]  # Python's report of anything else


def test_an_error_that_lost_its_ctrl_c_is_an_interrupt_after_the_handler_noted_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI caught numpy turning a Ctrl-C during its import into a bare ImportError.

    CPython's ``PyCapsule_Import`` replaces the KeyboardInterrupt of the module it imports
    with ``ImportError('PyCapsule_Import could not import module "datetime"')``: nothing in
    the error says why, so the command's SIGINT handler notes the Ctrl-C.
    """
    lost = ImportError('PyCapsule_Import could not import module "datetime"')
    monkeypatch.setattr(prodml, "_ctrl_c_noted", [])
    assert not prodml._caused_by_ctrl_c(lost)  # without the note: a bug, as before
    with pytest.raises(KeyboardInterrupt):
        prodml._note_ctrl_c(signal.SIGINT, None)  # raises as Python's own handler does
    assert prodml._caused_by_ctrl_c(lost)

    def version(args: object) -> int:
        raise lost

    monkeypatch.setattr(cli, "_cmd_version", version)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # _interrupted() resets SIGINT
    assert cli.main(["version"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


@pytest.mark.parametrize(
    ("argv0", "handler"), [("prodml", "_note_ctrl_c"), ("mine.py", "default_int_handler")]
)
def test_only_the_command_notes_ctrl_c(argv0: str, handler: str) -> None:
    code = (
        f"import sys; sys.argv[0] = {argv0!r}; import prodml, signal; "
        "print(signal.getsignal(signal.SIGINT).__name__)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = _run([sys.executable, "-c", code], {**env, "PYTHONPATH": str(SRC)})
    assert proc.stdout.strip() == handler, proc.stderr
