"""The package's layering: a module imports only from its own layer's allowances and below.

The design (DESIGN.md, "Layers") orders prodml's modules, lowest first:

1. core: ``errors``, ``schema``, ``fingerprint``, ``privacy``, ``lineage`` and the private
   helpers (``_data``, ``_params``, ``_quote``, ...);
2. building blocks: ``features``, ``drift``, ``fairness``, ``registry``, ``rollout``,
   ``cost``, ``explain`` and ``store`` (none imports another, except ``explain`` ->
   ``features`` and ``store`` -> ``drift``);
3. composition: ``monitoring``, ``serving``, ``retrain``, ``privacy_dp``;
4. edges: ``integrations``, ``testing``, ``cli`` (and ``__main__``), ``_demo``, and every
   package's ``_cli`` module (a subcommand, loaded by ``prodml.cli`` only).

Every import counts, lazy ones inside functions included: a lazy import still makes the
lower layer depend on the higher one. The test reads the source (``ast``), so it needs no
optional extra.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import prodml

SRC = Path(prodml.__file__).parent

CORE = 1
BLOCK = 2
COMPOSITION = 3
EDGE = 4

LAYER = {
    "errors": CORE,
    "schema": CORE,
    "fingerprint": CORE,
    "privacy": CORE,
    "lineage": CORE,
    "features": BLOCK,
    "drift": BLOCK,
    "fairness": BLOCK,
    "registry": BLOCK,
    "rollout": BLOCK,
    "cost": BLOCK,
    "explain": BLOCK,
    "store": BLOCK,
    "monitoring": COMPOSITION,
    "serving": COMPOSITION,
    "retrain": COMPOSITION,
    "privacy_dp": COMPOSITION,
    "integrations": EDGE,
    "testing": EDGE,
    "cli": EDGE,
    "__main__": EDGE,  # `python -m prodml`: the cli
    "_demo": EDGE,
}

# What composition modules may use, per DESIGN.md (beyond the core, which everyone may use).
COMPOSES = {
    "monitoring": {"drift", "fairness"},
    "serving": {"features", "registry", "rollout", "monitoring", "explain"},
    "retrain": {"registry", "rollout", "cost", "monitoring", "store"},
    "privacy_dp": {"drift", "fairness", "monitoring"},
}
# The two sanctioned imports between building blocks.
BLOCK_USES = {"explain": {"features"}, "store": {"drift"}}


def _layer(name: str) -> int:
    """A top-level name's layer; private helpers and the package root are core."""
    if name in LAYER:
        return LAYER[name]
    if name.startswith("_") or name == "__init__":
        return CORE
    raise AssertionError(f"prodml.{name} has no layer: add it to LAYER (and to DESIGN.md)")


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """The top-level prodml names the module at ``path`` imports, with their line numbers."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return _imports_in(path.read_text(encoding="utf-8"), parts)


def _imports_in(source: str, parts: tuple[str, ...]) -> list[tuple[str, int]]:
    """The top-level prodml names ``source`` imports, as the module ``prodml.<parts>``."""
    package = list(parts[:-1])  # the package the module lives in (for relative imports)
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                (a.name.split(".")[1], node.lineno)
                for a in node.names
                if a.name.startswith("prodml.")
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module is not None and node.module.split(".")[0] == "prodml":
                target = node.module.split(".")[1:]
            else:
                continue
            if target:
                found.append((target[0], node.lineno))
            else:  # `from prodml import x` / `from .. import x`: x is the top-level name
                found += [(a.name, node.lineno) for a in node.names]
    return found


def _owner(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _allowed(owner: str, path: Path, target: str) -> bool:
    if target == owner or _layer(target) == CORE:
        return True
    if path.name == "_cli.py" or _layer(owner) == EDGE:
        return True  # subcommands and edges may use anything
    if _layer(owner) == BLOCK:
        return target in BLOCK_USES.get(owner, set())
    if _layer(owner) == COMPOSITION:
        return target in COMPOSES[owner]
    return False  # core imports only core


def test_every_module_has_a_layer() -> None:
    owners = {_owner(p) for p in _modules()}
    for owner in owners:
        _layer(owner)


def _violations() -> list[str]:
    return [
        f"{path.relative_to(SRC)}:{line} imports prodml.{target}"
        for path in _modules()
        for target, line in _imports(path)
        if not _allowed(_owner(path), path, target)
    ]


def test_no_module_imports_above_its_layer() -> None:
    # In a fresh interpreter: CPython 3.11.7's ast.parse can raise "AST constructor
    # recursion depth mismatch" after other tests changed the recursion limit.
    done = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    ("owner", "target", "ok"),
    [
        ("drift", "monitoring", False),
        ("features", "drift", False),
        ("explain", "features", True),
        ("store", "drift", True),
        ("monitoring", "serving", False),
        ("errors", "schema", True),
        ("privacy", "drift", False),
        ("serving", "monitoring", True),
    ],
)
def test_the_rule_itself(owner: str, target: str, ok: bool) -> None:
    """The checker refuses what DESIGN.md forbids (so an empty finding above means something)."""
    path = SRC / owner / "x.py"
    assert _allowed(owner, path, target) is ok


def test_imports_are_resolved_to_top_level_names() -> None:
    source = (
        "from ..monitoring import x\n"
        "from . import stats\n"
        "from .._quote import q\n"
        "import prodml.rollout.canary\n"
        "from prodml import serving\n"
        "def f():\n"
        "    from prodml.store._asof import join\n"
        "import numpy\n"
    )
    found = _imports_in(source, ("drift", "_probe"))
    assert sorted(t for t, _ in found) == sorted(
        ["monitoring", "drift", "_quote", "rollout", "serving", "store"]
    )


if __name__ == "__main__":
    print(json.dumps(_violations()))
