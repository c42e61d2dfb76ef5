"""Drift verdicts from differentially private profiles vs exact ones: false alarms and power.

Four sites each release their profile with DP noise (``release_profile``) and the
releases are merged into a reference; a fifth party releases its current data; and
``compare`` tests each column with the noise-aware Monte Carlo test. The same data,
exact, go through the usual tests: scipy's chi-square of homogeneity on the same bins
and categories, and prodml's ``DriftDetector`` on the rows (KS for ``age``, chi-square
for ``plan``; ``min_effect=0`` so only the p-value decides, like the others). A naive
chi-square on the noisy counts (noise ignored) shows why the noise must be modelled.

Workload (seeded): ``age`` ~ Normal(40, 12) in 10 declared bins over [0, 100],
``plan`` from 5 categories (4 declared, the 5th falls in ``<other>``). Reference: 4
sites x ``n`` rows; current: ``n`` rows. Null: the same distributions. Small drift:
``age`` mean +0.6 (0.05 sd) and 1.5 points of ``plan`` moved from ``free`` to ``team``;
moderate drift: +1.5 (0.125 sd) and 4 points. Rates are per column at alpha = 0.05 (no
correction), over ``reps`` repetitions, with the binomial standard error.

Usage::

    python benchmarks/bench_dp.py            # n = 5,000, 300 repetitions per cell
    python benchmarks/bench_dp.py --quick    # n = 2,000, 60 repetitions
    python benchmarks/bench_dp.py --overhead # release cost against OpenDP alone

``--overhead`` times the same releases made two ways: ``release_counts`` (checks,
calibration, budget, OpenDP's secure sampler, the ``DPRelease``) and OpenDP by hand
(one ``make_laplace`` / ``make_gaussian`` measurement on i64 count vectors, applied to
each part, at the textbook Laplace scale ``n_parts / epsilon`` or at the Gaussian scale
that OpenDP's ``binary_search_param`` finds for the composed release, searched once
outside the timing; prodml caches its calibrated scales too). It also prints the
relative difference between prodml's calibrated scales and OpenDP's own search, and the
medians of per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from prodml.drift import DriftDetector, Profile
from prodml.privacy_dp import Bins, Categories, DPRelease, compare, release_profile

PLANS = ["free", "pro", "team", "edu", "gov"]
P_NULL = [0.45, 0.25, 0.15, 0.1, 0.05]
CONDITIONS = {
    "null": (0.0, P_NULL),
    "small": (0.6, [0.435, 0.25, 0.165, 0.1, 0.05]),
    "moderate": (1.5, [0.41, 0.25, 0.19, 0.1, 0.05]),
}
DOMAINS = {"age": Bins(np.linspace(0, 100, 11)), "plan": Categories(PLANS[:4])}
ALPHA = 0.05


def frame(rng: np.random.Generator, n: int, condition: str) -> pd.DataFrame:
    shift, p = CONDITIONS[condition]
    return pd.DataFrame(
        {"age": rng.normal(40.0 + shift, 12.0, n), "plan": rng.choice(PLANS, n, p=p)}
    )


def exact_cells(prof: Profile) -> dict[str, np.ndarray]:
    from prodml.privacy_dp._sources import profile_counts

    return {k: v[:-1] for k, v in profile_counts(prof, DOMAINS).items()}


def chi2_p(a: np.ndarray, b: np.ndarray) -> float:
    t = np.vstack([a, b]).astype(float)
    t = t[:, t.sum(axis=0) > 0]
    return float(chi2_contingency(t)[1])


def one_rep(
    seed: int, n: int, condition: str, epsilons: list[float], n_sim: int
) -> dict[str, list[bool]]:
    rng = np.random.default_rng(seed)
    sites = [frame(rng, n, "null") for _ in range(4)]
    current = frame(rng, n, condition)
    ref_prof = Profile().update(sites)
    cur_prof = Profile().update(current)
    out: dict[str, list[bool]] = {}
    ref_exact, cur_exact = exact_cells(ref_prof), exact_cells(cur_prof)
    out["exact: chi-square on bins (scipy)"] = [
        chi2_p(ref_exact[c], cur_exact[c]) <= ALPHA for c in DOMAINS
    ]
    det = DriftDetector(correction="none", min_effect=0.0).fit(pd.concat(sites))
    res = {r.column: r for r in det.detect(current).results}
    out["exact: DriftDetector on rows"] = [res[c].p_value <= ALPHA for c in DOMAINS]
    for eps in epsilons:
        ref: DPRelease | None = None
        for site in sites:
            rel = release_profile(Profile().update(site), DOMAINS, epsilon=eps, seed=rng)
            ref = rel if ref is None else ref.merge(rel)
        assert ref is not None
        cur = release_profile(cur_prof, DOMAINS, epsilon=eps, seed=rng)
        report = compare(ref, cur, correction="none", n_sim=n_sim, seed=seed)
        out[f"DP eps={eps}: compare (noise-aware)"] = [r.p_value <= ALPHA for r in report.results]
        out[f"DP eps={eps}: chi-square ignoring noise"] = [
            chi2_p(ref.parts[c].counts[:-1], cur.parts[c].counts[:-1]) <= ALPHA for c in DOMAINS
        ]
    return out


def _opendp_release(dp: object, mechanism: str, scale: float, parts: list[list[int]]) -> list:
    """OpenDP by hand: one measurement, applied to each part's counts."""
    space = (
        dp.vector_domain(dp.atom_domain(T="i64")),  # type: ignore[attr-defined]
        (dp.l1_distance if mechanism == "laplace" else dp.l2_distance)(T="i64"),  # type: ignore[attr-defined]
    )
    make = dp.m.make_laplace if mechanism == "laplace" else dp.m.make_gaussian  # type: ignore[attr-defined]
    meas = make(*space, scale=scale)
    return [meas(p) for p in parts]


def _opendp_scale(dp: object, mechanism: str, eps: float, delta: float, n_parts: int) -> float:
    """The scale OpenDP's own binary search finds for the composed release."""
    space = (
        dp.vector_domain(dp.atom_domain(T="i64")),  # type: ignore[attr-defined]
        (dp.l1_distance if mechanism == "laplace" else dp.l2_distance)(T="i64"),  # type: ignore[attr-defined]
    )

    def build(scale: float) -> object:
        if mechanism == "laplace":
            return dp.c.make_composition([dp.m.make_laplace(*space, scale=scale)] * n_parts)  # type: ignore[attr-defined]
        part = dp.m.make_gaussian(*space, scale=scale)  # type: ignore[attr-defined]
        zcdp = dp.c.make_composition([part] * n_parts)  # type: ignore[attr-defined]
        return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(zcdp), delta)  # type: ignore[attr-defined]

    d_out = eps if mechanism == "laplace" else (eps, delta)
    return float(dp.binary_search_param(build, d_in=1, d_out=d_out))  # type: ignore[attr-defined]


def overhead(rounds: int) -> None:
    """Median time of one release, prodml against OpenDP by hand, and scale agreement."""
    import opendp.prelude as dp

    from prodml.privacy_dp import PrivacyBudget, calibrate, release_counts

    dp.enable_features("contrib")
    rng = np.random.default_rng(0)
    print(
        "| release | prodml ms | OpenDP by hand ms | ratio (median of rounds) | scale rel. diff |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for mechanism, delta in (("laplace", 0.0), ("gaussian", 1e-6)):
        for n_parts, cells in ((1, 12), (10, 12), (50, 12), (10, 1000)):
            eps = 1.0
            doms = {f"c{i}": Bins(np.arange(cells)) for i in range(n_parts)}
            counts = {c: rng.integers(0, 10**6, cells) for c in doms}
            parts = [[int(x) for x in v] for v in counts.values()]
            scale = calibrate(mechanism, eps, delta, n_parts)
            ref_scale = _opendp_scale(dp, mechanism, eps, delta, n_parts)
            diff = abs(scale - ref_scale) / ref_scale
            mine, theirs, ratios = [], [], []
            for _ in range(rounds):
                budget = PrivacyBudget(10 * eps, 1e-3)
                t0 = time.perf_counter()
                release_counts(counts, doms, epsilon=eps, delta=delta, mechanism=mechanism,
                               budget=budget)  # fmt: skip
                t1 = time.perf_counter()
                # By hand: the textbook scale (Laplace) or OpenDP's own search (Gaussian,
                # whose scale has no closed form; searched once, outside the timing, as
                # a user would keep it), then the noise.
                s = n_parts / eps if mechanism == "laplace" else ref_scale
                _opendp_release(dp, mechanism, s, parts)
                t2 = time.perf_counter()
                mine.append(t1 - t0)
                theirs.append(t2 - t1)
                ratios.append((t1 - t0) / (t2 - t1))
            name = f"{mechanism}, {n_parts} part(s) x {cells} cells"
            print(
                f"| {name} | {np.median(mine) * 1e3:.2f} | {np.median(theirs) * 1e3:.2f} | "
                f"{np.median(ratios):.2f} | {diff:.1e} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--overhead", action="store_true", help="release cost vs OpenDP")
    args = parser.parse_args()
    if args.overhead:
        print(
            f"python {platform.python_version()}, {platform.machine()}, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        overhead(args.reps or (15 if args.quick else 61))
        return
    n, reps = (2000, 60) if args.quick else (5000, 300)
    reps = args.reps or reps
    epsilons = [1.0, 0.1]
    print(
        f"python {platform.python_version()}, {platform.machine()}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"reference 4 sites x {n:,} rows, current {n:,} rows, {reps} repetitions, alpha {ALPHA}")
    start = time.perf_counter()
    rates: dict[tuple[str, str], np.ndarray] = {}
    for k, condition in enumerate(CONDITIONS):
        hits: dict[str, np.ndarray] = {}
        for i in range(reps):
            for method, flags in one_rep(i + k * 10**6, n, condition, epsilons, 499).items():
                hits.setdefault(method, np.zeros(len(DOMAINS)))
                hits[method] += flags
        for method, h in hits.items():
            rates[(method, condition)] = h / reps
    print(f"({time.perf_counter() - start:.0f} s)")
    se = lambda p: (p * (1 - p) / reps) ** 0.5  # noqa: E731
    print(
        "| method | false alarms: age | plan | power, small drift: age | plan "
        "| power, moderate drift: age | plan |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    methods = dict.fromkeys(m for m, _ in rates)
    for m in methods:
        values = [p for c in CONDITIONS for p in rates[(m, c)]]
        print(f"| {m} | {' | '.join(f'{p:.3f} ± {se(p):.3f}' for p in values)} |")


if __name__ == "__main__":
    main()
