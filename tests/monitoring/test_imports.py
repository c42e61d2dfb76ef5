"""Importing prodml.monitoring pulls in no optional extra and not prodml.drift (lazy)."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light() -> None:
    code = (
        "import sys, prodml.monitoring, prodml.monitoring.prometheus, prodml.monitoring.otel\n"
        "heavy = {'prometheus_client', 'opentelemetry', 'prodml.drift', 'scipy'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
