"""Scoring Dask partitions with a :class:`~prodml.serving.Predictor`'s model.

Only the served version's pipeline, model, schema and output kind travel to the workers
(never the predictor, its registry connection, monitor or threads); each partition is
validated, transformed and scored exactly as :meth:`Predictor.predict_batch` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from prodml._params import TypeOf, check_params
from prodml.errors import SchemaError, SchemaProblem
from prodml.integrations._dask_guard import guarded_map

if TYPE_CHECKING:
    import dask.dataframe as dd

    from prodml.integrations.dask import _Data
    from prodml.serving import Predictor

__all__ = ["score"]


def _score_part(
    part: pd.DataFrame,
    bundle: tuple[Any, ...],
    keep: list[str],
    dtype: Any,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    from prodml.integrations._dask_errors import _on_partition  # noqa: PLC0415
    from prodml.integrations._dask_frames import _number  # noqa: PLC0415

    return _on_partition(_number(partition_info), _score, part, bundle, keep, dtype)


def _score(
    part: pd.DataFrame, bundle: tuple[Any, ...], keep: list[str], dtype: Any
) -> pd.DataFrame:
    from prodml.serving._served import Served  # noqa: PLC0415 - built once per partition

    out = part[keep].copy() if keep else pd.DataFrame(index=part.index)
    if len(part) == 0:  # partitioning left it empty: no rows to score (models refuse 0 rows)
        out["prediction"] = pd.Series(dtype=dtype, index=part.index)
        return out
    pipeline, model, schema, output, variant = bundle
    served = Served(pipeline, model, schema=schema, output=output)
    out["prediction"] = served.score_table(part, variant)
    if out["prediction"].dtype != dtype:  # one dtype in every partition, as the meta's
        out["prediction"] = out["prediction"].astype(dtype)
    return out


def _prediction_dtype(served: Any) -> Any:
    """The dtype of the ``prediction`` column: ``float64``, or the classes' as a column.

    Class labels take the dtype pandas gives them in a column (pandas 3: ``str`` for
    text labels, where the model's ``classes_`` are ``object``), the dtype a partition's
    predictions get: an ``object`` meta would disagree with the partitions, and Dask
    cannot write one to Parquet.
    """
    classes = getattr(served.model, "classes_", None)
    if served.output != "predict" or classes is None:
        return "float64"
    if len(classes) == 0:
        return getattr(classes, "dtype", None)
    return pd.Series(classes).dtype


def score(
    predictor: Predictor,
    data: _Data,
    *,
    keep_columns: Sequence[str] = (),
    variant: str | None = None,
) -> dd.DataFrame:
    """Score every partition lazily with one variant's model (no routing, no monitor).

    Parameters
    ----------
    predictor
        A :class:`~prodml.serving.Predictor`.
    data
        A Dask DataFrame, or a path or list of paths of Parquet files.
    keep_columns
        Input columns copied next to ``prediction``: names, or one name.
    variant
        Which variant's model; default the predictor's first.

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy: ``keep_columns`` and ``prediction``, with the input's index and
        partitions; ``prediction`` equals ``predictor.predict_batch`` on each partition
        (an empty partition gives no rows). The model may round its last bit differently
        on batches of other sizes (BLAS), so equal to scoring all rows at once only as
        far as the model is.
        ``prediction`` is ``float64``, or with ``output="predict"`` the dtype pandas
        gives the model's class labels in a column (``str`` for text labels under
        pandas 3), in every partition. Write it with ``to_parquet``
        (``custom_metadata`` can carry the model version).

    Raises
    ------
    SchemaError
        For a missing column (at once), or a bad value (from the worker, on compute).
    PartitionError
        On compute, when a partition of ``data`` cannot be computed (read error, failing
        upstream code), naming the partition.

    Examples
    --------
    >>> import dask.dataframe as dd, numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from prodml.features import FeaturePipeline, steps
    >>> from prodml.integrations import dask as pdask
    >>> from prodml.serving import Predictor
    >>> df = pd.DataFrame({"id": range(8), "x": np.arange(8.0)})
    >>> pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(df[["x"]])
    >>> model = LogisticRegression().fit(pipe.transform(df[["x"]]), [0] * 4 + [1] * 4)
    >>> pred = Predictor(pipe, model)
    >>> out = pdask.score(pred, dd.from_pandas(df, npartitions=3), keep_columns=["id"])
    >>> bool((out.compute().prediction.to_numpy() == pred.predict_batch(df)).all())
    True
    """
    from prodml.integrations._dask_frames import _frame, _shared  # noqa: PLC0415 - no import cycle
    from prodml.serving import Predictor  # noqa: PLC0415
    from prodml.serving._score import keep_list  # noqa: PLC0415

    check_params(
        "score",
        {"predictor": predictor},
        {"predictor": [TypeOf(Predictor, "a prodml.serving.Predictor")]},
    )
    state = predictor._state
    variant = state.home if variant is None else variant
    served = predictor._served(state, variant)
    frame = _frame(data)
    keep = keep_list(keep_columns)
    have = set(frame.columns)
    missing = [c for c in [*served.schema.names, *keep] if c not in have]
    if missing:
        raise SchemaError(
            problems=[
                SchemaProblem(c, "missing", "column is missing from the input") for c in missing
            ]
        )
    bundle = _shared((served.pipeline, served.model, served.schema, served.output, variant))
    meta = frame._meta[keep].copy() if keep else pd.DataFrame(index=frame._meta.index)
    meta["prediction"] = pd.Series(dtype=_prediction_dtype(served))
    dtype = meta["prediction"].dtype
    return guarded_map(frame, _score_part, bundle, keep, dtype, meta=meta)
