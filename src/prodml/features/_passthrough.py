"""Passthrough: number columns handed to the model as they are, nulls kept as NaN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from prodml.features._base import NUMBER, Encoder, Floats, Step

__all__ = ["Passthrough"]


class Passthrough(Step):
    """Give number columns to the model unchanged, a null as NaN.

    For models that route missing values themselves (LightGBM, XGBoost, scikit-learn's
    ``HistGradientBoosting*``), as scikit-learn's ``"passthrough"`` in a
    ``ColumnTransformer``: each column is one output named after it, its value as
    float64 (ints and bools convert) and NaN for a null (None, NaN, ``pd.NA``), in
    :meth:`~prodml.features.FeaturePipeline.transform` and
    :meth:`~prodml.features.FeaturePipeline.transform_record` alike. It is the only
    step whose output may hold NaN. Infinities are refused as in every number column,
    and text or datetime columns are not numbers (encode them).

    Like an encoder it gives the column its final output, so no step may follow it;
    steps before it cannot take nulls (``Impute`` can, which leaves none to pass).

    Parameters
    ----------
    columns
        Number columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.features import FeaturePipeline, steps
    >>> df = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", "a"]})
    >>> pipe = FeaturePipeline([steps.Passthrough(["x"]), steps.OneHot(["c"])]).fit(df)
    >>> pipe.transform(df)
    array([[ 1.,  1.,  0.],
           [nan,  0.,  1.],
           [ 3.,  1.,  0.]])
    >>> pipe.transform_record({"x": None, "c": "b"})
    array([nan,  0.,  1.])
    """

    accepts: ClassVar[frozenset[str]] = frozenset({NUMBER})
    terminal = True
    takes_nulls = True

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = columns

    def names_out(self, column: str) -> list[str]:
        """The column's own name."""
        return [column]

    def write_batch(self, column: str, values: Any, out: Floats, kind: str) -> None:
        """Copy the values (NaN for nulls)."""
        out[:, 0] = values

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Write the value (NaN for a null)."""
        return [f"row[{offset}] = v"]

    def record_encoder(self, column: str, offset: int, kind: str) -> Encoder:
        """Write the value into the row."""

        def enc(v: Any, row: Floats) -> None:
            row[offset] = v

        return enc
