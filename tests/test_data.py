from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml._data import (
    Columns,
    as_columns,
    column_kind,
    iter_columns,
    record_datetime64,
    record_float,
)
from prodml.errors import SchemaError
from prodml.fingerprint import fingerprint_table


def test_float_view_is_zero_copy_for_float64_sources() -> None:
    df = pd.DataFrame({"x": np.arange(5, dtype=np.float64)})
    view = as_columns(df).float64("x")
    assert np.shares_memory(view, df["x"].to_numpy())
    arr = pa.table({"x": np.arange(5, dtype=np.float64)})
    aview = as_columns(arr).float64("x")
    assert not aview.flags.writeable  # a view onto arrow memory, not a copy


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series([1.0, np.nan, 3.0], dtype="float32"),
        pd.Series([1, None, 3], dtype="Float64"),
        pd.Series([1, None, 3], dtype=object),
        pd.Series([decimal.Decimal(1), None, decimal.Decimal(3)], dtype=object),
    ],
)
def test_float_view_maps_every_null_to_nan(series: pd.Series) -> None:
    out = as_columns(pd.DataFrame({"x": series})).float64("x")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.0, np.nan, 3.0])


def test_arrow_ints_with_nulls_and_chunks() -> None:
    chunked = pa.chunked_array([pa.array([1, None], pa.int32()), pa.array([3], pa.int32())])
    out = as_columns(pa.table({"x": chunked})).float64("x")
    np.testing.assert_array_equal(out, [1.0, np.nan, 3.0])


def test_float_view_rejects_strings_naming_value_and_row() -> None:
    df = pd.DataFrame({"x": pd.Series([1.0, "1.5"], dtype=object)})
    with pytest.raises(SchemaError) as exc:
        as_columns(df).float64("x")
    assert str(exc.value) == "column 'x': expected float, got str '1.5' (first at row 1)"
    with pytest.raises(
        SchemaError, match=r"column 'x': expected float, got str 'a' \(first at row 0\)"
    ):
        as_columns(pa.table({"x": ["a"]})).float64("x")
    with pytest.raises(SchemaError, match="expected float, got bool"):
        as_columns(pd.DataFrame({"x": [True]})).float64("x", allow_bool=False)


def test_objects_view_uses_none_for_every_null() -> None:
    df = pd.DataFrame({"c": pd.Series(["a", np.nan, None, pd.NA], dtype=object)})
    assert list(as_columns(df).objects("c")) == ["a", None, None, None]
    cat = pd.DataFrame({"c": pd.Categorical(["a", None])})
    assert list(as_columns(cat).objects("c")) == ["a", None]
    arrow = pa.table({"c": pa.array(["a", None]).dictionary_encode()})
    assert list(as_columns(arrow).objects("c")) == ["a", None]


def test_datetime_view_wall_clock_and_utc() -> None:
    ts = pd.Series(pd.to_datetime(["2024-03-01 10:00", None]).tz_localize("Europe/Paris"))
    cols = as_columns(pd.DataFrame({"t": ts}))
    local = cols.datetime64("t")
    utc = cols.datetime64("t", utc=True)
    assert str(local[0]) == "2024-03-01T10:00:00.000000000"
    assert str(utc[0]) == "2024-03-01T09:00:00.000000000"
    assert np.isnat(local[1])
    arrow = as_columns(pa.Table.from_pandas(pd.DataFrame({"t": ts})))
    np.testing.assert_array_equal(arrow.datetime64("t"), local)
    with pytest.raises(SchemaError, match="expected datetime, got str '2024-01-01'"):
        as_columns(pd.DataFrame({"t": ["2024-01-01"]})).datetime64("t")


def test_record_converters_agree_with_batch() -> None:
    values = [3, 2.5, np.float32(0.1), True, None, decimal.Decimal("1.25"), 2**60 + 1]
    batch = as_columns(pd.DataFrame({"x": pd.Series(values, dtype=object)})).float64("x")
    singles = np.array([record_float(v, "x") for v in values])
    assert batch.view(np.int64).tolist() == singles.view(np.int64).tolist()
    with pytest.raises(SchemaError, match="column 'x': expected float, got str 'abc'"):
        record_float("abc", "x")
    stamp = dt.datetime(2024, 3, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert str(record_datetime64(stamp, "t")) == "2024-03-01T10:00:00.000000000"
    assert str(record_datetime64(stamp, "t", utc=True)) == "2024-03-01T09:00:00.000000000"
    assert np.isnat(record_datetime64(None, "t"))
    with pytest.raises(SchemaError, match="expected datetime"):
        record_datetime64("2024-01-01", "t")


def test_record_view() -> None:
    cols = as_columns({"a": 1.5, "b": "x", "c": None})
    assert cols.num_rows == 1
    assert cols.float64("a").tolist() == [1.5]
    assert column_kind(cols.raw("b")).kind == "string"
    assert column_kind(cols.raw("c")).kind == "null"


@pytest.mark.parametrize("bad", ["a,b", b"x", 3, [1, 2]])
def test_bad_inputs(bad: object) -> None:
    with pytest.raises(SchemaError, match="must be a pandas DataFrame"):
        list(iter_columns(bad))


def test_bad_chunk_inside_iterable_is_named() -> None:
    with pytest.raises(SchemaError, match="chunk 1 of data must be"):
        list(iter_columns([pd.DataFrame({"x": [1]}), "oops"]))


def test_duplicate_and_non_string_column_names() -> None:
    with pytest.raises(SchemaError, match="column 'a': column name appears twice"):
        as_columns(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(SchemaError, match="column names must be strings; got 0"):
        as_columns(pd.DataFrame([[1, 2]]))


def test_iter_columns_batches_every_source(tmp_path: object) -> None:
    df = pd.DataFrame({"x": np.arange(10.0)})
    assert [c.num_rows for c in iter_columns(df, batch_rows=4)] == [4, 4, 2]
    table = pa.Table.from_pandas(df, preserve_index=False)
    assert [c.num_rows for c in iter_columns(table, batch_rows=4)] == [4, 4, 2]
    path = f"{tmp_path}/x.parquet"
    pq.write_table(table, path, row_group_size=3)
    batches = list(iter_columns(pq.ParquetFile(path), batch_rows=5))
    assert sum(b.num_rows for b in batches) == 10
    np.testing.assert_array_equal(np.concatenate([b.float64("x") for b in batches]), df["x"])
    gen = (df.iloc[i : i + 3] for i in range(0, 10, 3))
    assert [c.num_rows for c in iter_columns(gen)] == [3, 3, 3, 1]


def test_mixed_column_kind_reports_offender() -> None:
    info = column_kind(pd.Series([1, 2.5, "x"], dtype=object))
    assert (info.kind, info.example, info.row) == ("mixed", "x", 2)


def test_parquet_file_is_read_one_row_group_at_a_time(tmp_path: Path) -> None:
    """Arrow's allocated bytes stay about one row group, not the whole file (issue 15 §4)."""
    path = tmp_path / "groups.parquet"
    rows_per_group, groups = 50_000, 40
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, pa.schema([("x", pa.float64()), ("y", pa.float64())])) as w:
        for _ in range(groups):
            w.write_table(
                pa.table(
                    {"x": rng.normal(size=rows_per_group), "y": rng.normal(size=rows_per_group)}
                )
            )
    group_bytes = rows_per_group * 16
    before = pa.total_allocated_bytes()
    peak, rows = 0, 0
    for cols in iter_columns(pq.ParquetFile(path), batch_rows=10_000):
        rows += cols.num_rows
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert rows == rows_per_group * groups
    # Whole-file iter_batches held every group (41.7 MB for these 40 x 0.8 MB); one group
    # at a time holds a few (2.8 MB measured).
    assert peak < 10 * group_bytes


def test_a_dict_row_inside_an_iterable_gets_a_message_that_does_not_contradict_itself() -> None:
    # A dict is a record at the top level, not a chunk: the message must not list it as
    # accepted while refusing it, and says how to pass rows given as dicts.
    with pytest.raises(SchemaError) as info:
        list(iter_columns([{"x": 1.0}, {"x": 2.0}]))
    message = str(info.value)
    assert "chunk 0 of data must be a pandas DataFrame, a pyarrow Table or RecordBatch;" in message
    assert "dict record" not in message
    assert "pandas.DataFrame(rows)" in message


def _fit_decay_table(frame: pd.DataFrame) -> object:
    from prodml.cost import fit_decay

    return fit_decay(frame.assign(age=[1.0, 2.0, 3.0, 4.0]), age="age", metric="x")


def _drift(frame: pd.DataFrame) -> object:
    from prodml.drift import DriftDetector

    reference = pd.DataFrame({"x": np.arange(4.0)})
    return DriftDetector().fit(reference).detect(frame)


@pytest.mark.parametrize(
    "use",
    [
        lambda f: as_columns(f).float64("x"),
        fingerprint_table,
        _drift,
        _fit_decay_table,
    ],
    ids=["float64", "fingerprint_table", "drift", "fit_decay"],
)
def test_an_int_beyond_float64_in_an_object_column_is_named_with_its_row(use: object) -> None:
    # Only an object column can hold it (a Python int); float() of it overflows.
    frame = pd.DataFrame({"x": [0.5, None, 10**400, 2]}, dtype=object)
    with pytest.raises(SchemaError) as err:
        use(frame)  # type: ignore[operator]
    problem = err.value.problems[0]
    assert (problem.column, problem.kind, problem.row) == ("x", "range", 2)
    assert "is too large for float64" in problem.message
    assert len(problem.message) < 150


def test_a_pandas_column_is_looked_up_once_per_view() -> None:
    # iloc[:, i] costs tens of microseconds and a fit reads each column four or five
    # times (kind, nulls, arrow, values): the view keeps what it looked up.
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    cols = Columns(df)
    first = cols.raw("a")
    assert cols.raw("a") is first
    assert first.equals(df["a"])
    assert Columns(df).raw("a") is not first  # a new view looks again
    with pytest.raises(SchemaError, match="missing"):
        cols.raw("c")
