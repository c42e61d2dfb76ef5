"""How one record's sensitive values become a group: the missing/unseen policies (private).

The chunk path (:mod:`prodml.fairness._chunks`) applies the same rules to whole columns;
the messages are shared so that a record and a chunk fail alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prodml._params import NONE, Constraint, Interval, OneOf, Predicate, TypeOf
from prodml._quote import short_repr
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.fairness import _ingest
from prodml.fairness._ingest import MISSING_LABEL, OTHER, short
from prodml.fairness._kinds import Kinds
from prodml.fairness.stats import CORRECTIONS

__all__ = [
    "SETTINGS",
    "Policies",
    "check_categories",
    "policy_error",
    "reserved_error",
    "too_many",
]

Key = tuple[object, ...]
POLICIES = ("error", "group", "drop")
MAX_BINS = 10_000
MAX_GROUPS = 1_000_000


def _names(value: object) -> bool:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        return False
    return all(isinstance(v, str) and v for v in value) and len(set(value)) == len(value)


#: The constraints on GroupMetrics' settings (checked with ``prodml._params``).
SETTINGS: dict[str, list[Constraint]] = {
    "sensitive": [Predicate(_names, "a non-empty list of distinct column names")],
    "metrics": [Predicate(_names, "a non-empty list of distinct metric names")],
    "threshold": [Interval(float, 0, 1), NONE],
    "bins": [Interval(int, 1, MAX_BINS)],
    "missing": [OneOf(POLICIES)],
    "categories": [TypeOf(Mapping, "a dict of column -> values"), NONE],
    "unseen": [OneOf(POLICIES)],
    "max_groups": [Interval(int, 1, MAX_GROUPS)],
    "alpha": [Interval(float, 0, 1, "neither")],
    "min_count": [Interval(int, 0, None)],
    "min_effect": [Interval(float, 0, 1)],
    "correction": [OneOf(CORRECTIONS)],
    "weighted": [TypeOf(bool, "a bool")],
}


class Policies:
    """The sensitive features of a GroupMetrics and what to do with bad values."""

    __slots__ = ("allowed", "missing", "sensitive", "unseen")

    def __init__(
        self,
        sensitive: tuple[str, ...],
        missing: str,
        unseen: str,
        categories: Mapping[str, tuple[object, ...]],
    ) -> None:
        self.sensitive = sensitive
        self.missing = missing
        self.unseen = unseen
        # A declared value that looks like personal data is also allowed as its token:
        # the form a saved state holds it in (see _ingest.public_key).
        self.allowed = {
            c: frozenset(v) | frozenset(map(_ingest.public, v)) for c, v in categories.items()
        }

    def raw_key(self, groups: Any) -> Key:
        """One record's sensitive values, in ``sensitive`` order (None where absent)."""
        names = self.sensitive
        if groups is None:
            return (None,) * len(names)
        if isinstance(groups, Mapping):
            return tuple(groups.get(n) for n in names)
        if isinstance(groups, tuple | list) and len(names) > 1:
            if len(groups) != len(names):
                raise _input(
                    f"a record's groups need {len(names)} values ({list(names)}); got {len(groups)}"
                )
            return tuple(groups)
        if isinstance(groups, tuple) and len(groups) == 1:
            return groups
        if len(names) == 1:
            return (groups,)
        raise _input(
            f"a record's groups must be a dict by name or a tuple of {len(names)} values; "
            f"got {short(groups)}"
        )

    def group(self, groups: Any) -> tuple[Key | None, str]:
        """The record's group, or ``(None, column)`` when a policy drops it.

        Raises
        ------
        SchemaError
            For a value that is not a JSON scalar, or a missing or unseen value under
            policy ``"error"``.
        """
        key: list[object] = []
        for name, value in zip(self.sensitive, self.raw_key(groups), strict=True):
            if _ingest.is_missing(value):
                if self.missing == "error":
                    raise policy_error(name, "missing", None)
                if self.missing == "drop":
                    return None, name
                key.append(None)
                continue
            v = _ingest.check_value(value, name)
            allowed = self.allowed.get(name)
            if allowed is not None and v not in allowed:
                if self.unseen == "error":
                    raise policy_error(name, "unseen", v)
                if self.unseen == "drop":
                    return None, name
                v = OTHER
            if v == MISSING_LABEL and self.missing == "group":
                raise reserved_error(name)
            key.append(v)
        return tuple(key), ""


def _input(message: str) -> SchemaError:
    return SchemaError(problems=[SchemaProblem(None, "input", message)])


def policy_error(column: str, what: str, value: object, row: int | None = None) -> SchemaError:
    """The error of a missing or unseen value under policy ``"error"``."""
    if what == "missing":
        message = (
            "sensitive value is missing; pass it, or choose GroupMetrics(missing='group') "
            "to keep such records as their own group, or missing='drop' to count and skip them"
        )
    else:
        message = (
            f"sensitive value {short(value)} is not one of the declared categories; choose "
            "unseen='group' (an <other> group) or unseen='drop' to accept such records"
        )
    return SchemaError(problems=[SchemaProblem(column, what, message, row)])


def reserved_error(column: str, row: int | None = None) -> SchemaError:
    """The error of a present value spelled like the missing-values group's label.

    Under ``missing="group"`` the group of missing values is shown as ``<missing>``; a
    value written so would share its label (in reports, flat metric names and the
    confusion counts a FairnessGate reads back) and one group would overwrite the other.
    """
    return SchemaError(
        problems=[
            SchemaProblem(
                column,
                "reserved",
                f"the value {MISSING_LABEL!r} is the label of the missing-values group under "
                "missing='group'; pass such values as None (the same group) or rename them",
                row,
            )
        ]
    )


def too_many(limit: int, key: Key, names: Sequence[str]) -> SchemaError:
    """The error of a group beyond ``max_groups``."""
    return SchemaError(
        problems=[
            SchemaProblem(
                names[0] if len(names) == 1 else None,
                "range",
                f"more than max_groups={limit} groups (the next would be "
                f"{short(_ingest.label_of(names, key), 60)}); raise max_groups or declare "
                "categories with unseen='group'",
            )
        ]
    )


def check_categories(
    categories: Mapping[str, Sequence[object]] | None, sensitive: Sequence[str]
) -> dict[str, tuple[object, ...]]:
    """The declared categories, checked: known columns, non-empty lists of JSON scalars."""
    if not categories:
        return {}
    out: dict[str, tuple[object, ...]] = {}
    for name, values in categories.items():
        if name not in sensitive:
            raise ConfigError(
                f"The 'categories' parameter of GroupMetrics names {short(name)}, which is not "
                f"a sensitive feature ({list(sensitive)}).",
                parameter="categories",
            )
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ConfigError(
                f"The categories of {short_repr(name)} must be a non-empty list of values. "
                f"Got {short(values)} instead.",
                parameter="categories",
            )
        checked = []
        for v in values:
            if _ingest.is_missing(v) or v == OTHER:
                raise ConfigError(
                    f"The categories of {short_repr(name)} may not include {short(v)}: missing "
                    "values "
                    "follow the 'missing' policy and '<other>' is reserved.",
                    parameter="categories",
                )
            try:
                checked.append(_ingest.check_value(v, name))
            except SchemaError as err:
                raise ConfigError(str(err), parameter="categories") from None
        try:  # True and 1 (or 1 and 1.0) would be one category: see _kinds
            Kinds([name], {name: checked})
        except SchemaError as err:
            raise ConfigError(
                f"The categories of {short_repr(name)} mix equal values of different types: "
                f"{err.problems[0].message.split(':')[0]}.",
                parameter="categories",
            ) from None
        out[name] = tuple(checked)
    return out
