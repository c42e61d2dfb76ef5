"""``prodml schema FILE.parquet`` reads the footer and a bounded sample of row groups.

The schema is the one of the whole table (``Schema.infer(pq.read_table(path))``) when the
row groups fit the sample; beyond it, nullability comes from the footer's statistics.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml import _schema_parquet, cli
from prodml._schema_parquet import infer_parquet
from prodml.privacy import PersonalDataWarning
from prodml.schema import Schema


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "n": rng.integers(-5, 5, rows),
            "x": x,
            "s": rng.choice(["a", "b", None], rows),
            "c": pd.Categorical(rng.choice(["u", "v"], rows)),
            "b": rng.random(rows) < 0.5,
            "t": pd.date_range("2024-01-01", periods=rows, freq="h", tz="Europe/Paris"),
            "e": [f"user{i}@example.com" for i in range(rows)],
            "z": [None] * rows,
        }
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("row_group_size", [7, 100, 10_000])
@pytest.mark.parametrize("nullable", ["always", "observed"])
def test_a_file_that_fits_the_sample_gives_the_whole_table_s_schema(
    tmp_path: Path, seed: int, row_group_size: int, nullable: str
) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(pa.Table.from_pandas(_frame(300, seed)), path, row_group_size=row_group_size)
    with pytest.warns(PersonalDataWarning, match="column .e."):  # the e-mail column, both ways
        expected = Schema.infer(pq.read_table(path), nullable=nullable)  # type: ignore[arg-type]
    with pytest.warns(PersonalDataWarning, match="column .e."):
        got = infer_parquet(path, nullable=nullable)  # type: ignore[arg-type]
    assert got.to_dict() == expected.to_dict()


def _groups(tmp_path: Path, columns: dict[str, list[object]], **kw: object) -> Path:
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=2, **kw)  # type: ignore[arg-type]
    return path


def test_beyond_the_sample_nulls_come_from_the_footer(tmp_path: Path) -> None:
    path = _groups(
        tmp_path,
        {
            "late_null": [1, 2, 3, 4, 5, None],  # the null is in the last row group only
            "no_null": [1, 2, 3, 4, 5, 6],
            "text": ["a", "b", "c", "d", "e", "f"],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # read beyond the sample: no NaN there
        },
    )
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    got = {
        c.name: c.nullable for c in infer_parquet(path, nullable="observed", sample_bytes=0).columns
    }
    assert got == {"late_null": True, "no_null": False, "text": False, "x": False}
    whole = Schema.infer(pq.read_table(path), nullable="observed")
    assert [c.dtype for c in whole.columns] == [
        c.dtype for c in infer_parquet(path, nullable="observed", sample_bytes=0).columns
    ]


def test_a_nan_beyond_the_sample_is_never_missed(tmp_path: Path) -> None:
    path = _groups(tmp_path, {"x": [1.0, 2.0, 3.0, float("nan")]})
    assert Schema.infer(pq.read_table(path), nullable="observed").columns[0].nullable
    assert infer_parquet(path, nullable="observed", sample_bytes=0).columns[0].nullable


def test_without_statistics_beyond_the_sample_columns_are_nullable(tmp_path: Path) -> None:
    path = _groups(tmp_path, {"n": [1, 2, 3, 4]}, write_statistics=False)
    assert not infer_parquet(path, nullable="observed").columns[0].nullable  # all read
    assert infer_parquet(path, nullable="observed", sample_bytes=0).columns[0].nullable


def _corrupt_last_row_group(path: Path) -> None:
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(meta.num_row_groups - 1).column(0)
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset
    data[start : start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    path.write_bytes(bytes(data))


def test_prodml_schema_reads_no_row_group_beyond_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The last row group's pages are garbage: reading the whole file fails on them.
    path = tmp_path / "big.parquet"
    table = pa.table({"n": np.arange(40_000)})
    pq.write_table(table, path, row_group_size=10_000, use_dictionary=False)
    _corrupt_last_row_group(path)
    with pytest.raises(OSError, match=r"(?i)thrift|deserial|corrupt|invalid|page"):
        pq.read_table(path)
    monkeypatch.setattr(_schema_parquet, "SAMPLE_BYTES", 1)  # the first row group only
    assert cli.main(["schema", str(path), "--json"]) == 0
    (column,) = json.loads(capsys.readouterr().out)["columns"]
    assert (column["name"], column["dtype"], column["nullable"]) == ("n", "int", False)


def test_the_sample_is_the_leading_row_groups_up_to_the_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"n": np.arange(100)}), path, row_group_size=10)
    meta = pq.ParquetFile(path).metadata
    size = meta.row_group(0).total_byte_size
    assert _schema_parquet.sample_row_groups(meta, 0) == 1
    assert _schema_parquet.sample_row_groups(meta, size * 3) == 3
    assert _schema_parquet.sample_row_groups(meta, 10**12) == 10


@pytest.mark.parametrize("seed", range(12))
def test_nullability_beyond_the_sample_is_the_whole_file_s(tmp_path: Path, seed: int) -> None:
    # Nulls and NaNs at random rows of random columns: the sample (one row group) sees
    # few of them; the footer's counts and the float columns' read must find the rest.
    rng = np.random.default_rng(seed)
    rows = 60
    columns: dict[str, list[object]] = {}
    for i, kind in enumerate(["int", "float", "float", "string", "bool"]):
        holes = rng.random(rows) < rng.choice([0.0, 0.02, 0.05])
        nan = kind == "float" and rng.random() < 0.5
        values = rng.normal(size=rows) if kind == "float" else rng.integers(0, 9, rows)
        data: list[object] = [
            (float("nan") if nan else None) if hole else v.item()
            for hole, v in zip(holes, values, strict=True)
        ]
        if kind == "string":
            data = [None if v is None else str(v) for v in data]
        elif kind == "bool":
            data = [None if v is None else bool(v) for v in data]
        columns[f"{kind}{i}"] = data
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=int(rng.integers(3, 20)))
    whole = Schema.infer(pq.read_table(path), nullable="observed")
    sampled = infer_parquet(path, nullable="observed", sample_bytes=0)
    assert sampled.to_dict() == whole.to_dict()
