"""The one number rule: Schema.validate, fit, transform and transform_record agree."""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml._data import Columns
from prodml._numbers import batch_numbers, number_problem, record_bool, record_number
from prodml.errors import ConfigError, SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Column, Schema

FLOAT = Schema([Column("x", "float")])
BASE = [1.0, 2.0, 4.0]


def _verdict(call: Any) -> str | None:
    """The problem kind a call raises ('type', 'range', 'null'), or None when it passes."""
    try:
        call()
    except SchemaError as err:
        return err.problems[0].kind
    return None


def _frame(v: object) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series([*BASE, v], dtype=object)})


def _paths(v: object, make: Any) -> dict[str, str | None]:
    """The verdict of every path on one value placed among valid ones."""
    fitted = make().fit(pd.DataFrame({"x": BASE}))
    return {
        "schema_record": _verdict(lambda: FLOAT.validate({"x": v})),
        "schema_table": _verdict(lambda: FLOAT.validate(_frame(v))),
        "fit": _verdict(lambda: make().fit(_frame(v))),
        "transform": _verdict(lambda: fitted.transform(_frame(v))),
        "record": _verdict(lambda: fitted.transform_record({"x": v})),
    }


def _imputed() -> FeaturePipeline:
    # A median (not a mean) so that huge finite values are not a statistics overflow.
    return FeaturePipeline([steps.Impute(["x"], strategy="median"), steps.Clip(["x"], lower=0.0)])


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**1100), max_value=2**1100),
    st.booleans(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.text(max_size=3),
    st.sampled_from([None, pd.NA, np.float32(2.5), np.int64(-7), np.bool_(True), np.inf]),
)


@settings(max_examples=150, deadline=None)
@given(values)
def test_schema_fit_transform_and_record_agree(v: object) -> None:
    verdicts = _paths(v, _imputed)
    assert len(set(verdicts.values())) == 1, (v, verdicts)
    # ... and they apply the rule written in prodml._numbers.
    expected = number_problem(v)
    assert verdicts["record"] == (expected[0] if expected else None)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "type"),
        (np.bool_(False), "type"),
        (datetime.date(2020, 1, 1), "type"),
        ("1.5", "type"),
        (math.inf, "range"),
        (-math.inf, "range"),
        (decimal.Decimal("Infinity"), "range"),
        (10**400, "range"),
        (decimal.Decimal("1.5"), None),
        (decimal.Decimal("sNaN"), None),  # a null, like NaN
        (np.float32(2.5), None),
        (None, None),
    ],
)
def test_documented_cases(value: object, kind: str | None) -> None:
    assert set(_paths(value, _imputed).values()) == {kind}


@pytest.mark.parametrize("value", [-1.0, -5.0, -1])
def test_log1p_domain_is_checked_at_fit_transform_and_record(value: float) -> None:
    def make() -> FeaturePipeline:
        return FeaturePipeline([steps.Log1p(["x"])])

    verdicts = _paths(value, make)
    # The schema knows nothing of Log1p; the three pipeline paths reject alike.
    assert verdicts == {
        "schema_record": None,
        "schema_table": None,
        "fit": "range",
        "transform": "range",
        "record": "range",
    }
    # Log1p after a stateful step is checked at fit too, from one table or from chunks.
    pipe = FeaturePipeline([steps.Impute(["x"]), steps.Log1p(["x"])])
    with pytest.raises(SchemaError, match="Log1p needs values > -1"):
        pipe.fit(_frame(value))
    with pytest.raises(SchemaError, match="Log1p needs values > -1"):
        pipe.fit([pd.DataFrame({"x": BASE}), pd.DataFrame({"x": [value]})])
    with pytest.raises(SchemaError, match="infinite value inf"):
        FeaturePipeline([steps.Clip(["x"], lower=0.0)]).fit(
            [pd.DataFrame({"x": BASE}), pd.DataFrame({"x": [math.inf]})]
        )


def test_bool_column_takes_bools_only_on_every_path() -> None:
    pipe = FeaturePipeline([steps.Impute(["b"], strategy="most_frequent")]).fit(
        pd.DataFrame({"b": [True, False, True]})
    )
    assert pipe.transform_record({"b": True}).tolist() == [1.0]
    assert pipe.transform(pd.DataFrame({"b": [False]})).tolist() == [[0.0]]
    with pytest.raises(SchemaError, match="expected a bool, got int 1"):
        pipe.transform_record({"b": 1})
    with pytest.raises(SchemaError, match=r"expected a bool, got float 1\.0") as err:
        pipe.transform(pd.DataFrame({"b": [1.0]}))
    assert err.value.problems[0].row == 0
    with pytest.raises(SchemaError):
        Schema([Column("b", "bool")]).validate({"b": 1})


def test_scalar_rule_and_batch_rule_use_the_same_words() -> None:
    cols = Columns(pd.DataFrame({"x": pd.Series([1.0, "s", True], dtype=object)}))
    with pytest.raises(SchemaError) as batch:
        batch_numbers(cols, "x")
    with pytest.raises(SchemaError) as one:
        record_number("s", "x", 1)
    assert str(batch.value) == str(one.value)
    assert record_bool(None, "b") != record_bool(None, "b")  # NaN for a null
    assert record_number(decimal.Decimal("0.1"), "x") == 0.1


def test_a_huge_value_is_quoted_short() -> None:
    with pytest.raises(SchemaError) as err:
        record_number("x" * 10_000_000, "x")
    assert len(str(err.value)) < 200
    assert "10000000 characters" in str(err.value)


# -- strict settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"nullable": "no"}, "nullable"),
        ({"nullable": 0}, "nullable"),
        ({"min": True}, "min"),
        ({"max": "3"}, "max"),
        ({"timezone": 1}, "timezone"),
        ({"description": 5}, "description"),
    ],
)
def test_column_settings_are_strict(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter) as err:
        Column("x", "float", **kwargs)
    assert err.value.parameter == parameter


def test_column_bounds_take_numpy_numbers() -> None:
    assert Column("x", "int", min=np.int64(0), max=np.float32(2.5)).min == 0.0


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [({"nullable": "sometimes"}, "nullable"), ({"strict": "yes"}, "strict")],
)
def test_infer_settings_are_strict(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=f"'{parameter}' parameter of Schema.infer") as err:
        Schema.infer(pd.DataFrame({"x": [1.0]}), **kwargs)
    assert err.value.parameter == parameter


@pytest.mark.parametrize("bad", [None, 3, "abc", {"x": "float"}])
def test_schema_of_a_non_list(bad: object) -> None:
    with pytest.raises(ConfigError, match="'columns' parameter of Schema") as err:
        Schema(bad)
    assert err.value.parameter == "columns"
    with pytest.raises(ConfigError, match="strict"):
        Schema([], strict="yes")  # type: ignore[arg-type]
