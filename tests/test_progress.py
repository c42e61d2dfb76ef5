"""Progress bars: on a terminal only, quiet in pipes and under --quiet (issue 16)."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml import _progress
from prodml._progress import chunk_progress, drawing, progress_bar
from prodml.drift import DriftDetector, Profile


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_only_on_a_terminal_unless_forced() -> None:
    assert progress_bar(desc="x", file=io.StringIO()).disable
    assert not progress_bar(desc="x", file=FakeTerminal()).disable
    assert progress_bar(desc="x", file=FakeTerminal(), enabled=False).disable
    assert not progress_bar(desc="x", file=io.StringIO(), enabled=True).disable


def test_automatic_bars_do_not_nest() -> None:
    term = FakeTerminal()
    with drawing(progress_bar(desc="outer", file=term)):
        assert progress_bar(desc="inner", file=term).disable
        assert not progress_bar(desc="forced", file=term, enabled=True).disable
    assert not progress_bar(desc="after", file=term).disable


def test_chunk_progress_yields_everything_and_skips_single_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(_progress, "DELAY", 0)
    t = pa.table({"x": [1.0, 2.0, 3.0]})
    assert list(chunk_progress([t], desc="one", enabled=True)) == [t]
    assert term.getvalue() == ""  # one table is not long work
    chunks = [t, t.slice(1), t.slice(2)]
    assert list(chunk_progress(iter(chunks), desc="many", enabled=True)) == chunks
    assert "many:" in term.getvalue()
    assert list(chunk_progress([], desc="none", enabled=True)) == []


def test_out_of_core_profile_shows_rows_and_equals_the_quiet_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    table = pa.table({"x": rng.normal(size=30_000), "c": rng.choice(["a", "b"], 30_000)})
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(_progress, "DELAY", 0)
    shown = Profile().update(table.to_batches(max_chunksize=1000), progress=True)
    assert "profiling:" in term.getvalue()
    assert "rows" in term.getvalue()
    quiet = Profile().update(table.to_batches(max_chunksize=1000), progress=False)
    assert shown == quiet
    term.truncate(0)
    term.seek(0)
    monkeypatch.setattr(_progress, "DELAY", 0.5)
    Profile().update(table.to_batches(max_chunksize=1000))  # auto on a terminal...
    assert "profiling:" not in term.getvalue()  # ...but only after 0.5 s of work


def test_dask_fit_shows_tasks_and_fits_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    dd = pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
    from prodml.features import FeaturePipeline, steps
    from prodml.integrations import dask as pdask

    df = pd.DataFrame({"x": np.arange(2000.0), "c": list("abcd") * 500})
    ddf = dd.from_pandas(df, npartitions=4)

    def pipe() -> FeaturePipeline:
        return FeaturePipeline([steps.StandardScale(["x"]), steps.OneHot(["c"])])

    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(_progress, "DELAY", 0)
    shown = pdask.fit_pipeline(pipe(), ddf, progress=True)
    assert "fitting the pipeline:" in term.getvalue()
    assert "tasks" in term.getvalue()
    assert shown.to_dict() == pdask.fit_pipeline(pipe(), ddf, progress=False).to_dict()
    term.truncate(0)
    term.seek(0)
    assert pdask.profile(ddf, progress=True) == pdask.profile(df)
    assert "profiling:" in term.getvalue()


def test_demo_narrates_in_pipes_and_draws_a_bar_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prodml._demo import _Progress

    step = _Progress(quiet=False)  # stderr is captured: no terminal
    step("training")
    step.close()
    out = capsys.readouterr()
    assert out.out.endswith("] training\n")
    assert out.err == ""
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(_progress, "DELAY", 0)
    step = _Progress(quiet=False)
    step("training")
    step.close()
    assert "] training" in capsys.readouterr().out
    assert "training: 1steps" in term.getvalue()
    quiet = _Progress(quiet=True)
    quiet("training")
    quiet.close()
    assert capsys.readouterr().out == ""


@pytest.fixture(scope="module")
def big_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("progress")
    rng = np.random.default_rng(1)
    n = 400_000
    df = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n)})
    df.to_parquet(root / "ref.parquet")
    df.assign(x=df.x + 0.5).to_parquet(root / "cur.parquet")
    return root / "ref.parquet", root / "cur.parquet"


def _run_on_terminal(argv: list[str]) -> tuple[int, str, str]:
    """Run ``prodml argv`` with stderr on a pseudo-terminal (100 columns); stdout piped."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    code = (  # bars at once (the default waits 0.5 s of work), then the real command
        "import sys, prodml._progress as p; p.DELAY = 0\n"
        "from prodml.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        try:
            while data := os.read(master, 65536):
                chunks.append(data)
        except OSError:  # EIO once the child closed the terminal
            pass

    reader = threading.Thread(target=read)
    reader.start()
    with proc:
        out = proc.stdout.read() if proc.stdout else ""
        rc = proc.wait(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    return rc, out, b"".join(chunks).decode(errors="replace")


def test_cli_drift_bar_on_a_terminal_only(big_pair: tuple[Path, Path]) -> None:
    ref, cur = big_pair
    code, out, err = _run_on_terminal(["drift", str(ref), str(cur)])
    assert code == 1
    assert "profiling ref.parquet" in err
    assert "profiling cur.parquet" in err
    assert "profiling reference" not in err  # no nested bar
    assert "%|" not in out  # the table on stdout stays clean
    code, out, err = _run_on_terminal(["drift", str(ref), str(cur), "--quiet"])
    assert code == 1
    assert "profiling" not in err
    piped = subprocess.run(
        [sys.executable, "-m", "prodml.cli", "drift", str(ref), str(cur)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert piped.returncode == 1
    assert piped.stderr == ""
    assert piped.stdout == out  # the same report, bar or not


def test_cli_drift_in_batches_equals_the_whole_tables(big_pair: tuple[Path, Path]) -> None:
    from prodml._cli_files import _stream_table

    ref, cur = big_pair
    whole = DriftDetector().fit(pq.read_table(ref)).detect(pq.read_table(cur))
    det = DriftDetector().fit(_stream_table(str(ref), progress=False))
    assert det.detect(_stream_table(str(cur), progress=False)).to_dict() == whole.to_dict()
