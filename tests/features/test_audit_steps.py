"""Audit of the steps beyond the scalers: scikit-learn cross-checks and batch/record parity.

The batch path and the record path must give the same bits for every step, whatever the
storage of the frame (object, pandas 3 ``str``, ``category`` with unused categories,
``string[pyarrow]``, a pyarrow Table) and whatever the form of the record (values read
from the frame, or the record a JSON body gives the serving app: numbers as floats,
datetimes as ISO 8601 strings converted to the column's zone).
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, OrdinalEncoder

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps

ZONE = "America/New_York"
E_NFC = "é"
E_NFD = unicodedata.normalize("NFD", E_NFC)
TEXTS = ["a", "b", "", " ", E_NFC, E_NFD, "NaN", "None", "日本", "a\x00"]

# Around both 2024 DST transitions of New York (a gap at 02:00 in March, a repeated hour
# at 01:00 in November), and instants before 1970.
_INSTANTS = (
    pd.date_range("2024-03-10 05:30", "2024-03-10 08:30", freq="15min", tz="UTC")
    .append(pd.date_range("2024-11-03 04:30", "2024-11-03 07:30", freq="15min", tz="UTC"))
    .append(pd.DatetimeIndex(["1969-12-31 23:59:59", "1900-02-28 12:00:01"], tz="UTC"))
)
INSTANTS = list(_INSTANTS.tz_convert(ZONE))


# -- strategies -------------------------------------------------------------------------


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    """Numbers with ties (so constant columns and quantile ties happen), text, datetimes."""
    n = draw(st.integers(1, 12))
    small = st.sampled_from([-2.0, 0.0, 0.0, 1.0, 3.5, 7.0])
    x = draw(st.lists(st.one_of(small, st.none()), min_size=n, max_size=n))
    x = x if any(v is not None for v in x) else [0.0, *x[1:]]
    k = draw(st.lists(st.integers(-3, 40), min_size=n, max_size=n))
    b = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    s = draw(st.lists(st.one_of(st.sampled_from(TEXTS), st.none()), min_size=n, max_size=n))
    t = draw(st.lists(st.sampled_from(INSTANTS), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "x": pd.Series(x, dtype="float64"),
            "k": pd.Series(k, dtype="Int64"),
            "b": pd.Series(b, dtype="bool"),
            "s": pd.Series(s, dtype=object),
            "t": pd.Series(pd.DatetimeIndex(t)),
        }
    )


def storages(df: pd.DataFrame) -> dict[str, Any]:
    """The same frame in the storages the pipeline reads."""
    used = sorted({v for v in df["s"] if v is not None})
    cats = [*used, "never-used"]
    out: dict[str, Any] = {
        "object": df,
        "str": df.assign(s=df["s"].astype("str")),
        "category": df.assign(s=pd.Categorical(df["s"], categories=cats)),
        "string[pyarrow]": df.assign(s=df["s"].astype("string[pyarrow]")),
    }
    out["arrow"] = pa.Table.from_pandas(df, preserve_index=False)
    return out


@st.composite
def number_chain(draw: Any, col: str) -> list[Any]:
    chain: list[Any] = [steps.Impute([col], strategy=draw(st.sampled_from(["mean", "median"])))]
    middle = draw(st.sampled_from(["none", "clip_log", "standard"]))
    if middle == "clip_log":
        chain += [steps.Clip([col], lower=0.0), steps.Log1p([col])]
    elif middle == "standard":
        chain.append(steps.StandardScale([col]))
    end = draw(st.sampled_from(["none", "quantile", "uniform", "edges"]))
    encode = draw(st.sampled_from(["ordinal", "onehot"]))
    if end == "edges":
        chain.append(steps.Bucketize([col], edges=[0.0, 1.0, 5.0], encode=encode))
    elif end != "none":
        n_bins = draw(st.integers(2, 6))
        chain.append(steps.Bucketize([col], n_bins=n_bins, strategy=end, encode=encode))
    return chain


@st.composite
def text_encoder(draw: Any, col: str) -> Any:
    return draw(
        st.sampled_from(
            [
                steps.OneHot([col]),
                steps.OneHot([col], max_categories=3, handle_unknown="infrequent"),
                steps.OneHot([col], min_frequency=2),
                steps.Ordinal([col], handle_unknown="use_value", unknown_value=-7.0),
                steps.Hashing([col], n_features=5),
            ]
        )
    )


@st.composite
def pipelines(draw: Any) -> FeaturePipeline:
    chains = [
        draw(number_chain("x")),
        draw(number_chain("k")),
        [steps.Impute(["b"], strategy="most_frequent")],
        [
            steps.Impute(["s"], strategy=draw(st.sampled_from(["most_frequent", "constant"]))),
            draw(text_encoder("s")),
        ],
        [steps.DateParts(["t"], parts=["year", "dayofyear", "hour", "minute", "is_weekend"])],
    ]
    order = draw(st.permutations(range(len(chains))))
    return FeaturePipeline([s for j in order for s in chains[j]])


# -- records ----------------------------------------------------------------------------


def _py(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def frame_records(data: Any) -> list[dict[str, Any]]:
    """Row i of a frame or table as the dict a caller would pass."""
    if isinstance(data, pa.Table):
        return data.to_pylist()
    cols = {c: [_py(v) for v in data[c].astype(object)] for c in data.columns}
    return [{c: cols[c][i] for c in cols} for i in range(len(data))]


def json_record(rec: dict[str, Any]) -> dict[str, Any]:
    """The record a JSON body gives: ints written as floats, datetimes as ISO strings,
    turned back into timestamps in the column's zone as the serving app does."""

    def enc(v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return v.isoformat()
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        return v

    back: dict[str, Any] = json.loads(json.dumps({c: enc(v) for c, v in rec.items()}))
    back["t"] = pd.Timestamp(dt.datetime.fromisoformat(back["t"])).tz_convert(ZONE)
    return back


def _fit_or_skip(pipe: FeaturePipeline, df: pd.DataFrame) -> FeaturePipeline | None:
    try:
        return pipe.fit(df)
    except SchemaError as err:
        # An all-null Int64 column has nothing to fit a mean on: tested in test_errors.
        if "no non-null values" in str(err):
            return None
        raise


# -- batch == record --------------------------------------------------------------------


@given(pipelines(), frames())
def test_record_equals_batch_row_in_every_storage(pipe: FeaturePipeline, df: pd.DataFrame) -> None:
    if _fit_or_skip(pipe, df) is None:
        return
    want = pipe.transform(df)
    for name, data in storages(df).items():
        X = pipe.transform(data)
        assert X.tobytes() == want.tobytes(), name
        for i, rec in enumerate(frame_records(data)):
            x = pipe.transform_record(rec)
            assert x.tobytes() == np.ascontiguousarray(X[i]).tobytes(), (name, i, rec)
            j = pipe.transform_record(json_record(rec))
            assert j.tobytes() == x.tobytes(), (name, i, "json")


@given(pipelines(), frames())
def test_fit_on_any_storage_gives_the_same_state(pipe: FeaturePipeline, df: pd.DataFrame) -> None:
    if _fit_or_skip(pipe, df) is None:
        return
    fitted = pipe.to_dict()["steps"]
    for name, data in storages(df).items():
        other = FeaturePipeline.from_dict(pipe.to_dict()).fit(data)
        assert other.to_dict()["steps"] == fitted, name


@given(pipelines(), frames())
def test_saved_pipeline_gives_the_same_bits(pipe: FeaturePipeline, df: pd.DataFrame) -> None:
    if _fit_or_skip(pipe, df) is None:
        return
    back = FeaturePipeline.from_json(pipe.to_json())
    assert back.fingerprint == pipe.fingerprint
    assert back.transform(df).tobytes() == pipe.transform(df).tobytes()
    for rec in frame_records(df):
        assert back.transform_record(rec).tobytes() == pipe.transform_record(rec).tobytes()


# -- Bucketize against KBinsDiscretizer --------------------------------------------------


@given(
    st.lists(st.integers(-20, 20), min_size=1, max_size=40),
    st.integers(2, 8),
    st.sampled_from(["quantile", "uniform"]),
)
def test_bucketize_matches_kbins_on_ties_and_constants(
    values: list[int], n_bins: int, strategy: str
) -> None:
    # Integer data: ties at the minimum and maximum, constant columns, one row. Values sit
    # at least 1/n_bins/40 from any cut they are not on, far beyond scikit-learn's nudge
    # (1e-5 relative) before binning, so the outputs must be equal.
    df = pd.DataFrame({"x": np.asarray(values, dtype=np.float64)})
    pipe = FeaturePipeline([steps.Bucketize(["x"], n_bins=n_bins, strategy=strategy)]).fit(df)
    kwargs = {"quantile_method": "linear"} if strategy == "quantile" else {}
    ref = KBinsDiscretizer(n_bins=n_bins, strategy=strategy, encode="ordinal", **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "bins whose width are too small"
        ref.fit(df)
    inner = ref.bin_edges_[0][1:-1]
    assert pipe.steps[0].edges_["x"] == pytest.approx(inner.tolist(), rel=1e-12, abs=1e-12)
    np.testing.assert_array_equal(pipe.transform(df)[:, 0], ref.transform(df)[:, 0])
    # The minimum is in the first bin and the maximum in the last: no bin lies below or
    # above every fitted value.
    bins = pipe.transform(df)[:, 0]
    assert bins[np.argmin(values)] == 0.0
    assert bins[np.argmax(values)] == float(len(inner))


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
@pytest.mark.parametrize("rows", [1, 5])
def test_bucketize_constant_column_is_one_bin(strategy: str, rows: int) -> None:
    df = pd.DataFrame({"x": [3.0] * rows})
    pipe = FeaturePipeline([steps.Bucketize(["x"], strategy=strategy, encode="onehot")]).fit(df)
    assert pipe.steps[0].edges_ == {"x": []}
    assert pipe.feature_names_out == ["x_bin0"]
    assert pipe.transform(df).tolist() == [[1.0]] * rows
    back = FeaturePipeline.from_json(pipe.to_json())
    for v in (-1e300, 3.0, 1e300):
        assert back.transform_record({"x": v}).tolist() == [1.0]


def test_bucketize_mass_at_the_minimum_starts_at_bin_zero() -> None:
    # Zero-inflated counts: the first quartile is the minimum. Before, a cut at 0.0 left
    # bin 0 (values below 0) empty and put every zero in bin 1.
    df = pd.DataFrame({"x": [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0]})
    pipe = FeaturePipeline([steps.Bucketize(["x"], n_bins=4)]).fit(df)
    assert pipe.steps[0].edges_["x"] == [1.5, 3.75]
    assert pipe.transform(df)[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 1, 2, 2, 2]
    assert pipe.transform_record({"x": 0.0}).tolist() == [0.0]


# -- OneHot and Ordinal against scikit-learn --------------------------------------------


@given(
    st.lists(st.sampled_from(TEXTS), min_size=1, max_size=40),
    st.sampled_from([None, 2, 3, 5]),
    st.sampled_from([None, 2, 0.2]),
)
def test_one_hot_matches_sklearn_on_training_rows(
    values: list[str], max_categories: int | None, min_frequency: float | None
) -> None:
    df = pd.DataFrame({"s": pd.Series(values, dtype="str")})
    pipe = FeaturePipeline(
        [steps.OneHot(["s"], max_categories=max_categories, min_frequency=min_frequency)]
    ).fit(df)
    ref = OneHotEncoder(
        max_categories=max_categories,
        min_frequency=min_frequency,
        handle_unknown="infrequent_if_exist",
        sparse_output=False,
    ).fit(df.astype(object))
    step = pipe.steps[0]
    if not step.infrequent_["s"] and len(step.categories_["s"]) == max_categories:
        # Every category fits in max_categories: prodml keeps them all, scikit-learn makes
        # the rarest infrequent (documented; see the test below).
        return
    np.testing.assert_array_equal(pipe.transform(df), ref.transform(df.astype(object)))
    names = [n.replace("infrequent_sklearn", "<infrequent>") for n in ref.get_feature_names_out()]
    assert pipe.feature_names_out == [n.replace("s_", "s=", 1) for n in names]


def test_one_hot_keeps_every_category_when_they_fit_in_max_categories() -> None:
    # Documented difference: scikit-learn always keeps a place for the infrequent column,
    # so with as many categories as max_categories it makes the last one infrequent.
    df = pd.DataFrame({"s": ["a", "a", "b", "b", "c"]})
    pipe = FeaturePipeline([steps.OneHot(["s"], max_categories=3)]).fit(df)
    assert pipe.feature_names_out == ["s=a", "s=b", "s=c"]
    ref = OneHotEncoder(max_categories=3, sparse_output=False).fit(df)
    assert list(ref.get_feature_names_out()) == ["s_a", "s_b", "s_infrequent_sklearn"]
    np.testing.assert_array_equal(pipe.transform(df), ref.transform(df))


@given(
    st.lists(st.sampled_from(TEXTS), min_size=1, max_size=30),
    st.lists(st.sampled_from([*TEXTS, "unseen", "é "]), min_size=1, max_size=10),
)
def test_ordinal_matches_ordinal_encoder_with_unknown_value(
    fit_values: list[str], new_values: list[str]
) -> None:
    fit = pd.DataFrame({"s": pd.Series(fit_values, dtype="str")})
    new = pd.DataFrame({"s": pd.Series(new_values, dtype="str")})
    step = steps.Ordinal(["s"], handle_unknown="use_value", unknown_value=-1.0)
    pipe = FeaturePipeline([step]).fit(fit)
    ref = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    ref.fit(fit.astype(object))
    want = ref.transform(new.astype(object))[:, 0]
    np.testing.assert_array_equal(pipe.transform(new)[:, 0], want)
    for v, w in zip(new_values, want, strict=True):
        assert pipe.transform_record({"s": v}).tolist() == [w]


# -- unknown categories at serving time, after a save -----------------------------------


FIT_TEXT = pd.DataFrame({"s": ["a", "a", "b", "c", "c", "c"]})


@pytest.mark.parametrize(
    ("step", "want"),
    [
        (steps.OneHot(["s"]), [0.0, 0.0, 0.0]),
        (steps.OneHot(["s"], handle_unknown="infrequent"), [0.0, 0.0, 0.0, 1.0]),
        (steps.OneHot(["s"], min_frequency=2), [0.0, 0.0, 0.0]),
        (steps.Ordinal(["s"], handle_unknown="use_value", unknown_value=9.5), [9.5]),
        (steps.Hashing(["s"], n_features=3), None),
    ],
)
def test_unknown_category_after_save_is_as_documented(step: Any, want: list[float] | None) -> None:
    pipe = FeaturePipeline([step]).fit(FIT_TEXT)
    back = FeaturePipeline.from_json(pipe.to_json())
    for value in ("zzz", E_NFD + "x", ""):
        x = back.transform_record({"s": value})
        X = back.transform(pd.DataFrame({"s": pd.Series([value], dtype="str")}))
        assert x.tobytes() == X[0].tobytes()
        if want is not None:
            assert x.tolist() == want
        else:
            assert x.sum() == 1.0


@pytest.mark.parametrize(
    "step", [steps.OneHot(["s"], handle_unknown="error"), steps.Ordinal(["s"])]
)
def test_unknown_category_error_after_save_names_column(step: Any) -> None:
    back = FeaturePipeline.from_json(FeaturePipeline([step]).fit(FIT_TEXT).to_json())
    with pytest.raises(SchemaError, match="'s'") as rec_err:
        back.transform_record({"s": E_NFD})
    assert rec_err.value.problems[0].kind == "unknown_category"
    with pytest.raises(SchemaError) as batch_err:
        back.transform(pd.DataFrame({"s": pd.Series(["a", E_NFD], dtype="str")}))
    assert batch_err.value.problems[0].row == 1
