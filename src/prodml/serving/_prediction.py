"""What a predictor answers, what it serves now, and checks of its policy and monitors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol

from typing_extensions import TypeVar

from prodml.errors import ConfigError
from prodml.serving._served import Served, jsonable

if TYPE_CHECKING:
    from typing import TypeAlias

    from prodml.rollout import ABTest, BlueGreen, Canary, Router, Shadow

__all__ = [
    "DEFAULT_VARIANT",
    "ChoosingPolicy",
    "Prediction",
    "RolloutPolicy",
    "State",
    "V_co",
    "check_monitors",
    "monitor_logger",
    "policy_variants",
]

V_co = TypeVar("V_co", default=Any, covariant=True)
"""The type of a prediction's value: ``float`` for ``output="proba"``, else ``Any``."""


class ChoosingPolicy(Protocol):
    """A policy without keys that picks a variant per request: the bandits."""

    @property
    def arms(self) -> Sequence[str]:
        """The variant names."""
        ...

    def choose(self) -> str:
        """The variant for the next request."""
        ...


if TYPE_CHECKING:
    RolloutPolicy: TypeAlias = "Canary | BlueGreen | Shadow | ABTest | Router | ChoosingPolicy"

    # A generic NamedTuple for type checkers; Python 3.10 cannot build one at run time,
    # so the class in the else branch is the one that runs (same fields, value typed Any).
    class Prediction(NamedTuple, Generic[V_co]):
        """One prediction and where it came from; ``value`` is ``float`` for ``output="proba"``."""

        value: V_co
        version: int | None
        variant: str
        latency_s: float
        id: Any
        model: str
        explanation: Any = None

        def to_dict(self) -> dict[str, Any]: ...

else:
    RolloutPolicy = Any

    class Prediction(NamedTuple):  # the class that runs; see the generic one above
        """One prediction and where it came from.

        Attributes
        ----------
        value
            The model's answer: a score in [0, 1] for a binary classifier (``output="auto"``),
            else what ``predict`` returns, as a Python scalar. To a type checker
            ``Prediction[float]`` from a predictor built with ``output="proba"``, else
            ``Prediction[Any]`` (the model decides).
        version
            Registry version of the model that answered (``None`` if not from a registry).
        variant
            Rollout variant that answered (``"default"`` without a policy).
        latency_s
            Seconds from the call to the value (validation, features, model).
        id
            Prediction id, as given or generated; join labels to it (``ModelMonitor.log_label``).
        model
            Model name.
        explanation
            What the explainer returned, when asked for.
        """

        value: Any
        version: int | None
        variant: str
        latency_s: float
        id: Any
        model: str
        explanation: Any = None

        def to_dict(self) -> dict[str, Any]:
            """JSON-safe fields (the explanation through its ``to_dict`` when it has one)."""
            d = self._asdict()
            if self.explanation is None:
                del d["explanation"]
            else:
                d["explanation"] = jsonable(self.explanation)
            return d


class State(NamedTuple):
    """What serves now, swapped as one object so a request never sees a mix."""

    versions: dict[str, Served]
    home: str


DEFAULT_VARIANT = "default"
"""The variant name of a Predictor's one model when no rollout policy is given."""


def policy_variants(policy: Any) -> tuple[str, ...]:
    """The policy's variant names, the one the main model serves first.

    No policy (``None``): the one variant :data:`DEFAULT_VARIANT`.
    """
    if policy is None:
        return (DEFAULT_VARIANT,)
    from prodml.rollout import (  # noqa: PLC0415 - only when a policy is given
        ABTest,
        BlueGreen,
        Canary,
        Router,
        Shadow,
    )

    if isinstance(policy, Canary):
        return (policy.baseline, policy.candidate)
    if isinstance(policy, BlueGreen):
        return (policy.active, policy.preview)
    if isinstance(policy, Shadow):
        return (policy.primary, policy.shadow)
    if isinstance(policy, Router | ABTest):
        return tuple(policy.weights)
    arms = getattr(policy, "arms", None)
    if callable(getattr(policy, "choose", None)) and arms is not None:
        return tuple(arms)
    raise ConfigError(
        f"policy {type(policy).__name__} is not a prodml rollout policy (Canary, BlueGreen, "
        "Shadow, ABTest, Router or a bandit)",
        parameter="policy",
    )


def check_monitors(monitor: Any, names: Sequence[str]) -> dict[str, Any]:
    if monitor is None:
        return {}
    if isinstance(monitor, Mapping):
        unknown = sorted(set(monitor) - set(names))
        if unknown:
            raise ConfigError(
                f"monitors given for unknown variants {unknown}; variants: {list(names)}",
                parameter="monitor",
            )
        monitors = dict(monitor)
    else:
        monitors = dict.fromkeys(names, monitor)
    for m in monitors.values():
        if not callable(getattr(m, "log_prediction", None)):
            raise ConfigError(
                "monitor must be a prodml ModelMonitor (or a dict of them by variant)",
                parameter="monitor",
            )
    return monitors


def monitor_logger(monitor: Any) -> Callable[[Any, Any, Any, float], None]:
    """``f(id, record, value, latency)`` logging a served prediction to ``monitor``.

    A :class:`~prodml.monitoring.ModelMonitor`'s own serving entry (checked like
    ``log_prediction``, applied in order before anything reads the monitor), else its
    ``log_prediction`` (a subclass's, or one set on the object, is called as it is).
    """
    from prodml.monitoring import ModelMonitor  # noqa: PLC0415 - only with a monitor

    if type(monitor) is ModelMonitor and "log_prediction" not in vars(monitor):
        served: Callable[[Any, Any, Any, float], None] = monitor._log_served
        return served
    log_prediction = monitor.log_prediction

    def log(id: Any, record: Any, value: Any, latency: float) -> None:  # noqa: A002
        log_prediction(id, record, value, latency_s=latency)

    return log
