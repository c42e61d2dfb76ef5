"""The controller's cost model: what one retraining costs and what a metric drop costs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prodml._durations import seconds as as_seconds
from prodml._params import NONE, Interval, Predicate, check_params
from prodml.cost import DecayCurve, RetrainPlan, optimal_retrain_interval
from prodml.errors import ConfigError

__all__ = ["CURRENCY", "RetrainCost"]

CURRENCY = Predicate(
    lambda v: isinstance(v, str) and 0 < len(v) <= 16 and v.isprintable() and v.strip() == v,
    "a currency code (a str of 1 to 16 characters, e.g. 'USD')",
)


def _seconds(value: Any, parameter: str) -> float:
    return as_seconds(value, parameter, "RetrainCost")


@dataclass(frozen=True)
class RetrainCost:
    """What a retraining costs and what the model's metric drop costs, for the controller.

    Parameters
    ----------
    retrain_cost
        Cost of one retraining (compute, review), in currency.
    value_per_unit
        Cost of one unit of metric drop during one time unit (e.g. 0.01 accuracy lost
        for a day costs ``0.01 * value_per_unit``).
    horizon
        How far ahead a retraining's benefit is counted (seconds or a timedelta): a drop
        ``d`` that a retraining removes is worth ``value_per_unit * d * horizon``.
    time_unit
        The time unit of ``value_per_unit`` and of ``curve`` (default: one day).
    curve
        A fitted :class:`~prodml.cost.DecayCurve` (age in ``time_unit``), for
        :class:`CostTrigger` and :meth:`plan`.
    currency
        The currency of ``retrain_cost`` and ``value_per_unit`` (e.g. the ``currency`` of
        the :class:`~prodml.cost.CostEstimate` the cost came from), or ``None``
        (unstated). A controller refuses a ``Guards(budget=..., currency=...)`` in another
        currency: prodml does not convert currencies.

    Examples
    --------
    >>> cost = RetrainCost(1_000.0, value_per_unit=20_000.0, horizon=timedelta(days=7))
    >>> cost.expected_loss(0.02)
    2800.0
    >>> cost.pays(0.005)
    False
    >>> round(cost.break_even_drop, 5)
    0.00714
    """

    retrain_cost: float
    value_per_unit: float
    horizon: float | timedelta = timedelta(days=7)
    time_unit: float | timedelta = timedelta(days=1)
    curve: DecayCurve | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        check_params(
            "RetrainCost",
            {
                "retrain_cost": self.retrain_cost,
                "value_per_unit": self.value_per_unit,
                "currency": self.currency,
            },
            {
                "retrain_cost": [Interval(float, 0, None)],
                "value_per_unit": [Interval(float, 0, None, "neither")],
                "currency": [CURRENCY, NONE],
            },
        )
        _seconds(self.horizon, "horizon")
        _seconds(self.time_unit, "time_unit")
        if self.curve is not None and not isinstance(self.curve, DecayCurve):
            raise ConfigError(
                f"RetrainCost: curve must be a DecayCurve. Got {type(self.curve).__name__}.",
                parameter="curve",
            )

    @property
    def time_unit_s(self) -> float:
        """The time unit in seconds."""
        return _seconds(self.time_unit, "time_unit")

    @property
    def horizon_units(self) -> float:
        """The horizon in time units."""
        return _seconds(self.horizon, "horizon") / self.time_unit_s

    def expected_loss(self, drop: float) -> float:
        """What a metric drop of ``drop`` costs over the horizon if nothing is done."""
        return self.value_per_unit * max(0.0, float(drop)) * self.horizon_units

    @property
    def break_even_drop(self) -> float:
        """The metric drop whose loss over the horizon equals one retraining's cost."""
        return float(self.retrain_cost) / (self.value_per_unit * self.horizon_units)

    def pays(self, drop: float) -> bool:
        """Whether removing a drop of ``drop`` is worth one retraining.

        Exactly when ``drop`` is above :attr:`break_even_drop` (compared with it, not by
        multiplying back: ``value * (cost / (value * units)) * units`` rounds above
        ``cost`` for about one setting in six, and the break-even drop itself paid).
        """
        return float(drop) > self.break_even_drop

    def plan(self, curve: DecayCurve | None = None) -> RetrainPlan:
        """The cheapest retraining interval (:func:`~prodml.cost.optimal_retrain_interval`)."""
        use = curve if curve is not None else self.curve
        if use is None:
            raise ConfigError("RetrainCost.plan needs a curve.", parameter="curve")
        return optimal_retrain_interval(
            max(self.retrain_cost, 1e-12), curve=use, value_per_unit=self.value_per_unit
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings (the curve as all its fields; NaN as ``None``)."""
        curve = self.curve
        return {
            "retrain_cost": float(self.retrain_cost),
            "value_per_unit": float(self.value_per_unit),
            "horizon_s": self.horizon_units * self.time_unit_s,
            "time_unit_s": self.time_unit_s,
            "curve": None
            if curve is None
            else {
                "kind": curve.kind,
                "initial": curve.initial,
                "rate": curve.rate,
                # NaN (no floor, no fit) as None: JSON has no NaN
                "floor": None if math.isnan(curve.floor) else curve.floor,
                "higher_is_better": curve.higher_is_better,
                "rmse": None if math.isnan(curve.rmse) else curve.rmse,
            },
            "currency": self.currency,
        }
