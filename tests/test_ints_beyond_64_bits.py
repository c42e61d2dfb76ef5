"""Integers beyond 2**53 and beyond 64 bits in ``int`` columns, along the whole path.

The number rule (prodml._numbers) converts an integer to the nearest float64 and refuses
one float64 cannot hold as a ``range`` problem. Arrow integer columns beyond 2**53 raised
a raw ``pyarrow.ArrowInvalid`` from ``Columns.float64`` (arrow's safe cast), so
``fingerprint_table`` of such a table failed; Python ints beyond int64 in a record follow
the rule from ``Schema.validate`` through the features to the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression

from prodml._data import as_columns, record_problems
from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.fingerprint import fingerprint_table
from prodml.schema import Column, Schema
from prodml.serving import Predictor

WIDE = [1, 2**53 + 1, 2**62 + 2**9 + 1, 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("kind", [pa.int64(), pa.uint64()])
def test_arrow_ints_beyond_2_53_read_as_the_nearest_float(kind: pa.DataType) -> None:
    values = [v for v in WIDE if v >= 0] if kind == pa.uint64() else WIDE
    values = [*values, 2**64 - 1] if kind == pa.uint64() else values
    got = as_columns(pa.table({"n": pa.array([*values, None], kind)})).float64("n")
    assert got[:-1].tolist() == [float(v) for v in values]
    assert np.isnan(got[-1])


def test_fingerprint_of_arrow_ints_beyond_2_53_equals_the_pandas_one() -> None:
    arrow = pa.table({"n": pa.array(WIDE, pa.int64())})
    frame = pd.DataFrame({"n": np.array(WIDE, dtype=np.int64)})
    assert fingerprint_table(arrow) == fingerprint_table(frame)


@pytest.fixture(scope="module")
def predictor() -> tuple[FeaturePipeline, Predictor[Any]]:
    train = pd.DataFrame({"n": np.arange(40) * 10**6})
    pipe = FeaturePipeline([steps.MinMaxScale(["n"])]).fit(train)
    model = LinearRegression().fit(pipe.transform(train), np.arange(40.0))
    return pipe, Predictor(pipe, model, schema=Schema([Column("n", "int")]))


@pytest.mark.parametrize("value", [2**63, 2**64 + 1, 2**70 + 1, -(2**63) - 1, 10**300])
def test_python_ints_beyond_int64_follow_the_number_rule_to_the_model(
    predictor: tuple[FeaturePipeline, Predictor[Any]], value: int
) -> None:
    pipe, served = predictor
    schema = Schema([Column("n", "int")])
    schema.validate({"n": value})  # within float64: an int column without bounds takes it
    assert record_problems(schema.columns, {"n": value}, strict=False) == []
    one_row = pd.DataFrame({"n": pd.Series([value], dtype=object)})
    row = pipe.transform_record({"n": value})
    assert row.tolist() == pipe.transform(one_row)[0].tolist()
    assert row.tolist() == pipe.transform(pd.DataFrame({"n": [float(value)]}))[0].tolist()
    assert (
        served.predict_record({"n": value}).value
        == served.predict_record({"n": float(value)}).value
    )


@pytest.mark.parametrize("value", [2**1024, -(2**1100)])
def test_ints_beyond_float64_are_a_range_problem_everywhere(
    predictor: tuple[FeaturePipeline, Predictor[Any]], value: int
) -> None:
    pipe, served = predictor
    calls = {
        "validate": lambda: Schema([Column("n", "int")]).validate({"n": value}),
        "transform_record": lambda: pipe.transform_record({"n": value}),
        "predict_record": lambda: served.predict_record({"n": value}),
    }
    for name, call in calls.items():
        with pytest.raises(SchemaError) as info:
            call()
        (problem,) = info.value.problems
        assert (problem.column, problem.kind) == ("n", "range"), name
        assert "too large for float64" in problem.message
