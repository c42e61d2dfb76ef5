"""Independent audit of routing: shares, stability across processes, keys moved by a change."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from prodml.rollout import Canary, Gate, Router, Shadow, Step

KEYS = [f"user-{i}" for i in range(100_000)]


@pytest.mark.parametrize(
    "weights",
    [
        {"a": 0.5, "b": 0.5},
        {"a": 0.01, "b": 0.99},
        {"a": 0.2, "b": 0.0, "c": 0.3, "d": 0.5},
        {f"v{i}": 0.1 for i in range(10)},
    ],
)
def test_shares_pass_chi_square_on_100k_keys(weights: dict[str, float]) -> None:
    routed = Router(weights, salt="audit").route_many(KEYS)
    names = [n for n, w in weights.items() if w > 0]
    assert set(routed) == set(names)  # a zero weight gets no key
    observed = [routed.count(n) for n in names]
    expected = [weights[n] * len(KEYS) for n in names]
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_int_keys_are_uniform_too() -> None:
    # Sequential integer ids (the commonest key) land uniformly on [0, 1).
    routed = Router({"a": 0.3, "b": 0.7}, salt="s").route_many(range(100_000))
    assert stats.binomtest(routed.count("a"), 100_000, 0.3).pvalue > 1e-3


_SCRIPT = """
import json, sys
from prodml.rollout import Router, Shadow
r = Router({"a": 0.2, "b": 0.3, "c": 0.5}, salt="cross-process")
s = Shadow(mirror=0.3, salt="m")
keys = [f"k{i}" for i in range(2000)] + list(range(2000))
print(json.dumps([r.route_many(keys), [s.should_mirror(k) for k in keys]]))
"""


def test_assignment_is_the_same_in_other_processes_and_hash_seeds() -> None:
    outputs = []
    for seed in ("0", "1", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == outputs[2]
    here = Router({"a": 0.2, "b": 0.3, "c": 0.5}, salt="cross-process")
    keys = [f"k{i}" for i in range(2000)] + list(range(2000))
    assert outputs[0][0] == here.route_many(keys)


def _ranges(weights: dict[str, float]) -> dict[str, tuple[float, float]]:
    out, low = {}, 0.0
    for n, w in weights.items():
        out[n] = (low, low + w)
        low += w
    return out


@settings(max_examples=40, deadline=None)
@given(
    old=st.lists(st.integers(0, 20), min_size=2, max_size=4).filter(lambda v: sum(v) > 0),
    new=st.lists(st.integers(0, 20), min_size=4, max_size=4).filter(lambda v: sum(v) > 0),
)
def test_a_weight_change_moves_exactly_the_keys_whose_range_changed(
    old: list[int], new: list[int]
) -> None:
    names = [f"v{i}" for i in range(len(old))]
    w_old = {n: x / sum(old) for n, x in zip(names, old, strict=True)}
    new = new[: len(old)]
    if sum(new) == 0:
        new = old
    w_new = {n: x / sum(new) for n, x in zip(names, new, strict=True)}
    keys = KEYS[:20_000]
    router, minimal = Router(w_old, salt="move"), Router(w_old, salt="move")
    before = router.route_many(keys)
    router.set_weights(w_new)
    minimal.set_weights(w_new, minimal_moves=True)
    # By default the layout is the new weights' contiguous ranges, as a new router has:
    # every replica that knows the weights routes alike, however it got them.
    assert router.route_many(keys) == Router(w_new, salt="move").route_many(keys)
    moved = np.mean([a != b for a, b in zip(before, router.route_many(keys), strict=True)])
    # What moves is the hash space outside the overlap of the old and new ranges.
    r_old, r_new = _ranges(w_old), _ranges(w_new)
    stay = sum(
        max(0.0, min(r_old[n][1], r_new[n][1]) - max(r_old[n][0], r_new[n][0])) for n in names
    )
    tolerance = 4 * np.sqrt(max(1.0 - stay, 1e-4) / len(keys))
    assert moved == pytest.approx(1.0 - stay, abs=tolerance)
    # With minimal_moves, only what the shrinking variants give up moves:
    # sum(max(0, new - old)), the least any assignment must move.
    least = sum(max(0.0, w_new[n] - w_old[n]) for n in names)
    moved_least = np.mean([a != b for a, b in zip(before, minimal.route_many(keys), strict=True)])
    assert moved_least == pytest.approx(least, abs=4 * np.sqrt(max(least, 1e-4) / len(keys)))
    assert least <= 1.0 - stay + 1e-12
    if len(names) == 2:  # there the contiguous ranges already move the least
        assert least == pytest.approx(1.0 - stay, abs=1e-12)
        assert least == pytest.approx(abs(w_new["v0"] - w_old["v0"]), abs=1e-12)


def test_a_canary_step_only_adds_keys_to_the_candidate() -> None:
    now = [0.0]
    c = Canary(
        [{"weight": 0.05, "min_samples": 0}, {"weight": 0.25, "min_samples": 0}, 0.5],
        [Gate("error_rate", threshold=0.1)],
        salt="cs",
        clock=lambda: now[0],
    )
    keys = KEYS[:50_000]
    first = {k for k in keys if c.route(k) == "candidate"}
    c.observe_summary("candidate", 5000, {"error_rate": 0.0})
    assert c.evaluate().action == "advance"
    second = {k for k in keys if c.route(k) == "candidate"}
    assert first <= second
    assert len(first) / len(keys) == pytest.approx(0.05, abs=0.005)
    assert len(second) / len(keys) == pytest.approx(0.25, abs=0.01)


def test_a_key_with_a_lone_surrogate_routes_stably() -> None:
    # json.loads('"\\udcff"') gives such a str; routing it used to raise
    # UnicodeEncodeError out of route(), route_many() and should_mirror().
    key = json.loads('"user-\\udcff"')
    router = Router({"a": 0.5, "b": 0.5}, salt="s")
    answer = router.route(key)
    assert router.route_many(["ok", key]) == [router.route("ok"), answer]
    assert Router({"a": 0.5, "b": 0.5}, salt="s").route(key) == answer
    # encoded as UTF-8 with surrogatepass: the same bytes route alike
    assert router.route(key.encode("utf-8", "surrogatepass")) == answer
    shadow = Shadow(mirror=0.5, salt="m")
    assert shadow.should_mirror(key) == shadow.should_mirror(key.encode("utf-8", "surrogatepass"))
    canary = Canary([Step(0.5)], salt="c")
    assert canary.route(key) in ("baseline", "candidate")
