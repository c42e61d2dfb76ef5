"""Reading a docs page in the per-page doc tests: its Python blocks, in order.

tests/test_docs_run.py runs every page and checks the markers' reasons; the per-page
tests (tests/*/test_docs.py) also check what the blocks print, and read the blocks here.
"""

from __future__ import annotations

import re

__all__ = ["python_blocks"]

_BLOCK = re.compile(r"(<!-- docs-test: skip [^\n]*-->\n)?```python\n(.*?)```", re.S)


def python_blocks(text: str) -> list[str]:
    """The ``python`` blocks of a page, less those marked ``<!-- docs-test: skip ... -->``."""
    return [block for marker, block in _BLOCK.findall(text) if not marker]
