"""The batch drift detector: reference profile in, per-column verdicts out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from prodml._data import as_columns, is_tabular, iter_columns
from prodml._params import Interval, OneOf, Predicate, check_params
from prodml._progress import chunk_progress
from prodml._quote import short_repr
from prodml.drift import stats
from prodml.drift._classifier import RowSample, classifier_check
from prodml.drift._compare import Comparison, compare_categorical, compare_numeric
from prodml.drift._profile import _KINDS, MAX_EXACT, CategoricalColumn, NumericColumn, Profile
from prodml.drift._report import DriftReport, DriftResult
from prodml.errors import DriftError, NotFittedError, SchemaError, SchemaProblem
from prodml.privacy import Privacy, check_privacy

__all__ = ["MAX_SAMPLE_ROWS", "DriftDetector"]

MAX_SAMPLE_ROWS = 1_000_000
"""Largest ``sample_rows`` of the classifier check (rows per side; a ConfigError above)."""


class DriftDetector:
    """Compare current data with a reference, column by column.

    Each column gets a two-sample test (Kolmogorov-Smirnov for numbers and datetimes,
    chi-square homogeneity for categories), the p-values are corrected for multiple
    testing, and a column is *drifted* only when its corrected p-value is at most
    ``alpha`` **and** its effect size is at least ``min_effect``, so that a large sample
    does not flag a negligible shift.

    Parameters
    ----------
    alpha
        Significance level of the corrected tests.
    correction
        ``"holm"``, ``"bonferroni"``, ``"fdr_bh"`` or ``"none"``.
    min_effect
        Effect-size floor: the KS distance ``max |F_ref - F_cur|`` for numeric columns,
        the total variation distance for categorical ones (both: the largest change in
        the probability of some event). 0.02 catches a 0.05-sd location shift.
    numeric_test
        ``"ks"`` or ``"cvm"`` (Cramer-von Mises) for the p-value of numeric columns.
    bins
        Reference-quantile bins of the PSI / Jensen-Shannon / Hellinger metrics.
    columns
        Columns to compare; ``None`` for every column of the reference.
    max_exact, relative_accuracy
        Passed to the :class:`~prodml.drift.Profile` of each sample. Numeric columns with
        at most ``max_exact`` values (default 100,000) are compared exactly (statistics and
        p-values equal scipy's); larger ones through a sketch, with verdicts that keep to
        the reported ``error_bound`` in bounded memory. Raise ``max_exact`` for exact
        p-values on large samples, at 8 bytes per reference value; at most 100,000,000
        (:data:`~prodml.drift._profile.MAX_EXACT`), a ConfigError above.
    min_null_effect
        Effect floor of the null-fraction test: each column whose null share differs
        between the samples gets a two-proportion z-test on it (in the same corrected
        family as the value tests); the column is *drifted* also when that test is
        significant and the null share moved by at least this much (0.02: two points).
    multivariate
        Also run a classifier-based check of the joint distribution: a gradient-boosting
        model learns to tell ``sample_rows`` random reference rows from as many current
        rows; its held-out AUC is the statistic, ``2 * AUC - 1`` the effect, and a
        one-sided Mann-Whitney test the p-value (not part of the corrected family). The
        result is an extra row ``"<multivariate>"``; needs the rows, not a Profile.
    sample_rows
        Rows sampled from each side for the classifier check; at most 1,000,000
        (``MAX_SAMPLE_ROWS``), a ConfigError above.
    random_state
        Seed of the row sampling and of the classifier.
    privacy
        What profiles and reports may keep and show about values
        (:class:`~prodml.privacy.Privacy`; ``None``: the default policy). Hashed columns
        are tested on their hashes (equal values stay equal); a report shows a category's
        label only when it was seen at least ``privacy.k`` times in both samples together.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)})
    >>> cur = pd.DataFrame({"x": rng.normal(0.3, size=5000), "c": rng.choice(["a", "b"], 5000)})
    >>> report = DriftDetector().fit(ref).detect(cur)
    >>> report.drifted_columns
    ['x']
    >>> round(report["x"].effect, 3), report["x"].method
    (0.141, 'ks')
    """

    reference_: Profile
    reference_sample_: RowSample | None

    def __init__(
        self,
        alpha: float = 0.05,
        correction: Literal["bonferroni", "fdr_bh", "holm", "none"] = "holm",
        min_effect: float = 0.02,
        *,
        numeric_test: Literal["cvm", "ks"] = "ks",
        bins: int = 10,
        columns: Sequence[str] | None = None,
        max_exact: int = 100_000,
        relative_accuracy: float = 1e-3,
        min_null_effect: float = 0.02,
        multivariate: bool = False,
        sample_rows: int = 20_000,
        random_state: int = 0,
        privacy: Privacy | None = None,
    ) -> None:
        self.alpha = alpha
        self.correction = correction
        self.min_effect = min_effect
        self.numeric_test = numeric_test
        self.bins = bins
        self.columns = columns
        self.max_exact = max_exact
        self.relative_accuracy = relative_accuracy
        self.min_null_effect = min_null_effect
        self.multivariate = multivariate
        self.sample_rows = sample_rows
        self.random_state = random_state
        self.privacy = privacy

    def _check_params(self) -> None:
        check_params(
            "DriftDetector",
            self.get_params(),
            {
                "alpha": [Interval(float, 0, 1, "neither")],
                "correction": [OneOf(stats.CORRECTIONS)],
                "min_effect": [Interval(float, 0, 1)],
                "numeric_test": [OneOf(("cvm", "ks"))],
                "bins": [Interval(int, 2, 1000)],
                "columns": [
                    OneOf((None,)),
                    Predicate(
                        lambda c: not isinstance(c, str) and all(isinstance(n, str) for n in c),  # type: ignore[attr-defined]
                        "a list of column names",
                    ),
                ],
                "max_exact": [Interval(int, 10_000, MAX_EXACT)],
                "relative_accuracy": [Interval(float, 0, 0.1, "neither")],
                "min_null_effect": [Interval(float, 0, 1)],
                "multivariate": [OneOf((True, False))],
                "sample_rows": [Interval(int, 100, MAX_SAMPLE_ROWS)],
                "random_state": [Interval(int, 0, None)],
                "privacy": [
                    OneOf((None,)),
                    Predicate(lambda p: isinstance(p, Privacy), "a prodml.privacy.Privacy"),
                ],
            },
        )
        self._policy = check_privacy("DriftDetector", self.privacy)

    def get_params(self) -> dict[str, Any]:
        """The settings, by name (scikit-learn style)."""
        return {
            "alpha": self.alpha,
            "correction": self.correction,
            "min_effect": self.min_effect,
            "numeric_test": self.numeric_test,
            "bins": self.bins,
            "columns": self.columns,
            "max_exact": self.max_exact,
            "relative_accuracy": self.relative_accuracy,
            "min_null_effect": self.min_null_effect,
            "multivariate": self.multivariate,
            "sample_rows": self.sample_rows,
            "random_state": self.random_state,
            "privacy": self.privacy,
        }

    def _profile(
        self, data: object, columns: Sequence[str] | None, what: str
    ) -> tuple[Profile, RowSample | None]:
        """Profile ``data`` (and sample its rows for the classifier check) in one pass."""
        sample = None
        if isinstance(data, Profile):
            if self.multivariate:
                raise DriftError(
                    f"multivariate=True needs the {what} rows; a Profile holds only summaries"
                )
            prof = data
            if columns is not None:
                _require_columns(list(prof.columns), columns, what)
        else:
            prof = Profile(
                max_exact=self.max_exact,
                relative_accuracy=self.relative_accuracy,
                columns=columns,
                privacy=self._policy,
            )
            prof._check()
            chunks = iter_columns(data, what=f"{what} data")
            # An iterable of chunks is long work: a bar on a terminal (prodml._progress).
            for cols in chunk_progress(chunks, desc=f"profiling {what}", enabled=None):
                if columns is not None and not prof._started:  # name the side at fault
                    _require_columns(list(cols.names), columns, what)
                prof._update_one(cols)
                if self.multivariate:
                    if sample is None:
                        seed = self.random_state + (what == "current")
                        sample = RowSample(self.sample_rows, list(prof.columns), seed)
                    sample._add(cols)
        if prof.n_rows == 0:
            raise DriftError(f"the {what} data has no rows")
        return prof.finalize(), sample

    def fit(self, reference: object) -> DriftDetector:
        """Profile the reference (a table, an iterable of chunks, or a :class:`Profile`).

        Raises
        ------
        DriftError
            When the reference has no rows.
        SchemaError
            For unsupported input, a missing column or a column of unsupported type.
        """
        self._check_params()
        self.reference_, self.reference_sample_ = self._profile(
            reference, self.columns, "reference"
        )
        names = list(self.reference_.columns) if self.columns is None else list(self.columns)
        self.columns_ = names
        return self

    def detect(self, current: object) -> DriftReport:
        """Compare ``current`` (table, chunks or :class:`Profile`) with the reference.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        SchemaError
            When ``current`` lacks a reference column, or a column changed kind
            (numeric in the reference, text in the current data).
        DriftError
            When ``current`` has no rows.
        """
        if not hasattr(self, "reference_"):
            raise NotFittedError(
                "This DriftDetector is not fitted yet; call fit(reference) first.",
                estimator="DriftDetector",
            )
        self._check_params()
        ref = self.reference_
        comparisons: dict[str, Comparison | str] = {}
        sample = None
        if is_tabular(current):
            cur = self._detect_by_column(current, comparisons)
            if self.multivariate:
                sample = RowSample(self.sample_rows, self.columns_, self.random_state + 1)
                sample.update(current)
        else:
            cur, sample = self._profile(current, self.columns_, "current")
            _check_kinds(ref, cur.kinds, self.columns_)
            for name in self.columns_:
                comparisons[name] = self._compare(ref, cur, name)
        report = self._report(ref, cur, comparisons)
        if self.multivariate:
            report.results.append(self._classifier(sample, cur))
        return report

    def _classifier(self, sample: RowSample | None, cur: Profile) -> DriftResult:
        ref_rows = self.reference_sample_.rows if self.reference_sample_ else None
        cur_rows = sample.rows if sample else None
        if ref_rows is None or cur_rows is None:  # pragma: no cover - fit/detect sample rows
            raise DriftError("no rows were sampled for the classifier check")
        wanted = set(self.columns_)
        kinds = {n: k for n, k in self.reference_.kinds.items() if n in wanted}
        for n, k in cur.kinds.items():
            if kinds.get(n) == "null":
                kinds[n] = k
        return classifier_check(
            ref_rows,
            cur_rows,
            kinds,
            alpha=self.alpha,
            min_effect=self.min_effect,
            seed=self.random_state,
        )

    def _detect_by_column(
        self, current: object, comparisons: dict[str, Comparison | str]
    ) -> Profile:
        """Profile and compare one column at a time: one sorted column copy at a time."""
        cols = as_columns(current, what="current data")
        _require_columns(list(cols.names), self.columns_, "current")
        if cols.num_rows == 0:
            raise DriftError("the current data has no rows")
        kinds = {}
        for name in self.columns_:
            info = cols.kind(name)
            kinds[name] = _KINDS.get(info.kind, "null")
        _check_kinds(self.reference_, kinds, self.columns_)
        params = {
            "max_exact": self.max_exact,
            "relative_accuracy": self.relative_accuracy,
            "privacy": self._policy,
        }
        cur = Profile(**params)  # type: ignore[arg-type]
        cur.n_rows, cur._started = cols.num_rows, True
        cur.columns = dict.fromkeys(self.columns_)
        for name in self.columns_:
            # One column of the same view: no per-column table view (that made detect
            # quadratic, then cubic, in the number of columns).
            cur._update_column(cols, name)
            comparisons[name] = self._compare(self.reference_, cur, name)
            state = cur.columns[name]
            if isinstance(state, NumericColumn):
                state.release()
        return cur

    def _compare(self, ref: Profile, cur: Profile, name: str) -> Comparison | str:
        r, c = ref.columns[name], cur.columns[name]
        if r is None or r.count == 0:
            return "every reference value is null"
        if c is None or c.count == 0:
            return "every current value is null"
        if (
            self.numeric_test == "cvm"
            and isinstance(r, NumericColumn)
            and min(r.count, c.count) < 2
        ):
            side = "reference" if r.count < 2 else "current"
            return f"numeric_test='cvm' needs two or more values on each side; the {side} has one"
        if isinstance(r, NumericColumn) and isinstance(c, NumericColumn):
            return compare_numeric(
                r, c, test=self.numeric_test, bins=self.bins, log_gamma=ref.log_gamma
            )
        if isinstance(r, CategoricalColumn) and isinstance(c, CategoricalColumn):
            pair = _comparable(ref, cur, r, c)
            if isinstance(pair, str):
                return pair
            return compare_categorical(*pair, k=self._policy.k)
        raise DriftError(
            f"column {short_repr(name)} cannot be compared", column=name
        )  # pragma: no cover

    def _report(
        self, ref: Profile, cur: Profile, comparisons: dict[str, Comparison | str]
    ) -> DriftReport:
        tested = [n for n, c in comparisons.items() if isinstance(c, Comparison)]
        # Null-fraction tests join the corrected family, for columns with a null anywhere:
        # also those whose values cannot be tested (every value null on one side is the
        # largest null-share change there is, not a reason to stay silent).
        nulls = {n: _null_test(ref, cur, n) for n in comparisons}
        null_tested = [n for n in comparisons if nulls[n] is not None]
        raw = [comparisons[n].p_value for n in tested]  # type: ignore[union-attr]
        raw += [nulls[n][0] for n in null_tested]  # type: ignore[index]
        family = stats.adjust_pvalues(np.asarray(raw), self.correction)
        adjusted = dict(zip(tested, family[: len(tested)], strict=True))
        null_adjusted = dict(zip(null_tested, family[len(tested) :], strict=True))
        results = []
        ref_kinds, cur_kinds = ref.kinds, cur.kinds  # each a dict built per call: once
        for name, comp in comparisons.items():
            common: dict[str, Any] = {
                "column": name,
                "kind": ref_kinds[name] if ref_kinds[name] != "null" else cur_kinds[name],
                "n_reference": _count(ref, name),
                "n_current": _count(cur, name),
                "null_fraction_reference": ref.n_null(name) / ref.n_rows,
                "null_fraction_current": cur.n_null(name) / cur.n_rows,
            }
            if isinstance(comp, str):
                null_metrics, null_drifted, null_note = self._null_verdict(
                    nulls[name], null_adjusted.get(name), common
                )
                results.append(
                    DriftResult(
                        method="none",
                        statistic=None,
                        p_value=None,
                        p_adjusted=None,
                        effect=None,
                        drifted=null_drifted,
                        testable=False,
                        note="; ".join([comp, *null_note]),
                        metrics=null_metrics,
                        **common,
                    )
                )
                continue
            p_adj = float(adjusted[name])
            significant = p_adj <= self.alpha
            drifted = significant and comp.effect >= self.min_effect
            notes = []
            if significant and not drifted:
                notes.append(
                    f"significant (p_adjusted {p_adj:.2g}) but effect {comp.effect:.3g} is "
                    f"below min_effect {self.min_effect:g}: not drifted"
                )
            metrics = dict(comp.metrics)
            null_metrics, null_drifted, null_note = self._null_verdict(
                nulls[name], null_adjusted.get(name), common
            )
            metrics.update(null_metrics)
            drifted = drifted or null_drifted
            notes += null_note
            if comp.error_bound > 0:
                notes.append(
                    f"sketched profile: KS distance within {comp.error_bound:.2g} of exact"
                )
            results.append(
                DriftResult(
                    method=comp.method,
                    statistic=comp.statistic,
                    p_value=comp.p_value,
                    p_adjusted=p_adj,
                    effect=comp.effect,
                    drifted=bool(drifted),
                    note="; ".join(notes),
                    error_bound=comp.error_bound,
                    metrics=metrics,
                    plot=comp.plot,
                    **common,
                )
            )
        settings = {k: v for k, v in self.get_params().items() if k != "columns"}
        settings["privacy"] = self._policy.to_dict()
        return DriftReport(results, settings=settings, n_reference=ref.n_rows, n_current=cur.n_rows)

    def _null_verdict(
        self,
        test: tuple[float, float] | None,
        adjusted: float | None,
        common: dict[str, Any],
    ) -> tuple[dict[str, float | None], bool, list[str]]:
        """The null-share test's metrics, whether it makes the column drifted, its note."""
        if test is None or adjusted is None:
            return {}, False, []
        null_p, null_effect = test
        null_adj = float(adjusted)
        metrics: dict[str, float | None] = {
            "null_p_value": null_p,
            "null_p_adjusted": null_adj,
            "null_effect": null_effect,
        }
        if null_adj <= self.alpha and null_effect >= self.min_null_effect:
            note = (
                f"null share {common['null_fraction_reference']:.1%} -> "
                f"{common['null_fraction_current']:.1%} (p_adjusted {null_adj:.2g}): drifted"
            )
            return metrics, True, [note]
        return metrics, False, []


def _null_test(ref: Profile, cur: Profile, name: str) -> tuple[float, float] | None:
    """Two-proportion z-test on the null shares: (two-sided p-value, |difference|).

    ``None`` when neither sample has a null, or both hold only nulls (nothing to test).
    """
    x1, n1, x2, n2 = ref.n_null(name), ref.n_rows, cur.n_null(name), cur.n_rows
    if x1 + x2 == 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:  # every value null on both sides: nothing changed, nothing to test
        return None
    z = abs(p2 - p1) / se
    return math.erfc(z / math.sqrt(2.0)), abs(p2 - p1)


def _comparable(
    ref: Profile, cur: Profile, r: CategoricalColumn, c: CategoricalColumn
) -> tuple[CategoricalColumn, CategoricalColumn] | str:
    """Both columns on the same footing: hashed alike, with one salt; or why not."""
    if r.hashed == c.hashed and not (r.hashed and ref.salt_id != cur.salt_id):
        return r, c
    if ref.salt_id != cur.salt_id:
        return (
            "values are hashed with different salts in the two samples; set the "
            f"{cur.privacy.salt_env} environment variable to one secret for every process "
            "that builds profiles"
        )
    policy = (cur if c.hashed else ref).tokenizer()
    if policy is None:
        return "values are hashed with a salt this process does not have"
    if r.hashed:
        c = _hashed_copy(c, policy)
    else:
        r = _hashed_copy(r, policy)
    return r, c


def _hashed_copy(state: CategoricalColumn, policy: Privacy) -> CategoricalColumn:
    """A column of raw values as a hashed one (counts per token id), to compare with one."""
    out = CategoricalColumn(n_null=state.n_null, hashed=True)
    counts = state.counts
    out.add_ids(policy.token_ids(counts), np.fromiter(counts.values(), np.int64, len(counts)))
    return out


def _count(prof: Profile, name: str) -> int:
    state = prof.columns[name]
    return 0 if state is None else state.count


def _require_columns(have: list[str], want: Sequence[str], what: str) -> None:
    known = set(have)
    missing = [n for n in want if n not in known]
    if missing:
        raise SchemaError(
            problems=[
                SchemaProblem(n, "missing", f"column is missing from the {what} data")
                for n in missing
            ]
        )


def _check_kinds(ref: Profile, cur_kinds: dict[str, str], names: Sequence[str]) -> None:
    problems = []
    ref_kinds = ref.kinds
    for name in names:
        rk, ck = ref_kinds[name], cur_kinds[name]
        if "null" not in (rk, ck) and rk != ck:
            problems.append(
                SchemaProblem(
                    name, "type", f"column is {rk} in the reference but {ck} in the current data"
                )
            )
    if problems:
        raise SchemaError(problems=problems)
