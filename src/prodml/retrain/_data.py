"""Where a retraining's training set comes from: a function, or the feature store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prodml._durations import seconds
from prodml._state import finite_float
from prodml.errors import ConfigError
from prodml.fingerprint import fingerprint_table

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from prodml.retrain._controller import RunContext
    from prodml.store import FeatureStore, TrainingSet

__all__ = ["StoreTrainingData", "change_window", "lineage_of"]


@dataclass(frozen=True)
class StoreTrainingData:
    """Build the training set with :meth:`prodml.store.FeatureStore.historical`.

    Parameters
    ----------
    store
        A :class:`~prodml.store.FeatureStore`.
    features
        Feature references (``"view:feature"``).
    entities
        The entity rows (keys, timestamps, labels) to join features to: a table, or a
        function of the run's :class:`~prodml.retrain.RunContext` returning one (e.g.
        the last 28 days of labelled customers).
    timestamp
        Name of the entity table's timestamp column.
    """

    store: FeatureStore
    features: Sequence[str]
    entities: pd.DataFrame | pa.Table | Callable[[RunContext], pd.DataFrame | pa.Table]
    timestamp: str = "event_timestamp"

    def __post_init__(self) -> None:
        if not hasattr(self.store, "historical"):
            raise ConfigError(
                "StoreTrainingData needs a FeatureStore (with historical()). "
                f"Got {type(self.store).__name__}.",
                parameter="store",
            )
        if isinstance(self.features, str) or not self.features:
            raise ConfigError(
                "StoreTrainingData needs a non-empty list of feature references.",
                parameter="features",
            )

    def __call__(self, context: RunContext) -> TrainingSet:
        """The point-in-time correct :class:`~prodml.store.TrainingSet` for this run."""
        rows = self.entities(context) if callable(self.entities) else self.entities
        return self.store.historical(rows, list(self.features), timestamp=self.timestamp)


def change_window(
    context: RunContext,
    *,
    window: float | timedelta,
    min_window: float | timedelta,
) -> tuple[float, float]:
    """The training window ``(start, end)`` for a run: since the estimated change, bounded.

    A trigger that can date the change it detected puts the time in its signal's
    evidence as ``change_at`` (seconds on the controller's clock):
    :class:`ErrorRateTrigger` does on its CUSUM and after-drift alarms (the last check
    before the alarming CUSUM was last at zero, or before the drift co-signal fired if
    earlier; for a follow-up, when the serving version was trained). Rows from before
    the change teach the old concept; this window drops
    them, within bounds:

    * ``end`` is the run's clock (``context.now``);
    * ``start`` is ``change_at``, but never later than ``end - min_window`` (enough rows
      to fit on) and never earlier than ``end - window`` (the window you would use
      without a change point);
    * with no usable ``change_at`` (another trigger, a schedule, a value that is
      not a finite number, or one after ``end``), the window is the full
      ``window``.

    ``change_at`` dates the first error *label* after the change; with labels that
    arrive late, widen ``min_window`` by the delay, or move ``start`` back by it.

    Parameters
    ----------
    context
        The run's :class:`RunContext` (what the ``data=`` function is called with).
    window
        The longest window (seconds or a timedelta).
    min_window
        The shortest window, at most ``window``.

    Examples
    --------
    >>> from prodml.retrain import RunContext
    >>> day = 86400.0
    >>> ctx = RunContext(
    ...     "r1", "error_rate", "...", 30 * day, None, {"evidence": {"change_at": 25 * day}}
    ... )
    >>> [t / day for t in change_window(ctx, window=14 * day, min_window=3 * day)]
    [25.0, 30.0]
    >>> [t / day for t in change_window(ctx, window=14 * day, min_window=7 * day)]
    [23.0, 30.0]
    >>> ctx = RunContext("r2", "schedule", "...", 30 * day, None, {"evidence": {}})
    >>> [t / day for t in change_window(ctx, window=14 * day, min_window=7 * day)]
    [16.0, 30.0]
    """
    longest = seconds(window, "window", "change_window")
    shortest = seconds(min_window, "min_window", "change_window")
    if shortest > longest:
        raise ConfigError(
            f"change_window: min_window ({shortest:g} s) must be at most window ({longest:g} s).",
            parameter="min_window",
        )
    end = finite_float(getattr(context, "now", None))
    if end is None:
        raise ConfigError(
            "change_window needs the run's context (a RunContext with a finite clock). "
            f"Got {type(context).__name__}.",
            parameter="context",
        )
    signal = getattr(context, "signal", None)
    evidence = signal.get("evidence") if isinstance(signal, dict) else None
    raw = evidence.get("change_at") if isinstance(evidence, dict) else None
    change = finite_float(raw)  # read back from the state: a finite number or nothing
    start = end - longest
    if change is not None and change <= end:
        start = max(start, min(change, end - shortest))
    return start, end


def lineage_of(training_set: Any) -> dict[str, Any]:
    """The data half of a candidate's lineage: fingerprints of the rows and the views."""
    lineage = getattr(training_set, "lineage", None)
    if callable(lineage):
        out = lineage()
        if isinstance(out, dict):
            return dict(out)
    return {"data_fingerprint": fingerprint_table(training_set)}


def build(data: Callable[[Any], Any] | None, context: Any) -> Any:
    """Call the configured data source."""
    if data is None:
        raise ConfigError(
            "RetrainController needs data= (a function of the run context returning the "
            "training table, or StoreTrainingData).",
            parameter="data",
        )
    return data(context)
