"""Profile: chunked == one pass, merge == profile of the concatenation, JSON round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.drift import Profile
from prodml.drift._columns import NumericColumn, _representatives, _sketch_keys
from prodml.errors import ConfigError, DriftError, SchemaError

SMALL = {"max_exact": 10_000}


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "i": rng.integers(0, 5, n),
            "c": pd.Series(rng.choice(["a", "b", None], n), dtype=object),
            "t": pd.to_datetime(rng.integers(0, 10**9, n), unit="s"),
        }
    )


rows = st.lists(
    st.tuples(
        st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
        st.sampled_from(["u", "v", "w", None]),
    ),
    min_size=1,
    max_size=40,
)


def to_frame(data: list[tuple[float | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": pd.Series([r[0] for r in data], dtype="float64"),
            "c": pd.Series([r[1] for r in data], dtype=object),
        }
    )


@given(rows, rows)
def test_merge_equals_profile_of_concatenation(
    a: list[tuple[float | None, str | None]], b: list[tuple[float | None, str | None]]
) -> None:
    fa, fb = to_frame(a), to_frame(b)
    both = pd.concat([fa, fb], ignore_index=True)
    params = {"max_exact": 10_000, "relative_accuracy": 0.01}
    pa_, pb = Profile(**params).update(fa), Profile(**params).update(fb)
    merged = pa_.merge(pb)
    assert merged == Profile(**params).update(both)
    assert merged == Profile(**params).update([fa, fb])
    assert Profile.from_json(merged.to_json()) == merged


def test_merge_of_sketched_profiles_equals_one_pass() -> None:
    a, b = frame(8_000, 1), frame(7_000, 2)
    whole = pd.concat([a, b], ignore_index=True)
    one = Profile(**SMALL).update(whole)
    assert not one.columns["x"].exact  # type: ignore[union-attr]
    merged = Profile(**SMALL).update(a).merge(Profile(**SMALL).update(b))
    assert merged == one
    chunked = Profile(**SMALL).update(whole.iloc[i : i + 1000] for i in range(0, 15_000, 1000))
    assert chunked == one
    assert Profile.from_json(one.to_json()) == one


def test_counts_nulls_and_kinds() -> None:
    df = frame(500, 3)
    prof = Profile().update(pa.Table.from_pandas(df, preserve_index=False)).finalize()
    assert prof.kinds == {"x": "numeric", "i": "numeric", "c": "categorical", "t": "datetime"}
    assert prof.n_rows == 500
    assert prof.n_null("x") == int(df["x"].isna().sum())
    assert prof.n_null("c") == int(df["c"].isna().sum())
    cat = prof.columns["c"]
    assert cat is not None
    assert cat.counts == df["c"].value_counts().to_dict()  # type: ignore[union-attr]
    x = prof.columns["x"]
    assert isinstance(x, NumericColumn)
    np.testing.assert_array_equal(x.points, np.sort(df["x"].dropna().to_numpy()))


def test_categorical_dtype_and_arrow_dictionary_counts_agree() -> None:
    s = pd.Series(["a", "b", "a", None, "c"], dtype="category")
    p1 = Profile().update(pd.DataFrame({"c": s}))
    p2 = Profile().update(pa.table({"c": pa.array(["a", "b", "a", None, "c"]).dictionary_encode()}))
    p3 = Profile().update(pd.DataFrame({"c": s.astype(object)}))
    assert p1 == p2 == p3
    assert p1.columns["c"].counts == {"a": 2, "b": 1, "c": 1}  # type: ignore[union-attr]


def test_all_null_column_gets_its_kind_from_a_later_chunk() -> None:
    first = pd.DataFrame({"x": pd.Series([None, None], dtype=object)})
    second = pd.DataFrame({"x": [1.0, 2.0]})
    prof = Profile().update([first, second])
    assert prof.kinds == {"x": "numeric"}
    assert prof.n_null("x") == 2
    assert prof == Profile().update(first).merge(Profile().update(second))
    only_null = Profile().update(first)
    assert only_null.kinds == {"x": "null"}
    assert Profile.from_json(only_null.to_json()) == only_null


def test_sketch_values_within_relative_accuracy() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.lognormal(0, 3, 5000), -rng.lognormal(0, 3, 5000), [0.0]])
    for acc in (1e-3, 1e-2):
        log_gamma = float(np.log((1 + acc) / (1 - acc)))
        rep = _representatives(_sketch_keys(x, log_gamma), log_gamma)
        err = np.abs(rep - x) / np.maximum(np.abs(x), 1e-300)
        assert err.max() <= acc * (1 + 1e-9)
        assert rep[-1] == 0.0
        # Order preserving: sorted values have sorted keys.
        keys = _sketch_keys(np.sort(x), log_gamma)
        assert (np.diff(keys) >= 0).all()


def test_inf_is_a_drift_error_naming_the_column() -> None:
    df = pd.DataFrame({"x": [1.0, np.inf, 2.0]})
    with pytest.raises(DriftError, match=r"'x' holds 1 infinite") as info:
        Profile().update(df)
    assert info.value.column == "x"


def test_type_change_between_chunks_is_a_schema_error() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0]})
    b = pd.DataFrame({"x": ["a", "b"]})
    with pytest.raises(SchemaError, match="numeric in earlier data, now categorical") as info:
        Profile().update([a, b])
    assert info.value.column == "x"
    with pytest.raises(SchemaError, match="numeric in earlier data"):
        Profile().update(a).merge(Profile().update(b))


def test_changed_columns_between_chunks_is_a_schema_error() -> None:
    a = pd.DataFrame({"x": [1.0], "y": [2.0]})
    b = pd.DataFrame({"x": [1.0], "z": [2.0]})
    with pytest.raises(SchemaError) as info:
        Profile().update([a, b])
    assert info.value.columns == ["y", "z"]


def test_mixed_and_unsupported_columns() -> None:
    with pytest.raises(SchemaError, match="'x'"):
        Profile().update(pd.DataFrame({"x": pd.Series([1.0, "a"], dtype=object)}))
    with pytest.raises(SchemaError, match="'b'"):
        Profile().update(pd.DataFrame({"b": [b"x", b"y"]}))
    with pytest.raises(SchemaError, match="must be a pandas DataFrame"):
        Profile().update(42)


def test_bad_params_and_states() -> None:
    with pytest.raises(ConfigError, match="'max_exact' parameter of Profile"):
        Profile(max_exact=10).update(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(ConfigError, match="'relative_accuracy'"):
        Profile(relative_accuracy=0.5).update(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(DriftError, match="format_version"):
        Profile.from_dict({"format_version": 99})
    state = Profile().update(pd.DataFrame({"x": [1.0]})).to_dict()
    del state["n_rows"]
    with pytest.raises(DriftError, match="Profile state field 'n_rows' must be present"):
        Profile.from_dict(state)
    good = Profile().update(pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})).to_dict()
    bad = json.loads(json.dumps(good))
    bad["columns"]["c"]["counts"][0][1] = 2  # counts no longer add up to n_rows
    with pytest.raises(DriftError, match=r"'columns.c.counts' must be counts adding up"):
        Profile.from_dict(bad)
    bad = json.loads(json.dumps(good))
    bad["columns"]["x"]["n_null"] = -1
    with pytest.raises(DriftError, match=r"'columns.x.n_null' must be an int in \[0, 2\]"):
        Profile.from_dict(bad)
    bad["columns"]["x"]["n_null"] = 0
    bad["columns"]["x"]["points"] = "not base64!"
    with pytest.raises(DriftError, match=r"'columns.x.points' must be base64"):
        Profile.from_dict(bad)
    with pytest.raises(DriftError, match="different max_exact"):
        Profile(max_exact=20_000).merge(Profile())


def test_json_is_plain_and_versioned() -> None:
    prof = Profile().update(frame(300, 5))
    state = json.loads(prof.to_json())
    # 3: the integer column "i" is kept exact as int64 ("int_points"); a state without
    # one stays at 2, which readers from before exact integers still read.
    assert state["format_version"] == 3
    assert set(state["columns"]["i"]) == {"kind", "n_null", "int_points"}
    floats = json.loads(Profile().update(frame(300, 5).drop(columns="i")).to_json())
    assert floats["format_version"] == 2
    assert set(state["columns"]) == {"x", "i", "c", "t"}
    assert Profile.from_json(prof.to_json()) == prof
    assert prof != Profile().update(frame(300, 6))
    assert "Profile(n_rows=300" in repr(prof)


def test_merge_with_empty_profile_is_identity() -> None:
    prof = Profile().update(frame(100, 1))
    assert prof.merge(Profile()) == prof
    assert Profile().merge(prof) == prof


def test_parquet_file_bool_and_nullable_int_columns(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    df = pd.DataFrame(
        {
            "flag": [True, False, True, None],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )
    df.to_parquet(tmp_path / "t.parquet", index=False)
    from_file = Profile().update(pq.ParquetFile(tmp_path / "t.parquet"))
    from_frame = Profile().update(df)
    assert from_file == from_frame
    assert from_frame.kinds == {"flag": "categorical", "n": "numeric"}
    flag = from_frame.columns["flag"]
    assert flag is not None
    assert flag.counts == {True: 2, False: 1}  # type: ignore[union-attr]
    assert from_frame.n_null("n") == 1
