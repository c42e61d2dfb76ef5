"""Retraining cadence: fit a decay curve, find the cheapest interval, decide when to retrain.

A model ``t`` time units after training has lost ``drop(t)`` of its metric; each unit of
drop costs ``value_per_unit`` per unit time, so the loss rate is
``l(t) = value_per_unit * drop(t)``. Retraining every ``T`` costs on average

    g(T) = (C_r + integral_0^T l(t) dt) / T        per unit time.

For a linear loss rate ``l(t) = d t``, ``g(T) = C_r / T + d T / 2`` is smallest at
``T* = sqrt(2 C_r / d)`` (the economic-order-quantity square root: Harris 1913; for
model retraining see e.g. Zliobaite et al. 2015, "Towards cost-sensitive adaptation
... "). For any other curve ``g`` is minimised numerically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import integrate, optimize

from prodml._data import as_columns, is_tabular
from prodml._params import Interval, OneOf, check_params
from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = [
    "DecayCurve",
    "RetrainDecision",
    "RetrainPlan",
    "fit_decay",
    "optimal_retrain_interval",
    "should_retrain",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
DropCurve: TypeAlias = "DecayCurve | Callable[[float], float]"


@dataclass(frozen=True)
class DecayCurve:
    """A fitted performance decay: ``linear`` or ``exponential`` (towards a floor).

    - linear: ``performance(t) = initial - rate * t`` (``+`` when lower is better)
    - exponential: ``performance(t) = floor + (initial - floor) * exp(-rate * t)``
    """

    kind: Literal["linear", "exponential"]
    initial: float
    rate: float
    floor: float = math.nan
    higher_is_better: bool = True
    rmse: float = math.nan

    def __post_init__(self) -> None:
        # A NaN or infinite parameter would make every cost NaN and every decision False.
        if not isinstance(self.kind, str) or self.kind not in ("linear", "exponential"):
            raise ConfigError(
                f"DecayCurve kind must be 'linear' or 'exponential'. Got {short_repr(self.kind)}.",
                parameter="kind",
            )
        wanted = ("initial", "rate", "floor") if self.kind == "exponential" else ("initial", "rate")
        for name in wanted:
            value = getattr(self, name)
            if not _finite_real(value):
                raise ConfigError(
                    f"DecayCurve ({self.kind}) needs a finite number for {name!r}. "
                    f"Got {short_repr(value)} instead.",
                    parameter=name,
                )
        if self.kind == "exponential" and self.rate < 0:
            raise ConfigError(
                f"An exponential DecayCurve needs rate >= 0. Got {short_repr(self.rate)}.",
                parameter="rate",
            )
        if not isinstance(self.higher_is_better, bool):
            raise ConfigError(
                "DecayCurve higher_is_better must be True or False. "
                f"Got {short_repr(self.higher_is_better)}.",
                parameter="higher_is_better",
            )

    def performance(self, t: npt.ArrayLike) -> FloatArray:
        """The metric at age ``t``."""
        tt = np.asarray(t, dtype=np.float64)
        if self.kind == "linear":
            sign = 1.0 if self.higher_is_better else -1.0
            return self.initial - sign * self.rate * tt
        return self.floor + (self.initial - self.floor) * np.exp(-self.rate * tt)

    def drop(self, t: npt.ArrayLike) -> FloatArray:
        """How much worse than at age 0 the metric is at age ``t``."""
        sign = 1.0 if self.higher_is_better else -1.0
        return np.asarray(sign * (self.initial - self.performance(t)), dtype=np.float64)

    def cumulative_drop(self, t: npt.ArrayLike) -> FloatArray:
        """``integral_0^t drop(s) ds`` in closed form."""
        tt = np.asarray(t, dtype=np.float64)
        if self.kind == "linear":
            return np.asarray(self.rate * tt**2 / 2.0, dtype=np.float64)
        sign = 1.0 if self.higher_is_better else -1.0
        amp = sign * (self.initial - self.floor)
        # integral_0^t (1 - exp(-r s)) ds = t * h(r t), h(x) = 1 - (1 - exp(-x)) / x: the
        # textbook form t + expm1(-r t) / r divides by zero at r = 0 (a curve that does not
        # decay, which fit_decay can return) and cancels catastrophically for small r t,
        # so small x takes h's series instead.
        x = self.rate * tt
        with np.errstate(divide="ignore", invalid="ignore"):
            big = 1.0 + np.expm1(-x) / x
        small = x / 2.0 - x**2 / 6.0 + x**3 / 24.0
        h = np.where(np.abs(x) < 1e-4, small, big)
        return np.asarray(amp * tt * h, dtype=np.float64)


def _finite_real(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond the float range
        return False


def _history(ages: object, values: object, age: str, metric: str) -> tuple[FloatArray, FloatArray]:
    if values is None:
        if not is_tabular(ages):
            raise ConfigError(
                "fit_decay needs ages and values, or a table with the age and metric columns.",
                parameter="values",
            )
        cols = as_columns(ages, what="performance history")
        return cols.float64(age), cols.float64(metric)
    try:
        t = np.asarray(ages, dtype=np.float64).ravel()
        y = np.asarray(values, dtype=np.float64).ravel()
    except OverflowError:  # an int beyond the float range
        raise ConfigError(
            "fit_decay: ages and values must be finite numbers; one is an int beyond the "
            "float range.",
            parameter="values",
        ) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"fit_decay: ages and values must be numeric ({err}).") from err
    return t, y


def fit_decay(
    ages: object,
    values: object = None,
    *,
    kind: Literal["linear", "exponential"] = "exponential",
    higher_is_better: bool = True,
    age: str = "age",
    metric: str = "metric",
) -> DecayCurve:
    """Fit a decay curve to a monitored performance history.

    Parameters
    ----------
    ages, values
        Model age at each measurement and the metric measured; or pass a table (pandas,
        pyarrow) as ``ages`` and name its columns with ``age`` and ``metric``.
    kind
        ``"linear"`` (least squares) or ``"exponential"`` towards a floor
        (``scipy.optimize.curve_fit``).
    higher_is_better
        Whether a larger metric is better (AUC: yes; RMSE: no).

    Examples
    --------
    >>> t = [0, 10, 20, 30, 40]
    >>> curve = fit_decay(t, [0.90, 0.88, 0.86, 0.84, 0.82], kind="linear")
    >>> round(curve.rate, 6), round(float(curve.drop(50)), 6)
    (0.002, 0.1)
    """
    check_params(
        "fit_decay",
        {"kind": kind, "higher_is_better": higher_is_better},
        {"kind": [OneOf(("linear", "exponential"))], "higher_is_better": [OneOf((True, False))]},
    )
    t, y = _history(ages, values, age, metric)
    need = 2 if kind == "linear" else 4
    if t.shape != y.shape or t.size < need:
        raise ConfigError(
            f"fit_decay ({kind}) needs ages and values of equal length, at least {need} points. "
            f"Got {t.size} ages and {y.size} values.",
            parameter="values",
        )
    if not (np.isfinite(t).all() and np.isfinite(y).all()):
        raise ConfigError("fit_decay: ages and values must be finite (no NaN).", parameter="values")
    if np.ptp(t) == 0:
        raise ConfigError("fit_decay: the ages must not all be equal.", parameter="ages")
    if kind == "linear":
        slope, intercept = np.polyfit(t, y, 1)
        sign = 1.0 if higher_is_better else -1.0
        curve = DecayCurve(
            "linear", float(intercept), float(-sign * slope), math.nan, higher_is_better
        )
    else:
        curve = _fit_exponential(t, y, higher_is_better)
    resid = curve.performance(t) - y
    return DecayCurve(
        curve.kind,
        curve.initial,
        curve.rate,
        curve.floor,
        higher_is_better,
        float(np.sqrt(np.mean(resid**2))),
    )


def _fit_exponential(t: FloatArray, y: FloatArray, higher_is_better: bool) -> DecayCurve:
    def f(tt: FloatArray, initial: float, floor: float, rate: float) -> FloatArray:
        return floor + (initial - floor) * np.exp(-rate * tt)

    order = np.argsort(t)
    p0 = [y[order[0]], y[order[-1]], 3.0 / float(np.ptp(t))]
    try:
        (initial, floor, rate), _ = optimize.curve_fit(
            f,
            t,
            y,
            p0=p0,
            bounds=([-np.inf, -np.inf, 0.0], [np.inf, np.inf, np.inf]),
            maxfev=20_000,
        )
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"fit_decay: the exponential fit did not converge ({err}).") from err
    return DecayCurve("exponential", float(initial), float(rate), float(floor), higher_is_better)


@dataclass(frozen=True)
class RetrainPlan:
    """The cheapest retraining interval and its average cost per unit time.

    ``at_bound`` is True when the optimum lies at or beyond ``max_interval`` (retraining
    barely pays, or never does): ``interval`` is then ``max_interval``.
    """

    interval: float
    cost_rate: float
    retrain_cost: float
    method: str
    at_bound: bool = False


def _rates(
    curve: DropCurve, value: float
) -> tuple[Callable[[float], float], Callable[[float], float]]:
    if isinstance(curve, DecayCurve):
        return (
            lambda t: value * float(curve.drop(t)),
            lambda t: value * float(curve.cumulative_drop(t)),
        )
    if not callable(curve):
        raise ConfigError(
            "curve must be a DecayCurve or a function of age returning the metric drop.",
            parameter="curve",
        )

    def cumulative(t: float) -> float:
        return value * float(integrate.quad(curve, 0.0, t, limit=200)[0])

    return (lambda t: value * float(curve(t))), cumulative


def optimal_retrain_interval(
    retrain_cost: float,
    *,
    decay_rate: float | None = None,
    curve: DropCurve | None = None,
    value_per_unit: float = 1.0,
    max_interval: float = 1e6,
) -> RetrainPlan:
    """The retraining interval that minimises retraining plus degradation cost.

    Parameters
    ----------
    retrain_cost
        Cost of one retraining C_r (compute, people, validation).
    decay_rate
        ``d``, the growth of the loss rate per unit time (currency / time^2): the closed
        form ``T* = sqrt(2 C_r / d)``. It is already in currency, so ``value_per_unit``
        must be left at 1 (a ConfigError otherwise). ``d = 0`` (no drift) never pays for
        a retrain: the plan is ``max_interval`` with ``at_bound=True``, as for a curve
        that does not decay.
    curve, value_per_unit
        Or a :class:`DecayCurve` (or a function of age giving the metric drop) and the
        cost per unit of drop per unit time: minimised numerically (Brent's method in log
        time, polished by solving the first-order condition ``T l(T) = C_r + L(T)``).
    max_interval
        The longest interval considered, in the curve's time unit: an optimum beyond it
        (closed form or numeric) is returned as ``max_interval`` with ``at_bound=True``.

    Raises
    ------
    ConfigError
        For a bad parameter, or a curve whose loss is not a finite number (NaN).

    Examples
    --------
    >>> optimal_retrain_interval(500.0, decay_rate=10.0).interval
    10.0
    >>> curve = DecayCurve("linear", initial=0.9, rate=0.001)
    >>> round(optimal_retrain_interval(500.0, curve=curve, value_per_unit=10_000).interval, 9)
    10.0
    """
    check_params(
        "optimal_retrain_interval",
        {
            "retrain_cost": retrain_cost,
            "value_per_unit": value_per_unit,
            "max_interval": max_interval,
        },
        {
            "retrain_cost": [Interval(float, 0, None, "neither")],
            "value_per_unit": [Interval(float, 0, None, "neither")],
            "max_interval": [Interval(float, 0, None, "neither")],
        },
    )
    if (decay_rate is None) == (curve is None):
        raise ConfigError(
            "optimal_retrain_interval needs exactly one of decay_rate= (linear decay, closed "
            "form) or curve= (numeric).",
            parameter="curve",
        )
    if decay_rate is not None:
        return _closed_form(retrain_cost, decay_rate, value_per_unit, max_interval)
    assert curve is not None  # noqa: S101 - narrowed by the check above
    rate, cumulative = _rates(curve, value_per_unit)

    def g(log_t: float) -> float:
        t = math.exp(log_t)
        return (retrain_cost + cumulative(t)) / t

    # Brent in log time over 40 e-folds below max_interval; an optimum at the window's
    # lower end lies below it (cheap retrains, fast decay): slide the window down.
    hi = math.log(max_interval)
    lo = hi - 40.0
    while True:
        res = optimize.minimize_scalar(
            g, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10}
        )
        if float(res.x) > lo + 1e-3 or lo < _LOG_SMALLEST:
            break
        hi, lo = lo + 1.0, lo - 40.0
    t_opt = math.exp(float(res.x))

    def foc(t: float) -> float:
        return t * rate(t) - retrain_cost - cumulative(t)

    a, b = t_opt / 1.5, min(t_opt * 1.5, max_interval)
    if foc(a) < 0.0 < foc(b):
        t_opt = float(optimize.brentq(foc, a, b, xtol=1e-14 * t_opt, rtol=1e-14))
    cost_rate = g(math.log(t_opt))
    if t_opt >= max_interval * (1.0 - 1e-6):
        # Brent stops within its tolerance of the bound: the bound itself can be cheaper.
        at_max = g(math.log(max_interval))
        if at_max <= cost_rate:
            t_opt, cost_rate = float(max_interval), at_max
    if not math.isfinite(cost_rate):
        raise ConfigError(
            f"optimal_retrain_interval: the curve's loss at age {t_opt:.6g} is not a finite "
            f"number ({cost_rate!r}); the curve must return finite metric drops.",
            parameter="curve",
        )
    at_bound = t_opt >= max_interval * (1.0 - 1e-6)
    return RetrainPlan(t_opt, cost_rate, retrain_cost, "numeric", at_bound)


_LOG_SMALLEST = math.log(1e-300)


def _closed_form(
    retrain_cost: float, decay_rate: object, value_per_unit: float, max_interval: float
) -> RetrainPlan:
    check_params(
        "optimal_retrain_interval",
        {"decay_rate": decay_rate},
        {"decay_rate": [Interval(float, 0, None, "both")]},
    )
    if value_per_unit != 1.0:
        raise ConfigError(
            "optimal_retrain_interval: decay_rate= is already a cost (currency per time "
            "unit squared), so value_per_unit= would be ignored; fold it into decay_rate "
            "(decay_rate * value_per_unit) or pass curve=.",
            parameter="value_per_unit",
        )
    d = float(decay_rate)  # type: ignore[arg-type]
    # sqrt of each factor apart: 2 C_r / d and 2 C_r d overflow or underflow for extreme
    # (but finite) inputs whose optimum is representable.
    root_c, root_d = math.sqrt(float(retrain_cost)), math.sqrt(d)
    t_star = math.inf if d == 0.0 else math.sqrt(2.0) * (root_c / root_d)
    if t_star >= max_interval:
        cost_rate = retrain_cost / max_interval + d * max_interval / 2.0
        return RetrainPlan(max_interval, cost_rate, retrain_cost, "closed form", True)
    cost_rate = math.sqrt(2.0) * (root_c * root_d)
    return RetrainPlan(t_star, cost_rate, retrain_cost, "closed form")


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain now: the avoidable loss over the horizon against the cost."""

    retrain: bool
    expected_loss: float
    retrain_cost: float
    horizon: float
    age: float

    @property
    def reason(self) -> str:
        """The decision in words (``horizon`` in the curve's time unit)."""
        op = ">" if self.retrain else "<="
        unit = "time unit" if self.horizon == 1 else "time units"
        return (
            f"expected avoidable loss over the next {self.horizon:g} {unit} "
            f"({self.expected_loss:,.2f}) {op} retraining cost ({self.retrain_cost:,.2f})"
        )


def should_retrain(
    age: float,
    *,
    curve: DropCurve,
    horizon: float,
    retrain_cost: float,
    value_per_unit: float = 1.0,
) -> RetrainDecision:
    """Retrain when the loss avoided over ``horizon`` exceeds the retraining cost.

    The avoidable loss is what keeping the current model (age ``age``) loses over the
    next ``horizon`` compared with a freshly trained one:
    ``value_per_unit * (L(age + horizon) - L(age) - L(horizon))``, ``L`` the cumulative
    drop.

    Raises
    ------
    ConfigError
        For a bad parameter, or a loss that is not a finite number (a curve returning NaN).

    Examples
    --------
    >>> curve = DecayCurve("linear", initial=0.9, rate=0.001)
    >>> should_retrain(30, curve=curve, horizon=7, retrain_cost=500, value_per_unit=10_000)
    RetrainDecision(retrain=True, expected_loss=2100.0..., retrain_cost=500, horizon=7, age=30)
    """
    check_params(
        "should_retrain",
        {
            "age": age,
            "horizon": horizon,
            "retrain_cost": retrain_cost,
            "value_per_unit": value_per_unit,
        },
        {
            "age": [Interval(float, 0, None)],
            "horizon": [Interval(float, 0, None, "neither")],
            "retrain_cost": [Interval(float, 0, None)],
            "value_per_unit": [Interval(float, 0, None, "neither")],
        },
    )
    _, cumulative = _rates(curve, value_per_unit)
    loss = cumulative(age + horizon) - cumulative(age) - cumulative(horizon)
    if not math.isfinite(loss):
        # NaN > cost is False: a NaN loss would silently mean "never retrain".
        raise ConfigError(
            f"should_retrain: the expected loss is not a finite number ({loss!r}); the curve "
            "must return finite metric drops, and value_per_unit times the drop must stay in "
            "the float range.",
            parameter="curve",
        )
    return RetrainDecision(loss > retrain_cost, loss, retrain_cost, horizon, age)
