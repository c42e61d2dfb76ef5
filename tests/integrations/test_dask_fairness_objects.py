"""``group_metrics`` on a pandas frame sees its object columns as ``gm.update`` does.

Dask turns object columns into text by default, so a pandas frame handed to
``group_metrics`` had ``True`` and ``1`` counted as the two groups ``"True"`` and ``"1"``
(``GroupMetrics.update`` refuses that column: Python merges the two) and a bool group
labelled by the text ``"True"``.
"""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")

from prodml.errors import SchemaError
from prodml.fairness import GroupMetrics
from prodml.integrations import dask as pdask


def _frame(values: list[object]) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "y": [k % 2 for k in range(n)],
            "p": [(k // 2) % 2 for k in range(n)],
            "g": pd.Series(values, dtype=object),
        }
    )


def test_a_bool_and_an_equal_number_are_refused_as_in_memory():
    df = _frame([True, 1, "a", "a"])
    with pytest.raises(SchemaError, match="equals the bool True") as pandas_err:
        GroupMetrics(["g"], min_count=1).update(df["y"], df["p"], df)
    gm = GroupMetrics(["g"], min_count=1)
    with pytest.raises(SchemaError, match="equals the bool True") as dask_err:
        pdask.group_metrics(gm, df, y_true="y", y_pred="p")
    assert str(dask_err.value).startswith(str(pandas_err.value))  # + the partition
    assert gm == GroupMetrics(["g"], min_count=1)  # unchanged


@pytest.mark.parametrize(
    "values",
    [
        [True, False, True, False, True, False],  # bool labels stay bool
        [1, 1.0, 2, "x", 2.0, "x"],  # numbers of any type are one group, as in pandas
        ["a", "b", "b", "a", "c", "b"],
    ],
)
def test_object_columns_give_the_in_memory_groups(values):
    df = _frame(values)
    expected = GroupMetrics(["g"], min_count=1).update(df["y"], df["p"], df)
    got = pdask.group_metrics(GroupMetrics(["g"], min_count=1), df, y_true="y", y_pred="p")
    assert got == expected
    assert got.groups == expected.groups
