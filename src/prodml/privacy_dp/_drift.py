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

Rows are not always independent draws: a person's rows tend to be alike. A release whose
unit is a person (``max_rows_per_person=k``) is tested in the worst case, each person's
``k`` rows all in one cell: the sampling variance in ``T`` and the simulated counts are
those of ``n / k`` persons of ``k`` identical rows, so the p-value holds however alike a
person's rows are (the count of a cell over clusters of at most ``k`` rows varies at most
``k`` times as much as over independent rows). A release whose unit is a row, and an
exact ``Profile`` reference, are tested as independent rows.
"""

from __future__ import annotations

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
    c: FloatArray, r: FloatArray, p: FloatArray, noise: tuple[float, float], rows: tuple[int, int]
) -> FloatArray:
    """The statistic for rows of current and reference counts (one test per row).

    ``noise`` are the noise variances (current, reference); ``rows`` the rows a person
    may have in each (1 for a release whose unit is a row): the sampling variance of a
    count of ``n`` rows in clusters of at most ``k`` is at most ``k`` times that of ``n``
    independent rows.
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


def _clustered(
    rng: np.random.Generator, n: int, rows: int, p: FloatArray, n_sim: int
) -> npt.NDArray[np.int64]:
    """``n`` rows drawn from ``p`` in persons of ``rows`` rows each, all in one cell.

    The worst case of a person's rows for the test: perfectly alike, so the counts vary
    ``rows`` times as much as ``n`` independent rows do. With ``rows=1``, a multinomial.
    """
    persons = max(round(n / rows), 1)
    out: npt.NDArray[np.int64] = rng.multinomial(persons, p, size=n_sim) * rows
    return out


def _test(
    ref: DPPart, cur: DPPart, n_sim: int, rng: np.random.Generator, rows: tuple[int, int]
) -> tuple[float, float, float]:
    r, c = _cells(ref), _cells(cur)
    k = r.size
    pooled = np.maximum(r, 0) + np.maximum(c, 0)
    p = (pooled + 0.5) / (pooled.sum() + 0.5 * k)  # never 0: a variance floor for empty cells
    noise = cur.variance, ref.variance
    kc, kr = rows
    stat = float(_statistic(c, r, p, noise, rows))
    nr, nc = max(round(r.sum()), 1), max(round(c.sum()), 1)
    sims_r = _clustered(rng, nr, kr, p, n_sim) + _noise_draws(ref.noise, rng, (n_sim, k))
    sims_c = _clustered(rng, nc, kc, p, n_sim) + _noise_draws(cur.noise, rng, (n_sim, k))
    null = _statistic(sims_c.astype(np.float64), sims_r.astype(np.float64), p, noise, rows)
    p_value = (1 + int((null >= stat).sum())) / (n_sim + 1)
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
) -> DPDriftReport:
    """Drift verdicts of a DP release (``current``) against a reference, column by column.

    The p-values treat the rows of a release whose unit is a row (and of an exact
    ``Profile`` reference) as independent draws: when a person has many rows in them,
    the p-values are too small and drift is flagged too often. Release with ``person=``
    and ``max_rows_per_person=k`` instead: the rows of such a release are tested as
    persons of up to ``k`` alike rows (the worst case, valid however alike they are), at
    the power of ``n / k`` independent rows.

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

    Raises
    ------
    ConfigError
        Bad settings, or a reference whose columns or domains differ.
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
            current.max_rows_per_person or 1,
            (reference.max_rows_per_person or 1) if isinstance(reference, DPRelease) else 1,
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
