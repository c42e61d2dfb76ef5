from __future__ import annotations

import math
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError, SchemaError
from prodml.fingerprint import (
    TableHasher,
    fingerprint_file,
    fingerprint_path,
    fingerprint_spec,
    fingerprint_table,
)
from prodml.testing.strategies import chunkings, schemas_and_tables, split_table


@given(st.data())
def test_table_hash_is_independent_of_chunking(data: st.DataObject) -> None:
    _, df = data.draw(schemas_and_tables(max_rows=25))
    cuts = data.draw(chunkings(len(df)))
    whole = fingerprint_table(df)
    assert fingerprint_table(split_table(df, cuts)) == whole
    table = pa.Table.from_pandas(df, preserve_index=False)
    assert fingerprint_table(table) == whole
    assert fingerprint_table(split_table(table, cuts)) == whole
    if len(df):  # zero rows give zero batches, which carry no column names
        assert fingerprint_table(table.to_batches(max_chunksize=3)) == whole


@given(st.data())
def test_table_hash_changes_when_a_value_changes(data: st.DataObject) -> None:
    _, df = data.draw(schemas_and_tables(min_rows=1, max_rows=10))
    float_cols = [c for c in df.columns if df[c].dtype == np.float64]
    if not float_cols:
        df = df.assign(extra_float=np.arange(len(df), dtype=np.float64))
        float_cols = ["extra_float"]
    before = fingerprint_table(df)
    col = float_cols[0]
    changed = df.copy()
    v = changed[col].iloc[0]
    changed.loc[changed.index[0], col] = 1.0 if pd.isna(v) else (np.nan if v == 0 else v * 2)
    assert fingerprint_table(changed) != before


def test_column_order_policy(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert fingerprint_table(df) == fingerprint_table(df[["b", "a"]])
    assert fingerprint_table(df, column_order="keep") != fingerprint_table(
        df[["b", "a"]], column_order="keep"
    )
    with pytest.raises(ConfigError, match="'column_order' parameter of TableHasher"):
        fingerprint_table(df, column_order="sorted")  # type: ignore[arg-type]


def test_storage_types_and_null_spellings_hash_alike() -> None:
    ints = pd.DataFrame({"x": np.array([1, 2, 3], dtype=np.int32)})
    assert fingerprint_table(ints) == fingerprint_table(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    a = pd.DataFrame({"s": pd.Series(["a", None], dtype=object)})
    b = pd.DataFrame({"s": pd.Series(["a", pd.NA], dtype="string")})
    assert fingerprint_table(a) == fingerprint_table(b)
    assert fingerprint_table(a) == fingerprint_table(pa.table({"s": ["a", None]}))
    assert fingerprint_table(pd.DataFrame({"s": pd.Categorical(["a", None])})) != (
        fingerprint_table(a)
    )


def test_values_that_differ_hash_differently() -> None:
    base = fingerprint_table(pd.DataFrame({"s": ["ab", "c"]}))
    # Same bytes, different boundaries: lengths are part of the hash.
    assert fingerprint_table(pd.DataFrame({"s": ["a", "bc"]})) != base
    assert fingerprint_table(pd.DataFrame({"s": ["ab", None, "c"]})) != base
    big = 2**53 + 1
    assert fingerprint_table(pd.DataFrame({"x": [big]})) != fingerprint_table(
        pd.DataFrame({"x": [big - 1]})
    )
    assert fingerprint_table(pd.DataFrame({"x": [1.0]})) != fingerprint_table(
        pd.DataFrame({"y": [1.0]})
    )


def test_timezones_hash_as_instants() -> None:
    utc = pd.DataFrame({"t": pd.to_datetime(["2024-01-01 09:00"]).tz_localize("UTC")})
    paris = pd.DataFrame({"t": utc["t"].dt.tz_convert("Europe/Paris")})
    assert fingerprint_table(utc) == fingerprint_table(paris)


def test_parquet_file_in_batches(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": np.arange(100.0), "s": [str(i) for i in range(100)]})
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=7)
    assert fingerprint_table(pq.ParquetFile(path)) == fingerprint_table(df)


def test_incremental_hasher_and_bad_chunks() -> None:
    h = TableHasher()
    h.update(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(SchemaError, match="chunk columns"):
        h.update(pd.DataFrame({"y": [1.0]}))
    with pytest.raises(SchemaError, match="column 'x': chunks disagree on the type: number then"):
        fingerprint_table([pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": ["a"]})])
    with pytest.raises(SchemaError, match="cannot hash values of mixed types"):
        fingerprint_table(pd.DataFrame({"x": pd.Series([1, "a"], dtype=object)}))


# ------------------------------------------------------------------------------ specs

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=4), JSON, max_size=6))
def test_spec_hash_ignores_key_order(d: dict[str, object]) -> None:
    reordered = dict(reversed(list(d.items())))
    assert fingerprint_spec(d) == fingerprint_spec(reordered)


def test_spec_hash_golden_and_errors() -> None:
    # Golden value: changing canonical JSON would silently break stored fingerprints.
    assert fingerprint_spec({"b": 1, "a": [1.5, None]}) == (
        "cf0c4895ed707baaf7f40eaf8263541a10f2599db4d8955d035dc0a8f254ee32"
    )
    assert fingerprint_spec((1, 2)) == fingerprint_spec([1, 2])
    with pytest.raises(ConfigError, match=r"spec value at \$\.a\[1\] is nan"):
        fingerprint_spec({"a": [1, math.nan]})
    with pytest.raises(ConfigError, match=r"at \$\.s has type set"):
        fingerprint_spec({"s": {1}})
    with pytest.raises(ConfigError, match="spec key 1"):
        fingerprint_spec({1: 2})


# ------------------------------------------------------------------------------ files


def test_file_and_directory_hashes(tmp_path: Path) -> None:
    a = tmp_path / "model"
    (a / "sub").mkdir(parents=True)
    (a / "weights.bin").write_bytes(b"\x00" * 3_000_000)
    (a / "sub" / "meta.json").write_text("{}")
    b = tmp_path / "copy"
    (b / "sub").mkdir(parents=True)
    (b / "sub" / "meta.json").write_text("{}")
    (b / "weights.bin").write_bytes(b"\x00" * 3_000_000)
    assert fingerprint_path(a) == fingerprint_path(b)
    assert fingerprint_file(a / "weights.bin") == fingerprint_path(a / "weights.bin")
    (b / "sub" / "meta.json").write_text("{ }")
    assert fingerprint_path(a) != fingerprint_path(b)
    (b / "sub" / "meta.json").rename(b / "meta.json")
    (b / "meta.json").write_text("{}")
    assert fingerprint_path(a) != fingerprint_path(b)  # paths are part of the content
    with pytest.raises(FileNotFoundError):
        fingerprint_path(tmp_path / "nope")


def test_fsspec_filesystem_matches_local(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe("/fp/m/a.txt", b"hello")
    fs.pipe("/fp/m/d/b.txt", b"world")
    local = tmp_path / "m"
    (local / "d").mkdir(parents=True)
    (local / "a.txt").write_bytes(b"hello")
    (local / "d" / "b.txt").write_bytes(b"world")
    assert fingerprint_path("/fp/m", fs=fs) == fingerprint_path(local)
    assert fingerprint_path("/fp/m/a.txt", fs=fs) == fingerprint_file(local / "a.txt")
    with pytest.raises(FileNotFoundError):
        fingerprint_path("/fp/none", fs=fs)


@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20),
    st.data(),
)
def test_signed_zeros_hash_alike(values: list[float], data: st.DataObject) -> None:
    # Numbers hash by value and -0.0 == 0.0: flipping the sign of any zero changes nothing.
    flips = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    signed = [(-v if flip and v == 0.0 else v) for v, flip in zip(values, flips, strict=True)]
    frame = pd.DataFrame({"x": values})
    assert fingerprint_table(pd.DataFrame({"x": signed})) == fingerprint_table(frame)
    assert fingerprint_table(pa.table({"x": signed})) == fingerprint_table(frame)


def test_negative_zero_hashes_as_zero_and_as_the_int() -> None:
    zero = fingerprint_table(pd.DataFrame({"x": [0.0, 1.0]}))
    assert fingerprint_table(pd.DataFrame({"x": [-0.0, 1.0]})) == zero
    assert fingerprint_table(pd.DataFrame({"x": [0, 1]})) == zero
    assert fingerprint_table(pd.DataFrame({"x": [-0.0, 2.0]})) != zero
