"""``batch_numbers`` and the table hasher read a column's kind from the view's cache.

A column's kind costs a full scan for an object column; ``_numbers`` and ``fingerprint``
detected it again (two or three times per column) instead of asking the view, which
detects it once. The results must not move: hashes are checked against digests from main.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest

import prodml._data as data_module
import prodml._numbers as numbers_module
import prodml.fingerprint as fingerprint_module
from prodml._data import Columns
from prodml._numbers import batch_numbers
from prodml.errors import SchemaError
from prodml.fingerprint import fingerprint_table

# fingerprint_table of _table(), from main at e678a95.
BEFORE = "21b5ad1223fdc96a63d24a4e66484911c554617852b0cbc40a9535909b2541a5"


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = 50
    return pd.DataFrame(
        {
            "f": rng.normal(size=rows),
            "i": rng.integers(0, 9, rows),
            "o": pd.Series(rng.integers(0, 9, rows).tolist(), dtype=object),
            "b": rng.random(rows) < 0.5,
            "s": pd.Series(["a", None, "b", "c", "a"] * 10, dtype="str"),
            "t": pd.date_range("2024-01-01", periods=rows, freq="h"),
        }
    )


@pytest.fixture
def detections(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """How many times each column (by id of its raw values) had its kind detected."""
    seen: Counter[int] = Counter()
    real = data_module.column_kind

    def counting(raw: Any) -> Any:
        seen[id(raw)] += 1
        return real(raw)

    monkeypatch.setattr(data_module, "column_kind", counting)
    # Modules that imported column_kind by name (as these two did) are counted too.
    for module in (numbers_module, fingerprint_module):
        monkeypatch.setattr(module, "column_kind", counting, raising=False)
    return seen


def test_the_hasher_detects_each_kind_once(detections: Counter[int]) -> None:
    df = _table()
    fingerprint_table(df)
    assert len(detections) == len(df.columns)
    assert set(detections.values()) == {1}


def test_batch_numbers_detects_the_kind_once(detections: Counter[int]) -> None:
    cols = Columns(_table())
    x = batch_numbers(cols, "o")
    np.testing.assert_array_equal(x, _table()["o"].to_numpy(dtype=np.float64))
    assert list(detections.values()) == [1]
    with pytest.raises(SchemaError, match="expected float"):
        batch_numbers(cols, "s")


def test_hashes_are_as_before() -> None:
    assert fingerprint_table(_table()) == BEFORE
