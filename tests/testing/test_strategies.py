from __future__ import annotations

import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from prodml.schema import Schema
from prodml.testing.strategies import chunkings, records, schemas, split_table, tables


@given(st.data())
def test_drawn_tables_and_records_satisfy_their_schema(data: st.DataObject) -> None:
    schema = data.draw(schemas())
    df = data.draw(tables(schema=schema))
    schema.validate(df)
    schema.validate(data.draw(tables(schema=schema, kind="arrow")))
    schema.validate(data.draw(records(schema=schema)))


@given(st.data())
def test_split_table_preserves_rows(data: st.DataObject) -> None:
    df = data.draw(tables(max_rows=12))
    cuts = data.draw(chunkings(len(df)))
    parts = split_table(df, cuts)
    assert len(parts) == len(cuts) + 1
    if len(df.columns):
        pd.testing.assert_frame_equal(pd.concat(parts), df)
    arrow = pa.Table.from_pandas(df, preserve_index=False)
    assert pa.concat_tables(split_table(arrow, cuts)).equals(arrow)


def test_nulls_only_in_nullable_columns() -> None:
    @given(tables(schema=Schema.infer(pd.DataFrame({"x": [1.0]}), nullable="observed")))
    def check(df: pd.DataFrame) -> None:
        assert not df["x"].isna().any()

    check()
