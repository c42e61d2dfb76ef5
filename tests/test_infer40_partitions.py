"""``Schema.infer`` of hive-partitioned Parquet folders, and its personal-data kind tie.

``pq.read_table(folder)`` reads each partition column as a dictionary column, chunked by
file, each chunk with its own dictionary; a folder ``x=__HIVE_DEFAULT_PARTITION__`` (a
null partition value) gives a chunk whose dictionary is one null. ``infer`` raised
pyarrow's raw ``ArrowInvalid`` "Cannot yet unify dictionaries with nulls" from the
personal-data search on such a column.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from prodml.privacy import PersonalDataWarning
from prodml.schema import LogicalType, Schema

HIVE = pds.partitioning(flavor="hive")  # partition values in their own types


def _write(table: pa.Table, folder: Path, cols: list[str]) -> Path:
    pq.write_to_dataset(table, folder, partition_cols=cols)
    return folder


def _columns(schema: Schema) -> dict[str, tuple[str, bool]]:
    return {c.name: (c.dtype.value, c.nullable) for c in schema.columns}


@pytest.fixture
def source() -> pa.Table:
    return pa.table(
        {
            "v": [1.0, 2.0, 3.0, 4.0, 5.0],
            "city": ["paris", "lyon", None, "paris", None],
            "year": [2024, 2025, 2024, None, 2025],
        }
    )


def test_a_text_partition_with_a_null_folder_is_a_nullable_text_column(
    tmp_path: Path, source: pa.Table
) -> None:
    folder = _write(source, tmp_path / "ds", ["city"])
    assert any("__HIVE_DEFAULT_PARTITION__" in f for f in pq.ParquetDataset(folder).files)
    table = pq.read_table(folder)
    assert pa.types.is_dictionary(table.schema.field("city").type)
    with pytest.raises(pa.ArrowInvalid, match="unify dictionaries with nulls"):
        table.to_pandas()  # what pyarrow itself cannot do with this table
    got = Schema.infer(table, nullable="observed")
    assert _columns(got) == {
        "v": ("float", False),
        "year": ("int", True),
        "city": ("category", True),
    }
    got.validate(table)  # the schema takes the data it was inferred from
    # Read with the partitions in their values' own types: the source table's schema.
    plain = pq.read_table(folder, partitioning=HIVE)
    assert _columns(Schema.infer(plain, nullable="observed")) == {
        "v": ("float", False),
        "year": ("int", True),
        "city": ("string", True),
    }
    assert _columns(Schema.infer(plain, nullable="observed")) == {
        name: _columns(Schema.infer(source, nullable="observed"))[name]
        for name in plain.schema.names
    }


def test_an_int_partition_is_an_int_column_read_either_way(
    tmp_path: Path, source: pa.Table
) -> None:
    """Stop 40 refused ``year`` under ``read_table``'s default reading (a dictionary of
    int32) as "categories of type int32"; stop 41 reads the ints it holds."""
    folder = _write(source, tmp_path / "ds", ["year", "city"])  # nulls in both
    default = pq.read_table(folder)
    assert pa.types.is_dictionary(default.schema.field("year").type)
    got = Schema.infer(default, nullable="observed")
    assert _columns(got) == {
        "v": ("float", False),
        "year": ("int", True),
        "city": ("category", True),
    }
    got.validate(default)
    table = pq.read_table(folder, partitioning=HIVE)
    got = Schema.infer(table, nullable="observed")
    assert _columns(got) == {"v": ("float", False), "year": ("int", True), "city": ("string", True)}
    got.validate(table)


def test_personal_data_is_found_in_a_partition_column_with_a_null_folder(tmp_path: Path) -> None:
    emails = [f"user{i}@example.com" for i in range(4)]
    table = pa.table({"v": [1, 2, 3, 4, 5], "who": [*emails, None]})
    folder = _write(table, tmp_path / "ds", ["who"])
    read = pq.read_table(folder)
    with pytest.warns(PersonalDataWarning, match=r"'who'.*\(email\)"):
        got = Schema.infer(read)
    assert got["who"].sensitive
    assert got["who"].dtype is LogicalType.CATEGORY
    assert not got["v"].sensitive


def test_a_partition_column_of_chunks_with_null_dictionaries_only() -> None:
    """Every folder of one column null: chunks whose dictionaries hold only a null."""
    nulls = pa.DictionaryArray.from_arrays(
        pa.array([0, 0], pa.int32()), pa.array([None], pa.string())
    )
    table = pa.Table.from_batches(
        [pa.record_batch({"k": nulls}), pa.record_batch({"k": nulls.slice(1)})]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", PersonalDataWarning)
        got = Schema.infer(table, nullable="observed")
    assert _columns(got) == {"k": ("category", True)}


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.sampled_from([1, 2, None])),
        min_size=1,
        max_size=12,
    )
)
def test_the_partitions_types_and_nullability_are_the_source_tables(
    rows: list[tuple[str | None, int | None]],
) -> None:
    """Read either way, a partitioned folder's schema has the source table's nullability;
    its types are the source's, with text as ``category`` under ``read_table``'s
    default reading (dictionaries; a dictionary of ints is an int column)."""
    # pyarrow reads no folder whose partition values are all null (no type to infer).
    assume(any(s is not None for s, _ in rows) and any(i is not None for _, i in rows))
    source = pa.table(
        {
            "n": list(range(len(rows))),
            "s": pa.array([r[0] for r in rows], pa.string()),
            "i": pa.array([r[1] for r in rows], pa.int32()),
        }
    )
    expected = _columns(Schema.infer(source, nullable="observed"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = _write(source, Path(tmp) / "ds", ["s", "i"])
        plain = pq.read_table(folder, partitioning=HIVE)
        assert _columns(Schema.infer(plain, nullable="observed")) == expected
        default = _columns(Schema.infer(pq.read_table(folder), nullable="observed"))
    assert default == {**expected, "s": ("category", expected["s"][1])}


# ------------------------------------------------- a tie between personal-data kinds

_TIE = """
import json, sys, warnings
import pandas as pd
from prodml.schema import Schema
out = []
for values in (["ann@example.com", "+44 20 7946 0958"], ["+44 20 7946 0958", "ann@example.com"]):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Schema.infer(pd.DataFrame({"c": values}))
    out.append([str(w.message) for w in caught])
print(json.dumps(out))
"""


def test_a_tie_between_two_kinds_goes_to_the_first_found_in_any_process() -> None:
    """The kind was the first of a ``set`` of kinds, whose order is PYTHONHASHSEED's."""
    runs = []
    for seed in ("0", "1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _TIE], env=env, capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout))
    assert all(run == runs[0] for run in runs)
    (email_first,), (phone_first,) = runs[0]
    assert "(email)" in email_first
    assert "(phone)" in phone_first
