"""A/B test: sticky assignment, SRM check, fixed-horizon and always-valid sequential tests."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from prodml._params import NONE, Interval, OneOf, TypeOf, check_params
from prodml._quote import short_repr
from prodml._state import Field
from prodml.errors import PolicyError
from prodml.rollout import _load
from prodml.rollout._base import MetricPolicy
from prodml.rollout._decision import Action, Decision
from prodml.rollout._gates import MetricStore
from prodml.rollout._hashing import Key
from prodml.rollout._limits import MAX_SALT, check_clock, check_size
from prodml.rollout._router import Router
from prodml.rollout._summary import MeanSummary
from prodml.rollout.stats import (
    SRMResult,
    TestResult,
    always_valid_halfwidth,
    means_ttest,
    msprt_p_value,
    proportions_ztest,
    srm_sequential_test,
)

__all__ = ["ABTest"]


class ABTest(MetricPolicy):
    """Split traffic between a control and treatments and test one metric.

    :meth:`evaluate` first checks the sample ratio with an always-valid sequential test
    (a mismatch means the assignment or logging is broken, so it answers ``pause``; the
    chance of a false pause stays at most ``srm_alpha`` however often you evaluate).
    Then, for each treatment against the control (alpha split Bonferroni-style between
    treatments):

    * ``sequential=True`` (default): the always-valid mSPRT p-value (running minimum
      over looks); evaluate as often as you like, the false-positive rate stays <= alpha.
      The minimum is kept per side (looks favouring the treatment, looks favouring the
      control), so a treatment found significantly worse stays worse;
    * ``sequential=False``: the fixed-horizon test (two-proportion z or Welch t) once
      every variant has ``horizon`` samples; looking earlier only holds.

    A significantly better treatment is ``promote``-d (evidence names it); if every
    treatment is significantly worse, or at the fixed horizon none is better, the answer
    is ``rollback`` (keep the control); otherwise ``hold``.

    Parameters
    ----------
    weights
        Share of traffic per variant; the first is the control.
    metric
        Name of the metric to test, as passed to :meth:`observe`.
    kind
        ``"proportion"`` (0/1 outcomes, z-test) or ``"mean"`` (Welch t-test).
    higher_is_better
        Direction of the metric.
    alpha
        False-positive rate of the whole test.
    sequential
        Always-valid sequential test (peeking allowed) or fixed horizon.
    horizon
        Samples per variant for the fixed-horizon test (see :mod:`prodml.rollout.stats`
        ``sample_size_*``); required when ``sequential=False``.
    tuning_n
        Samples per variant where the sequential test is most powerful.
    min_samples
        Samples per variant before any test is run.
    srm_alpha
        False pause rate of the sequential sample-ratio-mismatch check over the whole
        experiment, however often :meth:`evaluate` runs.
    salt
        Routing salt (at most 10,000 characters); use one per experiment.
    clock
        Callable returning finite seconds, stamped on decisions.

    Examples
    --------
    >>> ab = ABTest({"A": 0.5, "B": 0.5}, metric="converted", clock=lambda: 0.0)
    >>> ab.observe_summary("A", 20_000, {"converted": 0.100})
    >>> ab.observe_summary("B", 20_000, {"converted": 0.125})
    >>> d = ab.evaluate()
    >>> d.action, d.evidence["winner"]
    ('promote', 'B')
    """

    _kind = "ABTest"
    _JSON_PARAMS = (
        "metric",
        "kind",
        "higher_is_better",
        "alpha",
        "sequential",
        "horizon",
        "tuning_n",
        "min_samples",
        "srm_alpha",
        "salt",
    )

    def __init__(
        self,
        weights: Mapping[str, float],
        *,
        metric: str,
        kind: str = "proportion",
        higher_is_better: bool = True,
        alpha: float = 0.05,
        sequential: bool = True,
        horizon: int | None = None,
        tuning_n: int = 10_000,
        min_samples: int = 100,
        srm_alpha: float = 0.001,
        salt: str = "",
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.weights = weights
        self.metric = metric
        self.kind = kind
        self.higher_is_better = higher_is_better
        self.alpha = alpha
        self.sequential = sequential
        self.horizon = horizon
        self.tuning_n = tuning_n
        self.min_samples = min_samples
        self.srm_alpha = srm_alpha
        self.salt = salt
        self.clock = clock
        self._ready = False

    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            prob = [Interval(float, 0, 1, "neither")]
            check_params(
                "ABTest",
                self._params(),
                {
                    "metric": [TypeOf(str, "a str")],
                    "kind": [OneOf(("proportion", "mean"))],
                    "higher_is_better": [TypeOf(bool, "a bool")],
                    "alpha": prob,
                    "sequential": [TypeOf(bool, "a bool")],
                    "horizon": [Interval(int, 2, None), NONE],
                    "tuning_n": [Interval(int, 1, None)],
                    "min_samples": [Interval(int, 2, None)],
                    "srm_alpha": prob,
                    "salt": [TypeOf(str, "a str")],
                },
            )
            if not self.sequential and self.horizon is None:
                raise PolicyError("ABTest: a fixed-horizon test (sequential=False) needs horizon.")
            check_size("ABTest", "salt", self.salt, MAX_SALT, "characters")
            self._router = Router(self.weights, salt=self.salt)
            self._variants = self._router.variants
            if len(self._variants) < 2:
                raise PolicyError(f"ABTest needs at least two variants. Got {self._variants}.")
            if any(self._router.share(v) == 0 for v in self._variants):
                raise PolicyError("ABTest: every variant needs a weight > 0.")
            self._store = MetricStore(self._variants, ())
            # Per treatment, the running minimum of the sequential p-value over the looks
            # whose estimate favoured it, and over those that favoured the control: one
            # minimum for both sides promoted a treatment found significantly worse as
            # soon as its estimate crossed 0, with no evidence that it was better.
            self._p_min = {v: [1.0, 1.0] for v in self._variants[1:]}
            self._done = False
            self._ready = True

    @property
    def control(self) -> str:
        """The control variant (the first one)."""
        self._setup()
        return self._variants[0]

    # -- traffic -----------------------------------------------------------------------
    def route(self, key: Key) -> str:
        """Return the variant of ``key`` (sticky)."""
        if not self._ready:
            self._setup()
        return self._router.route(key)

    # -- statistics --------------------------------------------------------------------
    def srm(self) -> SRMResult:
        """Sample-ratio-mismatch check of the units observed so far.

        The always-valid sequential test (:func:`~prodml.rollout.stats.srm_sequential_test`):
        :meth:`evaluate` runs it on every call, and however often that is, the chance of
        pausing a correctly split experiment stays at most ``srm_alpha``.
        """
        if not self._ready:
            self._setup()
        with self._lock:
            counts = [self._store.requests[v] for v in self._variants]
        shares = [self._router.share(v) for v in self._variants]
        return srm_sequential_test(counts, shares, alpha=self.srm_alpha)

    def _summary(self, variant: str) -> MeanSummary:
        summary = self._store.get(variant, self.metric)
        if self.kind == "proportion" and not summary.binary:
            raise PolicyError(
                f"ABTest: metric {short_repr(self.metric)} of variant {short_repr(variant)} has "
                "values other "
                "than 0 and 1, so it is not a proportion; use kind='mean'.",
                variant=variant,
            )
        return summary

    def test(self, variant: str) -> TestResult:
        """Fixed-horizon test of ``variant`` against the control (effect = variant - control).

        The interval is at the level :meth:`evaluate` decides at: ``1 - alpha / k`` with
        ``k`` treatments (Bonferroni), for both kinds of metric.

        Raises
        ------
        PolicyError
            For an unknown variant, or too few samples.
        """
        if not self._ready:
            self._setup()
        with self._lock:
            if variant not in self._variants[1:]:
                raise PolicyError(
                    f"ABTest: {short_repr(variant)} is not a treatment; treatments are "
                    f"{list(self._variants[1:])}.",
                    variant=variant,
                )
            a, b = self._summary(self._variants[0]), self._summary(variant)
        if a.n < 2 or b.n < 2:
            raise PolicyError(
                f"ABTest: metric {short_repr(self.metric)} needs >= 2 samples per variant."
            )
        alpha = self.alpha / (len(self._variants) - 1)
        if self.kind == "proportion":
            return proportions_ztest(
                round(a.mean * a.n), a.n, round(b.mean * b.n), b.n, alpha=alpha
            )
        return means_ttest(
            a.mean,
            math.sqrt(a.m2 / (a.n - 1)),
            a.n,
            b.mean,
            math.sqrt(b.m2 / (b.n - 1)),
            b.n,
            alpha=alpha,
        )

    def _sequential(self, variant: str, alpha: float) -> dict[str, Any]:
        a, b = self._summary(self._variants[0]), self._summary(variant)
        if self.kind == "proportion":
            pooled = (a.mean * a.n + b.mean * b.n) / (a.n + b.n)
            var_a = var_b = max(pooled * (1 - pooled), 1e-12)
        else:
            var_a, var_b = a.m2 / (a.n - 1), b.m2 / (b.n - 1)
        v = var_a / a.n + var_b / b.n
        tau2 = (var_a + var_b) / self.tuning_n
        effect = b.mean - a.mean
        p = msprt_p_value(effect, v, tau2)
        sides = self._p_min[variant]
        if effect != 0:  # at 0 the p-value is 1: neither side moves
            side = 0 if (effect > 0) == self.higher_is_better else 1
            sides[side] = min(sides[side], p)
        half = always_valid_halfwidth(v, tau2 / v if v > 0 else 1.0, alpha)
        return {
            "effect": effect,
            "p_value": min(sides),
            "p_better": sides[0],
            "p_worse": sides[1],
            "ci_low": effect - half,
            "ci_high": effect + half,
        }

    # -- decisions ---------------------------------------------------------------------
    def evaluate(self) -> Decision:
        """Check the sample ratio, test each treatment and decide (logged)."""
        if not self._ready:
            self._setup()
        with self._lock:
            if self._done:
                return self._log[-1]
            now = check_clock("ABTest", (self.clock or time.time)())
            control, treatments = self._variants[0], self._variants[1:]
            n = {v: self._summary(v).n for v in self._variants}
            srm = self.srm()
            evidence: dict[str, Any] = {
                "n": n,
                "means": {v: self._summary(v).mean for v in self._variants},
                "srm_p_value": srm.p_value,
                "srm_mismatch": srm.mismatch,
                "tests": {},
            }
            alpha = self.alpha / len(treatments)
            action: Action
            if srm.mismatch:
                action, reason = "pause", "sample ratio mismatch: assignment or logging is broken"
                return self._record(Decision(action, reason, evidence, time=now))
            if min(n.values()) < self.min_samples:
                reason = f"waiting for {self.min_samples} samples per variant"
                return self._record(Decision("hold", reason, evidence, time=now))
            if not self.sequential and min(n.values()) < (self.horizon or 0):
                reason = f"waiting for the horizon of {self.horizon} samples per variant"
                return self._record(Decision("hold", reason, evidence, time=now))
            sign = 1.0 if self.higher_is_better else -1.0
            better: list[str] = []
            worse: list[str] = []
            for v in treatments:
                if self.sequential:
                    res = self._sequential(v, alpha)
                else:
                    t = self.test(v)
                    res = {"effect": t.effect, "p_value": t.p_value}
                    res.update(ci_low=t.ci_low, ci_high=t.ci_high, statistic=t.statistic)
                evidence["tests"][v] = res
                if self.sequential:
                    # Found significantly worse once, it stays worse: its estimate
                    # crossing 0 later is no evidence that it is better.
                    if res["p_worse"] < alpha:
                        worse.append(v)
                    elif res["p_better"] < alpha:
                        better.append(v)
                elif res["p_value"] < alpha:
                    (better if sign * res["effect"] > 0 else worse).append(v)
            if better:
                winner = max(better, key=lambda v: sign * evidence["tests"][v]["effect"])
                evidence["winner"] = winner
                action, reason = (
                    "promote",
                    f"{short_repr(winner)} is significantly better than {short_repr(control)}",
                )
            elif len(worse) == len(treatments):
                action, reason = "rollback", f"every treatment is worse than {short_repr(control)}"
            elif not self.sequential:
                action, reason = (
                    "rollback",
                    f"no treatment beats {short_repr(control)} at the horizon",
                )
            else:
                action, reason = "hold", "no significant difference yet"
            self._done = action != "hold"
            return self._record(Decision(action, reason, evidence, time=now))

    # -- state -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return settings, metric summaries, test state and the decision log (JSON-safe)."""
        if not self._ready:
            self._setup()
        with self._lock:
            return {
                **self._header(),
                "weights": {v: float(w) for v, w in self.weights.items()},
                "params": self._params(),
                "metrics": self._store.to_dict(),
                "p_min": {v: list(sides) for v, sides in self._p_min.items()},
                "done": self._done,
                "log": self._log_to_list(),
            }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, clock: Callable[[], float] | None = None
    ) -> ABTest:
        """Rebuild a test written by :meth:`to_dict`."""
        top = _load.root(data, cls._kind)
        top.dict(
            keys=("type", "format_version", "weights", "params", "metrics", "p_min", "done", "log")
        )
        weights = dict(top["weights"].dict())
        for w in top["weights"].values():
            w.float(lo=0.0, hi=1.0)
        params = _load.params(top["params"])
        ab = _load.build(top["params"], lambda: cls(weights, clock=clock, **params))
        _load.build(top, ab._setup)
        _load.metric_store(ab._store, top["metrics"])
        top["p_min"].dict(keys=tuple(ab._p_min))
        ab._done = top["done"].bool()
        alpha = ab.alpha / len(ab._p_min)
        ab._p_min.update({v: _p_sides(top["p_min"][v], alpha, ab._done) for v in ab._p_min})
        ab._log = _load.decision_log(top["log"])
        if ab._done:
            ended = ("advance", "promote", "rollback", "pause")
            _load.ended_by(top["done"], ab._log, ended, "true")
        return ab


def _p_sides(field: Field, alpha: float, done: bool) -> list[float]:
    """A treatment's saved running minima ``[better side, worse side]``.

    A state saved before the two sides were kept has one minimum. In a test still
    running, one below ``alpha`` was reached on the worse side (on the better side the
    test would have promoted and ended); the better side's is then unknown, and starts
    again from 1 (a minimum over fewer looks is still a valid p-value).
    """
    if isinstance(field.value, list):
        better, worse = field.each(length=2)
        return [better.float(lo=0.0, hi=1.0), worse.float(lo=0.0, hi=1.0)]
    p = field.float(lo=0.0, hi=1.0)
    if p < alpha and not done:
        return [1.0, p]
    return [p, p]
