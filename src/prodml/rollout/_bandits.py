"""Multi-armed bandits: the shared base, epsilon-greedy and UCB1.

Thompson sampling lives in ``_thompson``.

The hot paths (``choose``, ``update``) are plain Python on lists with a lock around them:
no numpy call, no validation beyond a finiteness check, so a single call costs about a
microsecond. Randomness comes from :class:`random.Random`, whose whole state is a tuple
of integers, so it round-trips through JSON and a restored bandit draws exactly the
same arms as the original would have.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from prodml._params import NONE, Interval, check_params
from prodml._quote import short_repr
from prodml._state import MAX_COUNT, MAX_MAGNITUDE, Field
from prodml.errors import ConfigError, PolicyError
from prodml.rollout._base import PolicyBase, check_state
from prodml.rollout._summary import first_text

__all__ = ["UCB1", "Bandit", "EpsilonGreedy"]

_MAX_ARMS = 100_000  # arms of a bandit (and of a saved state)
MAX_ARM_NAME = 200
"""Characters of an arm name (the constructor and the saved-state loader agree)."""
_B = TypeVar("_B", bound="Bandit")


MAX_REWARD = MAX_MAGNITUDE
"""Largest reward magnitude a bandit takes (:data:`prodml._state.MAX_MAGNITUDE`): beyond
it, sums of squares overflow and the saved state could not be loaded back."""

MAX_CHOICES = 10_000_000
"""Most arms one ``choose_many`` call returns (a ConfigError above)."""


class Bandit(PolicyBase):
    """Shared state of every bandit: per-arm count, mean and squared deviations.

    Subclasses implement :meth:`_pick` (the index of the arm to play), called with the
    lock held.
    """

    _kind: ClassVar[str] = "Bandit"
    _JSON_PARAMS: ClassVar[tuple[str, ...]] = ("seed",)

    def __init__(self, arms: Sequence[str], *, seed: int | None = None) -> None:
        super().__init__()
        self.arms: Sequence[str] = arms
        self.seed = seed
        self._ready = False

    # -- setup -------------------------------------------------------------------------
    def _check(self) -> None:
        """Validate settings; subclasses extend with their own parameters."""
        arms = self.arms
        if isinstance(arms, str) or not isinstance(arms, Sequence) or len(arms) < 1:
            raise PolicyError(
                f"{self._kind} needs a non-empty list of arm names. Got {short_repr(arms)}."
            )
        if len(arms) > _MAX_ARMS:
            raise PolicyError(
                f"{self._kind}: arms must have at most {_MAX_ARMS:,} names. Got {len(arms):,}."
            )
        for a in arms:
            if not isinstance(a, str) or not 0 < len(a) <= MAX_ARM_NAME:
                raise PolicyError(
                    f"{self._kind}: arm names must be non-empty strings of at most "
                    f"{MAX_ARM_NAME} characters. Got {short_repr(a)}."
                )
        if len(set(arms)) != len(arms):
            raise PolicyError(
                f"{self._kind}: arm names must be unique. Got {short_repr(list(arms))}."
            )
        check_params(self._kind, {"seed": self.seed}, {"seed": [Interval(int, 0, None), NONE]})

    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            self._check()
            self._names: tuple[str, ...] = tuple(self.arms)
            self._index = {a: i for i, a in enumerate(self._names)}
            k = len(self._names)
            self._n: list[int] = [0] * k
            self._mean: list[float] = [0.0] * k
            self._m2: list[float] = [0.0] * k
            self._t = 0
            self._rng = random.Random(self.seed)  # noqa: S311 - not for cryptography
            self._random = self._rng.random
            self._low, self._high = self._reward_range()
            self._init_extra()
            self._ready = True

    def _init_extra(self) -> None:
        """Hook run once, with the lock held, at the end of setup."""

    def _reward_range(self) -> tuple[float, float]:
        """Bounds of a valid reward (+-MAX_REWARD by default)."""
        return -MAX_REWARD, MAX_REWARD

    # -- public API --------------------------------------------------------------------
    def choose(self) -> str:
        """Return the arm to play next."""
        if not self._ready:
            self._setup()
        with self._lock:
            return self._names[self._pick()]

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
        with self._lock:
            names, pick = self._names, self._pick
            return [names[pick()] for _ in range(n)]

    def _arm_index(self, arm: str) -> int:
        try:
            return self._index[arm]
        except (KeyError, TypeError):
            raise PolicyError(
                f"{self._kind}: unknown arm {short_repr(arm)}; arms are {list(self._names)}.",
                variant=arm,
            ) from None

    def _check_reward(self, arm: str, reward: float) -> float:
        try:
            given: object = reward  # typed float; at run time anything a caller passes
            if isinstance(given, str | bytes):  # float("1") would parse it
                raise TypeError
            r = float(reward)
        except (TypeError, ValueError, OverflowError):
            raise PolicyError(
                f"{self._kind}: the reward of arm {short_repr(arm)} must be a number. "
                f"Got {short_repr(reward)}.",
                variant=arm,
            ) from None
        if not math.isfinite(r):
            raise PolicyError(
                f"{self._kind}: the reward of arm {short_repr(arm)} must be finite. "
                f"Got {short_repr(reward)}.",
                variant=arm,
            )
        if not self._low <= r <= self._high:
            raise PolicyError(
                f"{self._kind}: the reward of arm {short_repr(arm)} must be in "
                f"[{self._low:g}, {self._high:g}]. Got {short_repr(reward)}.",
                variant=arm,
            )
        return r

    def update(self, arm: str, reward: float) -> None:
        """Record the ``reward`` obtained by playing ``arm``.

        Raises
        ------
        PolicyError
            For an unknown arm or a NaN, infinite or out-of-range reward.
        """
        if not self._ready:
            self._setup()
        try:
            i = self._index[arm]
        except (KeyError, TypeError):
            i = self._arm_index(arm)
        # Fast path: a plain number inside the range (NaN and inf fail the comparison).
        tr = type(reward)
        if (tr is float or tr is int) and self._low <= reward <= self._high:
            r = reward
        else:
            r = self._check_reward(arm, reward)
        with self._lock:
            n = self._n[i] + 1
            mean = self._mean[i]
            delta = r - mean
            mean += delta / n
            self._n[i] = n
            self._mean[i] = mean
            self._m2[i] += delta * (r - mean)
            self._t += 1
            self._after_update(i)

    def update_many(self, arms: Sequence[str], rewards: ArrayLike) -> None:
        """Record many ``(arm, reward)`` pairs; all are validated before any is applied.

        The result equals calling :meth:`update` on each pair in order, to float rounding.

        Raises
        ------
        PolicyError
            When the lengths differ, or for the first unknown arm or bad reward.
        """
        if not self._ready:
            self._setup()
        if isinstance(arms, str | bytes) or not isinstance(arms, Iterable):
            raise PolicyError(
                f"{self._kind}.update_many: arms must be a sequence of arm names; "
                f"got {type(arms).__name__}."
            )
        arm_list = list(arms)
        at = first_text(rewards)
        if at is not None:
            raise PolicyError(
                f"{self._kind}.update_many: rewards must be numeric, not text: position "
                f"{at} holds text (cast the column to numbers first)."
            )
        try:
            values = np.asarray(rewards, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise PolicyError(f"{self._kind}.update_many: rewards must be numeric.") from None
        if values.size != len(arm_list):
            raise PolicyError(
                f"{self._kind}.update_many: got {len(arm_list)} arms and {values.size} rewards."
            )
        index = self._index
        try:
            idx = np.array([index[a] for a in arm_list], dtype=np.intp)
        except (KeyError, TypeError):
            for a in arm_list:  # name the first unknown arm
                self._arm_index(a)
            raise  # pragma: no cover - _arm_index raised above
        bad = ~((values >= self._low) & (values <= self._high))  # NaN too
        if bad.any():
            j = int(np.argmax(bad))
            self._check_reward(arm_list[j], values[j])
        for j in self._invalid_rewards(values):
            self._check_reward(arm_list[j], values[j])
        k = len(self._names)
        counts = np.bincount(idx, minlength=k)
        sums = np.bincount(idx, weights=values, minlength=k)
        batch_means = sums / np.maximum(counts, 1)
        dev = values - batch_means[idx]  # two-pass: squared deviations from the batch mean
        m2s = np.bincount(idx, weights=dev * dev, minlength=k)
        with self._lock:
            for i in np.flatnonzero(counts).tolist():
                nb = int(counts[i])
                mb = float(batch_means[i])
                m2b = float(m2s[i])
                na, ma = self._n[i], self._mean[i]
                n = na + nb
                delta = mb - ma
                self._mean[i] = ma + delta * nb / n
                self._m2[i] += m2b + delta * delta * na * nb / n
                self._n[i] = n
            self._t += len(arm_list)
            self._after_update_all()

    def _invalid_rewards(self, values: np.ndarray) -> list[int]:
        """Positions of rewards outside the bandit's range (none by default)."""
        return []

    def _after_update(self, i: int) -> None:
        """Hook run with the lock held after arm ``i`` was updated."""

    def _after_update_all(self) -> None:
        """Hook run with the lock held after a batch update."""

    def add_arm(self, arm: str) -> None:
        """Add an arm, never played, after the others (its count and mean are 0).

        Each bandit tries it as it tries an arm it was built with: UCB1 and
        EpsilonGreedy play it next (before any arm played already), Gaussian Thompson
        sampling plays it twice first, and Bernoulli Thompson sampling draws it from its
        prior, Beta(``prior_alpha``, ``prior_beta``). Saved states hold it like the others.

        Raises
        ------
        PolicyError
            For a name that is not a non-empty str of at most 200 characters, a name
            already used, or more than 100,000 arms; the bandit is unchanged then.
        """
        if not self._ready:
            self._setup()
        if not isinstance(arm, str) or not 0 < len(arm) <= MAX_ARM_NAME:
            raise PolicyError(
                f"{self._kind}: arm names must be non-empty strings of at most "
                f"{MAX_ARM_NAME} characters. Got {short_repr(arm)}."
            )
        with self._lock:
            if arm in self._index:
                raise PolicyError(f"{self._kind}: arm {short_repr(arm)} exists already.")
            if len(self._names) >= _MAX_ARMS:
                raise PolicyError(f"{self._kind}: arms must have at most {_MAX_ARMS:,} names.")
            # Lists grow before the index knows the arm: an update() that finds it there
            # (outside the lock) finds its slots too.
            self._n.append(0)
            self._mean.append(0.0)
            self._m2.append(0.0)
            self._names = (*self._names, arm)
            self.arms = list(self._names)
            self._index = {**self._index, arm: len(self._names) - 1}
            self._arm_added()
            self._after_update_all()

    def _arm_added(self) -> None:
        """Hook run with the lock held when an arm was appended (before the reset)."""

    @property
    def counts(self) -> dict[str, int]:
        """Number of rewards recorded per arm."""
        self._setup()
        with self._lock:
            return dict(zip(self._names, self._n, strict=True))

    @property
    def means(self) -> dict[str, float]:
        """Mean reward per arm (0.0 for an arm never updated)."""
        self._setup()
        with self._lock:
            return dict(zip(self._names, self._mean, strict=True))

    # -- state -------------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        return {"arms": list(self.arms), **super()._params()}

    def to_dict(self) -> dict[str, Any]:
        """Return settings, per-arm statistics and the RNG state as a JSON-safe dict."""
        self._setup()
        with self._lock:
            version, internal, gauss = self._rng.getstate()
            return {
                **self._header(),
                "params": self._params(),
                "n": list(self._n),
                "mean": list(self._mean),
                "m2": list(self._m2),
                "t": self._t,
                "rng": [version, list(internal), gauss],
            }

    @classmethod
    def from_dict(cls: type[_B], data: Mapping[str, Any]) -> _B:
        """Rebuild a bandit written by :meth:`to_dict`; it continues exactly where it was.

        Raises
        ------
        StateError
            (also a PolicyError) naming the field at fault: a count < 0, a mean outside
            the reward range, a negative sum of squares, ``t`` not the total count, a
            corrupt random-generator state.
        """
        check_state(data, cls._kind)
        root = Field(data, owner=cls._kind, error=PolicyError)
        params = root["params"].dict()
        arms = root["params"]["arms"]
        for arm in arms.each(min_len=1, max_len=_MAX_ARMS):
            arm.str(max_len=MAX_ARM_NAME, empty=False)
        try:
            bandit = cls(**params)
            bandit._setup()
        except (PolicyError, ConfigError) as err:
            raise root["params"].fail(f"valid settings ({err})") from None
        except TypeError:
            raise root["params"].fail("the settings of " + cls._kind) from None
        k = len(bandit._names)
        lo, hi = bandit._low, bandit._high
        n = root["n"].ints(length=k, lo=0, hi=MAX_COUNT)
        mean = root["mean"].floats(length=k, lo=lo, hi=hi)
        m2 = root["m2"].floats(length=k, lo=0.0)
        for i in range(k):
            if n[i] == 0:
                root["mean"][i].check(mean[i] == 0.0, "0.0 for an arm never updated")
                root["m2"][i].check(m2[i] == 0.0, "0.0 for an arm never updated")
        t = root["t"].int(lo=0, hi=MAX_COUNT)
        root["t"].check(t == sum(n), f"the total count of the arms ({sum(n)})")
        rng = root["rng"].each(length=3)
        version = rng[0].int()
        internal = rng[1].ints(length=625, lo=0, hi=2**32 - 1)
        gauss = rng[2].optional_float()
        try:
            bandit._rng.setstate((version, tuple(internal), gauss))
        except (TypeError, ValueError, OverflowError):
            raise root["rng"].fail("a random.Random state") from None
        bandit._n, bandit._mean, bandit._m2, bandit._t = n, mean, m2, t
        bandit._after_update_all()
        return bandit

    def _pick(self) -> int:  # pragma: no cover - every bandit overrides
        raise NotImplementedError


class EpsilonGreedy(Bandit):
    """Play the best arm so far, and a uniformly random arm with probability ``epsilon``.

    An arm never played counts as the best, so every arm is tried before the rewards
    decide (the first unplayed arm listed, also one added later with :meth:`add_arm`):
    with ``epsilon=0``, an arm whose mean is unknown would otherwise never be tried once
    another arm has a positive mean. Among played arms, ties go to the arm listed first.
    The best arm is tracked on update, so ``choose`` is O(1).

    Parameters
    ----------
    arms
        Arm names.
    epsilon
        Exploration probability, in [0, 1].
    seed
        Seed of the random generator, for reproducible choices.

    Examples
    --------
    >>> bandit = EpsilonGreedy(["a", "b"], epsilon=0.1, seed=7)
    >>> bandit.update_many(["a", "b", "b"], [0.0, 1.0, 1.0])
    >>> bandit.choose_many(8)
    ['b', 'b', 'b', 'b', 'b', 'b', 'a', 'a']
    """

    _kind: ClassVar[str] = "EpsilonGreedy"
    _JSON_PARAMS = (*Bandit._JSON_PARAMS, "epsilon")

    def __init__(
        self, arms: Sequence[str], *, epsilon: float = 0.1, seed: int | None = None
    ) -> None:
        super().__init__(arms, seed=seed)
        self.epsilon = epsilon

    def _check(self) -> None:
        super()._check()
        check_params(self._kind, {"epsilon": self.epsilon}, {"epsilon": [Interval(float, 0, 1)]})

    def _init_extra(self) -> None:
        self._best = 0
        self._eps = float(self.epsilon)

    def _after_update(self, i: int) -> None:
        best = self._best
        if i == best:
            self._after_update_all()
        elif self._n[best] == 0:  # an unplayed arm stays first
            return
        elif self._mean[i] > self._mean[best] or (self._mean[i] == self._mean[best] and i < best):
            self._best = i

    def _after_update_all(self) -> None:
        n, m = self._n, self._mean
        self._best = n.index(0) if 0 in n else m.index(max(m))

    def _pick(self) -> int:
        rand = self._random
        if rand() < self._eps:
            return int(rand() * len(self._names))
        return self._best

    def choose(self) -> str:
        """Return the arm to play next.

        Lock-free: one draw of the (internally locked) generator and one read of the
        best arm's index, which updates replace atomically.
        """
        if not self._ready:
            self._setup()
        rand = self._random
        if rand() < self._eps:
            return self._names[int(rand() * len(self._names))]
        best = self._best  # read before the names: add_arm replaces the names first
        return self._names[best]


class UCB1(Bandit):
    """Upper confidence bound: play ``argmax mean + c * sqrt(2 ln t / n)``.

    Every arm is played once first, in order. Rewards are assumed to lie in [0, 1] for
    the usual regret guarantee; ``c`` scales exploration for other ranges.

    Parameters
    ----------
    arms
        Arm names.
    c
        Exploration multiplier (1 is the textbook UCB1).
    seed
        Unused by the rule itself (it is deterministic); kept for a uniform interface.

    Examples
    --------
    >>> bandit = UCB1(["a", "b"])
    >>> bandit.choose(), bandit.update("a", 1.0), bandit.choose()
    ('a', None, 'b')
    """

    _kind: ClassVar[str] = "UCB1"
    _JSON_PARAMS = (*Bandit._JSON_PARAMS, "c")

    def __init__(self, arms: Sequence[str], *, c: float = 1.0, seed: int | None = None) -> None:
        super().__init__(arms, seed=seed)
        self.c = c

    def _check(self) -> None:
        super()._check()
        check_params(self._kind, {"c": self.c}, {"c": [Interval(float, 0, None)]})

    def _init_extra(self) -> None:
        self._cached = -1

    def _after_update(self, i: int) -> None:
        self._cached = -1

    def _after_update_all(self) -> None:
        self._cached = -1

    def choose(self) -> str:
        """Return the arm to play next (cached until the next update)."""
        if self._ready:
            cached = self._cached
            if cached >= 0:
                return self._names[cached]
        return super().choose()

    def _pick(self) -> int:
        # Deterministic given the counts: computed once per update, not once per call.
        if self._cached >= 0:
            return self._cached
        ns = self._n
        if 0 in ns:
            self._cached = ns.index(0)
            return self._cached
        log_t = 2.0 * math.log(self._t)
        c, sqrt = float(self.c), math.sqrt
        scores = [m + c * sqrt(log_t / n) for m, n in zip(self._mean, ns, strict=True)]
        self._cached = scores.index(max(scores))
        return self._cached
