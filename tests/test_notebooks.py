"""Every notebook in notebooks/ runs top to bottom in a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

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
