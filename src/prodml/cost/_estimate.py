"""``CostEstimate`` and the engine that evaluates a cost model on uncertain inputs.

A cost model is a plain vectorised function: it receives one float64 array per input
(all of the same length) and returns the cost *parts* (name -> array) and, optionally,
non-cost *details* (wall hours, replicas, kWh ...). With point inputs it runs once; when
any input is uncertain it runs once on ``n_samples`` seeded draws (Monte Carlo).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict, Field
from scipy import stats

from prodml._params import NONE, Interval, Predicate, TypeOf, check_params
from prodml._quote import short_repr
from prodml.cost._catalog import CostModel
from prodml.cost._inputs import Input, as_input
from prodml.errors import ConfigError

if TYPE_CHECKING:
    from prodml._state import Field as StateField

__all__ = ["CostEstimate", "Model", "evaluate", "simulate"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
Arrays: TypeAlias = Mapping[str, FloatArray]
Model: TypeAlias = Callable[[Arrays], "Arrays | tuple[Arrays, Arrays]"]

FORMAT_VERSION = 1


MAX_SAMPLES = 1_000_000
"""Most Monte Carlo draws an estimate takes (a ConfigError above)."""


class CostEstimate(CostModel):
    """A cost with its uncertainty, its parts, and the assumptions behind it.

    ``expected`` is the mean cost and always equals the sum of ``breakdown`` (the mean of
    each part). With point inputs ``low == median == expected == high``. With uncertain
    inputs ``low``, ``median`` and ``high`` are the 10th, 50th and 90th percentiles of the
    Monte Carlo draws (so for a very skewed cost ``expected`` may exceed ``high``), and
    ``sensitivity`` ranks the uncertain inputs by the Spearman rank
    correlation of each with the total (largest absolute value first).

    Attributes
    ----------
    low, expected, high, median
        p10, mean, p90 and p50 of the total, in ``currency``.
    breakdown
        Mean of each cost part; the parts sum to ``expected``.
    assumptions
        Each input (and modelling choice) as used, in words.
    currency, unit
        E.g. ``"USD"`` and ``"per month"``.
    details
        Non-cost quantities (means), e.g. ``wall_hours``, ``replicas``, ``energy_kwh``;
        a 0/1 indicator such as ``slo_met`` becomes the probability that it holds.
    sensitivity
        Spearman rank correlation of each uncertain input with the total.
    n_samples
        Monte Carlo draws used, 0 when every input was a point value.

    Examples
    --------
    >>> est = CostEstimate.point({"compute": 80.0, "storage": 20.0}, unit="per month")
    >>> est.expected, est.low, est.high
    (100.0, 100.0, 100.0)
    >>> print(est)
    USD 100.00 per month (compute 80.00, storage 20.00)
    """

    # Saved state is strict JSON: NaN and infinities are refused at construction.
    model_config: ClassVar[ConfigDict] = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False
    )

    low: float
    expected: float
    high: float
    median: float
    breakdown: dict[str, float]
    assumptions: dict[str, str] = Field(default_factory=dict)
    currency: str = "USD"
    unit: str = ""
    details: dict[str, float] = Field(default_factory=dict)
    sensitivity: dict[str, float] = Field(default_factory=dict)
    n_samples: int = 0

    @classmethod
    def point(
        cls,
        breakdown: Mapping[str, float],
        *,
        currency: str = "USD",
        unit: str = "",
        assumptions: Mapping[str, str] | None = None,
        details: Mapping[str, float] | None = None,
    ) -> CostEstimate:
        """A certain cost made of ``breakdown`` parts.

        Raises
        ------
        ConfigError
            For a part that is not a finite number, or parts whose total overflows.
        """
        try:
            total = math.fsum(breakdown.values())
        except OverflowError:
            raise ConfigError(
                "CostEstimate.point: the parts of breakdown add up beyond the float range.",
                parameter="breakdown",
            ) from None
        return cls(
            low=total,
            expected=total,
            high=total,
            median=total,
            breakdown=dict(breakdown),
            assumptions=dict(assumptions or {}),
            currency=currency,
            unit=unit,
            details=dict(details or {}),
        )

    @property
    def is_certain(self) -> bool:
        """Whether every input was a point value."""
        return self.n_samples == 0

    def scale(self, factor: float, *, unit: str) -> CostEstimate:
        """The same estimate multiplied by ``factor`` >= 0 (e.g. per month -> per 1k)."""
        if not (math.isfinite(factor) and factor >= 0):
            raise ConfigError(
                f"The 'factor' parameter of CostEstimate.scale must be a float >= 0. "
                f"Got {short_repr(factor)} instead.",
                parameter="factor",
            )
        parts = {k: v * factor for k, v in self.breakdown.items()}
        return self.model_copy(
            update={
                "low": self.low * factor,
                "high": self.high * factor,
                "median": self.median * factor,
                "expected": math.fsum(parts.values()),
                "breakdown": parts,
                "unit": unit,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, with a format version."""
        return {"format_version": FORMAT_VERSION, **self.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostEstimate:
        """Inverse of :meth:`to_dict`, validated.

        Raises
        ------
        StateError
            (also a ConfigError) naming the field at fault.
        """
        from prodml._state import Field as StateField  # noqa: PLC0415 - pydantic has a Field
        from prodml._state import check_format_version, loading  # noqa: PLC0415

        body = dict(StateField(data, owner="CostEstimate").dict())
        check_format_version(
            body.pop("format_version", FORMAT_VERSION), FORMAT_VERSION, owner="CostEstimate"
        )
        with loading("CostEstimate"):
            est = cls.model_validate(body)
        _check_loaded(est, StateField(body, owner="CostEstimate"))
        return est

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v:,.2f}" for k, v in self.breakdown.items())
        head = f"{self.currency} {self.expected:,.2f} {self.unit}".rstrip()
        if not self.is_certain:
            head += f" [p10 {self.low:,.2f}, p90 {self.high:,.2f}]"
        return f"{head} ({parts})"


def _check_loaded(est: CostEstimate, root: StateField) -> None:
    """Invariants of a saved estimate: finite, ordered, parts summing to ``expected``."""
    for name in ("low", "expected", "high", "median"):
        root[name].check(math.isfinite(getattr(est, name)), "a finite number")
    for group in ("breakdown", "details", "sensitivity"):
        for key, value in getattr(est, group).items():
            root[group][key].check(math.isfinite(value), "a finite number")
    for key, value in est.sensitivity.items():
        root["sensitivity"][key].check(-1.0 <= value <= 1.0, "a correlation in [-1, 1]")
    root["median"].check(est.low <= est.median <= est.high, "between low and high")
    total = math.fsum(est.breakdown.values())
    root["expected"].check(
        math.isclose(est.expected, total, rel_tol=1e-9, abs_tol=1e-9),
        f"the sum of breakdown ({total!r})",
    )
    if est.n_samples < 0:
        raise root["n_samples"].fail("an int >= 0")
    if est.n_samples == 0:
        root["low"].check(est.low == est.expected == est.high, "expected, for a point estimate")


def _split(out: object) -> tuple[Arrays, Arrays]:
    if isinstance(out, tuple) and len(out) == 2:
        return out[0], out[1]
    if isinstance(out, Mapping):
        return out, {}
    raise ConfigError(
        "A cost model must return a mapping of part -> array, or (parts, details). "
        f"Got {type(out).__name__} instead.",
        parameter="model",
    )


def _spearman(x: FloatArray, y: FloatArray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    rx = stats.rankdata(x)
    ry = stats.rankdata(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def _not_finite(what: str, arrays: Arrays, bad: npt.NDArray[np.bool_]) -> ConfigError:
    """The error for ``what`` (a part, a detail) not finite where ``bad``, naming an input.

    At the first bad draw, the input at fault is taken to be the one of the most extreme
    order of magnitude when one is beyond ``1e30`` or below ``1e-30`` (a price in the
    wrong unit, a rate of ``1e-308``): an overflow needs one; otherwise an input of 0 (a
    zero rate divided by), otherwise the most extreme one. Every input is shown.
    """
    i = int(np.argmax(bad))
    at = {name: float(v[i]) for name, v in arrays.items()}

    def magnitude(name: str) -> float:
        x = abs(at[name])
        return -1.0 if x == 0 else abs(math.log10(x))

    culprit = max(at, key=magnitude) if at else None
    if culprit is not None and magnitude(culprit) < 30:
        culprit = next((name for name, x in at.items() if x == 0), culprit)
    shown = ", ".join(f"{name}={x:g}" for name, x in at.items())
    hint = (
        f": check {short_repr(culprit)} (its unit and size, or a zero rate)"
        if culprit is not None
        else ""
    )
    return ConfigError(
        f"{what} is not finite at {shown}{hint}; a utilisation at or above 1 does this too.",
        parameter=culprit if culprit is not None else "model",
    )


def evaluate(
    model: Model,
    inputs: Mapping[str, Input],
    *,
    unit: str,
    currency: str = "USD",
    n_samples: int = 10_000,
    seed: int | None = 0,
    notes: Mapping[str, str] | None = None,
) -> CostEstimate:
    """Run ``model`` on checked inputs: once for points, else Monte Carlo."""
    check_params(
        "CostEstimate",
        {"n_samples": n_samples, "seed": seed},
        {
            "n_samples": [Interval(int, 100, MAX_SAMPLES)],
            "seed": [Interval(int, 0, None), NONE],
        },
    )
    assumptions = {name: inp.describe() for name, inp in inputs.items()}
    assumptions.update(notes or {})
    uncertain = [name for name, inp in inputs.items() if not inp.is_point]
    n = n_samples if uncertain else 1
    rng = np.random.default_rng(seed)
    arrays = {name: inp.sample(n, rng) for name, inp in inputs.items()}
    # Non-finite parts are reported below, naming the part; no RuntimeWarning on the way.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        parts, details = _split(model(arrays))
    parts = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for k, v in parts.items()}
    if not parts:
        raise ConfigError("A cost model must return at least one part.", parameter="model")
    for k, v in parts.items():
        if not np.isfinite(v).all():
            raise _not_finite(f"Cost part {short_repr(k)}", arrays, ~np.isfinite(v))
    for k, v in details.items():
        d = np.asarray(v, dtype=np.float64)
        if not np.isfinite(d).all():
            bad = ~np.isfinite(d) if d.shape == (n,) else np.ones(n, dtype=bool)
            raise _not_finite(f"The {short_repr(k)} detail", arrays, bad)
    with np.errstate(over="ignore", invalid="ignore"):  # overflows are reported below
        total = np.sum(np.stack(list(parts.values())), axis=0)
        breakdown = {k: float(np.mean(v)) for k, v in parts.items()}
        detail_means = {
            k: float(np.mean(np.asarray(v, dtype=np.float64))) for k, v in details.items()
        }
    sums = {f"The mean of cost part {short_repr(k)}": m for k, m in breakdown.items()}
    sums.update({f"The mean of the {short_repr(k)} detail": m for k, m in detail_means.items()})
    sums["The total"] = float(np.max(np.abs(total)))
    for what, m in sums.items():
        if not math.isfinite(m):  # finite draws whose sum overflows
            raise _not_finite(what, arrays, np.abs(total) == np.max(np.abs(total)))
    try:
        expected = math.fsum(breakdown.values())
    except OverflowError:
        raise _not_finite("The total", arrays, np.abs(total) == np.max(np.abs(total))) from None
    if not uncertain:
        return CostEstimate.point(
            breakdown, currency=currency, unit=unit, assumptions=assumptions, details=detail_means
        )
    p10, p50, p90 = (float(q) for q in np.quantile(total, [0.1, 0.5, 0.9]))
    rho = {name: _spearman(arrays[name], total) for name in uncertain}
    ranked = dict(sorted(rho.items(), key=lambda kv: -abs(kv[1])))
    return CostEstimate(
        low=p10,
        expected=expected,
        high=p90,
        median=p50,
        breakdown=breakdown,
        assumptions=assumptions,
        currency=currency,
        unit=unit,
        details=detail_means,
        sensitivity=ranked,
        n_samples=n,
    )


def simulate(
    model: Model,
    inputs: Mapping[str, object],
    *,
    unit: str = "",
    currency: str = "USD",
    n_samples: int = 10_000,
    seed: int | None = 0,
) -> CostEstimate:
    """Evaluate your own vectorised cost model on uncertain inputs.

    Parameters
    ----------
    model
        Receives ``{input name: float64 array}`` and returns ``{part name: array}`` (or a
        pair ``(parts, details)``); must be vectorised (numpy operations only).
    inputs
        Each a number, a ``(low, mode, high)`` triangular triple or a frozen
        ``scipy.stats`` distribution.
    unit, currency
        Labels carried by the estimate.
    n_samples, seed
        Monte Carlo draws (100 to 1,000,000: each input allocates ``n_samples`` floats)
        and the seed of ``numpy.random.default_rng``.

    Returns
    -------
    CostEstimate

    Examples
    --------
    >>> def gpu_bill(x):
    ...     return {"gpu": x["hours"] * x["price"], "ops": x["hours"] * 0.5}
    >>> est = simulate(gpu_bill, {"hours": (90.0, 100.0, 130.0), "price": 2.0}, unit="per run")
    >>> round(est.expected, 0), list(est.sensitivity)
    (267.0, ['hours'])
    >>> est.low < est.median < est.high
    True
    """
    check_params(
        "simulate",
        {"model": model, "inputs": inputs},
        {
            "model": [Predicate(callable, "a callable cost model")],
            "inputs": [TypeOf(Mapping, "a mapping of input names to values")],
        },
    )
    checked = {name: as_input(name, value) for name, value in inputs.items()}
    return evaluate(model, checked, unit=unit, currency=currency, n_samples=n_samples, seed=seed)
