"""docs/store.md stays true: every Python block runs in page order and prints what it shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from tests._docs import python_blocks

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = DOCS / "store.md"


def _matches(expected: str, got: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, got) is not None


def test_every_block_runs_and_prints_what_the_page_shows(tmp_path, monkeypatch) -> None:
    pytest.importorskip("dask.dataframe", reason="the guide's last block needs the 'dask' extra")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    namespace: dict[str, object] = {}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(GUIDE), "exec"), namespace)  # noqa: S102 - our own docs
        expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
        got = out.getvalue().splitlines()
        assert len(got) == len(expected), (block, got)
        for e, g in zip(expected, got, strict=True):
            assert _matches(e, g), f"the page shows {e!r}, the code printed {g!r}"


@pytest.mark.parametrize("page", ["store.md", "api/store.md"])
def test_links_point_at_existing_pages(page: str) -> None:
    path = DOCS / page
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    for link in [x for x in links if "://" not in x]:
        assert (path.parent / link).resolve().is_file(), f"{page} links to missing {link}"
