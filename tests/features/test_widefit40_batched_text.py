"""Short text columns are encoded together; a value is searched for personal data once.

``read_texts`` encodes many columns of one view in one arrow call and must give, column
for column, what ``read_text`` gives (codes, dtype and values in order of first
appearance); ``Schema.infer`` remembers what the personal-data search said of each value,
and must find what a fresh search finds. Checked on random columns (hypothesis) and on
W1-like tables against digests taken on main before the change.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml._data import Columns
from prodml._schema_infer import _personal_kind
from prodml.features import FeaturePipeline, steps
from prodml.features._base import Text, read_text
from prodml.features._texts import read_texts
from prodml.schema import Schema

# Digests from main at e678a95: a pipeline fitted on _wide() and its transform output,
# and the inferred schema (with its personal-data findings) of _wide().
BEFORE = {
    "state": "0a1504bd4f22aa1e5385801b3ae0762654059170719c911f6f8021765ef35f70",
    "output": "8c545ad240e7f9ebd67e31127909ea4dfd6dfd47bea1e3d394f9f46a0078f58b",
    "schema": "1fbdec4580b1a3933e25dd11080e3355862e40a2633cadf33f81ca8c536a5ee3",
}

VALUES = ["a", "b", "", "ünï", "x@example.com", "4111 1111 1111 1111", "low", "mid"]


def _column(draw: st.DrawFn, rows: int, pool: list[str]) -> list[str | None]:
    return draw(st.lists(st.sampled_from([*pool, None]), min_size=rows, max_size=rows))


@st.composite
def _tables(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(1, 30))
    n = draw(st.integers(2, 8))
    pool = draw(
        st.one_of(
            st.lists(st.sampled_from(VALUES), min_size=1, max_size=4, unique=True),
            st.lists(st.text(max_size=3), min_size=1, max_size=25, unique=True),
        )
    )
    data: dict[str, object] = {}
    for i in range(n):
        values = _column(draw, rows, pool)
        storage = draw(st.sampled_from(["str", "object", "category", "large"]))
        if storage == "large":
            data[f"c{i}"] = pd.Series(pd.array(values, dtype=pd.ArrowDtype(pa.large_string())))
        elif storage == "object":
            data[f"c{i}"] = pd.Series(values, dtype=object)
        else:
            data[f"c{i}"] = pd.Series(values, dtype=storage)
    return pd.DataFrame(data)


def _same(a: Text, b: Text) -> None:
    assert a.codes.dtype == b.codes.dtype == np.int64
    np.testing.assert_array_equal(a.codes, b.codes)
    assert a.values == b.values  # noqa: PD011 - Text.values, a list of str


@settings(max_examples=100, deadline=None)
@given(df=_tables(), as_table=st.booleans())
def test_batched_text_reads_as_one_column_at_a_time(df: pd.DataFrame, as_table: bool) -> None:
    data = pa.Table.from_pandas(df, preserve_index=False) if as_table else df
    cols = Columns(data)
    got = read_texts(cols, list(df.columns))
    for name in df.columns:
        if name in got:
            _same(got[name], read_text(Columns(data), name))


@settings(max_examples=100, deadline=None)
@given(df=_tables())
def test_a_remembered_search_finds_what_a_fresh_one_finds(df: pd.DataFrame) -> None:
    cols = Columns(df)
    text = [c for c in df.columns if cols.kind(c).kind in ("string", "category")]
    found: dict[str, str | None] = {}
    for name in text:  # the memo carries over from column to column, as in one infer
        assert _personal_kind(cols, name, True, found) == _personal_kind(cols, name, True)


def test_each_value_is_searched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import prodml._schema_infer as infer_module

    searched: list[str] = []
    real = infer_module.find_personal_data

    def counting(text: str) -> str | None:
        searched.append(text)
        return real(text)

    monkeypatch.setattr(infer_module, "find_personal_data", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the e-mail columns are reported as personal data
        Schema.infer(_wide())
    assert sorted(searched) == sorted(["low", "mid", "high", "ünï", "x@example.com"])


def test_the_common_case_is_batched() -> None:
    df = _wide()
    names = [c for c in df.columns if c.startswith("s")]
    assert set(read_texts(Columns(df), names)) == set(names)
    assert read_texts(Columns(pd.concat([df] * 6, ignore_index=True)), names) == {}  # long


def test_many_distinct_values_are_left_to_one_column_at_a_time() -> None:
    values = [f"v{i}" for i in range(40)]
    df = pd.DataFrame({"a": pd.Series(values, dtype="str"), "b": pd.Series(values, dtype="str")})
    assert read_texts(Columns(df), ["a", "b"]) == {}


def _wide(n: int = 60, rows: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.array(["low", "mid", "high", "ünï", "x@example.com"], dtype=object)
    data: dict[str, object] = {}
    for i in range(n):
        s = labels[rng.integers(0, 3 + (i % 3), rows)].copy()
        s[rng.random(rows) < 0.05 * (i % 2)] = None
        data[f"s{i}"] = pd.Series(s, dtype="str" if i % 4 else object)
        data[f"f{i}"] = rng.normal(size=rows)
    return pd.DataFrame(data)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digests() -> dict[str, str]:
    """What the golden test compares (also run on main to take ``BEFORE``)."""
    df = _wide()
    texts = [c for c in df.columns if c.startswith("s")]
    floats = [c for c in df.columns if c.startswith("f")]
    pipe = FeaturePipeline(
        [
            steps.Impute(texts, strategy="most_frequent"),
            steps.OneHot(texts),
            steps.StandardScale(floats),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the e-mail columns are reported as personal data
        pipe.fit(df)
        schema = Schema.infer(df)
    out = np.ascontiguousarray(pipe.transform(df), dtype=np.float64)
    return {
        "state": _digest(pipe.to_json().encode()),
        "output": _digest(out.tobytes()),
        "schema": _digest(repr(schema.to_dict()).encode()),
    }


def test_fit_transform_and_infer_are_as_before() -> None:
    assert digests() == BEFORE


def test_personal_columns_warn_in_column_order() -> None:
    df = _wide()
    with pytest.warns(UserWarning, match="looks like it holds personal data") as caught:
        Schema.infer(df)
    named = [str(w.message).split("'")[1] for w in caught]
    assert named == [f"s{i}" for i in range(2, 60, 3)]
