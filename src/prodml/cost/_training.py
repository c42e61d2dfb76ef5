"""Training cost before the run: compute, energy and CO2 from FLOPs or measured steps."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from prodml._params import Interval, check_params
from prodml.cost._estimate import Arrays, CostEstimate, evaluate
from prodml.cost._inputs import Uncertain, as_inputs
from prodml.errors import ConfigError

__all__ = ["training_cost", "training_cost_from_run"]

FloatArray: TypeAlias = npt.NDArray[np.float64]

_POS = Interval(float, 0, None, "neither")
_NONNEG = Interval(float, 0, None, "both")
_ALLOWED = {
    "flops": _POS,
    "params": _POS,
    "tokens": _POS,
    "step_time_s": _POS,
    "steps": _POS,
    "peak_flops": _POS,
    "mfu": Interval(float, 0, 1, "right"),
    "price_per_device_hour": _NONNEG,
    "power_watts": _POS,
    "pue": Interval(float, 1, None, "both"),
    "grid_kg_per_kwh": _NONNEG,
    "energy_price_per_kwh": _NONNEG,
    "carbon_price_per_tonne": _NONNEG,
    "overhead": _NONNEG,
}


def _mode(given: set[str]) -> str:
    flops = "flops" in given
    n_d = {"params", "tokens"} & given
    step = {"step_time_s", "steps"} & given
    if sum([flops, bool(n_d), bool(step)]) != 1:
        raise ConfigError(
            "training_cost needs exactly one way to size the run: flops=..., or params=... "
            "and tokens=... (6*N*D), or step_time_s=... and steps=...",
            parameter="flops",
        )
    for group in (n_d, step):
        if group and len(group) == 1:
            pair = (
                ("params", "tokens") if group <= {"params", "tokens"} else ("step_time_s", "steps")
            )
            missing = next(p for p in pair if p not in group)
            raise ConfigError(
                f"training_cost: {missing!r} is required together with {next(iter(group))!r}.",
                parameter=missing,
            )
    if step:
        extra = {"peak_flops", "mfu"} & given
        if extra:
            name = sorted(extra)[0]
            raise ConfigError(
                f"training_cost: {name!r} is only used with flops or params/tokens, not with "
                "a measured step time.",
                parameter=name,
            )
        return "steps"
    for need in ("peak_flops", "mfu"):
        if need not in given:
            raise ConfigError(
                f"training_cost: {need!r} is required to turn FLOPs into time.", parameter=need
            )
    return "flops" if flops else "6ND"


def training_cost(
    *,
    price_per_device_hour: Uncertain,
    flops: Uncertain | None = None,
    params: Uncertain | None = None,
    tokens: Uncertain | None = None,
    step_time_s: Uncertain | None = None,
    steps: Uncertain | None = None,
    peak_flops: Uncertain | None = None,
    mfu: Uncertain | None = None,
    devices: int = 1,
    overhead: Uncertain | None = None,
    power_watts: Uncertain | None = None,
    pue: Uncertain = 1.0,
    grid_kg_per_kwh: Uncertain | None = None,
    energy_price_per_kwh: Uncertain | None = None,
    carbon_price_per_tonne: Uncertain | None = None,
    currency: str = "USD",
    n_samples: int = 10_000,
    seed: int | None = 0,
) -> CostEstimate:
    """Cost of one training run, with energy and CO2.

    Size the run one of three ways: total ``flops``; ``params`` N and ``tokens`` D of a
    dense transformer (``flops = 6 N D``); or a measured ``step_time_s`` times ``steps``.
    From FLOPs, wall time is ``flops / (devices * peak_flops * mfu)``.

    Parameters
    ----------
    price_per_device_hour
        Price of one device (GPU, or whole instance when ``devices`` counts instances).
    flops, params, tokens, step_time_s, steps
        The size of the run (see above).
    peak_flops, mfu
        Peak FLOP/s of one device at the training precision, and the model FLOPs
        utilisation in (0, 1] (0.3-0.5 is typical for large dense transformers).
    devices
        Devices used in parallel.
    overhead
        Extra device time as a fraction (evaluation, restarts, failed experiments): adds
        an ``overhead`` part equal to ``overhead * compute``.
    power_watts, pue
        Average board power per device and the data-centre PUE (>= 1): energy is
        ``device_hours * power_watts / 1000 * pue`` kWh. Needs ``power_watts``.
    grid_kg_per_kwh
        Grid carbon intensity; CO2 is ``energy_kwh * grid_kg_per_kwh`` kg.
    energy_price_per_kwh
        Adds an ``energy`` part (own hardware; a cloud hourly price already includes it).
    carbon_price_per_tonne
        Adds a ``carbon`` part for the CO2 emitted.
    currency, n_samples, seed
        See :class:`CostEstimate`.

    Returns
    -------
    CostEstimate
        Parts ``compute`` (+ ``overhead``, ``energy``, ``carbon``); details ``wall_hours``,
        ``device_hours`` (+ ``flops``, ``energy_kwh``, ``co2_kg``).

    Examples
    --------
    A 7B-parameter model on 2T tokens, 512 A100s at 40% MFU and $4/GPU-hour:

    >>> est = training_cost(
    ...     params=7e9,
    ...     tokens=2e12,
    ...     peak_flops=312e12,
    ...     mfu=0.4,
    ...     devices=512,
    ...     price_per_device_hour=4.0,
    ...     power_watts=400,
    ...     pue=1.1,
    ...     grid_kg_per_kwh=0.4,
    ... )
    >>> round(est.expected), round(est.details["wall_hours"], 1), round(est.details["co2_kg"])
    (747863, 365.2, 32906)
    """
    check_params("training_cost", {"devices": devices}, {"devices": [Interval(int, 1, None)]})
    raw = {
        "flops": flops,
        "params": params,
        "tokens": tokens,
        "step_time_s": step_time_s,
        "steps": steps,
        "peak_flops": peak_flops,
        "mfu": mfu,
        "price_per_device_hour": price_per_device_hour,
        "overhead": overhead,
        "power_watts": power_watts,
        "pue": pue,
        "grid_kg_per_kwh": grid_kg_per_kwh,
        "energy_price_per_kwh": energy_price_per_kwh,
        "carbon_price_per_tonne": carbon_price_per_tonne,
    }
    inputs = as_inputs(
        raw, _ALLOWED, optional=[k for k in raw if k not in ("price_per_device_hour", "pue")]
    )
    mode = _mode(set(inputs))
    if energy_price_per_kwh is not None and power_watts is None:
        raise ConfigError(
            "training_cost: 'energy_price_per_kwh' needs 'power_watts' to compute energy.",
            parameter="power_watts",
        )
    if grid_kg_per_kwh is not None and power_watts is None:
        raise ConfigError(
            "training_cost: 'grid_kg_per_kwh' needs 'power_watts' to compute energy.",
            parameter="power_watts",
        )
    if carbon_price_per_tonne is not None and grid_kg_per_kwh is None:
        raise ConfigError(
            "training_cost: 'carbon_price_per_tonne' needs 'grid_kg_per_kwh'.",
            parameter="grid_kg_per_kwh",
        )

    def model(x: Arrays) -> tuple[Arrays, Arrays]:
        details: dict[str, FloatArray] = {}
        if mode == "steps":
            wall_h = x["step_time_s"] * x["steps"] / 3600.0
        else:
            total = x["flops"] if mode == "flops" else 6.0 * x["params"] * x["tokens"]
            details["flops"] = total
            wall_h = total / (devices * x["peak_flops"] * x["mfu"]) / 3600.0
        base_dh = wall_h * devices
        extra = x.get("overhead", np.zeros_like(base_dh))
        device_h = base_dh * (1.0 + extra)
        parts: dict[str, FloatArray] = {"compute": base_dh * x["price_per_device_hour"]}
        if "overhead" in x:
            parts["overhead"] = parts["compute"] * extra
        details["wall_hours"] = wall_h
        details["device_hours"] = device_h
        if "power_watts" in x:
            kwh = device_h * x["power_watts"] / 1000.0 * x["pue"]
            details["energy_kwh"] = kwh
            if "energy_price_per_kwh" in x:
                parts["energy"] = kwh * x["energy_price_per_kwh"]
            if "grid_kg_per_kwh" in x:
                co2 = kwh * x["grid_kg_per_kwh"]
                details["co2_kg"] = co2
                if "carbon_price_per_tonne" in x:
                    parts["carbon"] = co2 / 1000.0 * x["carbon_price_per_tonne"]
        return parts, details

    notes = {
        "flops model": {
            "6ND": "6 * params * tokens FLOPs (dense transformer; Kaplan et al. 2020)",
            "flops": "FLOPs as given",
            "steps": "measured step time x steps",
        }[mode],
        "devices": str(devices),
    }
    return evaluate(
        model,
        inputs,
        unit="per training run",
        currency=currency,
        n_samples=n_samples,
        seed=seed,
        notes=notes,
    )


def training_cost_from_run(
    *,
    run_seconds: float,
    run_steps: int,
    total_steps: Uncertain,
    startup_seconds: float = 0.0,
    price_per_device_hour: Uncertain,
    devices: int = 1,
    **kwargs: object,
) -> CostEstimate:
    """Training cost extrapolated from the measured wall time of a short run.

    The step time is ``(run_seconds - startup_seconds) / run_steps``; the rest is
    :func:`training_cost` with ``step_time_s`` and ``steps=total_steps``. Extra keyword
    arguments (``power_watts``, ``grid_kg_per_kwh``, ``overhead`` ...) pass through.

    Examples
    --------
    >>> est = training_cost_from_run(
    ...     run_seconds=130.0,
    ...     run_steps=100,
    ...     startup_seconds=10.0,
    ...     total_steps=50_000,
    ...     devices=8,
    ...     price_per_device_hour=2.0,
    ... )
    >>> round(est.details["wall_hours"], 4), round(est.expected, 2)
    (16.6667, 266.67)
    """
    check_params(
        "training_cost_from_run",
        {"run_seconds": run_seconds, "run_steps": run_steps, "startup_seconds": startup_seconds},
        {
            "run_seconds": [Interval(float, 0, None, "neither")],
            "run_steps": [Interval(int, 1, None)],
            "startup_seconds": [Interval(float, 0, None)],
        },
    )
    if startup_seconds >= run_seconds:
        raise ConfigError(
            f"training_cost_from_run: 'startup_seconds' ({startup_seconds}) must be less than "
            f"'run_seconds' ({run_seconds}).",
            parameter="startup_seconds",
        )
    step_time = (run_seconds - startup_seconds) / run_steps
    try:
        return training_cost(
            step_time_s=step_time,
            steps=total_steps,
            price_per_device_hour=price_per_device_hour,
            devices=devices,
            **kwargs,  # type: ignore[arg-type]
        )
    except ConfigError as err:
        # training_cost's names for what this function's caller calls otherwise
        ours = _FROM_RUN.get(err.parameter or "")
        if ours is None:
            raise
        text = str(err).replace(repr(err.parameter), repr(ours))
        raise ConfigError(text, parameter=ours) from err


_FROM_RUN = {"steps": "total_steps", "step_time_s": "run_seconds"}
