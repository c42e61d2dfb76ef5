"""The user guide's complete example runs and raises the alerts the guide describes."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def test_complete_example_runs_and_alerts() -> None:
    pytest.importorskip("prometheus_client", reason="needs the 'prometheus' extra")
    block = re.search(r"## A complete example\n\n```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert block is not None
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), str(GUIDE), "exec"), namespace)  # noqa: S102 - our docs
    events = namespace["alerts"].events
    fired = {e.rule for e in events if e.state == "firing"}
    assert {"accuracy-low", "features-drift", "errors-slo"} <= fired
    assert "latency-p99" not in fired  # latency is a steady 20 ms
    # Nothing fires before the change (prediction 3000, t = 1500 s).
    assert min(e.at for e in events) >= 1500.0
    assert "prodml_" in out.getvalue()


@pytest.mark.parametrize("page", ["monitoring.md", "api/monitoring.md"])
def test_links_point_at_existing_pages(page: str) -> None:
    docs = GUIDE.parent
    path = docs / page
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    local = [link for link in links if "://" not in link]
    for link in local:
        assert (path.parent / link).resolve().is_file(), f"{page} links to missing {link}"
    if page == "monitoring.md":
        assert local  # the guide does link to the API page and to the drift guide


def test_api_anchors_name_real_objects() -> None:
    import importlib

    anchors = re.findall(r"api/monitoring\.md#(prodml[\w.]+)", GUIDE.read_text())
    assert anchors
    for anchor in anchors:
        module, _, name = anchor.rpartition(".")
        assert hasattr(importlib.import_module(module), name), anchor
