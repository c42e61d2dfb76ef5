"""FairnessGate: refuse a model whose gap between groups is shown to be too wide.

One object, two protocols, neither imported (duck typing keeps ``prodml.fairness`` a
building block that needs no other):

* a registry promotion check, ``gate(candidate, current) -> str | None``, reading the
  per-group confusion counts recorded with the candidate version
  (``metrics=report.to_metrics()`` at registration);
* a rollout gate for :class:`prodml.rollout.Canary`, fed per request through
  ``canary.observe(variant, **gate.observation(y_true, y_pred, groups))``; a candidate
  whose gap is shown beyond the limit fails, and the canary rolls back with a reason
  naming the two groups.

The verdict follows the rollout gates' vocabulary: ``fail`` when some pair of groups has
an interval of its gap entirely beyond the limit, ``pass`` when every pair's interval is
entirely within it, ``inconclusive`` otherwise, ``no_data`` with fewer than two groups of
``min_count`` records. Intervals are Bonferroni-corrected over the pairs (and the
components of a criterion); in a canary they are confidence sequences, valid however
often the canary evaluates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypedDict, cast

import numpy as np

from prodml._data import type_name
from prodml._params import NONE, Interval, TypeOf, check_params
from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.fairness import stats
from prodml.fairness._ingest import public, short
from prodml.fairness._metrics import COMPOSITES, METRICS, canonical

__all__ = ["FairnessGate", "GateVerdict"]


class _Verdict(TypedDict):
    verdict: Literal["pass", "fail", "inconclusive", "no_data"]
    gate: str
    metric: str
    n_candidate: float
    candidate: float | None
    groups: list[str] | None
    lower: float | None
    upper: float | None
    component: str | None


class GateVerdict(_Verdict, total=False):
    """What :meth:`FairnessGate.evaluate` returns (a dict).

    ``verdict``; ``gate`` (the description, with the groups at fault when it fails);
    ``candidate`` (the widest gap, or smallest ratio), ``groups``, ``lower``/``upper`` (its
    interval) and ``component``, all ``None`` with ``"no_data"``; ``candidate``,
    ``lower`` and ``upper`` are also ``None`` for a ratio that is undefined (0/0: both
    groups at 0; the verdict is then ``"inconclusive"``); ``why`` only with
    ``"no_data"``.
    """

    why: str


_CELLS = ("tn", "fp", "fn", "tp")
_TUNING_N = 1000  # confidence sequences are tightest near this many records per group


@dataclass(frozen=True)
class FairnessGate:
    """A limit on the gap between groups of one metric, for promotions and rollouts.

    Parameters
    ----------
    metric
        A rate metric (``"tpr"``, ``"selection_rate"``, ``"fpr"``...) or a criterion:
        ``"demographic_parity"``, ``"equal_opportunity"``, ``"equalized_odds"`` (tpr and
        fpr).
    max_difference
        Largest allowed difference between any two groups' values.
    min_ratio
        Smallest allowed ratio, smaller group value over larger (0.8: the four-fifths
        rule). Give ``max_difference``, ``min_ratio`` or both.
    alpha
        Error rate of the intervals, for registry checks (a canary passes its own).
    min_count
        Records a group needs in the metric's base to take part.
    strict
        Registry checks only: also refuse when the data cannot show the gap is within
        the limit (verdict ``inconclusive``), not only when it is shown beyond it.
    prefix
        Prefix of the names read (``to_metrics(prefix)``) and written (:meth:`observation`).

    Examples
    --------
    >>> from prodml.fairness import GroupMetrics
    >>> gm = GroupMetrics(["sex"], ["tpr"], min_count=1)
    >>> gm = gm.update(
    ...     [1] * 400, [1] * 180 + [0] * 20 + [1] * 120 + [0] * 80, ["F"] * 200 + ["M"] * 200
    ... )
    >>> gate = FairnessGate("tpr", max_difference=0.05)
    >>> result = gate.evaluate(gm)
    >>> result["verdict"], result["groups"], round(result["candidate"], 2)
    ('fail', ['sex=F', 'sex=M'], 0.3)
    """

    metric: str
    max_difference: float | None = None
    min_ratio: float | None = None
    alpha: float = 0.05
    min_count: int = 30
    strict: bool = False
    prefix: str = ""

    def __post_init__(self) -> None:
        check_params(
            "FairnessGate",
            asdict(self),
            {
                "metric": [TypeOf(str, "a str")],
                "max_difference": [Interval(float, 0, 1, "left"), NONE],
                "min_ratio": [Interval(float, 0, 1, "right"), NONE],
                "alpha": [Interval(float, 0, 1, "neither")],
                "min_count": [Interval(int, 1, None)],
                "strict": [TypeOf(bool, "a bool")],
                "prefix": [TypeOf(str, "a str")],
            },
        )
        if self.max_difference is None and self.min_ratio is None:
            raise ConfigError(
                f"FairnessGate {short_repr(self.metric)} needs max_difference, min_ratio or both.",
                parameter="max_difference",
            )
        if self.metric not in COMPOSITES:
            c = canonical(self.metric, "FairnessGate")
            if METRICS[c].kind != "rate":
                raise ConfigError(
                    f"FairnessGate works on rates; {short_repr(self.metric)} is not one.",
                    parameter="metric",
                )

    @property
    def components(self) -> tuple[str, ...]:
        """The canonical rate metrics the gate tests (two for ``equalized_odds``)."""
        return COMPOSITES.get(self.metric) or (canonical(self.metric),)

    def describe(self) -> str:
        """The gate in words, e.g. ``'tpr difference between groups <= 0.05'``."""
        limits = []
        if self.max_difference is not None:
            limits.append(f"difference between groups <= {self.max_difference:g}")
        if self.min_ratio is not None:
            limits.append(f"ratio between groups >= {self.min_ratio:g}")
        return f"{self.metric} {' and '.join(limits)}"

    # ------------------------------------------------------------------ data in
    def observation(self, y_true: Any, y_pred: Any, groups: Any) -> dict[str, float]:
        """One labelled request's values for ``Canary.observe(variant, **values)``.

        ``groups`` is a dict of the request's sensitive values by name (or a single
        value). Only the rates whose base includes the request get a value, e.g. for
        ``tpr`` only actual positives.
        """
        try:
            code = 2 * int(y_true in (1, True)) + int(y_pred in (1, True))
            ok = y_true in (0, 1) and y_pred in (0, 1)
        except TypeError:
            ok = False
        if not ok:
            raise ConfigError(
                f"FairnessGate.observation needs 0/1 labels and predictions. Got "
                f"{short(y_true)} and {short(y_pred)}.",
                parameter="y_true",
            )
        # Values that look like personal data are named by their tokens (see
        # docs/fairness.md): these names are stored in the policy's state and log.
        if isinstance(groups, Mapping):
            label = ",".join(f"{k}={public(groups[k])}" for k in sorted(groups, key=str))
        else:
            label = str(public(groups))
        return {
            f"{self.prefix}{c}[{label}]": float(code in METRICS[c].hits)
            for c in self.components
            if code in METRICS[c].base
        }

    # ------------------------------------------------------------------ verdicts
    def evaluate(self, data: Any) -> GateVerdict:
        """The verdict on a GroupMetrics, a FairnessReport or ``to_metrics()`` numbers.

        Returns
        -------
        dict
            ``verdict`` (``pass``, ``fail``, ``inconclusive``, ``no_data``), ``gate``
            (the description, with the groups at fault when it fails), ``candidate``
            (the widest gap, or smallest ratio), ``groups``, ``lower``/``upper`` (its
            interval) and ``component``.

        A weighted GroupMetrics or report is judged on each group's weighted rate and
        Kish effective sample size (which must reach ``min_count``), as its report's
        intervals are. ``to_metrics()`` numbers of a weighted report carry no counts to
        judge: a ConfigError says so.
        """
        rates = _weighted_rates(data, self.components)
        if rates is None:
            if isinstance(data, Mapping) and data.get(f"{self.prefix}weighted"):
                raise ConfigError(
                    "FairnessGate.evaluate got to_metrics() numbers of a weighted report, "
                    "which hold no counts to judge; evaluate the weighted GroupMetrics.",
                    parameter="data",
                )
            rates = self._rates(_confusion_of(data, self.prefix))
        verdict = self._verdict(rates, self.alpha, False)
        return cast("GateVerdict", verdict)

    def __call__(self, candidate: Any, current: Any) -> str | None:
        """Registry promotion check: why ``candidate`` must not be promoted, or None.

        Raises
        ------
        ConfigError
            When ``candidate`` is missing (``None``) or is not a model version (no
            ``metrics``): a model object, a path or a dict cannot be checked, and used to
            be reported as a version "with no per-group counts recorded".
        """
        _check_candidate(candidate)
        what = f"{getattr(candidate, 'name', 'model')} version {getattr(candidate, 'version', '?')}"
        metrics = getattr(candidate, "metrics", None)
        counts = _confusion_of(metrics if isinstance(metrics, Mapping) else {}, self.prefix)
        if isinstance(metrics, Mapping) and metrics.get(f"{self.prefix}weighted"):
            return (
                f"fairness gate {self.describe()!r}: {what} was registered with the metrics "
                "of a weighted report, which hold no counts to check; evaluate the gate "
                "on the weighted GroupMetrics before registering"
            )
        if not counts:
            return (
                f"fairness gate {self.describe()!r}: {what} has no per-group counts "
                "recorded; register it with metrics=report.to_metrics()"
            )
        result = self._verdict(self._rates(counts), self.alpha, False)
        verdict = result["verdict"]
        if verdict == "pass" or (verdict == "inconclusive" and not self.strict):
            return None
        if verdict == "no_data":
            return (
                f"fairness gate {self.describe()!r}: {what} has fewer than two groups with "
                f"{self.min_count} records to compare"
            )
        return f"fairness gate failed for {what}: {result['gate']}"

    def evaluate_rollout(
        self,
        candidate: Mapping[str, Any],
        baseline: Mapping[str, Any],
        *,
        alpha: float,
        min_samples: int,
        sequential: bool = True,
    ) -> dict[str, Any]:
        """Rollout gate protocol: test the candidate's gap from a canary's summaries.

        ``candidate`` and ``baseline`` map metric names to summaries with ``n`` and
        ``mean`` (what :meth:`observation` fed). The baseline's gap is reported as
        evidence; the limit applies to the candidate. ``min_samples`` is not used: each
        group needs ``min_count`` records.
        """
        result = self._verdict(self._summaries(candidate), alpha, sequential)
        base = self._verdict(self._summaries(baseline), alpha, sequential)
        return {**result, "baseline": base["candidate"], "n_baseline": base["n_candidate"]}

    def _summaries(self, summaries: Mapping[str, Any]) -> dict[str, dict[str, tuple[float, float]]]:
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for c in self.components:
            head = f"{self.prefix}{c}["
            rates: dict[str, tuple[float, float]] = {}
            for key, s in summaries.items():
                if key.startswith(head) and key.endswith("]"):
                    n = float(getattr(s, "n", 0))
                    rates[key[len(head) : -1]] = (
                        float(round(float(getattr(s, "mean", 0.0)) * n)),
                        n,
                    )
            out[c] = rates
        return out

    def _rates(self, counts: Mapping[str, list[int]]) -> dict[str, dict[str, tuple[float, float]]]:
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for c in self.components:
            d = METRICS[c]
            out[c] = {
                label: (float(sum(cf[i] for i in d.hits)), float(sum(cf[i] for i in d.base)))
                for label, cf in counts.items()
            }
        return out

    def _verdict(
        self, rates: Mapping[str, Mapping[str, tuple[float, float]]], alpha: float, sequential: bool
    ) -> dict[str, Any]:
        pairs: list[tuple[str, tuple[str, float, float], tuple[str, float, float]]] = []
        n_total = 0.0
        for c, by_group in rates.items():
            eligible = sorted(
                (label, k, n) for label, (k, n) in by_group.items() if n >= self.min_count
            )
            n_total = max(n_total, sum(n for _, _, n in eligible))
            pairs.extend(
                (c, eligible[i], eligible[j])
                for i in range(len(eligible))
                for j in range(i + 1, len(eligible))
            )
        result: dict[str, Any] = {
            "gate": self.describe(),
            "metric": self.metric,
            "n_candidate": n_total,
            "candidate": None,
            "groups": None,
            "lower": None,
            "upper": None,
            "component": None,
        }
        if not pairs:
            return {
                **result,
                "verdict": "no_data",
                "why": f"fewer than two groups of {self.min_count}",
            }
        a = alpha / len(pairs)
        k1 = np.array([p[1][1] for p in pairs])
        n1 = np.array([p[1][2] for p in pairs])
        k2 = np.array([p[2][1] for p in pairs])
        n2 = np.array([p[2][2] for p in pairs])
        fails: list[tuple[str, float, int, float, float]] = []
        widest: tuple[str, float, int, float, float] | None = None
        passes = True
        if self.max_difference is not None:
            d, lo, hi = _difference_bounds(k1, n1, k2, n2, alpha=a, sequential=sequential)
            size = np.abs(d)
            low_abs = np.maximum(np.maximum(lo, -hi), 0.0)
            high_abs = np.maximum(np.abs(lo), np.abs(hi))
            passes &= bool((high_abs <= self.max_difference).all())
            w = int(np.argmax(size))
            widest = ("difference", float(size[w]), w, float(low_abs[w]), float(high_abs[w]))
            fails += [
                ("difference", float(size[i]), i, float(low_abs[i]), float(high_abs[i]))
                for i in np.flatnonzero(low_abs > self.max_difference).tolist()
            ]
        if self.min_ratio is not None:
            r, lo, hi = _ratio_bounds(k1, n1, k2, n2, alpha=a, sequential=sequential)
            passes &= bool((lo >= self.min_ratio).all())
            if widest is None:
                w = int(np.argmin(np.where(np.isnan(r), np.inf, r)))
                widest = ("ratio", float(r[w]), w, float(lo[w]), float(hi[w]))
            fails += [
                ("ratio", float(r[i]), i, float(lo[i]), float(hi[i]))
                for i in np.flatnonzero(hi < self.min_ratio).tolist()
            ]
        assert widest is not None  # noqa: S101 - one limit is set
        kind, value, i, low, high = max(fails, key=lambda f: f[3]) if fails else widest
        c, g1, g2 = pairs[i]
        result.update(candidate=value, groups=[g1[0], g2[0]], lower=low, upper=high, component=c)
        if not math.isfinite(value):
            # A 0/0 ratio (both groups at 0) is undefined: no number, no interval to show;
            # it can never pass a min_ratio, so the verdict stays inconclusive.
            result.update(candidate=None, lower=None, upper=None)
        if fails:
            result["gate"] = (
                f"{self.describe()}: {c} {kind} between {g1[0]} and {g2[0]} is {value:.4g} "
                f"(interval [{low:.4g}, {high:.4g}])"
            )
            return {**result, "verdict": "fail"}
        return {**result, "verdict": "pass" if passes else "inconclusive"}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings, with ``"type": "FairnessGate"``."""
        return {"type": "FairnessGate", **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FairnessGate:
        """Rebuild a gate saved by :meth:`to_dict`.

        A saved gate has no ``format_version`` (format 1); one with a newer
        ``format_version`` was written by a newer prodml, and the error says to upgrade.

        Raises
        ------
        ConfigError
            (a StateError for a newer format, nesting or an unknown field) naming
            what is wrong.
        """
        from prodml._state import Field, check_depth, check_format_version  # noqa: PLC0415

        if not isinstance(data, Mapping) or data.get("type") != "FairnessGate":
            raise ConfigError("Not a saved FairnessGate: expected type='FairnessGate'.")
        check_depth(data, owner="FairnessGate")
        check_format_version(data.get("format_version", 1), 1, owner="FairnessGate")
        fields = {k: v for k, v in data.items() if k not in ("type", "format_version")}
        known = {f.name for f in dataclasses.fields(cls)}
        for f in dataclasses.fields(cls):
            no_default = f.default is dataclasses.MISSING
            if no_default and f.default_factory is dataclasses.MISSING and f.name not in fields:
                raise Field(None, f.name, owner="FairnessGate").fail("present", shown="nothing")
        for key in fields:
            if key not in known:
                where = key[:40] if isinstance(key, str) else "<key>"
                raise Field(None, where, owner="FairnessGate").fail(
                    "absent (not a known field)", shown="present"
                )
        return cls(**fields)


def _difference_bounds(
    k1: np.ndarray,
    n1: np.ndarray,
    k2: np.ndarray,
    n2: np.ndarray,
    *,
    alpha: float,
    sequential: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = k1 / n1 - k2 / n2
    if not sequential:
        lo, hi = stats.newcombe_interval(k1, n1, k2, n2, alpha)
        return d, lo, hi
    p1, p2 = (k1 + 1) / (n1 + 2), (k2 + 1) / (n2 + 2)  # smoothed: 0 of 50 is not "surely 0"
    s2 = p1 * (1 - p1) + p2 * (1 - p2)
    var = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    half = stats.sequence_halfwidth(var, s2 / _TUNING_N, alpha)
    return d, d - half, d + half


def _ratio_bounds(
    k1: np.ndarray,
    n1: np.ndarray,
    k2: np.ndarray,
    n2: np.ndarray,
    *,
    alpha: float,
    sequential: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smaller over larger value of each pair, and its interval."""
    p1, p2 = k1 / n1, k2 / n2
    swap = p1 > p2
    ks, ns = np.where(swap, k2, k1), np.where(swap, n2, n1)
    kl, nl = np.where(swap, k1, k2), np.where(swap, n1, n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (ks / ns) / (kl / nl)
    if not sequential:
        lo, hi = stats.ratio_interval(ks, ns, kl, nl, alpha)
        return r, np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=1.0)
    ps, pl = (ks + 1) / (ns + 2), (kl + 1) / (nl + 2)
    var = (1 - ps) / (ns * ps) + (1 - pl) / (nl * pl)
    s2 = (1 - ps) / ps + (1 - pl) / pl
    half = stats.sequence_halfwidth(var, s2 / _TUNING_N, alpha)
    log_r = np.log(ps / pl)
    return r, np.exp(log_r - half), np.exp(log_r + half)


def _check_candidate(candidate: object) -> None:
    """Refuse a missing candidate or one that is not a model version (duck-typed)."""
    expected = (
        "the ModelVersion to promote (ModelRegistry.promote(..., checks=[gate]) passes "
        "it), registered with metrics=report.to_metrics(); to check data rather than a "
        "version, call gate.evaluate(group_metrics)"
    )
    if candidate is None:
        raise ConfigError(
            f"FairnessGate: the candidate model version is missing (None); pass {expected}.",
            parameter="candidate",
        )
    if not hasattr(candidate, "metrics"):
        raise ConfigError(
            f"FairnessGate: the candidate must be a model version (with name, version and "
            f"metrics). Got {type_name(candidate)}, which is not one; pass {expected}.",
            parameter="candidate",
        )


def _weighted_rates(
    data: Any, components: tuple[str, ...]
) -> dict[str, dict[str, tuple[float, float]]] | None:
    """Effective (hits, base) by component and group of weighted data; else None."""
    from prodml.fairness._arrays import metric_arrays  # noqa: PLC0415 - cycle
    from prodml.fairness._group_metrics import GroupMetrics  # noqa: PLC0415 - cycle
    from prodml.fairness._report import FairnessReport  # noqa: PLC0415 - cycle

    if isinstance(data, GroupMetrics) and data.weighted:
        data = data.report()
    if not isinstance(data, FairnessReport) or data._weights is None:
        return None
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for c in components:
        a = metric_arrays(c, data._conf, None, 0, data._weights)
        out[c] = {
            label: (float(a.k[i]), float(a.n[i]))
            for i, label in enumerate(data.labels)
            if a.w is not None and a.w[i] > 0
        }
    return out


def _confusion_of(data: Any, prefix: str) -> dict[str, list[int]]:
    """Per-group confusion counts from a GroupMetrics, a report or to_metrics() numbers."""
    from prodml.fairness._group_metrics import GroupMetrics  # noqa: PLC0415 - cycle
    from prodml.fairness._report import FairnessReport  # noqa: PLC0415 - cycle

    if isinstance(data, GroupMetrics):
        data = data.report()
    if isinstance(data, FairnessReport):
        return {label: [int(x) for x in data._conf[i]] for i, label in enumerate(data.labels)}
    if not isinstance(data, Mapping):
        raise ConfigError(
            "FairnessGate.evaluate needs a GroupMetrics, a FairnessReport or the dict of "
            f"report.to_metrics(). Got {type(data).__name__}.",
            parameter="data",
        )
    head = f"{prefix}confusion["
    out: dict[str, list[int]] = {}
    for key, value in data.items():
        if not (isinstance(key, str) and key.startswith(head)):
            continue
        label, _, cell = key[len(head) :].rpartition("].")
        if cell not in _CELLS or not isinstance(value, int | float) or not value >= 0:
            continue
        if not math.isfinite(value):
            continue
        out.setdefault(label, [0, 0, 0, 0])[_CELLS.index(cell)] = int(value)
    return out
