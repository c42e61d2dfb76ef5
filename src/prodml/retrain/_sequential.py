"""ErrorRateTrigger: a sequential test on the labelled error stream, with a drift co-signal.

The test is a one-sided Bernoulli CUSUM (Page, 1954) run for a few design drops at once
(``min_drop``, twice that, four times...). Under the null hypothesis (the model's error
rate is still at most its baseline ``p0``) each CUSUM started at any one sample is a
likelihood ratio, a nonnegative supermartingale, so by Ville's inequality it ever
exceeds ``e**h`` with probability at most ``e**-h``. A CUSUM is the largest of those
ratios over every start, so within ``samples`` predictions and across ``K`` designs the
chance of any false alarm is at most ``K * samples * e**-h``: the threshold
``h = log(K * samples / alpha)`` keeps it at most ``alpha``. The bound holds for losses
in ``[0, 1]`` too, not only for 0/1 errors (the log-likelihood ratio is convex in the
loss).

Data drift is evidence that the model may be wrong, so it lowers the bar: once the
``drift`` trigger fires, a sequential probability ratio test (SPRT) starts on the errors
that follow. Its start is fixed by the drift report, not by the errors, so one test
needs no union over start points: its threshold is ``log(K / drift_alpha)``, and data
drift that does not hurt the model retrains with probability at most ``drift_alpha``.

A retraining started during a change may land before the change is over: the new model,
fitted on data from part-way through it, is then the norm both tests measure against,
and neither fires however far the data has moved on. So after a version promoted on
this trigger's alarm, a bounded *watch* follows (``follow_up``): once the new version's
warm-up is over, the trigger asks its settle test (``settle``, by default the drift
co-signal, comparing live data with the *new* version's training data) at every check
for ``watch`` (14 days) after the promotion. Data still unlike the training data at a
look means the change had not settled when the training window was cut: the trigger
fires once more ("follow-up"). No drift until the watch ends means it had: the chain
ends. A chain holds at most ``max_follow_ups`` (3) follow-ups.

The false-alarm control is kept: a follow-up needs an alarm of the chain first (a CUSUM
alarm, at most ``alpha`` per ``samples`` predictions of a model that did not get worse,
or an SPRT after drift, at most ``drift_alpha`` per drift episode), so data that never
raised the error rate never starts a watch, and each false alarm costs at most
``1 + max_follow_ups`` retrainings however many looks the watches take.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np

from prodml._durations import seconds
from prodml._params import NONE, Interval, TypeOf, check_params
from prodml._state import MAX_COUNT, finite_float
from prodml.errors import DriftError
from prodml.retrain._state import MAX_CLOCK_S, RetrainStateError, _bad
from prodml.retrain._triggers import Signal, Trigger, TriggerContext

__all__ = ["ErrorRateTrigger"]

_MAX_DESIGNS = 6
_MAX_MARKS = 64  # checks remembered to date a change point (thinned, oldest first)


def _fraction(value: Any, parameter: str, *, upper: float = 1.0) -> float:
    check_params(_OWNER, {parameter: value}, {parameter: [Interval(float, 0, upper, "neither")]})
    return float(value)


def _upper(p: float, n: int) -> float:
    """An upper 97.7 % confidence bound of an error rate ``p`` measured on ``n`` rows."""
    return min(0.99, p + 2.0 * math.sqrt(max(p * (1.0 - p), 1.0 / n) / n))


def _count(value: Any, parameter: str, *, low: int = 1) -> int:
    check_params(_OWNER, {parameter: value}, {parameter: [Interval(int, low, None)]})
    return int(value)


_OWNER = "ErrorRateTrigger"


class ErrorRateTrigger:
    """Fire when a sequential test on the error stream shows the error rate went up.

    Feed each labelled prediction's error (``0``/``1``, or a loss in ``[0, 1]``) with
    :meth:`update` or :meth:`update_many`. The baseline error rate is learned from the
    first ``warmup`` errors after a reset (its upper 97.7 % confidence bound, so a low
    estimate does not raise false alarms), unless ``baseline_error`` is given. Then:

    * **on the errors alone**, a CUSUM per design drop fires when the error rate rose;
      within ``samples`` predictions of a model that did not get worse, the chance of
      any false alarm is at most ``alpha``;
    * **with a data-drift co-signal** (``drift``, e.g. a :class:`DriftTrigger`): once
      it fires, a sequential probability ratio test on the errors that follow fires
      with far less evidence, against the held-out error as measured (not its upper
      bound) when ``baseline_metric`` gives one: inputs unlike the training data plus
      errors above what the model achieved at training. Drift that leaves the error
      rate at the baseline retrains with probability at most ``drift_alpha``;
    * **after a retraining on its alarm** (``follow_up``): a watch of ``watch`` after
      the new version is in production. Once its warm-up is over, the trigger asks
      ``settle`` (the drift co-signal unless given; it should compare with the *new*
      version's training data) at every check; the first time it fires, the change had
      not settled when the training window was cut, and the trigger fires once more.
      Its ``drop`` is the new version's error rate minus the baseline before the first
      alarm of the chain: an upper bound on what a retraining can win back. No drift
      until the watch ends closes the chain; so do ``max_follow_ups`` follow-ups.

    The signal's ``drop`` is the error rate since the estimated change point minus the
    baseline: the controller retrains only when it costs more than a retraining
    (:class:`RetrainCost`). Its evidence's ``change_at`` dates that change point on the
    controller's clock (the last check before its first error was fed; after data drift,
    the step the co-signal fired if earlier; for a follow-up, when the version it would
    replace was trained, as the data moved on after that; ``None`` when no check before
    it is remembered): :func:`change_window` turns it into a training window. The
    controller resets the trigger when a run starts and again when a new version is
    promoted (the baseline is then learned again).

    Parameters
    ----------
    baseline_error
        The error rate of the model in production; ``None`` (default) learns it.
    warmup
        How many errors the baseline is learned from.
    baseline_metric, baseline_samples
        The name of the production version's accuracy metric, measured on
        ``baseline_samples`` held-out rows at training (e.g. ``"accuracy"``): its
        error's upper confidence bound caps the learned baseline, so a model already
        worse live than on its held-out data is not taken as the norm. Until the
        warm-up ends the test runs against that bound alone.
    min_drop
        The smallest rise of the error rate worth detecting (the first design; then
        twice, four times... that, up to six designs). The drop that pays for one
        retraining is :attr:`RetrainCost.break_even_drop`.
    alpha, samples
        At most ``alpha`` chance of a false alarm within ``samples`` predictions.
    drift
        A trigger whose firing means the data drifted (a :class:`DriftTrigger`).
    drift_alpha
        At most this chance of retraining on data drift that does not raise the error rate.
    follow_up
        Watch the data after a version promoted on an alarm, and fire again if it still
        drifts from the new version's training data (needs ``drift``).
    watch
        How long the watch lasts after the promotion is first seen (seconds or a
        timedelta; default 14 days: long enough for a weekly drift window to lie wholly
        after the promotion, and for a change still under way to move the data again).
    settle
        The test of "the data still moves" during a watch; ``None`` (default): the
        ``drift`` co-signal. A chain of alarms is evidence that a change is under way, so
        a lower bar than the co-signal's is reasonable here, e.g. a
        :class:`DriftTrigger` that fires when *any* input drifted.
    max_follow_ups
        At most this many follow-ups in one chain (default 3); each false alarm costs at
        most ``1 + max_follow_ups`` retrainings.
    name
        The trigger's name in decisions.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> trig = ErrorRateTrigger(warmup=500)
    >>> trig.update_many(rng.random(20_000) < 0.1)
    []
    >>> trig.check(TriggerContext(now=1.0, trained_at=0.0, last_run_at=None)) is None
    True
    >>> alarms = trig.update_many(rng.random(2_000) < 0.2)
    >>> sig = trig.check(TriggerContext(now=2.0, trained_at=0.0, last_run_at=None))
    >>> sig.trigger, len(alarms), 0.05 < sig.drop < 0.15
    ('error_rate', 1, True)
    """

    def __init__(
        self,
        *,
        baseline_error: float | None = None,
        warmup: int = 1_000,
        min_drop: float = 0.01,
        alpha: float = 0.01,
        samples: int = 100_000,
        drift: Trigger | None = None,
        drift_alpha: float = 0.05,
        baseline_metric: str | None = None,
        baseline_samples: int = 1_000,
        follow_up: bool = True,
        watch: float | timedelta = timedelta(days=14),
        settle: Trigger | None = None,
        max_follow_ups: int = 3,
        name: str = "error_rate",
    ) -> None:
        if baseline_error is not None:
            _fraction(baseline_error, "baseline_error")
        self.baseline_error = baseline_error
        self.warmup: int = _count(warmup, "warmup")
        self.min_drop: float = _fraction(min_drop, "min_drop", upper=0.5)
        self.alpha: float = _fraction(alpha, "alpha")
        self.samples: int = _count(samples, "samples")
        check_params(
            _OWNER,
            {
                "drift": drift,
                "settle": settle,
                "baseline_metric": baseline_metric,
                "follow_up": follow_up,
            },
            {
                "drift": [TypeOf(Trigger, "a trigger (a name and check(context))"), NONE],
                "settle": [TypeOf(Trigger, "a trigger (a name and check(context))"), NONE],
                "baseline_metric": [TypeOf(str, "a metric name"), NONE],
                "follow_up": [TypeOf(bool, "a bool")],
            },
        )
        self.drift = drift
        self.drift_alpha: float = _fraction(drift_alpha, "drift_alpha")
        self.baseline_metric = baseline_metric
        self.baseline_samples: int = _count(baseline_samples, "baseline_samples")
        self.follow_up = follow_up
        self.watch: float = seconds(watch, "watch", _OWNER)
        self.settle = settle
        self.max_follow_ups: int = _count(max_follow_ups, "max_follow_ups", low=0)
        self.name = name
        self._version: Any = None  # the production version at the last check
        # An alarm consumed by a retraining: the watch that follows its promotion
        # (version, the error rate before the chain, the watch's start, follow-ups so far).
        self._settle: dict[str, Any] | None = None
        # Dating a change point: every error ever fed (never reset) and, at each check,
        # (the controller's clock, errors fed by then): an error fed after the mark
        # (t, k), i.e. at index >= k, was labelled after t.
        self._fed = 0
        self._marks: list[tuple[float, int]] = []
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Start over: forget the alarm, the statistics and a learned baseline.

        An alarm pending at a reset is taken as consumed by a retraining: with
        ``follow_up``, the trigger looks at the drift co-signal again once a new version
        is in production and its warm-up is over (see the module docstring).
        """
        alarm = getattr(self, "alarm_", None)
        if alarm is not None and self.follow_up and self.drift is not None:
            before, count = alarm["before"], int(alarm["by"] == "follow-up")
            on, since = None, None
            if self._settle is not None:  # the change has not settled since an earlier alarm
                before = min(before, self._settle["before"])
                count += self._settle["count"]
                on, since = self._settle["on"], self._settle["since"]  # the watch so far
            # "version": the version the run replaces; "on"/"since": the watch in progress
            # (resumed if the run ends without a new version); "count": follow-ups so far
            self._settle = {"version": self._version, "before": before, "count": count}
            self._settle.update(on=on, since=since)
        self.seen: int = 0
        self._seen_sum = 0.0
        self._sprt: np.ndarray | None = None  # log-likelihood ratios since the drift, per design
        self._warm_n, self._warm_sum = 0, 0.0
        self._cap: float | None = None  # the held-out metric's bound, read at the next check
        self._heldout: float | None = None  # and its error as measured
        self.drift_baseline_: float | None = None
        self.baseline_: float | None = None
        self._a = self._b = self._drops = self._sa = self._sb = np.zeros(0)
        self._cusum = np.zeros(0)
        self._since = np.zeros((0, 2))  # per design: samples and errors since its last zero
        self._sprt_since = [0, 0.0]
        self._drift_reason = ""
        self.alarm_: dict[str, Any] | None = None
        if self.baseline_error is not None:
            self._start(self.baseline_error)

    def _designs(self, p0: float) -> list[float]:
        """The design drops against a baseline ``p0``."""
        drops = [self.min_drop * 2**k for k in range(_MAX_DESIGNS)]
        return [d for d in drops if p0 + d < 1.0] or [(1.0 - p0) / 2]

    def _start(self, p0: float) -> None:
        self.baseline_ = p0
        drops = self._designs(p0)
        p1 = p0 + np.asarray(drops)
        q0 = max(p0, 1e-9)
        self._drops = np.asarray(drops)
        self._a = np.log(p1 / q0)
        self._b = np.log((1.0 - p1) / (1.0 - p0))
        self._cusum = np.zeros(len(drops))
        self._since = np.zeros((len(drops), 2))
        if self._sprt is not None:  # a new baseline: the test since the drift starts again
            self._start_sprt()

    def _start_sprt(self) -> None:
        """The test after data drift, against the held-out error as measured when known."""
        p0 = self.baseline_
        assert p0 is not None  # noqa: S101 - only started with a baseline
        if self._heldout is not None:
            p0 = min(p0, self._heldout)
        self._sprt_against(p0)
        self._sprt, self._sprt_since = np.zeros(self._drops.size), [0, 0.0]

    def _sprt_against(self, p0: float) -> None:
        self.drift_baseline_ = p0
        p1 = p0 + self._drops
        self._sa = np.log(p1 / max(p0, 1e-9))
        self._sb = np.log((1.0 - p1) / (1.0 - p0))

    @property
    def threshold(self) -> float:
        """The CUSUM's alarm threshold ``log(K * samples / alpha)``."""
        return math.log(max(1, self._drops.size) * self.samples / self.alpha)

    @property
    def drift_threshold(self) -> float:
        """The SPRT's threshold after data drift, ``log(K / drift_alpha)``."""
        return math.log(max(1, self._drops.size) / self.drift_alpha)

    def state_dict(self) -> dict[str, Any]:
        """The trigger's state as JSON-safe data: sums, baseline, alarm, watch.

        The controller saves it with its own state (:class:`RetrainState`, key
        ``triggers``) at every step and restores it with :meth:`load_state_dict`, so a
        restarted process goes on with the same evidence instead of warming up again.
        """
        return {
            "kind": _OWNER,
            "seen": int(self.seen),
            "seen_sum": float(self._seen_sum),
            "warm_n": int(self._warm_n),
            "warm_sum": float(self._warm_sum),
            "cap": self._cap,
            "heldout": self._heldout,
            "baseline": self.baseline_,
            "drift_baseline": self.drift_baseline_,
            "cusum": [float(v) for v in self._cusum],
            "since": [[float(n), float(e)] for n, e in self._since],
            "sprt": None if self._sprt is None else [float(v) for v in self._sprt],
            "sprt_since": [float(self._sprt_since[0]), float(self._sprt_since[1])],
            "drift_reason": self._drift_reason,
            "alarm": None if self.alarm_ is None else dict(self.alarm_),
            "version": self._version,
            "settle": None if self._settle is None else dict(self._settle),
            "fed": int(self._fed),
            "marks": [[t, k] for t, k in self._marks],
        }

    def load_state_dict(self, data: object, *, path: str = "trigger") -> None:
        """Restore :meth:`state_dict` output, validated first (nothing changes on error).

        Raises
        ------
        RetrainStateError
            Naming the path of the first field (``path`` + ``.field``) that is missing,
            of the wrong type or out of range.
        """
        st = _read_state(data, path)
        k = 0 if st["baseline"] is None else len(self._designs(st["baseline"]))
        for key in ("cusum", "since"):
            if len(st[key]) != k:
                raise _state_error(f"{path}.{key}", f"a list of {k} (one per design)", st[key])
        if st["sprt"] is not None and (len(st["sprt"]) != k or st["drift_baseline"] is None):
            raise _state_error(f"{path}.sprt", f"a list of {k} with a drift_baseline", st["sprt"])
        self.seen, self._seen_sum = st["seen"], st["seen_sum"]
        self._warm_n, self._warm_sum = st["warm_n"], st["warm_sum"]
        self._cap, self._heldout = st["cap"], st["heldout"]
        self._drift_reason, self._version = st["drift_reason"], st["version"]
        self.alarm_, self._settle = st["alarm"], st["settle"]
        self._fed, self._marks = st["fed"], st["marks"]
        self._sprt, self.drift_baseline_, self.baseline_ = None, None, None
        self._a = self._b = self._drops = self._sa = self._sb = np.zeros(0)
        self._cusum, self._since = np.zeros(0), np.zeros((0, 2))
        self._sprt_since = [0, 0.0]
        if st["baseline"] is not None:
            self._start(st["baseline"])
        self._cusum = np.asarray(st["cusum"], dtype=np.float64).reshape(k)
        self._since = np.asarray(st["since"], dtype=np.float64).reshape(k, 2)
        if st["sprt"] is not None:
            self._sprt_against(st["drift_baseline"])
            self._sprt = np.asarray(st["sprt"], dtype=np.float64)
            self._sprt_since = [int(st["sprt_since"][0]), st["sprt_since"][1]]
        elif st["drift_baseline"] is not None:
            self.drift_baseline_ = st["drift_baseline"]

    # ------------------------------------------------------------------ updates
    def update(self, error: float) -> bool:
        """Feed one error; ``True`` when the test alarms now."""
        return bool(self.update_many([error]))

    def update_many(self, errors: Any) -> list[int]:
        """Feed many errors in order; the position of the alarm they raised (at most one)."""
        x = np.asarray(errors, dtype=np.float64).ravel()
        if x.size and not (np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0):
            raise DriftError(
                "ErrorRateTrigger takes errors in [0, 1] (0/1 or a bounded loss); got values "
                "outside it or not finite."
            )
        split = x.size
        if self.baseline_error is None and self._warm_n < self.warmup:
            split = min(x.size, self.warmup - self._warm_n)
        alarms = self._feed(x[:split], 0)  # against the held-out bound, when known
        if split < x.size or (self.baseline_error is None and self._warm_n < self.warmup):
            self._warm_n += split
            self._warm_sum += float(x[:split].sum())
            if self._warm_n >= self.warmup:
                self._warmed()
            alarms += self._feed(x[split:], split)
        return alarms

    def _feed(self, x: np.ndarray, offset: int) -> list[int]:
        self.seen += x.size
        self._fed += x.size
        self._seen_sum += float(x.sum())
        if not x.size or self.baseline_ is None:
            return []
        if self.alarm_ is not None:
            self.alarm_["n"] += x.size
            self.alarm_["errors"] += float(x.sum())
            return []
        hit = self._scan(x)
        return [] if hit is None else [offset + hit]

    def _scan(self, x: np.ndarray) -> int | None:
        """Advance every CUSUM (and the SPRT); the index of the first alarm, if any."""
        raw = np.concatenate([[0.0], np.cumsum(x)])
        first: tuple[int, str, int] | None = None  # (index, how, design)
        paths = []
        for j in range(self._drops.size):
            c = np.cumsum(x * self._a[j] + (1.0 - x) * self._b[j])
            lows = np.minimum.accumulate(np.concatenate([[-self._cusum[j]], c]))
            s = c - lows[1:]
            paths.append((c, lows, s))
            over = np.flatnonzero(s >= self.threshold)
            if over.size and (first is None or over[0] < first[0]):
                first = (int(over[0]), "cusum", j)
        if self._sprt is not None:
            for j in range(self._drops.size):
                ll = self._sprt[j] + np.cumsum(x * self._sa[j] + (1.0 - x) * self._sb[j])
                over = np.flatnonzero(ll >= self.drift_threshold)
                if over.size and (first is None or over[0] < first[0]):
                    first = (int(over[0]), "drift", j)
        end = x.size if first is None else first[0] + 1
        if first is None:
            for j, (c, lows, s) in enumerate(paths):
                self._since[j] = self._since_zero(j, c, lows, raw, end)
                self._cusum[j] = s[-1]
            if self._sprt is not None:
                self._sprt += [
                    float(np.sum(x * a + (1.0 - x) * b))
                    for a, b in zip(self._sa.tolist(), self._sb.tolist(), strict=True)
                ]
                self._sprt_since = [self._sprt_since[0] + x.size, self._sprt_since[1] + raw[-1]]
            return None
        index, how, j = first
        n_zero, total = self._since_zero(j, paths[j][0], paths[j][1], raw, end)
        n = n_zero
        if how == "drift":
            n, total = self._sprt_since[0] + end, self._sprt_since[1] + raw[end]
        # the estimated change point, as an index into every error ever fed: where the
        # design's CUSUM was last at zero (the change point's maximum-likelihood estimate
        # for that drop) or, after data drift, where the SPRT began if that is earlier
        change = self._fed - x.size + end - int(max(n, n_zero))
        p_before = self.drift_baseline_ if how == "drift" else self.baseline_
        self.alarm_ = {
            "by": how,
            "before": p_before,
            "drop_design": float(self._drops[j]),
            "at": self.seen - x.size + index,
            "n": int(n) + x.size - end,
            "errors": float(total) + float(raw[-1] - raw[end]),
            "change": max(0, change),
        }
        return index

    def _warmed(self) -> None:
        """The warm-up ended: the baseline is its upper bound, capped by the held-out one."""
        p0 = _upper(self._warm_sum / self._warm_n, self._warm_n)
        if self._cap is not None:
            p0 = min(p0, self._cap)
        if self.baseline_ is None or p0 < self.baseline_:
            self._start(p0)

    def _since_zero(
        self, j: int, c: np.ndarray, lows: np.ndarray, raw: np.ndarray, end: int
    ) -> tuple[float, float]:
        """Samples and errors since design ``j``'s CUSUM was last at zero (up to ``end``)."""
        window = np.concatenate([[-self._cusum[j]], c[:end]])
        k = int(np.flatnonzero(window <= lows[end])[-1])
        if k == 0:  # still the excursion that began before this batch
            return self._since[j][0] + end, self._since[j][1] + float(raw[end])
        return end - k, float(raw[end] - raw[k])

    # ------------------------------------------------------------------ check
    def check(self, context: TriggerContext) -> Signal | None:
        """A signal when the test alarmed since the last reset."""
        self._mark(context.now)
        if self.alarm_ is None:
            self._version = getattr(context.current, "version", None)
            self._read_cap(context)
            self._watch_drift(context)
            if self.alarm_ is None:
                return None
        alarm = self.alarm_
        if alarm["by"] == "follow-up":
            return self._follow_up_signal(alarm, context)
        p0 = self.drift_baseline_ if alarm["by"] == "drift" else self.baseline_
        assert p0 is not None  # noqa: S101 - an alarm needs a baseline
        rate = alarm["errors"] / alarm["n"] if alarm["n"] else math.nan
        if alarm["by"] == "drift":
            how = (
                f"after data drift ({self._drift_reason[:200]}), an SPRT on the errors since "
                f"(false alarm <= {self.drift_alpha:g})"
            )
        else:
            how = f"CUSUM (false alarm <= {self.alpha:g} per {self.samples:,} predictions)"
        return Signal(
            self.name,
            f"error rate {rate:.3f} over the last {alarm['n']:,} labelled predictions against "
            f"a baseline of {p0:.3f}: {how}",
            max(0.0, rate - p0) if alarm["n"] else None,
            {
                "by": alarm["by"],
                "baseline_error": p0,
                "error_rate_since": rate if alarm["n"] else None,
                "samples_since": int(alarm["n"]),
                "drop_design": alarm["drop_design"],
                "change_at": self._change_at(alarm.get("change")),
            },
        )

    def _mark(self, now: float) -> None:
        """Remember that ``self._fed`` errors had been fed by the check at ``now``."""
        t = finite_float(now)
        if t is None or abs(t) > MAX_CLOCK_S:
            return  # not a clock (a check called by hand with junk): nothing to date by
        now = t
        marks = self._marks
        if marks and now <= marks[-1][0]:
            return  # the clock did not move on (a repeated step): nothing new to date
        if marks and marks[-1][1] == self._fed:
            marks[-1] = (now, self._fed)  # nothing fed since: the later check dates tighter
        else:
            marks.append((now, self._fed))
        if len(marks) > _MAX_MARKS:  # thin the older half: the dates only get earlier
            half = len(marks) // 2
            self._marks = marks[:half:2] + marks[half:]

    def _change_at(self, index: int | None) -> float | None:
        """When the error at ``index`` (of every error fed) was fed, on the controller's clock.

        The time of the last check before it was fed: its label arrived after that, so a
        training window starting there holds every labelled row since the change (within
        the marks' resolution; a thinned or missing mark gives an earlier time). ``None``
        when no check before it is remembered.
        """
        if index is None:
            return None
        before = [t for t, k in self._marks if k <= index]
        return before[-1] if before else None

    def _read_cap(self, context: TriggerContext) -> None:
        """Bound the baseline by the production version's held-out metric (once a reset)."""
        if self.baseline_metric is None or self._cap is not None or self.baseline_error is not None:
            return
        metrics = getattr(context.current, "metrics", None) or {}
        value = metrics.get(self.baseline_metric)
        if (held := finite_float(value)) is not None and 0.0 <= held <= 1.0:
            self._heldout = 1.0 - held
            self._cap = _upper(self._heldout, self.baseline_samples)
            if self.alarm_ is None and (self.baseline_ is None or self._cap < self.baseline_):
                self._start(self._cap)

    def _follow_up_signal(self, alarm: dict[str, Any], context: TriggerContext) -> Signal:
        rate = alarm["errors"] / alarm["n"]
        return Signal(
            self.name,
            f"follow-up: data still drifted against the training data of the version "
            f"promoted after the last alarm ({alarm['reason'][:200]}); error rate {rate:.3f} "
            f"over its {alarm['n']:,} labelled predictions against {alarm['before']:.3f} "
            "before the change",
            max(0.0, rate - alarm["before"]),
            {
                "by": "follow-up",
                "baseline_error": alarm["before"],
                "error_rate_since": rate,
                "samples_since": int(alarm["n"]),
                "drop_design": None,
                # the data moved on after the replaced version's training window was
                # cut: the change to train on is dated there
                "change_at": finite_float(context.trained_at),
            },
        )

    def _settled(self, context: TriggerContext, sig: Signal | None) -> None:
        """A look of the watch after a version promoted on an alarm: fire if still drifted."""
        settle = self._settle
        if settle is None:
            return  # no alarm consumed
        if self._version == settle["version"] and settle["on"] != self._version:
            return  # the retraining has not been promoted (yet)
        if settle["on"] != self._version or settle["since"] is None:
            settle["on"], settle["since"] = self._version, float(context.now)  # a new watch
        if float(context.now) - settle["since"] > self.watch:
            self._settle = None  # no drift for the whole watch: the change has settled
            return
        if self.baseline_error is None and self._warm_n < self.warmup:
            return  # its errors are not known yet
        if self.settle is not None:
            sig = self.settle.check(context)
        if sig is None or not self.seen:
            return  # not drifted at this look: watch on
        if settle["count"] >= self.max_follow_ups:
            self._settle = None  # the chain is as long as allowed
            return
        self.alarm_ = {
            "by": "follow-up",
            "before": settle["before"],
            "drop_design": None,
            "at": self.seen,
            "n": self.seen,
            "errors": self._seen_sum,
            "reason": sig.reason,
            "change": None,  # dated at the signal: when the serving version was trained
        }

    def _watch_drift(self, context: TriggerContext) -> None:
        """Start the SPRT when the drift co-signal fires; stop it when the drift is gone."""
        if self.drift is None or self.baseline_ is None:
            return
        sig = self.drift.check(context)
        self._settled(context, sig)
        if self.alarm_ is not None:
            return
        if sig is None:
            self._sprt = None
        elif self._sprt is None:
            self._start_sprt()
            self._drift_reason = sig.reason


# ---------------------------------------------------------------------- saved state
def _state_error(name: str, expected: str, value: object) -> RetrainStateError:
    return _bad(name, expected, value)


def _get(d: dict[str, Any], key: str, path: str, kind: str, *, null: bool = False) -> Any:
    """``d[key]`` checked to be a ``kind`` (``int``, ``num``, ``rate``, ``str``, ``version``)."""
    return _value(d.get(key), f"{path}.{key}", kind, null=null)


def _value(v: Any, name: str, kind: str, *, null: bool = False) -> Any:
    """``v`` (called ``name`` in messages) checked to be a ``kind``."""
    if v is None and null:
        return None
    number = finite_float(v) is not None
    if kind == "int":
        if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT):
            what = f"an int in [0, {MAX_COUNT}]"
            raise _state_error(name, what + (" or null" if null else ""), v)
        return v
    if kind in ("num", "rate"):
        if not (number and v >= 0.0 and (kind == "num" or v <= 1.0)):
            what = "a finite number >= 0" if kind == "num" else "a number in [0, 1]"
            raise _state_error(name, what + (" or null" if null else ""), v)
        return float(v)
    if kind == "str":
        if not (isinstance(v, str) and len(v) <= 4000):
            raise _state_error(name, "a str (at most 4000 characters)", v)
        return v
    # a version: what the registry calls it (an int, or a str), or null
    if not ((isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, str)):
        raise _state_error(name, "a version (an int or a str) or null", v)
    if isinstance(v, str) and len(v) > 200:
        raise _state_error(name, "a version of at most 200 characters", v)
    return v


def _pairs(d: dict[str, Any], key: str, path: str) -> list[list[float]]:
    v = d.get(key)
    if not isinstance(v, list) or len(v) > _MAX_DESIGNS:
        raise _state_error(f"{path}.{key}", f"a list of at most {_MAX_DESIGNS} pairs", v)
    out = []
    for i, pair in enumerate(v):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _state_error(f"{path}.{key}[{i}]", "a [samples, errors] pair", pair)
        n = _value(pair[0], f"{path}.{key}[{i}]", "num")
        e = _value(pair[1], f"{path}.{key}[{i}]", "num")
        if e > n:
            raise _state_error(f"{path}.{key}[{i}]", "errors <= samples", pair)
        out.append([n, e])
    return out


def _numbers(d: dict[str, Any], key: str, path: str, *, null: bool = False) -> Any:
    v = d.get(key)
    if v is None and null:
        return None
    if not isinstance(v, list) or len(v) > _MAX_DESIGNS:
        raise _state_error(f"{path}.{key}", f"a list of at most {_MAX_DESIGNS} numbers", v)
    return [_value(x, f"{path}.{key}[{i}]", "num") for i, x in enumerate(v)]


def _read_alarm(v: object, path: str) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _state_error(path, "an object or null", v)
    by = v.get("by")
    if by not in ("cusum", "drift", "follow-up"):
        raise _state_error(f"{path}.by", "one of cusum, drift, follow-up", by)
    alarm = {
        "by": by,
        "before": _get(v, "before", path, "rate"),
        "drop_design": _get(v, "drop_design", path, "rate", null=True),
        "at": _get(v, "at", path, "int"),
        "n": _get(v, "n", path, "int"),
        "errors": _get(v, "errors", path, "num"),
    }
    if alarm["errors"] > alarm["n"]:
        raise _state_error(f"{path}.errors", "at most n", alarm["errors"])
    # the change point's index (added in 0.x; older states have none: not dated)
    alarm["change"] = _get(v, "change", path, "int", null=True)
    if by == "follow-up":
        alarm["reason"] = _get(v, "reason", path, "str")
        if alarm["n"] < 1:  # made with the new version's errors: at least one
            raise _state_error(f"{path}.n", "an int >= 1 for a follow-up", alarm["n"])
    return alarm


def _read_settle(v: object, path: str) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _state_error(path, "an object or null", v)
    return {
        "version": _get(v, "version", path, "version", null=True),
        "before": _get(v, "before", path, "rate"),
        "count": _get(v, "count", path, "int"),
        "on": _get(v, "on", path, "version", null=True),
        "since": _get(v, "since", path, "num", null=True),
    }


def _read_state(data: object, path: str) -> dict[str, Any]:
    """A validated :meth:`ErrorRateTrigger.state_dict` (every field, before any is used)."""
    if not isinstance(data, dict):
        raise _state_error(path, "an object", data)
    if data.get("kind") != _OWNER:
        raise _state_error(f"{path}.kind", repr(_OWNER), data.get("kind"))
    st: dict[str, Any] = {"kind": _OWNER}
    for key, kind in (("seen", "int"), ("warm_n", "int")):
        st[key] = _get(data, key, path, kind)
    for key, total in (("seen_sum", "seen"), ("warm_sum", "warm_n")):
        st[key] = _get(data, key, path, "num")
        if st[key] > st[total]:
            raise _state_error(f"{path}.{key}", f"at most {total}", st[key])
    for key in ("cap", "heldout", "drift_baseline"):
        st[key] = _get(data, key, path, "rate", null=True)
    st["baseline"] = _get(data, "baseline", path, "rate", null=True)
    if st["baseline"] is not None and st["baseline"] >= 1.0:
        raise _state_error(f"{path}.baseline", "a number in [0, 1) or null", st["baseline"])
    st["cusum"] = _numbers(data, "cusum", path)
    st["since"] = _pairs(data, "since", path)
    st["sprt"] = data.get("sprt")
    if st["sprt"] is not None:  # log-likelihood ratios: any finite sign
        v = st["sprt"]
        ok = isinstance(v, list) and len(v) <= _MAX_DESIGNS
        ok = ok and all(finite_float(x) is not None for x in v)
        if not ok:
            raise _state_error(f"{path}.sprt", "a list of finite numbers or null", v)
        st["sprt"] = [float(x) for x in v]
    pair = data.get("sprt_since")
    if not isinstance(pair, list) or len(pair) != 2:
        raise _state_error(f"{path}.sprt_since", "a [samples, errors] pair", pair)
    st["sprt_since"] = [_value(x, f"{path}.sprt_since", "num") for x in pair]
    if st["sprt_since"][1] > st["sprt_since"][0]:
        raise _state_error(f"{path}.sprt_since", "errors <= samples", pair)
    st["drift_reason"] = _get(data, "drift_reason", path, "str")
    st["alarm"] = _read_alarm(data.get("alarm"), f"{path}.alarm")
    st["version"] = _get(data, "version", path, "version", null=True)
    st["settle"] = _read_settle(data.get("settle"), f"{path}.settle")
    # dating the change point (older states have neither: every error counted as fed
    # since the reset, no check remembered, so a pending alarm is not dated)
    st["fed"] = st["seen"] if "fed" not in data else _get(data, "fed", path, "int")
    if st["fed"] < st["seen"]:
        raise _state_error(f"{path}.fed", "an int >= seen", st["fed"])
    st["marks"] = _read_marks(data.get("marks", []), f"{path}.marks", st["fed"])
    alarm = st["alarm"]
    if alarm is not None and alarm["change"] is not None and alarm["change"] > st["fed"]:
        raise _state_error(f"{path}.alarm.change", "an int <= fed", alarm["change"])
    return st


def _read_marks(v: object, path: str, fed: int) -> list[tuple[float, int]]:
    """Checks remembered: [clock, errors fed by then] pairs, both increasing, at most ``fed``."""
    if not isinstance(v, list) or len(v) > _MAX_MARKS:
        raise _state_error(path, f"a list of at most {_MAX_MARKS} [clock, fed] pairs", v)
    out: list[tuple[float, int]] = []
    for i, pair in enumerate(v):
        name = f"{path}[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise _state_error(name, "a [clock, fed] pair", pair)
        t = finite_float(pair[0])
        if t is None or isinstance(pair[0], bool) or abs(t) > MAX_CLOCK_S:
            raise _state_error(name, f"a clock: a finite number within {MAX_CLOCK_S:.0e}", pair)
        k = _value(pair[1], name, "int")
        if k > fed or (out and (t <= out[-1][0] or k <= out[-1][1])):
            raise _state_error(name, "a later clock and count than the pair before, <= fed", pair)
        out.append((t, k))
    return out
