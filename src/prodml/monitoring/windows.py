"""Sliding windows over labelled predictions, by count or by time, with bounded memory.

A window holds ``(timestamp, label, output)`` triples of predictions whose label has
arrived; the monitor computes its performance metrics on the window's contents. A
:class:`CountWindow` keeps the last ``size`` triples. A :class:`TimeWindow` keeps those
whose timestamp is within the last ``seconds`` of the monitor's clock, and at most
``max_size`` of them: when traffic exceeds that, the oldest are dropped and counted in
``dropped``, so memory stays bounded whatever the traffic.

Examples
--------
>>> w = CountWindow(size=2)
>>> for t, y in enumerate([1, 0, 1]):
...     w.add(float(t), y, y)
>>> len(w), w.labels()
(2, [0, 1])
>>> tw = TimeWindow(seconds=10.0)
>>> tw.add(0.0, 1, 1)
>>> tw.add(5.0, 0, 1)
>>> tw.expire(now=12.0)
>>> len(tw)
1
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from prodml._params import Interval, check_params
from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = ["CountWindow", "TimeWindow", "Window", "window_from_dict"]

Scalar = float | int | str | bool


def _time_order(times: Iterable[float]) -> tuple[bool, float]:
    """Whether ``times`` are out of order (a clock stepped back), and the last one.

    One pass, for lists and deques alike (indexing a deque is not constant time).
    """
    unsorted, last = False, -math.inf
    for t in times:
        if t < last:
            unsorted = True
        last = t
    return unsorted, last


def _py_scalar(value: Any) -> Any:
    """A Python scalar for a numpy scalar (or 0-d array); anything else unchanged."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


class Window:
    """Base of the sliding windows: a bounded deque of ``(time, label, output)``."""

    kind = "base"

    def __init__(self, max_size: int) -> None:
        self._times: deque[float] = deque()
        self._labels: deque[Scalar] = deque()
        self._outputs: deque[Scalar] = deque()
        self._max_size = max_size
        self.dropped: int = 0

    def __len__(self) -> int:
        return len(self._times)

    def add(self, time: float, label: Scalar, output: Scalar) -> None:
        """Append one labelled prediction, evicting the oldest beyond the size cap."""
        self._times.append(time)
        self._labels.append(label)
        self._outputs.append(output)
        if len(self._times) > self._max_size:
            self._pop_oldest()
            self._on_overflow()

    def _on_overflow(self) -> None:
        """Count a triple pushed out by the size cap (a time window counts it)."""

    def _pop_oldest(self) -> None:
        self._times.popleft()
        self._labels.popleft()
        self._outputs.popleft()

    def expire(self, now: float) -> None:
        """Drop triples that fell out of the window at time ``now`` (time windows only)."""

    def clear(self) -> None:
        """Forget every triple."""
        self._times.clear()
        self._labels.clear()
        self._outputs.clear()

    def times(self) -> list[float]:
        """Timestamps, oldest first."""
        return list(self._times)

    def labels(self) -> list[Scalar]:
        """Labels, oldest first."""
        return list(self._labels)

    def outputs(self) -> list[Scalar]:
        """Model outputs, oldest first."""
        return list(self._outputs)

    def config(self) -> dict[str, Any]:  # pragma: no cover - overridden
        """Constructor arguments, JSON-safe."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: the configuration and the contents (numpy scalars as Python)."""
        return {
            "kind": self.kind,
            "config": self.config(),
            "times": self.times(),
            "labels": [_py_scalar(y) for y in self._labels],
            "outputs": [_py_scalar(o) for o in self._outputs],
            "dropped": self.dropped,
        }

    def _load(self, data: Mapping[str, Any]) -> None:
        times, labels, outputs = data["times"], data["labels"], data["outputs"]
        if not len(times) == len(labels) == len(outputs):
            raise ConfigError("Window state is inconsistent: columns differ in length.")
        # The newest max_size triples, appended at C speed (not one add() per triple).
        skip = max(0, len(times) - self._max_size)
        self.clear()
        self._times.extend(map(float, times[skip:]))
        self._labels.extend(labels[skip:])
        self._outputs.extend(outputs[skip:])
        self.dropped = int(data.get("dropped", 0))


class CountWindow(Window):
    """The last ``size`` labelled predictions.

    Parameters
    ----------
    size
        Number of labelled predictions the metrics are computed on.
    """

    kind = "count"

    def __init__(self, size: int = 1000) -> None:
        check_params("CountWindow", {"size": size}, {"size": [Interval(int, 1, None)]})
        super().__init__(max_size=size)
        self.size = size

    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-safe."""
        return {"size": self.size}

    def __repr__(self) -> str:
        return f"CountWindow(size={self.size})"


class TimeWindow(Window):
    """Labelled predictions of the last ``seconds``, at most ``max_size`` of them.

    Parameters
    ----------
    seconds
        Window length, in seconds of the monitor's clock.
    max_size
        Memory bound: beyond it the oldest triples are dropped and counted in ``dropped``.
    """

    kind = "time"
    dropped: int  # Window's counter, incremented here (declared so type checkers agree)
    # Whether a triple was added with an earlier time than the one before it (the clock
    # stepped back): expiring from the oldest end then misses stale triples behind newer
    # ones. A class default, so windows pickled before it existed load as in order.
    _unsorted: bool = False
    # The time of the last triple added (-inf when none is held): the test above without
    # indexing the deque on log_label's hot path. A class default, as _unsorted's.
    _last: float = -math.inf

    def __init__(self, seconds: float = 3600.0, max_size: int = 100_000) -> None:
        check_params(
            "TimeWindow",
            {"seconds": seconds, "max_size": max_size},
            {
                "seconds": [Interval(float, 0, None, "neither")],
                "max_size": [Interval(int, 1, None)],
            },
        )
        super().__init__(max_size=max_size)
        self.seconds: float = float(seconds)
        self.max_size = max_size

    def _on_overflow(self) -> None:
        self.dropped += 1

    def add(self, time: float, label: Scalar, output: Scalar) -> None:
        """Append one labelled prediction, evicting the oldest beyond the size cap."""
        times = self._times  # the base's add, inlined: this is log_label's hot path
        if time < self._last:
            self._unsorted = True
        self._last = time
        times.append(time)
        self._labels.append(label)
        self._outputs.append(output)
        if len(times) > self._max_size:
            self._pop_oldest()
            self.dropped += 1

    def expire(self, now: float) -> None:
        """Drop triples older than ``now - seconds``, and those over a window ahead of it.

        The window is ``(now - seconds, now + seconds]``: a triple exactly ``seconds``
        old is out. A triple stamped more than ``seconds`` after ``now`` comes from a
        clock that has since stepped back: kept, it would hold every later triple in the
        window until the clock reached it again. After such a step, triples are no longer
        in time order, and every one is checked (not only the oldest) until they are.
        """
        cutoff, ahead = now - self.seconds, now + self.seconds
        times = self._times
        while times and (times[0] <= cutoff or times[0] > ahead):
            self._pop_oldest()
        if self._unsorted:
            self._filter(cutoff, ahead)
        elif times and times[-1] > ahead:  # in order, the ones ahead are the newest
            while times and times[-1] > ahead:
                times.pop()
                self._labels.pop()
                self._outputs.pop()
            self._last = times[-1] if times else -math.inf

    def _filter(self, cutoff: float, ahead: float) -> None:
        """Keep the triples inside ``(cutoff, ahead]`` in any order; note if now sorted."""
        triples = zip(self._times, self._labels, self._outputs, strict=True)
        rows = [r for r in triples if cutoff < r[0] <= ahead]
        if len(rows) != len(self._times):
            self.clear()
            for t, y, o in rows:
                self._times.append(t)
                self._labels.append(y)
                self._outputs.append(o)
        self._resort()

    def _resort(self) -> None:
        """Whether the triples held are out of time order, and the last one's time."""
        self._unsorted, self._last = _time_order(self._times)

    def clear(self) -> None:
        """Forget every triple."""
        super().clear()
        self._unsorted, self._last = False, -math.inf

    def _load(self, data: Mapping[str, Any]) -> None:
        super()._load(data)
        self._resort()

    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-safe."""
        return {"seconds": self.seconds, "max_size": self.max_size}

    def __repr__(self) -> str:
        return f"TimeWindow(seconds={self.seconds!r}, max_size={self.max_size})"


def window_from_dict(data: Mapping[str, Any]) -> Window:
    """Rebuild a window saved by :meth:`Window.to_dict`."""
    kind = data.get("kind")
    window: Window
    if kind == "count":
        window = CountWindow(**data["config"])
    elif kind == "time":
        window = TimeWindow(**data["config"])
    else:
        raise ConfigError(f"Unknown window kind {short_repr(kind)}; expected 'count' or 'time'.")
    window._load(data)
    return window
