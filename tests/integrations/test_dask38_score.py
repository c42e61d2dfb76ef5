"""prodml.integrations.dask.score: the prediction column has the meta's dtype everywhere.

Text class labels (``classes_`` of ``object`` dtype) made an ``object`` meta while pandas
3 gave a non-empty partition's predictions the ``str`` dtype; an empty partition stayed
``object``. Dask cannot write an ``object`` meta to Parquet, so the ``to_parquet`` the
docstring recommends failed (``ArrowInvalid: Could not convert <object object ...>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
pytest.importorskip("sklearn", reason="needs scikit-learn (the 'dev' extra)")

import dask
import dask.dataframe as dd
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from prodml.features import FeaturePipeline, steps
from prodml.integrations import dask as pdask
from prodml.serving import Predictor

rng = np.random.default_rng(38)
N = 80
DF = pd.DataFrame(
    {
        "x": rng.normal(size=N),
        "c": pd.Series(rng.choice(["a", "b"], N), dtype="str"),
        "label": pd.Series(rng.choice(["no", "maybe", "yes"], N), dtype="str"),
    }
)
PIPE = FeaturePipeline([steps.OneHot(["c"])]).fit(DF[["x", "c"]])
X = PIPE.transform(DF[["x", "c"]])


def _frame() -> Any:
    empty = DF.iloc[:0]
    parts = [empty, DF.iloc[:30], empty, DF.iloc[30:31], DF.iloc[31:]]
    return dd.from_delayed(
        [dask.delayed(p[["x", "c"]]) for p in parts], meta=empty[["x", "c"]], verify_meta=False
    )


@pytest.mark.parametrize(
    "model",
    [LogisticRegression().fit(X, DF["label"]), DecisionTreeClassifier().fit(X, DF["label"])],
    ids=["logistic", "tree"],
)
def test_text_labels_have_one_dtype_and_write_to_parquet(model: Any, tmp_path: Path) -> None:
    predictor = Predictor(PIPE, model, output="predict")
    expected = predictor.predict_batch(DF[["x", "c"]])
    with dask.config.set(scheduler="sync"):
        lazy = pdask.score(predictor, _frame())
        meta = lazy._meta["prediction"].dtype
        assert meta == pd.Series(model.classes_).dtype  # pandas 3: str
        for part in lazy.to_delayed():  # empty partitions too
            assert part.compute()["prediction"].dtype == meta
        assert lazy.compute()["prediction"].tolist() == list(expected)
        lazy.to_parquet(tmp_path / "scored", write_index=False)
    back = pd.read_parquet(tmp_path / "scored")
    assert back["prediction"].tolist() == list(expected)


def test_numeric_outputs_keep_their_dtypes() -> None:
    y = (DF["label"] == "yes").astype("int64")
    with dask.config.set(scheduler="sync"):
        labels = pdask.score(
            Predictor(PIPE, LogisticRegression().fit(X, y), output="predict"), _frame()
        )
        proba = pdask.score(Predictor(PIPE, LogisticRegression().fit(X, y)), _frame())
        for lazy, dtype in ((labels, np.int64), (proba, np.float64)):
            assert lazy._meta["prediction"].dtype == dtype
            assert all(p.compute()["prediction"].dtype == dtype for p in lazy.to_delayed())


class _Float32Regression(LinearRegression):
    """A model whose predictions are float32 (as some boosting libraries return)."""

    def predict(self, X: Any) -> Any:
        return super().predict(X).astype(np.float32)


def test_float32_predictions_take_the_meta_float64() -> None:
    model = _Float32Regression().fit(X, DF["x"] * 3.0)
    predictor = Predictor(PIPE, model)
    expected = predictor.predict_batch(DF[["x", "c"]])
    assert expected.dtype == np.float32
    with dask.config.set(scheduler="sync"):
        lazy = pdask.score(predictor, _frame())
        assert lazy._meta["prediction"].dtype == np.float64
        for part in lazy.to_delayed():  # was float32 in the partitions that hold rows
            assert part.compute()["prediction"].dtype == np.float64
        got = lazy.compute()["prediction"].to_numpy()
    assert np.array_equal(got, expected.astype(np.float64))  # the cast is exact
