"""Wrong answers found by the store audit (tests/store/test_pit_audit.py), one test each."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from prodml.errors import SchemaError
from prodml.store import Entity, FeatureStore, FeatureView

from .conftest import T0


def _sources(fs: FeatureStore) -> tuple[object, object]:
    ints = fs.offline_store.write_source(
        "a", pa.table({"user_id": [1], "at": [T0], "x": [1.0]}), timestamp="at"
    )
    strs = fs.offline_store.write_source(
        "b", pa.table({"card": ["c1"], "card_bin": [7], "at": [T0], "y": [2.0]}), timestamp="at"
    )
    return ints, strs


def test_an_entity_redefined_with_other_keys_does_not_keep_the_old_key_types(
    tmp_path: Path,
) -> None:
    # The old types belonged to the old keys; they used to carry over to the new keys.
    with FeatureStore.local(tmp_path / "fs") as fs:
        _, strs = _sources(fs)
        fs.apply([Entity("who", keys=["user_id"], dtypes=["int"])])
        card = Entity("who", keys=["card", "card_bin"])
        fs.apply([card, FeatureView("b", entity=card, source=strs, features=["y"])])
        assert [str(t) for t in fs.entities["who"].dtypes] == ["string", "int"]
        got = fs.historical(
            pa.table({"card": ["c1"], "card_bin": [7], "event_timestamp": [T0]}), ["b:y"]
        )
        assert got.to_pandas()["y"].tolist() == [2.0]


def test_rekeying_an_entity_that_views_use_is_a_schema_error(tmp_path: Path) -> None:
    # It used to be a bare ValueError from zip(strict=True): two key types for one key.
    with FeatureStore.local(tmp_path / "fs") as fs:
        ints, strs = _sources(fs)
        user = Entity("who", keys=["user_id"])
        fs.apply([user, FeatureView("a", entity=user, source=ints, features=["x"])])
        card = Entity("who", keys=["card", "card_bin"])
        with pytest.raises(SchemaError, match="different definition of entity 'who'"):
            fs.apply([card, FeatureView("b", entity=card, source=strs, features=["y"])])
        assert fs.entities["who"].keys == ("user_id",)
