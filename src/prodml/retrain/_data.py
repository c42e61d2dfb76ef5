"""Where a retraining's training set comes from: a function, or the feature store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prodml.errors import ConfigError
from prodml.fingerprint import fingerprint_table

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from prodml.retrain._controller import RunContext
    from prodml.store import FeatureStore, TrainingSet

__all__ = ["StoreTrainingData", "lineage_of"]


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
