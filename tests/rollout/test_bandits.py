from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError, PolicyError
from prodml.rollout import UCB1, EpsilonGreedy, ThompsonSampling
from prodml.rollout._bandits import Bandit

ARMS = ["a", "b", "c"]
FACTORIES: dict[str, Any] = {
    "eps": lambda seed=0: EpsilonGreedy(ARMS, epsilon=0.2, seed=seed),
    "ucb": lambda seed=0: UCB1(ARMS, seed=seed),
    "ts-bern": lambda seed=0: ThompsonSampling(ARMS, seed=seed),
    "ts-gauss": lambda seed=0: ThompsonSampling(ARMS, reward="gaussian", seed=seed),
}
P = {"a": 0.2, "b": 0.5, "c": 0.3}


def play(bandit: Bandit, rounds: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in range(rounds):
        arm = bandit.choose()
        bandit.update(arm, float(rng.random() < P[arm]))
        chosen.append(arm)
    return chosen


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_learns_the_best_arm(name: str) -> None:
    bandit = FACTORIES[name]()
    chosen = play(bandit, 3000, seed=1)
    assert chosen[-1000:].count("b") > 700
    assert sum(bandit.counts.values()) == 3000
    assert bandit.means["b"] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_same_seed_same_choices(name: str) -> None:
    assert play(FACTORIES[name](7), 300, 2) == play(FACTORIES[name](7), 300, 2)


def test_different_seeds_differ() -> None:
    assert play(FACTORIES["ts-bern"](1), 300, 2) != play(FACTORIES["ts-bern"](2), 300, 2)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_round_trip_mid_run_continues_exactly(name: str) -> None:
    bandit = FACTORIES[name](3)
    play(bandit, 200, seed=4)
    text = bandit.to_json()
    restored = type(bandit).from_json(text)
    assert json.loads(restored.to_json()) == json.loads(text)
    assert play(bandit, 300, seed=5) == play(restored, 300, seed=5)
    assert bandit.to_dict() == restored.to_dict()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_choose_many_equals_repeated_choose(name: str) -> None:
    a, b = FACTORIES[name](11), FACTORIES[name](11)
    play(a, 50, 0)
    play(b, 50, 0)
    assert a.choose_many(100) == [b.choose() for _ in range(100)]
    assert a.choose_many(0) == []


@given(
    pulls=st.lists(st.tuples(st.sampled_from(ARMS), st.floats(0, 1, allow_nan=False)), max_size=60)
)
def test_update_many_equals_repeated_update(pulls: list[tuple[str, float]]) -> None:
    for name in ("eps", "ts-bern", "ts-gauss"):
        a, b = FACTORIES[name](0), FACTORIES[name](0)
        a.update("a", 0.5)
        b.update("a", 0.5)
        for arm, r in pulls:
            a.update(arm, r)
        b.update_many([p[0] for p in pulls], [p[1] for p in pulls])
        da, db = a.to_dict(), b.to_dict()
        assert da["n"] == db["n"]
        assert da["t"] == db["t"]
        np.testing.assert_allclose(da["mean"], db["mean"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(da["m2"], db["m2"], rtol=1e-9, atol=1e-12)
        assert a.choose_many(20) == b.choose_many(20)


def test_epsilon_greedy_explores_at_the_right_rate() -> None:
    bandit = EpsilonGreedy(["x", "y"], epsilon=0.3, seed=0)
    bandit.update_many(["x", "y"], [1.0, 0.0])  # an unplayed arm would be played first
    picks = bandit.choose_many(20_000)
    # Exploit "x" with prob 0.7, explore uniformly with 0.3: "y" with prob 0.15.
    assert picks.count("y") / 20_000 == pytest.approx(0.15, abs=0.01)
    greedy = EpsilonGreedy(["x", "y"], epsilon=0.0, seed=0)
    greedy.update_many(["x", "y"], [0.0, 0.1])
    assert set(greedy.choose_many(100)) == {"y"}
    greedy.update("y", -1.0)  # mean of y drops below x's 0.0
    assert greedy.choose() == "x"


def test_ucb1_tries_every_arm_first_and_follows_the_formula() -> None:
    bandit = UCB1(["x", "y", "z"])
    first = []
    for r in (0.1, 0.9, 0.5):
        arm = bandit.choose()
        first.append(arm)
        bandit.update(arm, r)
    assert first == ["x", "y", "z"]
    bandit.update("y", 0.0)  # y: n=2, mean 0.45
    scores = {
        arm: m + np.sqrt(2 * np.log(4) / n)
        for arm, m, n in (("x", 0.1, 1), ("y", 0.45, 2), ("z", 0.5, 1))
    }
    assert bandit.choose() == max(scores, key=scores.__getitem__)


def test_thompson_bernoulli_posterior_draws() -> None:
    # With a huge amount of data the posterior is a point mass: always the better arm.
    bandit = ThompsonSampling(["x", "y"], seed=0)
    bandit.update_many(
        ["x"] * 20_000 + ["y"] * 20_000, [0.0, 1.0] * 10_000 + [1.0, 1.0, 0.0, 1.0] * 5_000
    )
    assert set(bandit.choose_many(200)) == {"y"}
    # No data: both arms equally likely.
    fresh = ThompsonSampling(["x", "y"], seed=0).choose_many(4000)
    assert fresh.count("x") / 4000 == pytest.approx(0.5, abs=0.03)


def test_thompson_gaussian_handles_negative_rewards() -> None:
    bandit = ThompsonSampling(["x", "y"], reward="gaussian", seed=0)
    rng = np.random.default_rng(0)
    bandit.update_many(["x"] * 500, rng.normal(-3.0, 1.0, 500))
    bandit.update_many(["y"] * 500, rng.normal(-2.0, 1.0, 500))
    assert bandit.choose_many(100).count("y") > 95


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_bad_input(name: str) -> None:
    bandit = FACTORIES[name]()
    with pytest.raises(PolicyError, match="unknown arm 'zz'") as err:
        bandit.update("zz", 1.0)
    assert err.value.variant == "zz"
    with pytest.raises(PolicyError, match="must be finite"):
        bandit.update("a", float("nan"))
    with pytest.raises(PolicyError, match="must be a number"):
        bandit.update("a", "high")
    with pytest.raises(PolicyError, match="2 arms and 1 rewards"):
        bandit.update_many(["a", "b"], [1.0])
    with pytest.raises(PolicyError, match="unknown arm"):
        bandit.update_many(["a", "zz"], [1.0, 1.0])
    with pytest.raises(PolicyError, match="must be finite"):
        bandit.update_many(["a", "b"], [1.0, float("inf")])
    with pytest.raises(ConfigError, match="'n' parameter"):
        bandit.choose_many(-1)
    assert sum(bandit.counts.values()) == 0  # nothing applied by the failed calls


def test_bernoulli_rewards_must_be_in_unit_interval() -> None:
    bandit = ThompsonSampling(ARMS)
    with pytest.raises(PolicyError, match=r"must be in \[0, 1\]"):
        bandit.update("a", 2.0)
    with pytest.raises(PolicyError, match=r"must be in \[0, 1\]"):
        bandit.update_many(["a", "b"], [0.5, -0.5])
    assert sum(bandit.counts.values()) == 0


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: EpsilonGreedy([]), "non-empty list"),
        (lambda: EpsilonGreedy("ab"), "non-empty list"),
        (lambda: EpsilonGreedy(["a", "a"]), "unique"),
        (lambda: EpsilonGreedy(["a", 1]), "non-empty strings"),  # type: ignore[list-item]
    ],
)
def test_bad_arms(make: Any, match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        make().choose()


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="'epsilon' parameter of EpsilonGreedy"):
        EpsilonGreedy(ARMS, epsilon=1.5).choose()
    with pytest.raises(ConfigError, match="'seed' parameter"):
        UCB1(ARMS, seed=-1).choose()
    with pytest.raises(ConfigError, match="'c' parameter"):
        UCB1(ARMS, c=-1.0).choose()
    with pytest.raises(ConfigError, match="'reward' parameter"):
        ThompsonSampling(ARMS, reward="poisson").choose()
    with pytest.raises(ConfigError, match="'prior_alpha' parameter"):
        ThompsonSampling(ARMS, prior_alpha=0.0).choose()


def test_bad_stored_state() -> None:
    data = UCB1(ARMS).to_dict()
    with pytest.raises(PolicyError, match=r"UCB1 state field 'n' must be a list of 3 items"):
        UCB1.from_dict({**data, "n": [0, 0]})
    with pytest.raises(PolicyError, match=r"UCB1 state field 'rng' must be present"):
        UCB1.from_dict({k: v for k, v in data.items() if k != "rng"})
    with pytest.raises(PolicyError, match=r"'n\[0\]' must be an int >= 0"):
        UCB1.from_dict({**data, "n": [-1, 0, 0], "t": -1})
    with pytest.raises(PolicyError, match=r"'t' must be the total count of the arms \(0\)"):
        UCB1.from_dict({**data, "t": 5})
    with pytest.raises(PolicyError, match="not 'UCB1'"):
        UCB1.from_dict({**data, "type": "EpsilonGreedy"})


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_thread_safe_updates_are_exact(name: str) -> None:
    bandit = FACTORIES[name]()

    def worker() -> None:
        for i in range(3000):
            bandit.update(ARMS[i % 3], 1.0 if i % 2 else 0.0)
            bandit.choose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bandit.counts == {"a": 4000, "b": 4000, "c": 4000}
    assert bandit.to_dict()["t"] == 12_000
    assert bandit.means["a"] == pytest.approx(0.5)


def test_thompson_bernoulli_choice_frequency_matches_the_posterior() -> None:
    from scipy import integrate, stats

    bandit = ThompsonSampling(["x", "y"], seed=3)
    bandit.update_many(["x"] * 30 + ["y"] * 20, [1.0] * 12 + [0.0] * 18 + [1.0] * 10 + [0.0] * 10)
    # P(draw_y > draw_x) with x ~ Beta(13, 19), y ~ Beta(11, 11).
    bx, by = stats.beta(13, 19), stats.beta(11, 11)
    p_y, _ = integrate.quad(lambda t: by.pdf(t) * bx.cdf(t), 0, 1)
    n = 20_000
    share = bandit.choose_many(n).count("y") / n
    assert share == pytest.approx(p_y, abs=4 * np.sqrt(p_y * (1 - p_y) / n))


def test_thompson_gaussian_choice_frequency_matches_the_posterior() -> None:
    from scipy import stats

    bandit = ThompsonSampling(["x", "y"], reward="gaussian", seed=4)
    x, y = [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 2.5]
    bandit.update_many(["x"] * 4 + ["y"] * 3, x + y)
    # Posterior of each mean: N(mean, s^2 / (n + 1)), s^2 = (M2 + prior_variance) / n.
    vx, vy = (np.var(x) * 4 + 1) / 4 / 5, (np.var(y) * 3 + 1) / 3 / 4
    p_y = stats.norm.cdf((np.mean(y) - np.mean(x)) / np.sqrt(vx + vy))
    n = 20_000
    share = bandit.choose_many(n).count("y") / n
    assert share == pytest.approx(p_y, abs=4 * np.sqrt(p_y * (1 - p_y) / n))


def test_property_reads_do_not_change_choices() -> None:
    # Regression: reading counts/means once re-ran setup and reset the best arm.
    a, b = EpsilonGreedy(ARMS, epsilon=0.0), EpsilonGreedy(ARMS, epsilon=0.0)
    for bandit in (a, b):
        bandit.update_many(ARMS, [1.0 if arm == "c" else 0.0 for arm in ARMS])
    _ = a.counts, a.means, a.to_dict()
    assert a.choose() == b.choose() == "c"


def test_golden_epsilon_greedy_sequence() -> None:
    # random.Random's random() is reproducible across Python versions and platforms.
    bandit = EpsilonGreedy(["a", "b", "c"], epsilon=0.3, seed=123)
    bandit.update_many(["a", "b", "c"], [0.0, 1.0, 0.0])  # every arm played: as before
    assert "".join(bandit.choose_many(30)) == "abcbbbbbabbabbabcbcbbbbbbbbbbb"
