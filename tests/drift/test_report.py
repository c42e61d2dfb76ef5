"""DriftReport outputs (frame, dict/JSON, HTML) and the `prodml drift` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodml.cli import main
from prodml.drift import DriftDetector, DriftReport, DriftResult


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 4000
    ref = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y <b>&": rng.exponential(size=n),
            "c": rng.choice([f"k{i}" for i in range(30)], n),
            "gone": np.full(n, np.nan),
        }
    )
    cur = pd.DataFrame(
        {
            "x": rng.normal(0.5, size=n),
            "y <b>&": rng.exponential(size=n),
            "c": rng.choice([f"k{i}" for i in range(30)], n),
            "gone": rng.normal(size=n),
        }
    )
    return ref, cur


@pytest.fixture(scope="module")
def report(tables: tuple[pd.DataFrame, pd.DataFrame]) -> DriftReport:
    ref, cur = tables
    return DriftDetector().fit(ref).detect(cur)


def test_frame_has_one_row_per_column(report: DriftReport) -> None:
    frame = report.to_frame()
    assert list(frame["column"]) == ["x", "y <b>&", "c", "gone"]
    # "gone" was all null and now has values: its values untestable, its null share drifted.
    assert list(frame["drifted"]) == [True, False, False, True]
    for col in ("statistic", "p_value", "p_adjusted", "effect", "psi", "jensen_shannon"):
        assert col in frame.columns
    assert frame["p_value"].dtype == np.float64
    assert np.isnan(frame.loc[3, "p_value"])
    assert not frame.loc[3, "testable"]


def test_dict_and_json_round_trip(report: DriftReport, tmp_path: Path) -> None:
    d = report.to_dict()
    assert d["format_version"] == 1
    assert d["drifted_columns"] == ["x", "gone"]
    assert d["settings"]["correction"] == "holm"
    path = tmp_path / "r.json"
    text = report.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text) == d
    # Strict JSON: no NaN tokens.
    assert "NaN" not in text
    again = DriftReport.from_dict(json.loads(text))
    assert again.to_dict() == d
    assert again["x"] == DriftResult(**d["results"][0])


def test_html_is_self_contained_with_a_plot_per_column(report: DriftReport, tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    page = report.to_html(path)
    assert path.read_text(encoding="utf-8") == page
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 3  # the all-null reference column has no plot
    assert "every reference value is null" in page
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"(http|//)", page)  # nothing loaded from outside
    assert "y &lt;b&gt;&amp;" in page
    assert "y <b>&" not in page
    assert page.count('class="drift"') == 2
    assert "drift (nulls)" in page
    assert "2 of 4 columns drifted" in page


def test_repr_html_and_repr(report: DriftReport) -> None:
    frag = report._repr_html_()
    assert frag.startswith('<div class="prodml-drift">')
    assert "<svg" in frag
    assert repr(report) == "DriftReport(2 of 4 tested columns drifted: ['x', 'gone'])"
    with pytest.raises(KeyError):
        report["nope"]


def test_categorical_plot_groups_rare_categories(report: DriftReport) -> None:
    plot = report["c"].plot
    assert plot["type"] == "bar"
    assert len(plot["labels"]) == 16
    assert plot["labels"][-1] == "(other 15)"
    assert sum(plot["reference"]) == pytest.approx(1.0)
    numeric = report["x"].plot
    assert numeric["type"] == "hist"
    assert len(numeric["edges"]) == len(numeric["reference"]) + 1


@pytest.fixture
def files(tmp_path: Path, tables: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[Path, Path, Path]:
    ref, cur = tables
    ref_path, cur_path, same_path = (
        tmp_path / "ref.parquet",
        tmp_path / "cur.csv",
        tmp_path / "same.parquet",
    )
    ref.drop(columns=["gone"]).to_parquet(ref_path, index=False)
    cur.drop(columns=["gone"]).to_csv(cur_path, index=False)
    ref.drop(columns=["gone"]).to_parquet(same_path, index=False)
    return ref_path, cur_path, same_path


def test_cli_exit_codes_and_outputs(
    files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur, same = files
    html, js = tmp_path / "o.html", tmp_path / "o.json"
    assert main(["drift", str(ref), str(cur), "--html", str(html), "--json", str(js)]) == 1
    out = capsys.readouterr().out
    assert "1 of 3 columns drifted: x" in out
    assert re.search(r"^x\s+ks\s+.*DRIFT$", out, re.MULTILINE)
    assert html.read_text(encoding="utf-8").count("<svg") == 3
    assert json.loads(js.read_text())["drifted_columns"] == ["x"]
    assert main(["drift", str(ref), str(same)]) == 0
    assert "0 of 3 columns drifted: -" in capsys.readouterr().out
    assert main(["drift", str(ref), str(cur), "--columns", "c", "--correction", "none"]) == 0


def test_cli_errors_exit_2(
    files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, _, _ = files
    other = tmp_path / "other.csv"
    pd.DataFrame({"z": [1, 2]}).to_csv(other, index=False)
    assert main(["drift", str(ref), str(other)]) == 2
    assert "column is missing from the current data" in capsys.readouterr().err
    assert main(["drift", str(ref), str(tmp_path / "nope.parquet")]) == 2
    assert main(["drift", str(ref), str(ref), "--alpha", "2"]) == 2
    assert "argument --alpha: invalid level 2" in capsys.readouterr().err


def test_every_svg_is_well_formed_xml(report: DriftReport) -> None:
    import xml.etree.ElementTree as ET

    svgs = re.findall(r"<svg.*?</svg>", report.to_html(), flags=re.DOTALL)
    assert len(svgs) == 3
    for svg in svgs:
        root = ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert len(root) > 0


def test_datetime_plots_are_labelled_with_dates() -> None:
    start = np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64)
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"at": pd.to_datetime(start + rng.integers(0, 86_400 * 365, 500), unit="s")})
    cur = pd.DataFrame({"at": pd.to_datetime(start + rng.integers(0, 86_400 * 365, 500), unit="s")})
    page = DriftDetector().fit(ref).detect(cur).to_html()
    assert "2022-01-01" in page or "2022-01-02" in page
    assert "e+09" not in page
