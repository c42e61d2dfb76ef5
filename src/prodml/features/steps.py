"""Feature steps for :class:`~prodml.features.FeaturePipeline`.

Each step names its input columns; a column flows through the steps that name it, in
pipeline order. *Value* steps (Impute, StandardScale, MinMaxScale, RobustScale, Clip,
Log1p, Function) keep one value per column; *encoders* (OneHot, Ordinal, Hashing,
Bucketize, DateParts) give a column its final output features, so nothing may follow
them on that column. Passthrough hands a number column to the model as it is, nulls as
NaN (for models that route missing values themselves).

Examples
--------
>>> from prodml.features import steps
>>> steps.OneHot(["city"], max_categories=20)
OneHot(columns=['city'], max_categories=20)
"""

from __future__ import annotations

from prodml.features._dates import DateParts
from prodml.features._encoders import Bucketize, Hashing, OneHot, Ordinal
from prodml.features._functions import Clip, Function, Log1p, get_function, register_function
from prodml.features._numeric import Impute, MinMaxScale, RobustScale, StandardScale
from prodml.features._passthrough import Passthrough

__all__ = [
    "Bucketize",
    "Clip",
    "DateParts",
    "Function",
    "Hashing",
    "Impute",
    "Log1p",
    "MinMaxScale",
    "OneHot",
    "Ordinal",
    "Passthrough",
    "RobustScale",
    "StandardScale",
    "get_function",
    "register_function",
]
