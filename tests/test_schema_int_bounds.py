"""``Column(min=, max=)`` keeps an integer bound exact when float64 would round it.

Bounds were held as float64: ``min=2**60 + 1`` became ``2**60``, so the value ``2**60``
passed, and ``max=2**60 + 1`` refused ``2**60 + 1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from prodml.errors import ConfigError, SchemaError
from prodml.schema import Column, Schema

BIG = 2**60


def _problems(schema: Schema, data: object) -> list[str]:
    try:
        schema.validate(data)
    except SchemaError as err:
        return [str(p) for p in err.problems]
    return []


def test_a_bound_float64_would_round_is_kept_as_an_int() -> None:
    col = Column("id", "int", min=BIG + 1, max=np.int64(BIG + 3))
    assert (col.min, col.max) == (BIG + 1, BIG + 3)
    assert isinstance(col.min, int)
    assert isinstance(col.max, int)
    # Bounds float64 holds stay floats, so saved schemas keep their JSON and fingerprints.
    assert Column("n", "int", min=0, max=2**53).model_dump()["min"] == 0.0
    assert isinstance(Column("n", "int", min=0).min, float)
    assert isinstance(Column("n", "int", max=BIG).max, float)  # a power of two: exact


@pytest.mark.parametrize(
    "data",
    [
        pd.DataFrame({"id": np.array([BIG, BIG + 1, BIG + 3, BIG + 4], dtype=np.int64)}),
        pa.table({"id": pa.array([BIG, BIG + 1, BIG + 3, BIG + 4], pa.int64())}),
        pd.DataFrame({"id": pd.array([BIG, BIG + 1, BIG + 3, BIG + 4], dtype="Int64")}),
    ],
    ids=["numpy", "arrow", "Int64"],
)
def test_integers_are_compared_with_an_exact_bound(data: object) -> None:
    schema = Schema([Column("id", "int", min=BIG + 1, max=BIG + 3)])
    assert _problems(schema, data) == [
        f"column 'id': 1 value below the minimum {BIG + 1}, e.g. {BIG} (first at row 0)",
        f"column 'id': 1 value above the maximum {BIG + 3}, e.g. {BIG + 4} (first at row 3)",
    ]


def test_records_are_compared_with_an_exact_bound() -> None:
    schema = Schema([Column("id", "int", min=BIG + 1, max=BIG + 3)])
    assert _problems(schema, {"id": BIG + 1}) == []
    assert _problems(schema, {"id": BIG + 3}) == []
    assert len(_problems(schema, {"id": BIG})) == 1
    assert len(_problems(schema, {"id": BIG + 4})) == 1


def test_floats_are_compared_with_an_exact_int_bound() -> None:
    # 2**53 + 1 lies between the floats 2**53 and 2**53 + 2.
    schema = Schema([Column("x", "float", min=-(2**53) - 1, max=2**53 + 1)])
    ok = pd.DataFrame({"x": [float(2**53), -float(2**53), np.nan]})
    assert _problems(schema, ok) == []
    bad = pd.DataFrame({"x": [float(2**53 + 2), -float(2**53 + 2)]})
    assert [p.split(",")[0] for p in _problems(schema, bad)] == [
        f"column 'x': 1 value below the minimum {-(2**53) - 1}",
        f"column 'x': 1 value above the maximum {2**53 + 1}",
    ]


def test_an_exact_bound_survives_json_and_arrow() -> None:
    schema = Schema([Column("id", "int", min=BIG + 1, max=BIG + 3)])
    for back in (Schema.from_json(schema.to_json()), Schema.from_arrow(schema.to_arrow())):
        assert back == schema
        assert back["id"].min == BIG + 1
    with pytest.raises(ConfigError, match=r"min .* is greater than max"):
        Column("id", "int", min=BIG + 3, max=BIG + 1)


@pytest.mark.parametrize("value", [10**20, 2**64, -(2**63) - 1])
@pytest.mark.parametrize("form", ["record", "frame"])
def test_python_ints_beyond_64_bits_are_a_range_problem_not_an_overflow(
    value: int, form: str
) -> None:
    """pyarrow could not hold them, and the bounds check raised a bare OverflowError."""
    schema = Schema([Column("n", "int", min=0, max=100)])
    data: object = (
        {"n": value}
        if form == "record"
        else pd.DataFrame({"n": pd.Series([1, value], dtype=object)})
    )
    with pytest.raises(SchemaError) as info:
        schema.validate(data)
    (problem,) = info.value.problems
    assert problem.kind == "range"
    assert problem.row == (None if form == "record" else 1)  # one record has no rows
    word = "below the minimum" if value < 0 else "above the maximum"
    assert word in problem.message
    wide = Schema([Column("n", "int", min=-(10**30), max=10**30)])
    assert wide.validate(data) is None
