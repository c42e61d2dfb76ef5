"""prodml's public API as a type-checked user sees it.

``tests/typing/use_*.py`` are user programs, one per area (and ``use_settings``: objects'
settings and fitted state read back as attributes), that call the public API the way
README.md, docs/*.md and the notebooks do, with ``assert_type`` on the values users act
on. Here each one is type-checked with ``mypy --strict`` (CI runs the same check, and
pyright in strict mode, as steps of ``.ci/run``) and run, so every annotation they pin is
also checked against the runtime.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = sorted((ROOT / "tests" / "typing").glob("use_*.py"))
AREAS = [
    "cost",
    "drift",
    "explain",
    "fairness",
    "features",
    "integrations_dask",
    "monitoring",
    "privacy",
    "registry",
    "retrain",
    "rollout",
    "serving",
    "settings",
    "store",
    "testing",
]


def test_one_program_per_area() -> None:
    assert sorted(p.stem.removeprefix("use_") for p in PROGRAMS) == AREAS


def test_programs_pass_mypy_strict() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed: it comes with the 'dev' extra")
    env = dict(os.environ, MYPYPATH=str(ROOT / "src"))  # this checkout's prodml
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "tests/typing"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"no issues found in {len(PROGRAMS)} source files" in result.stdout


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_program_runs(program: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # anything a program writes lands here
    spec = importlib.util.spec_from_file_location(f"typing_user_{program.stem}", program)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()  # each program asserts what it shows at runtime, next to assert_type
