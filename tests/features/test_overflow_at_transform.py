"""A finite value a numeric step would turn into inf or NaN is a SchemaError, in every path.

Before: StandardScale fitted on values near 1e-300 gave ``inf`` (and a RuntimeWarning) for
1e308 at ``transform``, and ``inf`` silently from ``transform_record``; a Function such
as ``np.exp`` did the same. Now each step checks its output once per array (batch) or
value (record) and raises a SchemaError naming the step and the column, never the value.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps

steps.register_function("overflow_test_exp", np.exp, overwrite=True)
steps.register_function("overflow_test_square", np.square, overwrite=True)
steps.register_function("overflow_test_sqrt", np.sqrt, overwrite=True)

SECRET = 1.2345678901234567e307  # a value that must never appear in a message

# -- named cases: each fitted on ordinary data, then given one extreme value ------------

CASES: dict[str, tuple[Callable[[], list[Any]], list[float], float]] = {
    # name: (steps, fit data, a finite value the fitted step cannot map into float64)
    "standard": (lambda: [steps.StandardScale(["x"])], [1e-300, 2e-300, 3e-300], SECRET),
    "standard_no_mean": (
        lambda: [steps.StandardScale(["x"], with_mean=False)],
        [1e-300, 3e-300],
        -SECRET,
    ),
    # An interquartile range of 1.5e-3 (one below 10 * eps would scale by 1).
    "robust": (lambda: [steps.RobustScale(["x"])], [0.0, 1e-3, 2e-3, 3e-3], SECRET),
    "minmax_wide_range": (
        lambda: [steps.MinMaxScale(["x"], feature_range=(-1e300, 1e300))],
        [0.0, 1.0],
        1e9,
    ),
    "function_exp": (lambda: [steps.Function(["x"], func="overflow_test_exp")], [0.0], 1000.0),
    "function_nan": (lambda: [steps.Function(["x"], func="overflow_test_sqrt")], [1.0], -4.0),
    "scale_then_bins": (
        lambda: [steps.StandardScale(["x"]), steps.Bucketize(["x"], n_bins=3)],
        [1e-300, 2e-300, 3e-300, 4e-300],
        SECRET,
    ),
}


def _fitted(name: str) -> tuple[FeaturePipeline, float]:
    make, fit_data, extreme = CASES[name]
    return FeaturePipeline(make()).fit(pd.DataFrame({"x": fit_data})), extreme


def _step_name(name: str) -> str:
    pipe, _ = _fitted(name)
    step = pipe.steps[0]
    if isinstance(step, steps.Function):
        return f"Function '{step.func}'"
    return type(step).__name__


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("path", ["pandas", "arrow", "record"])
def test_an_unmappable_value_is_a_schema_error_naming_step_and_column(name: str, path: str) -> None:
    pipe, extreme = _fitted(name)
    df = pd.DataFrame({"x": [CASES[name][1][0], extreme]})
    call: Callable[[], Any] = {
        "record": lambda: pipe.transform_record({"x": extreme}),
        "arrow": lambda: pipe.transform(pa.Table.from_pandas(df, preserve_index=False)),
        "pandas": lambda: pipe.transform(df),
    }[path]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak on the way
        with pytest.raises(SchemaError) as info:
            call()
    (problem,) = info.value.problems
    assert (problem.column, problem.kind) == ("x", "range")
    assert problem.row == (None if path == "record" else 1)
    assert problem.message.startswith(_step_name(name) + " turns a value of this column")
    assert "non-finite" in problem.message
    assert "e+307" not in str(info.value)
    assert "12345" not in str(info.value)
    assert "1000" not in str(info.value)


def test_the_fitted_rows_still_transform_and_agree() -> None:
    for name in CASES:
        pipe, _ = _fitted(name)
        df = pd.DataFrame({"x": CASES[name][1]})
        X = pipe.transform(df)
        assert np.isfinite(X).all(), name
        for i, v in enumerate(CASES[name][1]):
            assert pipe.transform_record({"x": v}).tobytes() == X[i].tobytes(), name


# -- a difference that overflows where the result does not is computed, not refused -----


@pytest.mark.parametrize(
    ("step", "fit", "want"),
    [
        # mean 1e308, std 1e307: (x - mean) overflows, x / std - mean / std is -20.
        (steps.StandardScale(["x"]), [9e307, 1.1e308], -20.0),
        # median 1e308, interquartile range 1e307: the same.
        (steps.RobustScale(["x"]), [9e307, 1e308, 1.1e308], -20.0),
        # min 1e308, range 1e307: -1e308 * 1e-307 - 1e308 * 1e-307, as MinMaxScaler does.
        (steps.MinMaxScale(["x"]), [1e308, 1.1e308], -20.0),
    ],
)
def test_an_overflowing_difference_with_a_finite_result_is_computed(
    step: Any, fit: list[float], want: float
) -> None:
    pipe = FeaturePipeline([step]).fit(pd.DataFrame({"x": fit}))
    df = pd.DataFrame({"x": [fit[0], -1e308, 1e308]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X = pipe.transform(df)
        records = [pipe.transform_record({"x": v}) for v in df["x"]]
    np.testing.assert_allclose(X[1, 0], want, rtol=1e-12)
    for i, rec in enumerate(records):
        assert rec.tobytes() == X[i].tobytes()
    if isinstance(step, steps.MinMaxScale):
        ref = MinMaxScaler().fit(np.array(fit).reshape(-1, 1)).transform([[-1e308]])
        assert X[1, 0] == ref[0, 0]


# -- fit-time: statistics that overflow are refused, not fitted as inf -------------------


@pytest.mark.parametrize(
    ("step", "words"),
    [(steps.Bucketize(["x"], n_bins=4, strategy="uniform"), "the range is inf")],
)
def test_a_statistic_beyond_float64_is_refused_at_fit(step: Any, words: str) -> None:
    # max - min: 1.7e308 - -1.7e308 overflows, and the bins' width with it.
    df = pd.DataFrame({"x": [-1.7e308, 1.7e308]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SchemaError) as info:
            FeaturePipeline([step]).fit(df)
    (problem,) = info.value.problems
    assert (problem.column, problem.kind) == ("x", "range")
    assert words in problem.message


def test_quantiles_of_huge_values_of_both_signs_are_fitted_exactly() -> None:
    # numpy's linear interpolation computes b - a, which overflows here (its median of
    # these two values is NaN); prodml interpolates as a * (1 - t) + b * t instead.
    df = pd.DataFrame({"x": [-1.7e308, 1.7e308]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        median = FeaturePipeline([steps.Impute(["x"], strategy="median")]).fit(df)
        robust = FeaturePipeline([steps.RobustScale(["x"])]).fit(df)
        bins = FeaturePipeline([steps.Bucketize(["x"], n_bins=4)]).fit(df)
    assert median.transform(pd.DataFrame({"x": [np.nan]})).tolist() == [[0.0]]
    scaled = robust.transform(df).tolist()
    assert scaled == [[pytest.approx(-1.0)], [pytest.approx(1.0)]]  # centre 0, IQR 1.7e308
    assert bins.transform(df).tolist() == [[0.0], [3.0]]


# -- properties: finite in => finite out or the named error; batch == record -------------

EXTREMES = [1.7976931348623157e308, -1.7976931348623157e308, 1e308, -1e308, 5e-324, -5e-324]
EXTREMES += [2.2250738585072014e-308, 1e-300, 0.0, 2.0**53 + 2, -(2.0**63)]
FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EXTREMES))
INTS = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.sampled_from([2**53 + 1, -(2**63), 2**63 - 1])
)

STEPS: list[Callable[[], list[Any]]] = [
    lambda: [steps.StandardScale(["x"])],
    lambda: [steps.StandardScale(["x"], with_mean=False)],
    lambda: [steps.MinMaxScale(["x"])],
    lambda: [steps.MinMaxScale(["x"], feature_range=(-1e300, 1e300))],
    lambda: [steps.RobustScale(["x"])],
    lambda: [steps.RobustScale(["x"], quantile_range=(0.0, 100.0))],
    lambda: [steps.Log1p(["x"])],
    lambda: [steps.Clip(["x"], lower=-1.0, upper=1e300)],
    lambda: [steps.Impute(["x"], strategy="median")],
    lambda: [steps.Function(["x"], func="overflow_test_exp")],
    lambda: [steps.Function(["x"], func="overflow_test_square")],
    lambda: [steps.Function(["x"], func="overflow_test_sqrt")],
    lambda: [steps.Clip(["x"], lower=-1e10, upper=1e10), steps.StandardScale(["x"])],
    lambda: [steps.StandardScale(["x"]), steps.MinMaxScale(["x"])],
    lambda: [steps.RobustScale(["x"]), steps.Bucketize(["x"], n_bins=3, encode="onehot")],
]


def _outcome(fn: Callable[[], np.ndarray]) -> np.ndarray | SchemaError:
    try:
        return fn()
    except SchemaError as err:
        return err


def _same(a: np.ndarray | SchemaError, b: np.ndarray | SchemaError) -> bool:
    if isinstance(a, SchemaError) or isinstance(b, SchemaError):
        if not (isinstance(a, SchemaError) and isinstance(b, SchemaError)):
            return False
        pa_, pb = a.problems[0], b.problems[0]
        return (pa_.column, pa_.kind) == (pb.column, pb.kind)
    return a.tobytes() == np.ascontiguousarray(b).tobytes()


@st.composite
def cases(draw: Any) -> tuple[int, list[Any], list[Any], bool]:
    values = INTS if draw(st.booleans()) else FLOATS
    fit = draw(st.lists(values, min_size=1, max_size=12))
    new = draw(st.lists(values, min_size=1, max_size=8))
    return draw(st.integers(0, len(STEPS) - 1)), fit, new, draw(st.booleans())


@given(cases())
def test_finite_in_gives_finite_out_or_the_named_error_in_both_paths(
    case: tuple[int, list[Any], list[Any], bool],
) -> None:
    which, fit, new, arrow = case
    dtype = "int64" if isinstance(fit[0], int) else "float64"
    pipe = FeaturePipeline(STEPS[which]())
    try:
        pipe.fit(pd.DataFrame({"x": pd.Series(fit, dtype=dtype)}))
    except SchemaError as err:
        # Fit data the step cannot summarise in float64, or outside Log1p's domain.
        assume(err.problems[0].kind != "range")
        raise  # pragma: no cover - any other problem is a bug

    def batch(values: list[Any]) -> Callable[[], np.ndarray]:
        df = pd.DataFrame({"x": pd.Series(values, dtype=dtype)})
        data = pa.Table.from_pandas(df, preserve_index=False) if arrow else df
        return lambda: np.asarray(pipe.transform(data))

    rows = [_outcome(batch([v])) for v in new]
    for v, row in zip(new, rows, strict=True):
        assert _same(row, _outcome(lambda v=v: pipe.transform_record({"x": v}))), v
        if isinstance(row, SchemaError):
            assert row.problems[0].column == "x"
        else:
            assert np.isfinite(row).all()
    whole = _outcome(batch(new))
    failed = [i for i, r in enumerate(rows) if isinstance(r, SchemaError)]
    if failed:
        assert isinstance(whole, SchemaError)
        assert whole.problems[0].row in range(len(new))
    else:
        assert not isinstance(whole, SchemaError)
        assert whole.tobytes() == np.concatenate(rows).tobytes()


# -- ordinary values still match scikit-learn -------------------------------------------

NORMAL = st.floats(-1e6, 1e6, allow_nan=False)


@given(st.lists(NORMAL, min_size=2, max_size=30), st.lists(NORMAL, min_size=1, max_size=10))
def test_scalers_match_scikit_learn_on_new_data(fit: list[float], new: list[float]) -> None:
    # A spread that is not a rounding error of the values: both libraries then agree
    # to the rounding of their (different) formulas.
    spread = max(fit) - min(fit)
    assume(spread > 1e-6 and spread > 0.01 * max(abs(v) for v in fit))
    train, test = np.array(fit).reshape(-1, 1), np.array(new).reshape(-1, 1)
    pipe = FeaturePipeline(
        [steps.StandardScale(["a"]), steps.MinMaxScale(["b"]), steps.RobustScale(["c"])]
    ).fit(pd.DataFrame({"a": fit, "b": fit, "c": fit}))
    got = pipe.transform(pd.DataFrame({"a": new, "b": new, "c": new}))
    std, mm, rb = StandardScaler().fit(train), MinMaxScaler().fit(train), RobustScaler().fit(train)
    # Each output is (x - shift) * factor: its rounding error scales with |x| * factor.
    factors = [1 / std.scale_[0], mm.scale_[0], 1 / rb.scale_[0]]
    magnitude = np.abs(test[:, 0]) + np.abs(train).max()
    for j, (ref, factor) in enumerate(zip([std, mm, rb], factors, strict=True)):
        want = ref.transform(test)[:, 0]
        err = np.abs(got[:, j] - want)
        assert (err <= 1e-9 * np.abs(want) + 1e-12 * magnitude * factor).all(), (j, err)
