"""Serving cost: real-time replicas sized by Little's law, and batch scoring."""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from prodml._params import NONE, Interval, OneOf, check_params
from prodml.cost._estimate import Arrays, CostEstimate, evaluate
from prodml.cost._inputs import Uncertain, as_inputs
from prodml.cost._queueing import erlang_c, mmc_response_quantile
from prodml.errors import ConfigError

__all__ = ["HOURS_PER_MONTH", "batch_scoring_cost", "serving_cost"]

FloatArray: TypeAlias = npt.NDArray[np.float64]

HOURS_PER_MONTH = 730.0
"""Average hours in a month (8760 / 12), the convention of cloud price calculators."""

_POS = Interval(float, 0, None, "neither")
_NONNEG = Interval(float, 0, None, "both")


def _replicas(
    peak_rps: FloatArray, throughput: FloatArray, utilization: float, min_replicas: int
) -> FloatArray:
    # The 1e-9 guard keeps an exact fit (e.g. 70 rps on 100 rps at 0.7) from rounding up.
    need = np.ceil(peak_rps / (utilization * throughput) - 1e-9)
    return np.maximum(need, float(min_replicas))


def serving_cost(
    *,
    peak_rps: Uncertain,
    latency_s: Uncertain,
    price_per_replica_hour: Uncertain,
    concurrency: int = 1,
    mean_rps: Uncertain | None = None,
    target_utilization: float = 0.7,
    min_replicas: int = 1,
    fixed_per_month: Uncertain | None = None,
    slo_s: float | None = None,
    slo_quantile: float = 0.99,
    per: Literal["month", "1k"] = "month",
    hours_per_month: float = HOURS_PER_MONTH,
    currency: str = "USD",
    n_samples: int = 10_000,
    seed: int | None = 0,
) -> CostEstimate:
    """Cost of a real-time endpoint provisioned for its peak traffic.

    One replica holds ``concurrency`` requests in flight, each taking ``latency_s``, so by
    Little's law (L = lambda W) it serves ``concurrency / latency_s`` requests per second.
    Replicas are ``max(min_replicas, ceil(peak_rps / (target_utilization * throughput)))``,
    running all month. The latency check models the fleet as one M/M/c queue with
    ``c = replicas * concurrency`` servers at the peak rate (see ``erlang_c``).

    Parameters
    ----------
    peak_rps
        Peak requests per second the fleet must absorb; 0 for an idle endpoint (staging, or
        not yet launched), which costs its ``min_replicas``.
    latency_s
        Mean time to serve one request on an unloaded replica (seconds).
    price_per_replica_hour
        Price of one replica (instance) per hour.
    concurrency
        Requests one replica serves at once (batching slots, worker threads).
    mean_rps
        Average traffic, for the cost per 1k predictions (default ``peak_rps``).
    target_utilization
        Fraction of capacity used at peak, in (0, 1); headroom absorbs bursts.
    min_replicas
        Replicas kept even when traffic is low (2+ for availability).
    fixed_per_month
        Fixed monthly charges (load balancer, monitoring): a ``fixed`` part.
    slo_s, slo_quantile
        Latency objective: the ``slo_quantile`` of response time must be <= ``slo_s``.
    per
        ``"month"`` (default) or ``"1k"``: cost per 1000 predictions at ``mean_rps``.
    hours_per_month
        Hours billed per month (730 by default).
    currency, n_samples, seed
        See :class:`CostEstimate`.

    Returns
    -------
    CostEstimate
        Parts ``compute`` (+ ``fixed``). Details: ``replicas``, ``throughput_per_replica``,
        ``utilization`` (at peak), ``p_wait`` (Erlang C), ``predictions``, ``cost_per_1k``
        (left out when a draw has no traffic: there is nothing to divide by), and with an SLO
        ``latency_quantile_s`` and ``slo_met`` (a probability under uncertainty).

    Raises
    ------
    ConfigError
        For ``per="1k"`` without traffic, and ``mean_rps`` above ``peak_rps``.

    Examples
    --------
    >>> est = serving_cost(
    ...     peak_rps=200.0,
    ...     mean_rps=80.0,
    ...     latency_s=0.05,
    ...     concurrency=4,
    ...     price_per_replica_hour=0.526,
    ...     min_replicas=2,
    ...     slo_s=0.25,
    ... )
    >>> est.details["replicas"], round(est.expected, 2), round(est.details["cost_per_1k"], 5)
    (4.0, 1535.92, 0.00731)
    >>> est.details["slo_met"]
    1.0
    """
    check_params(
        "serving_cost",
        {
            "concurrency": concurrency,
            "target_utilization": target_utilization,
            "min_replicas": min_replicas,
            "slo_s": slo_s,
            "slo_quantile": slo_quantile,
            "per": per,
            "hours_per_month": hours_per_month,
        },
        {
            "concurrency": [Interval(int, 1, None)],
            "target_utilization": [Interval(float, 0, 1, "neither")],
            "min_replicas": [Interval(int, 1, None)],
            "slo_s": [Interval(float, 0, None, "neither"), NONE],
            "slo_quantile": [Interval(float, 0, 1, "neither")],
            "per": [OneOf(("month", "1k"))],
            "hours_per_month": [Interval(float, 0, 744, "right")],
        },
    )
    inputs = as_inputs(
        {
            "peak_rps": peak_rps,
            "latency_s": latency_s,
            "price_per_replica_hour": price_per_replica_hour,
            "mean_rps": mean_rps,
            "fixed_per_month": fixed_per_month,
        },
        {
            "peak_rps": _NONNEG,
            "latency_s": _POS,
            "price_per_replica_hour": _NONNEG,
            "mean_rps": _NONNEG,
            "fixed_per_month": _NONNEG,
        },
        optional=("mean_rps", "fixed_per_month"),
    )

    def model(x: Arrays) -> tuple[Arrays, Arrays]:
        if "mean_rps" in x and np.any(x["mean_rps"] > x["peak_rps"]):
            raise ConfigError(
                "serving_cost: 'mean_rps' must not exceed 'peak_rps' (in every draw).",
                parameter="mean_rps",
            )
        throughput = concurrency / x["latency_s"]
        replicas = _replicas(x["peak_rps"], throughput, target_utilization, min_replicas)
        parts: dict[str, FloatArray] = {
            "compute": replicas * x["price_per_replica_hour"] * hours_per_month
        }
        if not (np.isfinite(replicas).all() and np.isfinite(parts["compute"]).all()):
            # No queue of an overflowing fleet: the estimate names the input at fault.
            return parts, {}
        if "fixed_per_month" in x:
            parts["fixed"] = x["fixed_per_month"]
        monthly = np.sum(np.stack(list(parts.values())), axis=0)
        predictions = x.get("mean_rps", x["peak_rps"]) * 3600.0 * hours_per_month
        servers = replicas * concurrency
        load = x["peak_rps"] * x["latency_s"]
        details: dict[str, FloatArray] = {
            "replicas": replicas,
            "throughput_per_replica": throughput,
            "utilization": x["peak_rps"] / (replicas * throughput),
            "p_wait": erlang_c(servers, load),
            "predictions": predictions,
        }
        idle = not np.all(predictions > 0)
        if idle and per == "1k":
            raise ConfigError(
                "serving_cost: per='1k' needs traffic; with 'mean_rps' (or 'peak_rps') 0 there "
                "are no predictions to divide the cost by. Use per='month'.",
                parameter="per",
            )
        if not idle:
            details["cost_per_1k"] = monthly / predictions * 1000.0
        if slo_s is not None:
            q = mmc_response_quantile(
                slo_quantile,
                servers=servers,
                arrival_rate=x["peak_rps"],
                service_time=x["latency_s"],
            )
            details["latency_quantile_s"] = q
            details["slo_met"] = (q <= slo_s).astype(np.float64)
        if per == "1k":
            scale = 1000.0 / predictions
            parts = {k: v * scale for k, v in parts.items()}
        return parts, details

    notes = {
        "sizing": (
            f"Little's law: throughput = concurrency / latency; replicas sized for peak at "
            f"{target_utilization:g} utilisation, min {min_replicas}, always on"
        ),
        "concurrency": str(concurrency),
        "hours_per_month": f"{hours_per_month:g}",
    }
    if slo_s is not None:
        notes["latency model"] = (
            f"M/M/c (Erlang C) at peak, p{slo_quantile * 100:g} response <= {slo_s:g} s"
        )
    return evaluate(
        model,
        inputs,
        unit="per month" if per == "month" else "per 1k predictions",
        currency=currency,
        n_samples=n_samples,
        seed=seed,
        notes=notes,
    )


def batch_scoring_cost(
    *,
    predictions: Uncertain,
    rows_per_second: Uncertain,
    price_per_instance_hour: Uncertain,
    jobs: int = 1,
    instances: int = 1,
    startup_s: Uncertain = 0.0,
    unit: str = "per month",
    currency: str = "USD",
    n_samples: int = 10_000,
    seed: int | None = 0,
) -> CostEstimate:
    """Cost of scoring ``predictions`` rows in ``jobs`` batch jobs.

    Scoring takes ``predictions / rows_per_second`` instance-seconds (spread over
    ``instances``), and each job pays ``startup_s`` per instance (boot, image pull, model
    load). Billing is per second, with no minimum.

    Parameters
    ----------
    predictions
        Rows scored in the period (e.g. per month).
    rows_per_second
        Scoring throughput of one instance.
    price_per_instance_hour
        Price of one instance per hour.
    jobs, instances
        Jobs in the period, and instances per job.
    startup_s
        Start-up time per instance per job, billed but not scoring.
    unit, currency, n_samples, seed
        See :class:`CostEstimate`.

    Returns
    -------
    CostEstimate
        Parts ``compute`` and ``startup``; details ``instance_hours`` and
        ``job_wall_hours`` (wall time of one job).

    Examples
    --------
    >>> est = batch_scoring_cost(
    ...     predictions=3e8,
    ...     rows_per_second=5000,
    ...     price_per_instance_hour=0.17,
    ...     jobs=30,
    ...     startup_s=120,
    ... )
    >>> round(est.expected, 2), est.breakdown["startup"]
    (3.0, 0.17)
    """
    check_params(
        "batch_scoring_cost",
        {"jobs": jobs, "instances": instances},
        {"jobs": [Interval(int, 1, None)], "instances": [Interval(int, 1, None)]},
    )
    inputs = as_inputs(
        {
            "predictions": predictions,
            "rows_per_second": rows_per_second,
            "price_per_instance_hour": price_per_instance_hour,
            "startup_s": startup_s,
        },
        {
            "predictions": _NONNEG,
            "rows_per_second": _POS,
            "price_per_instance_hour": _NONNEG,
            "startup_s": _NONNEG,
        },
    )

    def model(x: Arrays) -> tuple[Arrays, Arrays]:
        scoring_h = x["predictions"] / x["rows_per_second"] / 3600.0
        startup_h = jobs * instances * x["startup_s"] / 3600.0
        price = x["price_per_instance_hour"]
        parts = {"compute": scoring_h * price, "startup": startup_h * price}
        details = {
            "instance_hours": scoring_h + startup_h,
            "job_wall_hours": scoring_h / (jobs * instances) + x["startup_s"] / 3600.0,
        }
        return parts, details

    notes = {"jobs": str(jobs), "instances": str(instances), "billing": "per second"}
    return evaluate(
        model, inputs, unit=unit, currency=currency, n_samples=n_samples, seed=seed, notes=notes
    )
