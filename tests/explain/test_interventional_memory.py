"""Interventional TreeSHAP fits in bounded memory, with the bits of one unchunked pass.

The fit used to hold ``(background rows, leaves, depth)`` tables (bools, then int64
copies of them): gigabytes near the 10,000-row background cap on a large forest. It now
works a block of rows (the base value) or of leaves (the patterns) at a time, at most
``FIT_CELLS`` cells each; these tests pin the result to the unchunked arithmetic and
the peak to the block size.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from prodml.explain import _interventional
from prodml.explain._interventional import InterventionalTreeKernel
from prodml.explain._trees import trees_from_model


def _forest(n_trees: int, depth: int, seed: int = 0) -> tuple[object, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(600, 5)), 1)  # ties: shared patterns, rows on thresholds
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) * np.nan_to_num(X[:, 1]) + np.nan_to_num(X[:, 2])
    model = RandomForestRegressor(n_estimators=n_trees, max_depth=depth, random_state=seed)
    return model.fit(X, y), X


def _kernel(model: object, bg: np.ndarray) -> InterventionalTreeKernel:
    tree = trees_from_model(model, None)
    assert tree is not None
    kernel = InterventionalTreeKernel(tree, bg)
    kernel.bind(np.array([0, 0, 1, 2, 3]), 4)
    return kernel


def _unchunked_state(kernel: InterventionalTreeKernel) -> dict[str, object]:
    """The fit as one pass over every (row, leaf, slot): the arithmetic before chunking."""
    hit = kernel._hits(kernel._check(kernel.background))
    m = hit.shape[0]
    reached = hit.all(axis=-1)
    base = float(np.mean(kernel.init + np.where(reached, kernel.leaf_value, 0.0).sum(axis=1)))
    pow2 = (1 << np.arange(kernel.depth, dtype=np.int64)).astype(np.int64)
    code = np.sort((hit.astype(np.int64) @ pow2).T, axis=1)
    new = np.ones(code.shape, dtype=bool)
    new[:, 1:] = code[:, 1:] != code[:, :-1]
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, code.size)).astype(np.float64)
    leaf = starts // m
    return {
        "base": base,
        "leaf": leaf,
        "code": code.reshape(-1)[starts],
        "weight": counts * kernel.leaf_value[leaf],
    }


@pytest.mark.parametrize("cells", [1, 7, 1_000, 1 << 40])
def test_chunked_fit_has_the_bits_of_one_unchunked_pass(
    cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, X = _forest(6, 5)
    bg, test = X[:150], X[400:420]
    monkeypatch.setattr(_interventional, "FIT_CELLS", 1 << 40)
    whole = _kernel(model, bg)
    monkeypatch.setattr(_interventional, "FIT_CELLS", cells)
    kernel = _kernel(model, bg)
    ref = _unchunked_state(kernel)
    assert kernel.base == ref["base"] == whole.base
    assert np.array_equal(kernel._pair_leaf, ref["leaf"])
    assert np.array_equal(kernel._pair_code, ref["code"])
    assert np.array_equal(kernel._pair_weight, ref["weight"])
    for jit in (False, True):
        kernel.jit = whole.jit = jit
        phi, pred = kernel.attribute(test)
        phi_whole, pred_whole = whole.attribute(test)
        assert np.array_equal(phi, phi_whole)
        assert np.array_equal(pred, pred_whole)
    np.testing.assert_allclose(pred, model.predict(test), rtol=0, atol=1e-12)


def test_fit_memory_is_bounded_by_the_block_not_rows_x_leaves_x_depth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, X = _forest(40, 7)
    rng = np.random.default_rng(1)
    bg = X[rng.integers(0, len(X), 4_000)]
    kernel = _kernel(model, bg)  # warm: the pairs' own size, whatever the block
    state = sum(a.nbytes for a in (kernel._pair_leaf, kernel._pair_code, kernel._pair_weight))
    unchunked = len(bg) * kernel.n_leaves * kernel.depth * 9  # bools, then int64 copies
    monkeypatch.setattr(_interventional, "FIT_CELLS", 1 << 16)
    tracemalloc.start()
    try:
        _kernel(model, bg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the pairs (and their pieces while concatenated), the leaf paths, a few blocks of
    # 1 << 16 cells of at most 8 bytes; the unchunked fit held rows x leaves x depth x 9.
    assert peak < 3 * state + 40 * (1 << 16) * 8 + 8 * kernel.n_leaves * kernel.depth * 8
    assert peak < unchunked / 4
