"""What a type-checked user of prodml.testing sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from typing_extensions import assert_type

from prodml.features import FeaturePipeline, steps
from prodml.registry import MetadataStore
from prodml.registry.backends.sql import SQLMetadataStore
from prodml.schema import Column, Schema
from prodml.testing.registry import MetadataStoreConformance
from prodml.testing.strategies import column_names, columns, records, schemas_and_tables


class MyStoreSuite(MetadataStoreConformance):
    """How a backend opts in (under pytest, with a ``metadata_store`` fixture)."""

    def metadata_store(self) -> SQLMetadataStore:
        return SQLMetadataStore("sqlite://")

    @staticmethod
    def reopen_read_only(store: MetadataStore) -> MetadataStore | None:
        """A hook the suite documents: this store has no read-only twin."""
        return None


seen: list[int] = []


@settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(schemas_and_tables(max_rows=10))
def check_validate(pair: tuple[Schema, pd.DataFrame]) -> None:
    schema, frame = pair
    schema.validate(frame)
    seen.append(len(frame))


def main() -> None:
    assert_type(column_names(), SearchStrategy[str])
    assert_type(columns(), SearchStrategy[Column])
    assert_type(schemas_and_tables(), SearchStrategy[tuple[Schema, pd.DataFrame]])
    check_validate()
    assert len(seen) == 10

    schema = Schema([Column("x", "float", nullable=False)])
    pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(pd.DataFrame({"x": [1.0, 2.0]}))
    assert_type(records(schema=schema), SearchStrategy[dict[str, Any]])

    @settings(max_examples=10, derandomize=True, database=None, deadline=None)
    @given(records(schema=schema))
    def check_record(record: dict[str, object]) -> None:
        assert pipe.transform_record(record).shape == (1,)

    check_record()


if __name__ == "__main__":
    main()
