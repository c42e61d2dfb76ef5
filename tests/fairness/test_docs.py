"""The fairness guide runs as written, in page order, and says what it shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from tests._docs import python_blocks

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = DOCS / "fairness.md"


def test_every_code_block_of_the_guide_runs_in_order() -> None:
    pytest.importorskip("dask.dataframe", reason="the guide's Dask block needs the 'dask' extra")
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 10
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, block in enumerate(blocks):
            exec(compile(block, f"{GUIDE}:block{i}", "exec"), namespace)  # noqa: S102 - our docs
    printed = out.getvalue()
    assert "sex=F" in printed
    assert "gate failed" in printed  # the canary's rollback reason, naming the groups
    assert "tpr difference between sex=F and sex=M" in printed  # the refused promotion
    assert namespace["canary"].state == "rolled_back"
    events = namespace["alerts"].events
    assert [e.state for e in events] == ["firing"]
    assert 10_000 <= events[0].at <= 10_000 + 25_000  # within the stated delay


@pytest.mark.parametrize("page", ["fairness.md", "api/fairness.md"])
def test_links_point_at_existing_pages(page: str) -> None:
    path = DOCS / page
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    for link in [x for x in links if "://" not in x]:
        assert (path.parent / link).resolve().is_file(), f"{page} links to missing {link}"
