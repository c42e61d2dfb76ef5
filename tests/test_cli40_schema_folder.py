"""``prodml schema FOLDER`` samples a Parquet dataset as it does one file.

The footers of every file and the leading row groups (64 MiB over all the files) are
read, not the whole dataset; the schema is ``Schema.infer(pq.read_table(folder))`` when
the row groups fit the sample, and its nullability beyond it comes from the footers.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml import _schema_parquet, cli
from prodml._schema_parquet import infer_parquet
from prodml.privacy import PersonalDataWarning
from prodml.schema import Schema


def _table(rows: int, rng: np.random.Generator) -> pa.Table:
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.1] = np.nan
    n = pa.array(rng.integers(-5, 5, rows), mask=rng.random(rows) < 0.05)
    return pa.table(
        {
            "n": n,
            "x": x,
            "s": pa.array(rng.choice(["a", "b", None], rows).tolist()),
            "b": rng.random(rows) < 0.5,
            "t": pa.array(np.arange(rows).astype("datetime64[s]")).cast(pa.timestamp("s", "UTC")),
        }
    )


def _folder(tmp_path: Path, seed: int, files: int = 4, group: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    folder = tmp_path / "ds"
    for i in range(files):
        part = folder / f"region={'eu' if i % 2 else 'us'}"
        part.mkdir(parents=True, exist_ok=True)
        rows = int(rng.integers(1, 30))
        pq.write_table(_table(rows, rng), part / f"part-{i}.parquet", row_group_size=group)
    (folder / "_SUCCESS").write_text("")  # a marker read_table skips, as here
    return folder


def _infer(path: Path, **kw: object) -> Schema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PersonalDataWarning)
        return infer_parquet(path, **kw)  # type: ignore[arg-type]


def _whole(path: Path, nullable: str) -> Schema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PersonalDataWarning)
        return Schema.infer(pq.read_table(path), nullable=nullable)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("nullable", ["always", "observed"])
def test_a_folder_that_fits_the_sample_gives_the_whole_dataset_s_schema(
    tmp_path: Path, seed: int, nullable: str
) -> None:
    folder = _folder(tmp_path, seed)
    assert _infer(folder, nullable=nullable).to_dict() == _whole(folder, nullable).to_dict()


@pytest.mark.parametrize("seed", range(12))
def test_nullability_beyond_the_sample_is_the_whole_dataset_s(tmp_path: Path, seed: int) -> None:
    # One row group sampled: the footers of the other files and their float columns' NaN
    # scan must find every null the whole read finds, and mark nothing more.
    folder = _folder(tmp_path, seed, files=5, group=int(np.random.default_rng(seed).integers(2, 9)))
    sampled = _infer(folder, nullable="observed", sample_bytes=0)
    assert sampled.to_dict() == _whole(folder, "observed").to_dict()


def test_a_column_missing_from_a_later_file_is_nullable(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    pq.write_table(pa.table({"a": [1, 2], "b": [1.0, 2.0]}), folder / "0.parquet")
    pq.write_table(pa.table({"a": [3, 4]}), folder / "1.parquet")  # read_table fills b: null
    got = {c.name: c.nullable for c in _infer(folder, nullable="observed", sample_bytes=0).columns}
    assert got == {"a": False, "b": True}
    assert got == {c.name: c.nullable for c in _whole(folder, "observed").columns}


def test_a_partition_without_a_value_beyond_the_sample_is_nullable(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    for i, part in enumerate(["k=A", "k=B", "k=__HIVE_DEFAULT_PARTITION__"]):
        (folder / part).mkdir(parents=True)
        pq.write_table(pa.table({"v": [i, i + 1]}), folder / part / "f.parquet")
    assert "__HIVE_DEFAULT_PARTITION__" in pq.ParquetDataset(folder).files[-1]  # read last
    got = _infer(folder, nullable="observed", sample_bytes=0)  # the row group of k=A only
    assert [(c.name, c.nullable) for c in got.columns] == [("v", False), ("k", True)]
    whole = Schema.infer(pq.read_table(folder), nullable="observed")  # the whole read agrees
    assert [(c.name, c.nullable) for c in whole.columns] == [("v", False), ("k", True)]


def _corrupt_last_row_group(path: Path) -> None:
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(meta.num_row_groups - 1).column(0)
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset
    data[start : start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    path.write_bytes(bytes(data))


def test_prodml_schema_reads_no_row_group_of_a_folder_beyond_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: the folder was read whole (pq.read_table), and failed on the last file's pages.
    folder = tmp_path / "ds"
    folder.mkdir()
    for i in range(3):
        table = pa.table({"n": np.arange(i * 20_000, (i + 1) * 20_000)})
        pq.write_table(table, folder / f"{i}.parquet", row_group_size=10_000, use_dictionary=False)
    _corrupt_last_row_group(folder / "2.parquet")
    with pytest.raises(OSError, match=r"(?i)thrift|deserial|corrupt|invalid|page"):
        pq.read_table(folder)
    monkeypatch.setattr(_schema_parquet, "SAMPLE_BYTES", 1)  # the first row group only
    assert cli.main(["schema", str(folder), "--json"]) == 0
    (column,) = json.loads(capsys.readouterr().out)["columns"]
    assert (column["name"], column["dtype"], column["nullable"]) == ("n", "int", False)


def test_a_folder_of_files_without_row_groups_is_the_empty_table_s_schema(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), folder / "0.parquet")
    assert _infer(folder, nullable="observed").to_dict() == _whole(folder, "observed").to_dict()
