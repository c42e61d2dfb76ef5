"""Feature pipelines: one fitted object, identical answers in training and in serving.

A :class:`FeaturePipeline` chains :mod:`~prodml.features.steps` (imputation, scaling,
encoding, date parts, registered numpy functions). It fits on a DataFrame, a pyarrow
Table or an iterable of chunks with mergeable statistics, transforms batches into a
float64 matrix, and transforms single dict records without pandas into exactly the
same floats. It saves as versioned JSON and works inside scikit-learn pipelines.

Examples
--------
>>> import pandas as pd
>>> from prodml.features import FeaturePipeline, steps
>>> df = pd.DataFrame({"x": [1.0, 2.0, None], "city": ["a", "b", "a"]})
>>> pipe = FeaturePipeline([steps.Impute(["x"], strategy="median"), steps.OneHot(["city"])]).fit(df)
>>> pipe.transform(df)
array([[1. , 1. , 0. ],
       [2. , 0. , 1. ],
       [1.5, 1. , 0. ]])
"""

from __future__ import annotations

from prodml.features import steps
from prodml.features.pipeline import ExtraColumnWarning, FeaturePipeline

__all__ = ["ExtraColumnWarning", "FeaturePipeline", "steps"]
