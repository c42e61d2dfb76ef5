"""Thompson sampling with Bernoulli (Beta posterior) or Gaussian rewards.

Speed without approximation: decisions are made ahead, in blocks. A block of ``b``
decisions takes ``b`` posterior draws per arm (one vectorised numpy call per arm, after
any unused draws left over) and stores the argmax of each row; ``choose``
hands out the next decision of the block, which is one step of a list iterator. Any
change of a posterior (``update``, ``update_many``, restore) drops the rest of the block
and the spare draws of the changed arm. Between two changes the posteriors are fixed, so
every row is an independent draw from exactly the posteriors a one-draw-at-a-time sampler
would use; dropped draws were never seen by anyone, so dropping them changes nothing
either. The block size is 1 after a change and doubles with every block (to ``_CAP``),
so a loop alternating ``choose`` and ``update`` computes one decision at a time, while a
run of decisions costs a fraction of a microsecond each.

Gaussian draws are ``mean + sd * z`` with ``z`` from a stream of standard normals shared
by the arms; ``z`` does not depend on any posterior, so updates never drop it.

The random stream is a numpy ``Generator`` on ``PCG64``. Its state, the pending
decisions, the spare draws and the next block size are in ``to_dict()``, so a restored
bandit makes exactly the choices the original would have made.
"""

from __future__ import annotations

import itertools
import math
import operator
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

import numpy as np

from prodml._params import Interval, OneOf, check_params
from prodml._quote import short_repr
from prodml.errors import PolicyError
from prodml.rollout._bandits import MAX_CHOICES, Bandit

__all__ = ["ThompsonSampling"]

_T = TypeVar("_T", bound="ThompsonSampling")

_CAP = 256
"""Largest block: beyond it the cost per decision no longer drops (and the JSON grows)."""
_MIN_DRAW = 4
"""Fewest draws per numpy call: a few cost the same as one."""
_GAUSSIAN_FIRST = 2
"""Rewards a Gaussian arm gets before it is sampled: its first plays come in turn."""

# With the GIL, stepping a list iterator is atomic, so ``choose`` can skip the lock; a
# free-threaded build always takes it.
_GIL = bool(getattr(sys, "_is_gil_enabled", lambda: True)())

_EXHAUSTED_IT: Iterator[str] = iter([])
_EXHAUSTED: Callable[[], str] = _EXHAUSTED_IT.__next__
"""A ``__next__`` that always raises StopIteration: ``choose``'s handle before setup."""


class ThompsonSampling(Bandit):
    """Thompson sampling: play the arm whose posterior draw is highest.

    ``reward="bernoulli"``: rewards in [0, 1] (a fractional reward counts as that share
    of a success), Beta(``prior_alpha + successes``, ``prior_beta + failures``) posterior.
    An arm never played (also one added with :meth:`add_arm`) is not forced first: its
    prior is a proper distribution on [0, 1], so it is drawn above the best arm with the
    probability the prior gives it (1 - p for a best arm at rate p under Beta(1, 1)) and
    is tried soon, as the Bayesian rule says; forcing it would add regret when the prior
    is informative.
    ``reward="gaussian"``: any real reward. Each arm is played twice first, in the order
    listed (as UCB1 plays each arm once): a prior centred on 0 would never pick an arm
    again once another arm's rewards are far from 0. Then the posterior of an arm's mean
    is taken as normal with mean the sample mean and variance ``s**2 / (n + 1)``, where
    ``s**2 = (M2 + prior_variance) / n`` is the sample variance with one pseudo-observation
    of ``prior_variance`` (``M2`` the sum of squared deviations): two equal rewards do
    not make a point mass that would never be played again.

    Every decision uses fresh, independent draws from the current posteriors. They are
    drawn ahead in small vectorised blocks that any update discards, which makes a
    decision cost well under a microsecond without changing its distribution.

    Parameters
    ----------
    arms
        Arm names.
    reward
        ``"bernoulli"`` or ``"gaussian"``.
    prior_alpha, prior_beta
        Beta prior of the Bernoulli model (1, 1 is uniform).
    prior_variance
        Variance of the pseudo-observation the Gaussian model adds to each arm's rewards
        (use the rough scale of the rewards' variance).
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
    _JSON_PARAMS = (*Bandit._JSON_PARAMS, "reward", "prior_alpha", "prior_beta", "prior_variance")

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
        # The decision block: ``_block`` and ``_bit`` (an iterator over it). ``_bnext``
        # is what ``choose`` calls: ``_bit.__next__`` (lock-free), or the locked path
        # after an update; before setup an exhausted handle, which leads there too.
        self._block: list[str] = []
        self._bit: Iterator[str] = _EXHAUSTED_IT
        self._bnext: Callable[[], str] = _EXHAUSTED
        self._bsize = 1

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

    def _init_extra(self) -> None:
        self._gen = np.random.Generator(np.random.PCG64(self.seed))
        self._names_arr = np.array(self._names, dtype=object)
        self._gaussian = self.reward == "gaussian"
        # Bernoulli: per arm, unused Beta draws of its current posterior. Gaussian: unused
        # standard normals, and per arm the posterior's (mean, sd).
        k = len(self._names)
        self._spare: list[list[float]] = [[] for _ in range(k)]
        self._spos = [0] * k  # draws of ``_spare[j]`` already used
        self._zspare: list[float] = []
        self._zpos = 0
        self._ms: list[tuple[float, float] | None] = [None] * k
        self._slow: Callable[[], str] = self._choose_locked
        self._after_update_all()

    def _arm_added(self) -> None:
        self._names_arr = np.array(self._names, dtype=object)
        self._spare.append([])
        self._spos.append(0)
        self._ms.append(None)

    def _check_reward(self, arm: str, reward: float) -> float:
        r = super()._check_reward(arm, reward)
        if self.reward == "bernoulli" and not 0.0 <= r <= 1.0:
            raise PolicyError(
                f"ThompsonSampling: a bernoulli reward of arm {short_repr(arm)} must be in [0, 1]. "
                f"Got {short_repr(reward)}.",
                variant=arm,
            )
        return r

    def _reward_range(self) -> tuple[float, float]:
        return (0.0, 1.0) if self.reward == "bernoulli" else super()._reward_range()

    def _invalid_rewards(self, values: np.ndarray) -> list[int]:
        if self.reward != "bernoulli":
            return []
        return np.flatnonzero((values < 0.0) | (values > 1.0))[:1].tolist()

    # -- the decision block ----------------------------------------------------------------
    def _after_update(self, i: int) -> None:
        # Hot path of ``update``: drop the pending decisions and the arm's spare draws;
        # the next ``choose`` goes straight to the locked path (no exception raised).
        self._bnext = self._slow
        self._bit = _EXHAUSTED_IT
        self._bsize = 1
        if self._gaussian:
            self._ms[i] = None  # recomputed by the next decision
        else:
            self._spare[i] = []
            self._spos[i] = 0

    def _after_update_all(self) -> None:
        for i in range(len(self._names)):
            self._after_update(i)

    def _beta(self, j: int, size: int) -> np.ndarray:
        """``size`` fresh draws from arm ``j``'s Beta posterior (lock held)."""
        n = self._n[j]
        succ = max(self._mean[j] * n, 0.0)
        alpha = float(self.prior_alpha) + succ
        beta = float(self.prior_beta) + max(n - succ, 0.0)
        return self._gen.beta(alpha, beta, size)

    def _take_draws(self, j: int, b: int) -> np.ndarray:
        """The next ``b`` Beta draws of arm ``j``: spare ones first (lock held)."""
        spare, pos = self._spare[j], self._spos[j]
        left = len(spare) - pos
        if left >= b:
            self._spos[j] = pos + b
            return np.array(spare[pos : pos + b])
        self._spare[j], self._spos[j] = [], 0
        fresh = self._beta(j, b - left)
        return np.concatenate((spare[pos:], fresh)) if left else fresh

    def _take_normals(self, count: int) -> np.ndarray:
        """The next ``count`` standard normals: spare ones first (lock held)."""
        spare, pos = self._zspare, self._zpos
        left = len(spare) - pos
        if left >= count:
            self._zpos = pos + count
            return np.array(spare[pos : pos + count])
        self._zspare, self._zpos = [], 0
        fresh = self._gen.standard_normal(count - left)
        return np.concatenate((spare[pos:], fresh)) if left else fresh

    def _posteriors(self) -> list[tuple[float, float]]:
        """Per arm, (mean, sd) of the Gaussian posterior of its mean (lock held).

        An arm with fewer than two rewards gets ``(inf, 0)``: it is played first (the
        first such arm listed), as a draw from a prior centred on 0 would never be
        played once another arm's rewards are far above 0.
        """
        ms = self._ms
        if None in ms:
            v0 = float(self.prior_variance)
            for i, item in enumerate(ms):
                if item is None:
                    n, m2 = self._n[i], max(self._m2[i], 0.0)
                    if n < _GAUSSIAN_FIRST:
                        ms[i] = (math.inf, 0.0)
                        continue
                    # One pseudo-observation of prior_variance: never a point mass.
                    var = (m2 + v0) / n
                    ms[i] = (self._mean[i], math.sqrt(var / (n + 1)))
        return cast("list[tuple[float, float]]", ms)

    def _one(self) -> str:
        """One decision, in plain Python (lock held): the block size is 1."""
        k = len(self._names)
        if self._gaussian:
            z, pos = self._zspare, self._zpos
            if len(z) - pos < k:  # top up with a few normals per arm
                z = z[pos:] + self._gen.standard_normal(_MIN_DRAW * k).tolist()
                self._zspare, pos = z, 0
            self._zpos = pos + k
            d = [m + s * x for (m, s), x in zip(self._posteriors(), z[pos : pos + k], strict=True)]
        else:
            spare, spos = self._spare, self._spos
            d = []
            for j in range(k):
                pos = spos[j]
                if pos == len(spare[j]):  # a few draws cost the same as one
                    spare[j], pos = self._beta(j, _MIN_DRAW).tolist(), 0
                d.append(spare[j][pos])
                spos[j] = pos + 1
        return self._names[d.index(max(d))]

    def _build(self) -> None:
        """Make the next block of decisions (lock held); the next one is twice as long."""
        b = self._bsize
        self._bsize = min(2 * b, _CAP)
        k = len(self._names)
        if self._gaussian:
            mean, sd = np.array(self._posteriors()).T
            draws = self._take_normals(b * k).reshape(b, k) * sd + mean
        else:
            draws = np.stack([self._take_draws(j, b) for j in range(k)], axis=1)
        self._set_block(self._names_arr[draws.argmax(axis=1)].tolist())

    def _set_block(self, block: list[str]) -> None:
        self._block = block
        self._bit = iter(block)
        self._bnext = self._bit.__next__ if _GIL else _EXHAUSTED

    def _choose_locked(self) -> str:
        if not self._ready:
            self._setup()
        with self._lock:
            for arm in self._bit:
                return arm
            if self._bsize == 1:  # just after an update: no block, one decision
                self._bsize = 2
                return self._one()
            self._build()
            return next(self._bit)

    def choose(self) -> str:
        """Return the arm to play next: the highest of one posterior draw per arm.

        Lock-free while the current block of decisions lasts (one iterator step).
        """
        try:
            return self._bnext()
        except StopIteration:
            return self._choose_locked()

    def choose_many(self, n: int) -> list[str]:
        """Return ``n`` arms, exactly as ``n`` calls of :meth:`choose` would (no updates between).

        Raises
        ------
        ConfigError
            When ``n`` is not an int in ``[0, MAX_CHOICES]`` (10,000,000: the list it
            returns is allocated whole).
        """
        check_params(f"{self._kind}.choose_many", {"n": n}, {"n": [Interval(int, 0, MAX_CHOICES)]})
        if not self._ready:
            self._setup()
        out: list[str] = []
        with self._lock:
            while True:  # the same steps, in the same order, as the loop of choose()
                out.extend(itertools.islice(self._bit, n - len(out)))
                if len(out) == n:
                    return out
                if self._bsize == 1:
                    self._bsize = 2
                    out.append(self._one())
                else:
                    self._build()

    def _pick(self) -> int:
        return self._index[self._choose_locked()]

    @staticmethod
    def _left(items: list[str], it: Iterator[str]) -> list[str]:
        """The part of ``items`` that ``it`` has not handed out yet (lock held)."""
        left = operator.length_hint(it)
        return items[len(items) - left :] if left else []

    # -- state -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return settings, per-arm statistics and the sampler state as a JSON-safe dict.

        The ``sampler`` entry holds the ``PCG64`` state (128-bit integers as hex
        strings), the pending decisions of the current block (arm indices), the next
        block size, each arm's unused Beta draws and the unused standard normals.
        """
        self._setup()
        with self._lock:
            data = super().to_dict()
            state = self._gen.bit_generator.state
            data["sampler"] = {
                "bit_generator": state["bit_generator"],
                "state": format(state["state"]["state"], "x"),
                "inc": format(state["state"]["inc"], "x"),
                "has_uint32": int(state["has_uint32"]),
                "uinteger": int(state["uinteger"]),
                "pending": [self._index[a] for a in self._left(self._block, self._bit)],
                "block_size": self._bsize,
                "draws": [x[p:] for x, p in zip(self._spare, self._spos, strict=True)],
                "normals": self._zspare[self._zpos :],
            }
            return data

    @classmethod
    def from_dict(cls: type[_T], data: Mapping[str, Any]) -> _T:
        """Rebuild a bandit written by :meth:`to_dict`; it continues exactly where it was."""
        bandit = super().from_dict(data)
        k = len(bandit._names)
        try:
            sampler = data["sampler"]
            if sampler["bit_generator"] != "PCG64":
                raise PolicyError(
                    f"Stored {cls._kind} state has an unknown generator "
                    f"{short_repr(sampler['bit_generator'])}; expected 'PCG64'."
                )
            draws = [[float(x) for x in arm] for arm in sampler["draws"]]
            normals = [float(x) for x in sampler["normals"]]
            if len(draws) != k:
                raise PolicyError(f"Stored {cls._kind} state has draws for the wrong arms.")
            if not all(math.isfinite(x) for arm in [*draws, normals] for x in arm):
                raise PolicyError(f"Stored {cls._kind} state has a non-finite draw.")
            pending = [int(i) for i in sampler["pending"]]
            if not all(0 <= i < k for i in pending):
                raise PolicyError(f"Stored {cls._kind} state has a pending arm out of range.")
            size = int(sampler["block_size"])
            if not 1 <= size <= _CAP:
                raise PolicyError(
                    f"Stored {cls._kind} state has block_size {size}; expected 1 to {_CAP}."
                )
            bandit._gen.bit_generator.state = {
                "bit_generator": "PCG64",
                "state": {"state": int(sampler["state"], 16), "inc": int(sampler["inc"], 16)},
                "has_uint32": int(sampler["has_uint32"]),
                "uinteger": int(sampler["uinteger"]),
            }
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            if isinstance(err, PolicyError):
                raise
            raise PolicyError(f"Stored {cls._kind} state is malformed: {short_repr(err)}.") from err
        with bandit._lock:
            bandit._spare = draws
            bandit._spos = [0] * k
            bandit._zspare = normals
            bandit._zpos = 0
            bandit._set_block([bandit._names[i] for i in pending])
            bandit._bsize = size
        return bandit
