"""A compiled one-row path for scikit-learn's gradient boosting, equal to its own bit for bit.

scikit-learn spends most of a one-row ``predict_proba`` of a 100-tree
``GradientBoostingClassifier`` validating the input (about 1.8 million instructions; the
trees themselves take a few thousand). :func:`compiled_scorer` reads the fitted trees once
into flat arrays and walks them with a numba kernel doing exactly what scikit-learn's
``predict_stages`` does: each feature rounded to float32 and compared (as a double) with
the node's threshold, the raw score started at the init estimator's constant and each
stage's ``learning_rate * value`` (multiplied once here, as scikit-learn multiplies it on
every call, giving the same double) added in stage order; a classifier's probability is
``scipy.special.expit`` of that score, the function scikit-learn applies. A row scikit-learn
would reject (a NaN, or a value that is not finite as float32) goes to the model's own
method, so errors stay the model's own.

:class:`~prodml.serving._served.Served` checks the compiled path against the model's own
method on seeded rows when a version loads and serves without it on any difference. Needs
numba (the ``fast`` extra); ``PRODML_NO_JIT=1`` turns it off.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["compiled_scorer", "predict_trees"]


def predict_trees(
    x: np.ndarray, nodes: np.ndarray, numbers: np.ndarray, roots: np.ndarray, init: float
) -> float:
    """The raw score of one row: ``init`` plus each tree's leaf value, in tree order.

    ``nodes`` holds ``(left, right, feature)`` per node (``left < 0`` at a leaf) and
    ``numbers`` ``(threshold, scaled leaf value)``, node indices global across trees;
    ``roots`` the first node of each tree. NaN when a feature is NaN or not finite as
    float32 (the caller then asks the model itself).
    """
    for j in range(x.shape[0]):
        v = np.float32(x[j])
        if not np.isfinite(v):
            return math.nan
    acc = init
    for t in range(roots.shape[0]):
        node = roots[t]
        left = nodes[3 * node]
        while left >= 0:
            k = 3 * node
            if np.float64(np.float32(x[nodes[k + 2]])) <= numbers[2 * node]:
                node = left
            else:
                node = nodes[k + 1]
            left = nodes[3 * node]
        acc += numbers[2 * node + 1]
    return acc


_KERNEL: list[Callable[..., float] | None] = []


def _kernel() -> Callable[..., float] | None:
    if not _KERNEL:
        kernel = None
        if os.environ.get("PRODML_NO_JIT", "") in {"", "0"}:
            try:
                import numba  # noqa: PLC0415 - optional, imported on first use
            except ImportError:
                pass
            else:
                kernel = numba.njit(cache=True, nogil=True)(predict_trees)
        _KERNEL.append(kernel)
    return _KERNEL[0]


def _constant_init(model: Any, width: int) -> float | None:
    """The init estimator's raw score when it is a constant (the default), else None."""
    init = getattr(model, "init_", None)
    if isinstance(init, str):
        return 0.0 if init == "zero" else None
    kind = type(init).__name__
    strategy = getattr(init, "strategy", None)
    constant = (kind == "DummyClassifier" and strategy == "prior") or (
        kind == "DummyRegressor" and strategy in {"mean", "median", "quantile", "constant"}
    )
    if not constant:
        return None
    raw = np.asarray(model._raw_predict_init(np.zeros((1, width), dtype=np.float32)))
    return float(raw.reshape(-1)[0]) if raw.size == 1 else None


def _flat_trees(model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nodes, numbers, roots = [], [], []
    start = 0
    rate = float(model.learning_rate)
    for est in model.estimators_[:, 0]:
        tree = est.tree_
        left = np.asarray(tree.children_left, dtype=np.int64)
        inner = left >= 0
        right = np.asarray(tree.children_right, dtype=np.int64)
        nodes.append(
            np.stack(
                [
                    np.where(inner, left + start, -1),
                    np.where(inner, right + start, -1),
                    np.asarray(tree.feature, dtype=np.int64),
                ],
                axis=1,
            )
        )
        scaled = rate * np.asarray(tree.value, dtype=np.float64)[:, 0, 0]
        numbers.append(np.stack([np.asarray(tree.threshold, dtype=np.float64), scaled], axis=1))
        roots.append(start)
        start += len(left)
    return (
        np.ascontiguousarray(np.concatenate(nodes).reshape(-1)),
        np.ascontiguousarray(np.concatenate(numbers).reshape(-1)),
        np.asarray(roots, dtype=np.int64),
    )


def compiled_scorer(
    model: Any, output: str, own: Callable[[np.ndarray], Any]
) -> Callable[[np.ndarray], Any] | None:
    """A one-row scorer equal to ``own`` (the model's scorer), or None when unsupported.

    Supported: a fitted ``GradientBoostingClassifier`` (binary, log-loss; ``output``
    ``"proba"`` or ``"decision_function"``) or ``GradientBoostingRegressor`` (``"predict"``)
    with the default (constant) init estimator, when numba is installed.
    """
    kind = type(model).__name__
    if type(model).__module__.split(".")[0] != "sklearn" or kind not in {
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
    }:
        return None
    if kind == "GradientBoostingClassifier":
        loss = type(getattr(model, "_loss", None)).__name__
        if loss != "HalfBinomialLoss" or output not in {"proba", "decision_function"}:
            return None
    elif output != "predict":
        return None
    estimators = getattr(model, "estimators_", None)
    if estimators is None or estimators.ndim != 2 or estimators.shape[1] != 1:
        return None
    kernel = _kernel()
    width = int(getattr(model, "n_features_in_", 0))
    init = _constant_init(model, width) if kernel is not None else None
    if kernel is None or init is None:
        return None
    nodes, numbers, roots = _flat_trees(model)
    if output == "proba":
        from scipy.special import expit  # noqa: PLC0415 - the function scikit-learn applies

        def score_proba(x: np.ndarray) -> Any:
            raw = kernel(x, nodes, numbers, roots, init)
            return own(x) if raw != raw else float(expit(raw))  # noqa: PLR0124 - NaN

        return score_proba

    def score_raw(x: np.ndarray) -> Any:
        raw = kernel(x, nodes, numbers, roots, init)
        return own(x) if raw != raw else raw  # noqa: PLR0124 - NaN

    return score_raw
