"""The end-to-end demo behind ``prodml demo``: offline, seeded, on embedded defaults.

It grows with the library: each step uses one part of prodml on a generated churn data
set and writes what it found to the output folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodml import __version__
from prodml.errors import SchemaError
from prodml.fingerprint import fingerprint_table
from prodml.schema import Schema

__all__ = ["make_churn_data", "run_demo"]

PLANS = ["free", "basic", "pro", "team", "enterprise"]
REGIONS = [f"region-{i:02d}" for i in range(12)]


def make_churn_data(n: int, *, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """A synthetic churn table; ``shift`` > 0 moves usage down and prices up (drift).

    Examples
    --------
    >>> df = make_churn_data(5, seed=1)
    >>> list(df.columns)
    ['tenure_months', 'monthly_spend', 'sessions_7d', 'support_tickets', 'plan', 'region', 'signup_at', 'churned']
    """  # noqa: E501
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 12.0, n)
    spend = rng.lognormal(3.5 + 0.3 * shift, 0.6, n)
    sessions = rng.poisson(np.maximum(0.5, 12.0 - 6.0 * shift), n).astype(float)
    tickets = rng.poisson(0.4 + 0.8 * shift, n)
    plan = rng.choice(PLANS, n, p=[0.35, 0.25, 0.2, 0.15, 0.05])
    region_p = np.arange(1, len(REGIONS) + 1, dtype=float) ** -1.1
    region = rng.choice(REGIONS, n, p=region_p / region_p.sum())
    start = np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64)
    signup = pd.to_datetime(start + rng.integers(0, 3 * 365 * 86_400, n), unit="s")
    # Missing values, as real exports have them.
    spend[rng.random(n) < 0.03] = np.nan
    sessions[rng.random(n) < 0.05] = np.nan
    logit = (
        -1.2
        - 0.04 * tenure
        + 0.01 * np.nan_to_num(spend, nan=40)
        - 0.12 * np.nan_to_num(sessions, nan=6)
        + 0.5 * tickets
        + np.where(plan == "free", 0.6, 0.0)
    )
    churned = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_spend": spend,
            "sessions_7d": sessions,
            "support_tickets": tickets,
            "plan": plan,
            "region": region,
            "signup_at": signup,
            "churned": churned.astype(int),
        }
    )


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def step(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.2f}s] {message}", flush=True)


def run_demo(out: Path, *, seed: int = 0, quiet: bool = False) -> int:
    """Run the demo, writing its artefacts to ``out``; return the exit code (0)."""
    out.mkdir(parents=True, exist_ok=True)
    progress = _Progress(quiet)
    summary: dict[str, Any] = {"prodml_version": __version__, "seed": seed}

    progress.step("generating training data (20,000 rows) and serving traffic")
    train = make_churn_data(20_000, seed=seed)
    serving = make_churn_data(2_000, seed=seed + 1, shift=1.0)

    progress.step("inferring the input schema and writing schema.json")
    features = train.drop(columns=["churned"])
    schema = Schema.infer(features, nullable="observed")
    schema = Schema(
        [
            c if c.name != "plan" else c.model_copy(update={"allowed": tuple(PLANS)})
            for c in schema.columns
        ]
    )
    (out / "schema.json").write_text(json.dumps(schema.to_dict(), indent=2))
    summary["schema"] = {c.name: c.dtype.value for c in schema.columns}

    progress.step("fingerprinting the training data (whole and in chunks)")
    whole = fingerprint_table(train)
    chunked = fingerprint_table(train.iloc[i : i + 3_000] for i in range(0, len(train), 3_000))
    summary["data_fingerprint"] = whole
    summary["fingerprint_chunking_invariant"] = whole == chunked

    progress.step("validating serving requests against the schema")
    requests = serving.drop(columns=["churned"]).head(200).to_dict("records")
    requests[17]["monthly_spend"] = "12.5"  # a client sends a number as text
    requests[42]["plan"] = "platinum"  # an unknown plan
    rejected: list[tuple[int, list[str]]] = []
    for i, rec in enumerate(requests):
        clean = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        try:
            schema.validate(clean)
        except SchemaError as err:
            rejected.append((i, [str(p) for p in err.problems]))
    summary["requests_checked"] = len(requests)
    summary["requests_rejected"] = [{"request": i, "problems": p} for i, p in rejected]
    for i, problems in rejected:
        progress.step(f"  rejected request {i}: {'; '.join(problems)}")

    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    progress.step(f"done: wrote {out / 'summary.json'}")
    print(
        f"prodml demo: {len(requests)} requests checked, {len(rejected)} rejected; "
        f"data fingerprint {whole[:12]}; artefacts in {out}"
    )
    return 0
