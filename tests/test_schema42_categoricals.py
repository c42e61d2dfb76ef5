"""pandas ``Categorical``s of numbers, bools or datetimes: values for schemas and pipelines,
categories for drift.

``pd.read_parquet(folder)`` of a folder written with ``partition_cols=["year"]`` gives
``year`` as a ``Categorical`` with int32 categories; ``pq.read_table`` of the same folder
gives an arrow dictionary of int32, which stop 41 reads as the ints it holds. Schema
inference, validation and the feature pipelines refused the pandas reading ("categories
of type int32"); they now read it through a view made with ``categorical_values`` and
answer as for the arrow reading. Drift (and so monitoring) keeps reading a Categorical as
declared categories, compared by counts (chi-square), as before: a first attempt that
decoded it for every reader (schema41b, reverted) turned explicit category codes into
numbers compared by KS.
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

from prodml._data import Columns, as_columns, column_kind, iter_columns
from prodml.drift import DriftDetector, Profile
from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Column, LogicalType, Schema


def _pipeline() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["year", "month"], strategy="median"),
            steps.StandardScale(["v", "year"]),
            steps.Bucketize(["month"], edges=[2.5, 6.5]),
            steps.OneHot(["city"]),
        ]
    )


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


SOURCE = pa.table(
    {
        "v": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        "year": pa.array([2024, 2025, 2024, 2023, 2025, 2023, 2024], pa.int32()),
        "month": pa.array([1, 3, 12, 3, 7, 1, 7], pa.int32()),
        "city": ["Paris", "Lyon", "Paris", "Nice", "Lyon", "Nice", "Paris"],
    }
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    pq.write_to_dataset(SOURCE, tmp_path / "ds", partition_cols=["year", "month", "city"])
    return tmp_path / "ds"


def test_read_parquet_gives_categoricals_of_ints(folder: Path) -> None:
    """The reading every test here is about (pandas', not ours)."""
    frame = pd.read_parquet(folder)
    assert isinstance(frame["year"].dtype, pd.CategoricalDtype)
    assert frame["year"].cat.categories.dtype == np.int32
    assert isinstance(frame["city"].dtype, pd.CategoricalDtype)


def test_infer_gives_the_arrow_readings_schema(folder: Path) -> None:
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
    got.validate(table)


@pytest.mark.parametrize(
    "column",
    [
        Column("year", "int", max=2024),
        Column("year", "int", min=2024),
        Column("year", "int", allowed=[2024, 2025]),
        Column("year", "category"),
        Column("year", "string"),
        Column("year", "datetime"),
        Column("year", "bool"),
        Column("year", "float", max=2023.5),
    ],
    ids=repr,
)
def test_validate_answers_as_for_the_arrow_reading(folder: Path, column: Column) -> None:
    """Same problems (rows and values shown) for the pandas and the arrow reading."""
    schema = Schema(
        [Column("v", "float"), column, Column("month", "int"), Column("city", "category")]
    )
    found = []
    for data in (pd.read_parquet(folder), pq.read_table(folder)):
        with pytest.raises(SchemaError) as info:
            schema.validate(data)
        found.append(info.value.problems)
        assert schema.problems(data) == list(info.value.problems)
    assert found[0] == found[1]
    assert [p.column for p in found[0]] == ["year"]


def test_pipelines_give_the_arrow_readings_answers(folder: Path) -> None:
    """Fitted state, features and records: bit for bit those of the arrow reading, and of
    the same values read unpartitioned (plain int32 columns): the golden comparison."""
    frame, table = pd.read_parquet(folder), pq.read_table(folder)
    pipe, want = _pipeline().fit(frame), _pipeline().fit(table)
    order = frame.astype({"year": "int32", "month": "int32"})
    plain = _pipeline().fit(order)
    assert pipe.fingerprint == want.fingerprint == plain.fingerprint
    assert pipe.input_schema == want.input_schema
    x = pipe.transform(frame)
    assert _same(x, want.transform(table))
    assert _same(x, pipe.transform(table))
    assert _same(x, plain.transform(order))
    years = frame["year"].astype("int64").to_numpy()
    scaled = x[:, pipe.feature_names_out.index("year")]
    assert np.allclose(scaled, (years - years.mean()) / years.std(), rtol=1e-12)  # the ints
    for i, row in enumerate(frame.to_dict("records")):
        assert _same(pipe.transform_record(row), x[i])
    # Over pandas chunks whose categories differ (each file's own): the same state.
    chunks = [frame.iloc[:3].copy(), frame.iloc[3:].copy()]
    chunks[1]["year"] = chunks[1]["year"].cat.remove_unused_categories()
    assert _pipeline().fit(chunks).fingerprint == want.fingerprint
    assert _same(pipe.transform(chunks), x)


def test_the_distributed_fit_reads_them_as_values_too(folder: Path) -> None:
    frame = pd.read_parquet(folder)
    parts = [frame.iloc[:4], frame.iloc[4:]]
    pipe = _pipeline().start_fit(Schema.infer(parts, nullable="always"))
    while pipe.fit_pending:
        pipe.finish_pass(FeaturePipeline.merge_states([pipe.partition_states(p) for p in parts]))
    assert _same(pipe.transform(frame), _pipeline().fit(pq.read_table(folder)).transform(frame))


def test_null_partitions_are_nulls_of_the_int_column(tmp_path: Path) -> None:
    """A ``__HIVE_DEFAULT_PARTITION__`` folder: ``pq.read_table`` reads it as a null; pandas
    cannot convert that (arrow does not unify dictionaries holding a null), so the frame is
    the one a Categorical of the other folders' years gives, the null rows code -1."""
    source = pa.table(
        {"v": [1.0, 2.0, 3.0, 4.0, 5.0], "year": pa.array([2024, None, 2025, None, 2024])}
    )
    pq.write_to_dataset(source, tmp_path / "ds", partition_cols=["year"])
    table = pq.read_table(tmp_path / "ds")
    years = table.column("year").cast(pa.int32()).to_pylist()
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
    strict = Schema([Column("v", "float"), Column("year", "int", nullable=False)])
    found = []
    for data in (frame, table):
        with pytest.raises(SchemaError) as info:
            strict.validate(data)
        found.append(info.value.problems)
    assert found[0] == found[1]
    assert [(p.kind, p.row) for p in found[0]] == [("null", years.index(None))]

    def make() -> FeaturePipeline:
        return FeaturePipeline(
            [steps.Impute(["year"], strategy="median"), steps.StandardScale(["v", "year"])]
        )

    pipe, want = make().fit(frame), make().fit(table)
    x = pipe.transform(frame)
    assert pipe.fingerprint == want.fingerprint
    assert _same(x, want.transform(table))
    assert _same(pipe.transform_record({"v": 2.0, "year": None}), x[years.index(None)])


def test_empty_categoricals() -> None:
    """No rows, categories [1, 2]: an int column, as its arrow reading; no categories at
    all (``pd.Categorical([])``, or all null) stays ``category``, as in arrow."""
    frame = pd.DataFrame({"c": pd.Categorical([], categories=[1, 2])})
    got = Schema.infer(frame)
    assert got["c"].dtype is LogicalType.INT
    assert got == Schema.infer(pa.Table.from_pandas(frame, preserve_index=False))
    got.validate(frame)
    assert FeaturePipeline([steps.StandardScale(["c"])]).fit(pd.DataFrame({"c": [1, 2]})).transform(
        frame
    ).shape == (0, 1)
    for none in (pd.Categorical([]), pd.Categorical([None, None])):
        frame = pd.DataFrame({"c": none})
        assert Schema.infer(frame)["c"].dtype is LogicalType.CATEGORY
        assert Schema.infer(pa.Table.from_pandas(frame, preserve_index=False)) == Schema.infer(
            frame
        )


def test_a_categorical_of_floats_with_nan_is_a_float_column_with_nulls() -> None:
    """pandas keeps NaN out of the categories (code -1): it is a null of the float column."""
    values = [1.5, float("nan"), -2.0, 1.5, None]
    frame = pd.DataFrame({"f": pd.Categorical(values)})
    assert frame["f"].cat.categories.tolist() == [-2.0, 1.5]
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

    def make() -> FeaturePipeline:
        return FeaturePipeline([steps.Impute(["f"], strategy="mean"), steps.StandardScale(["f"])])

    pipe = make().fit(frame)
    x = pipe.transform(frame)
    assert pipe.fingerprint == make().fit(plain).fingerprint
    assert _same(x, make().fit(plain).transform(plain))
    assert _same(pipe.transform_record({"f": None}), x[1])
    with pytest.raises(SchemaError, match="reached StandardScale"):
        FeaturePipeline([steps.StandardScale(["f"])]).fit(frame)  # a null, as for floats


_STAMP = dt.datetime(2024, 1, 2, 3, 4, 5)

VALUES = {
    "bool": ([True, None, False, True], LogicalType.BOOL),
    "uint8": (pd.array([3, None, 3], dtype="UInt8"), LogicalType.INT),
    "Int64 beyond 2**53": (pd.array([2**53 + 1, None], dtype="Int64"), LogicalType.INT),
    "datetime": (pd.to_datetime([_STAMP, None]), LogicalType.DATETIME),
    "aware": (pd.to_datetime([_STAMP, None]).tz_localize("Europe/Paris"), LogicalType.DATETIME),
}


@pytest.mark.parametrize(("values", "kind"), VALUES.values(), ids=VALUES.keys())
def test_any_categorical_of_values_reads_as_its_arrow_dictionary(
    values: object, kind: LogicalType
) -> None:
    frame = pd.DataFrame({"c": pd.Categorical(values)})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert pa.types.is_dictionary(table.schema.field("c").type)
    schema = Schema.infer(frame)
    assert schema["c"].dtype is kind
    assert schema == Schema.infer(table)
    schema.validate(frame)
    if kind is LogicalType.DATETIME:  # DateParts takes no nulls: the rows with a value
        frame, table = frame.dropna(), table.drop_null()
    last = FeaturePipeline(
        [steps.DateParts(["c"])] if kind is LogicalType.DATETIME else [steps.Passthrough(["c"])]
    )
    x = last.fit(frame).transform(frame)
    assert _same(x, last.transform(table))
    assert _same(x, FeaturePipeline(last.steps).fit(table).transform(table))


def test_exact_ints_beyond_float64s_reach() -> None:
    """An int category past 2**53 is the int itself (no float round trip): a schema's
    bound on it decides as for the plain int column."""
    frame = pd.DataFrame({"k": pd.Categorical([2**53 + 1, 2**53])})
    plain = pd.DataFrame({"k": np.array([2**53 + 1, 2**53], dtype=np.int64)})
    found = []
    for data in (frame, plain):
        with pytest.raises(SchemaError) as info:
            Schema([Column("k", "int", max=2**53)]).validate(data)
        found.append(info.value.problems)
    assert found[0] == found[1]
    assert [p.row for p in found[0]] == [0]


def test_categoricals_of_text_objects_or_timedeltas_are_unchanged() -> None:
    text = pd.DataFrame({"c": pd.Categorical(["a", None, "b"])})
    assert Schema.infer(text)["c"].dtype is LogicalType.CATEGORY
    with pytest.raises(SchemaError, match="categories of type object"):
        Schema.infer(pd.DataFrame({"c": pd.Categorical([1, "a"])}))
    with pytest.raises(SchemaError, match="categories of type timedelta64"):
        Schema.infer(pd.DataFrame({"c": pd.Categorical(pd.to_timedelta(["1D", "2D"]))}))


def test_one_hot_refuses_them_as_it_refuses_the_arrow_reading() -> None:
    """A Categorical of ints is numbers for the pipelines: OneHot (text only) refuses it
    with the words any number column gets, those of its arrow dictionary."""
    frame = pd.DataFrame({"c": pd.Categorical([1, 2, 1])})
    found = []
    for data in (frame, pa.Table.from_pandas(frame, preserve_index=False)):
        with pytest.raises(SchemaError) as info:
            FeaturePipeline([steps.OneHot(["c"])]).fit(data)
        found.append(info.value.problems)
    assert found[0] == found[1]
    assert "OneHot needs text values; the column holds number" in found[0][0].message
    # As text, the same codes one-hot encode: the fix the message points to.
    pipe = FeaturePipeline([steps.OneHot(["c"])]).fit(frame.astype({"c": str}))
    assert pipe.feature_names_out == ["c=1", "c=2"]


# -------------------------------------------------------------------- drift: as before


def _drift_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    codes = [2023, 2024, 2025]
    ref = pd.DataFrame({"k": pd.Categorical(rng.choice(codes, 400)), "x": rng.normal(size=400)})
    cur = pd.DataFrame(
        {"k": pd.Categorical(rng.choice(codes, 400, p=[0.2, 0.3, 0.5])), "x": rng.normal(size=400)}
    )
    return ref, cur


def test_drift_keeps_a_categorical_of_ints_a_set_of_categories() -> None:
    """Drift compares the declared categories' counts (chi-square), not the codes as
    numbers (KS): the same answer as for the categories spelt as text."""
    ref, cur = _drift_frames()
    assert Profile.from_data(ref).kinds["k"] == "categorical"
    got = DriftDetector().fit(ref).detect(cur).to_frame().set_index("column")
    assert (got.loc["k", "kind"], got.loc["k", "method"]) == ("categorical", "chi2")
    text = DriftDetector().fit(ref.astype({"k": str})).detect(cur.astype({"k": str}))
    want = text.to_frame().set_index("column")
    for field in ("statistic", "p_value", "effect", "drifted"):
        assert got.loc["k", field] == want.loc["k", field]


def test_views_read_a_categorical_as_asked() -> None:
    """The default view (drift's, every reader's but schemas' and pipelines') keeps the
    category; a ``categorical_values`` view reads the ints; each view asked for is one."""
    frame = pd.DataFrame({"k": pd.Categorical([2024, None, 2025])})
    plain = Columns(frame)
    assert column_kind(plain.raw("k")).kind == "category"
    values = as_columns(frame, categorical_values=True)
    assert values.kind("k").kind == "int"
    assert values.objects("k").tolist() == [2024, None, 2025]
    assert [c.kind("k").kind for c in iter_columns(plain, categorical_values=True)] == ["int"]
    assert next(iter_columns(values, categorical_values=True)) is values
    assert [c.kind("k").kind for c in iter_columns([frame, frame], batch_rows=2)] == [
        "category"
    ] * 4
    assert values.select(["k"]).kind("k").kind == "int"
    # Schema.problems given a default view reads its source again as values: the
    # answers of validate, not those of a category column.
    schema = Schema([Column("k", "category")])
    (problem,) = schema.problems(plain)
    assert problem.message == "expected category, got int 2024"
    assert schema.problems(plain) == schema.problems(frame)
    assert Schema([Column("k", "int")]).problems(plain) == []


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1, max_size=12))
def test_a_categorical_of_ints_answers_as_its_arrow_dictionary(values: list[int | None]) -> None:
    """On random ints with nulls: schema, fitted state and features of the Categorical are
    those of the same values as an arrow dictionary (stop 41's reading)."""
    frame = pd.DataFrame({"v": np.arange(len(values), dtype=float), "k": pd.Categorical(values)})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert Schema.infer(frame, nullable="observed") == Schema.infer(table, nullable="observed")

    def make() -> FeaturePipeline:
        return FeaturePipeline([steps.Impute(["k"], strategy="median"), steps.StandardScale(["k"])])

    if all(v is None for v in values):  # no categories: a category column, no ints to scale
        assert Schema.infer(frame)["k"].dtype is LogicalType.CATEGORY
        return
    pipe, want = make().fit(frame), make().fit(table)
    assert pipe.fingerprint == want.fingerprint
    x = pipe.transform(frame)
    assert _same(x, want.transform(table))
    assert _same(pipe.transform_record({"v": 0.0, "k": values[-1]}), x[-1])
