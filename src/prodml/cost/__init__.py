"""Cost estimators: what a model costs to train, serve and keep fresh.

Every estimator returns a :class:`CostEstimate` ``(low, expected, high, breakdown,
assumptions)``. Inputs accept a point value, a ``(low, mode, high)`` triple (triangular) or
a frozen ``scipy.stats`` distribution; with uncertain inputs a seeded, vectorised Monte
Carlo gives p10/p50/p90 and ranks the inputs that drive the spread.

- training: :func:`training_cost`, :func:`training_cost_from_run`
- serving: :func:`serving_cost`, :func:`batch_scoring_cost`, :func:`break_even_volume`,
  :func:`erlang_c`
- spot and checkpointing: :func:`young_interval`, :func:`daly_interval`,
  :func:`daly_wall_time`, :func:`simulate_wall_time`, :func:`spot_cost`
- retraining: :func:`fit_decay`, :func:`optimal_retrain_interval`, :func:`should_retrain`
- storage: :func:`storage_cost`, :func:`egress_cost`
- comparing options: :func:`compare`, :func:`plot_comparison`
- prices: :func:`load_catalog`, :class:`PriceCatalog`, :class:`UnpricedError`

Examples
--------
>>> from prodml.cost import serving_cost
>>> est = serving_cost(peak_rps=(100, 150, 300), latency_s=0.05, price_per_replica_hour=0.17)
>>> est.unit, est.low <= est.expected <= est.high, list(est.sensitivity)
('per month', True, ['peak_rps'])
"""

from __future__ import annotations

from prodml.cost._catalog import (
    Accelerator,
    Instance,
    Price,
    PriceCatalog,
    StaleCatalogWarning,
    Tier,
    TieredPrice,
    UnpricedError,
    load_catalog,
)
from prodml.cost._checkpoint import (
    WallTimeSimulation,
    daly_interval,
    daly_wall_time,
    simulate_wall_time,
    spot_break_even_ratio,
    spot_cost,
    young_interval,
)
from prodml.cost._compare import (
    BatchOption,
    BreakEven,
    RealtimeOption,
    break_even_volume,
    compare,
    markdown_table,
    plot_comparison,
)
from prodml.cost._estimate import CostEstimate, simulate
from prodml.cost._inputs import Distribution, Uncertain, pert, triangular
from prodml.cost._queueing import erlang_c, mmc_response_quantile, mmc_response_survival
from prodml.cost._retraining import (
    DecayCurve,
    RetrainDecision,
    RetrainPlan,
    fit_decay,
    optimal_retrain_interval,
    should_retrain,
)
from prodml.cost._serving import batch_scoring_cost, serving_cost
from prodml.cost._storage import egress_cost, storage_cost
from prodml.cost._training import training_cost, training_cost_from_run

__all__ = [
    "Accelerator",
    "BatchOption",
    "BreakEven",
    "CostEstimate",
    "DecayCurve",
    "Distribution",
    "Instance",
    "Price",
    "PriceCatalog",
    "RealtimeOption",
    "RetrainDecision",
    "RetrainPlan",
    "StaleCatalogWarning",
    "Tier",
    "TieredPrice",
    "Uncertain",
    "UnpricedError",
    "WallTimeSimulation",
    "batch_scoring_cost",
    "break_even_volume",
    "compare",
    "daly_interval",
    "daly_wall_time",
    "egress_cost",
    "erlang_c",
    "fit_decay",
    "load_catalog",
    "markdown_table",
    "mmc_response_quantile",
    "mmc_response_survival",
    "optimal_retrain_interval",
    "pert",
    "plot_comparison",
    "serving_cost",
    "should_retrain",
    "simulate",
    "simulate_wall_time",
    "spot_break_even_ratio",
    "spot_cost",
    "storage_cost",
    "training_cost",
    "training_cost_from_run",
    "triangular",
    "young_interval",
]
