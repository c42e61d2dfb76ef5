"""Pages built from hostile names, opened in headless Chromium: nothing runs, nothing is injected.

The drift report, the model card and the explanation tables of
``tests/test_render_hostile.py`` are loaded in Debian's Chromium (as in
``tests/test_reports_render.py``); the payloads would log ``PWNED`` to the console if a
script ran or an ``onerror`` fired. The DOM Chromium built is read back (``--dump-dom``):
it must hold no element the data could have injected, and each name exactly once per
place it is shown.
"""

from __future__ import annotations

from pathlib import Path

from tests._chromium import chromium, console, needs_chromium
from tests.test_render_hostile import HOSTILE, INJECTED_TAGS, _elements, card, report  # noqa: F401 - the shared fixtures

from prodml.drift import DriftReport
from prodml.registry import ModelCard

pytestmark = needs_chromium


def _load(page: Path) -> tuple[str, str]:
    """The DOM Chromium built from ``page`` and its log (console messages included)."""
    proc = chromium(
        page,
        "--virtual-time-budget=3000",  # time for an onerror to fire
        "--dump-dom",
        profile=page.parent / ".chromium",
    )
    return proc.stdout, proc.stderr


def _check(page: Path, bdi: int | None = None) -> str:
    dom, log = _load(page)
    assert "PWNED" not in log, console(log)
    assert console(log) == []
    tags = [t for t, _ in _elements(dom).tags]
    assert not INJECTED_TAGS & set(tags), sorted(INJECTED_TAGS & set(tags))
    assert not [a for _, attrs in _elements(dom).tags for a in attrs if a.startswith("on")]
    assert tags.count("style") == 1
    if bdi is not None:
        assert tags.count("bdi") == bdi
    return dom


def test_drift_report_in_chromium(tmp_path: Path, report: DriftReport) -> None:  # noqa: F811
    page = tmp_path / "drift.html"
    report.to_html(page)
    # Each column's name is shown twice in <bdi>: its table row and its plot's card.
    dom = _check(page, bdi=2 * (len(HOSTILE) + 1))
    assert "bidi\\u202eevil" in dom
    assert "\u202e" not in dom


def test_model_card_in_chromium(tmp_path: Path, card: ModelCard) -> None:  # noqa: F811
    page = tmp_path / "card.html"
    card.to_html(page)
    dom = _check(page)
    assert dom.count("<table>") == card.to_html().count("<table>")


def test_explanation_tables_in_chromium(tmp_path: Path) -> None:
    from prodml.explain import Explanation, importance_html

    values = {n: 1.0 / (i + 1) for i, n in enumerate(HOSTILE)}
    e = Explanation(0.1, values, 0.1 + sum(values.values()), "margin", "linear")
    page = tmp_path / "explanation.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>td{}</style></head><body>"
        f"{e.to_html(top=len(values))}{importance_html(values, top=len(values))}</body></html>",
        encoding="utf-8",
    )
    dom = _check(page)
    assert dom.count("<tr>") == 2 * (len(values) + 1)
