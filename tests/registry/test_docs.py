"""docs/registry.md and docs/security.md stay true: every Python block runs, in page order.

Blocks marked ``<!-- docs-test: skip REASON -->`` need a server or a user's own class;
the others run as written, and a line ``print(x)  # value`` must print a line equal to ``value`` (or
starting with it, when the comment ends with ``...``).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from tests._docs import python_blocks

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _expected(block: str) -> list[str]:
    """The outputs the block's print lines promise in their trailing comments."""
    out = []
    for line in block.splitlines():
        m = re.match(r"\s*print\(.*\)\s*#\s*(.+)$", line)
        if m:
            out.append(m.group(1).strip())
    return out


@pytest.mark.parametrize("page", ["registry.md", "security.md"])
def test_every_python_block_runs_and_prints_what_it_says(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert blocks, f"{page} has no runnable Python block"
    namespace: dict[str, object] = {}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(DOCS / page), "exec"), namespace)  # noqa: S102 - our docs
        printed = out.getvalue().splitlines()
        for promised in _expected(block):
            if promised.endswith("..."):
                ok = any(line.startswith(promised[:-3].rstrip()) for line in printed)
            else:
                ok = promised in printed
            assert ok, f"{page}: expected {promised!r} in {printed!r}"
