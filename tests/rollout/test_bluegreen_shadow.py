from __future__ import annotations

import json

import numpy as np
import pytest

from prodml.errors import ConfigError, PolicyError
from prodml.rollout import BlueGreen, Decision, Gate, Shadow


def clock() -> float:
    return 5.0


def test_blue_green_verification_switch_and_instant_rollback() -> None:
    bg = BlueGreen(gates=[Gate("error", ratio=1.5)], clock=clock)
    keys = [f"u{i}" for i in range(100)]
    assert {bg.route(k) for k in keys} == {"blue"}
    assert bg.evaluate().action == "hold"  # no verification traffic yet
    bg.observe_many("blue", error=np.r_[np.ones(200), np.zeros(1800)])
    bg.observe_many("green", error=np.r_[np.ones(60), np.zeros(1940)])
    d = bg.evaluate()
    assert (d.action, bg.phase, bg.live) == ("promote", "switched", "green")
    assert {bg.route(k) for k in keys} == {"green"}
    assert bg.evaluate() == d
    d = bg.rollback()
    assert (d.action, bg.live) == ("rollback", "blue")
    assert {bg.route(k) for k in keys} == {"blue"}
    assert [x.action for x in bg.decisions] == ["hold", "promote", "rollback"]


def test_blue_green_failed_verification_never_moves_traffic() -> None:
    bg = BlueGreen("v1", "v2", gates=[Gate("error", threshold=0.01)], clock=clock)
    bg.observe_many("v2", error=np.r_[np.ones(100), np.zeros(400)])
    d = bg.evaluate()
    assert (d.action, bg.phase, bg.live) == ("rollback", "discarded", "v1")
    assert "verification failed" in d.reason


def test_blue_green_manual_switch_and_inconclusive() -> None:
    bg = BlueGreen(gates=[Gate("error", threshold=0.05)], auto_switch=False, clock=clock)
    bg.observe_many("green", error=np.r_[np.ones(4), np.zeros(96)])
    d = bg.evaluate()
    assert (d.action, d.evidence["gates"][0]["verdict"]) == ("hold", "inconclusive")
    bg.observe_many("green", error=np.zeros(5000))
    d = bg.evaluate()
    assert (d.action, bg.phase, bg.live) == ("promote", "verified", "blue")
    assert bg.switch().action == "promote"
    assert bg.live == "green"
    with pytest.raises(PolicyError, match="already on the preview"):
        bg.switch()


def test_blue_green_round_trip() -> None:
    bg = BlueGreen(gates=[Gate("latency", threshold=200)], clock=clock)
    bg.observe_many("green", latency=np.full(50, 100.0))
    bg.evaluate()
    restored = BlueGreen.from_json(bg.to_json(), clock=clock)
    assert json.loads(restored.to_json()) == json.loads(bg.to_json())
    for x in (bg, restored):
        x.observe_many("green", latency=np.full(500, 100.0))
    assert bg.evaluate() == restored.evaluate()
    assert restored.live == "green"


def test_blue_green_bad_input() -> None:
    with pytest.raises(PolicyError, match="both 'x'"):
        BlueGreen("x", "x").route("k")
    with pytest.raises(PolicyError, match="Gate objects"):
        BlueGreen(gates=["error"]).route("k")  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="'min_samples' parameter of BlueGreen"):
        BlueGreen(min_samples=0).route("k")
    with pytest.raises(PolicyError, match="Unknown variant 'red'"):
        BlueGreen().observe("red", error=0.0)
    with pytest.raises(PolicyError, match="BlueGreen state field 'active' must be present"):
        BlueGreen.from_dict({"type": "BlueGreen", "format_version": 1})
    data = BlueGreen().to_dict()
    with pytest.raises(PolicyError, match="'phase' must be one of 'preview'"):
        BlueGreen.from_dict({**data, "phase": "gone"})
    with pytest.raises(PolicyError, match="'live' must be one of 'blue', 'green'"):
        BlueGreen.from_dict({**data, "live": "red"})


def test_shadow_never_serves_and_mirrors_the_requested_share() -> None:
    sh = Shadow(mirror=0.2, salt="m")
    keys = [f"u{i}" for i in range(20_000)]
    assert {sh.route(k) for k in keys} == {"primary"}
    mirrored = [sh.should_mirror(k) for k in keys]
    assert sum(mirrored) / len(keys) == pytest.approx(0.2, abs=0.01)
    assert mirrored == [sh.should_mirror(k) for k in keys]  # sticky
    assert not any(Shadow(mirror=0.0).should_mirror(k) for k in keys[:500])
    assert all(Shadow(mirror=1.0).should_mirror(k) for k in keys[:500])


def test_shadow_compare_agreement_diff_and_latency() -> None:
    sh = Shadow(tolerance=0.05, clock=clock)
    assert sh.compare(1.0, 1.01, primary_latency=10, shadow_latency=30)
    assert not sh.compare(1.0, 2.0, primary_latency=20, shadow_latency=50)
    assert sh.compare("cat", "cat")
    assert not sh.compare("cat", "dog")
    r = sh.report()
    assert r["compared"] == 4
    assert r["agreement"] == 0.5
    assert r["mean_abs_diff"] == pytest.approx((0.01 + 1.0) / 2)
    assert r["latency"] == {"primary": 15.0, "shadow": 40.0}
    with pytest.raises(PolicyError, match="must be finite"):
        sh.compare(float("nan"), 1.0)


def test_shadow_decisions() -> None:
    good = Shadow(min_agreement=0.95, clock=clock)
    good.compare_many(np.arange(2000.0), np.arange(2000.0))
    assert good.evaluate().action == "promote"
    bad = Shadow(min_agreement=0.95, clock=clock)
    bad.compare_many(np.zeros(2000), np.r_[np.zeros(1500), np.ones(500)])
    d = bad.evaluate()
    assert (d.action, d.evidence["agreement"]) == ("rollback", 0.75)
    slow = Shadow(gates=[Gate("latency", ratio=1.2)], min_agreement=None, clock=clock)
    slow.compare_many(
        np.zeros(1000),
        np.zeros(1000),
        primary_latency=np.full(1000, 10.0) + np.arange(1000) % 3,
        shadow_latency=np.full(1000, 20.0) + np.arange(1000) % 3,
    )
    d = slow.evaluate()
    assert d.action == "rollback"
    assert d.evidence["gates"][0]["gate"] == "mean(latency) <= 1.2 x baseline"
    empty = Shadow(clock=clock).evaluate()
    assert (empty.action, empty.evidence["gates"][0]["verdict"]) == ("hold", "no_data")
    assert isinstance(empty, Decision)


def test_shadow_round_trip_and_bad_input() -> None:
    sh = Shadow(gates=[Gate("abs_diff", threshold=0.1)], clock=clock)
    sh.compare_many([1.0, 2.0], [1.0, 2.5])
    restored = Shadow.from_json(sh.to_json(), clock=clock)
    assert restored.report() == sh.report()
    assert json.loads(restored.to_json()) == json.loads(sh.to_json())
    with pytest.raises(PolicyError, match="'agreement', 'abs_diff' or 'latency'"):
        Shadow(gates=[Gate("accuracy", threshold=0.1)]).route("k")
    with pytest.raises(PolicyError, match="2 primary and 3 shadow"):
        sh.compare_many([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(PolicyError, match="'output' of variant 'primary' must be numeric"):
        sh.compare_many(["a"], ["b"])
    for bad in (10**400, float("nan"), float("inf")):  # as compare: finite numbers only
        with pytest.raises(PolicyError, match="'output' of variant 'shadow' must be finite"):
            sh.compare_many([1.0, 2.0], [1.0, bad])
        with pytest.raises(PolicyError, match="'output' of variant 'shadow' must be finite"):
            sh.compare(1.0, bad)
    with pytest.raises(PolicyError, match="outputs must be finite numbers"):
        sh.compare([1.0, 2.0], [1.0, 10**400])
    assert restored.report() == sh.report()  # nothing refused was recorded
    with pytest.raises(ConfigError, match="'mirror' parameter of Shadow"):
        Shadow(mirror=1.5).should_mirror("k")
    with pytest.raises(PolicyError, match="both 'p'"):
        Shadow("p", "p").route("k")
