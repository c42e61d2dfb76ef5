"""docs/cost.md stays true: its code runs, and its comparison table is what the code prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from tests._docs import python_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "cost.md"


def test_every_python_block_runs_and_the_table_matches(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    text = DOC.read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert len(blocks) >= 8
    code_at = text.index("<!-- comparison-code -->")
    namespace: dict[str, object] = {}
    table_output = None
    try:
        for block in blocks:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
            if text.index(block) > code_at and table_output is None:
                table_output = out.getvalue()
    finally:
        plt.close("all")
    assert (tmp_path / "options.png").stat().st_size > 0
    documented = re.search(
        r"<!-- comparison-table:start -->\n(.*?)<!-- comparison-table:end -->", text, flags=re.S
    )
    assert documented is not None
    assert table_output is not None
    assert table_output.strip() == documented.group(1).strip()


@pytest.mark.parametrize("name", ["cost.md", "api/cost.md"])
def test_links_point_at_existing_pages(name):
    page = DOC.parent / name
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
        if target.startswith("http"):
            continue
        assert (page.parent / target).resolve().exists(), target
