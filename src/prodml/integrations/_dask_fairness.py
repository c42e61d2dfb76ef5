"""Per-group fairness counts over Dask partitions (private; see ``prodml.integrations.dask``).

Each partition is counted on a worker into an empty copy of the GroupMetrics, the copies
merge in a tree, and the client adds the result: integer counts, so the outcome equals
one pass over ``data.compute()`` exactly, whatever the partitioning. The weight sums of a
``GroupMetrics(weighted=True)`` are float sums split where the partitions are: equal to
one pass to rounding (exactly for integer weights, as :meth:`GroupMetrics.merge`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import pandas as pd

from prodml._extras import require
from prodml._params import NONE, Interval, TypeOf, check_params
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.fairness import GroupMetrics
from prodml.integrations._dask_errors import _naming_files
from prodml.integrations._dask_frames import _frame, _shared, _tree_reduce
from prodml.integrations._dask_guard import guarded_parts, partition_files

if TYPE_CHECKING:
    from prodml.integrations.dask import _Data

__all__ = ["group_metrics"]


_Names: TypeAlias = tuple[str, str, str | None]  # y_true, y_pred, sample_weight


def _count_part(gm: GroupMetrics, part: pd.DataFrame, names: _Names, index: int) -> GroupMetrics:
    from prodml.integrations._dask_errors import _on_partition  # noqa: PLC0415 - no import cycle

    return _on_partition(index, _count, gm, part, names)


def _count(gm: GroupMetrics, part: pd.DataFrame, names: _Names) -> GroupMetrics:
    y_true, y_pred, weight = names
    w = None if weight is None else part[weight]
    return gm.clone().update(part[y_true], part[y_pred], part, sample_weight=w)


def _merge(*parts: GroupMetrics) -> GroupMetrics:
    out = parts[0]
    for other in parts[1:]:
        out.merge(other)
    return out


def group_metrics(
    gm: GroupMetrics,
    data: _Data,
    *,
    y_true: str,
    y_pred: str,
    sample_weight: str | None = None,
    split_every: int = 8,
) -> GroupMetrics:
    """Add every row of a Dask DataFrame or Parquet dataset to ``gm``, partition by partition.

    Parameters
    ----------
    gm
        The :class:`~prodml.fairness.GroupMetrics` to add to (its settings decide the
        groups and policies).
    data
        A Dask DataFrame, a pandas DataFrame, or a path or list of paths of Parquet files,
        with the ``y_true`` and ``y_pred`` columns and every sensitive column of ``gm``.
        A pandas frame's object columns keep their values (as ``gm.update`` sees them);
        a Dask DataFrame built with Dask's default string conversion has already turned
        them into text, so ``True`` and ``1`` there are the two groups ``"True"`` and
        ``"1"``.
    y_true, y_pred
        Names of the label and prediction (or score) columns.
    sample_weight
        Name of a column of record weights, for a ``GroupMetrics(weighted=True)``
        (:meth:`~prodml.fairness.GroupMetrics.update`'s ``sample_weight``); ``None``
        weighs every record 1.
    split_every
        Fan-in of the merge tree.

    Returns
    -------
    GroupMetrics
        ``gm``, with the data added: equal to ``gm.update(...)`` over all rows at once
        (with ``sample_weight``: the counts exactly, the weight sums to floating
        rounding, as :meth:`~prodml.fairness.GroupMetrics.merge` adds them).

    Raises
    ------
    SchemaError
        For a missing column, or bad labels or sensitive values (from the worker that
        met them); ``gm`` is unchanged then.
    PartitionError
        When a partition cannot be computed (read error, failing upstream code), naming
        the partition; ``gm`` is unchanged then.

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> df = pd.DataFrame({"y": [1, 0, 1, 1], "p": [1, 0, 0, 1], "sex": list("FFMM")})
    >>> gm = group_metrics(
    ...     GroupMetrics(["sex"], min_count=1),
    ...     dd.from_pandas(df, npartitions=2),
    ...     y_true="y",
    ...     y_pred="p",
    ... )
    >>> gm == GroupMetrics(["sex"], min_count=1).update(df["y"], df["p"], df)
    True
    """
    check_params(
        "group_metrics",
        {
            "gm": gm,
            "y_true": y_true,
            "y_pred": y_pred,
            "sample_weight": sample_weight,
            "split_every": split_every,
        },
        {
            "gm": [TypeOf(GroupMetrics, "a prodml.fairness.GroupMetrics")],
            "y_true": [TypeOf(str, "a column name")],
            "y_pred": [TypeOf(str, "a column name")],
            "sample_weight": [TypeOf(str, "a column name"), NONE],
            "split_every": [Interval(int, 2, None)],
        },
    )
    if sample_weight is not None and not gm.weighted:
        raise ConfigError(
            "group_metrics: sample_weight needs a GroupMetrics(weighted=True); this one "
            "counts records.",
            parameter="sample_weight",
        )
    dask = require("dask", extra="dask", feature="prodml.integrations.dask")
    if isinstance(data, pd.DataFrame):
        # Dask turns object columns into text by default: True and 1 (one group, refused
        # by GroupMetrics) would become the two groups "True" and "1", and a bool group's
        # label the text "True". A pandas frame keeps its values, as gm.update sees them.
        with dask.config.set({"dataframe.convert-string": False}):
            frame = _frame(data)
    else:
        frame = _frame(data)
    # once each: a repeated name (y_true == y_pred, a label that is also sensitive) would
    # select that column twice, and part[name] would be a frame
    weights = [] if sample_weight is None else [sample_weight]
    needed = list(dict.fromkeys([y_true, y_pred, *weights, *gm.sensitive]))
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SchemaError(
            problems=[
                SchemaProblem(c, "missing", "column is missing from the data") for c in missing
            ]
        )
    shared = _shared(gm.clone())
    parts = guarded_parts(frame[needed])
    leaves = [
        dask.delayed(_count_part)(shared, part, (y_true, y_pred, sample_weight), i)
        for i, part in enumerate(parts)
    ]
    with _naming_files(lambda index: partition_files(parts[index])):
        result: GroupMetrics = _tree_reduce(leaves, _merge, split_every)
    return gm.merge(result)
