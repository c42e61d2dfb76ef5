"""Retraining: a controller that keeps a model fresh, from a trigger to a promoted version.

:class:`RetrainController` closes the loop that the other modules open: it looks at its
triggers (:class:`AlertTrigger` on monitor alerts, :class:`DriftTrigger` on drift
reports, :class:`ConceptDriftTrigger` on a streaming detector fed with the error
stream, :class:`ScheduleTrigger`, :class:`CostTrigger` on
:func:`prodml.cost.should_retrain`), weighs a measured drop against the cost of
retraining (:class:`RetrainCost`) and the :class:`Guards`, builds the training set
(:class:`StoreTrainingData` reads it point-in-time correct from the feature store;
:func:`change_window` starts it at the change a trigger dated),
calls the user's ``train``, registers the candidate with its lineage, runs the
promotion checks and a canary, and promotes or rolls back. Its state is versioned JSON,
written before every side effect, so a killed process resumes without registering a
candidate twice or losing a decision.

Examples
--------
>>> from datetime import timedelta
>>> import pandas as pd
>>> from sklearn.dummy import DummyRegressor
>>> from prodml.registry import ModelRegistry
>>> from prodml.retrain import RetrainController, ScheduleTrigger
>>> reg = ModelRegistry("memory://", "memory://retrain-init-doc")
>>> ctl = RetrainController(
...     registry=reg,
...     model="churn",
...     alias="production",
...     train=lambda data, ctx: (None, DummyRegressor().fit(data, data["x"]), {}),
...     triggers=[ScheduleTrigger(timedelta(days=7))],
...     data=lambda ctx: pd.DataFrame({"x": [1.0, 2.0]}),
... )
>>> [ctl.step(day * 86400.0).action for day in (0, 1, 7)]
['promote', 'none', 'promote']
>>> [d.action for d in ctl.decisions]
['retrain', 'register', 'advance', 'promote', 'none', 'retrain', 'register', 'advance', 'promote']
"""

from __future__ import annotations

from prodml.retrain._controller import (
    Action,
    RetrainController,
    RunContext,
)
from prodml.retrain._cost import RetrainCost
from prodml.retrain._data import StoreTrainingData, change_window
from prodml.retrain._guards import Guards
from prodml.retrain._sequential import ErrorRateTrigger
from prodml.retrain._state import RetrainState, RetrainStateError
from prodml.retrain._triggers import (
    AlertTrigger,
    ConceptDriftTrigger,
    CostTrigger,
    DriftTrigger,
    ScheduleTrigger,
    Signal,
    Trigger,
    TriggerContext,
)
from prodml.retrain._writer import RetrainConflictError

__all__ = [
    "Action",
    "AlertTrigger",
    "ConceptDriftTrigger",
    "CostTrigger",
    "DriftTrigger",
    "ErrorRateTrigger",
    "Guards",
    "RetrainConflictError",
    "RetrainController",
    "RetrainCost",
    "RetrainState",
    "RetrainStateError",
    "RunContext",
    "ScheduleTrigger",
    "Signal",
    "StoreTrainingData",
    "Trigger",
    "TriggerContext",
    "change_window",
]
