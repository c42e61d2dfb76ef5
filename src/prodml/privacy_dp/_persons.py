"""Bounding each person's rows before a release: the arguments, and which rows are kept.

Every release that counts rows (:func:`release_rows`, and :func:`release_profile`,
:func:`release_group_counts` and :func:`release_window` given ``person=``) keeps at most
``k`` rows of each person id, chosen at random, before anything is counted. Each row gets
an independent uniform priority and a person keeps their ``k`` rows of highest rank: which
rows a person keeps depends on their own rows alone, so adding or removing a person
changes the bounded rows by at most ``k`` (the coupling that makes the truncation
``k``-stable), and the kept rows are a uniform sample of the person's rows, not the first
ones (order often means time).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from prodml._quote import short_repr
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.privacy_dp._noise import MAX_ROWS_PER_PERSON

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "as_frame",
    "bound_rows",
    "bounding",
    "check_person",
    "check_persons_share",
    "check_rows_per_person",
    "empty_template",
    "kept_rows",
    "person_rows",
    "persons_kept",
]

PERSONS_SHARE = 0.1
"""Default share of a person release's epsilon (and delta) spent on its count of persons."""

IntArray = npt.NDArray[np.int64]


def check_rows_per_person(value: object) -> int | None:
    """``max_rows_per_person`` validated: None, or an int in [1, 1e6] (not a bool)."""
    if value is None:
        return None
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or not 1 <= int(value) <= MAX_ROWS_PER_PERSON:  # type: ignore[call-overload]
        shown = repr(value)[:40] if ok else type(value).__name__
        raise ConfigError(
            "The 'max_rows_per_person' parameter of a DP release must be an int in "
            f"[1, {MAX_ROWS_PER_PERSON}] or None. Got {shown} instead.",
            parameter="max_rows_per_person",
        )
    return int(value)  # type: ignore[call-overload]


def check_person(owner: str, person: object, max_rows_per_person: object) -> int | None:
    """The bound ``k``, checked, and ``person`` given exactly when ``k`` is."""
    k = check_rows_per_person(max_rows_per_person)
    if (person is None) != (k is None):
        raise ConfigError(
            f"{owner} needs both 'person' (the person ids) and 'max_rows_per_person' (the "
            "bound on each person's rows), or neither",
            parameter="person" if person is None else "max_rows_per_person",
        )
    return k


def as_frame(data: object, owner: str) -> pd.DataFrame:
    """``data`` as a pandas DataFrame: a DataFrame as is, a pyarrow Table converted."""
    import pandas as pd  # noqa: PLC0415 - only when rows are released

    if isinstance(data, pd.DataFrame):
        return data
    if type(data).__module__.startswith("pyarrow") and hasattr(data, "to_pandas"):
        out = data.to_pandas()
        if isinstance(out, pd.DataFrame):
            return out
    raise ConfigError(
        f"{owner} needs a pandas DataFrame or a pyarrow Table of rows; got {type(data).__name__}",
        parameter="data",
    )


def check_persons_share(value: object) -> float:
    """``persons_share`` validated: a float in [0, 0.5] (not a bool)."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    share = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not 0.0 <= share <= 0.5:  # also NaN
        shown = repr(value)[:40] if ok else type(value).__name__
        raise ConfigError(
            "The 'persons_share' parameter of a DP release must be a float in [0, 0.5] (the "
            f"share of epsilon spent on the count of persons; 0 for none). Got {shown} instead.",
            parameter="persons_share",
        )
    return share


def kept_rows(ids: Any, k: int, rng: np.random.Generator, name: str) -> IntArray:
    """Positions (ascending) of the rows kept: at most ``k`` of each id, chosen at random.

    See :func:`persons_kept`, which also gives the number of persons.
    """
    return persons_kept(ids, k, rng, name)[0]


def persons_kept(ids: Any, k: int, rng: np.random.Generator, name: str) -> tuple[IntArray, int]:
    """Positions (ascending) of the rows kept, at most ``k`` of each id, and the ids' number.

    Every person keeps at least one row, so the number of distinct ids is also the
    number of persons among the kept rows.

    ``ids`` is array-like, one person id per row. Rows are grouped by id and ranked by a
    random priority in one sort of an integer key (the id's code in the high bits, a
    random priority drawn for each row in row order in the low bits): no per-group work
    in Python, and no sort of the whole table's columns.

    Raises
    ------
    SchemaError
        Null ids (a row without a person cannot be bounded), reported with their number.
    ConfigError
        Ids that are not hashable.
    """
    import pandas as pd  # noqa: PLC0415

    try:
        codes, uniques = pd.factorize(ids if isinstance(ids, pd.Series) else pd.Series(ids))
    except TypeError:
        raise ConfigError(
            f"the person ids {short_repr(name)} must be hashable (str, int, ...)",
            parameter="person",
        ) from None
    n = codes.size
    n_null = int((codes < 0).sum())
    if n_null:
        raise SchemaError(
            problems=[
                SchemaProblem(
                    name, "null", f"the person ids {short_repr(name)} have null ids in {n_null} "
                    f"of {n} rows: a row without a person cannot be bounded; drop or fill "
                    "them first (nothing was released)",
                )
            ]
        )  # fmt: skip
    n_people = len(uniques)
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    return _kept(codes, n_people, k, rng), n_people


def _kept(codes: Any, n_people: int, k: int, rng: np.random.Generator) -> IntArray:
    n = codes.size
    sizes = np.bincount(codes, minlength=n_people)
    if int(sizes.max()) <= k:  # nobody over the bound: every row stays
        rng.random(n)  # the same draws either way, so a seed keeps its coupling
        return np.arange(n, dtype=np.int64)
    # Priorities take the bits the codes leave free (at least 43 of 63), so the key sorts
    # as one int64: by person, then by priority.
    bits = 63 - max(int(n_people - 1).bit_length(), 1)
    priority = (rng.random(n) * float(1 << bits)).astype(np.int64)
    key = (codes.astype(np.int64) << bits) | priority
    starts = np.cumsum(sizes) - sizes  # first position of each person in the sorted keys
    ranked = np.sort(key)  # values only: several times faster than an argsort
    if not bool((ranked[1:] == ranked[:-1]).any()):
        # No two keys alike: a person keeps exactly the rows at or below their k-th key.
        threshold = ranked[starts + np.minimum(sizes, k) - 1]
        return np.flatnonzero(key <= threshold[codes]).astype(np.int64)
    # Two rows of a person drew one priority (odds below n**2 / 2**44): rank by position
    # too, so that still no more than k are kept.
    order = np.argsort(key, kind="stable")
    rank = np.arange(n, dtype=np.int64) - starts[codes[order]]
    keep = np.zeros(n, dtype=bool)
    keep[order[rank < k]] = True
    return np.flatnonzero(keep).astype(np.int64)


def bound_rows(frame: pd.DataFrame, person: str, k: int, rng: np.random.Generator) -> Any:
    """``frame`` keeping at most ``k`` rows of each ``person`` id, chosen at random.

    The rows keep their order; see :func:`kept_rows`.
    """
    return frame.iloc[kept_rows(frame[person], k, rng, person)]


def person_rows(
    data: object,
    person: object,
    k: int,
    columns: list[str],
    *,
    rng: np.random.Generator,
    owner: str,
) -> tuple[pd.DataFrame, int]:
    """The ``columns`` of a table's rows, at most ``k`` of each ``person`` id kept.

    Also returns the number of persons (distinct ids).

    Raises
    ------
    ConfigError
        ``data`` not a table, ``person`` not a column name or among ``columns`` (ids
        are no public domain).
    SchemaError
        A column the data does not have; null person ids.
    """
    frame = as_frame(data, owner)
    if not isinstance(person, str):
        raise ConfigError(
            f"The 'person' parameter of {owner} must be the name of the person-id column "
            f"(str). Got {type(person).__name__} instead.",
            parameter="person",
        )
    if person in columns:
        raise ConfigError(
            f"the person column {short_repr(person)} cannot be released: its ids are no "
            "public domain",
            parameter="domains",
        )
    missing = [c for c in [*columns, person] if c not in frame.columns]
    if missing:
        raise SchemaError(
            problems=[
                SchemaProblem(c, "missing", f"the data has no column {short_repr(c)}")
                for c in missing
            ]
        )
    keep, n_persons = persons_kept(frame[person], k, rng, person)
    return frame[columns].iloc[keep], n_persons


def empty_template(template: Any, owner: str, what: str, data: object) -> Any:
    """A fresh, empty copy of a Profile or GroupMetrics that the bounded rows will fill.

    The template must hold no rows: rows already summed in it cannot be bounded per
    person. ``data`` must be given (the rows to bound).
    """
    from prodml.drift import Profile  # noqa: PLC0415 - drift and fairness sit above the core
    from prodml.fairness import GroupMetrics  # noqa: PLC0415

    if data is None:
        raise ConfigError(
            f"{owner} with 'person' needs the rows as 'data' (a DataFrame or a pyarrow "
            f"Table holding the person column): {what} sums rows, so its rows cannot be "
            "bounded per person after the fact",
            parameter="data",
        )
    if isinstance(template, Profile):
        if template.n_rows or template.columns:
            raise _not_empty(owner, what, template.n_rows)
        return Profile(
            max_exact=template.max_exact,
            relative_accuracy=template.relative_accuracy,
            privacy=template.privacy,
        )
    if isinstance(template, GroupMetrics):
        if template.count or template.groups or template.dropped:
            raise _not_empty(owner, what, template.count)
        return template.clone()
    raise ConfigError(
        f"{owner} needs {what}; got {type(template).__name__}",
        parameter="profile" if isinstance(template, Profile) or "Profile" in what else "metrics",
    )


def bounding(rng: np.random.Generator | None) -> np.random.Generator:
    """The generator choosing which rows a person keeps: the seeded one, else fresh entropy."""
    return np.random.default_rng() if rng is None else rng


def _not_empty(owner: str, what: str, n: int) -> ConfigError:
    return ConfigError(
        f"{owner} with 'person' takes {what} only as an empty template of settings (the "
        f"rows come in 'data', bounded per person first); this one already holds {n} "
        "row(s), which cannot be bounded per person",
        parameter="data",
    )
