"""Cost of the exact, keyed privacy ledger and of bounding each person's rows.

Workloads (seed 0), each timed in alternating rounds; figures are medians:

* L1, ``PrivacyBudget.spend`` per call on a ledger already holding ``n`` spends (10,
  1,000, 10,000), the ledger copied fresh for each batch of 100 spends so its length
  stays put. The sums are exact decimals kept as running totals.
* L2, ``to_json`` / ``from_json`` of a ledger of 1,000 spends, without a key and with one
  (HMAC-SHA256 over the canonical JSON).
* R1, ``release_rows`` of ``n`` rows (100,000 persons, 3 columns: a person id, a category
  of 4 values, a float binned in 3 bins), keeping at most 5 rows per person, against the
  same by hand: pandas (shuffle, ``groupby(...).head(5)``, ``value_counts``, bins by
  ``np.searchsorted``) then OpenDP's ``make_laplace`` on each count vector at the same
  scale; and by numpy (ids factorized, a random permutation grouped by a stable sort of
  the codes, the first ``k`` of each person kept, the same counting and noise). Ratios
  are prodml / by hand, per round, medians; wall and CPU (``process_time``) time, as the
  machine is shared.

Usage::

    python benchmarks/bench_privacy_ledger.py           # n = 1,000,000 rows, 5 rounds
    python benchmarks/bench_privacy_ledger.py --quick   # n = 100,000 rows, 3 rounds
    python benchmarks/bench_privacy_ledger.py --only L  # L1 and L2 (also on an older tree:
                                                        # its unkeyed figures)
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd

from prodml.privacy_dp import Bins, Categories, PrivacyBudget, calibrate

KEY = "benchmark-key-of-32-bytes-000000"


def ledger(n: int) -> PrivacyBudget:
    b = PrivacyBudget(1e9, 0.5)
    for i in range(n):
        b.spend(0.1 if i % 2 else 0.0123456789, 1e-9, label=f"release {i}")
    return b


def spend_us(base: PrivacyBudget, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        b = copy.deepcopy(base)
        t = time.perf_counter()
        for _ in range(100):
            b.spend(0.1, 1e-9)
        times.append((time.perf_counter() - t) / 100 * 1e6)
    return statistics.median(times)


def io_ms(fn: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def by_hand(df: pd.DataFrame, k: int, scale: float) -> dict[str, np.ndarray]:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    bounded = df.sample(frac=1.0, random_state=None).groupby("user", sort=False).head(k)
    page = bounded["page"].value_counts().reindex(["home", "cart", "pay"], fill_value=0)
    other = len(bounded) - int(page.sum())
    pages = np.append(page.to_numpy(), [other, 0]).astype(np.int64)
    edges = np.array([0.0, 100.0, 1000.0, 5000.0])
    idx = np.clip(np.searchsorted(edges, bounded["ms"].to_numpy(), side="right") - 1, 0, 2)
    ms = np.append(np.bincount(idx, minlength=3), 0).astype(np.int64)
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
    noise = dp.m.make_laplace(*space, scale=scale)
    return {"page": np.asarray(noise(pages.tolist())), "ms": np.asarray(noise(ms.tolist()))}


def by_numpy(df: pd.DataFrame, k: int, scale: float) -> dict[str, np.ndarray]:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    codes, _ = pd.factorize(df["user"])
    perm = np.random.default_rng().permutation(codes.size)
    order = perm[np.argsort(codes[perm], kind="stable")]  # by person, random within
    sizes = np.bincount(codes)
    rank = np.arange(codes.size) - (np.cumsum(sizes) - sizes)[codes[order]]
    keep = np.sort(order[rank < k])
    page = pd.Series(df["page"].to_numpy()[keep]).value_counts()
    page = page.reindex(["home", "cart", "pay"], fill_value=0)
    pages = np.append(page.to_numpy(), [keep.size - int(page.sum()), 0]).astype(np.int64)
    edges = np.array([0.0, 100.0, 1000.0, 5000.0])
    ms_kept = df["ms"].to_numpy()[keep]
    idx = np.clip(np.searchsorted(edges, ms_kept, side="right") - 1, 0, 2)
    ms = np.append(np.bincount(idx, minlength=3), 0).astype(np.int64)
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
    noise = dp.m.make_laplace(*space, scale=scale)
    return {"page": np.asarray(noise(pages.tolist())), "ms": np.asarray(noise(ms.tolist()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["L", "R"], help="the ledger (L) or rows (R) part")
    args = parser.parse_args()
    n, rounds = (100_000, 3) if args.quick else (1_000_000, 5)
    print(f"# {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")

    if args.only != "R":
        ledgers(rounds)
    if args.only != "L":
        rows(n, rounds)


def ledgers(rounds: int) -> None:
    keyed_api = "key" in PrivacyBudget.to_json.__code__.co_varnames
    print("\n## L1: spend per call (microseconds)")
    for size in (10, 1_000, 10_000):
        print(f"ledger of {size:>6}: {spend_us(ledger(size), rounds * 3):8.1f}")

    print("\n## L2: ledger of 1,000 spends (milliseconds)")
    b = ledger(1_000)
    plain = b.to_json()
    figures = [
        ("to_json", io_ms(b.to_json, rounds * 3)),
        ("from_json", io_ms(lambda: PrivacyBudget.from_json(plain), rounds * 3)),
    ]
    if keyed_api:
        keyed = b.to_json(key=KEY)
        figures += [
            ("to_json(key=)", io_ms(lambda: b.to_json(key=KEY), rounds * 3)),
            ("from_json(key=)", io_ms(lambda: PrivacyBudget.from_json(keyed, key=KEY), rounds * 3)),
        ]
    for name, ms in figures:
        print(f"{name:<16} {ms:8.2f}")


def rows(n: int, rounds: int) -> None:
    from prodml.privacy_dp import release_rows

    print(f"\n## R1: release_rows, {n:,} rows, at most 5 per person (seconds)")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "user": rng.integers(0, 100_000, n),
            "page": rng.choice(["home", "cart", "pay", "x"], n),
            "ms": rng.exponential(300, n),
        }
    )
    domains = {"page": Categories(["home", "cart", "pay"]), "ms": Bins([0, 100, 1000, 5000])}
    scale = calibrate("laplace", 1.0, 0.0, 2, max_rows_per_person=5)
    tools = {
        "prodml release_rows": lambda: release_rows(
            df, domains, epsilon=1.0, person="user", max_rows_per_person=5
        ),
        "pandas + OpenDP": lambda: by_hand(df, 5, scale),
        "numpy + OpenDP": lambda: by_numpy(df, 5, scale),
    }
    wall: dict[str, list[float]] = {name: [] for name in tools}
    cpu: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(rounds):
        for name, fn in tools.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - c)
            wall[name].append(time.perf_counter() - t)
    ours = "prodml release_rows"
    print("| tool | wall s | CPU s | prodml / tool, wall | prodml / tool, CPU |")
    print("|---|---|---|---|---|")
    for name in tools:
        rw = statistics.median(a / b for a, b in zip(wall[ours], wall[name], strict=True))
        rc = statistics.median(a / b for a, b in zip(cpu[ours], cpu[name], strict=True))
        print(
            f"| {name} | {statistics.median(wall[name]):.3f} | "
            f"{statistics.median(cpu[name]):.3f} | {rw:.2f} | {rc:.2f} |"
        )


if __name__ == "__main__":
    main()
