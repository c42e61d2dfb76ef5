"""Every notebook in notebooks/ runs top to bottom in a fresh kernel."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

nbformat = pytest.importorskip("nbformat", reason="notebook tests need the 'test' extra")
nbclient = pytest.importorskip("nbclient", reason="notebook tests need the 'test' extra")


def test_there_is_a_quickstart_and_one_notebook_per_module() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {"quickstart", "features", "drift", "registry", "rollout", "cost", "monitoring"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
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
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.get("outputs") == [], f"{path.name}: clear its outputs"
                assert cell.get("execution_count") is None, f"{path.name}: clear its outputs"
