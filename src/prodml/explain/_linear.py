"""Exact attributions of linear models (closed form, interventional w.r.t. a background).

For a model ``f(x) = intercept + coef . x`` and a background whose feature means are
``mean``, the interventional Shapley value of feature ``j`` is ``coef[j] * (x[j] - mean[j])``
and the base value is ``f(mean)``: that is exactly what ``shap.LinearExplainer`` computes
with its default (interventional) perturbation. Classifiers are explained on the margin
(log-odds for logistic regression), where the model is linear.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = ["LinearKernel", "linear_from_model", "output_scale"]

Floats = npt.NDArray[np.float64]


class LinearKernel:
    """Fitted linear attribution state: coefficients, intercept, background means."""

    method = "linear"

    def __init__(self, coef: Floats, intercept: float, mean: Floats, scale: str) -> None:
        self.coef = coef
        self.intercept = intercept
        self.mean = mean
        self.scale = scale
        # base = f(mean), summed feature by feature in a fixed order (as the record path).
        base = intercept
        for c, m in zip(coef.tolist(), mean.tolist(), strict=True):
            base = base + c * m
        self.base = base

    @property
    def n_features(self) -> int:
        return int(self.coef.size)

    def attribute(self, X: Floats, groups: list[list[int]]) -> tuple[Floats, Floats]:  # noqa: N803
        """Grouped attributions ``(n, len(groups))`` and model outputs ``(n,)`` of a batch.

        Column by column (the pipeline's output is Fortran-ordered), with the float
        operations of :meth:`attribute_one` in the same order.
        """
        X = np.asfortranarray(X)  # noqa: N806 - a no-op for the pipeline's output
        n = X.shape[0]
        coef, mean = self.coef.tolist(), self.mean.tolist()
        out = np.empty((n, len(groups)), order="F")
        tmp = np.empty(n)
        for g, idx in enumerate(groups):
            acc = out[:, g]
            np.subtract(X[:, idx[0]], mean[idx[0]], out=acc)
            acc *= coef[idx[0]]
            for j in idx[1:]:
                np.subtract(X[:, j], mean[j], out=tmp)
                tmp *= coef[j]
                acc += tmp
        pred = np.full(n, self.intercept)
        for j in range(X.shape[1]):
            np.multiply(X[:, j], coef[j], out=tmp)
            pred += tmp
        return np.ascontiguousarray(out), pred

    def attribute_one(self, x: Floats, groups: list[list[int]]) -> tuple[list[float], float]:
        """The same floats as one row of :meth:`attribute`, in plain Python."""
        phi = ((x - self.mean) * self.coef).tolist()
        values = []
        for idx in groups:
            acc = phi[idx[0]]
            for j in idx[1:]:
                acc = acc + phi[j]
            values.append(acc)
        pred = self.intercept
        for xj, cj in zip(x.tolist(), self.coef.tolist(), strict=True):
            pred = pred + xj * cj
        return values, pred

    def to_dict(self) -> dict[str, Any]:
        return {
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "mean": self.mean.tolist(),
            "scale": self.scale,
        }


def _output_row(coef: np.ndarray, intercept: np.ndarray, class_index: int | None) -> Any:
    if coef.ndim == 1:
        return coef, float(np.ravel(intercept)[0]) if np.size(intercept) else 0.0
    k = coef.shape[0]
    if k == 1:
        if class_index not in (None, 1):
            raise ConfigError(
                "a binary linear classifier is explained for class 1 (its margin); "
                f"class_index {short_repr(class_index)} is not supported",
                parameter="class_index",
            )
        return coef[0], float(np.ravel(intercept)[0])
    if class_index is None or not 0 <= class_index < k:
        raise ConfigError(
            f"The 'class_index' parameter of Explainer must be an int in [0, {k}) for a "
            f"model with {k} outputs. Got {short_repr(class_index)} instead.",
            parameter="class_index",
        )
    return coef[class_index], float(np.ravel(intercept)[class_index])


def linear_from_model(
    model: Any, background: Floats, class_index: int | None
) -> LinearKernel | None:
    """A LinearKernel for a fitted scikit-learn linear model, or None if it is not one."""
    coef = getattr(model, "coef_", None)
    module = type(model).__module__
    if coef is None or not module.startswith("sklearn.linear_model"):
        return None
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(getattr(model, "intercept_", 0.0), dtype=np.float64)
    row, b = _output_row(coef, intercept, class_index)
    row = np.ascontiguousarray(row, dtype=np.float64)
    if row.size != background.shape[1]:
        raise ConfigError(
            f"the model has {row.size} coefficients but the pipeline gives "
            f"{background.shape[1]} features",
            parameter="model",
        )
    scale = output_scale(model)
    mean = background.mean(axis=0)
    return LinearKernel(row, b, np.ascontiguousarray(mean), scale)


# Objectives whose trees or linear predictor give the log of the prediction.
_LOG_OBJECTIVES = ("poisson", "gamma", "tweedie", "count:poisson", "reg:gamma", "reg:tweedie")
# Regressor objectives whose trees give the log-odds of the prediction (a probability).
_LOGIT_OBJECTIVES = ("reg:logistic", "binary:logistic", "cross_entropy", "xentropy", "binary")


def output_scale(model: Any) -> str:
    """The scale a model's margin (linear predictor, sum of trees) is on.

    ``"margin"`` (log-odds) for classifiers, and for regressors with a logistic
    objective (XGBoost ``reg:logistic``, LightGBM ``cross_entropy``), whose output is
    ``expit(margin)``; ``"log"`` for regressors with a log link
    (scikit-learn's Poisson, Gamma and Tweedie GLMs and HistGradientBoosting losses,
    LightGBM's and XGBoost's poisson/gamma/tweedie objectives), whose output is
    ``exp(margin)``; ``"raw"`` (the model's own output) otherwise.
    """
    if hasattr(model, "classes_"):
        return "margin"
    for attr in ("_base_loss", "_loss"):  # scikit-learn GLMs, HistGradientBoosting
        link = getattr(getattr(model, attr, None), "link", None)
        if type(link).__name__ == "LogLink":
            return "log"
    objective = getattr(model, "objective_", None) or getattr(model, "objective", None)
    if isinstance(objective, str) and objective in _LOG_OBJECTIVES:
        return "log"
    if isinstance(objective, str) and objective in _LOGIT_OBJECTIVES:
        return "margin"
    return "raw"
