"""Promotion gates for :meth:`ModelRegistry.promote <prodml.registry.ModelRegistry.promote>`.

A check is any callable ``check(candidate, current) -> str | None`` taking the version to
promote and the version the alias points at now (``None`` if unset); it returns a
sentence saying why the candidate must not be promoted, or ``None`` to let it pass.

Examples
--------
>>> from datetime import datetime, timezone
>>> from prodml.registry import ModelVersion
>>> mv = ModelVersion(
...     name="churn",
...     version=2,
...     flavour="files",
...     artifact_key="k",
...     files={},
...     created_at=datetime.now(timezone.utc),
...     created_by="ci",
...     metrics={"auc": 0.71},
... )
>>> MetricThreshold("auc", min=0.75)(mv, None)
"metric 'auc' of churn version 2 is 0.71, below the minimum 0.75"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prodml._quote import short_repr
from prodml.errors import ConfigError, RegistryError
from prodml.registry.entities import ModelVersion

__all__ = [
    "Check",
    "MetricThreshold",
    "NotWorseThanCurrent",
    "PromotionError",
    "SignatureCompatible",
]


class Check(Protocol):
    """A promotion gate."""

    def __call__(self, candidate: ModelVersion, current: ModelVersion | None, /) -> str | None:
        """Why ``candidate`` must not replace ``current``, or ``None``.

        Called with two positional arguments, so any function of two parameters is a
        check, whatever it names them.
        """


class PromotionError(RegistryError):
    """A promotion gate refused to move an alias; ``failures`` lists every reason."""

    def __init__(
        self, failures: Sequence[str], *, model_name: str, version: int, alias: str
    ) -> None:
        self.failures: list[str] = list(failures)
        self.alias = alias
        lines = "\n".join(f"  - {f}" for f in self.failures)
        self._init = (self.failures, model_name, version, alias)
        super().__init__(
            f"refused to point {model_name}@{alias} at version {version}: "
            f"{len(self.failures)} check(s) failed:\n{lines}",
            model_name=model_name,
            version=version,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        failures, model_name, version, alias = self._init
        return (_rebuild_promotion_error, (failures, model_name, version, alias))


def _rebuild_promotion_error(
    failures: list[str], model_name: str, version: int, alias: str
) -> PromotionError:
    return PromotionError(failures, model_name=model_name, version=version, alias=alias)


@dataclass(frozen=True)
class MetricThreshold:
    """The candidate's ``metric`` must be recorded and within ``[min, max]``."""

    metric: str
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ConfigError("MetricThreshold needs min, max or both", parameter="min")

    def __call__(self, candidate: ModelVersion, current: ModelVersion | None) -> str | None:
        """Why ``candidate`` must not be promoted, or ``None``."""
        what = f"metric {short_repr(self.metric)} of {candidate.name} version {candidate.version}"
        value = candidate.metrics.get(self.metric)
        if value is None:
            return f"{what} was not recorded"
        if self.min is not None and not value >= self.min:
            return f"{what} is {value:g}, below the minimum {self.min:g}"
        if self.max is not None and not value <= self.max:
            return f"{what} is {value:g}, above the maximum {self.max:g}"
        return None


@dataclass(frozen=True)
class NotWorseThanCurrent:
    """The candidate's ``metric`` must not be worse than the current version's."""

    metric: str
    higher_is_better: bool = True
    tolerance: float = 0.0

    def __call__(self, candidate: ModelVersion, current: ModelVersion | None) -> str | None:
        """Why ``candidate`` must not be promoted, or ``None``."""
        if current is None or self.metric not in current.metrics:
            return None
        new = candidate.metrics.get(self.metric)
        old = current.metrics[self.metric]
        if new is None:
            return (
                f"metric {short_repr(self.metric)} of version {candidate.version} was not recorded"
            )
        worse = new < old - self.tolerance if self.higher_is_better else new > old + self.tolerance
        if worse:
            return (
                f"metric {short_repr(self.metric)} is {new:g} for version {candidate.version}, "
                "worse "
                f"than {old:g} for the current version {current.version}"
            )
        return None


@dataclass(frozen=True)
class SignatureCompatible:
    """Data the current version accepts must still be valid for the candidate.

    Uses :meth:`prodml.schema.Schema.diff`. With ``require=True`` (the default) a
    candidate without a signature fails when the current version has one.
    """

    require: bool = True

    def __call__(self, candidate: ModelVersion, current: ModelVersion | None) -> str | None:
        """Why ``candidate`` must not be promoted, or ``None``."""
        if current is None or current.signature is None:
            return None
        if candidate.signature is None:
            if self.require:
                return (
                    f"version {candidate.version} has no signature, but the current version "
                    f"{current.version} has one"
                )
            return None
        problems = current.signature.diff(candidate.signature)
        if problems:
            return (
                f"signature of version {candidate.version} is incompatible with the current "
                f"version {current.version}: " + "; ".join(problems)
            )
        return None
