"""Storage (GB-months, with growth) and egress (tiered per-GB) costs."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from prodml._params import Interval, check_params
from prodml._quote import short_repr
from prodml.cost._catalog import Price, TieredPrice, check_currency
from prodml.cost._estimate import Arrays, CostEstimate, evaluate
from prodml.cost._inputs import Uncertain, as_inputs
from prodml.errors import ConfigError

__all__ = ["egress_cost", "storage_cost"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
_NONNEG = Interval(float, 0, None, "both")


def _check_unit(owner: str, name: str, unit: str, wanted: str) -> None:
    """A catalog price of another unit (an hourly price) would give a silently wrong cost."""
    if unit.strip().lower() != wanted.lower():
        raise ConfigError(
            f"The {name!r} parameter of {owner} must be priced per {wanted}. Got a price per "
            f"{short_repr(unit)} instead.",
            parameter=name,
        )


def storage_cost(
    *,
    gb: Uncertain,
    price_per_gb_month: Uncertain | Price,
    months: float = 1.0,
    growth_gb_per_month: Uncertain = 0.0,
    copies: int = 1,
    currency: str = "USD",
    n_samples: int = 10_000,
    seed: int | None = 0,
) -> CostEstimate:
    """Cost of keeping ``gb`` (growing linearly) for ``months``.

    Stored volume is ``months * gb + growth_gb_per_month * months**2 / 2`` GB-months,
    times ``copies`` (replicas, versions kept). A catalog :class:`Price` must be per
    ``GB-month`` (a ConfigError otherwise, e.g. for an instance's hourly price) and in
    ``currency`` (a EUR catalog's price needs ``currency="EUR"``).

    Examples
    --------
    >>> est = storage_cost(gb=1000, growth_gb_per_month=100, months=12, price_per_gb_month=0.023)
    >>> round(est.expected, 2), est.details["gb_months"]
    (441.6, 19200.0)
    """
    check_params(
        "storage_cost",
        {"months": months, "copies": copies},
        {"months": [Interval(float, 0, None, "neither")], "copies": [Interval(int, 1, None)]},
    )
    if isinstance(price_per_gb_month, Price):
        _check_unit("storage_cost", "price_per_gb_month", price_per_gb_month.unit, "GB-month")
        check_currency("storage_cost", "price_per_gb_month", price_per_gb_month, currency)
        price: object = price_per_gb_month.amount
    else:
        price = price_per_gb_month
    inputs = as_inputs(
        {"gb": gb, "price_per_gb_month": price, "growth_gb_per_month": growth_gb_per_month},
        {"gb": _NONNEG, "price_per_gb_month": _NONNEG, "growth_gb_per_month": _NONNEG},
    )

    def model(x: Arrays) -> tuple[Arrays, Arrays]:
        gb_months = copies * (months * x["gb"] + x["growth_gb_per_month"] * months**2 / 2.0)
        return {"storage": gb_months * x["price_per_gb_month"]}, {"gb_months": gb_months}

    notes = {"months": f"{months:g}", "copies": str(copies)}
    unit = "per month" if months == 1.0 else f"per {months:g} months"
    return evaluate(
        model, inputs, unit=unit, currency=currency, n_samples=n_samples, seed=seed, notes=notes
    )


def egress_cost(
    *,
    gb: Uncertain,
    price: float | TieredPrice,
    currency: str = "USD",
    n_samples: int = 10_000,
    seed: int | None = 0,
) -> CostEstimate:
    """Cost of transferring ``gb`` out in one billing month, at a flat or tiered price.

    A :class:`TieredPrice` must be per ``GB`` and in ``currency`` (a ConfigError
    otherwise).

    Examples
    --------
    >>> from prodml.cost import load_catalog
    >>> aws = load_catalog(max_age_days=None).egress_price("aws-internet")
    >>> egress_cost(gb=20_000, price=aws).expected  # 100 free, 10140 at .09, 9760 at .085
    1742.2
    """
    if isinstance(price, TieredPrice):
        _check_unit("egress_cost", "price", price.unit, "GB")
        check_currency("egress_cost", "price", price, currency)
        tiered = price
    elif isinstance(price, int | float) and not isinstance(price, bool):
        tiered = None
    else:
        raise ConfigError(
            f"The 'price' parameter of egress_cost must be a float >= 0 or a TieredPrice. "
            f"Got {short_repr(price)} instead.",
            parameter="price",
        )
    flat = None if tiered is not None else price
    inputs = as_inputs(
        {"gb": gb, "price": flat},  # named as the parameter: errors name it
        {"gb": _NONNEG, "price": _NONNEG},
        optional=("price",),
    )

    def model(x: Arrays) -> tuple[Arrays, Arrays]:
        cost = tiered.cost(x["gb"]) if tiered is not None else x["gb"] * x["price"]
        return {"egress": cost}, {"gb": x["gb"]}

    notes = {"pricing": "tiered per GB per month" if tiered is not None else "flat per GB"}
    return evaluate(
        model,
        inputs,
        unit="per month",
        currency=currency,
        n_samples=n_samples,
        seed=seed,
        notes=notes,
    )
