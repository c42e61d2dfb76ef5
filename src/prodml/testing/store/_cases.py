"""Hypothesis strategies of point-in-time join cases: the data that breaks as-of joins.

Times sit on a coarse grid (so event times, created times and entity times collide),
created times lag events by zero to many steps (late-arriving rows) or precede them,
some entity rows ask for entities no source has, views differ in ttl and in whether
they have a created column, and every timestamp column has its own time zone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from prodml._extras import require

_st = require("hypothesis.strategies", extra="test", feature="prodml.testing.store")

__all__ = ["PitCase", "ViewCase", "pit_cases", "settings"]

ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham")
T0 = datetime(2024, 3, 9, 12, tzinfo=timezone.utc)  # a DST change in New York follows
STEP = timedelta(hours=1)


def settings(examples: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The suites' hypothesis settings: ``examples`` cases, replayable, no deadline.

    No example database: the suites run in their users' projects, where a
    ``.hypothesis/`` folder they did not ask for would appear.
    """
    hypothesis = require("hypothesis", extra="test", feature="prodml.testing.store")
    decorate: Callable[[Callable[..., Any]], Callable[..., Any]] = hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[hypothesis.HealthCheck.too_slow],
    )
    return decorate


@dataclass(frozen=True)
class ViewCase:
    """One view of a case: its name, ttl, and source rows in source order."""

    name: str
    ttl: timedelta | None
    created: bool
    rows: pa.Table


@dataclass(frozen=True)
class PitCase:
    """Entity rows (``user_id``, ``event_timestamp``) and the views to join."""

    entity_df: pd.DataFrame
    views: tuple[ViewCase, ...]


def _times(draw: Any, n: int, zone: str) -> list[datetime]:
    steps = draw(_st.lists(_st.integers(0, 12), min_size=n, max_size=n))
    z = ZoneInfo(zone)
    return [(T0 + s * STEP).astimezone(z) for s in steps]


@_st.composite  # type: ignore[untyped-decorator]
def _view(draw: Any, index: int, keys: list[int]) -> ViewCase:
    n = draw(_st.integers(0, 14))
    ttl = draw(_st.sampled_from([None, STEP, 3 * STEP, 48 * STEP]))
    created = draw(_st.booleans())
    zone = draw(_st.sampled_from(ZONES))
    events = _times(draw, n, zone)
    cols: dict[str, Any] = {
        "user_id": pa.array(
            draw(_st.lists(_st.sampled_from(keys), min_size=n, max_size=n)), pa.int64()
        ),
        "event_at": pa.array(events, pa.timestamp("us", tz=zone)),
    }
    if created:
        lags = draw(_st.lists(_st.sampled_from([0, 0, 1, 2, 6, -1]), min_size=n, max_size=n))
        cols["created_at"] = pa.array(
            [e + lag * STEP for e, lag in zip(events, lags, strict=True)],
            pa.timestamp("us", tz=draw(_st.sampled_from(ZONES))),
        )
    # Distinct values, so the test sees which row was chosen.
    cols[f"f{index}"] = pa.array([float(100 * index + i) for i in range(n)], pa.float64())
    cols[f"g{index}"] = pa.array([i % 3 for i in range(n)], pa.int64())
    return ViewCase(f"v{index}", ttl, created, pa.table(cols))


@_st.composite  # type: ignore[untyped-decorator]
def pit_cases(draw: Any, max_views: int = 3) -> PitCase:
    """A :class:`PitCase`: 1-``max_views`` views of the entity ``user_id`` (int)."""
    keys = draw(_st.lists(_st.integers(1, 5), min_size=1, max_size=3, unique=True))
    n_views = draw(_st.integers(1, max_views))
    views = tuple(draw(_view(i, keys)) for i in range(n_views))
    n = draw(_st.integers(1, 12))
    zone = draw(_st.sampled_from(ZONES))
    entity_df = pd.DataFrame(
        {
            "user_id": draw(_st.lists(_st.sampled_from([*keys, 99]), min_size=n, max_size=n)),
            "event_timestamp": pd.Series(_times(draw, n, zone)).astype(
                pd.DatetimeTZDtype("us", tz=zone)
            ),
        }
    )
    return PitCase(entity_df, views)
