from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml._data import as_columns
from prodml.errors import ConfigError, SchemaError
from prodml.schema import Column, LogicalType, Schema
from prodml.testing.strategies import schemas, schemas_and_tables

SCHEMA = Schema(
    [
        Column("age", "int", nullable=False, min=0, max=130),
        Column("income", "float"),
        Column("plan", "category", allowed=["free", "pro"]),
        Column("active", "bool"),
        Column("seen", "datetime"),
    ]
)


def good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 41],
            "income": [1.5, None],
            "plan": ["free", None],
            "active": [True, False],
            "seen": pd.to_datetime(["2024-01-01", None]),
        }
    )


def problems_of(data: object, schema: Schema = SCHEMA, **kw: object) -> dict[str, list[str]]:
    with pytest.raises(SchemaError) as exc:
        schema.validate(data, **kw)  # type: ignore[arg-type]
    out: dict[str, list[str]] = {}
    for p in exc.value.problems:
        out.setdefault(p.column or "", []).append(p.kind)
    return out


@pytest.mark.parametrize(
    "convert",
    [
        lambda df: df,
        lambda df: pa.Table.from_pandas(df, preserve_index=False),
        lambda df: pa.RecordBatch.from_pandas(df, preserve_index=False),
    ],
    ids=["pandas", "table", "batch"],
)
def test_valid_data_passes_in_every_container(convert: object) -> None:
    SCHEMA.validate(convert(good_frame()))  # type: ignore[operator]


def test_valid_record_passes() -> None:
    SCHEMA.validate(
        {"age": 3, "income": None, "plan": "pro", "active": True, "seen": dt.datetime(2024, 1, 1)}
    )


def test_missing_column_is_named() -> None:
    with pytest.raises(SchemaError, match="column 'age': column is missing") as exc:
        SCHEMA.validate(good_frame().drop(columns=["age"]))
    assert exc.value.column == "age"


def test_extra_column_only_when_strict() -> None:
    df = good_frame().assign(zzz=1)
    SCHEMA.validate(df)
    assert problems_of(df, strict=True) == {"zzz": ["extra"]}
    strict = SCHEMA.model_copy(update={"strict": True})
    assert problems_of(df, strict) == {"zzz": ["extra"]}


def test_string_number_in_float_column_is_a_type_error() -> None:
    df = good_frame().astype({"income": object})
    df.loc[1, "income"] = "1.5"
    with pytest.raises(SchemaError) as exc:
        SCHEMA.validate(df)
    assert str(exc.value) == "column 'income': expected float, got str '1.5' (first at row 1)"


def test_string_in_float_record() -> None:
    rec = {"age": 3, "income": "abc", "plan": "pro", "active": True, "seen": None}
    with pytest.raises(SchemaError, match=r"column 'income': expected float, got str 'abc'"):
        SCHEMA.validate(rec)


def test_null_in_non_nullable_column() -> None:
    df = good_frame()
    df["age"] = pd.array([30, None], dtype="Int64")
    with pytest.raises(SchemaError, match=r"column 'age': 1 null value\(s\) where nulls are not"):
        SCHEMA.validate(df)


def test_nan_counts_as_null_in_float_backed_int_column() -> None:
    df = good_frame()
    df["age"] = [30.0, np.nan]
    assert problems_of(df) == {"age": ["null"]}


def test_non_integral_float_in_int_column() -> None:
    df = good_frame()
    df["age"] = [30.5, 2.0]
    with pytest.raises(SchemaError, match=r"expected int, got non-integral float 30\.5"):
        SCHEMA.validate(df)


def test_out_of_range_and_not_allowed_are_all_reported_at_once() -> None:
    df = good_frame()
    df["age"] = [-1, 200]
    df["plan"] = ["gold", "pro"]
    df["active"] = ["yes", "no"]
    text = ""
    with pytest.raises(SchemaError) as exc:
        SCHEMA.validate(df.drop(columns=["seen"]))
    text = str(exc.value)
    assert text.startswith("5 problems found:")
    assert "column 'age': 1 value below the minimum 0, e.g. -1 (first at row 0)" in text
    assert "column 'age': 1 value above the maximum 130, e.g. 200 (first at row 1)" in text
    assert (
        "column 'plan': 1 value not among the allowed values ['free', 'pro'], e.g. 'gold'" in text
    )
    assert "column 'active': expected bool, got str 'yes' (first at row 0)" in text
    assert "column 'seen': column is missing" in text


def test_whole_column_of_wrong_type() -> None:
    df = good_frame()
    df["seen"] = ["2024-01-01", "2024-01-02"]  # strings are not parsed
    with pytest.raises(SchemaError, match="column 'seen': expected datetime, got str '2024-01-01'"):
        SCHEMA.validate(df)
    df = good_frame()
    df["plan"] = [1, 2]
    with pytest.raises(SchemaError, match="column 'plan': expected category, got int"):
        SCHEMA.validate(df)


def test_mixed_object_column_reports_first_offender() -> None:
    s = Schema([Column("x", "float")])
    with pytest.raises(SchemaError, match=r"expected float, got str 'b' \(first at row 2\)"):
        s.validate(pd.DataFrame({"x": pd.Series([1.0, 2, "b", None], dtype=object)}))


def test_category_with_non_text_categories() -> None:
    """A Categorical of ints is an int column (schema41b): not a category, and ints."""
    s = Schema([Column("c", "category")])
    with pytest.raises(SchemaError, match="expected category, got int 1"):
        s.validate(pd.DataFrame({"c": pd.Categorical([1, 2])}))
    Schema([Column("c", "int")]).validate(pd.DataFrame({"c": pd.Categorical([1, 2])}))
    with pytest.raises(SchemaError, match="non-text categories"):
        s.validate(pd.DataFrame({"c": pd.Categorical([1, "a"])}))


def test_arrow_wrong_type_is_reported() -> None:
    s = Schema([Column("x", "int")])
    with pytest.raises(SchemaError, match=r"expected int, got str 'a' \(first at row 0\)"):
        s.validate(pa.table({"x": ["a", "b"]}))


@pytest.mark.parametrize("bad", [[1, 2], "a,b", 3.0, None, np.zeros(3)])
def test_wrong_type_of_whole_input(bad: object) -> None:
    with pytest.raises(SchemaError, match="data must be a pandas DataFrame") as exc:
        SCHEMA.validate(bad)
    assert exc.value.problems[0].kind == "input"


def test_int_satisfies_float_and_text_kinds_interchange() -> None:
    s = Schema([Column("x", "float"), Column("c", "string"), Column("k", "category")])
    s.validate(pd.DataFrame({"x": [1, 2], "c": pd.Categorical(["a", "b"]), "k": ["u", "v"]}))


def test_all_null_object_column_fits_any_nullable_type() -> None:
    s = Schema([Column("x", "float"), Column("t", "datetime")])
    s.validate(pd.DataFrame({"x": [None, None], "t": [None, None]}))


# --------------------------------------------------------------------------- columns


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "text"}, "dtype"),
        ({"dtype": "string", "min": 0}, "min/max apply to float and int"),
        ({"dtype": "float", "min": 2, "max": 1}, "min .* is greater than max"),
        ({"dtype": "float", "min": float("nan")}, "must not be NaN"),
        ({"dtype": "int", "timezone": "UTC"}, "timezone applies to datetime"),
        ({"dtype": "int", "allowed": ["a"]}, "allowed value 'a' is not a int"),
        ({"dtype": "datetime", "allowed": [1]}, "not supported for datetime"),
        ({"dtype": "float", "unknown": 1}, "unknown"),
    ],
)
def test_invalid_column_definitions_raise_config_error(
    kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        Column("x", **kwargs)  # type: ignore[arg-type]


def test_empty_name_and_duplicate_names() -> None:
    with pytest.raises(ConfigError, match="name"):
        Column("", "float")
    with pytest.raises(ConfigError, match=r"repeated: \['a'\]"):
        Schema([Column("a", "float"), Column("a", "int")])


def test_lookup_and_select() -> None:
    assert SCHEMA["plan"].dtype is LogicalType.CATEGORY
    assert "plan" in SCHEMA
    assert len(SCHEMA) == 5
    assert SCHEMA.select(["seen", "age"]).names == ["seen", "age"]
    with pytest.raises(SchemaError, match="column 'nope': column is not in the schema"):
        SCHEMA["nope"]


# --------------------------------------------------------------------------- infer


def test_infer_types_and_nullability() -> None:
    df = pd.DataFrame(
        {
            "f": [1.0, None],
            "i": [1, 2],
            "ni": pd.array([1, None], dtype="Int64"),
            "b": [True, False],
            "s": ["a", "b"],
            "c": pd.Categorical(["a", None]),
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("Europe/Paris"),
            "n": [None, None],
        }
    )
    s = Schema.infer(df, nullable="observed")
    got = {c.name: (c.dtype.value, c.nullable) for c in s.columns}
    assert got == {
        "f": ("float", True),
        "i": ("int", False),
        "ni": ("int", True),
        "b": ("bool", False),
        "s": ("string", False),
        "c": ("category", True),
        "t": ("datetime", False),
        "n": ("string", True),
    }
    assert s["t"].timezone == "Europe/Paris"
    assert all(c.nullable for c in Schema.infer(df).columns)


def test_infer_merges_chunks_and_rejects_disagreement() -> None:
    chunks = [pd.DataFrame({"x": [1, 2]}), pd.DataFrame({"x": [1.5, None]})]
    assert Schema.infer(chunks)["x"].dtype is LogicalType.FLOAT
    with pytest.raises(SchemaError, match="chunks disagree on the type: int then string"):
        Schema.infer([pd.DataFrame({"x": [1]}), pd.DataFrame({"x": ["a"]})])
    with pytest.raises(SchemaError, match="chunks have different columns"):
        Schema.infer([pd.DataFrame({"x": [1]}), pd.DataFrame({"y": [1]})])
    with pytest.raises(SchemaError, match="no data to infer from"):
        Schema.infer([])


def test_infer_rejects_mixed_columns() -> None:
    with pytest.raises(SchemaError, match=r"column 'x': values of mixed types, e.g. str 'a'"):
        Schema.infer(pd.DataFrame({"x": pd.Series([1, "a"], dtype=object)}))


@given(schemas_and_tables())
def test_inferred_schema_accepts_its_data(pair: tuple[Schema, pd.DataFrame]) -> None:
    _, df = pair
    Schema.infer(df).validate(df)


# ----------------------------------------------------------------------- round trips


@given(schemas(), st.booleans())
def test_schema_arrow_round_trip(schema: Schema, strict: bool) -> None:
    schema = schema.model_copy(update={"strict": strict})
    assert Schema.from_arrow(schema.to_arrow()) == schema


_CANONICAL = st.sampled_from(
    [
        pa.float64(),
        pa.int64(),
        pa.bool_(),
        pa.string(),
        pa.dictionary(pa.int32(), pa.string()),
        pa.timestamp("ns"),
        pa.timestamp("ns", tz="UTC"),
    ]
)


@given(st.lists(st.tuples(_CANONICAL, st.booleans()), min_size=1, max_size=6))
def test_arrow_schema_round_trip(fields: list[tuple[pa.DataType, bool]]) -> None:
    arrow = pa.schema([pa.field(f"c{i}", t, n) for i, (t, n) in enumerate(fields)])
    assert Schema.from_arrow(arrow).to_arrow().equals(arrow, check_metadata=True)


def test_rich_column_attributes_survive_arrow() -> None:
    back = Schema.from_arrow(SCHEMA.to_arrow())
    assert back == SCHEMA
    assert back["plan"].allowed == ("free", "pro")


def test_from_arrow_rejects_unsupported_types() -> None:
    with pytest.raises(SchemaError, match="column 'l': arrow type list<item: int64>"):
        Schema.from_arrow(pa.schema([pa.field("l", pa.list_(pa.int64()))]))


@given(schemas())
def test_json_round_trip_and_fingerprint(schema: Schema) -> None:
    back = Schema.from_json(schema.to_json())
    assert back == schema
    assert back.fingerprint == schema.fingerprint


def test_fingerprint_changes_with_content() -> None:
    other = SCHEMA.model_copy(update={"strict": True})
    assert other.fingerprint != SCHEMA.fingerprint


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"format_version": 99, "columns": []}', "format_version 99 is not supported"),
        ('{"format_version": 99, "columns": []}', "newer one. Upgrade prodml"),
        ('{"format_version": true, "columns": []}', "'format_version' must be 1"),
        ('{"columns": []}', "'format_version' must be 1"),
        ("[1]", "must be an object"),
        ("{oops", "not valid JSON"),
        (
            '{"format_version": 1, "columns": [{"name": "x"}]}',
            r"columns\.0: Invalid Column: dtype: Field required",
        ),
    ],
)
def test_bad_serialised_schema(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Schema.from_json(text)


def test_to_dict_is_json_safe() -> None:
    d = SCHEMA.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["format_version"] == 1


def test_diff_reports_incompatibilities() -> None:
    new = Schema(
        [Column("age", "float"), Column("plan", "string", nullable=False), Column("z", "int")]
    )
    assert SCHEMA.diff(new) == [
        "column 'plan': nulls no longer allowed",
        "column 'z': required but not provided",
    ]
    assert SCHEMA.diff(SCHEMA) == []


# -- the fast path for clean dict records -----------------------------------------------


@given(st.data())
def test_clean_record_fast_path_never_hides_a_problem(data: st.DataObject) -> None:
    from prodml.schema import _record_is_clean
    from prodml.testing.strategies import records

    schema = data.draw(schemas())
    record = data.draw(records(schema=schema))
    # Mutate one value now and then into something that may or may not be valid.
    if record and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(record)))
        record[key] = data.draw(
            st.one_of(
                st.none(),
                st.floats(allow_nan=True),
                st.integers(-(2**40), 2**40),
                st.booleans(),
                st.text(max_size=3),
            )
        )
    if data.draw(st.booleans()):
        record["zz_extra"] = 1
    strict = data.draw(st.booleans())
    slow = schema.problems(as_columns(record), strict=strict)
    if _record_is_clean(schema, record, strict=strict):
        assert slow == []
    if slow:
        with pytest.raises(SchemaError) as info:
            schema.validate(record, strict=strict)
        # The same problems; a single record's have no row ("first at row 0" is noise).
        assert list(info.value.problems) == [dataclasses.replace(p, row=None) for p in slow]
    else:
        schema.validate(record, strict=strict)


def test_clean_record_fast_path_is_taken_for_plain_requests() -> None:
    from prodml.schema import _record_is_clean

    schema = Schema(
        [
            Column("age", "int", min=0),
            Column("spend", "float", nullable=True),
            Column("plan", "string", allowed=["free", "pro"]),
            Column("active", "bool"),
        ]
    )
    clean = {"age": 3, "spend": None, "plan": "pro", "active": True}
    assert _record_is_clean(schema, clean, strict=True)
    assert not _record_is_clean(schema, {**clean, "age": -1}, strict=True)
    assert not _record_is_clean(schema, {**clean, "plan": "team"}, strict=True)
    assert not _record_is_clean(schema, {**clean, "age": True}, strict=True)
    assert not _record_is_clean(schema, {**clean, "extra": 1}, strict=True)
    assert _record_is_clean(schema, {**clean, "extra": 1}, strict=False)
    with pytest.raises(SchemaError, match="plan"):
        schema.validate({**clean, "plan": "team"})


# -- chunks of text columns: the schema of their concatenation ------------------------

_LETTERS = ["a", "b", "c", "d"]
_TEXT_KINDS = ["category", "str", "object", "null object", "null category", "empty"]


@st.composite
def _text_chunk(draw: st.DrawFn) -> pd.DataFrame:
    """A chunk whose column ``c`` is categorical, str, object, all-null or empty."""
    kind = draw(st.sampled_from(_TEXT_KINDS))
    n = 0 if kind == "empty" else draw(st.integers(1, 4))
    if kind in ("category", "null category"):
        cats = draw(st.lists(st.sampled_from(_LETTERS), max_size=4, unique=True))
        pick = st.sampled_from([*cats, None]) if kind == "category" else st.none()
        ordered = draw(st.booleans())
        values = draw(st.lists(pick, min_size=n, max_size=n))
        c = pd.Series(pd.Categorical(values, categories=cats, ordered=ordered))
    elif kind == "null object":
        c = pd.Series([None] * n, dtype=object)
    else:
        dtype = draw(st.sampled_from(["str", "object", "category"])) if kind == "empty" else kind
        c = pd.Series(draw(st.lists(st.sampled_from([*_LETTERS, None]), min_size=n, max_size=n)))
        c = c.astype(dtype)
    return pd.DataFrame({"c": c, "n": np.arange(n, dtype="int64")})


@given(chunks=st.lists(_text_chunk(), min_size=1, max_size=4).flatmap(st.permutations))
def test_infer_over_chunks_equals_infer_over_their_concatenation(chunks) -> None:
    # pd.concat keeps `category` only for one categorical dtype throughout; the merge of
    # the chunks' kinds made `category` of category next to str/object (or all-null)
    full = pd.concat(chunks, ignore_index=True)
    for nullable in ("always", "observed"):
        merged = Schema.infer(chunks, nullable=nullable, detect_personal=False)
        assert merged == Schema.infer(full, nullable=nullable, detect_personal=False)
    assert Schema.infer(chunks, detect_personal=False) == Schema.infer(
        chunks[::-1], detect_personal=False
    )


def test_infer_over_chunks_category_next_to_text() -> None:
    cat = pd.DataFrame({"c": pd.Categorical(["a", "b"])})
    text = pd.DataFrame({"c": pd.Series(["a", "z"], dtype="str")})
    assert Schema.infer([cat, text])["c"].dtype is LogicalType.STRING
    assert Schema.infer([text, cat])["c"].dtype is LogicalType.STRING
    assert Schema.infer([cat, cat])["c"].dtype is LogicalType.CATEGORY
    # arrow chunks keep their kinds' merge (pa.concat_tables refuses the pair)
    tables = [pa.Table.from_pandas(cat), pa.Table.from_pandas(text)]
    assert Schema.infer(tables)["c"].dtype is LogicalType.CATEGORY
