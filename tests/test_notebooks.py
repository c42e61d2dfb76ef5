"""Every notebook in notebooks/ runs top to bottom in a fresh kernel, with only its extras.

Each notebook states what it needs in its first cell, a line starting ``Extras:`` naming
prodml's extras as ``pip install 'prodml[plot]'`` and other packages as ``pip install shap``
(``Extras: none.`` for a core install). The test runs each notebook with every other
optional package made unimportable in its kernel, so a notebook that says it runs on a
core install does, and one whose extras are absent here is skipped, naming them. Under
``PRODML_REQUIRE_SERVICES=1`` (CI, which installs every extra) nothing here may skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# The top-level modules each extra (or package a notebook names) adds to a core install.
OPTIONAL: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg",),
    "sign": ("cryptography",),
    "s3": ("s3fs",),
    "dask": ("dask", "distributed"),
    "prometheus": ("prometheus_client",),
    "plot": ("matplotlib",),
    "sklearn": ("skops",),
    "otel": ("opentelemetry",),
    "fast": ("numba",),
    "serve": ("starlette", "uvicorn", "httpx", "orjson"),
    "store": ("duckdb", "orjson"),
    "privacy": ("opendp",),
    "redis": ("redis",),
    "lineage": ("openlineage",),
    # Reference implementations some notebooks cross-check against (the `test` extra).
    "shap": ("shap", "numba"),
    "fairlearn": ("fairlearn",),
    "lightgbm": ("lightgbm",),
    "xgboost": ("xgboost",),
}

# Those of OPTIONAL that are packages of their own, not prodml extras.
PACKAGES = frozenset({"shap", "fairlearn", "lightgbm", "xgboost"})

_EXTRAS_LINE = re.compile(r"^Extras:(.*)$", re.M)


def _require(what: str) -> None:
    """Skip, naming ``what`` is missing; fail instead where CI promises everything."""
    if os.environ.get("PRODML_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PRODML_REQUIRE_SERVICES=1 but {what}")
    pytest.skip(what)


def declared_extras(first_cell: str) -> list[str]:
    """The extras and packages a notebook's ``Extras:`` line names, in order."""
    line = _EXTRAS_LINE.search(first_cell)
    if line is None:
        raise ValueError("no line starting 'Extras:' in the notebook's first cell")
    text = line.group(1)
    names = [n for group in re.findall(r"prodml\[([\w,]+)\]", text) for n in group.split(",")]
    names += re.findall(r"pip install ([a-z][\w-]*)", text)
    unknown = sorted(set(names) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"unknown extras or packages {unknown}; known: {sorted(OPTIONAL)}")
    return names


def blocked_modules(declared: list[str]) -> list[str]:
    """The optional modules a notebook that declares ``declared`` must not import."""
    allowed = {m for name in declared for m in OPTIONAL[name]}
    return sorted({m for mods in OPTIONAL.values() for m in mods} - allowed)


def _first_cell(path: Path) -> str:
    cell = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
    return "".join(cell["source"])


def test_there_is_a_quickstart_and_one_notebook_per_module() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {"quickstart", "features", "drift", "registry", "rollout", "cost", "monitoring"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_states_its_extras(path: Path) -> None:
    declared_extras(_first_cell(path))  # raises, naming what is wrong


def test_the_quickstart_runs_on_a_core_install() -> None:
    assert declared_extras(_first_cell(ROOT / "notebooks" / "quickstart.ipynb")) == []


def test_notebooks_readme_lists_every_notebook() -> None:
    readme = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"[{path.name}]({path.name})" in readme, f"notebooks/README.md: add {path.name}"


def test_extras_line_is_read_as_written() -> None:
    line = "# T\n\nExtras: `plot` (`pip install 'prodml[prometheus,plot]'`), `pip install shap`.\n"
    assert declared_extras(line) == ["prometheus", "plot", "shap"]
    assert declared_extras("Extras: none.") == []
    assert "skops" in blocked_modules(["plot"])
    assert "matplotlib" not in blocked_modules(["plot"])
    assert "orjson" not in blocked_modules(["store"])
    with pytest.raises(ValueError, match="no line starting 'Extras:'"):
        declared_extras("# T\n\nneeds plot")
    with pytest.raises(ValueError, match="unknown extras"):
        declared_extras("Extras: `pip install 'prodml[plots]'`")


def _kernel_tools() -> tuple[object, object]:
    if importlib.util.find_spec("nbclient") is None or importlib.util.find_spec("nbformat") is None:
        _require("running notebooks needs the 'test' extra (nbclient, nbformat, ipykernel)")
    import nbclient
    import nbformat

    return nbformat, nbclient


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat, nbclient = _kernel_tools()
    declared = declared_extras(_first_cell(path))
    absent = [n for n in declared if any(importlib.util.find_spec(m) is None for m in OPTIONAL[n])]
    if absent:
        extras = [n for n in absent if n not in PACKAGES]
        how = [f"pip install 'prodml[{','.join(extras)}]'"] if extras else []
        how += [f"pip install {n}" for n in absent if n in PACKAGES]
        _require(f"{path.name} needs {', '.join(absent)}: {' and '.join(how)}")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)  # type: ignore[attr-defined]
    # A core install, plus what the notebook declares: every other optional module is
    # unimportable in the kernel (None in sys.modules makes `import x` fail, as if absent).
    block = f"import sys\nsys.modules.update(dict.fromkeys({blocked_modules(declared)!r}))"
    nb.cells.insert(0, nbformat.v4.new_code_cell(block))  # type: ignore[attr-defined]
    client = nbclient.NotebookClient(  # type: ignore[attr-defined]
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    # Every code cell ran, in order, so nothing was silently skipped.
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    # A warning printed by a cell is a problem the notebook would show every reader.
    warnings = [
        out.get("text", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("name") == "stderr" and "Warning" in out.get("text", "")
    ]
    assert warnings == []
    # Run from notebooks/ instead, whatever a notebook writes stays out of git status.
    _assert_git_ignores([f"notebooks/{p.name}" for p in tmp_path.iterdir()])


def _assert_git_ignores(paths: list[str]) -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        return  # an unpacked sdist: nothing to keep clean
    for path in paths:
        proc = subprocess.run([git, "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert proc.returncode == 0, f"{path} is written by a notebook but not git-ignored"


def test_notebooks_are_committed_without_outputs() -> None:
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [], f"{path.name}: clear its outputs"
                assert cell.get("execution_count") is None, f"{path.name}: clear its outputs"
