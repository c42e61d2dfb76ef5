"""The serving guide's Python blocks run as written, in page order, in one namespace."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from tests._docs import python_blocks

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = DOCS / "serving.md"


def test_every_python_block_runs_in_order() -> None:
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 7
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        for i, block in enumerate(blocks):
            exec(compile(block, f"{GUIDE}:block{i}", "exec"), namespace)  # noqa: S102 - our docs
    assert "422" in out.getvalue()
    namespace["pred"].close()


@pytest.mark.parametrize("page", ["serving.md", "api/serving.md"])
def test_links_point_at_existing_pages(page: str) -> None:
    path = DOCS / page
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    for link in (x for x in links if "://" not in x):
        assert (path.parent / link).resolve().is_file(), f"{page} links to missing {link}"


def test_api_anchors_name_real_objects() -> None:
    import importlib

    anchors = re.findall(r"api/serving\.md#(prodml[\w.]+)", GUIDE.read_text())
    assert anchors
    for anchor in anchors:
        module, _, name = anchor.rpartition(".")
        assert hasattr(importlib.import_module(module), name), anchor
