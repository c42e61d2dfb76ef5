"""FairnessReport: per-group values with intervals, and gaps with tests (reads like MetricFrame)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd

from prodml._params import Interval, OneOf, check_params
from prodml._quote import short_repr
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.fairness import _gaps, stats
from prodml.fairness._arrays import aggregate, metric_arrays
from prodml.fairness._gaps import Gap, PairTests
from prodml.fairness._ingest import display, short, shown_keys, shown_label
from prodml.fairness._metrics import gap_components

if TYPE_CHECKING:
    from prodml.fairness._group_metrics import GroupMetrics

__all__ = ["FairnessReport"]

Method = Literal["between_groups", "to_overall"]
TOO_FEW = "too few to say"
NO_DATA = "no data"
ZERO_WEIGHT = "zero weight"


class FairnessReport:
    """Per-group metrics of a :class:`GroupMetrics`, their intervals, and the gaps' tests.

    Built by :meth:`GroupMetrics.report`. The attributes a fairlearn user knows read the
    same: :attr:`by_group`, :attr:`overall`, :meth:`difference`, :meth:`ratio`,
    :attr:`by_group_ci`. A (group, metric) whose base has fewer than ``min_count`` records
    is "too few to say": its value is ``nan`` in :attr:`by_group`, :attr:`status` says
    why, and it takes no part in any gap.

    Intervals are Wilson score intervals (rates) or DeLong normal intervals (AUC) at level
    ``1 - alpha``; see :mod:`prodml.fairness.stats`.

    From a weighted GroupMetrics (:attr:`weighted`), values are fairlearn's weighted
    rates, and intervals and tests use each group's Kish effective sample size
    ``(sum w)**2 / sum w**2`` in place of its count (:attr:`effective_counts`); a group
    whose base has records but weighs 0 in total has status ``"zero weight"``: no
    value, and no part in any gap.
    """

    def __init__(
        self,
        *,
        sensitive: Sequence[str],
        keys: list[tuple[object, ...]],
        conf: np.ndarray,
        hist: np.ndarray | None,
        metrics: Sequence[str],
        alpha: float,
        min_count: int,
        min_effect: float,
        correction: str,
        dropped: dict[str, int] | None = None,
        weights: np.ndarray | None = None,
    ) -> None:
        self.sensitive: tuple[str, ...] = tuple(sensitive)
        self.metrics: tuple[str, ...] = tuple(metrics)
        self.alpha = alpha
        self.min_count = min_count
        self.min_effect = min_effect
        self.correction = correction
        self.dropped: dict[str, int] = dict(dropped or {})
        self.keys = keys
        # Each group's values as shown (missing as "<missing>", personal data as its
        # token), worked out once, each column's distinct text checked for personal data
        # together: the labels, the index and the frame all show them.
        self._shown: list[tuple[object, ...]] = shown_keys(keys)
        self.labels: list[str] = [shown_label(self.sensitive, k) for k in self._shown]
        _check_labels(self.sensitive, keys, self.labels)
        self._conf = conf
        self._hist = hist
        #: Whether the values are weighted (from a GroupMetrics with ``weighted=True``).
        self.weighted: bool = weights is not None
        self._weights = weights
        self._arrays = {m: metric_arrays(m, conf, hist, min_count, weights) for m in self.metrics}

    # ------------------------------------------------------------------ building
    @classmethod
    def from_metrics(
        cls, gm: GroupMetrics, by: Sequence[str] | str | None = None, **settings: Any
    ) -> FairnessReport:
        """The report of ``gm``'s counts, grouped ``by`` some of its sensitive features."""
        unknown = sorted(set(settings) - {"alpha", "min_count", "min_effect", "correction"})
        if unknown:
            raise ConfigError(
                f"GroupMetrics.report() got an unknown setting {short_repr(unknown[0])}; it takes "
                "alpha, min_count, min_effect and correction.",
                parameter=unknown[0],
            )
        opts = {
            "alpha": gm.alpha,
            "min_count": gm.min_count,
            "min_effect": gm.min_effect,
            "correction": gm.correction,
            **settings,
        }
        check_params(
            "GroupMetrics.report",
            opts,
            {
                "alpha": [Interval(float, 0, 1, "neither")],
                "min_count": [Interval(int, 0, None)],
                "min_effect": [Interval(float, 0, 1)],
                "correction": [OneOf(stats.CORRECTIONS)],
            },
        )
        names = _by(by, gm.sensitive)
        keys, conf, hist, weights = aggregate(gm, names)
        return cls(
            sensitive=names,
            keys=keys,
            conf=conf,
            hist=hist,
            weights=weights,
            metrics=gm.metrics,
            dropped=gm.dropped,
            **opts,
        )

    # ------------------------------------------------------------------ tables
    def _index(self) -> pd.Index:
        if len(self.sensitive) == 1:
            return pd.Index([k[0] for k in self._shown], name=self.sensitive[0])
        return pd.MultiIndex.from_tuples(self._shown, names=list(self.sensitive))

    def _frame(self, column: Any) -> pd.DataFrame:
        data = {m: column(self._arrays[m]) for m in self.metrics}
        return pd.DataFrame(data, index=self._index(), columns=list(self.metrics))

    @cached_property
    def by_group(self) -> pd.DataFrame:
        """Value of each metric (columns) for each group (rows); ``nan`` when too few."""
        return self._frame(lambda a: np.where(a.ok | (a.kind == "count"), a.value, np.nan))

    @cached_property
    def _intervals(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for m, a in self._arrays.items():
            if a.kind == "rate":
                lo, hi = stats.wilson_interval(a.k, a.n, self.alpha)
            elif a.kind == "auc":
                half = stats.z_value(self.alpha) * np.sqrt(a.variance)
                lo, hi = np.clip(a.value - half, 0, 1), np.clip(a.value + half, 0, 1)
            else:
                lo, hi = a.value, a.value
            hide = ~(a.ok | (a.kind == "count"))
            out[m] = (np.where(hide, np.nan, lo), np.where(hide, np.nan, hi))
        return out

    @property
    def by_group_ci(self) -> list[pd.DataFrame]:
        """``[lower, upper]`` bounds of each group's interval, shaped like :attr:`by_group`."""
        return [
            self._frame(lambda a: self._intervals[a.name][0]),
            self._frame(lambda a: self._intervals[a.name][1]),
        ]

    @property
    def overall(self) -> pd.Series:
        """Each metric over every record (all groups together)."""
        return pd.Series({m: self._arrays[m].overall_value for m in self.metrics}, dtype=np.float64)

    @property
    def overall_ci(self) -> list[pd.Series]:
        """``[lower, upper]`` of each overall value's interval (Wilson; ``nan`` for AUC)."""
        lows, highs = {}, {}
        for m, a in self._arrays.items():
            if a.kind == "rate":
                lo, hi = stats.wilson_interval(a.overall_k, a.overall_n, self.alpha)
                lows[m], highs[m] = float(lo), float(hi)
            elif a.kind == "count":
                lows[m] = highs[m] = a.overall_value
            else:
                lows[m] = highs[m] = math.nan
        return [pd.Series(lows, dtype=np.float64), pd.Series(highs, dtype=np.float64)]

    @property
    def counts(self) -> pd.DataFrame:
        """Records behind each value: the metric's base (positives for ``tpr``...)."""
        return self._frame(_records)

    @property
    def weight_sums(self) -> pd.DataFrame:
        """Sum of ``sample_weight`` behind each value (the records, when unweighted)."""
        return self._frame(lambda a: _records(a) if a.w is None else a.w)

    @property
    def effective_counts(self) -> pd.DataFrame:
        """Kish's effective sample size behind each value, ``(sum w)**2 / sum w**2``.

        What the intervals and tests use in place of :attr:`counts`; equal to it when
        unweighted or when every weight of a group is the same.
        """
        return self._frame(lambda a: a.n)

    @property
    def status(self) -> pd.DataFrame:
        """``"ok"``, ``"too few to say"`` or ``"no data"`` for each group and metric.

        "no data" means the value is undefined: the metric's base is empty (no actual
        positives, for ``tpr``), or, for ``auc``, one of the two classes is absent.
        Weighted, ``"zero weight"`` means the base has records whose weights sum to 0:
        the value is 0/0, undefined.
        """
        conf = self._conf
        both_classes = (conf[:, 2] + conf[:, 3] > 0) & (conf[:, 0] + conf[:, 1] > 0)

        def one(a: Any) -> np.ndarray:
            defined = both_classes if a.kind == "auc" else _records(a) > 0
            out = np.where(
                a.ok | ((a.kind == "count") & (a.n > 0)), "ok", np.where(defined, TOO_FEW, NO_DATA)
            )
            if a.w is not None:
                out = np.where(defined & ~(a.w > 0), ZERO_WEIGHT, out)
            return out

        return self._frame(one)

    def to_frame(self) -> pd.DataFrame:
        """One row per group and metric: value, interval, records and status.

        Weighted, two more columns: ``weight`` (sum of the weights) and ``n_effective``
        (Kish's effective sample size, what the interval is computed from).
        """
        rows = []
        status = self.status
        for m in self.metrics:
            a = self._arrays[m]
            lo, hi = self._intervals[m]
            for i in range(len(self.keys)):
                shown = bool(a.ok[i]) or a.kind == "count"
                rows.append(
                    {
                        **dict(zip(self.sensitive, self._shown[i], strict=True)),
                        "metric": m,
                        "value": float(a.value[i]) if shown else math.nan,
                        "lower": float(lo[i]),
                        "upper": float(hi[i]),
                        "n": int(_records(a)[i]),
                        "status": status[m].iloc[i],
                        **(
                            {"weight": float(a.w[i]), "n_effective": float(a.n[i])}
                            if a.w is not None
                            else {}
                        ),
                    }
                )
        extra = ["weight", "n_effective"] if self.weighted else []
        return pd.DataFrame(
            rows,
            columns=[*self.sensitive, "metric", "value", "lower", "upper", "n", "status", *extra],
        )

    # ------------------------------------------------------------------ tests
    @cached_property
    def _tests(self) -> dict[str, PairTests]:
        """Pairwise tests of every tested metric, Holm-adjusted as one family."""
        tests = {
            m: _gaps.pair_tests(a, self.alpha) for m, a in self._arrays.items() if a.kind != "count"
        }
        flat = np.concatenate([t.p for t in tests.values()]) if tests else np.array([])
        adjusted = stats.adjust_pvalues(flat, self.correction)
        start = 0
        for t in tests.values():
            t.p_adjusted = adjusted[start : start + len(t.p)]
            start += len(t.p)
        return tests

    def _flagged_pairs(self, metric: str) -> tuple[tuple[str, str], ...]:
        t = self._tests[metric]
        assert t.p_adjusted is not None  # noqa: S101 - set in _tests
        hit = (t.p_adjusted < self.alpha) & (np.abs(t.diff) >= self.min_effect)
        return tuple(
            (self.labels[int(a)], self.labels[int(b)])
            for a, b in zip(t.i[hit], t.j[hit], strict=True)
        )

    def _gap(self, metric: str, kind: Literal["difference", "ratio"], method: Method) -> Gap:
        if method not in ("between_groups", "to_overall"):
            raise ConfigError(
                f"method must be 'between_groups' or 'to_overall'. Got {short_repr(method)} "
                "instead.",
                parameter="method",
            )
        parts = gap_components(metric, self.metrics)
        if any(self._arrays[p].kind == "count" for p in parts):
            raise ConfigError("'count' has no gap to test; ask for a rate.", parameter="metric")
        gaps = []
        for p in parts:
            a = self._arrays[p]
            if method == "between_groups":
                g = _gaps.between(a, kind, self._tests[p], self.alpha, self.labels)
            else:
                g = _gaps.to_overall(a, kind, self.alpha, self.labels)
            gaps.append((p, g))
        # A criterion is as bad as its worst component (fairlearn's agg="worst_case").
        values = [g["value"] for _, g in gaps]
        finite = [i for i, v in enumerate(values) if not math.isnan(v)]
        pick = 0
        if finite:
            pick = (
                max(finite, key=values.__getitem__)
                if kind == "difference"
                else min(finite, key=values.__getitem__)
            )
        component, chosen = gaps[pick]
        flagged_pairs = tuple(pair for p in parts for pair in self._flagged_pairs(p))
        return Gap(
            metric=metric,
            kind=kind,
            method=method,
            component=component,
            flagged=bool(flagged_pairs),
            flagged_pairs=flagged_pairs,
            **chosen,
        )

    @overload
    def difference(
        self,
        metric: None = None,
        *,
        method: Method = "between_groups",
        groups: None = None,
    ) -> pd.Series: ...
    @overload
    def difference(
        self,
        metric: str,
        *,
        method: Method = "between_groups",
        groups: tuple[Any, Any] | None = None,
    ) -> Gap: ...
    def difference(
        self,
        metric: str | None = None,
        *,
        method: Method = "between_groups",
        groups: tuple[Any, Any] | None = None,
    ) -> pd.Series | Gap:
        """The gap between groups as a difference, with an interval and a test.

        Parameters
        ----------
        metric
            A metric of the report, an alias of one, or a criterion:
            ``"demographic_parity"`` (selection rate), ``"equal_opportunity"`` (tpr),
            ``"equalized_odds"`` (the worse of tpr and fpr). ``None`` returns the value
            for every metric as a pandas Series, exactly like ``MetricFrame.difference()``.
        method
            ``"between_groups"``: largest minus smallest group value; ``"to_overall"``:
            the largest distance of a group from the overall value.
        groups
            Two group labels (as in :attr:`labels`) to compare instead: the interval is
            then at the nominal level ``1 - alpha``.

        Returns
        -------
        Gap or pandas.Series
        """
        if metric is None:
            return self._series("difference", method)
        if groups is not None:
            return self._pair_gap(metric, "difference", groups)
        return self._gap(metric, "difference", method)

    @overload
    def ratio(
        self,
        metric: None = None,
        *,
        method: Method = "between_groups",
        groups: None = None,
    ) -> pd.Series: ...
    @overload
    def ratio(
        self,
        metric: str,
        *,
        method: Method = "between_groups",
        groups: tuple[Any, Any] | None = None,
    ) -> Gap: ...
    def ratio(
        self,
        metric: str | None = None,
        *,
        method: Method = "between_groups",
        groups: tuple[Any, Any] | None = None,
    ) -> pd.Series | Gap:
        """The gap between groups as a ratio (smallest over largest), with an interval.

        The test and the flag are the difference's (a ratio of 1 is a difference of 0);
        the interval is MOVER-R (rates) or a log-normal interval (AUC). Parameters and
        return as :meth:`difference`; ``metric=None`` matches ``MetricFrame.ratio()``.
        """
        if metric is None:
            return self._series("ratio", method)
        if groups is not None:
            return self._pair_gap(metric, "ratio", groups)
        return self._gap(metric, "ratio", method)

    def _series(self, kind: Literal["difference", "ratio"], method: Method) -> pd.Series:
        names = [m for m in self.metrics if self._arrays[m].kind != "count"]
        return pd.Series({m: self._gap(m, kind, method).value for m in names}, dtype=np.float64)

    def _pair_gap(
        self, metric: str, kind: Literal["difference", "ratio"], groups: tuple[Any, Any]
    ) -> Gap:
        parts = gap_components(metric, self.metrics)
        if len(parts) != 1:
            raise ConfigError(
                f"groups=... compares two groups on one metric; {short_repr(metric)} combines "
                f"{list(parts)}.",
                parameter="groups",
            )
        p = parts[0]
        a, b = (self._find(g) for g in groups)
        chosen = _gaps.pair(
            self._arrays[p], kind, self._tests[p], (a, b), alpha=self.alpha, labels=self.labels
        )
        flagged = tuple(x for x in self._flagged_pairs(p) if set(x) == set(chosen["groups"]))
        return Gap(
            metric=metric,
            kind=kind,
            method="pair",
            component=p,
            flagged=bool(flagged),
            flagged_pairs=flagged,
            **chosen,
        )

    def _find(self, group: Any) -> int:
        if isinstance(group, str) and group in self.labels:
            return self.labels.index(group)
        key = group if isinstance(group, tuple) else (group,)
        # By the values as shown too: after a saved state is loaded, a group of personal
        # values is keyed by their tokens, and asking by the values still finds it.
        shown = tuple(map(display, key))
        for i, k in enumerate(self.keys):
            if self._shown[i] == key or k == key or self._shown[i] == shown:
                return i
        raise ConfigError(
            f"No group {short_repr(group)} in this report; groups: {self.labels[:20]}.",
            parameter="groups",
        )

    def gaps(self) -> pd.DataFrame:
        """Every pair of groups of every tested metric: difference, interval, p-values, flag."""
        rows = []
        for m, t in self._tests.items():
            assert t.p_adjusted is not None  # noqa: S101 - set in _tests
            a = self._arrays[m]
            for r in range(len(t.i)):
                i, j = int(t.i[r]), int(t.j[r])
                rows.append(
                    {
                        "metric": m,
                        "group_a": self.labels[i],
                        "group_b": self.labels[j],
                        "difference": float(t.diff[r]),
                        "lower": float(t.lower[r]),
                        "upper": float(t.upper[r]),
                        "p_value": float(t.p[r]),
                        "p_adjusted": float(t.p_adjusted[r]),
                        "flagged": bool(
                            t.p_adjusted[r] < self.alpha and abs(t.diff[r]) >= self.min_effect
                        ),
                        "n_a": int(_records(a)[i]),
                        "n_b": int(_records(a)[j]),
                    }
                )
        columns = ["metric", "group_a", "group_b", "difference", "lower", "upper",
                   "p_value", "p_adjusted", "flagged", "n_a", "n_b"]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    @property
    def flagged(self) -> list[Gap]:
        """The between-groups gap of each metric that has a flagged pair of groups."""
        return [
            g
            for m in self.metrics
            if self._arrays[m].kind != "count"
            and (g := self._gap(m, "difference", "between_groups")).flagged
        ]

    # ------------------------------------------------------------------ export
    def to_metrics(self, prefix: str = "", *, counts: bool = True) -> dict[str, float]:
        """Flat, finite numbers by name, for a registry version's metrics or a monitor.

        ``{m}[{group}]`` per group value (groups with enough records),
        ``{m}_difference`` and ``{m}_ratio`` (fairlearn's values),
        ``{m}_difference_lower`` (the largest gap the data show for sure: the largest
        lower bound over the pairs, with Bonferroni intervals at family level ``alpha``
        across every pair of every metric; 0 when none), ``{m}_ratio_upper`` (the
        smallest ratio shown for sure, likewise; 1 when none), ``{m}_flagged`` (flagged
        pairs), and with ``counts=True`` each group's confusion counts as
        ``confusion[{group}].tp`` etc., from which :class:`FairnessGate` recomputes
        everything.

        Weighted, the record counts would make a gate recompute *unweighted* gaps, so
        they are left out and ``{prefix}weighted`` is 1: a registry FairnessGate then
        refuses the version and says why (evaluate the gate on the GroupMetrics).
        """
        out: dict[str, float] = {}
        for m in self.metrics:
            a = self._arrays[m]
            for i, label in enumerate(self.labels):
                if (a.ok[i] or a.kind == "count") and math.isfinite(a.value[i]):
                    out[f"{prefix}{m}[{label}]"] = float(a.value[i])
            if a.kind == "count":
                continue
            diff = self._gap(m, "difference", "between_groups")
            ratio = self._gap(m, "ratio", "between_groups")
            family = sum(len(t.p) for t in self._tests.values())
            low, high = _gaps.evidence(a, self._tests[m], self.alpha, family)
            for name, v in (
                ("difference", diff.value),
                ("ratio", ratio.value),
                ("difference_lower", low),
                ("ratio_upper", high),
            ):
                if math.isfinite(v):
                    out[f"{prefix}{m}_{name}"] = float(v)
            out[f"{prefix}{m}_flagged"] = float(len(self._flagged_pairs(m)))
        if self.weighted:
            out[f"{prefix}weighted"] = 1.0
        elif counts:
            for i, label in enumerate(self.labels):
                for j, cell in enumerate(("tn", "fp", "fn", "tp")):
                    out[f"{prefix}confusion[{label}].{cell}"] = float(self._conf[i, j])
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe report: settings, one row per group and metric, and each gap."""
        frame = self.to_frame()
        rows = [
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in r.items()
            }
            for r in frame.to_dict(orient="records")
        ]
        gaps = [
            self._gap(m, kind, "between_groups").to_dict()
            for m in self.metrics
            if self._arrays[m].kind != "count"
            for kind in ("difference", "ratio")
        ]
        out: dict[str, Any] = {
            "sensitive": list(self.sensitive),
            "metrics": list(self.metrics),
            "alpha": self.alpha,
            "min_count": self.min_count,
            "min_effect": self.min_effect,
            "correction": self.correction,
            "dropped": dict(self.dropped),
            "groups": rows,
            "gaps": gaps,
        }
        if self.weighted:
            out["weighted"] = True
        return out

    def __repr__(self) -> str:
        flagged = [g.metric for g in self.flagged]
        return (
            f"FairnessReport(sensitive={list(self.sensitive)}, groups={len(self.keys)}, "
            f"metrics={list(self.metrics)}, flagged={flagged})"
        )


def _records(a: Any) -> np.ndarray:
    """Records in each group's base (``a.n`` holds effective counts when weighted)."""
    return a.n if a.records is None else a.records


def _check_labels(
    sensitive: Sequence[str], keys: list[tuple[object, ...]], labels: list[str]
) -> None:
    """Refuse two groups shown alike (``1`` and ``"1"``): their numbers would merge.

    Labels name the groups in flat metric names (:meth:`FairnessReport.to_metrics`),
    which is what a FairnessGate reads back: one group would overwrite the other.
    """
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        j = seen.setdefault(label, i)
        if j == i:
            continue
        column = next(
            n
            for n, a, b in zip(sensitive, keys[j], keys[i], strict=True)
            if a != b or type(a) is not type(b)
        )
        a, b = keys[j][sensitive.index(column)], keys[i][sensitive.index(column)]
        raise SchemaError(
            problems=[
                SchemaProblem(
                    column,
                    "type",
                    f"the values {short(a)} ({type(a).__name__}) and {short(b)} "
                    f"({type(b).__name__}) are different groups shown alike ({short(label, 60)}); "
                    "give the column one type",
                )
            ]
        )


def _by(by: Sequence[str] | str | None, sensitive: Sequence[str]) -> list[str]:
    if by is None:
        return list(sensitive)
    names = [by] if isinstance(by, str) else list(by)
    if not names or len(set(names)) != len(names) or any(n not in sensitive for n in names):
        raise ConfigError(
            f"report(by=...) must name distinct sensitive features among {list(sensitive)}. "
            f"Got {short_repr(by)} instead.",
            parameter="by",
        )
    return names
