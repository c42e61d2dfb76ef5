"""Canary personal data for the privacy tests: values that must never leak."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd


def luhn_complete(prefix: str) -> str:
    """``prefix`` plus the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(prefix + "0")):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return prefix + str((10 - total % 10) % 10)


def canaries(n: int, seed: int = 0) -> dict[str, list[str]]:
    """``n`` distinct SSNs, e-mail addresses and card numbers (Luhn-valid)."""
    rng = np.random.default_rng(seed)
    area = rng.choice(np.arange(1, 600), n, replace=False)
    ssn = [f"{a:03d}-{int(rng.integers(1, 99)):02d}-{int(rng.integers(1, 9999)):04d}" for a in area]
    email = [f"canary.person{i:04d}.{int(rng.integers(10**5))}@example.org" for i in range(n)]
    card = [luhn_complete("4" + "".join(map(str, rng.integers(0, 10, 14)))) for _ in range(n)]
    return {"ssn": ssn, "email": email, "card": card}


def planted_frame(n: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, list[str]]:
    """A table with canaries in an id column, their own columns and a free-text column."""
    rng = np.random.default_rng(seed)
    c = canaries(n, seed)
    ids = [c["ssn"][i] if i % 2 else c["email"][i] for i in range(n)]
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "ssn": c["ssn"],
            "email": c["email"],
            "card": c["card"],
            "note": [f"call back, card {c['card'][i]}" for i in range(n)],
            "plan": rng.choice(["free", "pro", "team"], n),
            "x": rng.normal(shift, 1.0, n),
        }
    )
    secrets = [*c["ssn"], *c["email"], *c["card"]]
    return frame, secrets


def leaked(text: str, secrets: list[str]) -> list[str]:
    """The canaries found in ``text``, also as bare digits (an SSN without its dashes)."""
    runs = set(re.findall(r"\d+", re.sub(r"(?<=\d)[ -](?=\d)", "", text)))
    found = [s for s in secrets if s in text]
    found += [s for s in secrets if "@" not in s and re.sub(r"\D", "", s) in runs]
    return sorted(set(found))
