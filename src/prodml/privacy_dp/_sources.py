"""Releasing a Profile, a GroupMetrics table, a monitor window or plain counts with DP noise."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from prodml._quote import short_repr
from prodml._state import MAX_COUNT
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.privacy_dp._amounts import split_budget
from prodml.privacy_dp._budget import PrivacyBudget
from prodml.privacy_dp._domains import Bins, Categories, Domain, Groups
from prodml.privacy_dp._noise import Noise, calibrate, check_mechanism, sample
from prodml.privacy_dp._persons import (
    PERSONS_SHARE,
    bounding,
    check_person,
    check_persons_share,
    check_rows_per_person,
    empty_template,
    person_rows,
)
from prodml.privacy_dp._release import MAX_SCALE, DPPart, DPRelease, IntArray

if TYPE_CHECKING:
    from prodml.drift import Profile
    from prodml.fairness import GroupMetrics

__all__ = ["release_counts", "release_group_counts", "release_profile"]

Seed = int | np.random.Generator | None


def _missing(columns: list[str], where: str) -> SchemaError:
    return SchemaError(
        problems=[
            SchemaProblem(c, "missing", f"{where} has no column {short_repr(c)}") for c in columns
        ]
    )


def _check_domains(domains: object, allowed: tuple[type, ...]) -> dict[str, Domain]:
    if not isinstance(domains, Mapping) or not domains:
        raise ConfigError(
            "The 'domains' parameter of a DP release must be a non-empty dict of column name "
            f"to {' or '.join(t.__name__ for t in allowed)}. Got {type(domains).__name__} instead.",
            parameter="domains",
        )
    for name, dom in domains.items():
        if not isinstance(name, str) or not isinstance(dom, allowed):
            raise ConfigError(
                f"The domain of column {short_repr(name)} must be "
                f"{' or '.join(t.__name__ for t in allowed)}. Got {type(dom).__name__} instead.",
                parameter="domains",
            )
    return dict(domains)


def _release(
    source: str,
    exact: dict[str, tuple[Domain, IntArray]],
    *,
    epsilon: float,
    delta: float,
    mechanism: str,
    budget: PrivacyBudget | None,
    seed: Seed,
    label: str,
    max_rows_per_person: int | None = None,
    persons: int | None = None,
    persons_share: float = 0.0,
) -> DPRelease:
    """Calibrate, spend the budget, then add noise: the one path of every release.

    With ``persons`` (the exact number of persons, unit ``person`` with ``k > 1`` only)
    and a ``persons_share`` above 0, that share of epsilon (and delta) pays for a noisy count
    of persons (sensitivity 1) and the rest for the parts (sensitivity ``k``).
    """
    mechanism, epsilon, delta = check_mechanism(mechanism, epsilon, delta)
    rows = check_rows_per_person(max_rows_per_person)
    # With k = 1 every person has one row: compare has nothing to bound, so no count.
    count_persons = rows is not None and rows > 1 and persons is not None and persons_share > 0
    if budget is not None and not isinstance(budget, PrivacyBudget):
        raise ConfigError(
            "The 'budget' parameter of a DP release must be a PrivacyBudget or None. "
            f"Got {type(budget).__name__} instead.",
            parameter="budget",
        )
    rng = None if seed is None else np.random.default_rng(seed)
    (eps_parts, dlt_parts), (eps_persons, dlt_persons) = (
        split_budget(epsilon, delta, persons_share) if count_persons else ((epsilon, delta), (0, 0))
    )
    scale = calibrate(mechanism, eps_parts, dlt_parts, len(exact), max_rows_per_person=rows or 1)
    persons_scale = calibrate(mechanism, eps_persons, dlt_persons, 1) if count_persons else 0.0
    # Everything that could fail is checked before the budget is charged: a release
    # refused here spends nothing.
    if max(scale, persons_scale) > MAX_SCALE:
        per_person = "" if rows is None else f" and {rows} rows per person"
        raise ConfigError(
            f"The 'epsilon' parameter of a DP release is too small: {len(exact)} part(s) at "
            f"epsilon {epsilon!r}{per_person} need noise of scale {scale:.3g} per count, above "
            f"{MAX_SCALE:.0e} (counts under such noise carry no signal, and a release "
            "cannot be saved with it). Release fewer columns or use a larger epsilon.",
            parameter="epsilon",
        )
    for name, (_, counts) in exact.items():
        if counts.size and int(counts.max()) > MAX_COUNT:
            raise ConfigError(
                f"counts of column {short_repr(name)} must be at most 2**53 (a count beyond "
                "that is corrupt: it cannot be kept exactly as a float); nothing was released",
                parameter="counts",
            )
    if budget is not None:  # refused before any noise is drawn
        budget.spend(epsilon, delta, label=label)
    noise = (Noise(mechanism, scale),)
    parts = {
        name: DPPart(dom, sample(mechanism, scale, counts, rng), noise)
        for name, (dom, counts) in exact.items()
    }
    noisy_persons: int | None = None
    persons_noise: tuple[Noise, ...] = ()
    if count_persons:
        assert persons is not None  # noqa: S101 - count_persons says so
        exact_persons = np.asarray([persons], dtype=np.int64)
        noisy_persons = int(sample(mechanism, persons_scale, exact_persons, rng)[0])
        persons_noise = (Noise(mechanism, persons_scale),)
    return DPRelease(
        source, parts, epsilon=epsilon, delta=delta, mechanism=mechanism, secure=rng is None,
        max_rows_per_person=rows, persons=noisy_persons, persons_noise=persons_noise,
    )  # fmt: skip


def release_counts(
    counts: Mapping[str, Any],
    domains: Mapping[str, Bins | Categories],
    *,
    epsilon: float,
    delta: float = 0.0,
    mechanism: Literal["laplace", "gaussian"] = "laplace",
    budget: PrivacyBudget | None = None,
    seed: Seed = None,
    label: str = "counts",
    max_rows_per_person: int | None = None,
) -> DPRelease:
    """Release exact counts per cell of each column's domain (``<null>`` and all) with noise.

    For counts made elsewhere: each row must add 1 to exactly one cell of each column
    (the unit of privacy the noise is calibrated to). ``max_rows_per_person=k`` declares
    that the counts were made from at most ``k`` rows per person (bounded by you,
    before counting: prodml cannot check it here): the noise is scaled to ``k`` and the
    unit of privacy is a person. To have prodml bound the rows, use :func:`release_rows`.

    Raises
    ------
    ConfigError
        Counts that are not non-negative integers, or not one per cell of the domain.
    """
    doms = _check_domains(domains, (Bins, Categories))
    if not isinstance(counts, Mapping):
        raise ConfigError(
            f"release_counts needs a dict of column to counts; got {type(counts).__name__}",
            parameter="counts",
        )
    missing = [c for c in doms if c not in counts]
    if missing:
        raise _missing(missing, "counts")
    exact = {}
    for name, dom in doms.items():
        arr = np.asarray(counts[name])
        ok = arr.ndim == 1 and arr.size == dom.size and arr.dtype.kind in "iu"
        # uint64 counts past int64's largest would turn negative in the int64 cast below;
        # counts past 2**53 cannot be saved (nor sampled exactly by every path).
        ok = ok and bool((arr >= 0).all() and (arr <= MAX_COUNT).all())
        if not ok:
            raise ConfigError(
                f"counts of column {short_repr(name)} must be {dom.size} non-negative integers "
                f"up to 2**53 "
                f"(one per cell of {dom!r}); got an array of dtype {arr.dtype} and shape "
                f"{arr.shape}",
                parameter="counts",
            )
        exact[name] = (dom, arr.astype(np.int64))
    return _release(
        "counts", exact, epsilon=epsilon, delta=delta, mechanism=mechanism, budget=budget,
        seed=seed, label=label, max_rows_per_person=max_rows_per_person,
    )  # fmt: skip


def profile_counts(profile: Any, domains: Mapping[str, Bins | Categories]) -> dict[str, IntArray]:
    """Exact counts per cell of each declared column of a :class:`~prodml.drift.Profile`."""
    from prodml.drift import Profile  # noqa: PLC0415 - drift sits above the core layer
    from prodml.drift._columns import (  # noqa: PLC0415
        CategoricalColumn,
        _representatives,
        _sketch,
    )

    if not isinstance(profile, Profile):
        raise ConfigError(
            f"release_profile needs a prodml.drift.Profile; got {type(profile).__name__}",
            parameter="profile",
        )
    doms = _check_domains(domains, (Bins, Categories))
    missing = [c for c in doms if c not in profile.columns]
    if missing:
        raise _missing(missing, "the profile")
    profile.finalize()
    out = {}
    for name, dom in doms.items():
        state = profile.columns[name]
        n_null = profile.n_null(name)
        if state is None:
            cells = np.zeros(dom.size, dtype=np.int64)
            cells[-1] = n_null
        elif isinstance(state, CategoricalColumn):
            if not isinstance(dom, Categories):
                raise ConfigError(
                    f"column {short_repr(name)} is categorical: declare Categories, not Bins",
                    parameter="domains",
                )
            tokenizer = profile.tokenizer()
            if tokenizer is None and state.hashed:
                # Without the salt no declared value can be found among the hashes: every
                # row would be released as '<other>', silently.
                raise ConfigError(
                    f"column {short_repr(name)} holds salted hashes made with a salt this "
                    "process does not have, so its declared categories cannot be counted. "
                    "Load the profile with Profile.from_json(text, privacy=Privacy(salt=...)) "
                    "or set PRODML_PRIVACY_SALT to the salt it was made with.",
                    parameter="profile",
                )
            alias = None if tokenizer is None else {v: tokenizer.token(v) for v in dom.values}
            cells = dom.count(state.counts, n_null, alias)
        else:
            if not isinstance(dom, Bins):
                raise ConfigError(
                    f"column {short_repr(name)} is {state.kind}: declare Bins, not Categories",
                    parameter="domains",
                )
            values, weights = state.sample(profile.log_gamma)
            if weights is None and values.size:
                # An exact column is binned as its sketch would be (each value by its
                # bucket's representative). Binning exact values exactly broke the
                # sensitivity at max_exact: one more row switches the column to the
                # sketch, moving every value near an edge to the next bin at once.
                keys, weights, _ = _sketch(values, profile.log_gamma, is_sorted=True)
                values = _representatives(keys, profile.log_gamma)
            cells = dom.count(values, weights, n_null)
        out[name] = cells
    return out


def release_profile(
    profile: Profile,
    domains: Mapping[str, Bins | Categories],
    *,
    epsilon: float,
    delta: float = 0.0,
    mechanism: Literal["laplace", "gaussian"] = "laplace",
    budget: PrivacyBudget | None = None,
    seed: Seed = None,
    label: str = "profile",
    data: Any = None,
    person: str | None = None,
    max_rows_per_person: int | None = None,
    persons_share: float = PERSONS_SHARE,
) -> DPRelease:
    """Release the declared columns of a drift :class:`~prodml.drift.Profile` with DP noise.

    Numeric and datetime columns (epoch seconds) are counted in :class:`Bins`,
    categorical ones in :class:`Categories`; columns not in ``domains`` are not released.
    Every numeric value is binned by its sketch bucket's representative (within the
    profile's ``relative_accuracy`` of the value, so a value that close to an edge may
    land in the next bin), whether the column is exact or sketched: a row's cell depends
    on its value alone, so one row more or less (even the one that switches the column
    from exact values to the sketch at ``max_exact``) moves one count by one.

    Parameters
    ----------
    profile
        The exact profile (it stays with its owner; only the release is shared).
    domains
        Column name to its declared, public domain.
    epsilon, delta
        Privacy loss of one row in this release; ``delta`` only with ``gaussian``. The
        columns share it (each gets ``1 / n_columns`` of it, by composition).
    mechanism
        ``laplace`` (discrete Laplace, pure DP) or ``gaussian`` (discrete Gaussian).
    budget
        Charged before any noise is drawn; a release that does not fit is refused
        (:class:`PrivacyBudgetError`).
    seed
        ``None`` (default) draws noise with OpenDP's secure sampler. A seed gives
        reproducible noise from numpy, for tests and simulations only.
    label
        Name of this release in the budget's ledger.
    data, person, max_rows_per_person
        To protect a *person* rather than a row: ``data`` the rows (a pandas DataFrame
        or pyarrow Table), ``person`` its person-id column, ``max_rows_per_person=k``.
        Each person keeps at most ``k`` of their rows, chosen at random (as in
        :func:`release_rows`); the kept rows are profiled with ``profile``'s settings
        (``profile`` is then an empty template, say ``Profile()``: rows already in a
        profile cannot be told apart per person) and the noise is scaled to ``k``.
        All three or none.
    persons_share
        With ``person``: the share of epsilon (and delta) spent on a noisy count of
        the persons (:attr:`DPRelease.persons`, sensitivity 1), the rest going to the
        columns. It lets :func:`compare` bound how alike the rows can be, and so test
        with far more power when most persons have few rows; ``0`` releases no count
        (the columns get all of epsilon; ``compare`` then assumes ``n / k`` persons),
        and neither does ``max_rows_per_person=1`` (one row each: nothing to bound).

    Raises
    ------
    SchemaError
        A declared column the profile (or ``data``) does not have; null person ids.
    ConfigError
        Epsilon <= 0, delta out of range, a domain of the wrong kind, not a Profile;
        ``person`` without ``max_rows_per_person`` or the reverse, either without
        ``data``, ``data`` without them, a template profile that holds rows, a bound that
        is not an int in [1, 1e6], a ``persons_share`` outside [0, 0.5].
    PrivacyBudgetError
        The budget cannot pay for the release.
    MissingExtraError
        OpenDP is not installed (``pip install 'prodml[privacy]'``).

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.drift import Profile
    >>> from prodml.privacy_dp import Categories, release_profile
    >>> visits = pd.DataFrame({"user": ["a", "a", "a", "b"], "page": ["x", "y", "x", "x"]})
    >>> rel = release_profile(
    ...     Profile(),
    ...     {"page": Categories(["x", "y"])},
    ...     epsilon=1e6,
    ...     seed=0,
    ...     data=visits,
    ...     person="user",
    ...     max_rows_per_person=2,
    ... )
    >>> rel.unit, rel.max_rows_per_person, sum(rel.counts("page").values())
    ('person', 2, 3)
    """
    k = check_person("release_profile", person, max_rows_per_person)
    share = check_persons_share(persons_share)
    _check_domains(domains, (Bins, Categories))
    doms: dict[str, Bins | Categories] = dict(domains)
    rng = None if seed is None else np.random.default_rng(seed)
    if k is None:
        if data is not None:
            raise ConfigError(
                "release_profile takes 'data' only with 'person' and 'max_rows_per_person' "
                "(to bound each person's rows); otherwise release the profile of the rows",
                parameter="data",
            )
        exact = profile_counts(profile, doms)
        n_persons = None
    else:
        fresh = empty_template(profile, "release_profile", "a prodml.drift.Profile", data)
        rows, n_persons = person_rows(
            data, person, k, list(doms), rng=bounding(rng), owner="release_profile"
        )
        exact = profile_counts(fresh.update(rows), doms)
    return _release(
        "profile", {n: (doms[n], c) for n, c in exact.items()}, epsilon=epsilon, delta=delta,
        mechanism=mechanism, budget=budget, seed=rng, label=label, max_rows_per_person=k,
        persons=n_persons, persons_share=share,
    )  # fmt: skip


def release_group_counts(
    metrics: GroupMetrics,
    groups: Groups | Iterable[Any],
    *,
    epsilon: float,
    delta: float = 0.0,
    mechanism: Literal["laplace", "gaussian"] = "laplace",
    budget: PrivacyBudget | None = None,
    seed: Seed = None,
    label: str = "group_counts",
    data: Any = None,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    person: str | None = None,
    max_rows_per_person: int | None = None,
) -> DPRelease:
    """Release the confusion counts (``tn, fp, fn, tp``) per group of a ``GroupMetrics``.

    ``groups`` are the declared groups (values, or tuples of the sensitive features'
    values); rows of other groups are counted in ``<other>``. Each prediction is one
    row, in one cell of one group: the table is one part. Records a ``GroupMetrics``
    dropped (missing sensitive values) are not released. The counts are of records, also
    from a ``GroupMetrics(weighted=True)``: its weights are not released (a weight is not
    bounded by one row's contribution, so its sums would need a sensitivity of their
    own). Other settings as in :func:`release_profile`.

    To protect a person rather than a prediction, pass the rows as ``data`` (a DataFrame
    or pyarrow Table with the columns ``y_true``, ``y_pred``, the sensitive features and
    ``person``) with ``person`` and ``max_rows_per_person=k``: each person keeps at most
    ``k`` rows, chosen at random, which ``metrics`` (then an empty template of settings,
    say ``GroupMetrics(["sex"])``) counts; the noise is scaled to ``k``.

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.fairness import GroupMetrics
    >>> from prodml.privacy_dp import release_group_counts
    >>> rows = pd.DataFrame(
    ...     {
    ...         "user": ["a", "a", "a", "b"],
    ...         "sex": ["F", "F", "F", "M"],
    ...         "y_true": [1, 0, 1, 1],
    ...         "y_pred": [1, 1, 1, 0],
    ...     }
    ... )
    >>> rel = release_group_counts(
    ...     GroupMetrics(["sex"]),
    ...     ["F", "M"],
    ...     epsilon=1e6,
    ...     seed=0,
    ...     data=rows,
    ...     person="user",
    ...     max_rows_per_person=2,
    ... )
    >>> rel.unit, sum(rel.group_counts()[("F",)].values()), rel.group_counts()[("M",)]["fn"]
    ('person', 2, 1)
    """
    from prodml.fairness import GroupMetrics  # noqa: PLC0415 - fairness sits above the core

    k = check_person("release_group_counts", person, max_rows_per_person)
    rng = None if seed is None else np.random.default_rng(seed)
    if k is None and data is not None:
        raise ConfigError(
            "release_group_counts takes 'data' only with 'person' and "
            "'max_rows_per_person' (to bound each person's rows); otherwise count the "
            "rows with GroupMetrics.update",
            parameter="data",
        )
    if not isinstance(metrics, GroupMetrics):
        raise ConfigError(
            f"release_group_counts needs a prodml.fairness.GroupMetrics; got "
            f"{type(metrics).__name__}",
            parameter="metrics",
        )
    if k is not None:
        fresh = empty_template(metrics, "release_group_counts", "a GroupMetrics", data)
        labels = [y_true, y_pred]
        if not all(isinstance(c, str) for c in labels) or y_true == y_pred:
            raise ConfigError(
                "The 'y_true' and 'y_pred' parameters of release_group_counts must be two "
                "different column names",
                parameter="y_true",
            )
        cols = list(dict.fromkeys([*labels, *metrics.sensitive]))
        rows, _ = person_rows(
            data, person, k, cols, rng=bounding(rng), owner="release_group_counts"
        )
        if len(rows):
            fresh.update(rows[y_true].to_numpy(), rows[y_pred].to_numpy(), rows)
        metrics = fresh
    dom = groups if isinstance(groups, Groups) else Groups(groups)
    width = len(dom.groups[0])
    if width != len(metrics.sensitive):
        raise ConfigError(
            f"each group needs {len(metrics.sensitive)} value(s), one per sensitive feature "
            f"{metrics.sensitive}; got {width}",
            parameter="groups",
        )
    exact: dict[str, tuple[Domain, IntArray]] = {"groups": (dom, dom.count(metrics.counts()))}
    return _release(
        "group_counts", exact, epsilon=epsilon, delta=delta, mechanism=mechanism,
        budget=budget, seed=rng, label=label, max_rows_per_person=k,
    )  # fmt: skip
