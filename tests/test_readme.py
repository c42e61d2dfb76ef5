"""The README's quick example runs and prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_example_output_matches_readme() -> None:
    text = README.read_text()
    block = re.search(r"## Quick example\n\n```python\n(.*?)```", text, re.S)
    assert block is not None
    code = block.group(1)
    expected = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README
    assert out.getvalue().splitlines() == expected


def test_readme_gives_the_two_commands_ci_runs() -> None:
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pip install -e . && prodml demo --out prodml-demo" in text
    assert "python -m pip install -e '.[test]' && python -m pytest" in text
    assert "prodml demo" in ci
    assert "python -m pytest" in ci
