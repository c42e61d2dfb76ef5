"""The vectorised ``update_many`` of HDDM_W and DDM against the ``update`` loop, bit for bit.

Both detectors scan arrays in blocks (HDDM_W after feeding a few values by a loop), so
the block sizes are shrunk here to put block edges, restarts and loop/numpy hand-overs
inside short streams. States are compared as JSON text, which tells -0.0 from 0.0 and
shows every bit of a float.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import lfilter

from prodml.drift.streaming import DDM, HDDM_W, StreamingDetector
from prodml.drift.streaming import ddm as ddm_module
from prodml.drift.streaming import hddm_w as hddm_module

# (probe, first block, largest block) of HDDM_W, then DDM's largest block; the last
# entry is the shipped sizes.
SIZES = [(0, 1, 1), (1, 2, 4), (3, 4, 16), (2, 8, 8), (40, 64, 256), None]


@contextlib.contextmanager
def block_sizes(sizes: tuple[int, int, int] | None) -> Iterator[None]:
    """Shrink the scan's block sizes for the duration (None keeps the shipped ones)."""
    saved = (hddm_module._PROBE, hddm_module._FIRST, hddm_module._BLOCK, ddm_module._BLOCK)
    if sizes is not None:
        probe, first, block = sizes
        hddm_module._PROBE, hddm_module._FIRST, hddm_module._BLOCK = probe, first, block
        ddm_module._BLOCK = block
    try:
        yield
    finally:
        hddm_module._PROBE, hddm_module._FIRST, hddm_module._BLOCK = saved[:3]
        ddm_module._BLOCK = saved[3]


def loop(det: StreamingDetector, values: list[float]) -> list[int]:
    return [i for i, x in enumerate(values) if det.update(x)]


def batches(det: StreamingDetector, values: list[float], splits: list[int]) -> list[int]:
    """``update_many`` over the pieces between ``splits``; alarms as whole-stream positions."""
    alarms: list[int] = []
    bounds = [0, *sorted(splits), len(values)]
    for lo, hi in itertools.pairwise(bounds):
        alarms.extend(lo + int(i) for i in det.update_many(np.array(values[lo:hi])))
    return alarms


def assert_same(det: StreamingDetector, ref: StreamingDetector) -> None:
    assert json.dumps(det.to_dict()) == json.dumps(ref.to_dict())
    assert det.drift_detected == ref.drift_detected
    assert det.warning_detected == ref.warning_detected  # type: ignore[attr-defined]


# -- streams -------------------------------------------------------------------------------

fraction = st.one_of(
    st.sampled_from([0.0, 1.0, 0.5, 0.25, 1e-300, 5e-324, 0.1, 0.9]),
    st.floats(0.0, 1.0, allow_subnormal=True),
)


@st.composite
def unit_streams(draw: st.DrawFn, binary: bool = False) -> list[float]:
    """Streams whose level jumps, so that cut points move and alarms restart."""
    values: list[float] = []
    for _ in range(draw(st.integers(1, 6))):
        size = draw(st.integers(1, 120))
        if binary or draw(st.booleans()):
            rate = draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 0.8, 1.0]))
            seed = draw(st.integers(0, 2**16))
            values.extend((np.random.default_rng(seed).random(size) < rate).astype(float))
        else:
            values.extend(draw(st.lists(fraction, min_size=size, max_size=size)))
    return [float(x) for x in values]


splits_of = st.lists(st.integers(0, 800), max_size=3)

hddm_params = st.fixed_dictionaries(
    {
        "drift_confidence": st.sampled_from([1e-7, 1e-3, 0.05, 0.3]),
        "slack": st.sampled_from([1.0, 5.0, 3.0]),
        "lambda_val": st.sampled_from([0.05, 0.3, 0.01, 1.0, 0.5, 1e-9, 1e-200]),
        "two_sided_test": st.booleans(),
    }
)


def make_hddm(params: dict[str, float]) -> HDDM_W:
    p = dict(params)
    slack = p.pop("slack")
    return HDDM_W(warning_confidence=min(0.9, p["drift_confidence"] * slack), **p)  # type: ignore[arg-type]


# -- HDDM_W --------------------------------------------------------------------------------


@given(
    values=st.one_of(unit_streams(), unit_streams(binary=True)),  # scores, or 0/1 errors
    params=hddm_params,
    splits=splits_of,
    sizes=st.sampled_from(SIZES),
)
def test_hddm_w_update_many_is_the_loop_bit_for_bit(values, params, splits, sizes):
    ref = make_hddm(params)
    expected = loop(ref, values)
    det = make_hddm(params)
    with block_sizes(sizes):
        got = batches(det, values, splits)
    assert got == expected
    assert_same(det, ref)


def flags_by_loop(det: StreamingDetector, values: list[float]) -> list[tuple[bool, bool]]:
    """(drift, warning) after each value, by the ``update`` loop."""
    out = []
    for x in values:
        det.update(x)
        out.append((det.drift_detected, det.warning_detected))  # type: ignore[attr-defined]
    return out


def flags_by_pieces(
    det: StreamingDetector, values: list[float], pieces: list[int]
) -> tuple[list[int], list[tuple[bool, bool]]]:
    """``update_many`` over consecutive pieces; the end of each piece and its flags."""
    ends, flags, pos = [], [], 0
    for size in itertools.cycle(pieces):
        if pos >= len(values):
            return ends, flags
        det.update_many(np.array(values[pos : pos + size]))
        pos = min(len(values), pos + size)
        ends.append(pos - 1)
        flags.append((det.drift_detected, det.warning_detected))  # type: ignore[attr-defined]
    raise AssertionError("unreachable")


@given(
    values=unit_streams(),
    params=hddm_params,
    pieces=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    sizes=st.sampled_from(SIZES),
)
def test_hddm_w_warning_and_drift_flags_after_each_piece(values, params, pieces, sizes):
    params = {**params, "slack": 1e6}  # warnings on most values, so the flag is tested
    expected = flags_by_loop(make_hddm(params), values)
    with block_sizes(sizes):
        ends, got = flags_by_pieces(make_hddm(params), values, pieces)
    assert got == [expected[i] for i in ends]


@given(
    values=unit_streams(),
    params=hddm_params,
    cut=st.integers(0, 800),
    sizes=st.sampled_from(SIZES),
)
def test_hddm_w_resumes_from_a_saved_state(values, params, cut, sizes):
    ref = make_hddm(params)
    expected = loop(ref, values)
    cut = min(cut, len(values))
    first = make_hddm(params)
    head = loop(first, values[:cut])
    det = HDDM_W.from_dict(json.loads(json.dumps(first.to_dict())))
    with block_sizes(sizes):
        tail = [cut + int(i) for i in det.update_many(np.array(values[cut:]))]
    assert head + tail == expected
    assert_same(det, ref)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("two_sided", [False, True])
def test_hddm_w_touchy_settings_restart_many_times(sizes, two_sided):
    rng = np.random.default_rng(5)
    rates = np.repeat(rng.uniform(0.0, 0.9, 40), 100)
    values = np.where(rng.random(4000) < 0.5, rng.random(4000) < rates, rng.random(4000))
    ref = HDDM_W(0.05, 0.2, lambda_val=0.1, two_sided_test=two_sided)
    expected = loop(ref, values.tolist())
    assert len(expected) >= 10  # restarts are exercised
    det = HDDM_W(0.05, 0.2, lambda_val=0.1, two_sided_test=two_sided)
    with block_sizes(sizes):
        assert det.update_many(values).tolist() == expected
    assert_same(det, ref)


def test_hddm_w_long_stream_takes_the_numpy_scan(monkeypatch):
    # Guards the tests above against testing the loop against itself.
    calls: list[int] = []
    scan = HDDM_W._scan_block

    def spy(self: HDDM_W, v: np.ndarray) -> int:
        calls.append(len(v))
        return scan(self, v)

    monkeypatch.setattr(HDDM_W, "_scan_block", spy)
    rng = np.random.default_rng(0)
    values = (rng.random(200_000) < np.repeat([0.2, 0.3], 100_000)).astype(float)
    ref = HDDM_W(two_sided_test=True)
    expected = loop(ref, values.tolist())
    det = HDDM_W(two_sided_test=True)
    assert det.update_many(values).tolist() == expected
    assert_same(det, ref)
    assert sum(calls) >= 190_000


@given(values=unit_streams(), params=hddm_params, sizes=st.sampled_from(SIZES))
def test_hddm_w_negative_zero_keeps_its_sign(values, params, sizes):
    # -0.0 is in [0, 1]; the loop keeps its sign in places, so update_many must too.
    values = [-0.0, *values, -0.0, -0.0][: max(3, len(values))]
    ref = make_hddm(params)
    expected = loop(ref, values)
    det = make_hddm(params)
    with block_sizes(sizes):
        assert det.update_many(np.array(values)).tolist() == expected
    assert_same(det, ref)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("values", [[-0.0], [-0.0, -0.0], [-0.0] * 5])
def test_hddm_w_negative_zero_state_is_exact(values, sizes):
    ref = HDDM_W(two_sided_test=True)
    loop(ref, values)
    assert math.copysign(1.0, ref.to_dict()["state"]["samples"][0][0]) == -1.0
    det = HDDM_W(two_sided_test=True)
    with block_sizes(sizes):
        det.update_many(np.array(values))
    assert_same(det, ref)


@pytest.mark.parametrize(
    "edit",
    [
        {"cut_lo": 0.5},  # a cut record without its sample
        {"cut_hi": 0.5},
        {"samples": [[0.3, 0.02], [0.2, 0.02], [0.0, 0.0], [0.4, 0.0], [0.0, 0.0]]},
        {"samples": [[0.9, 0.5], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]},
    ],
)
@pytest.mark.parametrize("sizes", [(0, 1, 1), None])
def test_hddm_w_hand_made_states_behave_as_the_loop(edit, sizes):
    data = HDDM_W(0.05, 0.2, two_sided_test=True).to_dict()
    data["state"].update(edit)
    values = np.random.default_rng(1).random(3000)
    ref = HDDM_W.from_dict(data)
    expected = loop(ref, values.tolist())
    det = HDDM_W.from_dict(data)
    with block_sizes(sizes):
        assert det.update_many(values).tolist() == expected
    assert_same(det, ref)


def test_hddm_w_lambda_changed_mid_stream_is_used_as_the_loop_uses_it():
    values = np.random.default_rng(2).random(5000)
    ref, det = HDDM_W(0.05, 0.2), HDDM_W(0.05, 0.2)
    loop(ref, values[:100].tolist())
    det.update_many(values[:100])
    ref.lambda_val = det.lambda_val = 0.2  # read at each value, checked at reset
    expected = loop(ref, values[100:].tolist())
    assert det.update_many(values[100:]).tolist() == expected
    assert_same(det, ref)


@pytest.mark.parametrize("lam", [np.float32(0.05), Fraction(1, 20), np.float64(0.05), 1])
def test_hddm_w_lambda_of_other_number_types_is_used_as_the_loop_uses_it(lam):
    rng = np.random.default_rng(6)
    values = np.where(rng.random(5000) < 0.5, rng.random(5000) < 0.3, rng.random(5000))
    ref, det = HDDM_W(0.05, 0.2, lambda_val=lam), HDDM_W(0.05, 0.2, lambda_val=lam)
    expected = loop(ref, values.tolist())
    with block_sizes((0, 1, 64)):
        assert det.update_many(values).tolist() == expected
    assert det.to_dict()["state"] == ref.to_dict()["state"]
    assert det.warning_detected == ref.warning_detected


@given(
    u=st.lists(fraction, min_size=1, max_size=300),
    keep=st.one_of(st.floats(0.0, 1.0, exclude_max=True), st.sampled_from([0.0, 0.95])),
    z0=st.one_of(st.none(), fraction),
)
def test_lfilter_recursion_rounds_as_python(u, keep, z0):
    # The premise of HDDM_W's scan: lfilter([1, 0], [1, -keep]) is the Python recursion.
    arr = np.array(u)
    y = hddm_module._ewm(arr, keep, None if z0 is None else keep * z0)
    prev = z0
    expected = []
    for x in u:
        prev = x if prev is None else x + keep * prev
        expected.append(prev)
    assert [float(v).hex() for v in y] == [v.hex() for v in expected]
    # and lfilter itself, the public call HDDM_W makes
    assert np.array_equal(lfilter([1.0, 0.0], [1.0, -keep], arr), _rest(u, keep))


def _rest(u: list[float], keep: float) -> np.ndarray:
    out, prev = [], 0.0
    for x in u:
        prev = x + keep * prev
        out.append(prev)
    return np.array(out)


# -- DDM -----------------------------------------------------------------------------------

ddm_params = st.fixed_dictionaries(
    {
        "warm_start": st.sampled_from([1, 2, 5, 30, 300]),
        "warning_threshold": st.sampled_from([0.5, 1.0, 2.0]),
        "drift_threshold": st.sampled_from([2.0, 3.0, 4.0]),
    }
)


@given(
    values=unit_streams(binary=True),
    params=ddm_params,
    splits=splits_of,
    sizes=st.sampled_from(SIZES),
)
def test_ddm_update_many_is_the_loop_bit_for_bit(values, params, splits, sizes):
    ref = DDM(**params)
    expected = loop(ref, values)
    det = DDM(**params)
    with block_sizes(sizes):
        got = batches(det, values, splits)
    assert got == expected
    assert_same(det, ref)


@given(
    values=unit_streams(binary=True),
    params=ddm_params,
    cut=st.integers(0, 800),
    sizes=st.sampled_from(SIZES),
)
def test_ddm_resumes_from_a_saved_state(values, params, cut, sizes):
    ref = DDM(**params)
    expected = loop(ref, values)
    cut = min(cut, len(values))
    first = DDM(**params)
    head = loop(first, values[:cut])
    det = DDM.from_dict(json.loads(json.dumps(first.to_dict())))
    with block_sizes(sizes):
        tail = [cut + int(i) for i in det.update_many(np.array(values[cut:]))]
    assert head + tail == expected
    assert_same(det, ref)


@given(
    values=unit_streams(binary=True),
    params=ddm_params,
    pieces=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    sizes=st.sampled_from(SIZES),
)
def test_ddm_warning_and_drift_flags_after_each_piece(values, params, pieces, sizes):
    expected = flags_by_loop(DDM(**params), values)
    with block_sizes(sizes):
        ends, got = flags_by_pieces(DDM(**params), values, pieces)
    assert got == [expected[i] for i in ends]


@pytest.mark.parametrize(
    ("drift", "warning"),
    [(np.float32(2.5), 1.5), (3, Fraction(3, 2)), (np.float64(2.5), 1), (np.int64(3), 2.0)],
)
def test_ddm_thresholds_of_other_number_types_are_used_as_the_loop_uses_them(drift, warning):
    rng = np.random.default_rng(8)
    values = (rng.random(20_000) < np.repeat(rng.uniform(0, 0.6, 100), 200)).astype(float)
    ref = DDM(warm_start=30, warning_threshold=warning, drift_threshold=drift)
    det = DDM(warm_start=30, warning_threshold=warning, drift_threshold=drift)
    expected = loop(ref, values.tolist())
    assert len(expected) >= 3
    with block_sizes((0, 1, 64)):
        assert det.update_many(values).tolist() == expected
    assert det.to_dict()["state"] == ref.to_dict()["state"]
    assert det.warning_detected == ref.warning_detected


def test_ddm_numpy_int_warm_start_keeps_the_state_json_safe():
    values = (np.random.default_rng(9).random(3000) < 0.3).astype(float)
    ref, det = DDM(warm_start=np.int64(30)), DDM(warm_start=np.int64(30))
    loop(ref, values.tolist())
    with block_sizes((0, 1, 64)):
        det.update_many(values)
    # (the params hold the numpy int as given; the state is the loop's, JSON-safe)
    assert json.dumps(det.to_dict()["state"]) == json.dumps(ref.to_dict()["state"])
    assert type(det.to_dict()["state"]["n"]) is int


@pytest.mark.parametrize("sizes", SIZES)
def test_ddm_touchy_settings_restart_many_times(sizes):
    rng = np.random.default_rng(3)
    rates = np.repeat(rng.uniform(0.0, 0.7, 50), 120)
    values = (rng.random(6000) < rates).astype(float)
    ref = DDM(warm_start=5, warning_threshold=1.0, drift_threshold=2.0)
    expected = loop(ref, values.tolist())
    assert len(expected) >= 20
    det = DDM(warm_start=5, warning_threshold=1.0, drift_threshold=2.0)
    with block_sizes(sizes):
        assert det.update_many(values).tolist() == expected
    assert_same(det, ref)


def test_ddm_warning_after_update_many_is_the_loop_s():
    # Find a stream prefix that ends on a warning, so that the flag is really compared.
    rng = np.random.default_rng(4)
    values = (rng.random(20_000) < np.repeat([0.1, 0.2, 0.12, 0.3], 5000)).astype(float)
    ref = DDM()
    flags = []
    for x in values.tolist():
        ref.update(x)
        flags.append(ref.warning_detected)
    ends = [*[i + 1 for i, f in enumerate(flags) if f][:3], len(values)]
    assert len(ends) == 4
    for end in ends:
        ref = DDM()
        loop(ref, values[:end].tolist())
        det = DDM()
        det.update_many(values[:end])
        assert_same(det, ref)
    assert ref.warning_detected is flags[-1]
