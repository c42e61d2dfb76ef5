"""GroupMetrics: per-group confusion counts and score histograms that stream and merge."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from prodml._params import check_params
from prodml._quote import short_repr
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.fairness import _ingest
from prodml.fairness._ingest import public_key, short, weight_value
from prodml.fairness._kinds import Kinds
from prodml.fairness._metrics import DEFAULT_METRICS, canonical
from prodml.fairness._policies import SETTINGS, Policies, check_categories, too_many
from prodml.privacy import is_token

if TYPE_CHECKING:
    from prodml.fairness._report import FairnessReport

__all__ = ["GroupMetrics"]

Policy = Literal["error", "group", "drop"]
# (y_true, y_pred) -> index in a group's [tn, fp, fn, tp]; bools, floats and numpy
# scalars hash like the ints they equal, so one dict lookup validates and encodes.
_CODE = {(0, 0): 0, (0, 1): 1, (1, 0): 2, (1, 1): 3}
_LABEL = {0: 0, 1: 1}


class GroupMetrics:
    """Per-group metrics of a binary classifier, kept as mergeable streaming counts.

    The state is, for each group (each combination of the sensitive features' values),
    the confusion counts ``[tn, fp, fn, tp]`` and, when ``threshold`` is set, histograms
    of the scores of each class. :meth:`update` adds a record or a chunk,
    :meth:`merge` adds another GroupMetrics (the result equals one pass over all the
    data, exactly), :meth:`report` turns the counts into values, intervals and gap tests
    that read like fairlearn's ``MetricFrame``. Not thread-safe: give each thread its own
    and :meth:`merge` them, or hold a lock (as ``ModelMonitor`` does).

    Parameters
    ----------
    sensitive
        Names of the sensitive features; groups are the combinations of their values
        (intersections). Values are always passed explicitly to :meth:`update`.
    metrics
        Metrics to report, from ``selection_rate``, ``tpr``, ``fnr``, ``fpr``, ``tnr``,
        ``precision``, ``npv``, ``accuracy``, ``error_rate``, ``count`` and ``auc``
        (``auc`` needs ``threshold``); fairlearn's and scikit-learn's names
        (``true_positive_rate``, ``recall_score``...) are accepted as written.
    threshold
        ``None``: ``y_pred`` are predicted labels 0/1. A float: ``y_pred`` are scores in
        [0, 1], the predicted label is ``score >= threshold``, and per-group score
        histograms are kept (for ``auc``).
    bins
        Number of equal-width score bins in [0, 1] of each histogram.
    missing
        What a missing sensitive value (None, NaN) does: ``"error"`` raises a
        SchemaError naming the column and row, ``"group"`` makes it a group of its own
        (shown as ``<missing>``; a present value ``"<missing>"`` is then refused, as
        it would share that label), ``"drop"`` leaves the record out and counts it in
        :attr:`dropped`.
    categories
        Declared values per sensitive feature (optional, per column); a value outside
        them is *unseen*.
    unseen
        What an unseen value does: ``"error"``, ``"group"`` (one ``<other>`` group per
        column) or ``"drop"`` (counted in :attr:`dropped`).
    max_groups
        Bound on the number of groups kept (memory, and label sets downstream); a chunk
        that would exceed it is refused whole with a SchemaError.
    alpha
        Error rate of the report's intervals and family-wise error rate of its gap tests.
    min_count
        A group whose base for a metric (e.g. its positives, for ``tpr``) has fewer
        records than this is reported as "too few to say" for that metric: no value and
        no part in any gap. ``min_count=1`` reports every defined value, as fairlearn
        does.
    min_effect
        Effect floor: a gap is flagged only when its test is significant after correction
        *and* the difference is at least this, so a huge sample does not flag every
        0.001 gap.
    correction
        Multiple-testing correction across every pair of groups and every metric:
        ``"holm"``, ``"bonferroni"`` or ``"none"``.
    weighted
        Keep, besides the record counts, the sums of the records' ``sample_weight`` (and
        of their squares) per group and confusion cell, as fairlearn's ``sample_weight``:
        reported values are weighted rates, and intervals and tests use Kish's effective
        sample size (see ``docs/fairness.md``). Records passed without weights weigh 1.
        ``auc`` is not available weighted.

    Examples
    --------
    >>> gm = GroupMetrics(["sex"], ["selection_rate", "tpr"], min_count=1)
    >>> gm = gm.update([1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 1, 1], ["F", "F", "F", "M", "M", "M"])
    >>> gm.update_record(1, 0, {"sex": "F"})  # one record: about a microsecond
    >>> r = gm.report()
    >>> r.by_group
         selection_rate       tpr
    sex
    F              0.25  0.333333
    M              1.00  1.000000
    >>> float(r.difference("tpr").value)
    0.6666666666666667
    """

    def __init__(
        self,
        sensitive: Sequence[str],
        metrics: Sequence[str] = DEFAULT_METRICS,
        *,
        threshold: float | None = None,
        bins: int = 100,
        missing: Policy = "error",
        categories: Mapping[str, Sequence[object]] | None = None,
        unseen: Policy = "error",
        max_groups: int = 1000,
        alpha: float = 0.05,
        min_count: int = 30,
        min_effect: float = 0.02,
        correction: str = "holm",
        weighted: bool = False,
    ) -> None:
        check_params("GroupMetrics", locals(), SETTINGS)
        self.sensitive: tuple[str, ...] = tuple(sensitive)
        self.metrics: tuple[str, ...] = tuple(metrics)
        for m in self.metrics:
            if canonical(m) == "auc" and threshold is None:
                raise ConfigError(
                    "The 'auc' metric needs scores: set GroupMetrics(threshold=...) and pass "
                    "scores in [0, 1] as y_pred.",
                    parameter="metrics",
                )
            if canonical(m) == "auc" and weighted:
                raise ConfigError(
                    "The 'auc' metric is not available with weighted=True (its intervals "
                    "assume counted records); report it from an unweighted GroupMetrics.",
                    parameter="metrics",
                )
        self.weighted: bool = weighted
        self.threshold: float | None = None if threshold is None else float(threshold)
        self.bins = bins
        self.missing: Policy = missing
        self.unseen: Policy = unseen
        self.categories: dict[str, tuple[object, ...]] = check_categories(
            categories, self.sensitive
        )
        self.max_groups = max_groups
        self.alpha: float = float(alpha)
        self.min_count = min_count
        self.min_effect: float = float(min_effect)
        self.correction = correction
        self._policies = Policies(self.sensitive, missing, unseen, self.categories)
        self._one = len(self.sensitive) == 1
        self._getter = itemgetter(*self.sensitive)
        # Each group's cell by its key, and also by its key with personal values as
        # tokens (the form it is saved in; see _index), so a record of the values and a
        # loaded state's token meet in one group.
        self._cells: dict[tuple[object, ...], int] = {}
        self._keys: list[tuple[object, ...]] = []
        # Whether any group held is (or was) a token: until then no key can meet one, so
        # groups are indexed by their keys alone and no value is tokenised (see _tokens).
        self._tokened = False
        # The salt id of tokens loaded from a state made with another salt (None: the
        # tokens held, if any, are this process's own).
        self._token_salt: str | None = None
        # The bools and numbers of each column, by value, and per cell the types of its
        # key when it holds any (None for text and missing values only): True, 1 and 1.0
        # are one dict key but may not be one group (_kinds). A key found whose types
        # differ (np.int64 for int, or a bool for an int) is checked.
        self._kinds = Kinds(self.sensitive, self.categories)
        self._types: list[tuple[type, ...] | None] = []
        self._conf: list[int] = []
        self._hist: list[int] | None = [] if self.threshold is not None else None
        # Per cell: sums of the weights, then of their squares, by confusion cell (8 floats).
        self._w: list[float] | None = [] if weighted else None
        self._dropped: dict[str, int] = {}

    # ------------------------------------------------------------------ settings
    def config(self) -> dict[str, Any]:
        """The settings, JSON-safe (what :meth:`from_dict` rebuilds the object from).

        ``weighted`` is listed only when true, so an unweighted GroupMetrics saves (and
        fingerprints) exactly as before weights existed.
        """
        out: dict[str, Any] = {
            "sensitive": list(self.sensitive),
            "metrics": list(self.metrics),
            "threshold": self.threshold,
            "bins": self.bins,
            "missing": self.missing,
            "categories": {c: list(v) for c, v in self.categories.items()} or None,
            "unseen": self.unseen,
            "max_groups": self.max_groups,
            "alpha": self.alpha,
            "min_count": self.min_count,
            "min_effect": self.min_effect,
            "correction": self.correction,
        }
        if self.weighted:
            out["weighted"] = True
        return out

    def clone(self) -> GroupMetrics:
        """A new, empty GroupMetrics with the same settings."""
        return type(self)(**self.config())

    # ------------------------------------------------------------------ updates
    def update(
        self, y_true: Any, y_pred: Any, groups: Any, sample_weight: Any = None
    ) -> GroupMetrics:
        """Add one record or a chunk of records; return ``self``.

        Parameters
        ----------
        y_true
            True labels, 0/1 or bool: one value, or an array-like (numpy, pandas, list).
        y_pred
            Predicted labels 0/1, or scores in [0, 1] when ``threshold`` is set; same
            shape as ``y_true``.
        groups
            For one record: a dict of sensitive values by name, a tuple in ``sensitive``
            order, or (one sensitive feature) the value itself. For a chunk: a pandas
            DataFrame or dict of columns (extra columns are ignored), a pyarrow Table,
            a 2-D array in ``sensitive`` order or (one feature) a 1-D array-like.
        sample_weight
            Weight of each record (one number for one record), as fairlearn's
            ``sample_weight``; needs ``weighted=True``. Each weight is 0 or in
            [1e-100, 1e100] (rates do not change when all weights are scaled by one
            factor). ``None`` weighs every record 1.

        Raises
        ------
        SchemaError
            For a label that is not 0/1, a score outside [0, 1], a missing sensitive
            column, a missing or unseen value under policy ``"error"``, mismatched
            lengths, more than ``max_groups`` groups, or a bad ``sample_weight``
            (negative, NaN, infinite, out of range, not a number, wrong length). A chunk
            is all or nothing: on error nothing of it is counted.
        ConfigError
            For ``sample_weight`` given to a GroupMetrics with ``weighted=False``.
        """
        if isinstance(y_true, int | float | np.generic):
            self.update_record(y_true, y_pred, groups, sample_weight)
            return self
        self._update_chunk(y_true, y_pred, groups, 1, sample_weight)
        return self

    def update_record(
        self, y_true: Any, y_pred: Any, groups: Any, sample_weight: Any = None
    ) -> None:
        """Add one record (the fast path of :meth:`update`, about a microsecond)."""
        if self._w is not None or sample_weight is not None:
            self._weighted_record(y_true, y_pred, groups, sample_weight, 1)
            return
        try:
            if type(groups) is dict:
                key = (groups[self.sensitive[0]],) if self._one else self._getter(groups)
            elif type(groups) is tuple:
                key = groups
            else:
                key = (groups,)
            cell = self._cells[key]
        except (KeyError, TypeError):
            cell = self._admit_record(groups)
            if cell < 0:
                return
        else:
            types = self._types[cell]
            if types is not None and (
                type(key[0]) is not types[0] if self._one else types != tuple(map(type, key))
            ):
                self._kinds.check(key)
        hist = self._hist
        if hist is None:
            try:
                code = _CODE.get((y_true, y_pred))
            except TypeError:
                code = None
            if code is None:
                raise self._bad_record(y_true, y_pred)
            self._conf[4 * cell + code] += 1
            return
        try:
            label = _LABEL.get(y_true)
            ok = label is not None and 0.0 <= y_pred <= 1.0
        except TypeError:
            ok = False
        if not ok:
            raise self._bad_record(y_true, y_pred)
        self._conf[4 * cell + 2 * label + (y_pred >= self.threshold)] += 1  # type: ignore[operator]
        b = int(y_pred * self.bins)
        hist[(2 * cell + label) * self.bins + (b if b < self.bins else self.bins - 1)] += 1  # type: ignore[operator]

    def remove(
        self, y_true: Any, y_pred: Any, groups: Any, sample_weight: Any = None
    ) -> GroupMetrics:
        """Take back records added earlier (for sliding windows); return ``self``.

        Takes the same inputs as :meth:`update` (the same weights, when weighted).
        Records the policies drop are ignored, as they were when added.

        Raises
        ------
        SchemaError
            As :meth:`update`, or when the records were never added (a count would go
            below zero); nothing is changed then.
        """
        if isinstance(y_true, int | float | np.generic):
            self.remove_record(y_true, y_pred, groups, sample_weight)
            return self
        self._update_chunk(y_true, y_pred, groups, -1, sample_weight)
        return self

    def remove_record(
        self, y_true: Any, y_pred: Any, groups: Any, sample_weight: Any = None
    ) -> None:
        """Take back one record added earlier (the fast path of :meth:`remove`)."""
        if self._w is not None or sample_weight is not None:
            self._weighted_record(y_true, y_pred, groups, sample_weight, -1)
            return
        cell = self._cells.get(groups) if type(groups) is tuple else None
        key = groups
        if cell is None:
            key, _ = self._policies.group(groups)
            if key is None:
                return
            cell = self._find(key)
        if cell is not None and self._types[cell] is not None:
            self._kinds.check(key)
        label, pred, b = self._label_pred_bin(y_true, y_pred)
        at = -1 if cell is None else 4 * cell + 2 * label + pred
        h = -1 if cell is None or b < 0 else (2 * cell + label) * self.bins + b
        if at < 0 or self._conf[at] <= 0 or (h >= 0 and self._hist[h] <= 0):  # type: ignore[index]
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        None,
                        "range",
                        f"cannot remove a record of group {short(groups)} that was never added",
                    )
                ]
            )
        self._conf[at] -= 1
        if h >= 0:
            self._hist[h] -= 1  # type: ignore[index]

    def _weighted_record(
        self, y_true: Any, y_pred: Any, groups: Any, sample_weight: Any, sign: int
    ) -> None:
        """One record with a weight: validated, then added in place or taken back."""
        from prodml.fairness import _chunks  # noqa: PLC0415 - keeps importing light

        if self._w is None:
            raise _unweighted()
        w = 1.0 if sample_weight is None else weight_value(sample_weight)
        label, pred, b = self._label_pred_bin(y_true, y_pred)
        code = 2 * label + pred
        if sign > 0:  # checked above, so nothing can fail part-way: add in place
            key = self.group_of(groups)
            if key is None:
                _, column = self._policies.group(groups)
                self._dropped[column] = self._dropped.get(column, 0) + 1
                return
            cell = self._cells[key]
            self._conf[4 * cell + code] += 1
            self._w[8 * cell + code] += w
            self._w[8 * cell + 4 + code] += w * w
            if self._hist is not None:
                self._hist[(2 * cell + label) * self.bins + b] += 1
            return
        key, _ = self._policies.group(groups)
        if key is None:
            return
        row = [0, 0, 0, 0]
        row[code] = 1
        wrow = np.zeros((1, 8), dtype=np.float64)
        wrow[0, code], wrow[0, 4 + code] = w, w * w
        hist = None
        if self._hist is not None:
            hist = np.zeros((1, 2 * self.bins), dtype=np.int64)
            hist[0, label * self.bins + b] = 1
        _chunks.subtract(self, ([key], [row], hist, {}, wrow))

    def _label_pred_bin(self, y_true: Any, y_pred: Any) -> tuple[int, int, int]:
        """One record's label, predicted label and score bin (-1 without bins), checked."""
        label = _safe_get(_LABEL, y_true)
        b = -1
        if self._hist is None:
            pred = _safe_get(_LABEL, y_pred)
        else:
            try:
                ok = 0.0 <= y_pred <= 1.0
            except TypeError:
                ok = False
            pred = int(y_pred >= self.threshold) if ok else None
            b = min(int(y_pred * self.bins), self.bins - 1) if ok else -1
        if label is None or pred is None:
            raise self._bad_record(y_true, y_pred)
        return label, pred, b

    def _bad_record(self, y_true: Any, y_pred: Any) -> SchemaError:
        if _safe_get(_LABEL, y_true) is None:
            return SchemaError(
                problems=[SchemaProblem("y_true", "range", f"must be 0 or 1; got {short(y_true)}")]
            )
        expected = "0 or 1" if self.threshold is None else "a score in [0, 1]"
        return SchemaError(
            problems=[SchemaProblem("y_pred", "range", f"must be {expected}; got {short(y_pred)}")]
        )

    def group_of(self, groups: Any) -> tuple[object, ...] | None:
        """The group of one record after the missing/unseen policies, registered if new.

        Returns ``None`` when the policies drop such a record. A monitor calls this when
        a prediction is logged, so that a bad or surplus group fails then, not later when
        the label arrives.

        Raises
        ------
        SchemaError
            As :meth:`update` would for this record.
        """
        try:
            if type(groups) is dict:
                raw = (groups[self.sensitive[0]],) if self._one else self._getter(groups)
            elif type(groups) is tuple:
                raw = groups
            else:
                raw = (groups,)
            cell = self._cells[raw]
        except (KeyError, TypeError):
            pass
        else:
            if self._types[cell] is not None:
                self._kinds.check(raw)
            return self._keys[cell]
        key, _ = self._policies.group(groups)
        return None if key is None else self._keys[self._cell(key)]

    def _admit_record(self, groups: Any) -> int:
        """The cell of a record the fast path did not find; -1 when it is dropped."""
        key, column = self._policies.group(groups)
        if key is None:
            self._dropped[column] = self._dropped.get(column, 0) + 1
            return -1
        return self._cell(key)

    def _find(self, key: tuple[object, ...], form: tuple[object, ...] | None = None) -> int | None:
        """The cell of ``key``, or of its personal values' tokens (then indexed); or None.

        ``form``: ``public_key(key)`` when the caller worked it out (for many keys at once).
        """
        cell = self._cells.get(key)
        if cell is None and not self._tokened and any(map(is_token, key)):
            self._tokens()  # the token may stand for a value held: index them first
            cell = self._cells.get(key)
        if cell is None and self._tokened:
            shown = public_key(key) if form is None else form
            if shown is not key:
                cell = self._cells.get(shown)
                if cell is not None:
                    self._cells[key] = cell
        return cell

    def _index(
        self, key: tuple[object, ...], cell: int, form: tuple[object, ...] | None = None
    ) -> None:
        """Find ``cell`` by ``key`` and by its saved form (personal values as tokens)."""
        self._cells[key] = cell
        if self._tokened:
            shown = public_key(key) if form is None else form
            if shown is not key:
                self._cells.setdefault(shown, cell)

    def _tokens(self) -> None:
        """A first token is coming: index every group held by its saved form from now on.

        Until a GroupMetrics holds a token (loaded, merged in, or passed as a value), a
        new record's values cannot meet one, so tokenising each new group's personal
        values (a keyed hash each) waits until then; the saved forms are made then, for
        all the groups held at once.
        """
        if self._tokened:
            return
        self._tokened = True
        for cell, (key, shown) in enumerate(
            zip(self._keys, _ingest.public_keys(self._keys), strict=True)
        ):
            if shown is not key:
                self._cells.setdefault(shown, cell)

    def _cell(self, key: tuple[object, ...], form: tuple[object, ...] | None = None) -> int:
        cell = self._find(key, form)
        if cell is not None:
            if self._types[cell] is not None:
                self._kinds.check(key)
            return cell
        if len(self._keys) >= self.max_groups:
            raise too_many(self.max_groups, key, self.sensitive)
        return self._new_cell(key, form)

    def _new_cell(self, key: tuple[object, ...], form: tuple[object, ...] | None = None) -> int:
        typed = any(v is not None and type(v) is not str for v in key)
        if typed:  # only bools and numbers can equal a value of another type
            self._kinds.add(key)  # raises before anything changes
        if not self._tokened and any(map(is_token, key)):
            self._tokens()
        cell = len(self._keys)
        self._index(key, cell, form)
        self._keys.append(key)
        self._types.append(tuple(map(type, key)) if typed else None)
        self._conf.extend((0, 0, 0, 0))
        if self._hist is not None:
            self._hist.extend([0] * (2 * self.bins))
        if self._w is not None:
            self._w.extend([0.0] * 8)
        return cell

    def _drop_idle(self, keep: Set[tuple[object, ...]]) -> int:
        """Forget groups with no record counted and not in ``keep``; how many went.

        A sliding window (``ModelMonitor(group_by=...)``) calls this when ``max_groups``
        is reached, so that groups which have left the window (last month's app
        version) stop counting against the limit. The remaining groups keep their order.
        """
        hist, bins = self._hist, self.bins
        kept = [
            i
            for i, key in enumerate(self._keys)
            if key in keep or any(self._conf[4 * i : 4 * i + 4])
        ]
        gone = len(self._keys) - len(kept)
        if gone:
            self._keys = [self._keys[i] for i in kept]
            self._cells = {}
            for cell, key in enumerate(self._keys):
                self._index(key, cell)
            self._types = [self._types[i] for i in kept]
            self._kinds.rebuild(self._keys, self.categories)
            self._conf = [c for i in kept for c in self._conf[4 * i : 4 * i + 4]]
            if hist is not None:
                w = 2 * bins
                self._hist = [h for i in kept for h in hist[w * i : w * i + w]]
            if self._w is not None:
                ws = self._w
                self._w = [x for i in kept for x in ws[8 * i : 8 * i + 8]]
        return gone

    def _update_chunk(
        self, y_true: Any, y_pred: Any, groups: Any, sign: int, sample_weight: Any = None
    ) -> None:
        from prodml.fairness import _chunks  # noqa: PLC0415 - keeps importing light

        if sample_weight is not None and self._w is None:
            raise _unweighted()
        counted = _chunks.count_chunk(self, y_true, y_pred, groups, sample_weight)
        if sign < 0:
            _chunks.subtract(self, counted)
        else:
            _chunks.add(self, counted)

    # ------------------------------------------------------------------ merging
    def merge(self, other: GroupMetrics) -> GroupMetrics:
        """Add the counts of ``other`` (same settings) into this one; return ``self``.

        The result equals one pass over both inputs exactly (the state is integer
        counts), whatever the order of merging. Weighted: the record counts are exact,
        the weight sums are float sums, equal to one pass up to rounding (exactly, for
        integer weights whose sums stay below 2**53).

        Group values that look like personal data are held as salted tokens once a state
        is saved and loaded; a token meets the value it stands for only under the salt it
        was made with. Two GroupMetrics whose such groups are of different salts (one
        loaded from a state of another process's salt, see ``docs/fairness.md``) are
        therefore not merged: the same person would be two groups and the merged counts
        wrong without a sign. The merge is refused then, naming both salt ids, and
        nothing is changed.

        Raises
        ------
        ConfigError
            When ``other`` is not a GroupMetrics with the same settings, or when both
            hold personal-data groups (tokens or values) of different salts (``salt_id``).
        SchemaError
            When the union would exceed ``max_groups``; nothing is changed then.
        """
        if not isinstance(other, GroupMetrics):
            raise ConfigError(
                f"GroupMetrics.merge needs a GroupMetrics. Got {type(other).__name__}.",
                parameter="other",
            )
        mine, theirs = self.config(), other.config()
        mine.setdefault("weighted", False)
        theirs.setdefault("weighted", False)
        differ = [k for k in mine if mine[k] != theirs[k]]
        if differ:
            k = differ[0]
            raise ConfigError(
                f"Cannot merge GroupMetrics with different settings: {k}={short_repr(theirs[k])} "
                f"instead of {short_repr(mine[k])}.",
                parameter=k,
            )
        salt = _merged_salt(self, other)
        keys = list(other._keys)
        conf = [other._conf[4 * i : 4 * i + 4] for i in range(len(keys))]
        hist = None
        if other._hist is not None:
            hist = np.asarray(other._hist, dtype=np.int64).reshape(len(keys), 2 * self.bins)
        weights = None
        if other._w is not None:
            weights = np.asarray(other._w, dtype=np.float64).reshape(len(keys), 8)
        from prodml.fairness import _chunks  # noqa: PLC0415 - keeps importing light

        _chunks.add(self, (keys, conf, hist, dict(other._dropped), weights))
        if salt is not None:  # the salt of the tokens held, None: this process's own
            self._token_salt = None if salt == _ingest.privacy().salt_id else salt
        return self

    # ------------------------------------------------------------------ reading
    @property
    def groups(self) -> list[tuple[object, ...]]:
        """The groups seen so far, as tuples of values in ``sensitive`` order."""
        return list(self._keys)

    @property
    def count(self) -> int:
        """Records counted (dropped ones excluded)."""
        return sum(self._conf)

    @property
    def dropped(self) -> dict[str, int]:
        """Records left out under policy ``"drop"``, by the sensitive column at fault."""
        return dict(self._dropped)

    def counts(self) -> dict[tuple[object, ...], list[int]]:
        """Confusion counts ``[tn, fp, fn, tp]`` by group."""
        return {k: self._conf[4 * i : 4 * i + 4] for i, k in enumerate(self._keys)}

    def weights(self) -> dict[tuple[object, ...], list[float]]:
        """Sums of ``sample_weight`` ``[tn, fp, fn, tp]`` by group (``weighted=True`` only).

        Raises
        ------
        ConfigError
            When ``weighted`` is false (no weights kept).
        """
        if self._w is None:
            raise _unweighted("weights()")
        return {k: self._w[8 * i : 8 * i + 4] for i, k in enumerate(self._keys)}

    def histograms(self) -> dict[tuple[object, ...], np.ndarray]:
        """Score histograms by group, shape ``(2, bins)`` (row 0: negatives, 1: positives).

        Raises
        ------
        ConfigError
            When ``threshold`` is not set (no scores, so no histograms).
        """
        if self._hist is None:
            raise ConfigError(
                "This GroupMetrics keeps no score histograms: set threshold=... to pass scores.",
                parameter="threshold",
            )
        arr = np.asarray(self._hist, dtype=np.int64).reshape(len(self._keys), 2, self.bins)
        return {k: arr[i] for i, k in enumerate(self._keys)}

    def report(self, by: Sequence[str] | str | None = None, **settings: Any) -> FairnessReport:
        """Values, intervals and gap tests per group, as a :class:`FairnessReport`.

        Parameters
        ----------
        by
            Sensitive features to group by (default: all of them, i.e. their
            intersections); a subset sums the counts over the others (marginal groups).
        **settings
            Overrides of ``alpha``, ``min_count``, ``min_effect``, ``correction``.
        """
        from prodml.fairness._report import FairnessReport  # noqa: PLC0415 - cycle

        return FairnessReport.from_metrics(self, by, **settings)

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings and counts, groups in a canonical order."""
        from prodml.fairness._state import dump  # noqa: PLC0415 - cycle

        return dump(self)

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupMetrics:
        """Rebuild a GroupMetrics saved by :meth:`to_dict`, validating every field.

        Raises
        ------
        ConfigError
            Naming the field path at fault (``state.confusion[2][1]``).
        """
        from prodml.fairness._state import load  # noqa: PLC0415 - cycle

        return load(cls, data)

    @classmethod
    def from_json(cls, text: str) -> GroupMetrics:
        """Rebuild a GroupMetrics from :meth:`to_json` output."""
        from prodml.fairness._state import parse_json  # noqa: PLC0415 - cycle

        return cls.from_dict(parse_json(text))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GroupMetrics):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__: ClassVar[None] = None  # type: ignore[assignment]
    # An object pickled before the flag existed indexed every group by its token.
    _tokened: bool = True

    def __repr__(self) -> str:
        return (
            f"GroupMetrics(sensitive={list(self.sensitive)}, metrics={list(self.metrics)}, "
            f"groups={len(self._keys)}, count={self.count}"
            + (", weighted=True)" if self.weighted else ")")
        )


def _salt_of(gm: GroupMetrics) -> str | None:
    """The salt id of ``gm``'s personal-data groups, or None when it holds none.

    A loaded token is of the salt the state named (``_token_salt``, when not this
    process's); a value that looks like personal data, and a token of this process's
    state, are of this process's salt (the one ``to_dict`` tokenises with).
    """
    keys = gm._keys
    if not keys:
        return None
    if any(is_token(v) for key in keys for v in key) or any(
        form is not key for form, key in zip(_ingest.public_keys(keys), keys, strict=True)
    ):
        return gm._token_salt or _ingest.privacy().salt_id
    return None


def _merged_salt(mine: GroupMetrics, theirs: GroupMetrics) -> str | None:
    """The salt id of the merged personal-data groups; ConfigError when two salts meet."""
    a, b = _salt_of(mine), _salt_of(theirs)
    if a is not None and b is not None and a != b:
        raise ConfigError(
            "Cannot merge GroupMetrics whose personal-data groups are tokens of different "
            f"salts: salt_id {b} into salt_id {a} (a person would be two groups, and "
            "the merged counts wrong). Load both states in processes with one "
            "PRODML_PRIVACY_SALT, and merge there.",
            parameter="salt_id",
        )
    return a or b


def _unweighted(what: str = "sample_weight") -> ConfigError:
    return ConfigError(
        f"{what} needs a weighted GroupMetrics: create it with GroupMetrics(..., "
        "weighted=True) (this one counts records only).",
        parameter="sample_weight",
    )


def _safe_get(table: dict[Any, int], key: object) -> int | None:
    try:
        return table.get(key)
    except TypeError:
        return None
