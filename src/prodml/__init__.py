"""prodml: production ML building blocks.

Feature pipelines that give the same answer in training and serving, drift detection
that stays honest on big data, a model registry over real backends, rollout policies,
cost estimators and monitoring — each a plain, typed object with a fast embedded default.

The names most users need are importable from here; everything else lives in its
subpackage: ``prodml.schema``, ``prodml.fingerprint``, ``prodml.features``,
``prodml.drift``, ``prodml.fairness``, ``prodml.explain``, ``prodml.store``,
``prodml.registry``, ``prodml.rollout``, ``prodml.cost``, ``prodml.monitoring``,
``prodml.serving``, ``prodml.retrain``, ``prodml.lineage``, ``prodml.privacy``,
``prodml.privacy_dp``, ``prodml.integrations``, ``prodml.testing``, ``prodml.errors``.

``import prodml`` is instant: it loads no numpy, pandas, pyarrow or pydantic (not even
``typing``). The names in ``__all__`` are resolved on first use (PEP 562), so
``prodml.Schema`` imports :mod:`prodml.schema` only when a program touches it; so are the
subpackages, so ``prodml.drift.DriftDetector`` works after a bare ``import prodml``, as
``import prodml.drift`` does.

Examples
--------
>>> import prodml
>>> isinstance(prodml.__version__, str)
True
>>> prodml.Schema is __import__("prodml.schema").schema.Schema
True
>>> prodml.drift.__name__
'prodml.drift'
"""

# The first statement: the `prodml` command's Ctrl-C handling starts here, before any
# module is looked for (see _interrupted_while_starting). No `from __future__ import
# annotations` for the same reason (it imports a module): the annotations are quoted.
import sys as _sys


def _interrupted_while_starting(
    kind: "type[BaseException]", value: BaseException, tb: "TracebackType | None"
) -> None:
    """``sys.excepthook`` while the ``prodml`` command starts: Ctrl-C prints one line.

    A Ctrl-C while the command is still loading (this package, then ``prodml.cli`` with
    argparse and pathlib: the first tens of milliseconds, before :func:`prodml.cli.main`
    catches it) is raised in the import machinery, and Python's own hook would print its
    traceback. This one prints ``interrupted`` instead, as ``main`` does; Python then ends
    the process by SIGINT, which a shell reports as 130. Installed only when the program
    is the command (the console script, or ``python -m prodml``): a program importing
    prodml keeps its own hook. ``main`` puts the previous one back once it runs.
    """
    _sys.excepthook = _hook_before_start
    if _caused_by_ctrl_c(value):
        print("interrupted", file=_sys.stderr)
    else:  # an error of the standard library while starting: Python's report
        _hook_before_start(kind, value, tb)


def _caused_by_ctrl_c(err: BaseException | None) -> bool:
    """Whether ``err`` is a Ctrl-C, or an error raised because of one.

    Python 3.11 wraps a ``KeyboardInterrupt`` raised in a descriptor's ``__set_name__``
    (a class body with a ``functools.cached_property``: ipaddress, imported by pathlib)
    in a ``RuntimeError`` whose ``__cause__`` it is. Some errors lose it altogether: a C
    extension whose import of a dependency was interrupted raises a plain ImportError
    (numpy: ``PyCapsule_Import could not import module "datetime"``); in the command, the
    SIGINT handler's note (:func:`_note_ctrl_c`) tells those apart.
    """
    if _ctrl_c_noted:
        return True
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__
    return False


def _started_as_command() -> bool:
    """Whether this process is the ``prodml`` command: the console script or ``-m prodml``.

    - ``python -m prodml`` (or ``-m prodml.cli``): the module after ``-m`` in
      ``sys.orig_argv``. Not ``sys.argv[0]``, which is ``-m`` also while ``python -m app``
      imports the package ``app``, which may import prodml: that program is not the command.
    - The console script, under any name or link (renamed, ``pipx``'s link, a wrapper
      script or ``-m`` module): the ``__main__`` module's code imports
      ``prodml.__main__``, as the script pip, uv and pipx write does, and is importing
      prodml now (at module level, not in a function of it).
    - Another installer's script (an old ``pkg_resources`` one): by its name, ``prodml``
      (``prodml.exe``, ``prodml-script.py`` on Windows).

    Anything else (``python -c "import prodml"``, a program, a notebook, ``pytest``) is
    not the command: its ``sys.excepthook`` and SIGINT handler stay its own.
    """
    module = _module_run(getattr(_sys, "orig_argv", None) or [])
    if module in ("prodml", "prodml.__main__", "prodml.cli"):
        return True
    frame = _sys._getframe(1) if hasattr(_sys, "_getframe") else None
    while frame is not None:  # the import machinery's frames, then who imports prodml
        if frame.f_globals.get("__name__") == "__main__":
            if frame.f_code.co_name == "<module>" and "prodml.__main__" in frame.f_code.co_names:
                return True
            break
        frame = frame.f_back
    if module is not None:  # `python -m app`: sys.argv[0] is "-m", then app's file
        return False
    argv = getattr(_sys, "argv", None) or [""]
    name = str(argv[0]).replace("\\", "/").rpartition("/")[2].lower()
    return name in ("prodml", "prodml.exe", "prodml-script.py")


def _module_run(orig_argv: "list[str]") -> "str | None":
    """The ``MODULE`` of ``python [options] -m MODULE ...``; ``None`` for anything else.

    Python's own options are skipped as it reads them: single-letter flags may be
    grouped (``-Im prodml``), and ``-m``, ``-c``, ``-W``, ``-X`` take the rest of their
    word or the next one (``-mprodml``, ``-X dev``).
    """
    i = 1
    while i < len(orig_argv):
        arg = orig_argv[i]
        if arg in ("-", "--") or not arg.startswith("-"):
            return None  # a script, standard input
        i += 1
        if arg.startswith("--"):
            if arg == "--check-hash-based-pycs":  # its value is the next word
                i += 1
            continue
        for at, flag in enumerate(arg[1:], start=2):
            if flag in "cmWX":
                value = arg[at:]
                if not value and i < len(orig_argv):
                    value, i = orig_argv[i], i + 1
                if flag in "cm":
                    return value if flag == "m" else None
                break
    return None


def _note_ctrl_c(signum: int, frame: object) -> None:
    """The command's SIGINT handler: note the Ctrl-C, then raise it as Python's own does."""
    _ctrl_c_noted.append(signum)
    raise KeyboardInterrupt


_ctrl_c_noted: "list[int]" = []
_hook_before_start = _sys.excepthook
if _started_as_command():
    _sys.excepthook = _interrupted_while_starting
    import _signal  # type: ignore[import-not-found]  # the C module: signal.py imports enum

    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:  # not ignored
        try:  # noqa: SIM105 - contextlib is not loaded yet, and need not be
            _signal.signal(_signal.SIGINT, _note_ctrl_c)
        except ValueError:  # not the main thread: Python's handler stays
            pass

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from types import TracebackType
    from typing import Any

    from prodml.errors import ProdMLError
    from prodml.schema import Column, Schema

__version__ = "0.1.0"

__all__ = ["Column", "ProdMLError", "Schema", "__version__"]

# Name -> module that defines it; imported on first attribute access.
_LAZY = {"Column": "prodml.schema", "ProdMLError": "prodml.errors", "Schema": "prodml.schema"}

# The public modules and subpackages, imported on first attribute access (`prodml.drift`
# after a bare `import prodml`); tests/test_startup.py keeps this in step with src/prodml.
_SUBMODULES = frozenset(
    {
        "cli", "cost", "drift", "errors", "explain", "fairness", "features", "fingerprint",
        "integrations", "lineage", "monitoring", "privacy", "privacy_dp", "registry",
        "retrain", "rollout", "schema", "serving", "store", "testing",
    }
)  # fmt: skip


def __getattr__(name: str) -> "Any":
    import importlib  # noqa: PLC0415 - first use only

    if name in _SUBMODULES:
        return importlib.import_module(f"prodml.{name}")  # the import system sets the name
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prodml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
