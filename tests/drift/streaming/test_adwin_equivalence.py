"""ADWIN's fast paths against a plain reference: identical alarms and identical state.

``update`` buffers the open block and screens the cut test (a squared comparison per
boundary and a carried bound over the old buckets); ``update_many`` builds every test
point's histogram with numpy. None of this may change a decision or a bit of state, so
everything here is compared for exact equality with :class:`PlainADWIN`, a direct
transcription of the algorithm (one value at a time, every boundary tested in full).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.drift.streaming import ADWIN, _adwin_jit

_NUMBA = _adwin_jit.compiled()


@pytest.fixture(scope="module", autouse=True, params=["python", "numba"])
def engine(request):
    """Every test runs on the pure-Python paths and on the compiled kernel."""
    if request.param == "numba" and _NUMBA is None:
        pytest.skip("needs numba (the 'fast' extra), or PRODML_NO_JIT is set")
    saved = list(_adwin_jit._COMPILED)
    _adwin_jit._COMPILED[:] = [None if request.param == "python" else _NUMBA]
    yield request.param
    _adwin_jit._COMPILED[:] = saved


class PlainADWIN:
    """The ADWIN of :mod:`prodml.drift.streaming.adwin`, without any shortcut."""

    def __init__(self, delta=0.002, clock=32, max_buckets=5, min_window_length=5, grace_period=10):
        self.p = (delta, clock, max_buckets, min_window_length, grace_period)
        self.drift = False
        self.clear()

    def clear(self):
        self.n, self.x0, self.s, self.q = 0, 0.0, 0.0, 0.0
        self.k, self.u, self.m2 = 0, 0.0, 0.0
        self.tot: list[list[float]] = []

    def state(self):
        return {
            "drift": self.drift,
            "n": self.n,
            "x0": self.x0,
            "s": self.s,
            "q": self.q,
            "k": self.k,
            "u": self.u,
            "m2": self.m2,
            "buckets": [list(r) for r in self.tot],
        }

    def update(self, x: float) -> bool:
        if self.drift:
            self.drift = False
            self.clear()
        clock = self.p[1]
        if self.n == 0:
            self.x0, self.s, self.q = x, 0.0, 0.0
        else:
            d = x - self.x0
            self.s += d
            self.q += d * d
        self.n += 1
        if self.n < clock:
            return False
        self.n = 0
        self.drift = self.close()
        return self.drift

    def close(self) -> bool:
        delta, clock, max_buckets, low, grace = self.p
        c = float(clock)
        s = self.s
        total = c * self.x0 + s
        m2b = max(self.q - s * s / c, 0.0)
        self.x0 = self.s = self.q = 0.0
        if self.k == 0:
            inc = m2b
        else:
            w = self.k * c
            dm = self.u / w - total / c
            inc = m2b + (w * c / (w + c)) * dm * dm
        self.m2 += inc
        self.u += total
        self.k += 1
        level = 0
        while True:
            if level == len(self.tot):
                self.tot.append([])
            row = self.tot[level]
            row.append(total)
            if len(row) <= max_buckets:
                break
            total = row[0] + row[1]
            del row[:2]
            level += 1
        width = self.k * c
        if width <= grace or width < 2.0:
            return False
        dp = math.log(2.0 * math.log(width) / delta)
        c0 = low - 1.0
        a = 2.0 * (self.m2 / width) * dp
        b = (2.0 / 3.0) * dp
        u0 = n0 = 0.0
        for r in range(len(self.tot) - 1, -1, -1):
            for t in self.tot[r]:
                u0 += t
                n0 += float(1 << r) * c
                n1 = width - n0
                if n1 >= low and n0 >= low:
                    m = (width - 2.0 * c0) / ((n0 - c0) * ((width - c0) - n0))
                    if abs(u0 / n0 - (self.u - u0) / n1) > math.sqrt(m * a) + b * m:
                        return True
        return False


def same(a: dict, b: dict) -> bool:
    """Exact equality, NaN included (a huge spike can leave NaN sums behind)."""
    return json.dumps(a) == json.dumps(b)


def plain_run(values: np.ndarray, **params) -> tuple[list[int], dict]:
    ref = PlainADWIN(**params)
    alarms = [i for i, x in enumerate(values.tolist()) if ref.update(x)]
    return alarms, ref.state()


def stream(seed: int, n: int, changes: int, scale: float, offset: float) -> np.ndarray:
    """Gaussian noise with ``changes`` random mean shifts (and some variance shifts)."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, n, changes))
    seg = np.searchsorted(cuts, np.arange(n), side="right")
    means = rng.normal(0.0, 1.5, changes + 1)
    sds = rng.choice([0.5, 1.0, 2.0], changes + 1)
    return offset + scale * (means[seg] + sds[seg] * rng.standard_normal(n))


SETTINGS = st.fixed_dictionaries(
    {
        "delta": st.sampled_from([0.002, 0.02, 0.2, 0.6]),
        "clock": st.integers(1, 40),
        "max_buckets": st.integers(2, 7),
        "min_window_length": st.integers(1, 70),
        "grace_period": st.integers(0, 120),
    }
)


@settings(max_examples=60)
@given(
    params=SETTINGS,
    seed=st.integers(0, 2**16),
    n=st.integers(1, 4000),
    changes=st.integers(0, 6),
    scale=st.sampled_from([1e-6, 1.0, 1e3]),
    offset=st.sampled_from([0.0, 5.0, -1e4]),
    cut=st.floats(0.0, 1.0),
)
def test_update_update_many_and_restore_equal_the_plain_algorithm(  # noqa: PLR0917
    params, seed, n, changes, scale, offset, cut
):
    values = stream(seed, n, changes, scale, offset)
    expected, state = plain_run(values, **params)

    det = ADWIN(**params)
    got = [i for i, x in enumerate(values.tolist()) if det.update(x)]
    assert got == expected
    assert same(det.to_dict()["state"], state)

    det = ADWIN(**params)
    assert det.update_many(values).tolist() == expected
    assert same(det.to_dict()["state"], state)

    # Split at a random point, save to JSON, restore, go on with the other path.
    split = int(cut * n)
    det = ADWIN(**params)
    first = [i for i, x in enumerate(values[:split].tolist()) if det.update(x)]
    det = ADWIN.from_dict(json.loads(json.dumps(det.to_dict())))
    rest = (det.update_many(values[split:]) + split).tolist()
    assert first + rest == expected
    assert same(det.to_dict()["state"], state)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**16),
    clock=st.integers(1, 8),
    pieces=st.lists(st.integers(1, 700), min_size=1, max_size=8),
)
def test_mixing_paths_piece_by_piece_equals_the_plain_algorithm(seed, clock, pieces):
    values = stream(seed, sum(pieces), 3, 1.0, 0.0)
    expected, state = plain_run(values, delta=0.05, clock=clock)
    det = ADWIN(delta=0.05, clock=clock)
    got: list[int] = []
    pos = 0
    for j, size in enumerate(pieces):
        part = values[pos : pos + size]
        if j % 2:
            got += [pos + i for i, x in enumerate(part.tolist()) if det.update(x)]
        else:
            got += (det.update_many(part) + pos).tolist()
        pos += size
    assert got == expected
    assert same(det.to_dict()["state"], state)


@pytest.mark.parametrize(
    "values",
    [
        np.full(5000, 7.0),  # zero variance: the screens must stand aside
        np.r_[np.full(3000, 1e12), np.full(3000, 1e12 + 1.0)],  # huge offset, tiny step
        np.r_[np.zeros(3000), [1e100], np.zeros(3000)],  # one spike as large as allowed
        np.r_[np.full(2000, 1e-300), np.full(2000, 3e-300)],  # subnormal-scale values
        np.tile([1.0, -1.0], 4000),
        np.r_[np.random.default_rng(1).normal(1e6, 1.0, 6000), np.full(10, 1e6 + 50.0)],
    ],
    ids=["constant", "offset-1e12", "spike", "tiny", "alternating", "offset-1e6"],
)
@pytest.mark.parametrize("clock", [1, 32])
def test_awkward_streams_equal_the_plain_algorithm(values, clock):
    expected, state = plain_run(values, clock=clock)
    det = ADWIN(clock=clock)
    assert [i for i, x in enumerate(values.tolist()) if det.update(x)] == expected
    assert same(det.to_dict()["state"], state)
    det = ADWIN(clock=clock)
    assert det.update_many(values).tolist() == expected
    assert same(det.to_dict()["state"], state)


def test_long_stream_with_drifts_equals_the_plain_algorithm():
    # Long enough for many histogram levels, i.e. for the carried group bound to work.
    values = stream(7, 150_000, 4, 1.0, 0.0)
    expected, state = plain_run(values)
    det = ADWIN()
    assert [i for i, x in enumerate(values.tolist()) if det.update(x)] == expected
    assert len(expected) >= 3
    assert same(det.to_dict()["state"], state)
    assert ADWIN().update_many(values).tolist() == expected


def test_the_group_screen_engages_and_is_dropped_on_restore(monkeypatch):
    monkeypatch.setattr(_adwin_jit, "_COMPILED", [None])  # the screens are Python's
    values = np.random.default_rng(3).standard_normal(20_000)
    det = ADWIN()
    det.update_many(values[:64])
    for x in values[64:].tolist():
        det.update(x)
    screen = det._screen
    assert screen.ok  # an in-control stream keeps the carried bound
    assert screen.n_hi < det.width
    assert np.isfinite(screen.abs_sum)
    back = ADWIN.from_dict(det.to_dict())
    assert back._screen.abs_sum == math.inf  # the bound needs history JSON does not hold
    assert not back._screen.ok


@pytest.mark.parametrize(
    ("shift", "clock", "seed"), [(0.06, 32, 0), (0.06, 8, 2), (0.08, 32, 2), (0.1, 8, 0)]
)
def test_small_late_found_shifts_equal_the_plain_algorithm(shift, clock, seed):
    # A small shift is found long after it happened, at a cut between old, large
    # buckets: the boundaries the carried group bound stands in for.
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(60_000)
    values[15_000:] += shift
    expected, state = plain_run(values, clock=clock)
    assert expected  # the shift is found ...
    assert expected[0] > 15_000 + 2_000  # ... late, with the new part in the group
    det = ADWIN(clock=clock)
    assert [i for i, x in enumerate(values.tolist()) if det.update(x)] == expected
    assert same(det.to_dict()["state"], state)
    assert ADWIN(clock=clock).update_many(values).tolist() == expected


@settings(max_examples=30)
@given(
    params=SETTINGS,
    seed=st.integers(0, 2**16),
    n=st.integers(1, 1500),
    changes=st.integers(0, 6),
    scale=st.sampled_from([1e-6, 1.0, 1e3]),
)
def test_the_kernel_run_as_python_equals_the_plain_algorithm(params, seed, n, changes, scale):
    # The numba kernel's source, interpreted: checks its logic where numba is missing.
    values = stream(seed, n, changes, scale, 0.0)
    expected, state = plain_run(values, **params)
    saved = list(_adwin_jit._COMPILED)
    _adwin_jit._COMPILED[:] = [_adwin_jit.run]
    try:
        det = ADWIN(**params)
        got = [i for i, x in enumerate(values[: n // 2].tolist()) if det.update(x)]
        got += (det.update_many(values[n // 2 :]) + n // 2).tolist()
        assert got == expected
        assert same(det.to_dict()["state"], state)
    finally:
        _adwin_jit._COMPILED[:] = saved


@pytest.mark.skipif(_NUMBA is None, reason="needs numba (the 'fast' extra)")
@pytest.mark.parametrize("first", ["python", "numba"])
def test_a_state_saved_by_one_engine_resumes_on_the_other(first):
    values = stream(11, 30_000, 3, 1.0, 0.0)
    expected, state = plain_run(values)
    engines = {"python": None, "numba": _NUMBA}
    second = "numba" if first == "python" else "python"
    saved = list(_adwin_jit._COMPILED)
    try:
        _adwin_jit._COMPILED[:] = [engines[first]]
        det = ADWIN()
        got = (det.update_many(values[:12_345])).tolist()
        text = json.dumps(det.to_dict())
        _adwin_jit._COMPILED[:] = [engines[second]]
        det = ADWIN.from_dict(json.loads(text))
        got += [12_345 + i for i, x in enumerate(values[12_345:].tolist()) if det.update(x)]
        final = det.to_dict()["state"]
    finally:
        _adwin_jit._COMPILED[:] = saved
    assert got == expected
    assert len(expected) >= 2
    assert same(final, state)


def test_a_float32_delta_computes_in_float64_on_both_engines():
    # numpy 2 would keep float / np.float32 in float32; both engines use float(delta).
    values = stream(5, 20_000, 4, 1.0, 0.0)
    delta = np.float32(0.01)
    expected, state = plain_run(values, delta=float(delta))
    det = ADWIN(delta=delta)
    assert [i for i, x in enumerate(values.tolist()) if det.update(x)] == expected
    assert same(det.to_dict()["state"], state)
    assert ADWIN(delta=delta).update_many(values).tolist() == expected
