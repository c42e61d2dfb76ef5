"""Every bad input gets a ProdMLError naming what is wrong."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml.errors import ConfigError, NotFittedError, SchemaError
from prodml.features import ExtraColumnWarning, FeaturePipeline, steps


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, np.nan, 4.0],
            "c": ["a", "b", "a", None],
            "t": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
        }
    )


def _pipe(strict: bool = False, unknown: str = "ignore") -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="mean"),
            steps.StandardScale(["x"]),
            steps.Impute(["c"], strategy="most_frequent"),
            steps.OneHot(["c"], handle_unknown=unknown),
            steps.DateParts(["t"]),
        ],
        strict=strict,
    ).fit(_frame())


def _record(**over: Any) -> dict[str, Any]:
    return {"x": 1.5, "c": "a", "t": dt.datetime(2024, 1, 2, 3), **over}


def test_transform_before_fit() -> None:
    pipe = FeaturePipeline([steps.StandardScale(["x"])])
    for call in (
        lambda: pipe.transform(_frame()),
        lambda: pipe.transform_record({"x": 1.0}),
        lambda: pipe.feature_names_out,
        lambda: pipe.input_schema,
        lambda: pipe.fingerprint,
    ):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


def test_missing_column_batch_and_record() -> None:
    pipe = _pipe()
    with pytest.raises(SchemaError, match="column 'x': column is missing") as err:
        pipe.transform(_frame().drop(columns=["x"]))
    assert err.value.column == "x"
    with pytest.raises(SchemaError, match="column 'c': column is missing") as err:
        pipe.transform_record({"x": 1.0, "t": dt.datetime(2024, 1, 1)})
    assert err.value.problems[0].kind == "missing"
    with pytest.raises(SchemaError, match="column 'y': column is missing"):
        FeaturePipeline([steps.StandardScale(["y"])]).fit(_frame())


def test_extra_column_warns_or_fails_when_strict() -> None:
    df = _frame().assign(extra=1)
    with pytest.warns(ExtraColumnWarning, match=r"\['extra'\]"):
        X = _pipe().transform(df)
    assert X.shape == (4, 6)
    with pytest.warns(ExtraColumnWarning, match=r"\['zz'\]"):
        _pipe().transform_record(_record(zz=1))
    with pytest.raises(SchemaError, match="column 'extra': column was not seen at fit"):
        _pipe(strict=True).transform(df)
    with pytest.raises(SchemaError, match="column 'zz': column was not seen at fit") as err:
        _pipe(strict=True).transform_record(_record(zz=1))
    assert err.value.problems[0].kind == "extra"


@pytest.mark.parametrize("bad", ["1.5", "abc"])
def test_string_in_float_column(bad: str) -> None:
    pipe = _pipe()
    df = _frame().astype({"x": object})
    df.loc[1, "x"] = bad
    with pytest.raises(SchemaError, match=f"column 'x': expected float, got str '{bad}'") as err:
        pipe.transform(df)
    assert err.value.column == "x"
    with pytest.raises(SchemaError, match=f"column 'x': expected float, got str '{bad}'"):
        pipe.transform_record(_record(x=bad))
    with pytest.raises(SchemaError, match="column 'x'"):
        FeaturePipeline([steps.StandardScale(["x"])]).fit(df)


def test_null_where_no_step_imputes() -> None:
    pipe = FeaturePipeline([steps.StandardScale(["x"]), steps.DateParts(["t"])])
    with pytest.raises(
        SchemaError, match=r"column 'x': null value nan reached StandardScale.*row 2"
    ):
        pipe.fit(_frame())
    df = _frame().assign(x=[1.0, 2.0, 3.0, 4.0])
    pipe.fit(df)
    with pytest.raises(SchemaError, match="column 'x': null value None reached StandardScale"):
        pipe.transform_record({"x": None, "t": dt.datetime(2024, 1, 1)})
    with pytest.raises(SchemaError, match="column 't': null value NaT reached DateParts") as err:
        pipe.transform_record({"x": 1.0, "t": pd.NaT})
    assert err.value.problems[0].kind == "null"
    bad = df.assign(t=[pd.NaT, *df["t"].iloc[1:]])
    with pytest.raises(SchemaError, match=r"column 't': null value NaT reached DateParts.*row 0"):
        pipe.transform(bad)
    only_impute = FeaturePipeline([steps.Impute(["x"], strategy="constant")]).fit(df)
    assert only_impute.transform_record({"x": None}).tolist() == [0.0]


def test_unknown_category_under_error_policy() -> None:
    pipe = _pipe(unknown="error")
    with pytest.raises(
        SchemaError, match="column 'c': category 'zebra' was not seen at fit"
    ) as err:
        pipe.transform_record(_record(c="zebra"))
    assert err.value.problems[0].kind == "unknown_category"
    df = _frame().assign(c=["a", "zebra", "b", "a"])
    with pytest.raises(SchemaError, match=r"category 'zebra' was not seen at fit.*row 1"):
        pipe.transform(df)
    ordinal = FeaturePipeline([steps.Ordinal(["c"])]).fit(_frame().dropna())
    with pytest.raises(SchemaError, match="category 'q' was not seen"):
        ordinal.transform_record({"c": "q"})


# A 2-D numpy array is a table with columns x0, x1, ... (see test_sklearn.py).
@pytest.mark.parametrize("data", ["table.csv", 42, None, pd.Series([1.0])])
def test_wrong_type_of_whole_input(data: Any) -> None:
    with pytest.raises(SchemaError, match="data must be a pandas DataFrame") as err:
        FeaturePipeline([steps.StandardScale(["x"])]).fit(data)
    assert err.value.problems[0].kind == "input"
    with pytest.raises(SchemaError, match="data must be a pandas DataFrame"):
        _pipe().transform(data)


def test_wrong_type_of_record_and_values() -> None:
    pipe = _pipe()
    with pytest.raises(SchemaError, match="a record must be a dict; got list"):
        pipe.transform_record([1.0, "a"])  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="column 'c': expected string, got int 3"):
        pipe.transform_record(_record(c=3))
    with pytest.raises(SchemaError, match="column 't': expected datetime, got str"):
        pipe.transform_record(_record(t="2024-01-01"))
    with pytest.raises(SchemaError, match="column 'c': expected string"):
        pipe.transform(_frame().assign(c=[1, 2, 3, 4]))
    with pytest.raises(SchemaError, match="column 't'"):
        pipe.transform(_frame().assign(t=["2024-01-01"] * 4))
    with pytest.raises(
        SchemaError, match="StandardScale needs number values; the column holds text"
    ):
        FeaturePipeline([steps.StandardScale(["c"])]).fit(_frame())
    with pytest.raises(SchemaError, match="strategy 'median' needs numbers"):
        FeaturePipeline([steps.Impute(["c"], strategy="median"), steps.OneHot(["c"])]).fit(_frame())


def test_log1p_domain() -> None:
    pipe = FeaturePipeline([steps.Log1p(["x"])]).fit(pd.DataFrame({"x": [0.0, 1.0]}))
    with pytest.raises(SchemaError, match=r"column 'x': Log1p needs values > -1; got -1.0"):
        pipe.transform_record({"x": -1.0})
    with pytest.raises(SchemaError, match=r"got -2.0 \(first at row 1\)"):
        pipe.transform(pd.DataFrame({"x": [0.0, -2.0]}))


def test_all_null_column_cannot_be_fitted() -> None:
    df = pd.DataFrame({"x": [np.nan, np.nan]})
    with pytest.raises(SchemaError, match="column 'x': no non-null values to compute the median"):
        FeaturePipeline([steps.Impute(["x"], strategy="median")]).fit(df)


def test_overflowing_values_are_reported() -> None:
    # The spread itself overflows float64 (1.5e308 - -1.5e308): nothing to scale by.
    df = pd.DataFrame({"x": [1.5e308, -1.5e308, 3.0]})
    with pytest.raises(SchemaError, match="column 'x': the standard deviation is inf"):
        FeaturePipeline([steps.StandardScale(["x"])]).fit(df)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (steps.Impute(["x"], strategy="avg"), "The 'strategy' parameter of Impute must be one of"),
        (steps.OneHot(["c"], max_categories=1), "'max_categories' parameter of OneHot"),
        (steps.OneHot(["c"], min_frequency=1.5), "'min_frequency' parameter of OneHot"),
        (steps.OneHot(["c"], handle_unknown="skip"), "'handle_unknown' parameter of OneHot"),
        (steps.StandardScale([]), "'columns' parameter of StandardScale"),
        (steps.StandardScale(["x", "x"]), "'columns' parameter of StandardScale"),
        (steps.StandardScale("x"), "'columns' parameter"),  # type: ignore[arg-type]
        (steps.MinMaxScale(["x"], feature_range=(1, 0)), "'feature_range' parameter"),
        (steps.RobustScale(["x"], quantile_range=(5, 150)), "'quantile_range' parameter"),
        (steps.Clip(["x"]), "Clip needs a lower or an upper bound"),
        (steps.Clip(["x"], lower=2, upper=1), "lower bound 2 is above the upper bound 1"),
        (steps.Bucketize(["x"], edges=[2, 1]), "'edges' parameter of Bucketize"),
        (steps.Bucketize(["x"], n_bins=1), "'n_bins' parameter of Bucketize"),
        (steps.Hashing(["c"], n_features=0), "'n_features' parameter of Hashing"),
        (steps.DateParts(["t"], parts=["week"]), "'parts' parameter of DateParts"),
        (steps.Ordinal(["c"], handle_unknown="x"), "'handle_unknown' parameter of Ordinal"),
    ],
)
def test_bad_step_parameters(step: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FeaturePipeline([step]).fit(_frame())


def test_bad_pipeline_configurations() -> None:
    with pytest.raises(ConfigError, match="at least one step"):
        FeaturePipeline([]).fit(_frame())
    with pytest.raises(ConfigError, match="'steps' parameter of FeaturePipeline"):
        FeaturePipeline("abc").fit(_frame())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"steps\[0\] of FeaturePipeline must be"):
        FeaturePipeline([object()]).fit(_frame())  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="already encoded by OneHot"):
        FeaturePipeline([steps.OneHot(["c"]), steps.Impute(["c"])]).fit(_frame())
    with pytest.raises(ConfigError, match="column 'c' is still text after its last step"):
        FeaturePipeline([steps.Impute(["c"], strategy="most_frequent")]).fit(_frame())
    with pytest.raises(ConfigError, match="fill_value 5 is not a str"):
        FeaturePipeline(
            [steps.Impute(["c"], strategy="constant", fill_value=5), steps.OneHot(["c"])]
        ).fit(_frame())
    with pytest.raises(ConfigError, match="'strict' parameter"):
        FeaturePipeline([steps.StandardScale(["x"])], strict="yes").fit(_frame())  # type: ignore[arg-type]


def test_chunks_of_wrong_type() -> None:
    good = pa.Table.from_pandas(_frame())
    with pytest.raises(SchemaError, match="chunk 1 of data"):
        FeaturePipeline([steps.Impute(["x"]), steps.StandardScale(["x"])]).fit([good, 3])
    with pytest.raises(SchemaError, match="no data"):
        FeaturePipeline([steps.StandardScale(["x"])]).fit([])


def test_a_step_on_the_wrong_kind_says_what_counts_as_a_number() -> None:
    bools = pd.DataFrame({"b": [True, False, True]})
    with pytest.raises(SchemaError) as err:
        FeaturePipeline([steps.OneHot(["b"])]).fit(bools)
    assert err.value.problems[0].message == (
        "OneHot needs text values; the column holds number "
        "(int, float and bool columns are numbers)"
    )


def test_a_too_long_category_is_quoted_short_with_its_length_once() -> None:
    from prodml.features._base import MAX_TEXT_VALUE

    text = pd.DataFrame({"t": ["x" * (MAX_TEXT_VALUE + 1), "y"]})
    with pytest.raises(SchemaError) as err:
        FeaturePipeline([steps.OneHot(["t"])]).fit(text)
    message = err.value.problems[0].message
    assert message.startswith("category '" + "x" * 40 + "'... has 10,001 characters;")
    assert message.count("characters") == 1
    assert len(message) < 200
