"""Price catalogs as data: every price carries the date it was read and where from.

A missing price is an :class:`UnpricedError`, never a silent zero. A catalog older than a
threshold emits :class:`StaleCatalogWarning` when loaded.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import itertools
import json
import warnings
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from prodml._quote import short_repr
from prodml.errors import ConfigError, ProdMLError

__all__ = [
    "Accelerator",
    "Instance",
    "Price",
    "PriceCatalog",
    "StaleCatalogWarning",
    "Tier",
    "TieredPrice",
    "UnpricedError",
    "load_catalog",
]

_SECTIONS = ("instances", "storage", "egress", "accelerators")


class UnpricedError(ProdMLError, KeyError):
    """A price (or hardware figure) the estimate needs is not in the catalog.

    Attributes
    ----------
    item
        The key looked up, e.g. ``"p5.48xlarge"``.
    section
        The catalog section: ``"instances"``, ``"storage"``, ``"egress"`` or
        ``"accelerators"``.
    """

    # KeyError.__str__ wraps the message in quotes; show it as written instead.
    if TYPE_CHECKING:  # the same method, declared for type checkers (pyright)

        def __str__(self) -> str: ...

    else:
        __str__ = Exception.__str__

    def __init__(self, message: str, *, item: str | None = None, section: str | None = None):
        self.item = item
        self.section = section
        super().__init__(message)


class StaleCatalogWarning(UserWarning):
    """A catalog holds prices older than the freshness threshold, or dated in the future."""


# Users catch these as prodml.cost.X; show them under that name in tracebacks too.
UnpricedError.__module__ = StaleCatalogWarning.__module__ = "prodml.cost"


_FROZEN = ConfigDict(frozen=True, extra="forbid")


def _iso_date(value: Any) -> Any:
    """A date, or the ISO text of one; never a number (pydantic reads 0 as 1970-01-01)."""
    if isinstance(value, _dt.datetime):
        raise ValueError("must be a date 'YYYY-MM-DD', not a date and time")
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date 'YYYY-MM-DD'") from None
    raise ValueError(f"must be a date 'YYYY-MM-DD', not {type(value).__name__}")


# Catalog numbers are strict: a price of "0.5" (text) or true (a bool read as 1.0) is a
# typo in a hand-written file, never coerced; NaN and infinities are refused everywhere.
_Date = Annotated[_dt.date, BeforeValidator(_iso_date)]
_COUNT_MAX = 2**31 - 1  # a count beyond any machine: a typo or a hostile file


_NESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("cost_model_nested", default=False)


class CostModel(BaseModel):
    """Base of the cost module's pydantic models: a bad argument is a ConfigError.

    Only the outermost construction is wrapped: pydantic calls ``__init__`` of nested
    models too, and their errors must reach it as ValidationErrors (``_validate`` words
    catalog files itself).
    """

    def __init__(self, **data: Any) -> None:
        if _NESTED.get():
            super().__init__(**data)
            return
        token = _NESTED.set(True)
        try:
            super().__init__(**data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or type(self).__name__
            raise ConfigError(
                f"Invalid {type(self).__name__}: {where}: {first['msg']} "
                f"({err.error_count()} problem(s) in total).",
                parameter=str(first["loc"][0]) if first["loc"] else None,
            ) from err
        finally:
            _NESTED.reset(token)


class Price(CostModel):
    """One list price: ``amount`` per ``unit`` (``"hour"``, ``"GB-month"``, ``"GB"``).

    ``currency`` is set from the catalog a price is read from (``None`` for a price made
    on its own); estimators refuse a price whose currency is not theirs.
    """

    model_config: ClassVar[ConfigDict] = _FROZEN

    amount: float = Field(ge=0, allow_inf_nan=False, strict=True)
    unit: str = Field(min_length=1, strict=True)
    as_of: _Date
    source: str = Field(min_length=1, strict=True)
    notes: str = Field(default="", strict=True)
    currency: str | None = Field(default=None, strict=True)


class Tier(CostModel):
    """A tier of a tiered price: ``amount`` per unit for quantities up to ``up_to``."""

    model_config: ClassVar[ConfigDict] = _FROZEN

    up_to: float | None = Field(default=None, gt=0, allow_inf_nan=False, strict=True)
    amount: float = Field(ge=0, allow_inf_nan=False, strict=True)


class TieredPrice(CostModel):
    """A volume-tiered price (e.g. internet egress), tiers in increasing ``up_to``."""

    model_config: ClassVar[ConfigDict] = _FROZEN

    tiers: tuple[Tier, ...] = Field(min_length=1)
    unit: str = Field(min_length=1, strict=True)
    as_of: _Date
    source: str = Field(min_length=1, strict=True)
    notes: str = Field(default="", strict=True)
    currency: str | None = Field(default=None, strict=True)

    @model_validator(mode="after")
    def _increasing(self) -> TieredPrice:
        bounds = [t.up_to for t in self.tiers]
        if any(b is None for b in bounds[:-1]):
            raise ValueError("only the last tier may be unbounded (up_to=None)")
        finite = [b for b in bounds if b is not None]
        if any(b2 <= b1 for b1, b2 in itertools.pairwise(finite)):
            raise ValueError("tier bounds 'up_to' must increase")
        return self

    def cost(self, quantity: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Total price of ``quantity`` units (vectorised over an array of quantities).

        Raises
        ------
        UnpricedError
            When a quantity exceeds the last bounded tier.
        """
        q = np.asarray(quantity, dtype=np.float64)
        last = self.tiers[-1].up_to
        if last is not None and np.any(q > last):
            raise UnpricedError(
                f"The tiered price has no tier above {last:g} {self.unit}; got "
                f"{float(np.max(q)):g}. Add an unbounded last tier (up_to=None).",
                item=self.unit,
            )
        total = np.zeros_like(q)
        start = 0.0
        for tier in self.tiers:
            end = np.inf if tier.up_to is None else tier.up_to
            total += tier.amount * np.clip(q - start, 0.0, end - start)
            start = end
        return total


class Instance(CostModel):
    """A machine type and its hourly price.

    The price must be per ``hour`` (``price_per_hour`` reads it as hourly); an
    ``accelerator`` name and an ``accelerators`` count go together.
    """

    model_config: ClassVar[ConfigDict] = _FROZEN

    provider: str = Field(strict=True)
    region: str = Field(strict=True)
    vcpus: int = Field(ge=1, le=_COUNT_MAX, strict=True)
    memory_gib: float = Field(gt=0, allow_inf_nan=False, strict=True)
    accelerator: str | None = Field(default=None, min_length=1, strict=True)
    accelerators: int = Field(default=0, ge=0, le=_COUNT_MAX, strict=True)
    price: Price

    @field_validator("price")
    @classmethod
    def _hourly(cls, price: Price) -> Price:
        # A price per second or per month read as per hour is off by 3600 or 730.
        if price.unit.strip().lower() != "hour":
            raise ValueError(
                f"an instance is priced per 'hour'; got a price per {short_repr(price.unit)}"
            )
        return price

    @model_validator(mode="after")
    def _fitted(self) -> Instance:
        if (self.accelerator is None) != (self.accelerators == 0):
            raise ValueError(
                "'accelerator' (the model) and 'accelerators' (how many) go together: "
                f"got accelerator={short_repr(self.accelerator)} and "
                f"accelerators={self.accelerators}"
            )
        return self

    @property
    def price_per_hour(self) -> float:
        """Price of the whole instance per hour."""
        return self.price.amount

    @property
    def price_per_accelerator_hour(self) -> float:
        """Price per accelerator (GPU) per hour.

        Raises
        ------
        ConfigError
            When the instance has no accelerators.
        """
        if self.accelerators == 0:
            raise ConfigError(
                "This instance has no accelerators; use price_per_hour.",
                parameter="accelerators",
            )
        return self.price.amount / self.accelerators


class Accelerator(CostModel):
    """Peak throughput and board power of one accelerator."""

    model_config: ClassVar[ConfigDict] = _FROZEN

    peak_flops: float = Field(gt=0, allow_inf_nan=False, strict=True)
    power_watts: float = Field(gt=0, allow_inf_nan=False, strict=True)
    precision: str = Field(strict=True)
    as_of: _Date
    source: str = Field(min_length=1, strict=True)


def _per(wanted: str) -> Callable[[_P], _P]:
    """A validator: the price's unit is ``wanted`` (storage per GB-month, egress per GB)."""

    def check(price: _P) -> _P:
        if price.unit.strip().lower() != wanted.lower():
            raise ValueError(f"the unit must be {wanted!r}; got {short_repr(price.unit)}")
        return price

    return check


_P = TypeVar("_P", Price, TieredPrice)


class PriceCatalog(CostModel):
    """Prices by section; look-ups raise :class:`UnpricedError` when a key is missing.

    Examples
    --------
    >>> cat = load_catalog("sample", max_age_days=None)
    >>> cat.instance("g4dn.xlarge").price_per_hour
    0.526
    >>> cat.instance("x9.huge")
    Traceback (most recent call last):
    ...
    prodml.cost.UnpricedError: No price for instance 'x9.huge' in catalog 'sample'. ...
    >>> mine = cat.merge(
    ...     {
    ...         "instances": {
    ...             "g4dn.xlarge": {
    ...                 "provider": "aws",
    ...                 "region": "us-east-1",
    ...                 "vcpus": 4,
    ...                 "memory_gib": 16,
    ...                 "accelerator": "t4",
    ...                 "accelerators": 1,
    ...                 "price": {
    ...                     "amount": 0.3,
    ...                     "unit": "hour",
    ...                     "as_of": "2026-11-01",
    ...                     "source": "our contract",
    ...                 },
    ...             }
    ...         }
    ...     }
    ... )
    >>> mine.instance("g4dn.xlarge").price_per_hour, mine.instance("g5.xlarge").price_per_hour
    (0.3, 1.006)
    """

    model_config: ClassVar[ConfigDict] = _FROZEN

    name: str = Field(default="custom", strict=True)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", strict=True)
    description: str = Field(default="", strict=True)
    instances: dict[str, Instance] = Field(default_factory=dict)
    storage: dict[str, Annotated[Price, AfterValidator(_per("GB-month"))]] = Field(
        default_factory=dict
    )
    egress: dict[str, Annotated[TieredPrice, AfterValidator(_per("GB"))]] = Field(
        default_factory=dict
    )
    accelerators: dict[str, Accelerator] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _stamp_currency(cls, data: Any) -> Any:
        """Give every price the catalog's currency; refuse one priced in another."""
        if not isinstance(data, Mapping):
            return data
        currency = data.get("currency", "USD")
        if not isinstance(currency, str):
            return data  # pydantic reports the currency itself
        out = dict(data)
        for section in ("storage", "egress", "instances"):
            entries = out.get(section)
            if isinstance(entries, Mapping):
                out[section] = {
                    k: _stamped(e, currency, f"{section}.{k}", nested=section == "instances")
                    for k, e in entries.items()
                }
        return out

    def _get(self, section: str, key: str) -> Any:
        table: Mapping[str, Any] = getattr(self, section)
        if key in table:
            return table[key]
        what = section[:-1] if section != "storage" else "storage class"
        known = ", ".join(sorted(table)) or "none"
        raise UnpricedError(
            f"No price for {what} {short_repr(key)} in catalog {self.name!r}. Known: {known}. "
            f"Add it with catalog.merge({{{section!r}: {{{short_repr(key)}: ...}}}}).",
            item=key,
            section=section,
        )

    def instance(self, name: str) -> Instance:
        """The instance type ``name``."""
        result: Instance = self._get("instances", name)
        return result

    def storage_price(self, name: str) -> Price:
        """The storage class ``name``, priced per GB-month."""
        result: Price = self._get("storage", name)
        return result

    def egress_price(self, name: str) -> TieredPrice:
        """The egress route ``name``, tiered per GB per month."""
        result: TieredPrice = self._get("egress", name)
        return result

    def accelerator(self, name: str) -> Accelerator:
        """Peak FLOP/s and power of accelerator ``name``."""
        result: Accelerator = self._get("accelerators", name)
        return result

    def accelerator_of(self, instance: str) -> Accelerator:
        """The accelerator fitted to ``instance``."""
        inst = self.instance(instance)
        if inst.accelerator is None:
            raise UnpricedError(
                f"Instance {short_repr(instance)} has no accelerator.",
                item=instance,
                section="instances",
            )
        return self.accelerator(inst.accelerator)

    def dates(self) -> dict[str, _dt.date]:
        """The ``as_of`` date of every entry, keyed ``"section/key"``."""
        out: dict[str, _dt.date] = {}
        for name, inst in self.instances.items():
            out[f"instances/{name}"] = inst.price.as_of
        for section in ("storage", "egress", "accelerators"):
            for key, entry in getattr(self, section).items():
                out[f"{section}/{key}"] = entry.as_of
        return out

    def stale_entries(self, max_age_days: int, *, today: _dt.date | None = None) -> list[str]:
        """Entries whose ``as_of`` is more than ``max_age_days`` before ``today``."""
        today = today or _dt.datetime.now(_dt.timezone.utc).date()
        limit = today - _dt.timedelta(days=max_age_days)
        return [key for key, when in self.dates().items() if when < limit]

    def future_entries(self, *, today: _dt.date | None = None) -> list[str]:
        """Entries whose ``as_of`` is after ``today`` (UTC, with a day's grace for zones).

        A price cannot have been read in the future: such a date is a typo (``2062`` for
        ``2026``) that would also keep the entry from ever counting as stale.
        """
        today = today or _dt.datetime.now(_dt.timezone.utc).date()
        return [key for key, when in self.dates().items() if (when - today).days > 1]

    def check_freshness(self, max_age_days: int = 365, *, today: _dt.date | None = None) -> None:
        """Warn with :class:`StaleCatalogWarning` when any entry is too old or future-dated."""
        future = self.future_entries(today=today)
        if future:
            latest = max(self.dates()[k] for k in future)
            warnings.warn(
                f"Catalog {self.name!r}: {len(future)} price(s) are dated after today "
                f"(latest as of {latest.isoformat()}, e.g. {future[0]}); a price cannot be "
                "read in the future, so check the as_of dates (a typo keeps them from ever "
                "counting as stale).",
                StaleCatalogWarning,
                stacklevel=2,
            )
        stale = self.stale_entries(max_age_days, today=today)
        if stale:
            oldest = min(self.dates()[k] for k in stale)
            warnings.warn(
                f"Catalog {self.name!r}: {len(stale)} price(s) are older than {max_age_days} "
                f"days (oldest as of {oldest.isoformat()}, e.g. {stale[0]}). Check the "
                "sources and override them with catalog.merge(...).",
                StaleCatalogWarning,
                stacklevel=2,
            )

    def merge(self, overrides: PriceCatalog | Mapping[str, Any]) -> PriceCatalog:
        """A new catalog: this one with ``overrides``' entries added or replaced."""
        other = (
            overrides
            if isinstance(overrides, PriceCatalog)
            else _validate({"name": self.name, "currency": self.currency, **overrides})
        )
        if other.currency != self.currency:
            raise ConfigError(
                f"Cannot merge a {other.currency} catalog into a {self.currency} catalog.",
                parameter="currency",
            )
        data = self.model_dump()
        for section in _SECTIONS:
            data[section].update(other.model_dump()[section])
        return _validate(data)

    def to_json(self) -> str:
        """The catalog as JSON (the format :func:`load_catalog` reads)."""
        return self.model_dump_json(indent=2)


def _stamped(entry: Any, currency: str, where: str, *, nested: bool) -> Any:
    """``entry`` (a price, or an instance holding one) with ``currency`` set."""
    if nested:  # an instance: its price is nested
        if isinstance(entry, Instance):
            return entry.model_copy(update={"price": _stamped(entry.price, currency, where,
                                                               nested=False)})  # fmt: skip
        if isinstance(entry, Mapping) and "price" in entry:
            return {**entry, "price": _stamped(entry["price"], currency, where, nested=False)}
        return entry
    if isinstance(entry, Price | TieredPrice):
        own = entry.currency
    elif isinstance(entry, Mapping):
        own = entry.get("currency")
    else:
        return entry  # pydantic reports it
    if own is not None and own != currency:
        raise ValueError(  # worded as a ConfigError by the caller
            f"{where} is priced in {short_repr(own)} but the catalog is in {currency!r}"
        )
    if isinstance(entry, Price | TieredPrice):
        return entry if own is not None else entry.model_copy(update={"currency": currency})
    return {**entry, "currency": currency}


def check_currency(owner: str, name: str, price: Price | TieredPrice, currency: str) -> None:
    """A catalog price in another currency than the estimate's is a ConfigError."""
    if price.currency is not None and price.currency != currency:
        raise ConfigError(
            f"The {name!r} parameter of {owner} is priced in {price.currency!r} but the "
            f"estimate is in {currency!r}. Pass currency={price.currency!r}, or convert the "
            "price first.",
            parameter="currency",
        )


def _validate(data: Mapping[str, Any]) -> PriceCatalog:
    token = _NESTED.set(True)  # nested models raise ValidationErrors, worded below
    try:
        return PriceCatalog.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"Invalid price catalog at {short_repr(where)}: {first['msg']} ({err.error_count()} "
            "problem(s) in total).",
            parameter=where,
        ) from err
    finally:
        _NESTED.reset(token)


def load_catalog(
    source: str | Path | Mapping[str, Any] = "sample",
    *,
    max_age_days: int | None = 365,
    today: _dt.date | None = None,
) -> PriceCatalog:
    """Load a price catalog: a shipped one by name, a JSON file, or a dict.

    Parameters
    ----------
    source
        ``"sample"`` (shipped with prodml), a path to a JSON file, or a mapping.
    max_age_days
        Warn with :class:`StaleCatalogWarning` when any price is older, or dated after
        ``today``; ``None`` skips both checks.
    today
        The reference date for the freshness check (default: today, UTC).

    Raises
    ------
    ConfigError
        When the file is missing or the catalog is malformed.
    """
    if isinstance(source, Mapping):
        catalog = _validate(source)
    else:
        catalog = _validate(_parse(_read(source), source))
    if max_age_days is not None:
        catalog.check_freshness(max_age_days, today=today)
    return catalog


class _Pairs(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once."""

    repeated: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> _Pairs:
    out = _Pairs(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        repeated = []
        for key, _ in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
        out.repeated = tuple(repeated)
    return out


def _repeated(node: Any, path: str) -> str | None:
    """The path of the first key given twice in a parsed JSON document, or None."""
    if isinstance(node, _Pairs):
        if node.repeated:
            return f"{path}.{node.repeated[0]}" if path else node.repeated[0]
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return None
    for key, child in items:
        found = _repeated(child, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _parse(text: str, source: str | Path) -> Any:
    """The JSON document of a catalog file; a key given twice is refused, not last-wins."""
    where = short_repr(str(source))
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as err:
        raise ConfigError(f"Price catalog {where} is not valid JSON: {err}") from err
    except (ValueError, RecursionError) as err:  # a 5000-digit int, nesting past the stack
        kind = (
            "is nested deeper than a price catalog can be"
            if isinstance(err, RecursionError)
            else "holds a number too long to read"
        )
        raise ConfigError(
            f"Price catalog {where} {kind} ({type(err).__name__}).",
            parameter="source",
        ) from None
    try:
        twice = _repeated(data, "")
    except RecursionError:
        twice = None  # nesting this deep fails validation below anyway
    if twice is not None:
        # json keeps the last of two equal keys: a second 'amount' or a second entry of
        # one instance would silently replace the first.
        raise ConfigError(
            f"Price catalog {where} gives the key {short_repr(twice)} more than once; "
            "each instance, price and field must appear once.",
            parameter=twice,
        )
    return data


def _read(source: str | Path) -> str:
    try:
        return _read_file(source)
    except OSError as err:  # a name too long, a folder, no permission: the user's input
        raise ConfigError(
            f"Price catalog {short_repr(str(source))} cannot be read: {err.strerror}.",
            parameter="source",
        ) from None


def _read_file(source: str | Path) -> str:
    if isinstance(source, str) and "/" not in source and not source.endswith(".json"):
        shipped = resources.files("prodml.cost").joinpath("catalogs").joinpath(f"{source}.json")
        if not shipped.is_file():
            raise ConfigError(
                f"No shipped price catalog named {short_repr(source)} (shipped: 'sample'); "
                "pass a path to a JSON file instead.",
                parameter="source",
            )
        return shipped.read_text(encoding="utf-8")
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"Price catalog file {short_repr(str(path))} does not exist.", parameter="source"
        )
    return path.read_text(encoding="utf-8")
