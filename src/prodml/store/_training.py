"""The result of :meth:`FeatureStore.historical`: a training set with its lineage."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodml._files import PATH_QUOTE, os_reason
from prodml._quote import short_repr
from prodml._zones import canonical_zone
from prodml.errors import ConfigError
from prodml.fingerprint import TableHasher, fingerprint_table
from prodml.schema import LogicalType, Schema
from prodml.store.offline import OfflineStore, ViewQuery

__all__ = ["TrainingSet", "frame_of", "joined", "typed", "write_joined"]


class TrainingSet:
    """Entity rows joined point-in-time with features, and where they came from.

    Like Feast's retrieval job: call :meth:`to_pandas` or :meth:`to_arrow` for the data.
    :attr:`fingerprint` hashes the content and :meth:`lineage` gives what the model
    registry's ``lineage=`` takes, so a registered model traces back to the exact view
    definitions and data.

    Attributes
    ----------
    features
        The ``"view:feature"`` references, in the order asked for.
    columns
        The output column of each reference.
    views
        Each view's name -> the fingerprint of its applied definition.
    path
        The Parquet file holding the rows when ``historical(..., output=path)`` was used.
    """

    def __init__(
        self,
        data: pd.DataFrame | pa.Table | None,
        *,
        features: list[str],
        columns: list[str],
        views: dict[str, str],
        path: str | None = None,
    ) -> None:
        self._data = data
        self.features = features
        self.columns = columns
        self.views = views
        self.path = path

    def __repr__(self) -> str:
        where = f"path={self.path!r}" if self.path else f"rows={self.num_rows}"
        return f"TrainingSet({where}, features={self.features!r})"

    @property
    def num_rows(self) -> int:
        """Number of rows (one per entity row)."""
        if self._data is None:
            return int(pq.ParquetFile(self.path).metadata.num_rows)
        return len(self._data) if isinstance(self._data, pd.DataFrame) else self._data.num_rows

    def to_pandas(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (the entity rows' columns, then the features)."""
        if isinstance(self._data, pd.DataFrame):
            return self._data
        return self.to_arrow().to_pandas()

    def to_arrow(self) -> pa.Table:
        """The rows as a pyarrow Table."""
        if isinstance(self._data, pa.Table):
            return self._data
        if isinstance(self._data, pd.DataFrame):
            return pa.Table.from_pandas(self._data, preserve_index=False)
        return pq.read_table(self.path)

    @cached_property
    def fingerprint(self) -> str:
        """sha256 hex of the rows' content (:func:`prodml.fingerprint.fingerprint_table`)."""
        if self._data is not None:
            return fingerprint_table(self._data)
        h = TableHasher()
        for batch in pq.ParquetFile(Path(self.path)).iter_batches():  # type: ignore[arg-type]
            h.update(batch)
        return h.hexdigest()

    def lineage(self, **extra: Any) -> dict[str, Any]:
        """The registry's lineage: data fingerprint, view definitions, feature references.

        Examples
        --------
        >>> ts = TrainingSet(
        ...     pa.table({"x": [1.0]}), features=["v:x"], columns=["x"], views={"v": "ab12"}
        ... )
        >>> sorted(ts.lineage(code_version="c0ffee"))
        ['code_version', 'data_fingerprint', 'feature_views', 'features']
        """
        return {
            "data_fingerprint": self.fingerprint,
            "feature_views": dict(self.views),
            "features": list(self.features),
            **extra,
        }


def write_joined(
    offline: OfflineStore, ent: pa.Table, queries: Sequence[ViewQuery], table: pa.Table, out: str
) -> None:
    """Join into a Parquet file at ``out`` without holding the features in memory.

    The offline store writes ``__row`` and the features to a scratch file; its batches
    are then written next to the matching slices of the entity table, into a file that
    replaces ``out`` only once it is complete.
    """
    target = Path(out)
    if target.is_dir():
        raise ConfigError(
            f"output {short_repr(out, limit=PATH_QUOTE)} is a folder; give a file path",
            parameter="output",
        )
    try:  # scratch space beside the output: the same file system, so the rename is atomic
        scratch_dir = tempfile.TemporaryDirectory(dir=target.resolve().parent, prefix=".prodml-")
    except OSError as err:
        raise ConfigError(
            f"cannot write output {short_repr(out, limit=PATH_QUOTE)}: {os_reason(err)}",
            parameter="output",
        ) from err
    with scratch_dir as tmp:
        scratch = str(Path(tmp) / "features.parquet")
        offline.point_in_time(ent, queries, output=scratch)
        source = pq.ParquetFile(scratch)
        batches = source.iter_batches(batch_size=65_536)
        done = 0
        staged = Path(tmp) / "joined.parquet"
        with pq.ParquetWriter(
            staged, joined(table.slice(0, 0), source.schema_arrow.empty_table(), queries).schema
        ) as writer:
            for batch in batches:
                part = table.slice(done, batch.num_rows)
                writer.write_table(joined(part, pa.Table.from_batches([batch]), queries))
                done += batch.num_rows
        os.replace(staged, target)  # the whole file or none: a failure keeps what was there


def joined(part: pa.Table, features: pa.Table, queries: Sequence[ViewQuery]) -> pa.Table:
    """``part`` with ``features``' columns, typed per their views, appended."""
    cast = typed(features, queries)
    for name in cast.column_names:
        part = part.append_column(name, cast.column(name))
    return part


def typed(result: pa.Table, queries: Sequence[ViewQuery]) -> pa.Table:
    """The feature columns of ``result`` cast to their views' schema types."""
    cols = {}
    for q in queries:
        schema = q.view.schema or Schema()
        arrow = schema.to_arrow()
        for f, c in zip(q.features, q.columns, strict=True):
            target = arrow.field(f).type
            col = result.column(c)
            if schema[f].dtype is LogicalType.DATETIME:
                # The canonical spelling: arrow cannot convert '+0530' or 'Z' to pandas.
                target = pa.timestamp("us", tz=canonical_zone(schema[f].timezone or "UTC"))
            if col.type != target:
                col = col.cast(target)
            cols[c] = col
    return pa.table(cols)


def frame_of(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas()``, sharing float64 columns whose null slots already hold NaN.

    The offline stores' results are consumed once, so their float64 buffers can become
    the frame's columns instead of copies: a training set then costs its size once, not
    twice. Any other column converts as ``to_pandas`` converts it.
    """
    cols: dict[str, pd.Series] = {}
    for name in table.column_names:
        col = table.column(name)
        shared = _float_view(col) if col.num_chunks == 1 else None
        cols[name] = (
            pd.Series(shared, copy=False, name=name) if shared is not None else col.to_pandas()
        )
    return pd.DataFrame(cols, copy=False)


def _float_view(col: pa.ChunkedArray) -> npt.NDArray[np.float64] | None:
    """A writable numpy view of a float64 column whose nulls are NaN, else ``None``."""
    arr = col.chunk(0)
    if not pa.types.is_float64(arr.type):
        return None
    data = arr.buffers()[1]
    if data is None or not data.is_mutable:
        return None
    view = np.frombuffer(data, dtype=np.float64, count=len(arr), offset=arr.offset * 8)
    if arr.null_count:
        nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if not np.isnan(view[nulls]).all():
            return None
    return view
