"""Wide-table fit reads each column once (one shared view, one null pass): same results.

``FeaturePipeline.fit`` hands its own column view to ``Schema.infer`` and null masks skip
the Series round trip. The fitted state and the transform output must not move by a bit:
they are checked against digests taken before the change, and against the chunked path
(a list of one table), which builds its own views as before.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml._data import Columns, iter_columns
from prodml.features import FeaturePipeline, steps
from prodml.schema import Schema

# sha256 of to_json() and of the transform output's bytes, from main at de48047 (before).
BEFORE = {
    "state": "e14ba89e9fdbe132416b9b731e94f178ed3b33f5b0ae3b2bda87f24ff52e13af",
    "output": "4fc465c378c617840d59e544b973cad95ae1e1f4e4d4d0a6eea9cf842d3992d8",
}


def _w1_like(n_columns: int = 40, rows: int = 300, seed: int = 7) -> pd.DataFrame:
    """Floats with NaN, ``str`` with nulls, ``category`` and ``object`` text columns."""
    rng = np.random.default_rng(seed)
    labels = np.array(["low", "mid", "high", "ünï"], dtype=object)
    data: dict[str, object] = {}
    for i in range(n_columns // 4):
        x = rng.normal(i, 1 + i, rows)
        x[rng.random(rows) < 0.1] = np.nan
        data[f"f{i}"] = x
        s = labels[rng.integers(0, 4, rows)].copy()
        s[rng.random(rows) < 0.1] = None
        data[f"s{i}"] = pd.Series(s, dtype="str")
        data[f"c{i}"] = pd.Series(s, dtype="category")
        o = labels[rng.integers(0, 3, rows)].copy()
        o[rng.random(rows) < 0.05] = None
        data[f"o{i}"] = o
    return pd.DataFrame(data)


def _pipeline(df: pd.DataFrame) -> FeaturePipeline:
    floats = [c for c in df.columns if c.startswith("f")]
    texts = [c for c in df.columns if not c.startswith("f")]
    return FeaturePipeline(
        [
            steps.Impute(floats),
            steps.StandardScale(floats),
            steps.Impute(texts, strategy="most_frequent"),
            steps.OneHot(texts),
        ]
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fitted_state_and_output_are_as_before() -> None:
    df = _w1_like()
    pipe = _pipeline(df).fit(df)
    out = np.ascontiguousarray(pipe.transform(df), dtype=np.float64)
    assert _digest(pipe.to_json().encode()) == BEFORE["state"]
    assert _digest(out.tobytes()) == BEFORE["output"]


@pytest.mark.parametrize("as_table", [False, True])
def test_one_table_fits_as_its_chunk_list(as_table: bool) -> None:
    df = _w1_like(seed=11)
    data = pa.Table.from_pandas(df, preserve_index=False) if as_table else df
    whole = _pipeline(df).fit(data)
    chunked = _pipeline(df).fit([data])  # the chunk path: its own view per pass
    assert whole.to_json() == chunked.to_json()
    np.testing.assert_array_equal(whole.transform(df), chunked.transform(df))
    assert whole.input_schema_ == Schema.infer(data, nullable="always")


def test_null_masks_match_pandas_isna() -> None:
    df = _w1_like(seed=3)
    df["n"] = pd.array([1, None, 3] * 100, dtype="Int64")
    df["b"] = pd.array([True, None, False] * 100, dtype="boolean")
    df["t"] = pd.to_datetime(pd.Series([0, None, 2] * 100), unit="s")
    df["f32"] = np.array([1.0, np.nan, 2.0] * 100, dtype=np.float32)
    cols = Columns(df)
    for name in df.columns:
        np.testing.assert_array_equal(cols.null_mask(name), df[name].isna().to_numpy(), name)


def test_a_view_passes_through_iter_columns() -> None:
    df = _w1_like(n_columns=8, rows=10)
    cols = Columns(df)
    assert list(iter_columns(cols)) == [cols]
    batches = list(iter_columns(cols, batch_rows=4))  # split like its table
    assert [b.num_rows for b in batches] == [4, 4, 2]
    assert all(b is not cols for b in batches)


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [
        ("bool", "bool"),
        ("float16", "float"),
        ("float32", "float"),
        ("float64", "float"),
        ("int8", "int"),
        ("int64", "int"),
        ("uint32", "int"),
        ("uint64", "int"),
        ("datetime64[ns]", "datetime"),
        ("datetime64[s]", "datetime"),
        ("timedelta64[ns]", "mixed"),
        ("complex128", "mixed"),
    ],
)
def test_numpy_dtypes_keep_their_kind(dtype: str, kind: str) -> None:
    cols = Columns(pd.DataFrame({"x": np.zeros(3, dtype=dtype)}))
    assert cols.kind("x").kind == kind
    assert cols.kind("x") is cols.kind("x")  # detected once per view
