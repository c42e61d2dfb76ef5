"""A view's datetime feature declared in an offset spelled '+0530' (or 'Z') is served typed.

The store casts each feature to its schema's type; the zone goes to arrow in its canonical
spelling, which arrow can convert to pandas ('+0530' and 'Z' it cannot).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.store.conftest import T0, H, txn_store

from prodml.schema import Column


@pytest.mark.parametrize(("declared", "pandas_zone"), [("+0530", "UTC+05:30"), ("Z", "UTC")])
def test_a_feature_in_an_offset_spelling_is_read_as_that_offset(
    tmp_path: Path, declared: str, pandas_zone: str
) -> None:
    fs = txn_store(tmp_path / "fs", [Column("last_seen", "datetime", timezone=declared)])
    try:
        entities = pd.DataFrame({"user_id": [1], "event_timestamp": [T0 + 4 * H]})
        out = fs.historical(entities, ["txn:last_seen"]).to_pandas()
    finally:
        fs.close()
    assert str(out["last_seen"].dt.tz) == pandas_zone
    assert out["last_seen"].iloc[0] == pd.Timestamp(T0 + 2 * H)  # the same instant
