"""Thompson sampling with Bernoulli (Beta posterior) or Gaussian rewards."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from prodml._params import Interval, OneOf, check_params
from prodml.errors import PolicyError
from prodml.rollout._bandits import Bandit

__all__ = ["ThompsonSampling"]


class ThompsonSampling(Bandit):
    """Thompson sampling: play the arm whose posterior draw is highest.

    ``reward="bernoulli"``: rewards in [0, 1] (a fractional reward counts as that share
    of a success), Beta(``prior_alpha + successes``, ``prior_beta + failures``) posterior.
    ``reward="gaussian"``: any real reward; the posterior of an arm's mean is taken as
    normal with mean the sample mean and variance ``s**2 / (n + 1)``, where ``s**2`` is the
    sample variance (``prior_variance`` until an arm has two rewards). An arm never
    played is drawn from ``N(0, prior_variance)``.

    Parameters
    ----------
    arms
        Arm names.
    reward
        ``"bernoulli"`` or ``"gaussian"``.
    prior_alpha, prior_beta
        Beta prior of the Bernoulli model (1, 1 is uniform).
    prior_variance
        Prior variance of the Gaussian model.
    seed
        Seed of the random generator, for reproducible choices.

    Examples
    --------
    >>> bandit = ThompsonSampling(["a", "b"], seed=1)
    >>> bandit.update_many(["a"] * 50 + ["b"] * 50, [0] * 45 + [1] * 5 + [1] * 30 + [0] * 20)
    >>> bandit.choose_many(6)
    ['b', 'b', 'b', 'b', 'b', 'b']
    """

    _kind: ClassVar[str] = "ThompsonSampling"

    def __init__(
        self,
        arms: Sequence[str],
        *,
        reward: str = "bernoulli",
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        prior_variance: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(arms, seed=seed)
        self.reward = reward
        self.prior_alpha = prior_alpha
        self.prior_beta = prior_beta
        self.prior_variance = prior_variance

    def _check(self) -> None:
        super()._check()
        positive = [Interval(float, 0, None, "neither")]
        check_params(
            self._kind,
            self._params(),
            {
                "reward": [OneOf(("bernoulli", "gaussian"))],
                "prior_alpha": positive,
                "prior_beta": positive,
                "prior_variance": positive,
            },
        )

    def _check_reward(self, arm: str, reward: float) -> float:
        r = super()._check_reward(arm, reward)
        if self.reward == "bernoulli" and not 0.0 <= r <= 1.0:
            raise PolicyError(
                f"ThompsonSampling: a bernoulli reward of arm {arm!r} must be in [0, 1]. "
                f"Got {reward!r}.",
                variant=arm,
            )
        return r

    def _reward_range(self) -> tuple[float, float]:
        return (0.0, 1.0) if self.reward == "bernoulli" else super()._reward_range()

    def _invalid_rewards(self, values: np.ndarray) -> list[int]:
        if self.reward != "bernoulli":
            return []
        return np.flatnonzero((values < 0.0) | (values > 1.0))[:1].tolist()

    def _pick(self) -> int:
        rng = self._rng
        best, best_draw = 0, -math.inf
        if self.reward == "bernoulli":
            a0, b0, beta = float(self.prior_alpha), float(self.prior_beta), rng.betavariate
            for i, (n, m) in enumerate(zip(self._n, self._mean, strict=True)):
                s = m * n
                draw = beta(a0 + s, b0 + n - s)
                if draw > best_draw:
                    best, best_draw = i, draw
            return best
        v0, gauss = float(self.prior_variance), rng.normalvariate
        for i, (n, m, m2) in enumerate(zip(self._n, self._mean, self._m2, strict=True)):
            var = m2 / (n - 1) if n > 1 else v0
            draw = gauss(m, math.sqrt(var / (n + 1)))
            if draw > best_draw:
                best, best_draw = i, draw
        return best

    def _params(self) -> dict[str, Any]:
        return {
            **super()._params(),
            "reward": self.reward,
            "prior_alpha": self.prior_alpha,
            "prior_beta": self.prior_beta,
            "prior_variance": self.prior_variance,
        }
