"""Behaviour shared by every streaming detector: batch == loop, state round-trips, errors."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.drift.streaming import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    HDDM_W,
    KSWIN,
    PageHinkley,
    StreamingDetector,
)
from prodml.errors import ConfigError, DriftError, ProdMLError, StateError

Factory = Callable[[], StreamingDetector]


def real_stream(seed: int, n: int = 3000) -> np.ndarray:
    """Normal segments with random means and scales, rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    parts, left = [], n
    while left > 0:
        size = int(min(left, rng.integers(50, 800)))
        parts.append(rng.normal(rng.uniform(-2, 2), rng.uniform(0.2, 2), size))
        left -= size
    return np.round(np.concatenate(parts), 2)


def binary_stream(seed: int, n: int = 3000) -> np.ndarray:
    """0/1 errors whose rate jumps between segments."""
    rng = np.random.default_rng(seed)
    rates = np.repeat(rng.uniform(0.02, 0.6, n // 300 + 1), 300)[:n]
    return (rng.random(n) < rates).astype(np.float64)


def unit_stream(seed: int, n: int = 3000) -> np.ndarray:
    """Values in [0, 1]: a mix of 0/1 errors and uniform scores, including both ends."""
    rng = np.random.default_rng(seed)
    errors = binary_stream(seed, n)
    return np.where(rng.random(n) < 0.5, errors, rng.random(n) * rng.uniform(0.2, 1.0))


STREAMS = {"real": real_stream, "binary": binary_stream, "unit": unit_stream}

# Settings that raise many alarms on short streams, so that restarts are exercised.
TOUCHY: dict[str, Factory] = {
    "ADWIN": lambda: ADWIN(delta=0.05, clock=4, min_window_length=3),
    "ADWIN-1": lambda: ADWIN(delta=0.05, clock=1),
    "ADWIN-32": lambda: ADWIN(delta=0.05),
    "PageHinkley": lambda: PageHinkley(min_instances=5, delta=0.05, threshold=8.0),
    "PageHinkley-up": lambda: PageHinkley(delta=0.05, threshold=8.0, mode="up"),
    "PageHinkley-down": lambda: PageHinkley(delta=0.05, threshold=8.0, mode="down"),
    "CUSUM": lambda: CUSUM(k=0.25, h=6.0, warmup=5),
    "CUSUM-fixed": lambda: CUSUM(k=0.5, h=4.0, target=0.0, sigma=1.0),
    "DDM": lambda: DDM(warm_start=30, warning_threshold=2.0, drift_threshold=3.0),
    "EDDM": lambda: EDDM(warm_start=30, alpha=0.95, beta=0.9),
    "HDDM_A": lambda: HDDM_A(drift_confidence=0.01, warning_confidence=0.05),
    "HDDM_A-2": lambda: HDDM_A(0.01, 0.05, two_sided_test=True),
    "HDDM_W": lambda: HDDM_W(drift_confidence=0.01, warning_confidence=0.05),
    "HDDM_W-2": lambda: HDDM_W(0.01, 0.05, lambda_val=0.1, two_sided_test=True),
    "KSWIN": lambda: KSWIN(alpha=0.01, window_size=40, stat_size=12),
}

DEFAULTS: dict[str, Factory] = {
    "ADWIN": ADWIN,
    "PageHinkley": PageHinkley,
    "CUSUM": CUSUM,
    "DDM": DDM,
    "EDDM": EDDM,
    "HDDM_A": HDDM_A,
    "HDDM_W": HDDM_W,
    "KSWIN": KSWIN,
}


def stream_for(det: StreamingDetector, seed: int, n: int = 3000) -> np.ndarray:
    """A stream in the detector's domain."""
    return STREAMS[det.domain](seed, n)


def loop_alarms(det: StreamingDetector, values: np.ndarray) -> list[int]:
    """Alarms of the plain ``update`` loop."""
    return [i for i, x in enumerate(values.tolist()) if det.update(x)]


def resumed_alarms(
    factory: Factory, values: np.ndarray, cuts: list[int], modes: list[bool]
) -> tuple[list[int], StreamingDetector]:
    """Feed ``values`` in pieces, saving to JSON and restoring between pieces."""
    det = factory()
    alarms: list[int] = []
    bounds = [0, *sorted(cuts), len(values)]
    for (lo, hi), batch in zip(itertools.pairwise(bounds), modes, strict=False):
        piece = values[lo:hi]
        if batch:
            alarms.extend(lo + int(i) for i in det.update_many(piece))
        else:
            alarms.extend(lo + i for i in loop_alarms(det, piece))
        state = json.loads(json.dumps(det.to_dict()))
        det = StreamingDetector.from_dict(state)
    return alarms, det


@pytest.mark.parametrize("name", sorted(TOUCHY))
@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**16),
    cuts=st.lists(st.integers(0, 800), max_size=4),
    modes=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_batches_and_restores_give_the_loop_alarms(name, seed, cuts, modes):
    factory = TOUCHY[name]
    values = stream_for(factory(), seed, 800)
    ref = factory()
    expected = loop_alarms(ref, values)
    got, det = resumed_alarms(factory, values, cuts, modes)
    assert got == expected
    assert det.to_dict() == ref.to_dict()
    assert det.drift_detected == ref.drift_detected
    if hasattr(ref, "warning_detected"):
        assert det.warning_detected == ref.warning_detected


@pytest.mark.parametrize("name", sorted(TOUCHY))
def test_touchy_settings_do_raise_alarms_and_restart(name):
    # The property test above is only meaningful if these settings raise several alarms.
    det = TOUCHY[name]()
    alarms = det.update_many(stream_for(det, 7))
    assert len(alarms) >= 2
    assert alarms.dtype == np.int64
    assert np.all(np.diff(alarms) > 0)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_update_many_equals_loop_with_defaults(name):
    det = DEFAULTS[name]()
    values = stream_for(det, 3, 6000)
    ref = DEFAULTS[name]()
    assert list(det.update_many(values)) == loop_alarms(ref, values)
    assert det.to_dict() == ref.to_dict()


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_fresh_state_and_reset(name):
    det = DEFAULTS[name]()
    assert det.drift_detected is False
    fresh = det.to_dict()
    assert fresh["format_version"] == 1
    assert fresh["type"] == type(det).__name__
    assert fresh["params"] == det.get_params()
    values = stream_for(det, 1, 2000)
    det.update_many(values)
    assert det.to_dict() != fresh
    det.reset()
    assert det.to_dict() == fresh
    assert det.drift_detected is False
    assert list(det.update_many(values)) == list(DEFAULTS[name]().update_many(values))


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_drift_detected_is_read_only(name):
    det = DEFAULTS[name]()
    with pytest.raises(AttributeError):
        det.drift_detected = True  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(TOUCHY))
def test_drift_detected_describes_the_last_value(name):
    det = TOUCHY[name]()
    values = stream_for(det, 11)
    flags = []
    for x in values.tolist():
        det.update(x)
        flags.append(det.drift_detected)
    ref = TOUCHY[name]()
    assert [i for i, f in enumerate(flags) if f] == list(ref.update_many(values))
    alarms = list(TOUCHY[name]().update_many(values))
    batch = TOUCHY[name]()
    batch.update_many(values[: alarms[0] + 1])
    assert batch.drift_detected is True
    batch.update_many(values[alarms[0] + 1 : alarms[0] + 2])
    assert batch.drift_detected is bool(alarms[1] == alarms[0] + 1)


@pytest.mark.parametrize("cls", [DDM, EDDM, HDDM_A, HDDM_W])
def test_warnings_come_before_alarms_and_never_with_them(cls):
    name = cls.__name__
    det = TOUCHY[name]()
    values = stream_for(det, 5, 4000)
    warnings, alarms = [], []
    for i, x in enumerate(values.tolist()):
        if det.update(x):
            alarms.append(i)
            assert not det.warning_detected
        elif det.warning_detected:
            warnings.append(i)
    assert alarms
    assert warnings
    assert min(warnings) < min(alarms)


def test_empty_update_many_changes_nothing():
    for factory in DEFAULTS.values():
        det = factory()
        before = det.to_dict()
        out = det.update_many([])
        assert out.dtype == np.int64
        assert out.size == 0
        assert det.to_dict() == before
        assert det.drift_detected is False


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_numpy_scalars_ints_and_bools_are_accepted(name):
    det, ref = DEFAULTS[name](), DEFAULTS[name]()
    for x in [np.float64(1.0), np.int64(0), True, 1, np.float32(0.0), False]:
        det.update(x)
        ref.update(float(x))
    assert det.to_dict() == ref.to_dict()


REAL = [ADWIN, PageHinkley, CUSUM, KSWIN]
BINARY = [DDM, EDDM]
UNIT = [HDDM_A, HDDM_W]


@pytest.mark.parametrize("name", sorted(TOUCHY))
def test_numpy_scalar_settings_give_a_json_state(name):
    # Settings read from numpy (np.float64 thresholds, np.int64 sizes) make numpy flags
    # and counts inside the detector; to_dict still gives plain JSON, and resumes.
    plain = TOUCHY[name]()
    params = {
        k: v if isinstance(v, bool | str) or v is None else np.asarray(v)[()]
        for k, v in plain.get_params().items()
    }
    assert any(isinstance(v, np.generic) for v in params.values())
    values = stream_for(plain, 5, 1500)
    det = type(plain)(**params)
    alarms = loop_alarms(det, values[:700]) + (det.update_many(values[700:]) + 700).tolist()
    assert alarms == loop_alarms(plain, values)
    text = json.dumps(det.to_dict())
    back = StreamingDetector.from_dict(json.loads(text))
    assert back.to_dict() == plain.to_dict()


@pytest.mark.parametrize("cls", REAL + BINARY + UNIT)
@pytest.mark.parametrize(
    "bad",
    [float("nan"), float("inf"), -float("inf"), "1.5", None, [1.0], 1 + 2j, np.timedelta64(1)],
)
def test_bad_values_raise_drift_error(cls, bad):
    det = cls()
    det.update(1.0 if cls not in BINARY else 1)
    before = det.to_dict()
    with pytest.raises(DriftError, match=cls.__name__) as info:
        det.update(bad)
    assert isinstance(info.value, ProdMLError)
    assert det.to_dict() == before


@pytest.mark.parametrize("cls", BINARY)
@pytest.mark.parametrize("bad", [0.5, 2, -1, 1.0000001])
def test_binary_detectors_take_only_zero_and_one(cls, bad):
    with pytest.raises(DriftError, match="0/1 error indicators"):
        cls().update(bad)
    with pytest.raises(DriftError, match=r"at position 2"):
        cls().update_many([0, 1, bad, 0])


@pytest.mark.parametrize("cls", UNIT)
@pytest.mark.parametrize("bad", [-0.1, 1.5, 2])
def test_unit_detectors_take_values_in_the_unit_interval(cls, bad):
    with pytest.raises(DriftError, match=r"numbers in \[0, 1\]"):
        cls().update(bad)
    with pytest.raises(DriftError, match=r"at position 1"):
        cls().update_many([0.5, bad])


@pytest.mark.parametrize("cls", REAL + BINARY + UNIT)
def test_bad_arrays_raise_drift_error_and_change_nothing(cls):
    det = cls()
    det.update_many([0.0, 1.0, 0.0])
    before = det.to_dict()
    for bad in ([0.0, float("nan")], [[0.0, 1.0]], ["a", "b"], [0.0, None], np.zeros((2, 2))):
        with pytest.raises(DriftError):
            det.update_many(bad)
    with pytest.raises(DriftError, match="dtype"):
        det.update_many(np.array(["1.0"]))
    assert det.to_dict() == before


BAD_PARAMS: list[tuple[Callable[[], StreamingDetector], str, str]] = [
    (lambda: ADWIN(delta=0), "delta", "a float in (0, 1)"),
    (lambda: ADWIN(delta=1.5), "delta", "a float in (0, 1)"),
    (lambda: ADWIN(clock=0), "clock", "an int >= 1"),
    (lambda: ADWIN(clock=2.0), "clock", "an int >= 1"),  # type: ignore[arg-type]
    (lambda: ADWIN(max_buckets=1), "max_buckets", "an int in [2, 1024]"),
    (lambda: ADWIN(max_buckets=10**9), "max_buckets", "an int in [2, 1024]"),
    (lambda: ADWIN(min_window_length=0), "min_window_length", "an int >= 1"),
    (lambda: ADWIN(grace_period=-1), "grace_period", "an int >= 0"),
    (lambda: PageHinkley(threshold=0), "threshold", "a float > 0"),
    (lambda: PageHinkley(delta=-1), "delta", "a float >= 0"),
    (lambda: PageHinkley(mode="sideways"), "mode", "one of"),
    (lambda: PageHinkley(min_instances=0), "min_instances", "an int >= 1"),
    (lambda: CUSUM(h=0), "h", "a float > 0"),
    (lambda: CUSUM(k=-0.1), "k", "a float >= 0"),
    (lambda: CUSUM(warmup=1), "warmup", "an int >= 2"),
    (lambda: CUSUM(sigma=0.0), "sigma", "a float in (0, inf) or None"),
    (lambda: CUSUM(target=float("nan")), "target", "a float in (-inf, inf)"),
    (lambda: DDM(warm_start=0), "warm_start", "an int >= 1"),
    (lambda: DDM(warning_threshold=4.0, drift_threshold=3.0), "warning_threshold", "<= drift"),
    (lambda: DDM(drift_threshold="3"), "drift_threshold", "a float > 0"),  # type: ignore[arg-type]
    (lambda: EDDM(alpha=1.0), "alpha", "a float in (0, 1)"),
    (lambda: EDDM(alpha=0.8, beta=0.9), "beta", "<= alpha"),
    (lambda: HDDM_A(drift_confidence=0), "drift_confidence", "a float in (0, 1)"),
    (lambda: HDDM_A(drift_confidence=0.01, warning_confidence=0.001), "warning_confidence", ">="),
    (lambda: HDDM_A(two_sided_test=1), "two_sided_test", "a bool"),  # type: ignore[arg-type]
    (lambda: HDDM_W(lambda_val=0), "lambda_val", "a float in (0, 1]"),
    (lambda: HDDM_W(drift_confidence=0.1, warning_confidence=0.01), "warning_confidence", ">="),
    (lambda: KSWIN(alpha=0), "alpha", "a float in (0, 1)"),
    (lambda: KSWIN(window_size=50, stat_size=50), "stat_size", "< window_size"),
    (lambda: KSWIN(window_size=1), "window_size", "an int >= 2"),
]


@pytest.mark.parametrize(("factory", "param", "wording"), BAD_PARAMS)
def test_bad_parameters_raise_config_error_on_first_use(factory, param, wording):
    det = factory()  # sklearn habit: no validation in __init__
    for use in (lambda: det.update(0), lambda: det.update_many([0.0]), det.reset, det.to_dict):
        with pytest.raises(ConfigError, match=param) as info:
            use()
        assert wording in str(info.value)
        assert info.value.parameter == param


def test_config_error_has_sklearn_wording():
    with pytest.raises(ConfigError) as info:
        ADWIN(delta=1.5).update(0.0)
    assert str(info.value) == (
        "The 'delta' parameter of ADWIN must be a float in (0, 1). Got 1.5 instead."
    )


def test_changed_setting_takes_effect_at_reset():
    det = PageHinkley(threshold=8.0, delta=0.05)
    det.update(1.0)
    det.threshold = -1.0
    with pytest.raises(ConfigError, match="threshold"):
        det.reset()
    det.threshold = 5.0
    det.reset()
    assert det.get_params()["threshold"] == 5.0


def test_from_dict_rejects_bad_states():
    state = ADWIN().to_dict()
    with pytest.raises(StateError, match="'format_version' must be present"):
        StreamingDetector.from_dict({"type": "ADWIN"})
    with pytest.raises(ConfigError, match="format_version"):
        ADWIN.from_dict({**state, "format_version": 99})
    with pytest.raises(ConfigError, match="'type' must be a DDM detector type"):
        DDM.from_dict(state)
    with pytest.raises(ConfigError, match="'type' must be a StreamingDetector detector type"):
        StreamingDetector.from_dict({**state, "type": "Nope"})
    with pytest.raises(StateError, match=r"ADWIN state field 'state.buckets' must be present"):
        ADWIN.from_dict({**state, "state": {"drift": False}})
    with pytest.raises(StateError, match=r"'params.clock' must be present"):
        ADWIN.from_dict({**state, "params": {"colour": 1}})
    with pytest.raises(StateError, match=r"'params.delta'") as info:
        ADWIN.from_dict({**state, "params": {**state["params"], "delta": 2.0}})
    assert info.value.path == "params.delta"
    adwin = ADWIN(max_buckets=2)
    adwin.update_many(np.arange(1000.0) % 7)
    good = adwin.to_dict()
    assert ADWIN.from_dict(good).to_dict() == good
    bad_states = [
        # 3 > max_buckets
        ({"buckets": [*good["state"]["buckets"][:-1], [1.0, 2.0, 3.0]]}, r"state.buckets\[\d+\]"),
        # more levels than a window reaches
        ({"buckets": [[1.0]] * 61, "k": 2**61 - 1}, "state.buckets"),
        ({"k": good["state"]["k"] + 1}, "state.k"),  # blocks the buckets do not hold
        ({"n": 32}, "state.n"),  # an open block as long as a closed one
        ({"m2": -1.0}, "state.m2"),  # a negative sum of squares
        ({"x0": float("nan")}, "state.x0"),
    ]
    for change, path in bad_states:
        with pytest.raises(StateError, match=f"ADWIN state field '{path}'"):
            ADWIN.from_dict({**good, "state": {**good["state"], **change}})
    kswin = KSWIN(window_size=10, stat_size=3).to_dict()
    kswin["state"]["window"] = [0.0] * 11
    with pytest.raises(ConfigError, match=r"KSWIN state field 'state.window'"):
        KSWIN.from_dict(kswin)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_from_dict_on_the_base_class_picks_the_detector(name):
    det = DEFAULTS[name]()
    det.update_many(stream_for(det, 2, 500))
    back = StreamingDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    assert type(back) is type(det)
    assert back.to_dict() == det.to_dict()
    assert repr(back) == repr(det)
    assert repr(det).startswith(f"{type(det).__name__}(")


def test_adwin_window_statistics():
    det = ADWIN(clock=4)
    assert det.width == 0
    assert det.estimation == 0.0
    for x in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]:
        det.update(x)
    assert det.width == 6
    assert det.estimation == pytest.approx(3.5)
    det.update_many(np.full(100, 2.0))
    assert det.width == 106


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**16),
    clock=st.integers(1, 9),
    max_buckets=st.integers(2, 4),
    low=st.integers(1, 40),
    grace=st.integers(0, 60),
    cut=st.integers(0, 600),
)
def test_adwin_any_settings_batch_equals_loop(seed, clock, max_buckets, low, grace, cut):  # noqa: PLR0917
    def make() -> ADWIN:
        return ADWIN(
            delta=0.1,
            clock=clock,
            max_buckets=max_buckets,
            min_window_length=low,
            grace_period=grace,
        )

    values = real_stream(seed, 600)
    ref = make()
    expected = loop_alarms(ref, values)
    det = make()
    got = det.update_many(values[:cut]).tolist()
    det = ADWIN.from_dict(json.loads(json.dumps(det.to_dict())))
    got += [cut + i for i in det.update_many(values[cut:]).tolist()]
    assert got == expected
    assert det.to_dict() == ref.to_dict()


@pytest.mark.parametrize("cls", REAL)
def test_constant_stream_raises_nothing_then_a_jump_is_seen(cls):
    values = np.r_[np.full(2000, 3.25), np.full(2000, 4.25)]
    det = cls()
    alarms = det.update_many(values)
    assert alarms.size >= 1
    assert 2000 <= alarms[0] <= 2400
    ref = cls()
    assert loop_alarms(ref, values) == alarms.tolist()


def test_cusum_flags_the_first_departure_from_a_constant_stream():
    det = CUSUM()
    assert det.update_many(np.full(100, 7.0)).size == 0
    assert det.update(7.0 + 1e-9) is True


@pytest.mark.parametrize("cls", BINARY + UNIT)
def test_integer_and_boolean_arrays_are_accepted(cls):
    errors = binary_stream(4, 5000)
    a = cls().update_many(errors)
    b = cls().update_many(errors.astype(bool))
    c = cls().update_many(errors.astype(np.int8))
    assert a.tolist() == b.tolist() == c.tolist()


def test_eddm_counts_distances_from_the_restart():
    det = EDDM(warm_start=1, alpha=0.95, beta=0.9)
    for x in [0, 0, 1, 0, 1, 1]:
        det.update(x)
    state = det.to_dict()["state"]
    assert state["errors"] == 3
    assert state["sum"] == 3 + 2 + 1
    assert state["sum_sq"] == 9 + 4 + 1
