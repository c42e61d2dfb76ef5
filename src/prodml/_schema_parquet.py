"""The schema of a Parquet file from its footer and a bounded sample of its row groups.

``prodml schema FILE.parquet`` used to read the whole file to infer a schema: a 2 GB file
took seconds and its size again in memory. The types, zones and categories are all in the
footer's schema, so only the first row groups (up to :data:`SAMPLE_BYTES` of data, at
least one) are read and inferred from, exactly as the whole table would be. What the rest
of the file holds is then taken from the footer:

- nullability (``nullable="observed"``): a column is marked not null when every row
  group after the sample has a null count of 0 in its statistics (without statistics it
  is marked nullable: the safe side, which every value passes) and, for a ``float``
  column, no NaN either: prodml counts a NaN as a null and Parquet statistics do not
  count NaNs, so those columns alone are read, a row group at a time, until a NaN;
- personal data is looked for in the sample only.

The schema is the whole file's in all but that (and in all when the row groups fit the
sample); memory holds the sample and one row group of the float columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from prodml.schema import Schema

__all__ = ["SAMPLE_BYTES", "infer_parquet"]

SAMPLE_BYTES = 64 * 2**20
"""Uncompressed bytes of row groups read to infer from (the first row group always is)."""


def sample_row_groups(metadata: pq.FileMetaData, limit: int) -> int:
    """How many leading row groups to read: at least one, at most ``limit`` bytes past it."""
    total = 0
    for i in range(metadata.num_row_groups):
        total += metadata.row_group(i).total_byte_size
        if i and total > limit:
            return i
    return metadata.num_row_groups


def _no_nulls_after(metadata: pq.FileMetaData, first: int, leaf: int) -> bool:
    """Whether every row group from ``first`` on states a null count of 0 for ``leaf``."""
    for i in range(first, metadata.num_row_groups):
        stats = metadata.row_group(i).column(leaf).statistics
        if stats is None or not stats.has_null_count or stats.null_count != 0:
            return False
    return True


def infer_parquet(
    path: str | Path,
    *,
    nullable: Literal["always", "observed"] = "always",
    sample_bytes: int | None = None,
) -> Schema:
    """:meth:`Schema.infer` of a Parquet file, reading its footer and leading row groups.

    Parameters
    ----------
    path
        A Parquet file (not a folder).
    nullable
        As for :meth:`Schema.infer`.
    sample_bytes
        Uncompressed bytes of row groups to read beyond the first one; ``None``:
        :data:`SAMPLE_BYTES`.

    Returns
    -------
    Schema
        ``Schema.infer(pq.read_table(path))`` when the row groups fit ``sample_bytes``;
        beyond it, nullability from the footer (see the module's docstring).

    Examples
    --------
    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pq.write_table(pa.table({"n": [1, 2, 3, 4]}), path, row_group_size=1)
    >>> infer_parquet(path, nullable="observed", sample_bytes=0).columns[0].nullable
    False
    """
    import pyarrow as pa  # noqa: PLC0415 - the CLI's schema command only
    import pyarrow.parquet as pq  # noqa: PLC0415

    from prodml.schema import Schema  # noqa: PLC0415

    with pq.ParquetFile(path) as file:
        metadata = file.metadata
        limit = SAMPLE_BYTES if sample_bytes is None else sample_bytes
        read = sample_row_groups(metadata, limit)
        table = file.read_row_groups(range(read)) if read else file.read()
        schema = Schema.infer(table, nullable=nullable)
        if nullable == "always" or read == metadata.num_row_groups:
            return schema
        # A flat file has one leaf per column, in order; a nested column has several leaves
        # and no one null count: then nothing beyond the sample is known: nullable.
        flat = metadata.num_columns == len(table.schema) and not any(
            pa.types.is_nested(f.type) for f in table.schema
        )
        leaves = {c.name: j for j, c in enumerate(schema.columns)} if flat else {}
        unsure = {
            c.name
            for c in schema.columns
            if not c.nullable
            and not (c.name in leaves and _no_nulls_after(metadata, read, leaves[c.name]))
        }
        floats = [
            c.name
            for c in schema.columns
            if not c.nullable
            and c.name not in unsure
            and pa.types.is_floating(table.schema.field(c.name).type)
        ]
        unsure |= _with_nan(file, range(read, metadata.num_row_groups), floats)
    columns = [
        c.model_copy(update={"nullable": True}) if c.name in unsure else c for c in schema.columns
    ]
    return Schema(columns, strict=schema.strict)


def _with_nan(file: pq.ParquetFile, groups: range, names: list[str]) -> set[str]:
    """The float columns of ``names`` holding a NaN in the row groups ``groups``.

    Parquet statistics count nulls, not NaNs (which prodml counts as nulls): only these
    columns are read, one row group at a time, each until its first NaN.
    """
    import pyarrow.compute as pc  # noqa: PLC0415

    pending, found = list(names), set()
    for i in groups:
        if not pending:
            break
        group = file.read_row_group(i, columns=pending)
        for name in pending:
            if pc.any(pc.is_nan(group.column(name))).as_py():
                found.add(name)
        pending = [name for name in pending if name not in found]
    return found
