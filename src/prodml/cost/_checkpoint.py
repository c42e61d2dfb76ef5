"""Checkpointing under interruptions: Young/Daly intervals, wall time, spot vs on-demand.

Notation (any time unit, used consistently): ``work`` Ts is the solve time without
interruptions, ``checkpoint_time`` delta the time to write one checkpoint,
``restart_time`` R the time to resume from one, ``mtbf`` M the mean time between
interruptions, ``interval`` tau the compute time between checkpoints.

- Young (1974): tau = sqrt(2 delta M).
- Daly (2006), higher-order estimate: tau = sqrt(2 delta M) [1 + sqrt(delta/(2M))/3 + delta/(18 M)]
  - delta for delta < 2M, else tau = M.
- Daly (2006), expected wall time with exponential interruptions:
  T_w = M e^{R/M} (e^{(tau + delta)/M} - 1) Ts / tau.

J. W. Young, "A first order approximation to the optimum checkpoint interval", CACM
17(9):530-531, 1974. J. T. Daly, "A higher order estimate of the optimum checkpoint
interval for restart dumps", Future Generation Computer Systems 22(3):303-312, 2006.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import special

from prodml._params import NONE, Constraint, Interval, check_params
from prodml.cost._estimate import Arrays, CostEstimate, evaluate
from prodml.cost._inputs import Uncertain, as_inputs
from prodml.errors import ConfigError

__all__ = [
    "WallTimeSimulation",
    "daly_interval",
    "daly_wall_time",
    "simulate_wall_time",
    "spot_break_even_ratio",
    "spot_cost",
    "young_interval",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
_POS = Interval(float, 0, None, "neither")
_NONNEG = Interval(float, 0, None, "both")


def _check(owner: str, **values: float | None) -> None:
    rules: dict[str, list[Constraint]] = {"restart_time": [_NONNEG], "interval": [_POS, NONE]}
    check_params(owner, values, {k: rules.get(k, [_POS]) for k in values})


def young_interval(checkpoint_time: float, mtbf: float) -> float:
    """Young's first-order optimum checkpoint interval, ``sqrt(2 delta M)``.

    Examples
    --------
    >>> young_interval(5.0, 24 * 60)  # minutes
    120.0
    """
    _check("young_interval", checkpoint_time=checkpoint_time, mtbf=mtbf)
    return math.sqrt(2.0 * checkpoint_time * mtbf)


def _daly(delta: FloatArray, m: FloatArray) -> FloatArray:
    x = delta / (2.0 * m)
    tau = np.sqrt(2.0 * delta * m) * (1.0 + np.sqrt(x) / 3.0 + x / 9.0) - delta
    return np.asarray(np.where(delta < 2.0 * m, tau, m), dtype=np.float64)


def daly_interval(checkpoint_time: float, mtbf: float) -> float:
    """Daly's higher-order optimum checkpoint interval (Daly 2006).

    Examples
    --------
    Daly's Fig. 3 (M = 24 h, delta = 5 min) predicts tau_opt = 117 min:

    >>> round(daly_interval(5.0, 24 * 60), 1)
    116.7
    """
    _check("daly_interval", checkpoint_time=checkpoint_time, mtbf=mtbf)
    return float(_daly(np.float64(checkpoint_time), np.float64(mtbf)))


def _wall(
    work: FloatArray, tau: FloatArray, delta: FloatArray, r: FloatArray, m: FloatArray
) -> FloatArray:
    with np.errstate(over="ignore"):  # reported by _finite_wall, naming the cause
        return np.asarray(
            m * np.exp(r / m) * np.expm1((tau + delta) / m) * work / tau, dtype=np.float64
        )


def _finite_wall(owner: str, wall: FloatArray, mtbf: str = "mtbf") -> FloatArray:
    """``wall``, or a ConfigError when it is past the float range (never a silent inf)."""
    if not np.isfinite(wall).all():
        raise ConfigError(
            f"{owner}: the expected wall time is beyond the float range: a segment "
            "(interval + checkpoint) or a restart lasts hundreds of times the mean time "
            f"between interruptions ({mtbf!r}), so the job practically never finishes. Shorten the "
            "checkpoint or restart, or use capacity that is interrupted less often.",
            parameter=mtbf,
        )
    return wall


def daly_wall_time(
    work: float,
    *,
    checkpoint_time: float,
    restart_time: float,
    mtbf: float,
    interval: float | None = None,
) -> float:
    """Expected wall time with exponential interruptions (Daly 2006).

    ``interval`` defaults to :func:`daly_interval`. Interruptions may also hit a restart.
    A wall time beyond the float range (a checkpoint hundreds of times longer than the
    mean time between interruptions) is a ConfigError, not ``inf``.

    Examples
    --------
    >>> round(daly_wall_time(500.0, checkpoint_time=5 / 60, restart_time=10 / 60, mtbf=24.0), 1)
    547.9
    """
    _check(
        "daly_wall_time",
        work=work,
        checkpoint_time=checkpoint_time,
        restart_time=restart_time,
        mtbf=mtbf,
        interval=interval,
    )
    tau = daly_interval(checkpoint_time, mtbf) if interval is None else interval
    wall = _wall(*(np.float64(v) for v in (work, tau, checkpoint_time, restart_time, mtbf)))
    return float(_finite_wall("daly_wall_time", wall))


def spot_break_even_ratio(
    work: float,
    *,
    checkpoint_time: float,
    restart_time: float,
    mtbf: float,
    interval: float | None = None,
) -> float:
    """Spot wins when ``spot_price / on_demand_price`` is below this ratio.

    The ratio is ``work / T_w``: on-demand runs ``work`` without interruptions (and
    without checkpoints); spot takes the expected wall time ``T_w`` of
    :func:`daly_wall_time`.

    Examples
    --------
    >>> round(spot_break_even_ratio(100.0, checkpoint_time=0.1, restart_time=0.2, mtbf=5.0), 3)
    0.781
    """
    wall = daly_wall_time(
        work,
        checkpoint_time=checkpoint_time,
        restart_time=restart_time,
        mtbf=mtbf,
        interval=interval,
    )
    return work / wall


def spot_cost(
    *,
    work_hours: Uncertain,
    spot_price_per_hour: Uncertain,
    on_demand_price_per_hour: Uncertain,
    mtbf_hours: Uncertain,
    checkpoint_hours: Uncertain,
    restart_hours: Uncertain = 0.0,
    interval_hours: float | None = None,
    currency: str = "USD",
    n_samples: int = 10_000,
    seed: int | None = 0,
) -> CostEstimate:
    """Cost of a job on spot capacity with checkpointing, against on-demand.

    Interruptions are a Poisson process of mean spacing ``mtbf_hours``; checkpoints are
    taken every ``interval_hours`` of compute (default: Daly's optimum for each draw).

    Returns
    -------
    CostEstimate
        Parts ``useful`` (work x price), ``checkpoints`` (time writing checkpoints) and
        ``lost`` (rework and restarts). Details: ``wall_hours``, ``interval_hours``,
        ``on_demand_cost``, ``savings`` (on-demand minus spot), ``break_even_ratio`` and
        ``spot_wins`` (a probability under uncertainty).

    Examples
    --------
    >>> est = spot_cost(
    ...     work_hours=100.0,
    ...     spot_price_per_hour=1.0,
    ...     on_demand_price_per_hour=3.0,
    ...     mtbf_hours=5.0,
    ...     checkpoint_hours=0.1,
    ...     restart_hours=0.2,
    ... )
    >>> round(est.expected, 2), round(est.details["break_even_ratio"], 3), est.details["spot_wins"]
    (128.0, 0.781, 1.0)
    """
    check_params("spot_cost", {"interval_hours": interval_hours}, {"interval_hours": [_POS, NONE]})
    inputs = as_inputs(
        {
            "work_hours": work_hours,
            "spot_price_per_hour": spot_price_per_hour,
            "on_demand_price_per_hour": on_demand_price_per_hour,
            "mtbf_hours": mtbf_hours,
            "checkpoint_hours": checkpoint_hours,
            "restart_hours": restart_hours,
        },
        {
            "work_hours": _POS,
            "spot_price_per_hour": _NONNEG,
            "on_demand_price_per_hour": _NONNEG,
            "mtbf_hours": _POS,
            "checkpoint_hours": _POS,
            "restart_hours": _NONNEG,
        },
    )

    def model(x: Arrays) -> tuple[Arrays, Arrays]:
        work, m, delta = x["work_hours"], x["mtbf_hours"], x["checkpoint_hours"]
        tau = _daly(delta, m) if interval_hours is None else np.full_like(work, interval_hours)
        wall = _finite_wall(
            "spot_cost", _wall(work, tau, delta, x["restart_hours"], m), "mtbf_hours"
        )
        ckpt = work / tau * delta
        price = x["spot_price_per_hour"]
        parts = {
            "useful": work * price,
            "checkpoints": ckpt * price,
            "lost": np.maximum(wall - work - ckpt, 0.0) * price,
        }
        on_demand = work * x["on_demand_price_per_hour"]
        spot = wall * price
        details = {
            "wall_hours": wall,
            "interval_hours": tau,
            "on_demand_cost": on_demand,
            "savings": on_demand - spot,
            "break_even_ratio": work / wall,
            "spot_wins": (spot < on_demand).astype(np.float64),
        }
        return parts, details

    notes = {
        "interruptions": "Poisson (exponential gaps); Daly 2006 expected wall time",
        "interval": "Daly 2006 optimum" if interval_hours is None else f"{interval_hours:g} h",
        "on-demand baseline": "no interruptions, no checkpoints",
    }
    return evaluate(
        model,
        inputs,
        unit="per job",
        currency=currency,
        n_samples=n_samples,
        seed=seed,
        notes=notes,
    )


@dataclass(frozen=True)
class WallTimeSimulation:
    """Monte Carlo wall time of a checkpointed job under renewal interruptions."""

    work: float
    mean: float
    std_error: float
    p10: float
    p50: float
    p90: float
    mean_interruptions: float
    n_runs: int

    @property
    def break_even_ratio(self) -> float:
        """Spot wins when ``spot_price / on_demand_price`` is below ``work / mean``."""
        return self.work / self.mean


MAX_RUNS = 1_000_000
"""Most runs :func:`simulate_wall_time` simulates (each holds a few arrays entries)."""
MAX_SEGMENTS = 10_000_000
"""Most checkpoint segments (``work / interval``) :func:`simulate_wall_time` simulates."""


def simulate_wall_time(
    work: float,
    *,
    interval: float,
    checkpoint_time: float,
    restart_time: float,
    mtbf: float,
    shape: float = 1.0,
    n_runs: int = 2000,
    seed: int | None = 0,
    max_events: int = 1_000_000,
) -> WallTimeSimulation:
    """Simulate the wall time of a job with Weibull interruptions (vectorised over runs).

    Time between interruptions is Weibull with ``shape`` k and mean ``mtbf``
    (``scale = mtbf / Gamma(1 + 1/k)``), renewed at each interruption (a fresh machine);
    ``shape=1`` is the exponential case of :func:`daly_wall_time`, ``shape < 1`` gives
    clustered interruptions. The job runs segments of ``interval`` compute plus a
    checkpoint (the last segment is the remainder, also checkpointed). After an
    interruption it restarts (``restart_time``, itself interruptible) and redoes the
    segment. Sizes are bounded: at most 1,000,000 runs (``n_runs``) and 10,000,000
    segments (``work / interval``); more is a ConfigError.

    Examples
    --------
    >>> sim = simulate_wall_time(
    ...     500.0, interval=2.0, checkpoint_time=5 / 60, restart_time=10 / 60, mtbf=24.0, shape=0.7
    ... )
    >>> 500 < sim.mean < 560, sim.n_runs, 0.9 < sim.break_even_ratio < 1.0
    (True, 2000, True)
    """
    check_params(
        "simulate_wall_time",
        {
            "work": work,
            "interval": interval,
            "checkpoint_time": checkpoint_time,
            "restart_time": restart_time,
            "mtbf": mtbf,
            "shape": shape,
            "n_runs": n_runs,
            "max_events": max_events,
        },
        {
            "work": [_POS],
            "interval": [_POS],
            "checkpoint_time": [_NONNEG],
            "restart_time": [_NONNEG],
            "mtbf": [_POS],
            "shape": [_POS],
            "n_runs": [Interval(int, 2, MAX_RUNS)],
            "max_events": [Interval(int, 1, None)],
        },
    )
    rng = np.random.default_rng(seed)
    scale = mtbf / special.gamma(1.0 + 1.0 / shape)
    n_full = math.floor(work / interval + 1e-12)
    if n_full >= MAX_SEGMENTS:
        raise ConfigError(
            f"simulate_wall_time: work / interval makes {n_full:,} segments; at most "
            f"{MAX_SEGMENTS:,} are simulated (each is an array entry). Use a longer interval.",
            parameter="interval",
        )
    remainder = work - n_full * interval
    lengths = [interval + checkpoint_time] * n_full
    if remainder > 1e-12 * work:
        lengths.append(remainder + checkpoint_time)
    seg_len = np.asarray(lengths)
    n_seg = len(lengths)

    wall = np.zeros(n_runs)
    fails = np.zeros(n_runs)
    seg = np.zeros(n_runs, dtype=np.int64)
    ttf = rng.weibull(shape, n_runs) * scale
    need = np.full(n_runs, seg_len[0])
    for _ in range(max_events):
        active = np.flatnonzero(seg < n_seg)
        if active.size == 0:
            break
        ok = ttf[active] >= need[active]
        done = active[ok]
        wall[done] += need[done]
        ttf[done] -= need[done]
        seg[done] += 1
        more = done[seg[done] < n_seg]
        need[more] = seg_len[seg[more]]
        hit = active[~ok]
        wall[hit] += ttf[hit]
        fails[hit] += 1
        ttf[hit] = rng.weibull(shape, hit.size) * scale
        need[hit] = restart_time + seg_len[seg[hit]]
    else:
        raise ConfigError(
            f"simulate_wall_time: runs did not finish within {max_events} events; the "
            "interval is far longer than the time between interruptions.",
            parameter="interval",
        )
    p10, p50, p90 = (float(v) for v in np.quantile(wall, [0.1, 0.5, 0.9]))
    return WallTimeSimulation(
        work=work,
        mean=float(wall.mean()),
        std_error=float(wall.std(ddof=1) / math.sqrt(n_runs)),
        p10=p10,
        p50=p50,
        p90=p90,
        mean_interruptions=float(fails.mean()),
        n_runs=n_runs,
    )
