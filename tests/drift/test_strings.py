"""Strings as pandas 3 and Arrow deliver them (issue 15 §3).

Every representation of the same string column gives the same profile and the same
verdicts, and arrow-backed pandas columns are read without any per-element conversion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml._data import Columns
from prodml.drift import DriftDetector, Profile
from prodml.drift._columns import CategoricalColumn

Values = list[str | None]


def _arrow_chunks(values: Values, typ: pa.DataType) -> pa.ChunkedArray:
    half = len(values) // 2
    return pa.chunked_array([pa.array(values[:half], typ), pa.array(values[half:], typ)], typ)


def _pandas(dtype: object) -> Callable[[Values], pd.DataFrame]:
    def build(values: Values) -> pd.DataFrame:
        return pd.DataFrame({"s": pd.Series(values, dtype=dtype)})

    return build


def _concat(dtype: str) -> Callable[[Values], pd.DataFrame]:
    """Two frames concatenated: a pandas-3 string column of two arrow chunks."""

    def build(values: Values) -> pd.DataFrame:
        half = len(values) // 2
        parts = [
            pd.DataFrame({"s": pd.Series(v, dtype=dtype)}) for v in (values[:half], values[half:])
        ]
        return pd.concat(parts, ignore_index=True)

    return build


def _arrow(typ: pa.DataType) -> Callable[[Values], pa.Table]:
    def build(values: Values) -> pa.Table:
        return pa.table({"s": _arrow_chunks(values, typ)})

    return build


def _dictionary(values: Values) -> pa.Table:
    return pa.table({"s": _arrow_chunks(values, pa.string()).dictionary_encode()})


REPRESENTATIONS: dict[str, Callable[[Values], object]] = {
    "object": _pandas(object),
    "str": _pandas("str"),
    "string[pyarrow]": _pandas("string[pyarrow]"),
    "category": _pandas("category"),
    "ArrowDtype(string)": _pandas(pd.ArrowDtype(pa.string())),
    "ArrowDtype(large_string)": _pandas(pd.ArrowDtype(pa.large_string())),
    "str, concatenated": _concat("str"),
    "string[pyarrow], concatenated": _concat("string[pyarrow]"),
    "arrow string": _arrow(pa.string()),
    "arrow large_string": _arrow(pa.large_string()),
    "arrow string_view": _arrow(pa.string_view()),
    "arrow dictionary": _dictionary,
}

strings = st.lists(
    st.one_of(st.none(), st.sampled_from(["a", "b", "", "é", "long value"])),
    min_size=2,
    max_size=60,
).filter(lambda v: any(x is not None for x in v))


@settings(max_examples=30, deadline=None)
@given(strings, strings)
def test_every_string_representation_gives_one_profile_and_verdict(
    ref: Values, cur: Values
) -> None:
    profiles = {
        name: Profile().update(build(ref)).to_dict() for name, build in REPRESENTATIONS.items()
    }
    first = profiles["object"]
    for name, prof in profiles.items():
        assert prof == first, name
    reports = {
        name: DriftDetector().fit(build(ref)).detect(build(cur)).to_dict()["results"]
        for name, build in REPRESENTATIONS.items()
    }
    expected = reports["object"]
    for name, results in reports.items():
        assert results == expected, name


def _data_address(chunked: pa.ChunkedArray) -> list[int]:
    return [c.buffers()[2].address for c in chunked.chunks]


@pytest.mark.parametrize("dtype", ["str", "string[pyarrow]", pd.ArrowDtype(pa.large_string())])
def test_arrow_backed_pandas_strings_are_not_converted(dtype: object) -> None:
    """Columns.arrow hands out pandas' own arrow chunks: same buffers, no copy."""
    parts = [pd.DataFrame({"s": pd.Series(["x", None, "yy"] * 10, dtype=dtype)}) for _ in range(3)]
    df = pd.concat(parts, ignore_index=True)
    held = df["s"].array.__arrow_array__()
    assert held.num_chunks == 3
    out = Columns(df).arrow("s")
    assert out.num_chunks == 3
    assert _data_address(out) == _data_address(held)


def test_string_view_and_dictionary_of_views_are_strings() -> None:
    values = ["a", None, "b", "a"]
    view = pa.table({"s": pa.array(values, pa.string_view())})
    assert Columns(view).kind("s").kind == "string"
    counts = Profile().update(view).columns["s"]
    assert isinstance(counts, CategoricalColumn)
    assert counts.counts == {"a": 2, "b": 1}
    assert counts.n_null == 1
    arr = np.asarray(Columns(view).arrow("s").to_pylist(), dtype=object)
    assert arr.tolist() == values
