"""Headless Chromium for the tests that look at rendered pages (Debian's ``chromium``).

``.ci/run`` installs it when it is missing, so in CI these tests never skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="needs Chromium (apt-get install chromium); CI installs it and never skips",
)


def chromium(page: Path, *flags: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Load ``page`` headless with ``flags``; its log (console messages too) is on stderr.

    ``profile`` is the user-data folder Chromium may write to.
    """
    assert CHROMIUM is not None, "Chromium is not installed (CI installs it in .ci/run)"
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={profile}",
            *flags,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def console(log: str) -> list[str]:
    """The console messages in a Chromium log."""
    return re.findall(r"CONSOLE[^\]]*\] (.*)", log)
