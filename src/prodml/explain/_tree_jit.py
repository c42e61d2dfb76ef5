"""Compiled TreeSHAP kernels, used when numba is installed (the ``fast`` extra).

:func:`run_table` and :func:`run_poly` are plain Python over numpy arrays, compiled with
``numba.njit`` on first use. :func:`run_table` performs, row by row and leaf by leaf,
exactly the float operations of the numpy path in :mod:`prodml.explain._trees` in the
same order (the same pattern table, leaves in order, slots in order), so both give the
same bits (it reads flat, interleaved arrays: one record touches few cache lines);
:func:`run_poly` uses a cheaper form of the same closed form (equal to 1e-12).
Either way a record runs the very code of a batch row, so it gives the bits of that
row. Without numba they still run (slowly) as Python; the tests use that.
Set ``PRODML_NO_JIT=1`` to use the numpy path even where numba is installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["compiled", "run_interventional", "run_poly", "run_table"]


def run_table(  # noqa: PLR0917 - a compiled kernel takes flat arrays
    x: np.ndarray,
    round32: bool,
    slots: np.ndarray,
    bounds: np.ndarray,
    nan_ok: np.ndarray,
    allow_nan: bool,
    table: np.ndarray,
    leaf_value: np.ndarray,
    out: np.ndarray,
) -> int:
    """Add each row's group attributions and leaf outputs into ``out``, by table.

    Flat arrays, leaf-major: for slot ``s`` of leaf ``l`` (``k = l * depth + s``),
    ``slots[2k]`` is its feature and ``slots[2k + 1]`` its group (unsigned: no negative
    index to wrap around), ``bounds[2k]`` and
    ``bounds[2k + 1]`` its interval ``lo < x <= hi``, ``nan_ok[k]`` whether a NaN
    satisfies it (read only when ``allow_nan``); ``table[((l << depth) | code) *
    depth + s]`` its attribution under the satisfaction pattern ``code``. ``out`` is
    ``(rows, groups + 1)``: the group sums, then the model output (holding the initial
    value on entry). With ``round32`` each feature is first rounded to float32 (as
    scikit-learn's trees read it). Every float is added in leaf order, then slot order:
    the order of :meth:`~prodml.explain._trees.TreeKernel.attribute`'s numpy path.

    Returns the first row holding a NaN when ``allow_nan`` is false (that row and the
    ones after it left unexplained), or -1.
    """
    n_leaves = leaf_value.shape[0]
    d = slots.shape[0] // (2 * n_leaves) if n_leaves else 0
    full = (1 << d) - 1
    width = x.shape[1]
    last = out.shape[1] - 1
    row = np.empty(width)
    for r in range(x.shape[0]):
        for j in range(width):
            v = x[r, j]
            if round32:
                v = np.float64(np.float32(v))
            if np.isnan(v) and not allow_nan:
                return r
            row[j] = v
        phi = out[r]
        acc = phi[last]
        for leaf in range(n_leaves):
            b = 2 * leaf * d
            code = 0
            if d == 3:  # scikit-learn's GradientBoosting default depth, unrolled
                n = 3 * leaf
                v = row[slots[b]]
                if (v > bounds[b] and v <= bounds[b + 1]) or (np.isnan(v) and nan_ok[n]):
                    code = 1
                v = row[slots[b + 2]]
                if (v > bounds[b + 2] and v <= bounds[b + 3]) or (np.isnan(v) and nan_ok[n + 1]):
                    code |= 2
                v = row[slots[b + 4]]
                if (v > bounds[b + 4] and v <= bounds[b + 5]) or (np.isnan(v) and nan_ok[n + 2]):
                    code |= 4
                t = ((leaf << 3) | code) * 3
                phi[slots[b + 1]] += table[t]
                phi[slots[b + 3]] += table[t + 1]
                phi[slots[b + 5]] += table[t + 2]
            else:
                for s in range(d):
                    k = b + 2 * s
                    v = row[slots[k]]
                    if (v > bounds[k] and v <= bounds[k + 1]) or (np.isnan(v) and nan_ok[k >> 1]):
                        code |= 1 << s
                t = ((leaf << d) | code) * d
                for s in range(d):
                    phi[slots[b + 2 * s + 1]] += table[t + s]
            acc += leaf_value[leaf] if code == full else 0.0
        phi[last] = acc
    return -1


def run_poly(  # noqa: PLR0917 - a compiled kernel takes flat arrays
    x: np.ndarray,
    feat: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    nan_ok: np.ndarray,
    allow_nan: bool,
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
            if np.isnan(x[r, j]) and not allow_nan:
                return r
        for leaf in range(n_leaves):
            d = length[leaf]
            m = 0
            c0 = 1.0
            for s in range(d):
                v = x[r, feat[leaf, s]]
                if (v > lo[leaf, s] and v <= hi[leaf, s]) or (np.isnan(v) and nan_ok[leaf, s]):
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


def run_interventional(  # noqa: PLR0917 - a compiled kernel takes flat arrays
    xcode: np.ndarray,
    pair_leaf: np.ndarray,
    pair_code: np.ndarray,
    pair_weight: np.ndarray,
    group: np.ndarray,
    full: int,
    wa: np.ndarray,
    wb: np.ndarray,
    phi: np.ndarray,
) -> int:
    """Interventional TreeSHAP sums of every row, pair by pair (see ``_interventional``).

    ``xcode[r, l]``: the bit code of the slots of leaf ``l`` that row ``r`` satisfies;
    pair ``p`` is a background pattern ``pair_code[p]`` of leaf ``pair_leaf[p]``, with
    ``pair_weight[p]`` its background rows times the leaf value; ``group[l, s]`` is the
    group of slot ``s`` of leaf ``l`` (read through ``pair_leaf``: no per-pair copy).
    Adds into ``phi`` (rows, groups), pairs in order, slots in order: the same floats
    for a row alone or in a batch. Returns 0.
    """
    d = group.shape[1]
    for r in range(xcode.shape[0]):
        out = phi[r]
        for p in range(pair_leaf.shape[0]):
            leaf = pair_leaf[p]
            xc = xcode[r, leaf]
            u = pair_code[p]
            if (xc | u) != full:  # some slot satisfied by neither: no hybrid reaches it
                continue
            only_x = xc & ~u
            only_b = u & ~xc
            a = 0
            v = only_x
            while v:
                v &= v - 1
                a += 1
            b = 0
            v = only_b
            while v:
                v &= v - 1
                b += 1
            up = wa[a, b] * pair_weight[p]
            down = wb[a, b] * pair_weight[p]
            for s in range(d):
                if (only_x >> s) & 1:
                    out[group[leaf, s]] += up
                elif (only_b >> s) & 1:
                    out[group[leaf, s]] -= down
    return 0


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
                kernels = {
                    "table": jit(run_table),
                    "poly": jit(run_poly),
                    "interventional": jit(run_interventional),
                }
        _COMPILED.append(kernels)
    return _COMPILED[0]
