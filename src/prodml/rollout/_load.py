"""Validated loading of rollout state (private): summaries, sketches, gates, decision logs.

Every policy's ``from_dict`` reads its saved state through these, so a count below 0, a
negative sum of squares, a rate outside [0, 1], a summary counting more requests than
the variant received or a decision with an unknown action is refused with a
:class:`~prodml.errors.StateError` (also a PolicyError) naming the field path
(``metrics.summaries.candidate.error_rate[0]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from prodml._state import MAX_COUNT, Field
from prodml.errors import ConfigError, PolicyError
from prodml.rollout._base import check_state
from prodml.rollout._decision import MAX_STORED_REASON, Decision
from prodml.rollout._gates import Gate, MetricStore
from prodml.rollout._limits import MAX_METRICS
from prodml.rollout._sketch import QuantileSketch, bucket_range
from prodml.rollout._summary import MeanSummary

__all__ = [
    "build",
    "decision_log",
    "ended_by",
    "gate",
    "metric_store",
    "root",
    "sketch",
    "summary",
]

_T = TypeVar("_T")
_MAX_LOG = 1_000_000  # decisions in a saved log
_ACTIONS = ("advance", "hold", "promote", "rollback", "pause")


def root(data: object, kind: str) -> Field:
    """The top of a saved policy state, after its type and format version are checked."""
    check_state(data, kind)  # type: ignore[arg-type]  # it checks the type itself
    return Field(data, owner=kind, error=PolicyError)


def build(field: Field, make: Callable[[], _T]) -> _T:
    """``make()`` (a constructor fed saved settings), its errors naming ``field``."""
    try:
        return make()
    except (PolicyError, ConfigError) as err:
        raise field.fail(f"valid settings ({str(err)[:300]})") from None
    except TypeError:
        raise field.fail("the settings this policy takes") from None


def summary(field: Field, *, requests: int) -> MeanSummary:
    """A ``[n, mean, m2, binary]`` summary of at most ``requests`` values."""
    n_f, mean_f, m2_f, binary_f = field.each(length=4)
    n = n_f.int(lo=0, hi=requests)
    binary = binary_f.bool()
    mean = mean_f.float(lo=0.0, hi=1.0) if binary else mean_f.float()
    m2 = m2_f.float(lo=0.0)
    if n == 0:
        field.check(mean == 0.0 and m2 == 0.0, "[0, 0.0, 0.0, ...] for an empty summary")
    elif binary:
        # n values of 0 or 1 with mean p have m2 = n p (1 - p) (up to rounding)
        exact = n * mean * (1.0 - mean)
        m2_f.check(abs(m2 - exact) <= 1e-6 * max(1.0, exact), f"n p (1 - p) = {exact:g}")
    return MeanSummary(n, mean, m2, binary)


def sketch(field: Field) -> QuantileSketch:
    """A quantile sketch: bucket counts (>= 0) at bucket indices a float can reach."""
    field.dict(keys=("positive", "negative", "zeros"))
    s = QuantileSketch()
    low, top = bucket_range()
    for side in ("positive", "negative"):
        counts: dict[int, int] = {}
        for key, c in field[side].items(max_len=top - low + 1):
            try:
                i = int(key)
            except ValueError:
                raise c.fail("counts keyed by bucket index") from None
            c.check(low <= i <= top, f"counts at bucket indices in [{low}, {top}]")
            counts[i] = c.int(lo=1)
        setattr(s, side, counts)
    s.zeros = field["zeros"].count()
    field.check(s.n <= MAX_COUNT, f"a sketch of at most {MAX_COUNT} values")
    return s


def metric_store(store: MetricStore, field: Field) -> None:
    """Restore ``store`` from its saved dict (variants exactly the store's)."""
    field.dict(keys=("summaries", "requests", "sketches"))
    variants = store.variants
    requests = {v: field["requests"][v].count() for v in variants}
    field["requests"].dict(keys=variants)
    field["summaries"].dict(keys=variants)
    field["sketches"].dict(keys=variants)
    for v in variants:
        got = {}
        for m, s in field["summaries"][v].items(max_len=MAX_METRICS):
            got[m] = summary(s, requests=requests[v])
        store.summaries[v] = got
        sketches = {}
        for m, s in field["sketches"][v].items(max_len=MAX_METRICS):
            sk = sketch(s)
            s.check(sk.n <= requests[v], f"a sketch of at most {requests[v]} values")
            sketches[m] = sk
        store.sketches[v] = sketches
    store.requests.update(requests)


def gate(field: Field) -> Gate:
    """A Gate from its saved dict."""
    params = field.dict()
    return build(field, lambda: Gate(**params))


def decision(field: Field) -> Decision:
    """A Decision from its saved dict."""
    field.dict(keys=("action", "reason", "evidence", "time"))
    action = field["action"].str(choices=_ACTIONS)
    reason = field["reason"].str(max_len=MAX_STORED_REASON)
    evidence = dict(field["evidence"].dict())
    if "repeats" in evidence:  # counted on by the next repeat of a wait (PolicyBase._record)
        evidence["repeats"] = field["evidence"]["repeats"].int(lo=1, hi=MAX_COUNT)
    t = field["time"].optional_float()
    return Decision(action, reason, evidence, time=t)  # type: ignore[arg-type]


def decision_log(field: Field) -> list[Decision]:
    """A saved decision log (oldest first)."""
    return [decision(d) for d in field.each(max_len=_MAX_LOG)]


def ended_by(field: Field, log: list[Decision], actions: tuple[str, ...], what: str) -> None:
    """Refuse a saved end state (``field``) whose log does not end with one of ``actions``.

    A policy that has ended returns its last decision from ``evaluate()``: an empty log or
    one ending with another action would be no decision to return.
    """
    field.check(
        bool(log) and log[-1].action in actions,
        f"{what} only after a logged {' or '.join(actions)} (the log's last decision)",
    )


def params(field: Field) -> Mapping[str, Any]:
    """Saved settings: a dict of JSON values (each policy's constructor checks them)."""
    return field.dict()
