"""Many records at once, each answered as :meth:`Predictor.predict_record` would."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from prodml.errors import ConfigError, ProdMLError, SchemaError
from prodml.serving._metrics import REFUSED
from prodml.serving._prediction import Prediction, State
from prodml.serving._served import ModelError, Served, model_error

if TYPE_CHECKING:
    from prodml.serving._predictor import Predictor

__all__ = ["predict_many"]

_perf = time.perf_counter


def predict_many(
    pred: Predictor,
    records: Sequence[Mapping[str, Any]],
    *,
    ids: Sequence[Any] | None,
    keys: Sequence[Any] | None,
    explain: bool,
    atomic: bool,
    started: Sequence[float] | None,
    count_refused: bool = True,
) -> list[Any]:
    """:meth:`Predictor.predict_many` (see there).

    Two phases: every record is answered first (routed, checked, scored, explained, its
    mirroring decided) without a side effect; only then is each outcome counted, each
    prediction logged to its monitor and mirrored. So a call that raises part-way (a
    routing key the policy refuses, an explainer missing) has logged nothing and counted
    only its records as ``refused``, once each. The micro-batcher passes
    ``count_refused=False`` for a group, since it retries a group that raised record by
    record (each retry counts its own record): so each record is counted once.
    """
    n = len(records)
    for name, given in (("ids", ids), ("keys", keys), ("started", started)):
        if given is not None and len(given) != n:
            raise ConfigError(
                f"predict_many got {n} records and {len(given)} {name}: give one per record",
                parameter=name,
            )
    try:
        return _predict_many(pred, records, ids, keys, explain, atomic, started)
    except ProdMLError:
        if count_refused and records:
            pred.stats.request("", REFUSED, len(records))
        raise


def _predict_many(  # noqa: PLR0917 - private
    pred: Predictor,
    records: Sequence[Mapping[str, Any]],
    ids: Sequence[Any] | None,
    keys: Sequence[Any] | None,
    explain: bool,
    atomic: bool,
    started: Sequence[float] | None,
) -> list[Any]:
    t0 = _perf()
    n = len(records)
    if ids is None:
        ids = [pred._next_id() for _ in range(n)]
    state = pred._state
    out: list[Any] = [None] * n
    variants = [state.home] * n
    route_keys = [
        pred._key(r, None if keys is None else keys[i], ids[i]) for i, r in enumerate(records)
    ]
    groups: dict[str, list[tuple[int, Any]]] = {}
    for i, record in enumerate(records):
        if pred.policy is not None:
            variants[i] = pred._pick(route_keys[i])
        served = state.versions[variants[i]]
        try:
            served.validate(record)
            x = served.pipeline.transform_record(served.strip(record))
        except SchemaError as err:
            out[i] = SchemaError(problems=[replace(p, row=i) for p in err.problems])
            continue
        groups.setdefault(variants[i], []).append((i, x))
    if not (atomic and any(r is not None for r in out)):
        for variant, items in groups.items():
            _answer(pred, state, variant, items, records, ids, explain, out, t0, started)
    should_mirror = pred._mirror
    mirror = [
        should_mirror is not None and isinstance(r, Prediction) and bool(should_mirror(key))
        for r, key in zip(out, route_keys, strict=True)
    ]
    _count_and_log(pred, state, out, variants, mirror, records)
    return out


def _answer(  # noqa: PLR0917 - the loop body of predict_many, private
    pred: Predictor,
    state: State,
    variant: str,
    items: list[tuple[int, Any]],
    records: Sequence[Mapping[str, Any]],
    ids: Sequence[Any],
    explain: bool,
    out: list[Any],
    t0: float,
    started: Sequence[float] | None,
) -> None:
    """Score (and explain) one variant's records into ``out``: no side effect.

    ``state`` is the one the records were checked and transformed with: an alias that
    moves meanwhile must not pair one version's features with another's model.
    """
    served = state.versions[variant]
    for (i, _), value in zip(items, _score_rows(served, variant, items), strict=True):
        if isinstance(value, ModelError):
            out[i] = value
            continue
        latency = _perf() - (t0 if started is None else started[i])
        try:
            explanation = pred._explain(served, variant, records[i]) if explain else None
        except ModelError as err:
            out[i] = err
            continue
        out[i] = Prediction(
            value, served.version, variant, latency, ids[i], served.name, explanation
        )


def _count_and_log(  # noqa: PLR0917 - private
    pred: Predictor,
    state: State,
    out: list[Any],
    variants: list[str],
    mirror: list[bool],
    records: Sequence[Mapping[str, Any]],
) -> None:
    """Each record's outcome counted once; each prediction logged and mirrored once."""
    counts: dict[tuple[str, str], int] = {}
    for i, result in enumerate(out):
        if result is None:  # atomic, and another record was invalid: not predicted
            counts["", REFUSED] = counts.get(("", REFUSED), 0) + 1
            continue
        variant = variants[i]
        if isinstance(result, Prediction):
            outcome = "ok"
            pred._log(variant, result.id, records[i], result.value, result.latency_s)
            if mirror[i]:
                pred._shadow_submit(state, records[i], result.value, result.latency_s)
        else:
            outcome = "invalid" if isinstance(result, SchemaError) else "error"
        counts[variant, outcome] = counts.get((variant, outcome), 0) + 1
    for (variant, outcome), k in counts.items():
        pred.stats.request(variant, outcome, k)


def _score_rows(served: Served, variant: str, items: list[tuple[int, Any]]) -> list[Any]:
    if served.row_stable and len(items) > 1:
        with contextlib.suppress(Exception):  # then row by row, to find the failing rows
            values: list[Any] = served.score_many(np.vstack([x for _, x in items])).tolist()
            return values
    return [_score_row(served, variant, x) for _, x in items]


def _score_row(served: Served, variant: str, x: Any) -> Any:
    try:
        return served.score_one(x)
    except Exception as err:  # noqa: BLE001 - reported (and counted) for this record only
        return model_error(served, variant, err)
