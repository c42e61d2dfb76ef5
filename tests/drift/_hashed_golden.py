"""Seeded scenarios whose drift statistics on hashed columns are pinned by a golden file.

``python tests/drift/_hashed_golden.py`` rewrites ``golden/hashed_columns.json``; it was
first written by the string-token implementation (before hashed columns were kept as
64-bit integers), so the test in ``test_hashed_columns.py`` checks that the integer path
gives the same verdicts, statistics, plots and saved profiles, bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodml.drift import DriftDetector, Profile
from prodml.privacy import Privacy

GOLDEN = Path(__file__).parent / "golden" / "hashed_columns.json"


def _table(n: int, seed: int, shift: float, ids: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cats = np.array([f"cat{i:02d}" for i in range(30)])
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "plan": cats[np.minimum(rng.zipf(1.3 + shift, n) - 1, 29)],
            "email": [f"user{int(i)}@example.com" for i in rng.integers(0, ids, n)],
            "ssn": [
                f"{100 + int(i) % 800:03d}-12-{1000 + int(i):04d}" for i in rng.integers(0, 50, n)
            ],
            "code": pd.Series(rng.integers(0, 120, n)).astype("category"),
            "flag": rng.random(n) < 0.3 + shift,
            # Values that are tokens already (they map to themselves) among raw ones.
            "ref": [f"pm:{int(i):016x}" if i % 3 else f"r{int(i)}" for i in rng.integers(0, 90, n)],
        }
    )


def scenarios() -> dict[str, Any]:
    """Every scenario's report and profile state, as JSON-safe dicts."""
    policy = Privacy(salt="golden", max_categories=40, sensitive=["ssn", "flag"], k=3)
    ref, cur = _table(1200, 0, 0.0, 500), _table(1000, 1, 0.2, 400)
    out: dict[str, Any] = {}
    det = DriftDetector(privacy=policy).fit(ref)
    out["detect_table"] = det.detect(cur).to_dict()
    out["reference_profile"] = det.reference_.to_dict()
    chunks = [cur.iloc[:30], cur.iloc[30:600], cur.iloc[600:]]
    out["detect_chunks"] = det.detect(iter(chunks)).to_dict()
    # Merged profiles, each part below the limit for some columns and past it for others.
    parts = [Profile(privacy=policy).update(c) for c in chunks]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    out["merged_profile"] = merged.to_dict()
    out["detect_profile"] = det.detect(merged).to_dict()
    # One side hashed (past the limit), the other not: the raw side is hashed to compare.
    small = cur.iloc[:35]
    out["detect_small"] = det.detect(small).to_dict()
    det_small = DriftDetector(privacy=policy).fit(small)
    out["detect_small_reference"] = det_small.detect(cur).to_dict()
    # Privacy off: raw values, for the string path of the same code.
    off = Privacy(salt="golden", detect=False, max_categories=None, k=1)
    out["detect_off"] = DriftDetector(privacy=off).fit(ref).detect(cur).to_dict()
    return json.loads(json.dumps(out))


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(scenarios(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size:,} bytes)")
