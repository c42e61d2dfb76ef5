"""Cost grows linearly with the number of columns (issue 15 §2).

Wall time is not asserted (benchmarks/bench_wide.py measures it). Instead, column names
are a ``str`` subclass that counts every hash and equality test made on a name: a
per-column scan of all names (``list.count``, ``name in list``, a per-column table view
or dict rebuilt per column) makes the count per column grow with the width, so it fails
here. Before the fix DriftDetector.detect made 10,578 name operations per column at 100
columns, 100x more than now.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from prodml.drift import DriftDetector
from prodml.features import FeaturePipeline, steps
from prodml.fingerprint import fingerprint_table
from prodml.schema import Schema


class CountingName(str):
    """A column name that counts the hash and equality operations made on it."""

    __slots__ = ()
    ops = 0

    def __eq__(self, other: object) -> bool:
        CountingName.ops += 1
        return str.__eq__(self, other)  # type: ignore[no-any-return]

    def __hash__(self) -> int:
        CountingName.ops += 1
        return str.__hash__(self)


def wide(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {}
    for i in range(n // 2):
        cols[CountingName(f"f{i}")] = rng.normal(size=50)
    for i in range(n - n // 2):
        cols[CountingName(f"s{i}")] = pd.Series(rng.choice(["a", "b"], 50), dtype="str")
    df = pd.DataFrame(cols)
    df.columns = pd.Index(list(cols), dtype=object)  # keep the name objects themselves
    return df


def _operations(df: pd.DataFrame) -> dict[str, Callable[[], object]]:
    floats = [c for c in df.columns if c.startswith("f")]
    strings = [c for c in df.columns if c.startswith("s")]
    schema = Schema.infer(df)
    pipe = FeaturePipeline([steps.StandardScale(floats), steps.OneHot(strings)]).fit(df)
    det = DriftDetector().fit(df)
    return {
        "Schema.infer": lambda: Schema.infer(df),
        "Schema.validate": lambda: schema.validate(df),
        "fingerprint_table": lambda: fingerprint_table(df),
        "FeaturePipeline.fit": lambda: FeaturePipeline(
            [steps.StandardScale(floats), steps.OneHot(strings)]
        ).fit(df),
        "FeaturePipeline.transform": lambda: pipe.transform(df),
        "DriftDetector.fit": lambda: DriftDetector().fit(df),
        "DriftDetector.detect": lambda: det.detect(df),
    }


def _ops_per_column(n: int) -> dict[str, float]:
    df = wide(n)
    assert type(df.columns[0]) is CountingName
    out = {}
    for name, fn in _operations(df).items():
        CountingName.ops = 0
        fn()
        out[name] = CountingName.ops / n
    return out


@pytest.fixture(scope="module")
def counts() -> tuple[dict[str, float], dict[str, float]]:
    return _ops_per_column(40), _ops_per_column(400)


@pytest.mark.parametrize(
    "operation",
    [
        "Schema.infer",
        "Schema.validate",
        "fingerprint_table",
        "FeaturePipeline.fit",
        "FeaturePipeline.transform",
        "DriftDetector.fit",
        "DriftDetector.detect",
    ],
)
def test_name_operations_per_column_do_not_grow_with_width(
    operation: str, counts: tuple[dict[str, float], dict[str, float]]
) -> None:
    small, big = counts[0][operation], counts[1][operation]
    assert small > 0  # the counter sees the operation's lookups
    assert big <= small * 1.1, f"{operation}: {small:.1f} -> {big:.1f} name ops per column"


def test_duplicate_column_names_are_still_reported() -> None:
    from prodml._data import Columns
    from prodml.errors import SchemaError

    df = pd.DataFrame(np.zeros((2, 5)), columns=["a", "b", "a", "c", "b"])
    with pytest.raises(SchemaError) as info:
        Columns(df)
    assert [p.column for p in info.value.problems] == ["a", "b"]
    with pytest.raises(ValueError, match=r"repeated: \['x'\]"):
        Schema([{"name": "x", "dtype": "float"}, {"name": "x", "dtype": "int"}])
