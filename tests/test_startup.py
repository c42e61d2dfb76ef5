"""``import prodml`` and ``prodml --help`` / ``--version`` load no heavy library (issue 16).

Timings live in benchmarks/bench_startup.py; here, the cause of a slow start is checked:
which modules a fresh interpreter has loaded after each command.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import prodml
from prodml import cli

HEAVY = ("pandas", "scipy", "pyarrow", "sklearn", "numpy", "pydantic", "sqlalchemy")

_REPORT = "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"


def _loaded_after(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code + _REPORT], capture_output=True, text=True, check=True
    )
    return set(proc.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import prodml",
        "import prodml, prodml.errors; prodml.__version__",
        "from prodml.cli import main\nassert main(['--help']) == 0",
        "from prodml.cli import main\nassert main(['--version']) == 0",
        "from prodml.cli import main\nmain(['version'])",
        "from prodml.cli import main\nassert main(['no-such-command']) == 2",
    ],
    ids=["import", "version-attr", "--help", "--version", "version", "bad-command"],
)
def test_no_heavy_import(code: str) -> None:
    loaded = _loaded_after(code)
    assert "prodml" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_console_script_help_lists_every_command_without_heavy_imports() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "prodml.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for name in ("demo", "drift", "registry", "serve", "score", "store", "schema"):
        assert f"    {name} " in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()}
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


def test_lazy_names_resolve_to_the_real_objects() -> None:
    from prodml.schema import Column, Schema

    assert prodml.Schema is Schema
    assert prodml.Column is Column
    assert {"Schema", "Column", "ProdMLError"} <= set(dir(prodml))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = prodml.nope  # type: ignore[attr-defined]


def test_subpackages_resolve_after_a_bare_import() -> None:
    # `import prodml; prodml.drift.DriftDetector()` was "module 'prodml' has no attribute
    # 'drift'" unless prodml.drift had been imported somewhere first.
    code = "import prodml\nassert prodml.drift.DriftDetector.__module__.startswith('prodml.drift')"
    assert "numpy" in _loaded_after(code)  # imported when used, not by `import prodml`
    src = Path(prodml.__file__).parent
    public = {
        p.stem for p in src.iterdir() if not p.name.startswith("_") and p.suffix in ("", ".py")
    }
    assert public == prodml._SUBMODULES


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _help_lines(parser: argparse.ArgumentParser) -> dict[str, str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: str(a.help) for a in action._choices_actions}


def test_listed_help_matches_what_each_plugin_registers() -> None:
    # The lazy list in cli._PLUGINS must say what the loaded subcommand says.
    full = _help_lines(cli.build_parser())
    lazy = _help_lines(cli.build_parser(""))
    assert lazy == full
    assert set(cli._PLUGINS) <= set(full)


def test_only_the_chosen_plugin_is_loaded() -> None:
    parser = cli.build_parser("drift")
    subs = _subparsers(parser)
    assert subs["drift"].get_default("func") is not None
    assert subs["registry"].get_default("func") is None  # listed only
    args = parser.parse_args(["drift", "a.parquet", "b.parquet"])
    assert args.command == "drift"
