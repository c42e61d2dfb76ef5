"""Unusual but legitimate frames through the public entry points.

Each case asserts the right answer, cross-checked against a plain spelling of the same
data (float64 with NaN, object strings), against scikit-learn or exact arithmetic, or a
``ProdMLError`` whose message names the column and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from prodml.drift import DriftDetector
from prodml.errors import DriftError, ProdMLError, SchemaError
from prodml.fairness import GroupMetrics
from prodml.features import FeaturePipeline, steps
from prodml.schema import Column, Schema

# ------------------------------------------------------------------ spellings

NUMBERS = [1.0, None, 3.0, 4.0, 10.0, 2.5]


def _numeric_spellings() -> dict[str, Any]:
    ints = [1, None, 3, 4, 10, 2]
    return {
        "float64 NaN": pd.DataFrame({"x": np.array(NUMBERS, dtype=float)}),
        "Float64 pd.NA": pd.DataFrame({"x": pd.array(NUMBERS, dtype="Float64")}),
        "object None": pd.DataFrame({"x": pd.Series(NUMBERS, dtype=object)}),
        "object pd.NA": pd.DataFrame(
            {"x": pd.Series([pd.NA if v is None else v for v in NUMBERS], dtype=object)}
        ),
        "float64[pyarrow]": pd.DataFrame({"x": pd.array(NUMBERS, dtype="float64[pyarrow]")}),
        "arrow table": pa.table({"x": pa.array(NUMBERS, pa.float64())}),
        # Int64 holds the integers of the same column; compared to their float64 twin.
        "Int64 pd.NA": pd.DataFrame({"x": pd.array(ints, dtype="Int64")}),
        "int64[pyarrow]": pd.DataFrame({"x": pd.array(ints, dtype="int64[pyarrow]")}),
    }


def _float_twin(name: str) -> pd.DataFrame:
    values = [1, None, 3, 4, 10, 2] if name.startswith(("Int64", "int64")) else NUMBERS
    return pd.DataFrame({"x": np.array(values, dtype=float)})


NUMERIC = _numeric_spellings()

TEXT = ["free", "pro", None, "free", "team", "free", "pro", "free"]


def _text_spellings() -> dict[str, Any]:
    return {
        "object": pd.DataFrame({"c": pd.Series(TEXT, dtype=object)}),
        "string": pd.DataFrame({"c": pd.array(TEXT, dtype="string")}),
        "string[pyarrow]": pd.DataFrame({"c": pd.array(TEXT, dtype="string[pyarrow]")}),
        "str (pandas 3 default)": pd.DataFrame({"c": pd.Series(TEXT, dtype="str")}),
        "ArrowDtype string": pd.DataFrame({"c": pd.array(TEXT, dtype=pd.ArrowDtype(pa.string()))}),
        "category, unused categories": pd.DataFrame(
            {"c": pd.Categorical(TEXT, categories=["team", "free", "pro", "gold", "zzz"])}
        ),
        "arrow dictionary": pa.table({"c": pa.array(TEXT).dictionary_encode()}),
        "object NaN": pd.DataFrame({"c": pd.Series([np.nan if v is None else v for v in TEXT])}),
        "object pd.NA": pd.DataFrame(
            {"c": pd.Series([pd.NA if v is None else v for v in TEXT], dtype=object)}
        ),
    }


TEXTS = _text_spellings()


def _scale_pipe() -> FeaturePipeline:
    return FeaturePipeline([steps.Impute(["x"], strategy="median"), steps.StandardScale(["x"])])


def _onehot_pipe() -> FeaturePipeline:
    return FeaturePipeline([steps.Impute(["c"], strategy="most_frequent"), steps.OneHot(["c"])])


def _drift_row(reference: Any, current: Any) -> dict[str, Any]:
    row = DriftDetector().fit(reference).detect(current).to_frame().iloc[0]
    return {k: row[k] for k in ("method", "statistic", "p_value", "n_current", "n_reference")}


# ------------------------------------------------------------- numeric dtypes


@pytest.mark.parametrize("name", list(NUMERIC))
def test_numeric_spellings_infer_and_validate(name: str) -> None:
    data = NUMERIC[name]
    schema = Schema.infer(data)
    assert schema["x"].dtype.value in ("float", "int")
    assert schema["x"].nullable
    Schema([Column("x", "float")]).validate(data)  # an int column satisfies float
    with pytest.raises(SchemaError, match="column 'x': 1 null value"):
        Schema([Column("x", "float", nullable=False)]).validate(data)


@pytest.mark.parametrize("name", list(NUMERIC))
def test_numeric_spellings_give_the_float64_answer_in_features(name: str) -> None:
    data, twin = NUMERIC[name], _float_twin(name)
    expected = _scale_pipe().fit(twin).transform(twin)
    np.testing.assert_array_equal(_scale_pipe().fit(data).transform(data), expected)
    # Fit on one spelling, transform another (the dtype of a column changes in serving).
    np.testing.assert_array_equal(_scale_pipe().fit(twin).transform(data), expected)
    np.testing.assert_array_equal(_scale_pipe().fit(data).transform(twin), expected)
    ref = StandardScaler().fit_transform(twin.fillna(twin["x"].median()).to_numpy())
    np.testing.assert_allclose(expected, ref, rtol=1e-12)


@pytest.mark.parametrize("name", list(NUMERIC))
def test_numeric_spellings_give_the_float64_answer_in_drift(name: str) -> None:
    data, twin = NUMERIC[name], _float_twin(name)
    shifted = pd.DataFrame({"x": np.linspace(0.0, 20.0, 50)})
    assert _drift_row(data, shifted) == _drift_row(twin, shifted)
    assert _drift_row(shifted, data) == _drift_row(shifted, twin)


def test_record_with_pd_na_equals_none_and_nan() -> None:
    pipe = _scale_pipe().fit(NUMERIC["Int64 pd.NA"])
    outs = [pipe.transform_record({"x": v})[0] for v in (None, np.nan, pd.NA)]
    assert outs[0] == outs[1] == outs[2] == pipe.transform(_float_twin("Int64"))[1, 0]


# -------------------------------------------------------------- text dtypes


@pytest.mark.parametrize("name", list(TEXTS))
def test_text_spellings_give_the_object_answer(name: str) -> None:
    data, plain = TEXTS[name], TEXTS["object"]
    fitted = _onehot_pipe().fit(plain)
    pipe = _onehot_pipe().fit(data)
    # Unused categories of a categorical are not features: only values seen at fit are.
    assert pipe.feature_names_out == fitted.feature_names_out == ["c=free", "c=pro", "c=team"]
    np.testing.assert_array_equal(pipe.transform(data), fitted.transform(plain))
    np.testing.assert_array_equal(fitted.transform(data), fitted.transform(plain))
    np.testing.assert_array_equal(pipe.transform(plain), fitted.transform(plain))
    assert Schema.infer(data)["c"].dtype.value in ("string", "category")
    Schema.infer(plain).validate(data)  # string and category accept each other
    other = pd.DataFrame({"c": ["pro"] * 30 + ["team"] * 30})
    assert _drift_row(data, other) == _drift_row(plain, other)
    assert _drift_row(other, data) == _drift_row(other, plain)


def test_categories_differing_between_reference_and_current() -> None:
    values = ["a"] * 40 + ["b"] * 60
    ref = pd.DataFrame({"c": pd.Categorical(values, categories=["a", "b"])})
    cur = pd.DataFrame({"c": pd.Categorical(values, categories=["q", "b", "a"])})
    row = _drift_row(ref, cur)
    assert row["statistic"] == 0.0
    assert row["p_value"] == 1.0
    assert row == _drift_row(ref.astype(str), cur.astype(str))


def test_unicode_values_are_kept_as_written() -> None:
    # Combining accent (NFD), precomposed (NFC), right-to-left and emoji: distinct values.
    values = ["e\u0301", "\u00e9", "\u05e9\u05dc\u05d5\u05dd", "\U0001f600", "\u00e9"]
    frame = pd.DataFrame({"c": values})
    pipe = FeaturePipeline([steps.OneHot(["c"])]).fit(frame)
    assert sorted(pipe.feature_names_out) == sorted(f"c={v}" for v in set(values))
    for i, v in enumerate(values):
        np.testing.assert_array_equal(pipe.transform_record({"c": v}), pipe.transform(frame)[i])


def test_very_long_strings() -> None:
    long_a, long_b = "a" * 1_000_000, "a" * 999_999 + "b"
    frame = pd.DataFrame({"c": [long_a, long_b, long_a]})
    # A fitted state keeps no megabyte category: refused at fit, naming the column.
    with pytest.raises(SchemaError, match=r"column 'c': category .* has 1,000,000 characters"):
        FeaturePipeline([steps.OneHot(["c"])]).fit(frame)
    pipe = FeaturePipeline([steps.OneHot(["c"])]).fit(pd.DataFrame({"c": ["a", "b"]}))
    np.testing.assert_array_equal(pipe.transform(frame), np.zeros((3, 2)))  # unseen values
    assert _drift_row(frame, frame)["statistic"] == 0.0
    with pytest.raises(SchemaError) as err:
        Schema([Column("c", "float")]).validate(frame)
    assert len(str(err.value)) < 300  # the value is shortened in the message


# ----------------------------------------------------------- edge values


def test_all_missing_column() -> None:
    empty = pd.DataFrame({"x": pd.array([None] * 4, dtype="Float64")})
    with pytest.raises(SchemaError, match="column 'x': no non-null values to compute the median"):
        _scale_pipe().fit(empty)
    base = _float_twin("float")
    out = _scale_pipe().fit(base).transform(empty)  # imputed: the scaled median
    assert (out == _scale_pipe().fit(base).transform_record({"x": None})).all()
    row = DriftDetector().fit(base).detect(empty).to_frame().iloc[0]
    assert not row["testable"]
    assert row["note"].startswith("every current value is null")
    assert row["drifted"]  # by its null share, as a column 99 % null would be


def test_constant_column_scales_to_zero_like_scikit_learn() -> None:
    frame = pd.DataFrame({"x": [7.0] * 5})
    out = FeaturePipeline([steps.StandardScale(["x"])]).fit(frame).transform(frame)
    np.testing.assert_array_equal(out, StandardScaler().fit_transform(frame.to_numpy()))


def test_single_row_and_zero_rows() -> None:
    one = pd.DataFrame({"x": [2.0], "c": ["a"]})
    pipe = FeaturePipeline([steps.StandardScale(["x"]), steps.OneHot(["c"])]).fit(one)
    np.testing.assert_array_equal(pipe.transform(one), [[0.0, 1.0]])
    assert pipe.transform(one.iloc[:0]).shape == (0, 2)
    with pytest.raises(DriftError, match="the current data has no rows"):
        DriftDetector().fit(one).detect(one.iloc[:0])
    with pytest.raises(DriftError, match="the reference data has no rows"):
        DriftDetector().fit(one.iloc[:0])


def test_infinities_are_refused_naming_the_column() -> None:
    frame = pd.DataFrame({"x": [1.0, np.inf, -np.inf]})
    with pytest.raises(SchemaError, match=r"column 'x': infinite value inf.*row 1"):
        Schema([Column("x", "float")]).validate(frame)
    with pytest.raises(SchemaError, match=r"column 'x': infinite value inf.*row 1"):
        FeaturePipeline([steps.StandardScale(["x"])]).fit(frame)
    with pytest.raises(DriftError, match="column 'x' holds 2 infinite value"):
        DriftDetector().fit(frame)


def _exact_standardized(values: list[float]) -> list[float]:
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    var = sum((v - mean) ** 2 for v in exact) / len(exact)
    k = (var.numerator.bit_length() - var.denominator.bit_length()) // 2
    std = Fraction(math.ldexp(math.sqrt(float(var / Fraction(4) ** k)), k))
    return [float((v - mean) / std) for v in exact]


@pytest.mark.parametrize(
    "values",
    [
        [1e-300, 2e-300, 3e-300, 0.0],  # the variance 1.25e-600 underflows float64
        [1e300, -1e300, 1e300, 1e299],  # the variance 9e599 overflows it
    ],
    ids=["tiny", "huge"],
)
def test_standard_scale_at_the_ends_of_float64(values: list[float]) -> None:
    frame = pd.DataFrame({"x": values})
    pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(frame)
    np.testing.assert_allclose(pipe.transform(frame)[:, 0], _exact_standardized(values), rtol=1e-9)
    for i, v in enumerate(values):
        assert pipe.transform_record({"x": v})[0] == pipe.transform(frame)[i, 0]


def test_integers_beyond_float53() -> None:
    big = 2**60
    frame = pd.DataFrame({"x": np.array([big, big + 1, 3, 4], dtype=np.int64)})
    schema = Schema.infer(frame)
    assert schema["x"].dtype.value == "int"
    schema.validate(frame)
    out = FeaturePipeline([steps.StandardScale(["x"])]).fit(frame).transform(frame)
    # Features are float64: the values are rounded to it, as scikit-learn does.
    np.testing.assert_allclose(out, StandardScaler().fit_transform(frame.to_numpy(float)))
    # Group labels are kept exactly: 2**60 and 2**60 + 1 are two groups.
    gm = GroupMetrics(["g"], metrics=["selection_rate"], min_count=1)
    gm.update([1, 0, 1, 1], [1, 0, 0, 1], pd.DataFrame({"g": [big, big + 1, big, big + 1]}))
    assert sorted(gm.report().by_group.index) == [big, big + 1]


@pytest.mark.parametrize(
    "data",
    [
        pd.DataFrame({"id": np.array([3, 2**60 + 1], dtype=np.int64)}),
        pd.DataFrame({"id": pd.array([None, 2**60 + 1], dtype="Int64")}),
        pa.table({"id": pa.array([None, 2**60 + 1], pa.int64())}),
        {"id": 2**60 + 1},
    ],
    ids=["int64", "Int64", "arrow", "record"],
)
def test_integer_bounds_beyond_float53_are_exact(data: Any) -> None:
    # As float64, 2**60 + 1 equals 2**60 and passed max=2**60; the message showed 2**60.
    schema = Schema([Column("id", "int", max=2**60)])
    message = r"above the maximum 1152921504606846976, e\.g\. 1152921504606846977"
    with pytest.raises(SchemaError, match=message):
        schema.validate(data)
    Schema([Column("id", "int", max=2**61)]).validate(data)  # bounds are float64 values
    with pytest.raises(SchemaError, match=r"e\.g\. 18446744073709551615"):
        schema.validate(pd.DataFrame({"id": np.array([2**64 - 1], dtype=np.uint64)}))


# ------------------------------------------------------------ column names


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([0, 1], r"column names must be strings; got 0 \(int\)"),
        ([("a", "b"), ("a", "c")], r"column names must be strings; got \('a', 'b'\) \(tuple\)"),
        (pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]), "column names must be strings"),
        (["a", "a"], "column 'a': column name appears twice"),
    ],
    ids=["ints", "tuples", "multiindex", "duplicated"],
)
def test_unusable_column_names_are_refused(columns: Any, message: str) -> None:
    frame = pd.DataFrame([[1.0, 2.0]], columns=columns)
    for call in (
        lambda: Schema.infer(frame),
        lambda: FeaturePipeline([steps.StandardScale(["a"])]).fit(frame),
        lambda: DriftDetector().fit(frame),
    ):
        with pytest.raises(SchemaError, match=message):
            call()


def test_lookalike_column_names_stay_distinct() -> None:
    names = ["A", "a", "a ", "\u00e9", "e\u0301", "\U0001f600", "\u05e9\u05dc\u05d5\u05dd"]
    frame = pd.DataFrame({n: [float(i), float(i) * 2 + 1, 0.5] for i, n in enumerate(names)})
    pipe = FeaturePipeline([steps.StandardScale(names)]).fit(frame)
    assert pipe.feature_names_out == names
    np.testing.assert_allclose(pipe.transform(frame), StandardScaler().fit_transform(frame))
    assert DriftDetector().fit(frame).detect(frame).to_frame()["column"].tolist() == names


# -------------------------------------------------------------- row indexes

INDEXES = {
    "duplicated": [7, 7, 7, 7, 7, 7],
    "strings": list("fedcba"),
    "multiindex": pd.MultiIndex.from_tuples(
        [(1, "a"), (1, "b"), (2, "a"), (2, "a"), (3, "x"), (3, "y")]
    ),
}


@pytest.mark.parametrize("index", list(INDEXES))
def test_row_index_is_ignored(index: str) -> None:
    plain = pd.DataFrame({"x": NUMBERS, "c": ["a", "b", "a", "a", "b", "b"]})
    odd = plain.set_axis(INDEXES[index])
    pipe = FeaturePipeline([steps.Impute(["x"], strategy="median"), steps.OneHot(["c"])])
    np.testing.assert_array_equal(pipe.fit(odd).transform(odd), pipe.fit(plain).transform(plain))
    assert _drift_row(odd, plain) == _drift_row(plain, plain)
    gm = GroupMetrics(["c"], metrics=["selection_rate"], min_count=1)
    gm2 = GroupMetrics(["c"], metrics=["selection_rate"], min_count=1)
    y = pd.Series([1, 0, 1, 1, 0, 1], index=odd.index)
    gm.update(y, y, odd)
    gm2.update(y.to_numpy(), y.to_numpy(), plain)
    pd.testing.assert_frame_equal(gm.report().by_group, gm2.report().by_group)


# ----------------------------------------------------------------- datetimes

WHEN = [dt.datetime(1969, 7, 20, 20, 17), dt.datetime(1900, 1, 1, 6), dt.datetime(2024, 2, 29, 23)]


def test_dates_before_1970_match_pandas_and_the_record_path() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(WHEN)})
    parts = ["year", "month", "day", "hour", "minute", "dayofweek"]
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=parts)]).fit(frame)
    out = pipe.transform(frame)
    acc = frame["t"].dt
    expected = np.column_stack(
        [acc.year, acc.month, acc.day, acc.hour, acc.minute, acc.day_of_week]
    ).astype(float)
    np.testing.assert_array_equal(out, expected)
    for i, when in enumerate(WHEN):
        np.testing.assert_array_equal(pipe.transform_record({"t": when}), out[i])


@pytest.mark.parametrize(
    "spelling",
    [
        "datetime64[ns]",
        "datetime64[s]",
        "object datetimes",
        "arrow timestamp[us]",
        "ArrowDtype timestamp[us]",
    ],
)
def test_datetime_units_give_the_same_parts(spelling: str) -> None:
    ns = pd.DataFrame({"t": pd.to_datetime(WHEN)})
    data: Any = {
        "datetime64[ns]": ns,
        "datetime64[s]": pd.DataFrame({"t": pd.to_datetime(WHEN).as_unit("s")}),
        "object datetimes": pd.DataFrame({"t": pd.Series(WHEN, dtype=object)}),
        "arrow timestamp[us]": pa.table({"t": pa.array(WHEN, pa.timestamp("us"))}),
        "ArrowDtype timestamp[us]": pd.DataFrame(
            {"t": pd.array(WHEN, dtype=pd.ArrowDtype(pa.timestamp("us")))}
        ),
    }[spelling]
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["year", "hour"])]).fit(ns)
    np.testing.assert_array_equal(pipe.transform(data), pipe.transform(ns))
    assert _drift_row(ns, data)["statistic"] == 0.0


def test_time_zone_aware_parts_are_wall_clock_in_the_fitted_zone() -> None:
    utc = pd.DataFrame({"t": pd.to_datetime(WHEN).tz_localize("UTC")})
    paris = utc.assign(t=utc["t"].dt.tz_convert("Europe/Paris"))
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["hour"])]).fit(utc)
    np.testing.assert_array_equal(pipe.transform(utc)[:, 0], [20, 6, 23])
    # The same instants in Paris give the fitted zone's (UTC) hours: same instant, same
    # features, in training and in serving.
    np.testing.assert_array_equal(pipe.transform(paris)[:, 0], [20, 6, 23])
    # An ArrowDtype column with a zone is read in its zone too (it was read as UTC).
    arrow_paris = paris.assign(
        t=pd.array(paris["t"], dtype=pd.ArrowDtype(pa.timestamp("us", tz="Europe/Paris")))
    )
    np.testing.assert_array_equal(pipe.transform(arrow_paris), pipe.transform(paris))
    as_table = pa.table({"t": pa.array(paris["t"], pa.timestamp("us", tz="Europe/Paris"))})
    np.testing.assert_array_equal(pipe.transform(as_table), pipe.transform(paris))
    record = paris["t"].iloc[0].to_pydatetime()
    assert pipe.transform_record({"t": record})[0] == 20
    assert Schema.infer(paris)["t"].timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("column", "zone"),
    [
        (
            pd.array(WHEN, dtype=pd.ArrowDtype(pa.timestamp("us", tz="Europe/Paris"))),
            "Europe/Paris",
        ),
        (pd.Series([None, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)], dtype=object), "UTC"),
        (
            pd.Series([dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5.5)))]),
            "-05:30",
        ),
        (pd.Series([dt.datetime(2024, 1, 1)], dtype=object), None),
    ],
    ids=["ArrowDtype", "object UTC", "object fixed offset", "object naive"],
)
def test_infer_reads_the_time_zone_of_every_spelling(column: Any, zone: str | None) -> None:
    frame = pd.DataFrame({"t": column}).set_axis([3] * len(column))
    schema = Schema.infer(frame)
    assert schema["t"].timezone == zone
    assert Schema.from_arrow(schema.to_arrow())["t"].timezone == zone


def test_an_object_column_mixing_zones_reads_like_its_records() -> None:
    from zoneinfo import ZoneInfo

    values = [
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris")),
        dt.datetime(2024, 1, 1, 9),  # naive
        pd.Timestamp("2024-03-01 08:00", tz="US/Eastern"),
    ]
    frame = pd.DataFrame({"t": pd.Series(values, dtype=object)})
    # A schema inferred from the column would refuse the column itself, and serving
    # converts requests to one zone: infer (and so fit) refuses it, naming the column.
    with pytest.raises(SchemaError, match="got values in several time zones") as info:
        Schema.infer(frame)
    assert info.value.columns == ["t"]
    with pytest.raises(SchemaError, match="got values in several time zones"):
        FeaturePipeline([steps.DateParts(["t"], parts=["hour"])]).fit(frame)
    # Brought to one zone, as the message says, the hours are those of that zone.
    utc = pd.DataFrame({"t": pd.to_datetime(frame["t"].astype(str), utc=True, format="mixed")})
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["hour"])]).fit(utc)
    np.testing.assert_array_equal(pipe.transform(utc)[:, 0], [12, 10, 9, 13])
    for i, v in enumerate(utc["t"]):
        assert pipe.transform_record({"t": v})[0] == pipe.transform(utc)[i, 0]
    assert _drift_row(frame, frame)["statistic"] == 0.0


def test_arrow_dates_are_midnights() -> None:
    days = [dt.date(1969, 7, 20), None, dt.date(2024, 2, 29)]
    arrow_dtype = pd.DataFrame({"t": pd.array(days, dtype=pd.ArrowDtype(pa.date32()))})
    objects = pd.DataFrame({"t": pd.Series(days, dtype=object)})
    expected = pd.DataFrame({"t": pd.to_datetime(days)})
    Schema([Column("t", "datetime")]).validate(arrow_dtype)
    assert _drift_row(expected, arrow_dtype) == _drift_row(expected, objects)
    assert _drift_row(expected, arrow_dtype)["statistic"] == 0.0
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["year", "month", "day"])])
    filled = expected.dropna()
    pipe.fit(filled)
    np.testing.assert_array_equal(
        pipe.transform(arrow_dtype.dropna()), [[1969, 7, 20], [2024, 2, 29]]
    )


def test_nat_is_a_null() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime([WHEN[0], None, WHEN[2]])})
    schema = Schema.infer(frame, nullable="observed")
    assert schema["t"].nullable
    with pytest.raises(SchemaError, match=r"column 't': null value NaT reached DateParts.*row 1"):
        FeaturePipeline([steps.DateParts(["t"])]).fit(frame).transform(frame)
    assert _drift_row(frame, frame)["n_current"] == 2


FAR = [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31), dt.datetime(1677, 9, 1)]


@pytest.mark.parametrize("value", FAR, ids=["year 1", "9999-12-31", "1677-09-01"])
def test_datetimes_outside_datetime64_ns_are_refused_not_wrapped(value: dt.datetime) -> None:
    # numpy's cast wrapped year 1 to 1754 and 9999-12-31 to 1816, silently.
    ok = pd.DataFrame({"t": pd.to_datetime(WHEN)})
    far = pd.DataFrame({"t": pd.Series([WHEN[0], value], dtype=object)})
    arrow = pa.table({"t": pa.array([WHEN[0], value], pa.timestamp("us"))})
    message = r"column 't': datetime .* is outside the range prodml computes with .*row 1"
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["year"])]).fit(ok)
    for call in (
        lambda: pipe.transform(far),
        lambda: pipe.transform(arrow),
        lambda: Schema([Column("t", "datetime")]).validate(far),
        lambda: Schema([Column("t", "datetime")]).validate(arrow),
        lambda: DriftDetector().fit(ok).detect(far),
    ):
        with pytest.raises(SchemaError, match=message):
            call()
    for record in (value, np.datetime64(value, "us"), value.replace(tzinfo=dt.timezone.utc)):
        with pytest.raises(SchemaError, match=r"column 't': datetime .* is outside the range"):
            pipe.transform_record({"t": record})
    with pytest.raises(SchemaError, match=r"column 't': datetime .* is outside the range"):
        pipe.transform_record({"t": value.date()})


def test_the_edges_of_datetime64_ns_are_accepted() -> None:
    edges = [dt.datetime(1677, 9, 22), dt.datetime(2262, 4, 10, 23)]
    frame = pd.DataFrame({"t": pd.Series(edges, dtype=object)})
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["year", "hour"])]).fit(frame)
    np.testing.assert_array_equal(pipe.transform(frame), [[1677, 0], [2262, 23]])
    for i, when in enumerate(edges):
        np.testing.assert_array_equal(pipe.transform_record({"t": when}), pipe.transform(frame)[i])
    Schema.infer(frame).validate(frame)


# --------------------------------------------------------------------- bools


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([True, False, True, None], dtype="boolean"),
        pd.Series([True, False, True, None], dtype=object),
        pd.array([True, False, True, None], dtype="bool[pyarrow]"),
    ],
    ids=["boolean", "object", "bool[pyarrow]"],
)
def test_bool_columns_with_missing_values(column: Any) -> None:
    frame = pd.DataFrame({"b": column})
    assert Schema.infer(frame)["b"].dtype.value == "bool"
    Schema([Column("b", "bool")]).validate(frame)
    with pytest.raises(SchemaError, match="column 'b': expected float, got bool True"):
        Schema([Column("b", "float")]).validate(frame)
    gm = GroupMetrics(["b"], metrics=["selection_rate"], missing="group", min_count=1)
    gm.update([1, 0, 1, 1], [1, 0, 0, 1], frame)
    by = gm.report().by_group["selection_rate"]
    assert by.to_dict() == {False: 0.0, True: 0.5, "<missing>": 1.0}


# ----------------------------------------------------------------- fairness

MISSING_SPELLINGS = {
    "None": pd.Series(["F", None, "M", "M", "F", "F"], dtype=object),
    "NaN": pd.Series(["F", np.nan, "M", "M", "F", "F"]),
    "pd.NA string": pd.Series(["F", pd.NA, "M", "M", "F", "F"], dtype="string"),
    "str": pd.Series(["F", None, "M", "M", "F", "F"], dtype="str"),
    "category": pd.Series(pd.Categorical(["F", None, "M", "M", "F", "F"])),
}
Y_TRUE, Y_PRED = [1, 0, 1, 1, 0, 1], [1, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("name", list(MISSING_SPELLINGS))
def test_missing_sensitive_values_every_spelling(name: str) -> None:
    groups = pd.DataFrame({"sex": MISSING_SPELLINGS[name]})
    with pytest.raises(SchemaError, match=r"column 'sex': sensitive value is missing.*row 1"):
        GroupMetrics(["sex"]).update(Y_TRUE, Y_PRED, groups)
    kept = GroupMetrics(["sex"], metrics=["selection_rate"], missing="group", min_count=1)
    by = kept.update(Y_TRUE, Y_PRED, groups).report().by_group["selection_rate"].to_dict()
    assert by == {"<missing>": 1.0, "F": 2 / 3, "M": 0.5}
    dropped = GroupMetrics(["sex"], missing="drop").update(Y_TRUE, Y_PRED, groups)
    assert dropped.dropped == {"sex": 1}


def test_one_group_and_a_group_of_one() -> None:
    one = GroupMetrics(["g"], metrics=["selection_rate"], min_count=1)
    one.update(Y_TRUE, Y_PRED, pd.DataFrame({"g": ["A"] * 6}))
    report = one.report()
    assert report.by_group["selection_rate"].to_dict() == {"A": 4 / 6}
    assert np.isnan(report.difference()["selection_rate"])  # no pair to compare
    tiny = GroupMetrics(["g"], metrics=["selection_rate"], min_count=1)
    tiny.update(Y_TRUE, Y_PRED, pd.DataFrame({"g": ["A"] * 5 + ["B"]}))
    assert tiny.report().by_group["selection_rate"].to_dict() == {"A": 0.6, "B": 1.0}


def test_numeric_and_unicode_group_labels() -> None:
    frames = {
        "ints": pd.DataFrame({"g": [1, 2, 1, 2, 1, 1]}),
        "Int64": pd.DataFrame({"g": pd.array([1, 2, 1, 2, 1, 1], dtype="Int64")}),
        "floats": pd.DataFrame({"g": [1.0, 2.0, 1.0, 2.0, 1.0, 1.0]}),
        "unicode": pd.DataFrame(
            {"g": ["e\u0301", "\U0001f600", "e\u0301", "\U0001f600", "e\u0301", "e\u0301"]}
        ),
    }
    for frame in frames.values():
        gm = GroupMetrics(["g"], metrics=["selection_rate"], min_count=1)
        by = gm.update(Y_TRUE, Y_PRED, frame).report().by_group["selection_rate"]
        assert sorted(by.to_numpy()) == [0.5, 1.0]


def test_nullable_labels_equal_plain_ones() -> None:
    plain = GroupMetrics(["g"], metrics=["selection_rate", "tpr"], min_count=1)
    plain.update(Y_TRUE, Y_PRED, pd.DataFrame({"g": list("ABABAB")}))
    nullable = GroupMetrics(["g"], metrics=["selection_rate", "tpr"], min_count=1)
    nullable.update(
        pd.array(Y_TRUE, dtype="Int64"),
        pd.array([bool(v) for v in Y_PRED], dtype="boolean"),
        pd.DataFrame({"g": pd.array(list("ABABAB"), dtype="string[pyarrow]")}),
    )
    pd.testing.assert_frame_equal(nullable.report().by_group, plain.report().by_group)
    with pytest.raises(SchemaError, match="column 'y_true'"):
        GroupMetrics(["g"]).update(pd.array([1, None], dtype="Int64"), [1, 1], {"g": ["A", "B"]})


# ------------------------------------------------------------------ explain


def test_explanations_on_unusual_spellings_equal_plain_ones() -> None:
    from sklearn.linear_model import LogisticRegression

    from prodml.explain import Explainer

    rng = np.random.default_rng(0)
    n = 200
    table = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "plan": rng.choice(["free", "pro", "team"], n),
            "at": pd.Timestamp("1960-01-01") + pd.to_timedelta(rng.integers(0, 30_000, n), "D"),
        }
    )
    y = (rng.random(n) < 0.5).astype(int)
    pipe = FeaturePipeline(
        [
            steps.Impute(["age"], strategy="median"),
            steps.StandardScale(["age"]),
            steps.OneHot(["plan"]),
            steps.DateParts(["at"], parts=["year", "month"]),
        ]
    ).fit(table)
    model = LogisticRegression(max_iter=5000).fit(pipe.transform(table), y)
    ex = Explainer(pipe, model, background=table.head(40)).fit()
    rows = table.head(5)
    plain = ex.explain(rows)
    odd = rows.astype({"age": "Int64", "plan": "string[pyarrow]"}).set_axis([9, 9, 9, 8, 8])
    odd.loc[9, "age"] = pd.NA  # every index-9 row
    twin = rows.assign(age=[np.nan] * 3 + list(rows["age"].iloc[3:]))
    got, want = ex.explain(odd), ex.explain(twin)
    assert list(got.index) == [9, 9, 9, 8, 8]
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    np.testing.assert_array_equal(ex.explain(rows.astype({"plan": "category"})), plain)
    record = ex.explain_record({"age": pd.NA, "plan": "pro", "at": dt.datetime(1961, 3, 1)})
    attributions = record.values  # noqa: PD011 - an Explanation, not pandas
    assert abs(record.base + sum(attributions.values()) - record.prediction) < 1e-9
    assert ex.explain(rows.iloc[:0]).shape == (0, 3)


# -------------------------------------------------------------------- store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from prodml.store import Entity, FeatureStore, FeatureView, Source

    root = tmp_path_factory.mktemp("unusual-store")
    (root / "txn").mkdir()
    t = _utc
    pd.DataFrame(
        {
            "user_id": [1, 1, 2, 1],
            "event_at": [t(1), t(3), t(2), t(4)],
            "created_at": [t(1, 1), t(3, 1), t(2, 1), t(9)],
            "amount_7d": [10.0, 30.0, 5.0, 99.0],
        }
    ).to_parquet(root / "txn" / "part-0.parquet")
    fs = FeatureStore.local(root / "fs")
    user = Entity("user", keys=["user_id"])
    view = FeatureView(
        "txn_stats",
        entity=user,
        source=Source.parquet(str(root / "txn"), timestamp="event_at", created="created_at"),
        features=["amount_7d"],
        ttl=dt.timedelta(days=30),
    )
    fs.apply([user, view])
    return fs


def _utc(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, tzinfo=dt.timezone.utc)


STAMPS = [_utc(3, 12), _utc(5), _utc(5), _utc(5)]
EXPECTED_AMOUNTS = [30.0, 30.0, 5.0, np.nan]


@pytest.mark.parametrize(
    "name",
    ["Int64 keys", "uint64 keys", "int32 keys", "Paris times", "second unit", "dup index", "arrow"],
)
def test_historical_with_unusual_keys_and_times(store: Any, name: str) -> None:
    keys, stamps = [1, 1, 2, 3], pd.DatetimeIndex(STAMPS)
    entity_df: Any = {
        "Int64 keys": pd.DataFrame(
            {"user_id": pd.array(keys, dtype="Int64"), "event_timestamp": stamps}
        ),
        "uint64 keys": pd.DataFrame(
            {"user_id": np.array(keys, np.uint64), "event_timestamp": stamps}
        ),
        "int32 keys": pd.DataFrame(
            {"user_id": np.array(keys, np.int32), "event_timestamp": stamps}
        ),
        "Paris times": pd.DataFrame(
            {"user_id": keys, "event_timestamp": stamps.tz_convert("Europe/Paris")}
        ),
        "second unit": pd.DataFrame({"user_id": keys, "event_timestamp": stamps.as_unit("s")}),
        "dup index": pd.DataFrame({"user_id": keys, "event_timestamp": stamps}, index=[0] * 4),
        "arrow": pa.table(
            {"user_id": keys, "event_timestamp": pa.array(STAMPS, pa.timestamp("us", tz="UTC"))}
        ),
    }[name]
    out = store.historical(entity_df, ["txn_stats:amount_7d"]).to_pandas()
    np.testing.assert_array_equal(out["amount_7d"].to_numpy(float), EXPECTED_AMOUNTS)


@pytest.mark.parametrize(
    ("entity_df", "message"),
    [
        (
            pd.DataFrame({"user_id": [1.0, 2.0], "event_timestamp": STAMPS[:2]}),
            "column 'user_id': entity 'user' has int keys, entity_df has double",
        ),
        (
            pd.DataFrame(
                {"user_id": [1, 2], "event_timestamp": [STAMPS[0].replace(tzinfo=None)] * 2}
            ),
            "column 'event_timestamp': entity_df timestamps are naive",
        ),
        (
            pd.DataFrame({"user_id": [1, 2], "event_timestamp": [STAMPS[0], None]}),
            "column 'event_timestamp': entity_df has 1 null times",
        ),
    ],
    ids=["float keys", "naive times", "NaT"],
)
def test_historical_refuses_with_the_column(
    store: Any, entity_df: pd.DataFrame, message: str
) -> None:
    with pytest.raises(ProdMLError, match=message):
        store.historical(entity_df, ["txn_stats:amount_7d"])


def test_historical_far_timestamps_follow_the_ttl(store: Any) -> None:
    utc = dt.timezone.utc
    far = [dt.datetime(1, 1, 1, tzinfo=utc), dt.datetime(9999, 1, 1, tzinfo=utc)]
    entity_df = pd.DataFrame({"user_id": [1, 1], "event_timestamp": pd.Series(far, dtype=object)})
    out = store.historical(entity_df, ["txn_stats:amount_7d"]).to_pandas()
    # Before any event, and long after the 30-day TTL: no value either way.
    assert out["amount_7d"].isna().all()


# ------------------------------------------------------ drift against scipy


def test_drift_on_nullable_columns_matches_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(1)
    ref = rng.integers(0, 50, 400)
    cur = rng.integers(5, 55, 300)
    ref_na = pd.array(ref, dtype="Int64")
    ref_na[::7] = pd.NA
    cur_na = pd.array(cur, dtype="Int64")
    cur_na[::5] = pd.NA
    abc = ["a", "b", "c"]
    ref_text = pd.array(rng.choice(abc, 400, p=[0.5, 0.3, 0.2]), dtype="string[pyarrow]")
    cur_text = pd.array(rng.choice(abc, 300, p=[0.4, 0.3, 0.3]), dtype="string[pyarrow]")
    ref_text[::9] = pd.NA
    reference = pd.DataFrame({"n": ref_na, "c": ref_text})
    current = pd.DataFrame({"n": cur_na, "c": cur_text})
    rows = DriftDetector().fit(reference).detect(current).to_frame().set_index("column")
    ks = stats.ks_2samp(ref_na.dropna().to_numpy(float), cur_na.dropna().to_numpy(float))
    assert rows.loc["n", "statistic"] == pytest.approx(ks.statistic, abs=1e-12)
    assert rows.loc["n", "p_value"] == pytest.approx(ks.pvalue, rel=1e-9)
    assert rows.loc["n", "null_fraction_current"] == pytest.approx(60 / 300)
    table = pd.crosstab(
        np.r_[np.zeros(int((~ref_text.isna()).sum())), np.ones(300)],
        np.r_[ref_text.dropna().to_numpy(str), cur_text.to_numpy(str)],
    )
    chi2 = stats.chi2_contingency(table.to_numpy(), correction=False)
    assert rows.loc["c", "statistic"] == pytest.approx(chi2.statistic, rel=1e-12)
    assert rows.loc["c", "p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)


def test_drift_int_and_float_spellings_of_one_column_agree() -> None:
    rng = np.random.default_rng(2)
    ints = pd.DataFrame({"n": rng.integers(0, 100, 500)})
    assert _drift_row(ints, ints.astype("uint16")) == _drift_row(ints, ints.astype(float))
    bools = pd.DataFrame({"b": rng.random(500) < 0.3})
    assert _drift_row(bools, bools.astype("boolean")) == _drift_row(bools, bools)


def test_labels_and_groups_are_matched_by_position_not_index() -> None:
    groups = pd.DataFrame({"g": list("AABBAB")})
    plain = GroupMetrics(["g"], metrics=["selection_rate", "tpr"], min_count=1)
    plain.update(Y_TRUE, Y_PRED, groups)
    odd = GroupMetrics(["g"], metrics=["selection_rate", "tpr"], min_count=1)
    odd.update(
        pd.Series(Y_TRUE, index=[5, 4, 3, 2, 1, 0]),
        pd.Series(Y_PRED, index=list("abcdef")),
        groups.set_axis([9] * 6),
    )
    pd.testing.assert_frame_equal(odd.report().by_group, plain.report().by_group)


def test_store_source_with_nullable_and_unicode_columns(tmp_path: Any) -> None:
    from prodml.store import Entity, FeatureStore, FeatureView

    fs = FeatureStore.local(tmp_path / "fs")
    frame = pd.DataFrame(
        {
            "user": pd.array(["u1", "u1", "u2", "\u00e9"], dtype="string[pyarrow]"),
            "event_at": pd.DatetimeIndex([_utc(1), _utc(3), _utc(2), _utc(4)]).tz_convert(
                "Europe/Paris"
            ),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "amount": pd.array([1.5, 2.5, None, 1e300], dtype="Float64"),
            "flag": pd.array([True, None, False, True], dtype="boolean"),
        }
    )
    source = fs.offline_store.write_source("txn", frame, timestamp="event_at")
    user = Entity("user", keys=["user"])
    view = FeatureView(
        "v", entity=user, source=source, features=["n", "amount", "flag"], ttl=dt.timedelta(30)
    )
    fs.apply([user, view])
    assert {c.name: c.dtype.value for c in fs.view("v").schema.columns} == {
        "n": "int",
        "amount": "float",
        "flag": "bool",
    }
    refs = ["v:n", "v:amount", "v:flag"]
    # The NFC and NFD spellings of "é" are two entities: only the NFC one has rows.
    entity_df = pd.DataFrame(
        {
            "user": ["u1", "u1", "u2", "\u00e9", "e\u0301"],
            "event_timestamp": [_utc(2)] + [_utc(5)] * 4,
        }
    )
    out = fs.historical(entity_df, refs).to_pandas()
    np.testing.assert_array_equal(out["n"].to_numpy(float), [1, np.nan, 3, 4, np.nan])
    np.testing.assert_array_equal(out["amount"].to_numpy(float), [1.5, 2.5, np.nan, 1e300, np.nan])
    assert out["flag"].tolist()[:4] == [True, None, False, True]
    fs.materialize(end=_utc(10))
    assert dict(fs.online({"user": "\u00e9"}, refs, at=_utc(10))) == {
        "n": 4,
        "amount": 1e300,
        "flag": True,
    }
    assert dict(fs.online({"user": "u1"}, refs, at=_utc(10))) == {
        "n": None,
        "amount": 2.5,
        "flag": None,
    }
    assert fs.online({"user": "e\u0301"}, refs, at=_utc(10)).missing == tuple(refs)


def test_min_max_and_robust_scale_at_the_top_of_float64() -> None:
    unit = [1.0, 2.0, 3.0, 0.0, 0.5]
    frame = pd.DataFrame({"x": [v * 1e300 for v in unit]})
    plain = pd.DataFrame({"x": unit})
    for step in (steps.MinMaxScale, steps.RobustScale):
        got = FeaturePipeline([step(["x"])]).fit(frame).transform(frame)
        want = FeaturePipeline([step(["x"])]).fit(plain).transform(plain)
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_min_max_and_robust_scale_at_the_bottom_of_float64_as_sklearn() -> None:
    # A range of 3e-300 is below scikit-learn's 10 * eps: the column counts as constant
    # (MinMaxScale scales by high - low, RobustScale by 1), as in MinMaxScaler and
    # RobustScaler, instead of being stretched to the unit column's answer.
    frame = pd.DataFrame({"x": [v * 1e-300 for v in [1.0, 2.0, 3.0, 0.0, 0.5]]})
    pairs = ((steps.MinMaxScale, MinMaxScaler()), (steps.RobustScale, RobustScaler()))
    for step, reference in pairs:
        got = FeaturePipeline([step(["x"])]).fit(frame).transform(frame)
        want = reference.fit_transform(frame.to_numpy())
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
