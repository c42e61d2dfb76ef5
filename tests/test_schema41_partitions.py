"""Integer hive partitions, as ``pq.read_table`` reads them: dictionaries of int32.

``pq.read_table(folder)`` of a folder written with ``partition_cols=["year", "month"]``
reads ``year=2024`` as a dictionary column of int32, one dictionary per file, and a
``__HIVE_DEFAULT_PARTITION__`` folder as a chunk whose dictionary is one null. Stop 40
refused such a column ("categories of type int32") in ``Schema.infer``, ``validate`` and
``FeaturePipeline.fit``. A dictionary of anything but text is now a column of its values'
own type: every answer is the one for the same files read without partitioning, each with
its partition values added by hand as an int32 column (the golden table below).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Column, LogicalType, Schema

NULL_FOLDER = "__HIVE_DEFAULT_PARTITION__"


def _write(table: pa.Table, folder: Path, cols: list[str]) -> Path:
    pq.write_to_dataset(table, folder, partition_cols=cols)
    return folder


def _by_hand(folder: Path, cols: list[str]) -> pa.Table:
    """The folder's files, read without partitioning, in ``read_table``'s order, each with
    its partition values parsed from its path and added as int32 columns."""
    parts = []
    for file in pq.ParquetDataset(folder).files:
        plain = pq.ParquetFile(file).read()
        assert not set(cols) & set(plain.schema.names)  # the values live in the path only
        keys = dict(p.split("=", 1) for p in Path(file).parent.relative_to(folder).parts)
        for name in cols:
            value = None if keys[name] == NULL_FOLDER else int(keys[name])
            plain = plain.append_column(name, pa.array([value] * plain.num_rows, pa.int32()))
        parts.append(plain)
    return pa.concat_tables(parts)


def _pipeline() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["year", "month"], strategy="median"),
            steps.StandardScale(["v", "year"]),
            steps.Bucketize(["month"], edges=[2.5, 6.5]),
        ]
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    source = pa.table(
        {
            "v": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            "year": pa.array([2024, 2025, 2024, None, 2025, 2023, None], pa.int64()),
            "month": pa.array([1, 3, 12, 3, None, 1, 7], pa.int64()),
        }
    )
    return _write(source, tmp_path / "ds", ["year", "month"])


def test_read_table_gives_dictionaries_with_a_null_folder(folder: Path) -> None:
    """The reading every test here is about (pyarrow's, not ours)."""
    table = pq.read_table(folder)
    assert table.schema.field("year").type == pa.dictionary(pa.int32(), pa.int32())
    assert any(NULL_FOLDER in f for f in pq.ParquetDataset(folder).files)
    assert table.column("year").num_chunks > 1


def test_infer_and_validate_give_the_golden_tables_answers(folder: Path) -> None:
    table, golden = pq.read_table(folder), _by_hand(folder, ["year", "month"])
    for nullable in ("always", "observed"):
        got = Schema.infer(table, nullable=nullable)
        assert got == Schema.infer(golden, nullable=nullable)
    got = Schema.infer(table, nullable="observed")
    assert [(c.name, c.dtype, c.nullable) for c in got.columns] == [
        ("v", LogicalType.FLOAT, False),
        ("year", LogicalType.INT, True),
        ("month", LogicalType.INT, True),
    ]
    got.validate(table)
    got.validate(golden)


@pytest.mark.parametrize(
    ("column", "message", "row"),
    [
        (Column("year", "int", max=2024), "2 values above the maximum 2024, e.g. 2025", 3),
        (Column("year", "int", nullable=False), "null value(s) where nulls are not allowed", 5),
        (Column("year", "int", allowed=[2024, 2025]), "not among the allowed values", 0),
        (Column("year", "category"), "expected category, got int 2023", 0),
        (Column("year", "datetime"), "expected datetime, got int 2023", 0),
    ],
)
def test_validate_words_problems_as_it_does_for_the_golden_table(
    folder: Path, column: Column, message: str, row: int | None
) -> None:
    """Same problems, same rows, whichever of the two readings is validated."""
    schema = Schema([Column("v", "float"), column, Column("month", "int")])
    found = []
    for data in (pq.read_table(folder), _by_hand(folder, ["year", "month"])):
        with pytest.raises(SchemaError) as info:
            schema.validate(data)
        found.append(info.value.problems)
    assert found[0] == found[1]
    (problem,) = found[0]
    assert problem.column == "year"
    assert message in problem.message
    assert problem.row == row  # read_table's order: year=2023 first


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def test_pipeline_fit_and_transform_give_the_golden_tables_answers(folder: Path) -> None:
    table, golden = pq.read_table(folder), _by_hand(folder, ["year", "month"])
    pipe = _pipeline().fit(table)
    want = _pipeline().fit(golden)
    assert pipe.fingerprint == want.fingerprint
    assert pipe.input_schema == want.input_schema
    x = pipe.transform(table)
    assert _same(x, want.transform(golden))
    assert _same(x, pipe.transform(golden))
    # Fitted over the files' chunks (each its own dictionary, one of a null): the same.
    assert _pipeline().fit(table.to_batches()).fingerprint == want.fingerprint
    for i, row in enumerate(golden.to_pylist()):
        assert _same(pipe.transform_record(row), x[i])


def test_a_pandas_reading_with_arrow_types_is_the_golden_tables(tmp_path: Path) -> None:
    """``pd.read_parquet(..., dtype_backend="pyarrow")``: an ``ArrowDtype`` dictionary of
    int32 (pandas reads no folder with a null partition: arrow cannot unify it)."""
    source = pa.table({"v": [1.0, 2.0, 3.0], "year": [2024, 2025, 2024], "month": [1, 2, 1]})
    folder = _write(source, tmp_path / "ds", ["year", "month"])
    frame = pd.read_parquet(folder, dtype_backend="pyarrow")
    assert pa.types.is_dictionary(frame["year"].dtype.pyarrow_dtype)
    golden = _by_hand(folder, ["year", "month"])
    assert Schema.infer(frame) == Schema.infer(golden)
    pipe, want = _pipeline().fit(frame), _pipeline().fit(golden)
    assert pipe.fingerprint == want.fingerprint
    assert _same(pipe.transform(frame), want.transform(golden))


def test_a_column_of_null_folders_only_is_a_nullable_int() -> None:
    """Every chunk a dictionary of one null (pyarrow writes no such folder it can read
    back, as no value types it; a chunked read of it looks so)."""
    nulls = pa.DictionaryArray.from_arrays(
        pa.array([0, 0], pa.int32()), pa.array([None], pa.int32())
    )
    table = pa.Table.from_batches(
        [pa.record_batch({"k": nulls}), pa.record_batch({"k": nulls.slice(1)})]
    )
    got = Schema.infer(table, nullable="observed")
    assert [(c.dtype, c.nullable) for c in got.columns] == [(LogicalType.INT, True)]
    got.validate(table)
    with pytest.raises(SchemaError, match="null value"):
        Schema([Column("k", "int", nullable=False)]).validate(table)


_STAMPS = [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(1999, 12, 31, 23, 59), None]

DICTIONARIES = {
    "bool": (pa.array([True, None, False, True]), LogicalType.BOOL),
    "float": (pa.array([1.5, None, -2.0, 1.5]), LogicalType.FLOAT),
    "decimal": (pa.array([1, 2, None], pa.decimal128(5, 1)), LogicalType.FLOAT),
    "uint8": (pa.array([3, None, 3], pa.uint8()), LogicalType.INT),
    "timestamp": (pa.array(_STAMPS, pa.timestamp("us")), LogicalType.DATETIME),
    "date": (pa.array([dt.date(2024, 2, 29), None], pa.date32()), LogicalType.DATETIME),
}


@pytest.mark.parametrize(("values", "kind"), DICTIONARIES.values(), ids=DICTIONARIES.keys())
def test_any_non_text_dictionary_reads_as_its_values(values: pa.Array, kind: LogicalType) -> None:
    encoded = pa.table({"c": values.dictionary_encode()})
    schema = Schema.infer(encoded)
    assert schema["c"].dtype is kind
    assert schema == Schema.infer(pa.table({"c": values}))
    schema.validate(encoded)


def test_a_dictionary_of_datetimes_gives_the_date_parts_of_its_values() -> None:
    values = pa.array(_STAMPS[:2] * 2, pa.timestamp("us", tz="Europe/Paris"))
    encoded, plain = pa.table({"t": values.dictionary_encode()}), pa.table({"t": values})
    pipe = FeaturePipeline([steps.DateParts(["t"])])
    got = pipe.fit(encoded).transform(encoded)
    assert _same(got, FeaturePipeline([steps.DateParts(["t"])]).fit(plain).transform(plain))
    assert _same(pipe.transform_record({"t": values[0].as_py()}), got[0])
    assert pipe.input_schema["t"].timezone == "Europe/Paris"


def test_a_dictionary_of_binary_is_refused_naming_its_type() -> None:
    table = pa.table({"b": pa.array([b"x", b"y"]).dictionary_encode()})
    with pytest.raises(SchemaError) as info:
        Schema.infer(table)
    (problem,) = info.value.problems
    assert problem.column == "b"
    assert problem.message == "unsupported type binary"  # as for the column decoded


@settings(max_examples=15, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(-1e6, 1e6, allow_nan=False),
            st.sampled_from([2023, 2024, None]),
            st.sampled_from([1, 2, 11, None]),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_a_partitioned_folder_is_its_golden_table(
    rows: list[tuple[float, int | None, int | None]],
) -> None:
    """On random rows: schema, fitted state and features of the folder read by
    ``read_table`` are those of the files read plain with the partitions added by hand."""
    years, months = [r[1] for r in rows], [r[2] for r in rows]
    if all(y is None for y in years) or all(m is None for m in months):
        years[0], months[0] = 2024, 1  # pyarrow reads no partition with no value at all
    source = pa.table(
        {
            "v": [r[0] for r in rows],
            "year": pa.array(years, pa.int64()),
            "month": pa.array(months, pa.int64()),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = _write(source, Path(tmp) / "ds", ["year", "month"])
        table, golden = pq.read_table(folder), _by_hand(folder, ["year", "month"])
    assert Schema.infer(table, nullable="observed") == Schema.infer(golden, nullable="observed")
    pipe, want = _pipeline().fit(table), _pipeline().fit(golden)
    assert pipe.fingerprint == want.fingerprint
    x = pipe.transform(table)
    assert _same(x, want.transform(golden))
    row = golden.to_pylist()[-1]
    assert _same(pipe.transform_record(row), x[-1])
    assert not any(math.isnan(v) for v in x[:, 0])  # v is never null: no NaN sneaks in


def test_an_all_null_pandas_categorical_through_arrow_stays_a_category() -> None:
    """Arrow reads it as an empty ``dictionary<values=double>``: no values to decode, so
    not a float column (the record path reads its nulls as text's: batch == record)."""
    table = pa.Table.from_pandas(pd.DataFrame({"k": pd.Categorical([None, None])}))
    assert table.schema.field("k").type.value_type == pa.float64()
    assert Schema.infer(table)["k"].dtype is LogicalType.CATEGORY
    pipe = FeaturePipeline([steps.Impute(["k"], strategy="constant"), steps.OneHot(["k"])])
    x = pipe.fit(table).transform(table)
    assert _same(pipe.transform_record({"k": None}), x[0])


def test_allowed_ints_of_an_arrow_column_with_nulls_are_compared_exactly() -> None:
    """``Columns.objects`` read an arrow int column with nulls as float64: ``validate``
    refused an allowed 2**53 + 1 (read as 2**53) and showed ``2023.0`` for ``2023``."""
    big = 2**53 + 1
    table = pa.table({"x": pa.array([big, None, 3], pa.int64())})
    Schema([Column("x", "int", allowed=[big, 3])]).validate(table)
    with pytest.raises(SchemaError) as info:
        Schema([Column("x", "int", allowed=[3])]).validate(table)
    (problem,) = info.value.problems
    assert problem.message.endswith(f"e.g. {big}")
    assert problem.row == 0
