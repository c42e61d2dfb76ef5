"""Fairness: per-group metrics that stream and merge, honest intervals, bias gates.

:class:`GroupMetrics` keeps, for every group of people (each combination of the
sensitive features' values), the confusion counts of a binary classifier and, for
scores, their histograms: a mergeable state that is updated record by record or chunk by
chunk, merged across processes or Dask partitions, and saved as JSON.
:meth:`GroupMetrics.report` turns it into a :class:`FairnessReport` that reads like
fairlearn's ``MetricFrame`` (``by_group``, ``overall``, ``difference()``, ``ratio()``)
with the same numbers, plus a confidence interval for every group value and gap and a
test for every gap, corrected for testing many groups and metrics and with an effect
floor. :class:`FairnessGate` refuses a model whose gap is too wide, as a registry
promotion check or a rollout gate. :mod:`prodml.fairness.stats` holds the intervals and
tests.

Examples
--------
>>> import numpy as np
>>> from prodml.fairness import GroupMetrics
>>> rng = np.random.default_rng(0)
>>> n = 20_000
>>> sex = rng.choice(["F", "M"], n)
>>> y = rng.integers(0, 2, n)
>>> hit = rng.random(n) < np.where(sex == "F", 0.70, 0.80)  # the model finds fewer F positives
>>> pred = np.where(y == 1, hit, rng.random(n) < 0.1).astype(int)
>>> gm = GroupMetrics(sensitive=["sex"], metrics=["selection_rate", "tpr", "fpr"])
>>> for start in range(0, n, 5000):  # chunk by chunk
...     chunk = slice(start, start + 5000)
...     gm = gm.update(y[chunk], pred[chunk], {"sex": sex[chunk]})
>>> gap = gm.report().difference("tpr")
>>> round(gap.value, 3), gap.groups, gap.flagged
(0.109, ('sex=M', 'sex=F'), True)
"""

from __future__ import annotations

from prodml.fairness._functions import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    selection_rate,
)
from prodml.fairness._gaps import Gap
from prodml.fairness._gate import FairnessGate, GateVerdict
from prodml.fairness._group_metrics import GroupMetrics
from prodml.fairness._metrics import DEFAULT_METRICS, METRICS
from prodml.fairness._report import FairnessReport

# Plain sorted() order, which tests/test_public_api.py checks (RUF022 would put constants first).
__all__ = [  # noqa: RUF022
    "DEFAULT_METRICS",
    "FairnessGate",
    "FairnessReport",
    "Gap",
    "GateVerdict",
    "GroupMetrics",
    "METRICS",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "selection_rate",
]
