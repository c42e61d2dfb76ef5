"""report.html and drift.html render in headless Chromium without a console error (issue 16).

The demo's two reports are opened in Debian's Chromium (``/usr/bin/chromium``; ``.ci/run``
installs it when it is missing); any console message (a script error, a resource that
failed to load) fails the test. Full-page screenshots are saved under ``build/`` for a
reviewer to look at: ``build/report.png`` and ``build/drift.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests._chromium import chromium, console, needs_chromium

if TYPE_CHECKING:
    from tests.conftest import DemoRun

BUILD = Path(__file__).resolve().parents[1] / "build"
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def demo_out(demo_run: DemoRun) -> Path:
    return demo_run.out  # the `prodml demo` run shared with tests/test_demo.py


def _render(page: Path, shot: Path, height: int) -> list[str]:
    """Screenshot ``page``; return the console messages Chromium logged while loading it."""
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    proc = chromium(
        page,
        "--hide-scrollbars",
        f"--window-size=1280,{height}",
        f"--screenshot={shot}",
        profile=shot.parent / ".chromium",
    )
    assert shot.stat().st_size > 10_000  # a real picture, not a blank page
    return console(proc.stderr)


@pytest.mark.parametrize(("name", "height"), [("report", 4600), ("drift", 2200)])
def test_report_renders_without_console_errors(demo_out: Path, name: str, height: int) -> None:
    console = _render(demo_out / f"{name}.html", BUILD / f"{name}.png", height)
    assert console == [], console


def test_a_console_error_is_caught(tmp_path: Path) -> None:
    # The check itself works: a page with a script error is reported.
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><h1>" + "x " * 2000 + "</h1><script>undefinedFn()</script></body></html>"
    )
    console = _render(page, tmp_path / "bad.png", 800)
    assert any("undefinedFn is not defined" in line for line in console)
