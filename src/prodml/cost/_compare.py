"""Deployment options side by side: a comparison table, a plot, and break-even volumes."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from prodml._extras import require
from prodml._params import Interval, TypeOf, check_params
from prodml._quote import short_repr
from prodml.cost._estimate import CostEstimate
from prodml.cost._inputs import Uncertain
from prodml.cost._serving import HOURS_PER_MONTH, batch_scoring_cost, serving_cost
from prodml.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BatchOption",
    "BreakEven",
    "RealtimeOption",
    "break_even_volume",
    "compare",
    "markdown_table",
    "plot_comparison",
]

_FIXED_COLUMNS = ("expected", "low", "high", "currency", "unit", "per_1k", "relative")


def _check_volume(owner: str, predictions: float) -> None:
    check_params(
        owner,
        {"predictions_per_month": predictions},
        {"predictions_per_month": [Interval(float, 0, None, "neither")]},
    )


@dataclass(frozen=True)
class RealtimeOption:
    """An always-on endpoint; traffic peaks at ``peak_to_mean`` times the average.

    See :func:`serving_cost` for the other fields.
    """

    name: str
    price_per_replica_hour: Uncertain
    latency_s: Uncertain
    concurrency: int = 1
    target_utilization: float = 0.7
    min_replicas: int = 1
    peak_to_mean: float = 3.0
    fixed_per_month: Uncertain | None = None

    def monthly_cost(self, predictions_per_month: float, *, seed: int | None = 0) -> CostEstimate:
        """Monthly cost when serving ``predictions_per_month``."""
        _check_volume(f"RealtimeOption({short_repr(self.name)})", predictions_per_month)
        check_params(
            f"RealtimeOption({short_repr(self.name)})",
            {"peak_to_mean": self.peak_to_mean},
            {"peak_to_mean": [Interval(float, 1, None)]},
        )
        mean_rps = predictions_per_month / (HOURS_PER_MONTH * 3600.0)
        return serving_cost(
            peak_rps=mean_rps * self.peak_to_mean,
            mean_rps=mean_rps,
            latency_s=self.latency_s,
            price_per_replica_hour=self.price_per_replica_hour,
            concurrency=self.concurrency,
            target_utilization=self.target_utilization,
            min_replicas=self.min_replicas,
            fixed_per_month=self.fixed_per_month,
            seed=seed,
        )


@dataclass(frozen=True)
class BatchOption:
    """Scheduled batch scoring; see :func:`batch_scoring_cost` for the fields."""

    name: str
    price_per_instance_hour: Uncertain
    rows_per_second: Uncertain
    jobs_per_month: int = 30
    instances: int = 1
    startup_s: Uncertain = 0.0

    def monthly_cost(self, predictions_per_month: float, *, seed: int | None = 0) -> CostEstimate:
        """Monthly cost when scoring ``predictions_per_month``."""
        _check_volume(f"BatchOption({short_repr(self.name)})", predictions_per_month)
        return batch_scoring_cost(
            predictions=predictions_per_month,
            rows_per_second=self.rows_per_second,
            price_per_instance_hour=self.price_per_instance_hour,
            jobs=self.jobs_per_month,
            instances=self.instances,
            startup_s=self.startup_s,
            seed=seed,
        )


Option: TypeAlias = "RealtimeOption | BatchOption"


def _estimates(
    options: Mapping[str, CostEstimate] | Sequence[Option], predictions: float | None
) -> dict[str, CostEstimate]:
    if isinstance(options, Mapping):
        out = dict(options)
        bad = [k for k, v in out.items() if not isinstance(v, CostEstimate)]
        if bad:
            raise ConfigError(
                f"compare: option {short_repr(bad[0])} is not a CostEstimate.", parameter="options"
            )
        return out
    if predictions is None:
        raise ConfigError(
            "compare: pass predictions_per_month=... to cost deployment options.",
            parameter="predictions_per_month",
        )
    result: dict[str, CostEstimate] = {}
    for opt in options:
        if not isinstance(opt, RealtimeOption | BatchOption):
            raise ConfigError(
                f"compare: expected RealtimeOption or BatchOption, got {type(opt).__name__}.",
                parameter="options",
            )
        if opt.name in result:
            raise ConfigError(
                f"compare: option name {short_repr(opt.name)} appears twice.", parameter="options"
            )
        result[opt.name] = opt.monthly_cost(predictions)
    return result


def compare(
    options: Mapping[str, CostEstimate] | Sequence[Option],
    *,
    predictions_per_month: float | None = None,
) -> pd.DataFrame:
    """Compare options in one table, cheapest first.

    Parameters
    ----------
    options
        ``{name: CostEstimate}`` (same currency and unit), or a list of
        :class:`RealtimeOption` / :class:`BatchOption` costed at ``predictions_per_month``.
    predictions_per_month
        Volume for options, and for the ``per_1k`` column: estimates ``per month`` are
        divided by it; estimates ``per 1k predictions`` are already per 1k; estimates of
        any other unit with a volume are a ConfigError.

    Returns
    -------
    pandas.DataFrame
        Indexed by option: ``expected``, ``low``, ``high``, ``currency``, ``unit``,
        ``per_1k`` (when a volume is given), ``relative`` (to the cheapest: 1 for the
        cheapest, ``inf`` for a paid option when the cheapest is free, NaN when the cheapest
        is negative), then one column per cost part (0 where an option has no such part).

    Examples
    --------
    >>> table = compare(
    ...     [
    ...         RealtimeOption("cpu", price_per_replica_hour=0.17, latency_s=0.02, min_replicas=2),
    ...         BatchOption("batch", price_per_instance_hour=0.17, rows_per_second=2000),
    ...     ],
    ...     predictions_per_month=5e7,
    ... )
    >>> list(table.index), table["expected"].round(2).tolist()
    (['batch', 'cpu'], [1.18, 248.2])
    """
    if predictions_per_month is not None:
        _check_volume("compare", predictions_per_month)
    ests = _estimates(options, predictions_per_month)
    if not ests:
        raise ConfigError("compare needs at least one option.", parameter="options")
    for field in ("currency", "unit"):
        seen = {getattr(e, field) for e in ests.values()}
        if len(seen) > 1:
            raise ConfigError(
                f"compare: the estimates differ in {field} ({sorted(seen)}); "
                "compare like with like.",
                parameter="options",
            )
    parts: list[str] = []
    for est in ests.values():
        parts.extend(p for p in est.breakdown if p not in parts)
    clash = [p for p in parts if p in _FIXED_COLUMNS]
    if clash:
        raise ConfigError(f"compare: cost part {short_repr(clash[0])} clashes with a column name.")
    unit = next(iter(ests.values())).unit
    if predictions_per_month is not None and unit not in ("per month", "per 1k predictions"):
        # per_1k divides a monthly cost by the monthly volume: any other period would
        # give a number off by the ratio of the periods, silently.
        raise ConfigError(
            f"compare: per_1k needs monthly estimates (unit 'per month') or estimates per 1k "
            f"predictions; these are {short_repr(unit)}. Leave out predictions_per_month, or "
            "convert the estimates with CostEstimate.scale(...).",
            parameter="predictions_per_month",
        )
    cheapest = min(e.expected for e in ests.values())
    rows = []
    for name, est in ests.items():
        row: dict[str, Any] = {
            "option": name,
            "expected": est.expected,
            "low": est.low,
            "high": est.high,
            "currency": est.currency,
            "unit": est.unit,
        }
        if predictions_per_month is not None:
            row["per_1k"] = (
                est.expected
                if unit == "per 1k predictions"
                else est.expected / predictions_per_month * 1000.0
            )
        row["relative"] = _relative(est.expected, cheapest)
        row.update({p: est.breakdown.get(p, 0.0) for p in parts})
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("option")
    return frame.sort_values("expected", kind="stable")


def _relative(expected: float, cheapest: float) -> float:
    """``expected`` as a multiple of ``cheapest``.

    1 for the cheapest itself, ``inf`` for a paid option beside a free one, NaN beside a
    negative cost (a credit), where no multiple means anything.
    """
    if cheapest < 0:
        return math.nan
    if expected == cheapest:
        return 1.0
    return expected / cheapest if cheapest > 0 else math.inf


def plot_comparison(
    table: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Stacked bars of each option's cost parts, with p10-p90 whiskers.

    Needs the ``plot`` extra (matplotlib). ``table`` is the output of :func:`compare`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = require("matplotlib.pyplot", extra="plot", feature="plot_comparison")
    check_params(
        "plot_comparison", {"table": table}, {"table": [TypeOf(pd.DataFrame, "a pandas DataFrame")]}
    )
    missing = [c for c in ("expected", "low", "high", "unit", "currency") if c not in table]
    if missing:
        raise ConfigError(
            f"plot_comparison needs the output of compare(); column {short_repr(missing[0])} is "
            "missing.",
            parameter="table",
        )
    parts = [c for c in table.columns if c not in _FIXED_COLUMNS]
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.6 * len(table) + 3.0, 4.0))
    else:
        fig = ax.figure
    x = np.arange(len(table))
    bottom = np.zeros(len(table))
    for part in parts:
        heights = table[part].to_numpy(dtype=np.float64)
        ax.bar(x, heights, bottom=bottom, label=part)
        bottom += heights
    expected = table["expected"].to_numpy(dtype=np.float64)
    spread = np.vstack(
        [
            expected - table["low"].to_numpy(dtype=np.float64),
            table["high"].to_numpy(dtype=np.float64) - expected,
        ]
    )
    ax.errorbar(x, expected, yerr=np.clip(spread, 0.0, None), fmt="none", ecolor="black", capsize=4)
    ax.set_xticks(x, [str(i) for i in table.index])
    ax.set_ylabel(f"{table['currency'].iloc[0]} {table['unit'].iloc[0]}")
    ax.set_title(title or "Cost by option (bars: parts, whiskers: p10-p90)")
    ax.legend()
    return fig


def markdown_table(table: pd.DataFrame, *, decimals: int = 2) -> str:
    """Render a :func:`compare` table (or any small frame) as a Markdown table.

    Numbers get thousands separators and ``decimals`` places; the index is the first
    column. Needs no extra package (pandas' ``to_markdown`` needs ``tabulate``).

    Examples
    --------
    >>> print(
    ...     markdown_table(
    ...         pd.DataFrame({"expected": [1234.5]}, index=pd.Index(["a"], name="option"))
    ...     )
    ... )
    | option | expected |
    | --- | ---: |
    | a | 1,234.50 |
    """
    check_params(
        "markdown_table",
        {"table": table, "decimals": decimals},
        {"table": [TypeOf(pd.DataFrame, "a pandas DataFrame")], "decimals": [Interval(int, 0, 12)]},
    )

    def cell(v: object) -> str:
        if isinstance(v, bool | np.bool_):
            return str(v)
        if isinstance(v, int | float | np.integer | np.floating):
            return f"{float(v):,.{decimals}f}"
        return str(v).replace("|", "\\|")

    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    head = [str(table.index.name or ""), *map(str, table.columns)]
    align = ["---", *("---:" if n else "---" for n in numeric)]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for idx, row in zip(table.index, table.itertuples(index=False), strict=True):
        lines.append("| " + " | ".join([str(idx), *(cell(v) for v in row)]) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class BreakEven:
    """Where two options cost the same; ``cheaper_below`` wins at smaller volumes."""

    volume: float
    cheaper_below: str
    cheaper_above: str


CostFunction: TypeAlias = "Option | Callable[[float], float]"


def _cost_fn(opt: CostFunction) -> tuple[str, Callable[[float], float]]:
    if isinstance(opt, RealtimeOption | BatchOption):
        return opt.name, lambda v: opt.monthly_cost(v).expected
    if callable(opt):
        return getattr(opt, "__name__", "option"), lambda v: float(opt(v))
    raise ConfigError(
        "break_even_volume: options must be RealtimeOption, BatchOption or a function of "
        f"volume. Got {type(opt).__name__}.",
        parameter="options",
    )


def break_even_volume(
    a: CostFunction,
    b: CostFunction,
    *,
    low: float = 1e3,
    high: float = 1e12,
    n_grid: int = 241,
) -> BreakEven | None:
    """The smallest monthly volume in ``[low, high]`` at which the cheaper option changes.

    Scans a log-spaced grid for the first change of sign of ``cost(a) - cost(b)`` and
    refines it by bisection (in log volume). Costs with steps (replica counts) are fine:
    the answer is then the step. Where the options cost the same over a range (a tie),
    the answer is where ``cheaper_below`` stops being strictly cheaper. Returns ``None``
    when one option costs no more than the other throughout (ties included: two options
    that differ at low volume and tie above it have no break-even).
    ``n_grid`` (3 to 100,000) is the number of grid points, each a cost evaluation.

    Examples
    --------
    >>> cpu = RealtimeOption("cpu", price_per_replica_hour=0.17, latency_s=0.05, concurrency=2)
    >>> gpu = RealtimeOption("gpu", price_per_replica_hour=0.526, latency_s=0.01, concurrency=8)
    >>> be = break_even_volume(cpu, gpu)
    >>> be.cheaper_below, be.cheaper_above, f"{be.volume:.3g}"
    ('cpu', 'gpu', '7.36e+07')
    """
    check_params(
        "break_even_volume",
        {"low": low, "high": high, "n_grid": n_grid},
        {
            "low": [Interval(float, 0, None, "neither")],
            "high": [Interval(float, 0, None, "neither")],
            "n_grid": [Interval(int, 3, 100_000)],
        },
    )
    if high <= low:
        raise ConfigError("break_even_volume: 'high' must exceed 'low'.", parameter="high")
    name_a, cost_a = _cost_fn(a)
    name_b, cost_b = _cost_fn(b)
    if name_a == name_b:
        name_a, name_b = f"{name_a} (a)", f"{name_b} (b)"

    def diff(log_v: float) -> float:
        v = math.exp(log_v)
        return cost_a(v) - cost_b(v)

    grid = np.linspace(math.log(low), math.log(high), n_grid)
    values = [diff(float(g)) for g in grid]
    # The cheaper option changes where the difference flips sign between two points where
    # it is not 0: a tie (both at their minimum replicas) is no change, whether the same
    # option is cheaper after it (it used to be reported as a break-even) or not.
    last = None  # index of the last point where the options differ
    for j, value in enumerate(values):
        if value == 0.0:
            continue
        if last is not None and np.sign(value) != np.sign(values[last]):
            lo, hi, f_lo = float(grid[last]), float(grid[j]), values[last]
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                f_mid = diff(mid)
                if f_mid != 0.0 and np.sign(f_mid) == np.sign(f_lo):
                    lo = mid
                else:
                    hi = mid
            below, above = (name_b, name_a) if f_lo > 0 else (name_a, name_b)
            return BreakEven(math.exp(hi), below, above)
        last = j
    return None
