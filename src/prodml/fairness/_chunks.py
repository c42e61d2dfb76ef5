"""Counting one chunk of records per group, vectorised (private).

Each sensitive column is factorized once; the codes combine into one local group index
per row, and a single ``np.bincount`` gives every group's confusion counts (and another
its score histograms). Only the distinct groups of the chunk then touch Python. Nothing
here changes the GroupMetrics: the caller adds the result once everything is validated,
so a bad chunk leaves the state as it was.
"""

from __future__ import annotations

from itertools import chain
from operator import is_not
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodml._quote import short_repr
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.fairness import _ingest
from prodml.fairness._ingest import MISSING_LABEL, OTHER
from prodml.fairness._kinds import Kinds, check_column
from prodml.fairness._policies import policy_error, reserved_error, too_many
from prodml.privacy import is_token

if TYPE_CHECKING:
    from prodml.fairness._group_metrics import GroupMetrics

__all__ = ["Counted", "add", "count_chunk", "subtract"]

IntArray = npt.NDArray[np.int64]
Counted = tuple[
    list[tuple[object, ...]],
    list[list[int]],
    "np.ndarray | None",
    dict[str, int],
    "np.ndarray | None",
]
"""Per-group counts of one chunk: keys, confusion rows, histogram rows, dropped, and (for a
weighted GroupMetrics) weight rows: the sums of the weights and of their squares per
confusion cell, ``[w_tn, w_fp, w_fn, w_tp, q_tn, q_fp, q_fn, q_tp]``."""
# Beyond this many possible local groups, compress the combined index with np.unique
# rather than allocate a bincount of that length.
_DENSE_LIMIT = 1 << 20
# Rows counted at a time: bounds the temporaries of a large batch (~40 bytes a row).
_SLICE = 1 << 20


def count_chunk(
    gm: GroupMetrics, y_true: Any, y_pred: Any, groups: Any, sample_weight: Any = None
) -> Counted:
    """Per-group counts of a chunk, validated; nothing is added to ``gm``.

    A large chunk is counted ``_SLICE`` rows at a time, so its temporaries stay bounded;
    the parts are summed before anything is returned, so a bad row anywhere still leaves
    ``gm`` unchanged.
    """
    yt = _ingest.label_array(y_true, "y_true")
    n = len(yt)
    scores = None
    if gm.threshold is None:
        yp = _ingest.label_array(y_pred, "y_pred")
    else:
        scores = _ingest.score_array(y_pred, "y_pred")
        yp = (scores >= gm.threshold).view(np.int8)
    if len(yp) != n:
        raise SchemaError(
            problems=[
                SchemaProblem(
                    "y_pred",
                    "input",
                    f"has {len(yp)} values but y_true has {n}; lengths must match",
                )
            ]
        )
    columns = _ingest.sensitive_columns(groups, gm.sensitive, n)
    weights = None
    if gm.weighted:
        weights = (
            np.ones(n, dtype=np.float64)
            if sample_weight is None
            else _ingest.weight_array(sample_weight, n)
        )
    if n <= _SLICE:
        return _count(gm, yt, yp, scores, columns, weights=weights)
    parts = []
    for start in range(0, n, _SLICE):
        s = slice(start, start + _SLICE)
        part_scores = None if scores is None else scores[s]
        part_weights = None if weights is None else weights[s]
        columns_s = [_rows(c, s) for c in columns]
        parts.append(_count(gm, yt[s], yp[s], part_scores, columns_s, weights=part_weights))
    return _sum(parts, gm.sensitive)


def _rows(column: Any, rows: slice) -> Any:
    """Rows of a column by position (a pandas Series by ``iloc``, whatever its index)."""
    return column.iloc[rows] if isinstance(column, pd.Series) else column[rows]


def _sum(parts: list[Counted], names: tuple[str, ...]) -> Counted:
    """The counts of several parts of one chunk, added up by group."""
    index: dict[tuple[object, ...], int] = {}
    conf: list[list[int]] = []
    hists: list[np.ndarray] = []
    wrows: list[np.ndarray] = []
    dropped: dict[str, int] = {}
    # True in one part and 1 in another would merge below, as within a part.
    Kinds(names, {}).check_all(key for part in parts for key in part[0])
    for keys, part_conf, part_hist, part_dropped, part_w in parts:
        for i, key in enumerate(keys):
            j = index.setdefault(key, len(conf))
            if j == len(conf):
                conf.append([0, 0, 0, 0])
                if part_hist is not None:
                    hists.append(np.zeros(part_hist.shape[1], dtype=np.int64))
                if part_w is not None:
                    wrows.append(np.zeros(8, dtype=np.float64))
            conf[j] = [a + b for a, b in zip(conf[j], part_conf[i], strict=True)]
            if part_hist is not None:
                hists[j] += part_hist[i]
            if part_w is not None:
                wrows[j] += part_w[i]
        for name, k in part_dropped.items():
            dropped[name] = dropped.get(name, 0) + k
    hist = np.array(hists, dtype=np.int64) if hists else None
    if parts and parts[0][2] is not None and hist is None:
        hist = np.zeros((0, parts[0][2].shape[1]), dtype=np.int64)
    weights = None
    if parts and parts[0][4] is not None:
        weights = np.array(wrows, dtype=np.float64).reshape(len(conf), 8)
    return list(index), conf, hist, dropped, weights


def _count(
    gm: GroupMetrics,
    yt: npt.NDArray[np.int8],
    yp: npt.NDArray[np.int8],
    scores: npt.NDArray[np.float64] | None,
    columns: list[Any],
    *,
    weights: npt.NDArray[np.float64] | None = None,
) -> Counted:
    """Per-group counts (and weight sums) of validated labels and raw sensitive columns."""
    n = len(yt)
    keep = np.ones(n, dtype=np.bool_)
    dropped: dict[str, int] = {}
    codes_list: list[IntArray] = []
    uniques_list: list[list[object]] = []
    for name, col in zip(gm.sensitive, columns, strict=True):
        codes, uniques = _ingest.factorize(col, name)
        check_column(col, codes, uniques, name)  # True, 1 and 1.0 got one code
        codes, uniques, drop = _apply_policies(gm, name, codes, uniques)
        if drop is not None:
            newly = drop & keep
            dropped[name] = int(newly.sum())
            keep &= ~drop
        codes_list.append(codes)
        uniques_list.append(uniques)
    if not keep.all():
        yt, yp = yt[keep], yp[keep]
        codes_list = [c[keep] for c in codes_list]
        if scores is not None:
            scores = scores[keep]
        if weights is not None:
            weights = weights[keep]
    sizes = [len(u) for u in uniques_list]
    local, code_rows = _combine(codes_list, sizes)
    n_local = len(code_rows)
    local *= 4
    local += 2 * yt
    local += yp
    conf = np.bincount(local, minlength=4 * n_local).reshape(n_local, 4)
    present = np.flatnonzero(conf.any(axis=1))
    wsums = None
    if weights is not None:
        size = 4 * n_local
        w = np.bincount(local, weights=weights, minlength=size).reshape(n_local, 4)
        q = np.bincount(local, weights=weights * weights, minlength=size).reshape(n_local, 4)
        wsums = np.concatenate([w, q], axis=1)[present]
    hist = None
    if scores is not None:
        bins = gm.bins
        local -= yp  # back to 4 * group + 2 * y_true: the histogram row of (group, y_true)
        local //= 2
        local *= bins
        local += np.minimum((scores * bins).astype(np.int64), bins - 1)
        hist = np.bincount(local, minlength=2 * bins * n_local).reshape(n_local, 2 * bins)
        hist = hist[present]
    keys = [
        tuple(u[c] for u, c in zip(uniques_list, row, strict=True))
        for row in code_rows[present].tolist()
    ]
    return keys, conf[present].tolist(), hist, dropped, wsums


def _apply_policies(
    gm: GroupMetrics, name: str, codes: IntArray, uniques: list[object]
) -> tuple[IntArray, list[object], npt.NDArray[np.bool_] | None]:
    """Codes after the unseen and missing policies, and the rows they drop (or None)."""
    drop: npt.NDArray[np.bool_] | None = None
    allowed = gm._policies.allowed.get(name)
    if allowed is not None:
        bad = [i for i, u in enumerate(uniques) if u not in allowed]
        if bad:
            is_bad = np.isin(codes, bad)
            if gm.unseen == "error":
                row = int(np.argmax(is_bad))
                raise _policy(name, "unseen", uniques[int(codes[row])], row)
            if gm.unseen == "drop":
                drop = is_bad
            else:
                kept = [u for u in uniques if u in allowed]
                remap = np.empty(len(uniques), dtype=np.int64)
                j = 0
                for i, u in enumerate(uniques):
                    if u in allowed:
                        remap[i] = j
                        j += 1
                    else:
                        remap[i] = len(kept)
                uniques = [*kept, OTHER]
                codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    if gm.missing == "group" and MISSING_LABEL in uniques:
        at = uniques.index(MISSING_LABEL)
        raise reserved_error(name, int(np.argmax(codes == at)))
    missing = codes < 0
    if missing.any():
        if gm.missing == "error":
            raise _policy(name, "missing", None, int(np.argmax(missing)))
        if gm.missing == "drop":
            drop = missing if drop is None else drop | missing
        else:
            codes = np.where(missing, len(uniques), codes)
            uniques = [*uniques, None]
    return codes, uniques, drop


def _policy(column: str, what: str, value: object, row: int) -> SchemaError:
    return policy_error(column, what, value, row)


def _combine(codes_list: list[IntArray], sizes: list[int]) -> tuple[IntArray, IntArray]:
    """A local group index per row, and each local group's per-column codes.

    Small products of the columns' distinct counts use a mixed-radix index directly (one
    bincount slot per possible group); larger ones keep only the combinations seen.
    """
    total = float(np.prod(np.asarray(sizes, dtype=np.float64)))
    if total < 2**62:
        local = codes_list[0].astype(np.int64, copy=True)
        for codes, size in zip(codes_list[1:], sizes[1:], strict=True):
            local *= size
            local += codes
        if total <= _DENSE_LIMIT:
            index = np.arange(int(total), dtype=np.int64)
        else:
            index, local = np.unique(local, return_inverse=True)
        rows = np.empty((len(index), len(sizes)), dtype=np.int64)
        rest = index.copy()
        for j in range(len(sizes) - 1, -1, -1):
            rest, rows[:, j] = np.divmod(rest, sizes[j])
        return local, rows
    rows, local = np.unique(np.stack(codes_list, axis=1), axis=0, return_inverse=True)
    return local.ravel().astype(np.int64), rows


def add(gm: GroupMetrics, counted: Counted) -> None:
    """Add counted groups to ``gm``; a chunk beyond ``max_groups`` changes nothing."""
    keys, conf, hist, dropped, weights = counted
    cells, types = gm._cells, gm._types
    unknown = [k for k in dict.fromkeys(keys) if k not in cells]
    # Each new key's saved form (personal values as tokens), worked out for all at once:
    # one check per distinct value, not one per key. Without personal values each key is
    # its own form, and no new key can meet a saved token.
    if not gm._tokened and any(map(is_token, chain.from_iterable(unknown))):
        gm._tokens()  # (only indexes the groups held: changes nothing they count)
        unknown = [k for k in unknown if k not in cells]
    shown = _ingest.public_keys(unknown) if gm._tokened else unknown
    forms = dict(zip(unknown, shown, strict=True))
    if any(map(is_not, shown, unknown)):
        new = [k for k in unknown if forms[k] is k or gm._find(k, forms[k]) is None]
    else:
        new = unknown
    if len(gm._keys) + len(new) > gm.max_groups:
        raise too_many(gm.max_groups, new[0], gm.sensitive)
    _check_weighted(gm, weights)
    # A key equal to a group of other types: nothing added. Only bools and numbers can
    # be equal across types; keys of text and missing values alone need no check.
    if any(type(v) is not str and v is not None for key in keys for v in key):
        gm._kinds.check_all(keys)
    bins2 = 2 * gm.bins
    for i, key in enumerate(keys):
        cell = cells.get(key)  # as gm._cell(key, form), without its calls for known keys
        if cell is None:
            cell = gm._cell(key, forms[key])
        elif types[cell] is not None:
            gm._kinds.check(key)
        base = 4 * cell
        for j in range(4):
            gm._conf[base + j] += conf[i][j]
        if weights is not None and gm._w is not None:
            for j in range(8):
                gm._w[8 * cell + j] += float(weights[i][j])
        if hist is not None and gm._hist is not None:
            start = cell * bins2
            row = hist[i]
            for j in np.flatnonzero(row).tolist():
                gm._hist[start + j] += int(row[j])
    for name, n in dropped.items():
        if n:
            gm._dropped[name] = gm._dropped.get(name, 0) + n


def _check_weighted(gm: GroupMetrics, weights: np.ndarray | None) -> None:
    """Refuse weight sums into an unweighted GroupMetrics and the other way round."""
    if (weights is None) != (gm._w is None):
        raise ConfigError(
            "Cannot add counts with sample weights to a GroupMetrics without them, or the "
            f"other way round (this one has weighted={gm.weighted}).",
            parameter="weighted",
        )


def subtract(gm: GroupMetrics, counted: Counted) -> None:
    """Take counted groups out of ``gm``; records never added change nothing and raise.

    Weight sums are floats: a cell whose last record goes has its sums set to exactly 0,
    and rounding never leaves a sum below 0.
    """
    keys, conf, hist, _, weights = counted
    _check_weighted(gm, weights)
    gm._kinds.check_all(keys)
    cells = [gm._find(k) for k in keys]
    bins2 = 2 * gm.bins
    for i, cell in enumerate(cells):
        short_of = cell is None or any(gm._conf[4 * cell + j] < conf[i][j] for j in range(4))
        if not short_of and hist is not None and gm._hist is not None and cell is not None:
            current = np.asarray(gm._hist[cell * bins2 : (cell + 1) * bins2])
            short_of = bool((current < hist[i]).any())
        if short_of:
            label = _ingest.label_of(gm.sensitive, keys[i])
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        None,
                        "range",
                        f"cannot remove records of group {short_repr(label)} that were never added",
                    )
                ]
            )
    for i, cell in enumerate(cells):
        assert cell is not None  # noqa: S101 - checked above
        for j in range(4):
            gm._conf[4 * cell + j] -= conf[i][j]
        if weights is not None and gm._w is not None:
            w = gm._w
            for j in range(4):
                empty = gm._conf[4 * cell + j] == 0
                for at in (8 * cell + j, 8 * cell + 4 + j):
                    rest = w[at] - float(weights[i][at - 8 * cell])
                    w[at] = 0.0 if empty or rest < 0.0 else rest
        if hist is not None and gm._hist is not None:
            start = cell * bins2
            for j in np.flatnonzero(hist[i]).tolist():
                gm._hist[start + j] -= int(hist[i][j])
