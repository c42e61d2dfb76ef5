"""What a type-checked user of prodml.features sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from typing_extensions import assert_type

from prodml.errors import NotFittedError, SchemaError, SchemaProblem
from prodml.features import FeaturePipeline, steps
from prodml.schema import Schema


def main() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, 50),
            "age": rng.integers(18, 90, 50),
            "plan": rng.choice(["free", "pro"], 50),
        }
    )
    pipe = FeaturePipeline(
        [
            steps.Impute(["income"], strategy="median"),
            steps.StandardScale(["income", "age"]),
            steps.OneHot(["plan"]),
        ]
    )
    try:
        pipe.transform(train)
    except NotFittedError as err:
        assert_type(err, NotFittedError)
    fitted = pipe.fit(train)
    assert_type(fitted, FeaturePipeline)

    x = pipe.transform(train)
    assert_type(x, npt.NDArray[np.float64])
    assert isinstance(x, np.ndarray) and x.dtype == np.float64 and x.shape == (50, 4)
    x2 = pipe.transform(train, output="numpy")
    assert_type(x2, npt.NDArray[np.float64])
    frame = pipe.transform(train, output="pandas")
    assert_type(frame, pd.DataFrame)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == pipe.feature_names_out
    table = pipe.transform(train, output="arrow")
    assert type(table).__name__ == "Table"

    record = pipe.transform_record({"income": 20_000.0, "age": 31, "plan": "pro"})
    assert_type(record, npt.NDArray[np.float64])
    assert record.dtype == np.float64 and record.ndim == 1

    names = pipe.feature_names_out
    assert_type(names, list[str])
    assert names == ["income", "age", "plan=free", "plan=pro"]
    assert_type(pipe.input_schema, Schema)
    assert_type(pipe.fingerprint, str)
    assert len(pipe.fingerprint) == 64

    state = pipe.to_dict()
    again = FeaturePipeline.from_dict(state)
    assert_type(again, FeaturePipeline)
    text = pipe.to_json()
    assert_type(text, str)
    assert FeaturePipeline.from_json(text).fingerprint == pipe.fingerprint

    try:
        pipe.transform_record({"income": "lots", "age": 31, "plan": "pro"})
    except SchemaError as err:
        assert_type(err.problems, tuple[SchemaProblem, ...])
        assert_type(err.column, str | None)
        assert err.problems


if __name__ == "__main__":
    main()
