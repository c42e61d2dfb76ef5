"""Releasing a table's rows as DP counts, with each person's rows bounded first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.privacy_dp._budget import PrivacyBudget
from prodml.privacy_dp._domains import Bins, Categories, Domain
from prodml.privacy_dp._persons import (
    PERSONS_SHARE,
    as_frame,
    bound_rows,
    check_person,
    check_persons_share,
    persons_kept,
)
from prodml.privacy_dp._release import DPRelease, IntArray
from prodml.privacy_dp._sources import Seed, _check_domains, _missing, _release
from prodml.privacy_dp._window import values_counts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["bound_rows", "count_rows", "release_rows"]


def _counts(name: str, col: pd.Series, dom: Bins | Categories) -> IntArray:
    import pandas as pd  # noqa: PLC0415

    if isinstance(dom, Bins) and isinstance(col.dtype, pd.DatetimeTZDtype | np.dtype):
        if pd.api.types.is_datetime64_any_dtype(col.dtype):  # epoch seconds, as profiles
            null = col.isna().to_numpy()
            naive = col.dt.tz_convert(None) if isinstance(col.dtype, pd.DatetimeTZDtype) else col
            ns = naive.to_numpy(dtype="datetime64[ns]").astype(np.int64)
            return dom.count(ns[~null] / 1e9, None, int(null.sum()))
        if col.dtype.kind in "iuf":
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            null = np.isnan(values)
            if not np.isfinite(values[~null]).all():
                raise ConfigError(
                    f"column {short_repr(name)} holds infinite values", parameter="domains"
                )
            return dom.count(values[~null], None, int(null.sum()))
    if isinstance(dom, Categories):
        null = col.isna().to_numpy()
        counts: dict[Any, int] = {}
        for value, n in col[~null].value_counts(sort=False, dropna=True).items():
            v = value.item() if isinstance(value, np.generic) else value
            counts[v] = counts.get(v, 0) + int(n)  # 1 and True: one key, as in a profile
        return dom.count(counts, int(null.sum()))
    return values_counts(name, col.tolist(), dom)


def release_rows(
    data: Any,
    domains: Mapping[str, Bins | Categories],
    *,
    epsilon: float,
    delta: float = 0.0,
    mechanism: Literal["laplace", "gaussian"] = "laplace",
    person: str | None = None,
    max_rows_per_person: int | None = None,
    budget: PrivacyBudget | None = None,
    seed: Seed = None,
    label: str = "rows",
    persons_share: float = PERSONS_SHARE,
) -> DPRelease:
    """Release the declared columns of a table's rows as DP counts, a person's rows bounded.

    With ``person`` and ``max_rows_per_person=k``, each person (rows sharing an id in
    the ``person`` column) keeps at most ``k`` of their rows, chosen at random, before
    anything is counted; the noise is scaled to ``k`` (a person then changes each
    column's counts by at most ``k``) and the unit of privacy is a person, as OpenDP's
    ``unit_of(contributions=k)``, Tumult's ``MaxRowsPerID`` and PipelineDP's
    ``max_contributions`` mean it. Without them the unit is a row, as in
    :func:`release_profile`, but values are binned exactly (no sketch).

    Parameters
    ----------
    data
        A pandas DataFrame or pyarrow Table (it stays with its owner).
    domains
        Column name to its declared :class:`Bins` (numbers; datetimes as epoch
        seconds) or :class:`Categories`; other columns are not released.
    person, max_rows_per_person
        The person-id column and the bound on each person's rows; both or neither. The
        person column itself cannot be released (ids are not a public domain).
    epsilon, delta, mechanism, budget, label, persons_share
        As in :func:`release_profile`; epsilon is per person with ``person=``, of which
        ``persons_share`` (0.1) pays for the noisy count of persons.
    seed
        ``None`` draws noise with OpenDP's secure sampler (and which rows a person keeps
        from fresh entropy); a seed makes both reproducible, for tests only.

    Raises
    ------
    SchemaError
        A declared or person column the data does not have; null person ids.
    ConfigError
        ``person`` without ``max_rows_per_person`` or the reverse, a bound that is not an
        int in [1, 1e6], values a domain cannot take, and as :func:`release_profile`.
    PrivacyBudgetError
        The budget cannot pay for the release.

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.privacy_dp import Categories, release_rows
    >>> visits = pd.DataFrame({"user": ["a", "a", "a", "b"], "page": ["x", "y", "x", "x"]})
    >>> rel = release_rows(
    ...     visits,
    ...     {"page": Categories(["x", "y"])},
    ...     epsilon=1e6,
    ...     person="user",
    ...     max_rows_per_person=2,
    ...     seed=0,
    ... )
    >>> rel.unit, rel.max_rows_per_person, sum(rel.counts("page").values())
    ('person', 2, 3)
    """
    frame = as_frame(data, "release_rows")
    doms = _check_domains(domains, (Bins, Categories))
    k = check_person("release_rows", person, max_rows_per_person)
    share = check_persons_share(persons_share)
    if person is not None and not isinstance(person, str):
        raise ConfigError(
            "The 'person' parameter of release_rows must be a column name (str). Got "
            f"{type(person).__name__} instead.",
            parameter="person",
        )
    wanted = [*doms, *([] if person is None else [person])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise _missing(missing, "the data")
    if person is not None and person in doms:
        raise ConfigError(
            f"the person column {short_repr(person)} cannot be released: its ids are no "
            "public domain",
            parameter="domains",
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    keep, n_persons = (
        (None, None) if person is None or k is None else persons_kept(frame[person], k, rng, person)
    )
    return _release(
        "rows", count_rows(frame, doms, keep), epsilon=epsilon, delta=delta,
        mechanism=mechanism, budget=budget, seed=rng if seed is not None else None,
        label=label, max_rows_per_person=k, persons=n_persons, persons_share=share,
    )  # fmt: skip


def count_rows(
    frame: pd.DataFrame, domains: Mapping[str, Domain], keep: IntArray | None
) -> dict[str, tuple[Domain, IntArray]]:
    """Exact counts per cell of each declared column, of the rows at ``keep`` (all: None).

    Only the declared columns are taken at the kept rows (never the whole table).
    """
    exact: dict[str, tuple[Domain, IntArray]] = {}
    for name, dom in domains.items():
        assert isinstance(dom, Bins | Categories)  # noqa: S101 - checked by the caller
        col = frame[name] if keep is None else frame[name].iloc[keep]
        exact[name] = (dom, _counts(name, col, dom))
    return exact
