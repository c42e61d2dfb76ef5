from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from prodml.errors import PolicyError
from prodml.rollout import Router
from prodml.rollout._hashing import SPACE, bounds_from_weights, hash_key, key_bytes

KEYS = [f"user-{i}" for i in range(100_000)]


def test_route_is_sticky_and_deterministic_across_instances() -> None:
    a = Router({"x": 0.3, "y": 0.7}, salt="exp")
    b = Router({"x": 0.3, "y": 0.7}, salt="exp")
    keys = KEYS[:2000]
    assert a.route_many(keys) == b.route_many(keys) == [a.route(k) for k in keys]
    assert [a.route(k) for k in keys] == [a.route(k) for k in keys]


def test_golden_assignment_is_stable_across_versions() -> None:
    # A changed hash would silently move every user to another variant after an upgrade.
    r = Router({"a": 0.5, "b": 0.5}, salt="golden")
    assert "".join(r.route(f"u{i}") for i in range(24)) == "bbaabababbbbbbaabbabbaaa"
    assert hash_key(b"exp-1:", "user-42") == 1240751840697224358


@pytest.mark.parametrize(
    "weights",
    [{"a": 0.5, "b": 0.5}, {"a": 0.05, "b": 0.95}, {"a": 0.2, "b": 0.3, "c": 0.5}],
)
def test_weights_respected_chi_square(weights: dict[str, float]) -> None:
    r = Router(weights, salt="chi")
    routed = r.route_many(KEYS)
    observed = [routed.count(v) for v in weights]
    expected = [w * len(KEYS) for w in weights.values()]
    p = stats.chisquare(observed, expected).pvalue
    assert p > 0.001, (observed, expected)


def test_different_salts_are_independent() -> None:
    a = Router({"x": 0.5, "y": 0.5}, salt="one").route_many(KEYS[:20_000])
    b = Router({"x": 0.5, "y": 0.5}, salt="two").route_many(KEYS[:20_000])
    table = np.zeros((2, 2))
    for u, v in zip(a, b, strict=True):
        table[u == "x", v == "x"] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


@given(
    w1=st.floats(0.0, 1.0),
    w2=st.floats(0.0, 1.0),
    first=st.booleans(),
    salt=st.text(max_size=5),
)
def test_growing_a_weight_only_adds_keys(w1: float, w2: float, first: bool, salt: str) -> None:
    small, big = sorted((w1, w2))
    keys = KEYS[:300]

    def weights(w: float) -> dict[str, float]:
        return {"cand": w, "base": 1 - w} if first else {"base": 1 - w, "cand": w}

    before = Router(weights(small), salt=salt).route_many(keys)
    after = Router(weights(big), salt=salt).route_many(keys)
    for k, u, v in zip(keys, before, after, strict=True):
        assert not (u == "cand" and v != "cand"), k


def test_set_weights_moves_only_the_grown_range() -> None:
    r = Router({"c": 0.05, "b": 0.95}, salt="s")
    before = r.route_many(KEYS[:20_000])
    r.set_weights({"c": 0.25, "b": 0.75})
    after = r.route_many(KEYS[:20_000])
    in_before = {k for k, v in zip(KEYS, before, strict=False) if v == "c"}
    in_after = {k for k, v in zip(KEYS, after, strict=False) if v == "c"}
    assert in_before <= in_after
    assert abs(len(in_after) / 20_000 - 0.25) < 0.01
    assert r.share("c") == pytest.approx(0.25)


def test_key_types() -> None:
    r = Router({"a": 0.5, "b": 0.5}, salt="k")
    assert r.route(42) == r.route("42") == r.route(b"42")
    assert key_bytes("é") == "é".encode()
    with pytest.raises(PolicyError, match="routing key"):
        r.route(1.5)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="routing key"):
        r.route(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({"a": -0.1, "b": 1.1}, "'a' must be finite and >= 0"),
        ({"a": float("nan"), "b": 1.0}, "'a' must be finite"),
        ({"a": 0.5, "b": 0.6}, "sum to 1"),
        ({"a": 0.2, "b": 0.2}, "sum to 1"),
        ({}, "non-empty"),
        ({"a": "x", "b": 1.0}, "'a' must be a number"),
        ({"a": True, "b": 0.0}, "'a' must be a number"),
        ({"": 1.0}, "non-empty strings"),
    ],
)
def test_bad_weights(weights: dict[str, object], match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        Router(weights).route("k")  # type: ignore[arg-type]
    r = Router({"a": 1.0})
    with pytest.raises(PolicyError, match=match):
        r.set_weights(weights)  # type: ignore[arg-type]
    assert r.route("k") == "a"  # old weights kept


def test_bad_salt_and_unknown_variant() -> None:
    with pytest.raises(PolicyError, match="salt"):
        Router({"a": 1.0}, salt=3).route("k")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="unknown variant 'z'") as err:
        Router({"a": 1.0}).share("z")
    assert err.value.variant == "z"


def test_bounds_edges() -> None:
    _, bounds = bounds_from_weights({"a": 0.0, "b": 1.0})
    assert bounds == (0, SPACE)
    r = Router({"a": 0.0, "b": 1.0})
    assert set(r.route_many(KEYS[:1000])) == {"b"}
    r.set_weights({"a": 1.0, "b": 0.0})
    assert set(r.route_many(KEYS[:1000])) == {"a"}


def test_round_trip() -> None:
    r = Router({"a": 0.3, "b": 0.7}, salt="rt")
    data = json.loads(r.to_json())
    assert data["format_version"] == 1
    r2 = Router.from_dict(data)
    assert r2.route_many(KEYS[:500]) == r.route_many(KEYS[:500])
    assert Router.from_json(r.to_json()).variants == ("a", "b")
    with pytest.raises(PolicyError, match="not 'Router'"):
        Router.from_dict({**data, "type": "Canary"})
    with pytest.raises(PolicyError, match="format_version"):
        Router.from_dict({**data, "format_version": 99})
    with pytest.raises(PolicyError, match="not valid JSON"):
        Router.from_json("{")
    with pytest.raises(PolicyError, match="Router state field 'salt' must be present"):
        Router.from_dict({"type": "Router", "format_version": 1})


def test_concurrent_routing_while_weights_change() -> None:
    r = Router({"c": 0.1, "b": 0.9}, salt="t")
    keys = KEYS[:2000]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                out = r.route_many(keys)
                assert set(out) <= {"c", "b"}
        except BaseException as e:  # noqa: BLE001 - collected for the assert below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for w in (0.2, 0.3, 0.4):
        r.set_weights({"c": w, "b": 1 - w})
    for t in threads:
        t.join()
    assert not errors


@given(
    keys=st.lists(
        st.one_of(st.text(max_size=12), st.integers(-(10**12), 10**12), st.binary(max_size=12)),
        max_size=30,
    ),
    w=st.floats(0.0, 1.0),
)
def test_route_many_equals_route_and_int_equals_str(keys: list[object], w: float) -> None:
    r = Router({"a": w, "b": 1.0 - w}, salt="prop")
    assert r.route_many(keys) == [r.route(k) for k in keys]  # type: ignore[arg-type]
    for k in keys:
        if isinstance(k, int):
            assert r.route(k) == r.route(str(k))
