"""Unplayed arms, at the start or added later, are tried as each bandit's rule says."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate, stats

from prodml.errors import PolicyError
from prodml.rollout import UCB1, EpsilonGreedy, ThompsonSampling
from prodml.rollout._bandits import Bandit

MAKERS: dict[str, Callable[[], Bandit]] = {
    "eps": lambda: EpsilonGreedy(["a", "b"], epsilon=0.0, seed=1),
    "ucb": lambda: UCB1(["a", "b"]),
    "ts_gauss": lambda: ThompsonSampling(["a", "b"], reward="gaussian", seed=1),
    "ts_bern": lambda: ThompsonSampling(["a", "b"], seed=1),
}


def test_greedy_epsilon_zero_tries_every_arm_first() -> None:
    bandit = EpsilonGreedy(["a", "b", "c"], epsilon=0.0)
    bandit.update("a", 0.5)  # a positive mean used to hide b and c (counted as 0) forever
    assert bandit.choose() == "b"
    bandit.update("b", 0.1)
    assert bandit.choose_many(3) == ["c"] * 3
    bandit.update("c", 0.9)
    assert bandit.choose_many(3) == ["c"] * 3  # all played: the best mean
    # negative rewards: the same order (an unplayed arm is not "0.0, so better")
    neg = EpsilonGreedy(["a", "b", "c"], epsilon=0.0)
    neg.update("b", -1.0)
    assert neg.choose() == "a"
    neg.update_many(["a", "c"], [-3.0, -2.0])
    assert neg.choose() == "b"


def test_greedy_restored_state_tries_the_unplayed_arm() -> None:
    bandit = EpsilonGreedy(["a", "b"], epsilon=0.0)
    bandit.update("a", 1.0)
    assert EpsilonGreedy.from_json(bandit.to_json()).choose() == "b"


@pytest.mark.parametrize("kind", ["eps", "ucb", "ts_gauss"])
def test_an_added_arm_is_played_next(kind: str) -> None:
    bandit = MAKERS[kind]()
    rng = np.random.default_rng(0)
    for _ in range(200):
        arm = bandit.choose()
        bandit.update(arm, float(rng.normal(1.0 if arm == "a" else 0.0, 0.1)))
    bandit.add_arm("new")
    assert bandit.counts["new"] == 0
    assert bandit.means["new"] == 0.0
    firsts = 2 if kind == "ts_gauss" else 1  # Gaussian Thompson plays each arm twice first
    for _ in range(firsts):
        assert bandit.choose() == "new"
        bandit.update("new", 0.0)
    assert bandit.counts["new"] == firsts
    if kind == "eps":  # greedy: back to the best mean (UCB1 still explores the new arm)
        assert bandit.choose() == "a"


def test_bernoulli_thompson_draws_a_new_arm_with_its_prior_probability() -> None:
    # Cross-check with scipy: P(new arm is chosen) = integral of f_new(x) prod F_j(x) dx.
    bandit = ThompsonSampling(["a", "b"], seed=3)
    bandit.update_many(["a"] * 40 + ["b"] * 40, [1] * 30 + [0] * 10 + [1] * 10 + [0] * 30)
    bandit.add_arm("new")
    post = {"a": stats.beta(31, 11), "b": stats.beta(11, 31), "new": stats.beta(1, 1)}

    def density(x: float) -> float:
        return float(post["new"].pdf(x) * post["a"].cdf(x) * post["b"].cdf(x))

    p_new = integrate.quad(density, 0.0, 1.0)[0]
    n = 40_000
    share = bandit.choose_many(n).count("new") / n
    assert share == pytest.approx(p_new, abs=4 * np.sqrt(p_new * (1 - p_new) / n))
    assert 0.2 < p_new < 0.3  # tried often, not forced


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_an_added_arm_round_trips(kind: str) -> None:
    bandit = MAKERS[kind]()
    bandit.update_many(["a", "b", "a"], [1.0, 0.0, 1.0])
    bandit.add_arm("c")
    data = json.loads(bandit.to_json())
    assert data["params"]["arms"] == ["a", "b", "c"]
    restored = type(bandit).from_dict(data)
    assert restored.choose_many(50) == bandit.choose_many(50)
    restored.update("c", 1.0)
    bandit.update("c", 1.0)
    assert restored.choose_many(50) == bandit.choose_many(50)
    assert restored.counts == bandit.counts == {"a": 2, "b": 1, "c": 1}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_bad_new_arms_are_refused_and_change_nothing(kind: str) -> None:
    bandit = MAKERS[kind]()
    bandit.update("a", 1.0)
    before = bandit.to_json()
    for bad, match in (
        ("a", "arm 'a' exists already"),
        ("", "non-empty strings"),
        ("x" * 201, "at most 200 characters"),
        (3, "non-empty strings"),
    ):
        with pytest.raises(PolicyError, match=match):
            bandit.add_arm(bad)  # type: ignore[arg-type]
        assert bandit.to_json() == before


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_arms_added_while_other_threads_choose_and_update(kind: str) -> None:
    bandit = MAKERS[kind]()
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def worker() -> None:
        try:
            start.wait()
            for i in range(400):
                arm = bandit.choose()
                bandit.update(arm, float(i % 2))
        except BaseException as e:  # noqa: BLE001 - collected for the assert below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    start.wait()
    for j in range(30):
        bandit.add_arm(f"arm{j}")
    for t in threads:
        t.join()
    assert not errors
    assert sum(bandit.counts.values()) == 4 * 400  # no update lost
    assert len(bandit.counts) == 32
    type(bandit).from_json(bandit.to_json())  # a consistent state
