"""Drift verdicts from DP releases: a noise-aware test, calibrated by simulation.

A noisy histogram is the exact one plus independent noise of known distribution, so the
usual chi-square test would take noise for drift. The statistic here standardises each
cell's difference of proportions by its variance under "no drift", sampling *and* noise:

``T = sum_j (c_j/N_c - r_j/N_r)**2 / (p_j (1 - p_j) (1/N_c + 1/N_r) + v_c/N_c**2 + v_r/N_r**2)``

(``p`` the pooled proportions, ``v`` the noise variances). Its null distribution is not
chi-square (Laplace noise has heavy tails), so the p-value is a Monte Carlo one: the
data are redrawn from the pooled proportions, the noise from the releases' own
mechanisms and scales, ``n_sim`` times (Gaboardi, Lim, Rogers and Vadhan 2016 do the same
for DP goodness-of-fit tests). This is post-processing of the releases: no privacy cost.

Rows are not always independent draws: a person's rows tend to be alike. Say person
``i`` has ``m_i`` rows, each in cell ``j`` with probability ``p_j``, however dependent.
The count of a cell is a sum over persons, and the variance of a person's share of any
linear function of the counts is at most ``m_i**2`` times that of one row (the standard
deviation of a sum is at most the sum of the standard deviations): the covariance of the
counts is at most (in the positive semi-definite order) ``S = sum m_i**2`` times one
row's, which is attained by each person's rows all falling in one cell. In the normal
approximation, a larger covariance makes the statistic stochastically larger (Anderson's
inequality: adding independent symmetric noise moves a vector out of a centred ellipsoid
more often), so the test is simulated with persons of perfectly alike rows, in the most
clustered arrangement the release's figures allow, and the variance in ``T`` uses
``S / n`` in place of 1 (``p_j (1 - p_j) S / N**2``).

How clustered can ``n`` rows be? With at most ``k`` rows per person (a release whose unit
is a person), ``S <= n k``: ``n / k`` persons of ``k`` rows (stop 41's test; valid, but at
the power of ``n / k`` rows). A person release also carries a noisy count of persons
``P`` (:attr:`DPRelease.persons`). The excess ``E = n - P`` (rows beyond one per person)
then bounds it: ``S`` is convex in the ``m_i``, so its maximum over ``1 <= m_i <= k``,
``sum m_i = n``, ``sum (m_i - 1) <= E`` sits at a vertex: ``floor(E / (k - 1))`` persons of
``k`` rows, one person of the excess left over, everyone else alone, and

``S <= n + k E``  (equal when ``k - 1`` divides ``E``; ``n`` when every person has one row).

``E`` is not known exactly: ``n`` is the sum of the part's noisy counts (nulls included)
and ``P`` noisy too. ``E`` is raised to a one-sided bound ``E_hat + t`` where ``t`` is a
Chernoff bound on the sum of their noises (exact moment generating function of discrete
Laplace noise; discrete Gaussian noise is ``sigma**2``-subgaussian) that fails with odds
at most ``BOUND_MISS`` (1e-3). On that event the test may be too liberal, so the p-value
adds ``BOUND_MISS`` per release bounded this way: ``P(p <= alpha) <= (alpha - beta) +
beta``. Dropping the null rows of a column does not raise the excess (a person loses rows,
and drops out only with their last one), so the bound from all rows holds per column.
With one row per person and ``n`` in the thousands, ``S / n`` is near 1 (near the power
of independent rows) instead of ``k``.

A release whose unit is a row is tested as independent rows, and so is an exact
``Profile`` reference unless ``compare(..., reference_rows_per_person=k)`` says a person
may hold ``k`` rows in it (then ``n / k`` persons of ``k`` rows: a profile has no count
of persons).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from prodml._params import Interval, check_params
from prodml.errors import ConfigError
from prodml.privacy_dp._domains import Bins, Categories
from prodml.privacy_dp._noise import Noise, discrete_gaussian, discrete_laplace
from prodml.privacy_dp._release import DPPart, DPRelease

if TYPE_CHECKING:
    import pandas as pd

    from prodml.drift import Profile

__all__ = ["DPDriftReport", "DPDriftResult", "compare"]

FloatArray = npt.NDArray[np.float64]
BOUND_MISS = 1e-3
"""Odds that a release's bound on its rows beyond one per person fails (added to p)."""


@dataclass(frozen=True)
class DPDriftResult:
    """The verdict on one released column.

    ``effect`` is the total variation distance of the clamped proportions (nulls left
    out); ``drifted`` is ``p_adjusted <= alpha and effect >= min_effect``.
    """

    column: str
    statistic: float
    p_value: float
    p_adjusted: float
    effect: float
    drifted: bool
    n_reference: float
    n_current: float
    noise_sd_reference: float
    noise_sd_current: float


@dataclass(frozen=True)
class DPDriftReport:
    """Per-column verdicts of :func:`compare`."""

    results: tuple[DPDriftResult, ...]
    alpha: float
    correction: str

    @property
    def drifted_columns(self) -> list[str]:
        """Columns whose verdict is drift."""
        return [r.column for r in self.results if r.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "alpha": self.alpha,
            "correction": self.correction,
            "results": [r.__dict__.copy() for r in self.results],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per column."""
        import pandas as pd  # noqa: PLC0415

        return pd.DataFrame([r.__dict__ for r in self.results])


def _noise_draws(noise: tuple[Noise, ...], rng: np.random.Generator, shape: tuple[int, int]) -> Any:
    total = np.zeros(shape, dtype=np.int64)
    for n in noise:
        draw = discrete_laplace if n.mechanism == "laplace" else discrete_gaussian
        total += draw(rng, n.scale, shape)
    return total


def _statistic(
    c: FloatArray,
    r: FloatArray,
    p: FloatArray,
    noise: tuple[float, float],
    rows: tuple[float, float],
) -> FloatArray:
    """The statistic for rows of current and reference counts (one test per row).

    ``noise`` are the noise variances (current, reference); ``rows`` the factors by which
    clustering into persons may inflate each count's sampling variance over ``n``
    independent rows (``sum m_i**2 / n``, at most ``k``; 1 for independent rows).
    """
    vc, vr = noise
    kc, kr = rows
    nc = np.maximum(c.sum(axis=-1, keepdims=True), 1.0)
    nr = np.maximum(r.sum(axis=-1, keepdims=True), 1.0)
    var = p * (1 - p) * (kc / nc + kr / nr) + vc / nc**2 + vr / nr**2
    out: FloatArray = (((c / nc - r / nr) ** 2) / var).sum(axis=-1)
    return out


def _cells(part: DPPart) -> FloatArray:
    # Nulls are not a category of the distribution: drop the <null> cell.
    return part.noisy[:-1].astype(np.float64)


@dataclass(frozen=True)
class _Persons:
    """What a side of the test says about its persons.

    ``k`` bounds each person's rows (1: independent rows); ``excess`` bounds the rows
    beyond one per person (``n - P``), ``None`` when nothing bounds it but ``k``.
    """

    k: int
    excess: float | None = None


def _worst(n: int, persons: _Persons) -> tuple[int, int, int]:
    """The clustering of ``n`` rows with the largest ``sum m_i**2`` the bounds allow.

    Returns ``(big, mid, singles)``: ``big`` persons of ``k`` rows, one person of
    ``mid`` rows (0: none) and ``singles`` persons of one row. ``sum m_i**2`` is convex,
    so it is largest at a vertex of ``{1 <= m_i <= k, sum m_i = n, sum (m_i - 1) <= E}``:
    as many persons at ``k`` as the excess ``E`` pays for (``k - 1`` each), what is left
    of it in one person, everyone else alone.
    """
    k = persons.k
    if k <= 1 or persons.excess is None:
        return 0, 0, n
    most = n - -(-n // k)  # the excess of n rows in as few persons as k allows
    e = min(math.floor(persons.excess), most)
    big, rest = divmod(e, k - 1)
    mid = 1 + rest if rest else 0
    return big, mid, n - big * k - mid


def _factor(n: int, persons: _Persons) -> float:
    """``sum m_i**2 / n`` of the worst clustering: the sampling variance's inflation."""
    if persons.excess is None:
        return float(persons.k)  # stop 41's bound, n / k persons of k rows
    big, mid, singles = _worst(n, persons)
    return (big * persons.k**2 + mid**2 + singles) / n


def _draw(
    rng: np.random.Generator, n: int, persons: _Persons, p: FloatArray, n_sim: int
) -> npt.NDArray[np.int64]:
    """Counts of ``n`` rows drawn from ``p`` under the worst clustering, ``n_sim`` times.

    Each person's rows all fall in one cell (perfectly alike: the worst case for the
    test). Without an excess bound, ``n / k`` persons of ``k`` rows each, as stop 41
    drew them (so old releases get the p-values they got).
    """
    if persons.excess is None:
        size = max(round(n / persons.k), 1)
        old: npt.NDArray[np.int64] = rng.multinomial(size, p, size=n_sim) * persons.k
        return old
    big, mid, singles = _worst(n, persons)
    out: npt.NDArray[np.int64] = rng.multinomial(singles, p, size=n_sim)
    if big:
        out += persons.k * rng.multinomial(big, p, size=n_sim)
    if mid:
        out += mid * rng.multinomial(1, p, size=n_sim)
    return out


def _tail(noise: list[tuple[Noise, int]], miss: float) -> float:
    """``t`` with ``P(sum of the noises > t) <= miss`` (Chernoff, for symmetric noise).

    ``noise`` lists each draw's :class:`Noise` with how many independent copies are
    summed. Discrete Laplace of scale ``s`` (``a = exp(-1/s)``) has the moment generating
    function ``(1 - a)**2 / ((1 - a e**t)(1 - a e**-t))`` for ``t < 1/s``; discrete
    Gaussian of scale ``sigma`` is ``sigma**2``-subgaussian (Canonne, Kamath and Steinke
    2020), so its log-MGF is at most ``t**2 sigma**2 / 2``. Any ``t`` gives a valid
    bound ``(log(1/miss) + log M(t)) / t``; the smallest over a grid is taken.
    """
    laplace = [(n.scale, m) for n, m in noise if n.mechanism == "laplace"]
    gauss = math.fsum(m * n.scale**2 for n, m in noise if n.mechanism != "laplace")
    top = min((1.0 / s for s, _ in laplace), default=None)
    if top is None:  # Gaussian only: the closed form of the minimum
        return math.sqrt(2.0 * gauss * math.log(1.0 / miss))
    theta = top * np.geomspace(1e-6, 1.0 - 1e-6, 400)
    log_m = theta**2 * gauss / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):  # a grid point at the pole
        for s, m in laplace:
            # a e**t and a e**-t as one exponent each: no overflow when 1/s is huge.
            log_m += m * (
                2.0 * math.log1p(-math.exp(-1.0 / s))
                - np.log1p(-np.exp(theta - 1.0 / s))
                - np.log1p(-np.exp(-theta - 1.0 / s))
            )
        bounds = (math.log(1.0 / miss) + log_m) / theta
    return float(np.min(np.where(np.isfinite(bounds), bounds, np.inf)))


def _persons_of(release: DPRelease, part: DPPart) -> _Persons:
    """What ``release`` says about the persons behind ``part``.

    With a count of persons ``P``: the excess ``E = n - P`` of the part's rows (nulls
    too), raised by the noise in ``n`` and ``P`` to a one-sided upper bound that fails
    with odds at most :data:`BOUND_MISS`. Dropping the null rows does not raise the
    excess (a person keeps fewer rows, and one fewer person only with their last row).
    """
    k = release.max_rows_per_person or 1
    if release.persons is None or k == 1:
        return _Persons(k)
    e_hat = float(part.noisy.sum()) - float(release.persons)
    noise = [(n, part.domain.size) for n in part.noise] + [(n, 1) for n in release.persons_noise]
    return _Persons(k, max(e_hat + _tail(noise, BOUND_MISS), 0.0))


def _test(
    ref: DPPart, cur: DPPart, n_sim: int, rng: np.random.Generator, rows: tuple[_Persons, _Persons]
) -> tuple[float, float, float]:
    r, c = _cells(ref), _cells(cur)
    k = r.size
    pooled = np.maximum(r, 0) + np.maximum(c, 0)
    p = (pooled + 0.5) / (pooled.sum() + 0.5 * k)  # never 0: a variance floor for empty cells
    noise = cur.variance, ref.variance
    pc, pr = rows
    nr, nc = max(round(r.sum()), 1), max(round(c.sum()), 1)
    factors = _factor(nc, pc), _factor(nr, pr)
    stat = float(_statistic(c, r, p, noise, factors))
    sims_r = _draw(rng, nr, pr, p, n_sim) + _noise_draws(ref.noise, rng, (n_sim, k))
    sims_c = _draw(rng, nc, pc, p, n_sim) + _noise_draws(cur.noise, rng, (n_sim, k))
    null = _statistic(sims_c.astype(np.float64), sims_r.astype(np.float64), p, noise, factors)
    p_value = (1 + int((null >= stat).sum())) / (n_sim + 1)
    # Each bound on the excess may fail with odds BOUND_MISS: added, the p-value stays valid.
    p_value = min(p_value + BOUND_MISS * sum(x.excess is not None for x in rows), 1.0)
    effect = 0.5 * float(np.abs(ref.proportions() - cur.proportions()).sum())
    return stat, p_value, effect


def _exact_part(reference: Any, column: str, like: DPPart) -> DPPart:
    from prodml.privacy_dp._sources import profile_counts  # noqa: PLC0415

    assert isinstance(like.domain, Bins | Categories)  # noqa: S101 - profile parts only
    counts = profile_counts(reference, {column: like.domain})[column]
    return DPPart(like.domain, counts, ())


def compare(
    reference: DPRelease | Profile,
    current: DPRelease,
    *,
    alpha: float = 0.05,
    correction: Literal["bonferroni", "fdr_bh", "holm", "none"] = "holm",
    min_effect: float = 0.0,
    n_sim: int = 999,
    seed: int | None = 0,
    reference_rows_per_person: int | Literal["current"] | None = None,
) -> DPDriftReport:
    """Drift verdicts of a DP release (``current``) against a reference, column by column.

    The p-values treat the rows of a release whose unit is a row (and of an exact
    ``Profile`` reference, unless ``reference_rows_per_person`` says otherwise) as
    independent draws: when a person has many rows in them, the p-values are too small
    and drift is flagged too often. Release with ``person=`` and
    ``max_rows_per_person=k`` instead: the rows of such a release are tested as persons
    of up to ``k`` perfectly alike rows, valid however alike they are. With the release's
    noisy count of persons ``P`` (:attr:`DPRelease.persons`), the persons are as clustered
    as ``n`` rows in ``P`` persons of at most ``k`` rows can be (a bound that holds but
    with odds of 1 in 1,000, added to the p-value); without it (older releases,
    ``persons_share=0``), ``n / k`` persons of ``k`` rows, at the power of ``n / k``
    independent rows.

    Parameters
    ----------
    reference
        A :class:`DPRelease` with the same columns and domains (say, merged from many
        sites) or an exact :class:`~prodml.drift.Profile` (binned like ``current``;
        the party holding it must be allowed to see it).
    current
        The release to test.
    alpha, correction
        Level of the tests and the multiple-testing correction across columns
        (``holm``, ``bonferroni``, ``fdr_bh`` or ``none``), as in ``DriftDetector``.
    min_effect
        Total variation distance a drifted column must also reach.
    n_sim
        Simulations of the Monte Carlo p-value (its resolution is ``1 / (n_sim + 1)``).
    seed
        Seed of the simulations, so a verdict is reproducible.
    reference_rows_per_person
        With an exact ``Profile`` reference: how many rows a person may hold in it.
        ``None`` (default) takes its rows as independent; ``k`` tests them as persons of
        up to ``k`` alike rows (``n / k`` persons: an exact profile has no count of
        persons); ``"current"`` takes ``k`` from ``current``'s ``max_rows_per_person``
        (when the reference holds rows bounded the same way).

    Raises
    ------
    ConfigError
        Bad settings, or a reference whose columns or domains differ;
        ``reference_rows_per_person`` with a DPRelease reference (it carries its own),
        or ``"current"`` when ``current`` is not a person release.
    """
    from prodml.drift import Profile  # noqa: PLC0415
    from prodml.drift.stats import adjust_pvalues  # noqa: PLC0415

    check_params(
        "compare",
        {"alpha": alpha, "min_effect": min_effect, "n_sim": n_sim},
        {
            "alpha": [Interval(float, 0, 1, "neither")],
            "min_effect": [Interval(float, 0, 1, "both")],
            "n_sim": [Interval(int, 99, 1_000_000)],
        },
    )
    histograms = ("profile", "window", "counts", "rows")
    if not isinstance(current, DPRelease) or current.source not in histograms:
        raise ConfigError(
            "compare needs a DPRelease of a profile, window, counts or rows as 'current'",
            parameter="current",
        )
    ref_rows = _reference_rows(reference_rows_per_person, reference, current)
    rng = np.random.default_rng(seed)
    rows = []
    for name, cur in current.parts.items():
        if isinstance(reference, Profile):
            ref = _exact_part(reference, name, cur)
        elif isinstance(reference, DPRelease):
            ref = reference.part(name)
            if ref.domain != cur.domain:
                raise ConfigError(
                    f"the reference's domain of column {name[:60]!r} differs from the current "
                    "release's",
                    parameter="reference",
                )
        else:
            raise ConfigError(
                f"compare needs a DPRelease or a Profile as 'reference'; got "
                f"{type(reference).__name__}",
                parameter="reference",
            )
        per_person = (
            _persons_of(current, cur),
            _persons_of(reference, ref) if isinstance(reference, DPRelease) else _Persons(ref_rows),
        )
        stat, p, effect = _test(ref, cur, n_sim, rng, per_person)
        rows.append((name, stat, p, effect, ref, cur))
    adjusted = adjust_pvalues([row[2] for row in rows], correction)
    results = tuple(
        DPDriftResult(
            column=name,
            statistic=stat,
            p_value=p,
            p_adjusted=float(adj),
            effect=effect,
            drifted=bool(adj <= alpha and effect >= min_effect),
            n_reference=ref.total,
            n_current=cur.total,
            noise_sd_reference=ref.variance**0.5,
            noise_sd_current=cur.variance**0.5,
        )
        for (name, stat, p, effect, ref, cur), adj in zip(rows, adjusted, strict=True)
    )
    return DPDriftReport(results, float(alpha), correction)


def _reference_rows(value: object, reference: object, current: DPRelease) -> int:
    """``reference_rows_per_person`` checked: the ``k`` of an exact Profile reference."""
    from prodml.drift import Profile  # noqa: PLC0415
    from prodml.privacy_dp._persons import check_rows_per_person  # noqa: PLC0415

    if value is None:
        return 1
    if not isinstance(reference, Profile):
        raise ConfigError(
            "The 'reference_rows_per_person' parameter of compare applies to an exact "
            "Profile reference only: a DPRelease reference carries its own "
            "max_rows_per_person",
            parameter="reference_rows_per_person",
        )
    if isinstance(value, str) and value == "current":
        if current.max_rows_per_person is None:
            raise ConfigError(
                "compare(reference_rows_per_person='current') needs a 'current' release whose "
                "unit is a person (made with max_rows_per_person); this one's unit is a row",
                parameter="reference_rows_per_person",
            )
        return current.max_rows_per_person
    try:
        k = check_rows_per_person(value)
    except ConfigError:
        numeric = isinstance(value, int | np.integer) and not isinstance(value, bool)
        shown = repr(value)[:40] if numeric else type(value).__name__
        raise ConfigError(
            "The 'reference_rows_per_person' parameter of compare must be an int in "
            f"[1, 1000000], 'current' or None. Got {shown} instead.",
            parameter="reference_rows_per_person",
        ) from None
    assert k is not None  # noqa: S101 - None returned above
    return k
