"""Independent audit of the bandits: regret, convergence, restore mid-run, unplayed arms."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from prodml.errors import PolicyError
from prodml.rollout import UCB1, EpsilonGreedy, ThompsonSampling
from prodml.rollout._bandits import Bandit

ARMS = ["a0", "a1", "a2"]


def _run(
    bandit: Bandit, means: list[float], sd: float, steps: int, seed: int
) -> tuple[list[float], list[int]]:
    """Play ``steps`` rounds; return the cumulative regret and the arm index of each round."""
    rng = np.random.default_rng(seed)
    best = max(means)
    regret, chosen, total = [], [], 0.0
    for _ in range(steps):
        i = ARMS.index(bandit.choose())
        mu = means[i]
        reward = float(rng.normal(mu, sd)) if sd else float(rng.random() < mu)
        bandit.update(ARMS[i], reward)
        total += best - mu
        regret.append(total)
        chosen.append(i)
    return regret, chosen


CASES: dict[str, tuple[Callable[[int], Bandit], list[float], float]] = {
    "thompson-bernoulli": (lambda s: ThompsonSampling(ARMS, seed=s), [0.2, 0.5, 0.3], 0.0),
    "ucb1-bernoulli": (lambda s: UCB1(ARMS, seed=s), [0.2, 0.5, 0.3], 0.0),
    "thompson-gaussian": (
        lambda s: ThompsonSampling(ARMS, reward="gaussian", seed=s),
        [0.0, 0.5, 0.2],
        1.0,
    ),
    # rewards far from the prior's centre (revenue, latency): the arms' order must not
    # depend on where 0 is. Before the fix every run stuck to its first arm.
    "thompson-gaussian-offset": (
        lambda s: ThompsonSampling(ARMS, reward="gaussian", seed=s),
        [100.0, 100.5, 100.2],
        1.0,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_regret_is_sublinear_and_the_best_arm_takes_over(case: str) -> None:
    make, means, sd = CASES[case]
    best = int(np.argmax(means))
    steps = 6000
    for seed in range(4):
        regret, chosen = _run(make(seed), means, sd, steps, seed)
        # second half's regret well below the first half's: not linear
        first, second = regret[steps // 2 - 1], regret[-1] - regret[steps // 2 - 1]
        assert second < 0.5 * first, (seed, first, second)
        share_late = chosen[-1000:].count(best) / 1000
        assert share_late > 0.9, (seed, share_late)


def test_epsilon_greedy_share_of_the_best_arm_tends_to_its_ceiling() -> None:
    # Constant epsilon explores forever (linear regret by design): the best arm's share
    # tends to 1 - epsilon (k - 1) / k, not to 1.
    eps = 0.1
    for seed in range(4):
        _, chosen = _run(
            EpsilonGreedy(ARMS, epsilon=eps, seed=seed), [0.2, 0.5, 0.3], 0.0, 6000, seed
        )
        share = chosen[-3000:].count(1) / 3000
        ceiling = 1 - eps * 2 / 3
        assert share == pytest.approx(ceiling, abs=4 * np.sqrt(ceiling * (1 - ceiling) / 3000))


def test_gaussian_thompson_does_not_freeze_an_arm_on_two_equal_rewards() -> None:
    # 0/1-valued rewards through the Gaussian model, and an unlucky start: the better arm
    # got two 0s, the worse two 1s. Both used to be point masses (sample variance 0), so
    # the better arm was never played again.
    for seed in range(5):
        rng = np.random.default_rng(seed)
        bandit = ThompsonSampling(["worse", "better"], reward="gaussian", seed=seed)
        bandit.update_many(["worse", "worse", "better", "better"], [1.0, 1.0, 0.0, 0.0])
        for _ in range(3000):
            arm = bandit.choose()
            bandit.update(arm, float(rng.random() < (0.3 if arm == "worse" else 0.6)))
        assert bandit.counts["better"] > 1500, (seed, bandit.counts)


@pytest.mark.parametrize("case", ["eps", "ucb", "ts-bern", "ts-gauss"])
def test_json_round_trip_mid_run_continues_as_the_uninterrupted_run(case: str) -> None:
    make: Callable[[], Bandit] = {
        "eps": lambda: EpsilonGreedy(ARMS, epsilon=0.2, seed=5),
        "ucb": lambda: UCB1(ARMS),
        "ts-bern": lambda: ThompsonSampling(ARMS, seed=5),
        "ts-gauss": lambda: ThompsonSampling(ARMS, reward="gaussian", seed=5),
    }[case]
    means = [0.3, 0.6, 0.4]

    def play(
        bandit: Bandit, rng: np.random.Generator, start: int, stop: int
    ) -> tuple[Bandit, list[str]]:
        out = []
        for t in range(start, stop):
            if t % 7 == 3:  # decisions without rewards in between too
                out += bandit.choose_many(3)
            arm = bandit.choose()
            bandit.update(arm, float(rng.random() < means[ARMS.index(arm)]))
            out.append(arm)
        return bandit, out

    rng = np.random.default_rng(1)
    _, whole = play(make(), rng, 0, 400)
    rng = np.random.default_rng(1)
    first, part1 = play(make(), rng, 0, 170)
    restored = type(first).from_json(json.dumps(json.loads(first.to_json())))
    _, part2 = play(restored, rng, 170, 400)
    assert part1 + part2 == whole


def test_unplayed_arms_come_first() -> None:
    assert UCB1(ARMS).choose_many(1) == ["a0"]
    ucb = UCB1(ARMS)
    order = []
    for _ in range(3):
        arm = ucb.choose()
        order.append(arm)
        ucb.update(arm, 1.0)  # a perfect first arm does not stop the others' first play
    assert order == ARMS
    ts = ThompsonSampling(ARMS, reward="gaussian", seed=0)
    order = []
    for r in range(6):
        arm = ts.choose()
        order.append(arm)
        ts.update(arm, 1000.0 if r < 2 else -1000.0)
    assert order == ["a0", "a0", "a1", "a1", "a2", "a2"]


def test_a_saved_state_with_other_arms_is_refused() -> None:
    # Arms cannot be added to or removed from a saved bandit: a state edited to do so is
    # refused with a message, not loaded half-way.
    bandit = ThompsonSampling(ARMS, seed=0)
    bandit.update_many(ARMS, [1.0, 0.0, 1.0])
    data = bandit.to_dict()
    data["params"]["arms"] = [*ARMS, "a3"]
    with pytest.raises(PolicyError):
        ThompsonSampling.from_dict(data)
    data["params"]["arms"] = ARMS[:2]
    with pytest.raises(PolicyError):
        ThompsonSampling.from_dict(data)
