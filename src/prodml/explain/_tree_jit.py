"""Compiled TreeSHAP kernels, used when numba is installed (the ``fast`` extra).

:func:`run_table` and :func:`run_poly` are plain Python over numpy arrays, compiled with
``numba.njit`` on first use. :func:`run_table` performs, row by row and leaf by leaf,
exactly the float operations of the numpy path in :mod:`prodml.explain._trees` in the
same order (the same pattern table, leaves in order, slots in order), so both give the
same bits; :func:`run_poly` uses a cheaper form of the same closed form (equal to 1e-12).
Either way a record runs the very code of a batch row, so it gives the bits of that
row. Without numba they still run (slowly) as Python; the tests use that.
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
    length: np.ndarray,
    weights: np.ndarray,
    group: np.ndarray,
    leaf_value: np.ndarray,
    phi: np.ndarray,
    pred: np.ndarray,
) -> int:
    """As :func:`run_table`, evaluating each leaf's product game on the fly.

    With ``o`` binary, ``P(t) = c0 * R(t)``: ``c0`` the product of ``z`` over the
    unsatisfied features, ``R`` the product of ``(z_j + t)`` over the ``m`` satisfied ones.
    Every unsatisfied feature then gets ``-c0 * sum_k w_k R[k]`` and a satisfied one
    ``(1 - z_i) * c0 * sum_k w_k (R / (z_i + t))[k]``: ``O(d + m**2)`` per leaf, padding
    (null players) skipped. The same answer as the numpy path up to rounding (1e-12).
    """
    n_leaves = feat.shape[0]
    d_max = feat.shape[1]
    poly = np.empty(d_max + 1)
    ones = np.empty(d_max, dtype=np.int64)
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            if np.isnan(x[r, j]):
                return r
        for leaf in range(n_leaves):
            d = length[leaf]
            m = 0
            c0 = 1.0
            for s in range(d):
                v = x[r, feat[leaf, s]]
                if v > lo[leaf, s] and v <= hi[leaf, s]:
                    ones[m] = s
                    m += 1
                else:
                    c0 *= z[leaf, s]
            poly[0] = 1.0
            for k in range(1, m + 1):
                poly[k] = 0.0
            for idx in range(m):
                zs = z[leaf, ones[idx]]
                for k in range(idx + 1, 0, -1):
                    poly[k] = poly[k] * zs + poly[k - 1]
                poly[0] = poly[0] * zs
            value = leaf_value[leaf]
            if m < d:
                total = 0.0
                for k in range(m + 1):
                    total += poly[k] * weights[d, k]
                contribution = -c0 * total * value
                nxt = 0
                for s in range(d):
                    if nxt < m and ones[nxt] == s:
                        nxt += 1
                    else:
                        phi[r, group[leaf, s]] += contribution
            for idx in range(m):
                zi = z[leaf, ones[idx]]
                q = poly[m]
                total = q * weights[d, m - 1]
                for k in range(m - 1, 0, -1):
                    q = poly[k] - zi * q
                    total += q * weights[d, k - 1]
                phi[r, group[leaf, ones[idx]]] += (1.0 - zi) * c0 * total * value
            pred[r] += value if m == d else 0.0
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
