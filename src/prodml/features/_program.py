"""How one input column flows through a pipeline, and reading columns by kind."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from prodml._data import Columns, py_value, type_name
from prodml._numbers import batch_numbers
from prodml.errors import SchemaError, SchemaProblem
from prodml.features._base import NUMBER, TEXT, TIME, Step, read_text
from prodml.features._dates import batch_times

__all__ = [
    "KINDS",
    "Program",
    "chunk_source",
    "input_error",
    "null_rows",
    "raw_value",
    "read_values",
]

KINDS = {"float": NUMBER, "int": NUMBER, "bool": NUMBER, "string": TEXT, "category": TEXT}


@dataclass
class Program:
    """How one input column flows: its kind, its steps, where nulls must be gone."""

    column: str
    kind: str
    steps: list[Step]
    kinds: list[str]  # kind of the value entering each step
    null_at: int  # index of the first step that cannot take nulls
    offset: int = 0
    width: int = 1
    dtype: str = "float"  # the input column's logical type (see prodml._numbers)
    zone: str | None = None  # a datetime column's fitted time zone (None: naive)

    @property
    def encoder(self) -> Step | None:
        return self.steps[-1] if self.steps[-1].terminal else None

    @property
    def n_values(self) -> int:
        return len(self.steps) - (1 if self.steps[-1].terminal else 0)


def input_error(data: object) -> SchemaError:
    return SchemaError(
        problems=[
            SchemaProblem(
                None,
                "input",
                "data must be a pandas DataFrame, a pyarrow Table or RecordBatch, or an "
                f"iterable of those; got {type_name(data)} instead",
            )
        ]
    )


def chunk_source(data: object) -> bool:
    """Whether ``data`` can be read as chunks (an iterable of tables, Parquet, Dataset)."""
    if isinstance(data, str | bytes | np.ndarray | Mapping | pd.Series):
        return False
    return isinstance(data, Iterable | pq.ParquetFile) or hasattr(data, "to_batches")


def raw_value(cols: Columns, name: str, row: int) -> object:
    raw = cols.raw(name)
    if isinstance(raw, pd.Series):
        return py_value(raw.iloc[row])
    return raw[row].as_py()


def null_rows(values: Any, kind: str) -> np.ndarray:
    if kind == NUMBER:
        return np.flatnonzero(np.isnan(values))
    if kind == TIME:
        return np.flatnonzero(np.isnat(values))
    return np.flatnonzero(values.codes < 0)


def read_values(
    cols: Columns, name: str, kind: str, dtype: str = "float", zone: str | None = None
) -> Any:
    if kind == NUMBER:
        # The one number rule (prodml._numbers), as Schema.validate and the record path.
        return batch_numbers(cols, name, dtype=dtype)
    if kind == TEXT:
        return read_text(cols, name)
    return batch_times(cols, name, zone)  # wall-clock time in the fitted zone
