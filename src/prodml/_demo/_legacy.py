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

from prodml import __version__
from prodml._demo.data import PLANS, make_churn_data
from prodml.errors import SchemaError
from prodml.fingerprint import fingerprint_table
from prodml.schema import Schema

__all__ = ["run_demo"]


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
