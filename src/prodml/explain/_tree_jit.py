"""Compiled TreeSHAP kernels, used when numba is installed (the ``fast`` extra).

:func:`run_table` and :func:`run_poly` are plain Python over numpy arrays, compiled with
``numba.njit`` on first use. They perform, row by row and leaf by leaf, exactly the float
operations of the numpy path in :mod:`prodml.explain._trees` in the same order (the same
pattern table, the same polynomial recurrences, the same accumulation order: leaves in
order, slots in order), so both paths give the same bits, and a record gives the bits of
its batch row. Without numba they still run (slowly) as Python; the tests use that.
Set ``PRODML_NO_JIT=1`` to use the numpy path even where numba is installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["compiled", "run_poly", "run_table"]


def run_table(  # noqa: PLR0917 - a compiled kernel takes flat arrays
    x: np.ndarray,
    feat: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    table: np.ndarray,
    group: np.ndarray,
    leaf_value: np.ndarray,
    phi: np.ndarray,
    pred: np.ndarray,
) -> int:
    """Add each row's slot attributions (``phi``) and leaf outputs (``pred``), by table.

    Returns the first row holding a NaN (left unexplained), or -1.
    """
    n_leaves, d = feat.shape
    full = (1 << d) - 1
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            if np.isnan(x[r, j]):
                return r
        for leaf in range(n_leaves):
            code = 0
            for s in range(d):
                v = x[r, feat[leaf, s]]
                if v > lo[leaf, s] and v <= hi[leaf, s]:
                    code |= 1 << s
            for s in range(d):
                phi[r, group[leaf, s]] += table[leaf, code, s]
            pred[r] += leaf_value[leaf] if code == full else 0.0
    return -1


def run_poly(  # noqa: PLR0917 - a compiled kernel takes flat arrays
    x: np.ndarray,
    feat: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    z: np.ndarray,
    weights: np.ndarray,
    group: np.ndarray,
    leaf_value: np.ndarray,
    phi: np.ndarray,
    pred: np.ndarray,
) -> int:
    """As :func:`run_table`, evaluating each leaf's product game on the fly."""
    n_leaves, d = feat.shape
    poly = np.empty(d + 1)
    a = np.empty(d)
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            if np.isnan(x[r, j]):
                return r
        for leaf in range(n_leaves):
            reached = True
            for s in range(d):
                v = x[r, feat[leaf, s]]
                a[s] = 1.0 if (v > lo[leaf, s] and v <= hi[leaf, s]) else 0.0
                reached = reached and a[s] > 0.0
            poly[0] = 1.0
            for k in range(1, d + 1):
                poly[k] = 0.0
            for s in range(d):
                zs = z[leaf, s]
                for k in range(s + 1, 0, -1):
                    poly[k] = poly[k] * zs + poly[k - 1] * a[s]
                poly[0] = poly[0] * zs
            for i in range(d):
                zi = z[leaf, i]
                if a[i] > 0.0:
                    q = poly[d]
                    total = q * weights[d - 1]
                    for k in range(d - 1, 0, -1):
                        q = poly[k] - zi * q
                        total = total + q * weights[k - 1]
                else:
                    safe = zi if zi > 0.0 else 1.0
                    total = poly[0] / safe * weights[0]
                    for k in range(1, d):
                        total = total + poly[k] / safe * weights[k]
                phi[r, group[leaf, i]] += ((a[i] - zi) * total) * leaf_value[leaf]
            pred[r] += leaf_value[leaf] if reached else 0.0
    return -1


_COMPILED: list[dict[str, Callable[..., int]] | None] = []


def compiled() -> dict[str, Callable[..., int]] | None:
    """The numba-compiled kernels by name, or ``None`` without numba (or when disabled)."""
    if not _COMPILED:
        kernels: dict[str, Callable[..., int]] | None = None
        if os.environ.get("PRODML_NO_JIT", "") in {"", "0"}:
            try:
                import numba  # noqa: PLC0415 - optional, imported on first use
            except ImportError:
                pass
            else:
                jit: Any = numba.njit(cache=True, nogil=True)
                kernels = {"table": jit(run_table), "poly": jit(run_poly)}
        _COMPILED.append(kernels)
    return _COMPILED[0]
