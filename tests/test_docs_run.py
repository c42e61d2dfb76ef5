"""Every ```python block of README.md and docs/*.md runs as written, in page order (issue 16).

One namespace per page, run in a fresh temporary folder, blocks in the order they appear:
a reader who pastes the page top to bottom gets no NameError. New pages are picked up
automatically. Markers, as HTML comments on their own line (invisible on the site):

- ``<!-- requires: postgres -->`` right before a block: the block needs that extra or
  server (names in ``REQUIREMENTS``); it is skipped, with a reason naming what is missing,
  where it is absent, and runs where it is there (CI starts every server).
  Before the first block, ``<!-- requires-page: dask -->`` applies to the whole page.
- ``<!-- docs-test: skip REASON -->`` right before a block, or
  ``<!-- docs-test: skip-page REASON -->`` anywhere: not executed; the reason is
  required (an opt-out without one fails).

Each page with Python blocks states the extras it needs at the top: a line starting
``Extras:`` within its first 12 lines (``Extras: none`` when it needs none).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# name -> (modules that must import, environment variable naming the server, or None).
REQUIREMENTS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "postgres": (("psycopg",), "PRODML_TEST_POSTGRES_URL"),
    "s3": (("s3fs",), "PRODML_TEST_S3_ENDPOINT"),
    "redis": (("redis",), "PRODML_TEST_REDIS_URL"),
    "dask": (("dask", "distributed"), None),
    "prometheus": (("prometheus_client",), None),
    "plot": (("matplotlib",), None),
    "sklearn": (("skops",), None),
    "otel": (("opentelemetry",), None),
    "fast": (("numba",), None),
    "serve": (("starlette", "uvicorn"), None),
    "store": (("duckdb",), None),
    "privacy": (("opendp",), None),
    "sign": (("cryptography",), None),
}

# On a line of its own (a marker quoted in a sentence or in backticks is not a marker).
_MARK = re.compile(r"^<!--\s*(requires|requires-page|docs-test):\s*(.*?)\s*-->[ \t]*$", re.M)
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)


@dataclass
class Block:
    line: int
    code: str
    requires: list[str]
    skip: str | None


@dataclass
class Page:
    path: Path
    blocks: list[Block]
    requires: list[str]
    skip: str | None


def parse(path: Path) -> Page:
    text = path.read_text(encoding="utf-8")
    page_requires: list[str] = []
    page_skip = None
    blocks: list[Block] = []
    pending_requires: list[str] = []
    pending_skip: str | None = None
    pos = 0
    for fence in _FENCE.finditer(text):
        before = text[pos : fence.start()]
        for kind, value in _MARK.findall(before):
            if kind == "requires-page":
                page_requires += value.replace(",", " ").split()
            elif kind == "requires":
                pending_requires += value.replace(",", " ").split()
            elif value.startswith("skip-page"):
                page_skip = _reason(value, "skip-page", path)
            elif value.startswith("skip"):
                pending_skip = _reason(value, "skip", path)
        line = text.count("\n", 0, fence.start()) + 2
        blocks.append(Block(line, fence.group(1), pending_requires, pending_skip))
        pending_requires, pending_skip = [], None
        pos = fence.end()
    for kind, value in _MARK.findall(text[pos:]):
        if kind == "docs-test" and value.startswith("skip-page"):
            page_skip = _reason(value, "skip-page", path)
    return Page(path, blocks, page_requires, page_skip)


def _reason(value: str, word: str, path: Path) -> str:
    reason = value[len(word) :].strip()
    if not reason:
        pytest.fail(f"{path.name}: '<!-- docs-test: {word} -->' needs a reason after it")
    return reason


def missing(names: list[str]) -> str | None:
    """Why these requirements are not met here, naming the extra or the server; or None."""
    for name in names:
        if name not in REQUIREMENTS:
            pytest.fail(f"unknown requirement {name!r}; known: {', '.join(REQUIREMENTS)}")
        modules, env = REQUIREMENTS[name]
        for module in modules:
            if importlib.util.find_spec(module) is None:
                return f"needs the '{name}' extra: pip install 'prodml[{name}]'"
        if env is not None and not os.environ.get(env):
            if os.environ.get("PRODML_REQUIRE_SERVICES") == "1":
                pytest.fail(f"PRODML_REQUIRE_SERVICES=1 but {env} is not set")
            return f"needs a {name} server: set {env} (the extra is installed)"
    return None


def _pages_with_code() -> list[Path]:
    return [p for p in PAGES if _FENCE.search(p.read_text(encoding="utf-8"))]


def test_pages_are_found() -> None:
    names = {p.name for p in _pages_with_code()}
    assert {"README.md", "registry.md", "drift.md", "schema.md"} <= names


@pytest.mark.parametrize("path", _pages_with_code(), ids=lambda p: p.name)
def test_page_states_its_extras_at_the_top(path: Path) -> None:
    head = path.read_text(encoding="utf-8").splitlines()[:12]
    assert any(re.match(r'^(\**Extras\b|!!! \w+ "Extras)', line) for line in head), (
        f"{path.name}: say which extras the page needs in its first lines "
        "('Extras: none' or 'Extras: `dask` (pip install 'prodml[dask]')')"
    )


@pytest.mark.parametrize("path", _pages_with_code(), ids=lambda p: p.name)
def test_page_runs_top_to_bottom(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = parse(path)
    if page.skip:
        pytest.skip(f"{path.name} opts out: {page.skip}")
    why = missing(page.requires)
    if why:
        pytest.skip(f"{path.name} {why}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # figures render off screen
    namespace: dict[str, object] = {"__name__": "__main__"}  # as a script pasted whole
    ran = 0
    try:
        for block in page.blocks:
            if block.skip or missing(block.requires):
                continue
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out), warnings.catch_warnings():
                    code = compile(block.code, f"{path.name}:{block.line}", "exec")
                    exec(code, namespace)  # noqa: S102 - our own documentation
            except BaseException as err:  # report which block of which page failed
                if isinstance(err, (KeyboardInterrupt, pytest.skip.Exception)):
                    raise
                pytest.fail(
                    f"{path.name}, block at line {block.line} fails as written: "
                    f"{type(err).__name__}: {err}"
                )
            ran += 1
    finally:
        _close_figures()
    assert ran or all(b.skip or b.requires for b in page.blocks)


def _close_figures() -> None:
    if importlib.util.find_spec("matplotlib") is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.close("all")


# Pages allowed blocks fenced "```python skip" (run by nothing, with no reason checked), and
# how many: none; use the "docs-test: skip REASON" marker instead.
_UNMARKED_SKIPS: dict[str, int] = {}


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_python_blocks_opt_out_only_with_the_marker(path: Path) -> None:
    """A fence like ```python skip is Python the reader sees but nothing runs, and it
    escapes the rule that an opt-out states its reason: use the marker instead."""
    lines = path.read_text(encoding="utf-8").splitlines()
    odd = [n for n, line in enumerate(lines, 1) if re.match(r"```(python|py)\s+\S", line)]
    assert len(odd) <= _UNMARKED_SKIPS.get(path.name, 0), (
        f"{path.name}: lines {odd} open a Python block with extra words: write ```python "
        "and put '<!-- docs-test: skip REASON -->' on the line before it"
    )


def test_markers_attach_to_the_next_block_and_skips_need_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "# P\n\nExtras: none\n\n```python\na = 1\n```\n\n<!-- requires: postgres, dask -->\n"
        "```python\nb = a\n```\n\n<!-- docs-test: skip needs a GPU -->\n```python\nc = 1\n```\n"
        "```python\nd = 1\n```\n"
    )
    parsed = parse(page)
    assert [b.requires for b in parsed.blocks] == [[], ["postgres", "dask"], [], []]
    assert [b.skip for b in parsed.blocks] == [None, None, "needs a GPU", None]
    assert [b.line for b in parsed.blocks] == [6, 11, 16, 19]  # first line of code
    page.write_text("<!-- docs-test: skip -->\n```python\nx = 1\n```\n")
    with pytest.raises(pytest.fail.Exception, match="needs a reason"):
        parse(page)
    page.write_text(
        "```python\nx = 1\n```\n<!-- docs-test: skip-page draft, the lead fixes it -->\n"
    )
    assert parse(page).skip == "draft, the lead fixes it"


def test_a_skip_names_the_missing_server_or_the_missing_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PRODML_REQUIRE_SERVICES", raising=False)
    monkeypatch.delenv("PRODML_TEST_REDIS_URL", raising=False)
    monkeypatch.setitem(REQUIREMENTS, "redis", (("json",), "PRODML_TEST_REDIS_URL"))
    assert missing(["redis"]) == (
        "needs a redis server: set PRODML_TEST_REDIS_URL (the extra is installed)"
    )
    monkeypatch.setitem(REQUIREMENTS, "nothere", (("no_such_module_xyz",), None))
    assert missing(["nothere"]) == "needs the 'nothere' extra: pip install 'prodml[nothere]'"
    with pytest.raises(pytest.fail.Exception, match="unknown requirement"):
        missing(["gpu"])
