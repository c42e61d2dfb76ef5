"""Helpers for the monitoring tests: a settable clock and synthetic prediction streams."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def binary_stream(
    rng: np.random.Generator, n: int, accuracy: Callable[[int], float]
) -> list[tuple[float, int]]:
    """``n`` (score, label) pairs; pair ``i`` is classified right with ``accuracy(i)``."""
    y = rng.integers(0, 2, n)
    acc = np.array([accuracy(i) for i in range(n)])
    right = rng.random(n) < acc
    confident = rng.uniform(0.6, 0.99, n)
    score = np.where((y == 1) == right, confident, 1.0 - confident)
    return list(zip(score.tolist(), y.tolist(), strict=True))


def same_values(x: dict[str, float], y: dict[str, float]) -> bool:
    """Equal dicts of floats, ``nan`` equal to ``nan``."""
    return x.keys() == y.keys() and all(
        (np.isnan(x[k]) and np.isnan(y[k])) or x[k] == y[k] for k in x
    )
