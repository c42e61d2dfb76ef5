"""Schema inference and validation on the inputs users have (audit of stop 38).

Each test is a wrong answer found by the audit: ``Schema.infer`` describing data that
``validate`` then rejects (categories that are not text), ``validate`` raising a raw
``AttributeError`` on a categorical column read with ``dtype_backend="pyarrow"``, saved
schemas holding bounds and allowed values JSON cannot spell, and input errors that named
the wrong thing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError, SchemaError, StateError
from prodml.fingerprint import fingerprint_spec
from prodml.schema import Column, LogicalType, Schema

ARROW_DICT = pd.ArrowDtype(pa.dictionary(pa.int8(), pa.string()))


# ------------------------------------------------ categoricals read with arrow's types


@pytest.fixture
def categorical_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "plans.parquet"
    pd.DataFrame({"plan": pd.Categorical(["free", "pro", None, "free"])}).to_parquet(path)
    return path


def test_validate_reads_an_arrow_dictionary_column_of_pandas(categorical_parquet: Path) -> None:
    """``validate`` raised ``AttributeError: Can only use .cat accessor``."""
    df = pd.read_parquet(categorical_parquet, dtype_backend="pyarrow")
    assert pa.types.is_dictionary(df["plan"].dtype.pyarrow_dtype)
    Schema([Column("plan", "category", allowed=["free", "pro"])]).validate(df)
    with pytest.raises(SchemaError) as info:
        Schema([Column("plan", "category", allowed=["free"])]).validate(df)
    (problem,) = info.value.problems
    assert (problem.column, problem.kind, problem.row) == ("plan", "allowed", 1)


def test_infer_reads_an_arrow_dictionary_column_of_pandas_as_category(
    categorical_parquet: Path,
) -> None:
    """It was ``string``, where the same file read by pandas' default or by arrow is
    ``category``: three readings of one file, one logical type."""
    readings = [
        pd.read_parquet(categorical_parquet),
        pd.read_parquet(categorical_parquet, dtype_backend="pyarrow"),
        pq.read_table(categorical_parquet),
    ]
    kinds = {Schema.infer(r)["plan"].dtype for r in readings}
    assert kinds == {LogicalType.CATEGORY}
    for r in readings:
        Schema.infer(r).validate(r)


def test_arrow_dictionary_chunks_stay_category_as_pd_concat_keeps_them() -> None:
    one = pd.DataFrame({"c": pd.array(["a", "b"], dtype=ARROW_DICT)})
    two = pd.DataFrame({"c": pd.array(["c", None], dtype=ARROW_DICT)})
    text = pd.DataFrame({"c": pd.array(["d"], dtype="str")})
    for chunks in ([one, two], [one, text], [text, two]):
        joined = pd.concat(chunks, ignore_index=True)
        assert Schema.infer(chunks) == Schema.infer(joined)
    assert Schema.infer([one, two])["c"].dtype is LogicalType.CATEGORY
    assert Schema.infer([one, text])["c"].dtype is LogicalType.STRING


# Categories prodml reads as no column type: objects of several types, timedeltas. (A
# Categorical of ints, bools or datetimes is a column of those values since schema41b:
# tests/test_schema41b_categoricals.py.)
NON_TEXT = {
    "mixed object categories": pd.DataFrame({"c": pd.Categorical([1, "a", 1])}),
    "timedelta categories": pd.DataFrame({"c": pd.Categorical(pd.to_timedelta(["1D"]))}),
    "all null, timedelta categories": pd.DataFrame(
        {"c": pd.Categorical([None], categories=pd.to_timedelta(["1D", "2D"]))}
    ),
}
# An arrow dictionary of ints is no category: it is a column of ints, encoded (what
# pq.read_table makes of a hive partition year=2024); tests/test_schema41_partitions.py.
ARROW_NON_TEXT = {
    "arrow dictionary of ints": pa.table({"c": pa.array([1, 2, 1]).dictionary_encode()}),
    "pandas Categorical of ints": pd.DataFrame({"c": pd.Categorical([1, 2, 1])}),
    "pandas arrow dictionary of ints": pd.DataFrame(
        {"c": pd.array([1, 2], dtype=pd.ArrowDtype(pa.dictionary(pa.int8(), pa.int64())))}
    ),
}


@pytest.mark.parametrize("data", NON_TEXT.values(), ids=NON_TEXT.keys())
def test_infer_refuses_categories_that_validate_refuses(data: object) -> None:
    """``infer`` said ``category``, and ``validate`` of the same data then failed with
    "non-text categories": the schema rejected the data it was inferred from."""
    with pytest.raises(SchemaError) as info:
        Schema([Column("c", "category")]).validate(data)
    assert "non-text categories" in str(info.value)
    with pytest.raises(SchemaError) as info:
        Schema.infer(data)
    (problem,) = info.value.problems
    assert (problem.column, problem.kind) == ("c", "type")
    assert "a category column holds text" in problem.message
    assert ".astype(str)" in problem.message


@pytest.mark.parametrize("data", ARROW_NON_TEXT.values(), ids=ARROW_NON_TEXT.keys())
def test_an_arrow_dictionary_of_ints_is_an_int_column(data: object) -> None:
    """Stop 38 refused it as "non-text categories"; its values are ints, read as ints."""
    schema = Schema.infer(data)
    assert schema["c"].dtype is LogicalType.INT
    schema.validate(data)
    with pytest.raises(SchemaError) as info:
        Schema([Column("c", "category")]).validate(data)
    (problem,) = info.value.problems
    assert (problem.column, problem.kind, problem.row) == ("c", "type", 0)
    assert problem.message == "expected category, got int 1"


@pytest.mark.parametrize(
    ("data", "message", "row"),
    [
        (
            pd.DataFrame({"c": pd.Categorical([None, 7, "a"])}),
            "expected string, got int 7: categories of type object",
            1,
        ),
        (
            pd.DataFrame({"c": pd.Categorical([None, pd.Timedelta("1D")])}),
            "expected string, got pandas.Timedelta Timedelta('1 days 00:00:00'): categories of",
            1,
        ),
        (
            pd.DataFrame({"c": pd.Categorical([None], categories=pd.to_timedelta(["1D"]))}),
            "expected string, got category values: categories of type timedelta64",
            None,
        ),
    ],
)
def test_categories_problem_is_worded_as_the_pipelines_type_problem(
    data: object, message: str, row: int | None
) -> None:
    """As ``FeaturePipeline.fit`` words it ("expected string, got int 1"), which now
    meets it first: ``fit`` infers its input schema."""
    with pytest.raises(SchemaError) as info:
        Schema.infer(data)
    (problem,) = info.value.problems
    assert problem.message.startswith(message)
    assert problem.row == row


@pytest.mark.parametrize(
    "data",
    [
        pd.DataFrame({"c": pd.Categorical(["a", None])}),
        pd.DataFrame({"c": pd.Categorical([None, None])}),  # no categories at all
        pd.DataFrame({"c": pd.Categorical([])}),
        pa.table({"c": pa.array(["x", None]).dictionary_encode()}),
        pa.table({"c": pa.DictionaryArray.from_arrays(pa.array([None], pa.int32()), [])}),
    ],
)
def test_text_and_empty_categories_still_infer_as_category(data: object) -> None:
    schema = Schema.infer(data)
    assert schema["c"].dtype is LogicalType.CATEGORY
    schema.validate(data)


# -------------------------------------------------------- objects of one unread type


@pytest.mark.parametrize(
    ("values", "type_", "row"),
    [
        ([b"x", b"y"], "bytes", 0),
        ([None, b"x"], "bytes", 1),
        ([np.nan, {"a": 1}], "dict", 1),
        ([[1], None, [2]], "list", 0),
    ],
)
def test_a_column_of_one_unsupported_type_is_not_called_mixed(
    values: list[object], type_: str, row: int
) -> None:
    """It said "values of mixed types, e.g. NoneType None (first at row 0)" for
    ``[None, b"x"]``: neither mixed nor None; the column's first entry, a null."""
    with pytest.raises(SchemaError) as info:
        Schema.infer(pd.DataFrame({"m": pd.Series(values, dtype=object)}))
    (problem,) = info.value.problems
    assert problem.message.startswith(f"unsupported values of type {type_}, e.g. ")
    assert "mixed" not in problem.message
    assert "None" not in problem.message
    assert problem.row == row


def test_a_column_of_two_types_is_still_mixed() -> None:
    with pytest.raises(SchemaError) as info:
        Schema.infer(pd.DataFrame({"m": pd.Series(["a", b"x"], dtype=object)}))
    assert info.value.problems[0].message == "values of mixed types, e.g. bytes b'x'"
    assert info.value.problems[0].row == 1


def test_validate_words_one_unsupported_type_with_its_first_value() -> None:
    with pytest.raises(SchemaError) as info:
        Schema([Column("m", "string")]).validate(pd.DataFrame({"m": [None, b"x"]}))
    (problem,) = info.value.problems
    assert (problem.message, problem.row) == ("expected string, got bytes b'x'", 1)


# ------------------------------------------------------------ inputs that are not tables


def test_a_structured_numpy_array_is_named_with_the_fix() -> None:
    """It was "chunk 0 of data must be ...; got numpy.void": the array was iterated."""
    rows = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
    for call in (Schema.infer, Schema([Column("a", "int")]).validate):
        with pytest.raises(SchemaError) as info:
            call(rows)
        message = info.value.problems[0].message
        assert "got numpy.ndarray instead" in message
        assert "numpy.void" not in message
        assert "pandas.DataFrame" in message
    # the fix the message gives works
    Schema.infer(pd.DataFrame(rows)).validate(pd.DataFrame(rows))


def test_a_series_is_named_with_the_fix() -> None:
    """``Schema.infer(series)`` iterated its values: "chunk 0 of data ...; got int"."""
    ages = pd.Series([1, 2], name="a")
    for call in (Schema.infer, Schema([Column("a", "int")]).validate):
        with pytest.raises(SchemaError) as info:
            call(ages)
        message = info.value.problems[0].message
        assert "got pandas.Series instead (for one column, pass series.to_frame())" in message
    Schema.infer(ages.to_frame()).validate(ages.to_frame())


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        ([pd.DataFrame({"a": [1]})], "pass each chunk"),
        (iter([pa.table({"a": [1]})]), "pass each chunk"),
    ],
)
def test_validate_does_not_claim_to_take_the_chunks_it_refuses(data: object, hint: str) -> None:
    """The message listed "an iterable of DataFrames/Tables/RecordBatches" among what
    ``validate`` takes, then refused exactly that."""
    with pytest.raises(SchemaError) as info:
        Schema([Column("a", "int")]).validate(data)
    message = info.value.problems[0].message
    assert "iterable" not in message
    assert hint in message


def test_validate_of_a_parquet_file_says_to_read_it(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "a.parquet")
    parquet = pq.ParquetFile(tmp_path / "a.parquet")
    assert Schema.infer(parquet)["a"].dtype is LogicalType.INT  # infer reads it in batches
    with pytest.raises(SchemaError, match=r"got pyarrow.ParquetFile instead \(for a Parquet"):
        Schema([Column("a", "int")]).validate(parquet)


# ------------------------------------------------- saved schemas JSON can spell (7)


@pytest.mark.parametrize(
    "settings",
    [
        {"min": math.inf},
        {"min": -math.inf},
        {"max": math.inf},
        {"max": -math.inf, "min": None},
        {"min": np.float64("-inf"), "max": 3.0},
    ],
)
def test_an_infinite_bound_is_refused_where_declared(settings: dict[str, float]) -> None:
    """``min=-inf`` was kept: ``to_json`` wrote ``-Infinity`` (not JSON), and the
    fingerprint (registry signatures, feature views) refused the schema later."""
    with pytest.raises(ConfigError, match=r"min/max must be finite \(None: no bound\)"):
        Column("x", "float", **settings)


@pytest.mark.parametrize(
    ("dtype", "odd"),
    [
        ("float", math.nan),
        ("float", math.inf),
        ("float", -math.inf),
        ("float", 2**1024),
        ("int", 2**1024),
        ("int", -(10**400)),
    ],
    ids=["nan", "inf", "-inf", "float-2**1024", "int-2**1024", "int--10**400"],
)
def test_a_non_finite_allowed_value_is_refused(dtype: str, odd: float) -> None:
    with pytest.raises(ConfigError, match="is not a finite number within the float range"):
        Column("x", dtype, allowed=[1, odd])


@pytest.mark.parametrize(
    "column",
    [
        {"name": "x", "dtype": "float", "min": "-Infinity"},
        {"name": "x", "dtype": "float", "max": 1e400},
        {"name": "x", "dtype": "float", "allowed": [1.0, "NaN"]},
        {"name": "x", "dtype": "float", "allowed": [1e999]},
        {"name": "x", "dtype": "int", "allowed": [10**400]},
    ],
)
def test_saved_state_with_non_finite_numbers_is_refused(column: dict[str, object]) -> None:
    text = json.dumps({"format_version": 1, "columns": [column]})
    text = text.replace('"-Infinity"', "-Infinity").replace('"NaN"', "NaN")
    with pytest.raises(ConfigError):
        Schema.from_json(text)


@given(
    bound=st.floats(allow_nan=False, allow_infinity=False, width=64),
    allowed=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=4),
)
def test_every_accepted_numeric_column_has_a_fingerprint_and_json(
    bound: float, allowed: list[float]
) -> None:
    schema = Schema([Column("x", "float", min=bound, allowed=[*allowed, bound])])
    again = Schema.from_json(schema.to_json())
    assert again == schema
    assert fingerprint_spec(again.to_dict()) == schema.fingerprint
    assert "Infinity" not in schema.to_json()
    assert "NaN" not in schema.to_json()


def _field(meta: bytes, type_: pa.DataType | None = None) -> pa.Schema:
    return pa.schema([pa.field("a", type_ or pa.string(), metadata={b"prodml": meta})])


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        (_field(b"{not json"), "is not valid JSON"),
        (_field(b"\xff\xfe"), "is not valid JSON"),
        (_field(b"[1, 2]"), "must be a dict with str keys"),
        (_field(b"[" * 5000 + b"]" * 5000), "nested 5000 levels deep"),
        (_field(b'{"sensitive": "false"}'), "field 'sensitive' must be true or false"),
        (_field(b'{"sensitive": 0}'), "field 'sensitive' must be true or false"),
        (
            pa.schema([pa.field("a", pa.int64())], metadata={b"prodml": b'{"strict": "no"}'}),
            "field 'strict' must be true or false",
        ),
        (pa.schema([pa.field("a", pa.int64())], metadata={b"prodml": b"7"}), "must be a dict"),
    ],
    ids=["json", "utf8", "list", "deep", "str-flag", "int-flag", "strict", "schema-int"],
)
def test_hostile_arrow_metadata_is_refused_naming_where(schema: pa.Schema, says: str) -> None:
    """A Parquet file's schema metadata comes from anywhere: it raised a raw
    JSONDecodeError, AttributeError ('list' has no 'get') or RecursionError, and
    ``"sensitive": "false"`` read as true (``bool("false")``)."""
    with pytest.raises(StateError, match=says) as info:
        Schema.from_arrow(schema)
    where = "column 'a'" if schema.metadata is None else "the schema"
    assert where in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_arrow_metadata_prodml_writes_still_reads_back() -> None:
    schema = Schema(
        [
            Column("a", "string", sensitive=True, description="e-mail", allowed=["x"]),
            Column("t", "datetime", timezone="+0530"),
            Column("n", "int", min=0, max=2**60 + 1),
        ],
        strict=True,
    )
    assert Schema.from_arrow(schema.to_arrow()) == schema


# ---------------------------------- the audit's reading, against pyarrow's, documented


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (pd.DataFrame({"s": pd.array(["a", None], dtype="str")}), "string"),
        (pd.DataFrame({"s": pd.array(["a", None], dtype="string[python]")}), "string"),
        (pd.DataFrame({"i": pd.array([1, None], dtype="Int64")}), "int"),
        (pd.DataFrame({"b": pd.array([True, None], dtype="boolean")}), "bool"),
        (pd.DataFrame({"u": np.array([2**63 + 5], dtype=np.uint64)}), "int"),
        (pa.table({"d": pa.array([1, None], type=pa.decimal128(10, 2))}), "float"),
        (pa.table({"d": pa.array([dt.date(2024, 1, 1)])}), "datetime"),
        (pa.table({"n": pa.nulls(2)}), "string"),
        (pd.DataFrame({"n": [None, None]}), "string"),
    ],
)
def test_inferred_types_validate_their_data(data: object, expected: str) -> None:
    schema = Schema.infer(data)
    assert schema.columns[0].dtype.value == expected
    schema.validate(data)
    assert Schema.from_json(schema.to_json()) == schema


def test_zoned_arrow_timestamps_infer_their_zone() -> None:
    at = pd.Series(pd.to_datetime(["2024-01-01 09:00", None]))
    typed = at.dt.tz_localize("Europe/Paris").astype(
        pd.ArrowDtype(pa.timestamp("us", tz="Europe/Paris"))
    )
    df = pd.DataFrame({"t": typed})
    schema = Schema.infer(df)
    assert (schema["t"].dtype, schema["t"].timezone) == (LogicalType.DATETIME, "Europe/Paris")
    schema.validate(df)
    assert pa.Table.from_pandas(df).schema.field("t").type.tz == "Europe/Paris"
