"""pandas 3 ``str`` columns (built, or read from Parquet in chunks) read as text once.

A text column's codes come from one read of the column: ``Columns.raw`` on a pandas frame
costs a pandas column lookup (``iloc``), tens of microseconds, which on a wide table of
``str`` columns was a fifth of ``read_text`` (the kind, the raw column and the Arrow
array each read it; the Arrow array still does, from ``Columns.arrow``). The output is
the one of ``category`` and ``object`` columns and of scikit-learn's OneHotEncoder, with
and without nulls, in one chunk or several.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import OneHotEncoder

from prodml._data import Columns
from prodml.features import FeaturePipeline, steps
from prodml.features._base import read_text


def _parquet(df: pd.DataFrame, row_group: int) -> pd.DataFrame:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf, row_group_size=row_group)
    buf.seek(0)
    return pd.read_parquet(buf)


@pytest.mark.parametrize("dtype", ["str", "category", "object"])
def test_read_text_reads_a_pandas_column_once(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cols = Columns(pd.DataFrame({"s": pd.Series(["a", None, "b"], dtype=dtype)}))
    reads: list[str] = []
    raw = Columns.raw

    def counted(self: Columns, name: str) -> object:
        reads.append(name)
        return raw(self, name)

    monkeypatch.setattr(Columns, "raw", counted)
    text = read_text(cols, "s")
    assert [text.value_at(i) for i in range(3)] == ["a", None, "b"]
    # Was 3 for str and object (the kind, the raw column, the Arrow array), 2 for category.
    assert len(reads) == (1 if dtype == "category" else 2)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(["low", "mid", "high", "x y", "é", None]), min_size=1, max_size=60),
    st.integers(1, 7),
)
def test_str_columns_one_hot_as_category_object_and_sklearn(
    values: list[str | None], row_group: int
) -> None:
    built = pd.DataFrame({"s": pd.Series(values, dtype="str")})
    frames = {
        "str": built,
        "str from parquet": _parquet(built, row_group),
        "category": built.astype({"s": "category"}),
        "object": built.astype({"s": object}),
    }
    assert isinstance(frames["str from parquet"]["s"].dtype, pd.StringDtype)
    pipe = FeaturePipeline(
        [steps.Impute(["s"], strategy="constant", fill_value="?"), steps.OneHot(["s"])]
    ).fit(built)
    filled = np.array(["?" if v is None else v for v in values], dtype=object).reshape(-1, 1)
    expected = OneHotEncoder(sparse_output=False).fit(filled).transform(filled)
    for name, frame in frames.items():
        np.testing.assert_array_equal(pipe.transform(frame), expected, err_msg=name)
        again = FeaturePipeline(pipe.steps).fit(frame)  # its schema records the dtype
        np.testing.assert_array_equal(again.transform(built), expected, err_msg=name)
    for i, v in enumerate(values):
        np.testing.assert_array_equal(pipe.transform_record({"s": v}), expected[i])
