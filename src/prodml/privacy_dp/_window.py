"""Releasing the label and output histograms of a monitor window with DP noise."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.privacy_dp._budget import PrivacyBudget
from prodml.privacy_dp._domains import Bins, Categories, Domain
from prodml.privacy_dp._persons import (
    PERSONS_SHARE,
    bounding,
    check_person,
    check_persons_share,
    persons_kept,
)
from prodml.privacy_dp._release import DPRelease, IntArray
from prodml.privacy_dp._sources import Seed, _check_domains, _missing, _release

if TYPE_CHECKING:
    from prodml.monitoring import ModelMonitor
    from prodml.monitoring.windows import Window

__all__ = ["release_window", "values_counts"]


def _is_null(v: Any) -> bool:
    """None, NaN of any float type, ``pd.NA`` and ``NaT``: counted in ``<null>``."""
    if v is None:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    if isinstance(v, np.datetime64 | np.timedelta64):
        return bool(np.isnat(v))
    # pd.NA and pd.NaT, without importing pandas: both are singletons of these types.
    return type(v).__name__ in ("NAType", "NaTType")


def values_counts(name: str, values: list[Any], dom: Bins | Categories) -> IntArray:
    present = [v.item() if isinstance(v, np.generic) else v for v in values if not _is_null(v)]
    n_null = len(values) - len(present)
    if isinstance(dom, Bins):
        try:
            arr = np.asarray(present, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):  # text; an int beyond float range
            raise ConfigError(
                f"Bins of column {short_repr(name)} need numeric values of at most 1.8e308; "
                "the window holds others",
                parameter="domains",
            ) from None
        if not np.isfinite(arr).all():
            raise ConfigError(
                f"column {short_repr(name)} of the window holds infinite values",
                parameter="domains",
            )
        return dom.count(arr, None, n_null)
    counts: dict[Any, int] = {}
    for v in present:
        counts[v] = counts.get(v, 0) + 1
    return dom.count(counts, n_null)


def release_window(
    window: ModelMonitor | Window,
    domains: Mapping[str, Bins | Categories],
    *,
    epsilon: float,
    delta: float = 0.0,
    mechanism: Literal["laplace", "gaussian"] = "laplace",
    budget: PrivacyBudget | None = None,
    seed: Seed = None,
    label: str = "window",
    person: Any = None,
    max_rows_per_person: int | None = None,
    person_times: Iterable[float] | None = None,
    persons_share: float = PERSONS_SHARE,
) -> DPRelease:
    """Release the ``label`` and/or ``output`` histograms of a monitor window with DP noise.

    ``window`` is a ``ModelMonitor`` (its performance window) or a window itself
    (``CountWindow``, ``TimeWindow``); ``domains`` may name ``label`` and ``output``.
    Other settings as in :func:`release_profile`.

    A window keeps no person ids: to protect a person rather than a prediction, pass
    ``person``, the person id of each of the window's predictions (array-like, in the
    order of ``window.times()``), with ``max_rows_per_person=k``; each person keeps at
    most ``k`` predictions, chosen at random, and the noise is scaled to ``k``. The ids
    are yours to keep in step with the window as it adds and evicts predictions (the
    same id for a person in every update, none for an evicted prediction): a list out
    of step bounds the wrong rows, silently. Pass ``person_times``, the window time you
    recorded with each id, and a list out of step is refused (``ConfigError``, naming
    positions, never an id). ``persons_share`` of epsilon pays for a noisy count of the
    persons, as in :func:`release_profile`.

    Examples
    --------
    >>> from prodml.monitoring.windows import CountWindow
    >>> from prodml.privacy_dp import Categories, release_window
    >>> win = CountWindow(10)
    >>> for t, (label, output) in enumerate([(1, 1), (1, 0), (1, 1), (0, 0)]):
    ...     win.add(float(t), label, output)
    >>> rel = release_window(
    ...     win,
    ...     {"label": Categories([0, 1])},
    ...     epsilon=1e6,
    ...     seed=0,
    ...     person=["a", "a", "a", "b"],
    ...     max_rows_per_person=2,
    ... )
    >>> rel.unit, rel.counts("label")[1], rel.counts("label")[0]
    ('person', 2, 1)
    """
    from prodml.monitoring import ModelMonitor  # noqa: PLC0415 - monitoring is above the core
    from prodml.monitoring.windows import Window  # noqa: PLC0415

    win = window.window if isinstance(window, ModelMonitor) else window
    if not isinstance(win, Window):
        raise ConfigError(
            f"release_window needs a ModelMonitor or a monitoring window; got "
            f"{type(window).__name__}",
            parameter="window",
        )
    doms = _check_domains(domains, (Bins, Categories))
    unknown = [c for c in doms if c not in ("label", "output")]
    if unknown:
        raise _missing(unknown, "a monitor window (it has 'label' and 'output')")
    k = check_person("release_window", person, max_rows_per_person)
    share = check_persons_share(persons_share)
    if person_times is not None and k is None:
        raise ConfigError(
            "release_window takes 'person_times' only with 'person' (the time of each id)",
            parameter="person_times",
        )
    rng = None if seed is None else np.random.default_rng(seed)
    data = {"label": win.labels(), "output": win.outputs()}
    n_persons = None
    if k is not None:
        ids = _window_ids(person, len(data["label"]))
        if person_times is not None:
            _check_in_step(person_times, win.times())
        keep, n_persons = persons_kept(ids, k, bounding(rng), "person")
        data = {name: [values[i] for i in keep.tolist()] for name, values in data.items()}
    exact: dict[str, tuple[Domain, IntArray]] = {}
    for name, dom in doms.items():
        assert isinstance(dom, Bins | Categories)  # noqa: S101 - checked above
        exact[name] = (dom, values_counts(name, data[name], dom))
    return _release(
        "window", exact, epsilon=epsilon, delta=delta, mechanism=mechanism, budget=budget,
        seed=rng, label=label, max_rows_per_person=k, persons=n_persons, persons_share=share,
    )  # fmt: skip


def _check_in_step(person_times: object, times: list[float]) -> None:
    """Refuse ids whose recorded times are not the window's, position by position."""
    if isinstance(person_times, str | bytes | Mapping) or not isinstance(person_times, Iterable):
        raise ConfigError(
            "The 'person_times' parameter of release_window must be the window time of each "
            f"person id (a list or array). Got {type(person_times).__name__} instead.",
            parameter="person_times",
        )
    try:
        given = np.asarray(list(person_times), dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            "The 'person_times' parameter of release_window must hold numbers (the window "
            "time of each person id)",
            parameter="person_times",
        ) from None
    held = np.asarray(times, dtype=np.float64)
    if given.shape != held.shape:
        raise ConfigError(
            f"the person ids are out of step with the window: {given.size} times given for "
            f"{held.size} predictions in the window (drop the ids of evicted predictions)",
            parameter="person_times",
        )
    off = np.flatnonzero(given != held)
    if off.size:
        raise ConfigError(
            f"the person ids are out of step with the window: {off.size} of {held.size} "
            f"times differ from the window's, first at position {int(off[0])}; keep one id "
            "per prediction, in the window's order (nothing was released)",
            parameter="person_times",
        )


def _window_ids(person: object, n: int) -> Any:
    """The person ids of a window's predictions: array-like, one per prediction."""
    import pandas as pd  # noqa: PLC0415

    if isinstance(person, str | bytes | Mapping) or not isinstance(person, Iterable):
        raise ConfigError(
            "The 'person' parameter of release_window must be the person id of each of "
            "the window's predictions (a list or array, oldest first); a window has no "
            f"columns to name. Got {type(person).__name__} instead.",
            parameter="person",
        )
    ids = person if isinstance(person, pd.Series) else pd.Series(list(person), dtype="object")
    if len(ids) != n:
        raise ConfigError(
            f"The 'person' parameter of release_window must hold one id per prediction in "
            f"the window ({n}). Got {len(ids)} instead.",
            parameter="person",
        )
    return ids.reset_index(drop=True)
