"""Shared test configuration: a deterministic hypothesis profile for CI and local runs.

Also the one run of ``prodml demo`` that the demo, CLI and report-rendering tests read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Derandomised so that CI is reproducible; PRODML_HYPOTHESIS=dev explores new examples.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("PRODML_HYPOTHESIS", "ci"))


@dataclass(frozen=True)
class DemoRun:
    """What one ``prodml demo`` command left behind: its folder, stdout and summary.json."""

    out: Path
    stdout: str
    summary: dict[str, Any]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``prodml demo --out DIR --quiet`` run once, as a user runs it, in a fresh interpreter.

    The demo takes seconds; tests/test_demo.py, tests/test_cli.py and
    tests/test_reports_render.py read what this one run wrote instead of running it each.
    A test that writes into the folder (running the demo again) works on a copy.
    """
    out = tmp_path_factory.mktemp("demo") / "prodml-demo"
    proc = subprocess.run(
        [sys.executable, "-m", "prodml.cli", "demo", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return DemoRun(out, proc.stdout, summary)
