"""What a :class:`~prodml.serving.Predictor` serves now, and tables scored by one variant.

The read side of a predictor, which neither routes nor monitors: the name, version and
variants it serves (``describe``, ``metrics_text``), and ``predict_batch``, which scores a
whole table with one variant's model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.serving._metrics import ServingStats, render
from prodml.serving._prediction import State
from prodml.serving._served import Served

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from prodml.monitoring import ModelMonitor
    from prodml.serving._prediction import RolloutPolicy

__all__ = ["Views"]


class Views:
    """The read-only side of :class:`~prodml.serving.Predictor` (a mixin)."""

    policy: RolloutPolicy | None
    stats: ServingStats
    _state: State
    _monitors: dict[str, ModelMonitor]

    @overload
    def predict_batch(
        self, data: Any, *, variant: str | None = None, output: Literal["numpy"] = "numpy"
    ) -> np.ndarray: ...
    @overload
    def predict_batch(
        self, data: Any, *, variant: str | None = None, output: Literal["arrow"]
    ) -> pa.Table: ...
    @overload
    def predict_batch(
        self, data: Any, *, variant: str | None = None, output: Literal["numpy", "arrow"]
    ) -> np.ndarray | pa.Table: ...
    def predict_batch(
        self, data: Any, *, variant: str | None = None, output: Literal["numpy", "arrow"] = "numpy"
    ) -> np.ndarray | pa.Table:
        """Predict every row of a table with one variant's model (no routing, no monitor).

        Parameters
        ----------
        data
            A pandas DataFrame, pyarrow Table or RecordBatch.
        variant
            Which variant's model; default the policy's first (the only one without one).
        output
            ``"numpy"`` (an array of values) or ``"arrow"`` (a table with a
            ``prediction`` column).

        Raises
        ------
        SchemaError
            Listing every problem of the table.
        ModelError
            When the model raises.
        """
        if output not in ("numpy", "arrow"):
            raise ConfigError(
                "The 'output' parameter of Predictor.predict_batch must be one of "
                f"{{'arrow', 'numpy'}}. Got {short_repr(output)} instead.",
                parameter="output",
            )
        state = self._state
        variant = state.home if variant is None else variant
        served = self._served(state, variant)
        values = served.score_table(data, variant)
        if output == "arrow":
            import pyarrow as pa  # noqa: PLC0415

            return pa.table({"prediction": values})
        return values

    def _served(self, state: State, variant: str) -> Served:
        try:
            return state.versions[variant]
        except KeyError:
            raise ConfigError(
                f"unknown variant {short_repr(variant)}; variants: {list(state.versions)}",
                parameter="variant",
            ) from None

    @property
    def name(self) -> str:
        """Name of the model the first variant serves."""
        state = self._state
        return state.versions[state.home].name

    @property
    def version(self) -> int | None:
        """Version the first variant serves now."""
        state = self._state
        return state.versions[state.home].version

    @property
    def variants(self) -> dict[str, Served]:
        """What each variant serves now (a snapshot)."""
        return dict(self._state.versions)

    @property
    def monitors(self) -> dict[str, ModelMonitor]:
        """The monitor of each variant that has one."""
        return dict(self._monitors)

    @property
    def home(self) -> str:
        """The first variant: served by the main model."""
        return self._state.home

    def describe(self) -> dict[str, Any]:
        """Name, version, schema and fingerprint of what serves now, per variant."""
        state = self._state
        home = state.versions[state.home]
        return {
            **home.describe(),
            "variant": state.home,
            "policy": None if self.policy is None else type(self.policy).__name__,
            "variants": {
                v: {"name": s.name, "version": s.version, "fingerprint": s.fingerprint}
                for v, s in state.versions.items()
            },
        }

    def metrics_text(self) -> str:
        """Serving metrics in the Prometheus text format."""
        return render(self.stats, {v: s.version for v, s in self._state.versions.items()})
