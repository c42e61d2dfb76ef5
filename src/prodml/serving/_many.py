"""Many records at once, each answered as :meth:`Predictor.predict_record` would."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from prodml.errors import SchemaError
from prodml.serving._prediction import Prediction
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
) -> list[Any]:
    """:meth:`Predictor.predict_many` (see there)."""
    t0 = _perf()
    n = len(records)
    if ids is None:
        ids = [pred._next_id() for _ in range(n)]
    state = pred._state
    out: list[Any] = [None] * n
    groups: dict[str, list[tuple[int, Any]]] = {}
    route_keys = [
        pred._key(r, None if keys is None else keys[i], ids[i]) for i, r in enumerate(records)
    ]
    for i, record in enumerate(records):
        variant = state.home if pred.policy is None else pred._pick(route_keys[i])
        served = state.versions[variant]
        try:
            served.validate(record)
            x = served.pipeline.transform_record(served.strip(record))
        except SchemaError as err:
            pred.stats.request(variant, "invalid")
            out[i] = SchemaError(problems=[replace(p, row=i) for p in err.problems])
            continue
        groups.setdefault(variant, []).append((i, x))
    if atomic and any(r is not None for r in out):
        return out
    for variant, items in groups.items():
        served = state.versions[variant]
        for (i, _), value in zip(items, _score_rows(pred, served, variant, items), strict=True):
            if isinstance(value, ModelError):
                out[i] = value
                continue
            record = records[i]
            latency = _perf() - (t0 if started is None else started[i])
            try:
                explanation = pred._explain(served, variant, record) if explain else None
            except ModelError as err:
                out[i] = err
                continue
            pred._log(variant, ids[i], record, value, latency)
            if pred._mirror is not None and pred._mirror(route_keys[i]):
                pred._shadow_submit(state, record, value, latency)
            out[i] = Prediction(
                value, served.version, variant, latency, ids[i], served.name, explanation
            )
        pred.stats.request(variant, "ok", sum(isinstance(out[i], Prediction) for i, _ in items))
    return out


def _score_rows(
    pred: Predictor, served: Served, variant: str, items: list[tuple[int, Any]]
) -> list[Any]:
    if served.row_stable and len(items) > 1:
        with contextlib.suppress(Exception):  # then row by row, to find the failing rows
            values: list[Any] = served.score_many(np.vstack([x for _, x in items])).tolist()
            return values
    return [_score_row(pred, served, variant, x) for _, x in items]


def _score_row(pred: Predictor, served: Served, variant: str, x: Any) -> Any:
    try:
        return served.score_one(x)
    except Exception as err:  # noqa: BLE001 - reported for this record only
        pred.stats.request(variant, "error")
        return model_error(served, variant, err)
