"""Settings and fitted state read back from prodml objects (run by tests/test_typing_user.py).

A user's editor (VS Code: pyright) and mypy both see these attributes with the types
below: each value lands in a variable annotated as a user would annotate it, and
``assert_type`` pins the ones that were ``Any`` or inferred differently by each checker
before prodml declared them (scikit-learn's untyped base made a pipeline's steps ``Any``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from typing_extensions import assert_type

from prodml.drift import ADWIN, CUSUM, DriftDetector, PageHinkley, Profile
from prodml.errors import NotFoundError
from prodml.fairness import GroupMetrics
from prodml.features import FeaturePipeline, steps
from prodml.monitoring import Histogram, ModelMonitor
from prodml.monitoring.windows import Window
from prodml.rollout import Router


def main() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(["a", "b"], 200)})

    # Streaming detectors keep their settings as plain typed attributes.
    adwin = ADWIN(delta=0.01)
    delta: float = adwin.delta
    clock: int = adwin.clock
    assert (delta, clock) == (0.01, 32)
    cusum = CUSUM(k=0.5, h=5.0)
    target: float | None = cusum.target
    assert target is None
    page_hinkley = PageHinkley(mode="up")
    mode: str = page_hinkley.mode
    assert mode == "up"

    # A fitted detector keeps its reference profile.
    detector = DriftDetector().fit(frame)
    reference: Profile = detector.reference_
    assert_type(detector.reference_, Profile)
    n_rows: int = reference.n_rows
    assert n_rows == 200

    # A fitted pipeline: its steps' state per column, and scikit-learn's parameters.
    scale = steps.StandardScale(["x"])
    one_hot = steps.OneHot(["c"])
    pipe = FeaturePipeline([steps.Impute(["x"], strategy="median"), scale, one_hot])
    assert_type(pipe.fit(frame), FeaturePipeline)
    means: dict[str, float] = scale.mean_
    assert_type(scale.mean_, dict[str, float])
    assert_type(one_hot.categories_, dict[str, list[str]])
    assert abs(means["x"] - float(frame["x"].mean())) < 1e-12
    assert one_hot.categories_ == {"c": ["a", "b"]}
    params = pipe.get_params(deep=False)
    assert_type(params, dict[str, Any])
    assert params["strict"] is False
    strict: FeaturePipeline = pipe.set_params(strict=True)
    assert strict is pipe
    width: int = pipe.n_features_in_
    assert width == 2

    # Monitoring: a histogram's running figures, a monitor's window and threshold.
    histogram = Histogram([0.1, 1.0])
    histogram.observe(0.5)
    count: int = histogram.count
    total: float = histogram.sum
    assert (count, total) == (1, 0.5)
    monitor = ModelMonitor("churn", evaluate_every_s=None)
    assert_type(monitor.window, Window)
    threshold: float = monitor.threshold
    assert threshold == 0.5

    # Rollout and fairness settings.
    router = Router({"candidate": 0.25, "stable": 0.75})
    assert_type(router.weights, Mapping[str, float])
    router.set_weights({"candidate": 0.5, "stable": 0.5})
    assert dict(router.weights) == {"candidate": 0.5, "stable": 0.5}
    group_metrics = GroupMetrics(["sex"], ["tpr"], alpha=0.01)
    alpha: float = group_metrics.alpha
    assert alpha == 0.01

    # NotFoundError, a KeyError, reads as written (not quoted as a KeyError would be).
    message: str = str(NotFoundError("no model named 'churn'"))
    assert message == "no model named 'churn'"


if __name__ == "__main__":
    main()
