"""The schema of a Parquet file or folder from footers and a bounded sample of row groups.

``prodml schema FILE.parquet`` used to read the whole file to infer a schema: a 2 GB file
took seconds and its size again in memory. The types, zones and categories are all in the
footer's schema, so only the first row groups (up to :data:`SAMPLE_BYTES` of data, at
least one) are read and inferred from, exactly as the whole table would be. A folder (a
dataset of many files, hive partitions too) is sampled the same way across its files, in
the order :func:`pyarrow.parquet.read_table` reads them, with the schema it reads them
with. What the rest of the files holds is then taken from their footers:

- nullability (``nullable="observed"``): a column is marked not null when every row
  group after the sample has a null count of 0 in its statistics (without statistics it
  is marked nullable: the safe side, which every value passes) and, for a ``float``
  column, no NaN either: prodml counts a NaN as a null and Parquet statistics do not
  count NaNs, so those columns alone are read, a row group at a time, until a NaN;
- a hive partition column is nullable when a folder beyond the sample names no value;
- personal data is looked for in the sample only.

The schema is the whole table's in all but that (and in all when the row groups fit the
sample); memory holds the sample and one row group of the float columns. A file beyond
the sample whose types the dataset cannot cast is not found here (``read_table`` would
fail on it): its footer is read for null counts, its types are not compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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


def infer_parquet(
    path: str | Path,
    *,
    nullable: Literal["always", "observed"] = "always",
    sample_bytes: int | None = None,
) -> Schema:
    """:meth:`Schema.infer` of a Parquet file or folder, reading footers and leading row groups.

    Parameters
    ----------
    path
        A Parquet file, or a folder of them (a dataset: the files and hive partitions
        :func:`pyarrow.parquet.read_table` reads, in its order).
    nullable
        As for :meth:`Schema.infer`.
    sample_bytes
        Uncompressed bytes of row groups to read beyond the first one, over all the files;
        ``None``: :data:`SAMPLE_BYTES`.

    Returns
    -------
    Schema
        ``Schema.infer(pq.read_table(path))`` when the row groups fit ``sample_bytes``;
        beyond it, nullability from the footers (see the module's docstring).

    Examples
    --------
    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pq.write_table(pa.table({"n": [1, 2, 3, 4]}), path, row_group_size=1)
    >>> infer_parquet(path, nullable="observed", sample_bytes=0).columns[0].nullable
    False
    """
    import pyarrow as pa  # noqa: PLC0415 - the CLI's schema command only
    import pyarrow.dataset as pds  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from prodml.schema import Schema  # noqa: PLC0415

    dataset = pq.ParquetDataset(path)  # the files, partitions and schema read_table takes
    limit = SAMPLE_BYTES if sample_bytes is None else sample_bytes
    groups = _row_groups(dataset.fragments)
    sample: list[tuple[Any, int]] = []
    rest: list[tuple[Any, int]] = []
    size = 0
    for fragment, i, nbytes in groups:  # lazily: the footers past the sample wait
        if sample and size + nbytes > limit:
            rest.append((fragment, i))
            break
        sample.append((fragment, i))
        size += nbytes
    if not sample:  # no row group in any file: the (empty) table as read_table gives it
        return Schema.infer(dataset.read(), nullable=nullable)
    parts: dict[int, tuple[Any, list[int]]] = {}
    for fragment, i in sample:
        parts.setdefault(id(fragment), (fragment, []))[1].append(i)
    subsets = [fragment.subset(row_group_ids=ids) for fragment, ids in parts.values()]
    format_ = dataset.fragments[0].format
    table = pds.FileSystemDataset(subsets, dataset.schema, format_, dataset.filesystem).to_table()
    schema = Schema.infer(table, nullable=nullable)
    if nullable == "always" or not rest:
        return schema
    rest += [(fragment, i) for fragment, i, _ in groups]  # the footers of the other files
    known = {c.name for c in schema.columns if not c.nullable}
    unsure = _nullable_beyond(rest, dataset, known)
    floats = [
        name
        for name in sorted(known - unsure)
        if pa.types.is_floating(dataset.schema.field(name).type)
    ]
    unsure |= _with_nan(rest, dataset.schema, floats)
    columns = [
        c.model_copy(update={"nullable": True}) if c.name in unsure else c for c in schema.columns
    ]
    return Schema(columns, strict=schema.strict)


def _row_groups(fragments: list[Any]) -> Iterator[tuple[Any, int, int]]:
    """``(fragment, row group, uncompressed bytes)`` of every file, in the dataset's order."""
    for fragment in fragments:
        metadata = fragment.metadata  # the footer, read here
        for i in range(metadata.num_row_groups):
            yield fragment, i, metadata.row_group(i).total_byte_size


def _nullable_beyond(rest: list[tuple[Any, int]], dataset: Any, names: set[str]) -> set[str]:
    """The columns of ``names`` that may hold a null in the row groups ``rest``.

    A column's null count is in each row group's statistics (a flat column is one leaf of
    that name); without statistics, missing from a file (the dataset fills it with nulls)
    or nested (several leaves, no one count), it may. A hive partition column (no leaf of
    the files) is null in a file whose folder names no value for it.
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.dataset as pds  # noqa: PLC0415

    found = {f.name for f in dataset.schema if pa.types.is_nested(f.type)} & names
    leaves_of: dict[int, dict[str, int]] = {}
    for fragment, i in rest:
        pending = names - found
        if not pending:
            break
        keys = pds.get_partition_keys(fragment.partition_expression)  # {} unpartitioned
        metadata = fragment.metadata
        leaves = leaves_of.setdefault(
            id(fragment),
            {metadata.schema.column(j).path: j for j in range(metadata.num_columns)},
        )
        group = metadata.row_group(i)
        for name in pending:
            if name not in leaves:  # a partition's value, or null (read_table fills it)
                if keys.get(name) is None:
                    found.add(name)
                continue
            stats = group.column(leaves[name]).statistics
            if stats is None or not stats.has_null_count or stats.null_count != 0:
                found.add(name)
    return found


def _with_nan(rest: list[tuple[Any, int]], schema: Any, names: list[str]) -> set[str]:
    """The float columns of ``names`` holding a NaN in the row groups ``rest``.

    Parquet statistics count nulls, not NaNs (which prodml counts as nulls): only these
    columns are read, one row group at a time, each until its first NaN.
    """
    import pyarrow.compute as pc  # noqa: PLC0415

    pending, found = list(names), set()
    for fragment, i in rest:
        if not pending:
            break
        group = fragment.subset(row_group_ids=[i]).to_table(columns=pending, schema=schema)
        for name in pending:
            if pc.any(pc.is_nan(group.column(name))).as_py():
                found.add(name)
        pending = [name for name in pending if name not in found]
    return found
