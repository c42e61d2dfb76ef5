"""Batch scoring: Parquet parts with metadata, bounded chunks, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from prodml.errors import ConfigError, SchemaError
from prodml.fingerprint import fingerprint_file, fingerprint_spec
from prodml.registry import ModelRegistry
from prodml.serving import Predictor, score
from prodml.serving._score import MANIFEST

from .conftest import make_data


def write_input(folder: Path, n: int, files: int = 2) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    df = make_data(n, seed=3).drop(columns=["y"]).assign(row_id=np.arange(n))
    for i, rows in enumerate(np.array_split(np.arange(n), files)):
        df.iloc[rows].to_parquet(folder / f"in-{i}.parquet", row_group_size=700)
    return df


def test_score_writes_parts_with_metadata(tmp_path: Path, registry: ModelRegistry) -> None:
    df = write_input(tmp_path / "in", 2500)
    (tmp_path / "in" / "_ignored.txt").write_text("not data")
    pred = Predictor.from_registry(registry, "churn@production", watch_every_s=None)
    report = score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=400, keep_columns=["row_id"])
    assert (report.rows, report.parts_written, report.parts_skipped) == (2500, 8, 0)
    assert report.version == 1
    assert report.rows_per_second > 0
    out = pq.read_table(tmp_path / "out").to_pandas()
    assert out.row_id.tolist() == list(range(2500))  # input order, no row twice
    expected = pred.predict_batch(df.drop(columns=["row_id"]))
    np.testing.assert_array_equal(out.prediction.to_numpy(), expected)
    files = sorted((tmp_path / "in").glob("*.parquet"))
    fp = fingerprint_spec(sorted(fingerprint_file(f) for f in files))
    first = pq.read_schema(sorted((tmp_path / "out").glob("part-*"))[0])
    meta = json.loads(first.metadata[b"prodml.scoring"])
    assert meta["model"] == "churn"
    assert meta["version"] == 1
    assert meta["input_fingerprint"] == fp
    assert meta["model_fingerprint"] == pred.variants["default"].fingerprint
    assert (meta["input_file"], meta["chunk"]) == ("in-0.parquet", 0)
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["complete"]
    assert manifest["rows"] == 2500
    again = score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=400, keep_columns=["row_id"])
    assert (again.parts_written, again.parts_skipped) == (0, 8)


def test_keep_columns_takes_one_name_or_names(tmp_path: Path, registry: ModelRegistry) -> None:
    write_input(tmp_path / "in", 300, files=1)
    pred = Predictor.from_registry(registry, "churn@production", watch_every_s=None)
    with pytest.raises(ConfigError, match="'keep_columns' parameter must be a column name"):
        score(pred, tmp_path / "in", tmp_path / "bad", keep_columns=3)  # type: ignore[arg-type]
    assert not (tmp_path / "bad").exists()
    # One name is one column (not its characters 'r', 'o', ...), as a list of one.
    for dest, keep in (("one", "row_id"), ("list", ["row_id"])):
        score(pred, tmp_path / "in", tmp_path / dest, keep_columns=keep, progress=False)
    one, listed = (pq.read_table(tmp_path / d).to_pandas() for d in ("one", "list"))
    assert list(one.columns) == list(listed.columns) == ["row_id", "prediction"]
    assert one.equals(listed)


def test_bad_inputs_and_outputs(tmp_path: Path, registry: ModelRegistry) -> None:
    df = write_input(tmp_path / "in", 300, files=1)
    pred = Predictor.from_registry(registry, "churn@production", watch_every_s=None)
    with pytest.raises(ConfigError, match="no such file"):
        score(pred, tmp_path / "missing", tmp_path / "out")
    long_name = tmp_path / ("x" * 5_000)  # past the OS's name limit: its OSError is ours
    with pytest.raises(ConfigError, match="cannot read the input") as too_long:
        score(pred, long_name, tmp_path / "out")
    assert len(str(too_long.value)) < 400
    with pytest.raises(ConfigError, match="cannot create the output"):
        score(pred, tmp_path / "in", long_name)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        score(pred, tmp_path / "in", tmp_path / "afile")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.csv").write_text("x")
    with pytest.raises(ConfigError, match="did not write"):
        score(pred, tmp_path / "in", tmp_path / "busy")
    score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=100)
    # A scratch manifest left by a crash mid-write is score's own: a resume is not refused.
    (tmp_path / "out" / f".{MANIFEST}.0123456789abcdef.tmp").write_text("{half")
    assert score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=100).parts_written == 0
    with pytest.raises(ConfigError, match="chunk_rows"):  # another setting: no silent mix
        score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=50)
    assert (
        score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=50, resume=False).parts_written
        == 6
    )
    registry.set_alias("churn", "production", 2)
    pred.refresh()
    with pytest.raises(ConfigError, match="version"):
        score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=50)
    with pytest.raises(ConfigError, match="chunk_rows"):
        score(pred, tmp_path / "in", tmp_path / "o2", chunk_rows=0)
    with pytest.raises(SchemaError, match="row_id2"):
        score(pred, tmp_path / "in", tmp_path / "o3", keep_columns=["row_id2"])
    (tmp_path / "out" / MANIFEST).write_text("{not json")
    with pytest.raises(ConfigError, match=r"unreadable: Expecting property name") as info:
        score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=50)
    assert info.value.parameter == "dest"
    (tmp_path / "out" / MANIFEST).write_text(json.dumps({"format_version": 1}))
    with pytest.raises(ConfigError, match="another model"):
        score(pred, tmp_path / "in", tmp_path / "out", chunk_rows=50)
    bad = df.assign(f0=np.where(df.row_id == 250, 1e6, df.f0))
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(SchemaError) as err:
        score(pred, tmp_path / "bad.parquet", tmp_path / "o4", chunk_rows=100)
    assert [(p.column, p.row) for p in err.value.problems] == [("f0", 250)]
    assert sorted(p.name for p in (tmp_path / "o4").glob("part-*")) == [
        "part-00000-000000.parquet", "part-00000-000001.parquet"
    ]  # fmt: skip


SCRIPT = """
import sys, time
import prodml.serving._score as s
from prodml.registry import ModelRegistry
from prodml.serving import Predictor, score

write = s._write_part
def slow_write(*args, **kwargs):
    time.sleep(0.05)
    write(*args, **kwargs)
s._write_part = slow_write
reg = ModelRegistry.local(sys.argv[1])
pred = Predictor.from_registry(reg, "churn@production", watch_every_s=None)
r = score(pred, sys.argv[2], sys.argv[3], chunk_rows=250, keep_columns=["row_id"], progress=False)
print(r.parts_written, r.parts_skipped)
"""


def test_resume_after_kill_loses_and_repeats_no_row(
    tmp_path: Path, registry: ModelRegistry
) -> None:
    df = write_input(tmp_path / "in", 10_000)
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    args = [
        sys.executable,
        str(script),
        str(tmp_path / "registry"),
        str(tmp_path / "in"),
        str(tmp_path / "out"),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    manifest = tmp_path / "out" / MANIFEST
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len(json.loads(manifest.read_text())["done"]) >= 5:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    done_before = len(json.loads(manifest.read_text())["done"])
    assert 5 <= done_before < 40
    finished = subprocess.run(args, capture_output=True, text=True, check=True)
    written, skipped = map(int, finished.stdout.split())
    assert skipped == done_before
    assert written + skipped == 40
    out = pq.read_table(tmp_path / "out").to_pandas()
    assert out.row_id.tolist() == list(range(10_000))
    pred = Predictor.from_registry(registry, "churn@production", watch_every_s=None)
    # Chunks of 250 rows, one BLAS call each: equal to one big batch up to rounding.
    expected = pred.predict_batch(df.drop(columns="row_id"))
    np.testing.assert_allclose(out.prediction.to_numpy(), expected, rtol=0, atol=1e-15)
    assert not [p for p in os.listdir(tmp_path / "out") if p.startswith(".")]


def test_dask_partitions_equal_the_single_machine_scores(
    tmp_path: Path, registry: ModelRegistry
) -> None:
    pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
    from prodml.integrations import dask as pdask

    df = write_input(tmp_path / "in", 1200, files=3)
    pred = Predictor.from_registry(registry, "churn@production", watch_every_s=None)
    out = pdask.score(
        pred, sorted(str(p) for p in (tmp_path / "in").glob("*.parquet")), keep_columns=["row_id"]
    )
    got = out.compute().sort_values("row_id")
    np.testing.assert_array_equal(
        got.prediction.to_numpy(), pred.predict_batch(df.drop(columns="row_id"))
    )
    with pytest.raises(SchemaError, match="nope"):
        pdask.score(pred, df, keep_columns=["nope"])
    with pytest.raises(ConfigError, match="Predictor"):
        pdask.score(object(), df)


def test_score_report_and_progress(tmp_path: Path, pipe: Any, lr: Any, capsys: Any) -> None:
    write_input(tmp_path / "in", 500, files=1)
    report = score(
        Predictor(pipe, lr), tmp_path / "in", tmp_path / "out", chunk_rows=100, progress=True
    )
    err = capsys.readouterr().err
    assert "scoring:   0%" in err  # a tqdm bar (prodml._progress), drawn then cleared
    assert "/500 [" in err
    assert report.version is None
