"""Many short text columns dictionary-encoded at once, each as :func:`read_text` reads it.

Arrow's ``dictionary_encode`` has a cost per call besides its hashing, a good part of its
cost on a column of a thousand rows: a 1,000-column fit paid it 500 times, and a
transform again. :func:`read_texts` encodes the text columns of one view in one call
per group (their chunks share one dictionary), then finds each column's own dictionary,
in order of first appearance, with a few numpy passes over all the columns at once. The
result is :func:`read_text`'s for each column, code for code and value for value.

Only columns that certainly read as text take this path (arrow strings, or pandas text
that converts to them); any other column is left to :func:`read_text`, which words its
problem in the order the pipeline reads its columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from prodml._data import Columns
from prodml.features._base import Text

__all__ = ["read_texts"]

# Beyond some 2,000 rows a column's hashing outweighs the call it saves (CPU time, 64
# columns: 0.8x at 1,000 rows, 1.05x at 2,000, 1.15-1.3x at 4,000); groups stay under
# some 2**20 codes.
_MAX_ROWS = 1 << 10
_GROUP_CODES = 1 << 20
# Columns per call: a group with too many distinct values is encoded again one by one.
_GROUP_COLUMNS = 64
# Distinct values of a group beyond which the per-value passes cost more than they save.
_MAX_DISTINCT = 16


def _plain_text(cols: Columns, name: str) -> pa.Array | None:
    """The column as one arrow string array, when :func:`read_text` would encode it so."""
    if name not in cols:  # read_text words it, in the pipeline's order
        return None
    raw = cols.raw(name)
    if cols.kind(name, raw).kind != "string":
        return None
    if isinstance(raw, pd.Series) and isinstance(raw.dtype, pd.CategoricalDtype):
        return None
    arr = cols.arrow(name)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)


def read_texts(cols: Columns, names: Iterable[str]) -> dict[str, Text]:
    """:func:`~prodml.features._base.read_text` of those ``names`` it can batch.

    Columns it leaves out (other kinds, categoricals, long columns, groups of many
    distinct values) are absent from the answer: read them with ``read_text``.
    """
    if cols.num_rows == 0 or cols.num_rows > _MAX_ROWS:
        return {}
    by_type: dict[pa.DataType, list[tuple[str, pa.Array]]] = {}
    for name in names:
        flat = _plain_text(cols, name)
        if flat is not None:
            by_type.setdefault(flat.type, []).append((name, flat))
    out: dict[str, Text] = {}
    size = max(1, min(_GROUP_COLUMNS, _GROUP_CODES // cols.num_rows))
    for group in by_type.values():
        for start in range(0, len(group), size):
            part = group[start : start + size]
            if len(part) > 1 and not _encode_group(part, cols.num_rows, out):
                break  # many distinct values: the rest of these columns one by one
    return out


def _encode_group(part: list[tuple[str, pa.Array]], rows: int, out: dict[str, Text]) -> bool:
    """Encode ``part`` into ``out``; False (and nothing added) for too many distinct values."""
    try:
        # One array of every column's values: a ChunkedArray costs more per chunk.
        enc = pa.concat_arrays([a for _, a in part]).dictionary_encode()
    except pa.ArrowException:  # beyond 2 GiB of string data, say: one column at a time
        return False
    n = len(enc.dictionary)
    if n > _MAX_DISTINCT:
        return False
    idx = enc.indices
    # Global codes, one row per column; a null is code n.
    glob = np.asarray(
        (idx.fill_null(n) if idx.null_count else idx).to_numpy(), dtype=np.int64
    ).reshape(len(part), rows)
    # Where each global value first appears in each column (rows: absent).
    first = np.empty((len(part), n), dtype=np.int64)
    for d in range(n):
        hit = glob == d
        first[:, d] = np.where(hit.any(axis=1), hit.argmax(axis=1), rows)
    order = np.argsort(first, axis=1, kind="stable")  # first appearance first
    # A column's values are a prefix of its row of order: absent ones sort last.
    held = (first < rows).sum(axis=1).tolist()
    local = np.empty((len(part), n + 1), dtype=np.int64)
    np.put_along_axis(local, order, np.arange(n, dtype=np.int64)[None, :], axis=1)
    local[:, n] = -1
    # Rows of one array (steps never write into codes): a gather per column cost more.
    codes = local[np.arange(len(part))[:, None], glob]
    values = enc.dictionary.to_pylist()
    for i, ((name, _), ranked) in enumerate(zip(part, order.tolist(), strict=True)):
        out[name] = Text(codes[i], [values[d] for d in ranked[: held[i]]])
    return True
