"""An output path of '-' (the shell's standard output) is refused, not written as a file.

``prodml drift a b --json -`` wrote the report into a file named ``-`` in the current
folder (one landed in the repository that way), saying "JSON report: -".
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml import cli


@pytest.mark.parametrize("flag", ["--json", "--html"])
def test_drift_refuses_dash_and_writes_nothing(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0, 4.0]}), data)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["drift", str(data), str(data), "-q", flag, "-"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        "error: the output path is '-': prodml writes this output to a file, not to "
        "standard output; give a file path"  # not "e.g. ./report.json" for --html
    )
    assert sorted(os.listdir(tmp_path)) == ["d.parquet"]


def test_demo_refuses_dash_as_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "--out", "-"]) == 2
    # The example was "./report.json", a file name, for an output that is a folder.
    assert capsys.readouterr().err.strip() == (
        "error: the output path is '-': prodml writes this output into a folder, not to "
        "standard output; give a folder (e.g. ./out)"
    )
    assert os.listdir(tmp_path) == []
