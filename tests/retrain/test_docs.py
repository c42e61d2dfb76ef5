"""The retraining guide runs as written, in page order, and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from tests._docs import python_blocks

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = DOCS / "retrain.md"


def run_guide() -> tuple[str, dict]:
    blocks = python_blocks(GUIDE.read_text())
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, block in enumerate(blocks):
            exec(compile(block, f"{GUIDE}:block{i}", "exec"), namespace)  # noqa: S102 - our docs
    return out.getvalue(), namespace


def test_every_code_block_of_the_guide_runs_in_order(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    printed, ns = run_guide()
    text = GUIDE.read_text()
    # Every output block shown in the guide is printed by the code before it.
    shown = re.findall(r"```text\n(.*?)```", text, re.S)
    assert len(shown) >= 9
    for block in shown:
        assert block.strip() in printed, block
    assert "phase | Stored RetrainController state" in printed  # the hostile state refused
    assert ns["registry"].aliases("churn") == {"production": ns["ctl"].decisions[-1].version}


@pytest.mark.parametrize("page", ["retrain.md", "api/retrain.md"])
def test_links_point_at_existing_pages(page: str) -> None:
    path = DOCS / page
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    for link in [x for x in links if "://" not in x]:
        assert (path.parent / link).resolve().is_file(), f"{page} links to missing {link}"
