"""pandas ``Categorical``s of numbers, bools or datetimes, as ``pd.read_parquet`` reads
integer hive partitions.

``pd.read_parquet(folder)`` of a folder written with ``partition_cols=["year", "month"]``
gives ``year`` as a ``Categorical`` with int32 categories. Stop 41 read the arrow
dictionary of ``pq.read_table(folder)`` as the ints it holds but still refused the pandas
reading ("categories of type int32"). Such a Categorical is now a column of its
categories' own type (nulls kept): every answer equals the one for ``pq.read_table`` of the
same folder. Categoricals of text stay ``category``.
"""

from __future__ import annotations

import datetime as dt
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


def _pipeline() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["year", "month"], strategy="median"),
            steps.StandardScale(["v", "year"]),
            steps.Bucketize(["month"], edges=[2.5, 6.5]),
        ]
    )


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    source = pa.table(
        {
            "v": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            "year": pa.array([2024, 2025, 2024, 2023, 2025, 2023, 2024], pa.int64()),
            "month": pa.array([1, 3, 12, 3, 7, 1, 7], pa.int64()),
            "city": ["Paris", "Lyon", "Paris", "Nice", "Lyon", "Nice", "Paris"],
        }
    )
    pq.write_to_dataset(source, tmp_path / "ds", partition_cols=["year", "month", "city"])
    return tmp_path / "ds"


def test_read_parquet_gives_categoricals_of_ints(folder: Path) -> None:
    """The reading every test here is about (pandas', not ours)."""
    frame = pd.read_parquet(folder)
    assert isinstance(frame["year"].dtype, pd.CategoricalDtype)
    assert frame["year"].cat.categories.dtype == np.int32
    assert isinstance(frame["city"].dtype, pd.CategoricalDtype)


def test_infer_and_validate_give_the_arrow_readings_answers(folder: Path) -> None:
    frame, table = pd.read_parquet(folder), pq.read_table(folder)
    for nullable in ("always", "observed"):
        assert Schema.infer(frame, nullable=nullable) == Schema.infer(table, nullable=nullable)
    got = Schema.infer(frame, nullable="observed")
    assert [(c.name, c.dtype) for c in got.columns] == [
        ("v", LogicalType.FLOAT),
        ("year", LogicalType.INT),
        ("month", LogicalType.INT),
        ("city", LogicalType.CATEGORY),  # text stays a category
    ]
    got.validate(frame)


@pytest.mark.parametrize(
    "column",
    [
        Column("year", "int", max=2024),
        Column("year", "int", min=2024),
        Column("year", "int", allowed=[2024, 2025]),
        Column("year", "category"),
        Column("year", "string"),
        Column("year", "datetime"),
        Column("year", "float", max=2023.5),
    ],
)
def test_validate_answers_as_for_the_arrow_reading(folder: Path, column: Column) -> None:
    """Same problems, same rows and values shown, for the pandas and the arrow reading."""
    schema = Schema(
        [Column("v", "float"), column, Column("month", "int"), Column("city", "category")]
    )
    found = []
    for data in (pd.read_parquet(folder), pq.read_table(folder)):
        with pytest.raises(SchemaError) as info:
            schema.validate(data)
        found.append(info.value.problems)
    assert found[0] == found[1]
    assert [p.column for p in found[0]] == ["year"]


def test_pipelines_give_the_arrow_readings_answers(folder: Path) -> None:
    frame, table = pd.read_parquet(folder), pq.read_table(folder)
    pipe, want = _pipeline().fit(frame), _pipeline().fit(table)
    assert pipe.fingerprint == want.fingerprint
    assert pipe.input_schema == want.input_schema
    x = pipe.transform(frame)
    assert _same(x, want.transform(table))
    assert _same(x, pipe.transform(table))
    for i, row in enumerate(frame.to_dict("records")):
        assert _same(pipe.transform_record(row), x[i])
    # Over pandas chunks whose categories differ (each file's own): the same state.
    chunks = [frame.iloc[:3].copy(), frame.iloc[3:].copy()]
    chunks[1]["year"] = chunks[1]["year"].cat.remove_unused_categories()
    assert _pipeline().fit(chunks).fingerprint == want.fingerprint


def test_null_partitions_are_nulls_of_the_int_column(tmp_path: Path) -> None:
    """A ``__HIVE_DEFAULT_PARTITION__`` folder: ``pq.read_table`` reads it as a null; pandas
    cannot convert that (arrow does not unify dictionaries holding a null), so the frame is
    the one ``pd.read_parquet`` gives of the other folders, with the null rows a
    ``Categorical`` holds as code -1."""
    source = pa.table(
        {"v": [1.0, 2.0, 3.0, 4.0, 5.0], "year": pa.array([2024, None, 2025, None, 2024])}
    )
    pq.write_to_dataset(source, tmp_path / "ds", partition_cols=["year"])
    table = pq.read_table(tmp_path / "ds")
    years = table.column("year").cast(pa.int32()).to_pylist()
    assert None in years
    frame = pd.DataFrame(
        {
            "v": table.column("v").to_numpy(),
            "year": pd.Categorical(years, categories=pd.Index([2024, 2025], dtype="int32")),
        }
    )
    assert frame["year"].cat.codes.tolist().count(-1) == 2
    got = Schema.infer(frame, nullable="observed")
    assert got == Schema.infer(table, nullable="observed")
    assert (got["year"].dtype, got["year"].nullable) == (LogicalType.INT, True)
    with pytest.raises(SchemaError) as info:
        Schema([Column("v", "float"), Column("year", "int", nullable=False)]).validate(frame)
    (problem,) = info.value.problems
    assert "null value" in problem.message
    pipe = FeaturePipeline(
        [steps.Impute(["year"], strategy="median"), steps.StandardScale(["v", "year"])]
    )
    want = FeaturePipeline(
        [steps.Impute(["year"], strategy="median"), steps.StandardScale(["v", "year"])]
    ).fit(table)
    x = pipe.fit(frame).transform(frame)
    assert pipe.fingerprint == want.fingerprint
    assert _same(x, want.transform(table))
    assert _same(pipe.transform_record({"v": 2.0, "year": None}), x[years.index(None)])


def test_an_empty_categorical_of_ints_is_an_int_column() -> None:
    """No rows, categories [1, 2]: an int column, as its arrow reading; no categories at
    all (``pd.Categorical([])``, or all null) stays ``category``, as in arrow."""
    frame = pd.DataFrame({"c": pd.Categorical([], categories=[1, 2])})
    got = Schema.infer(frame)
    assert got["c"].dtype is LogicalType.INT
    assert got == Schema.infer(pa.Table.from_pandas(frame, preserve_index=False))
    got.validate(frame)
    for none in (pd.Categorical([]), pd.Categorical([None, None])):
        frame = pd.DataFrame({"c": none})
        assert Schema.infer(frame)["c"].dtype is LogicalType.CATEGORY
        assert Schema.infer(pa.Table.from_pandas(frame, preserve_index=False)) == Schema.infer(
            frame
        )


def test_a_categorical_of_floats_with_nan_is_a_float_column_with_nulls() -> None:
    values = [1.5, float("nan"), -2.0, 1.5, None]
    frame = pd.DataFrame({"f": pd.Categorical(values)})
    plain = pd.DataFrame({"f": np.array([1.5, np.nan, -2.0, 1.5, np.nan])})
    got = Schema.infer(frame, nullable="observed")
    assert got == Schema.infer(plain, nullable="observed")
    assert (got["f"].dtype, got["f"].nullable) == (LogicalType.FLOAT, True)
    got.validate(frame)
    found = []
    for data in (frame, plain):
        with pytest.raises(SchemaError) as info:
            Schema([Column("f", "float", min=0.0)]).validate(data)
        found.append(info.value.problems)
    assert found[0] == found[1]
    (problem,) = found[0]
    assert (problem.row, problem.message) == (2, "1 value below the minimum 0, e.g. -2")

    def mk() -> FeaturePipeline:
        return FeaturePipeline([steps.Impute(["f"], strategy="mean"), steps.StandardScale(["f"])])

    pipe = mk().fit(frame)
    x = pipe.transform(frame)
    assert pipe.fingerprint == mk().fit(plain).fingerprint
    assert _same(x, mk().fit(plain).transform(plain))
    assert _same(pipe.transform_record({"f": None}), x[1])


_STAMP = dt.datetime(2024, 1, 2, 3, 4, 5)

VALUES = {
    "bool": ([True, None, False, True], LogicalType.BOOL),
    "uint8": (pd.array([3, None, 3], dtype="UInt8"), LogicalType.INT),
    "Int64": (pd.array([2**53 + 1, None], dtype="Int64"), LogicalType.INT),
    "datetime": (pd.to_datetime([_STAMP, None]), LogicalType.DATETIME),
    "aware": (pd.to_datetime([_STAMP, None]).tz_localize("Europe/Paris"), LogicalType.DATETIME),
}


@pytest.mark.parametrize(("values", "kind"), VALUES.values(), ids=VALUES.keys())
def test_any_categorical_of_values_reads_as_its_arrow_dictionary(
    values: object, kind: LogicalType
) -> None:
    frame = pd.DataFrame({"c": pd.Categorical(values)})
    schema = Schema.infer(frame)
    assert schema["c"].dtype is kind
    assert schema == Schema.infer(pa.Table.from_pandas(frame, preserve_index=False))
    schema.validate(frame)


def test_categoricals_of_text_and_of_objects_are_unchanged() -> None:
    text = pd.DataFrame({"c": pd.Categorical(["a", None, "b"])})
    assert Schema.infer(text)["c"].dtype is LogicalType.CATEGORY
    mixed = pd.DataFrame({"c": pd.Categorical([1, "a"])})
    with pytest.raises(SchemaError, match="categories of type object"):
        Schema.infer(mixed)


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1, max_size=12))
def test_a_categorical_of_ints_answers_as_its_arrow_dictionary(values: list[int | None]) -> None:
    """On random ints with nulls: schema, fitted state and features of the Categorical are
    those of the same values as an arrow dictionary (stop 41's reading)."""
    frame = pd.DataFrame({"v": np.arange(len(values), dtype=float), "k": pd.Categorical(values)})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert Schema.infer(frame, nullable="observed") == Schema.infer(table, nullable="observed")

    def mk() -> FeaturePipeline:
        return FeaturePipeline([steps.Impute(["k"], strategy="median"), steps.StandardScale(["k"])])

    if all(v is None for v in values):  # no categories: a category column, no ints to scale
        assert Schema.infer(frame)["k"].dtype is LogicalType.CATEGORY
        return
    pipe, want = mk().fit(frame), mk().fit(table)
    assert pipe.fingerprint == want.fingerprint
    x = pipe.transform(frame)
    assert _same(x, want.transform(table))
    assert _same(pipe.transform_record({"v": 0.0, "k": values[-1]}), x[-1])
