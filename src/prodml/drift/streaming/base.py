"""The interface every streaming drift detector implements.

A detector watches one stream of numbers (a metric, a residual, a 0/1 error indicator)
and raises an alarm when the stream's distribution changes. ``update(x)`` is the hot path
and returns whether ``x`` raises an alarm; ``update_many(values)`` feeds a whole array
and returns the positions of the alarms, exactly those the loop of ``update`` raises, and
leaves the detector in exactly the state the loop leaves. After an alarm the detector
starts afresh with the next value (the river convention). State round-trips through
``to_dict()``/``from_dict()``, so a detector restored mid-stream raises exactly the alarms
one that never stopped raises.
"""

from __future__ import annotations

import abc
import numbers
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from prodml._data import py_value
from prodml._params import Constraint, check_params
from prodml._quote import short_repr
from prodml._state import MAX_MAGNITUDE, Field, check_format_version, state_error
from prodml.errors import ConfigError, DriftError

__all__ = ["FORMAT_VERSION", "StreamingDetector"]

FORMAT_VERSION = 1
"""Version of the ``to_dict`` layout; bumped when a detector's state changes shape."""

_D = TypeVar("_D", bound="StreamingDetector")
_REGISTRY: dict[str, type[StreamingDetector]] = {}
_READERS = threading.Lock()  # one snapshot at a time (snapshots are rare, updates are not)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Domain = Literal["real", "binary", "unit"]

MAX_VALUE = MAX_MAGNITUDE
"""Largest magnitude a detector takes (:data:`prodml._state.MAX_MAGNITUDE`): beyond it,
sums of squares would overflow to inf and the saved state could not be loaded back."""

MAX_N = 2**52
"""Largest count of values a saved state may hold: ``update_many`` computes positions
and counts in float64, exact below ``2**53``, so a restored count leaves room for
``2**52`` more values (centuries of a million values a second) before the batch and the
loop could part. :data:`prodml._state.MAX_COUNT` is the limit of exactness itself."""

_DOMAIN_WORDS = {
    "real": "finite numbers within +-1e100",
    "binary": "0/1 error indicators",
    "unit": "numbers in [0, 1]",
}


class StreamingDetector(abc.ABC):
    """Base class of the streaming drift detectors (ADWIN, PageHinkley, CUSUM, DDM, ...).

    Subclasses list their constructor parameters in ``_PARAMS`` and give their
    constraints in ``_constraints``; ``__init__`` stores parameters unchanged, and they
    are checked on first use (``update``, ``update_many``, ``reset``, ``to_dict``).
    Values outside the detector's ``domain`` raise :class:`~prodml.errors.DriftError`.

    One thread at a time may feed a detector (``update``, ``update_many``, ``reset``);
    threads that share one hold a lock around those calls (as ``ModelMonitor`` does for
    its concept detector). :meth:`to_dict` is safe from any other thread meanwhile.

    Examples
    --------
    Save a detector mid-stream, restore it, and it raises the alarms it would have:

    >>> import json
    >>> import numpy as np
    >>> from prodml.drift.streaming import PageHinkley, StreamingDetector
    >>> rng = np.random.default_rng(0)
    >>> stream = np.concatenate([rng.normal(0, 1, 3000), rng.normal(1, 1, 3000)])
    >>> PageHinkley().update_many(stream)
    array([3027])
    >>> det = PageHinkley()
    >>> det.update_many(stream[:2000])
    array([], dtype=int64)
    >>> saved = json.dumps(det.to_dict())
    >>> restored = StreamingDetector.from_dict(json.loads(saved))
    >>> restored.update_many(stream[2000:]) + 2000
    array([3027])
    """

    __slots__ = ("_busy", "_drift", "_hold", "_ready")

    _PARAMS: ClassVar[tuple[str, ...]] = ()
    _FIELDS: ClassVar[tuple[str, ...]] = ()
    """Names of the saved state fields, in ``to_dict`` order, when the state is a flat set
    of attributes (field ``n`` in ``_n``): ``_get_state`` and the check that a loaded
    state has exactly those fields then come from here."""
    domain: ClassVar[Domain] = "real"
    """What values the detector takes: ``"real"``, ``"binary"`` (0/1) or ``"unit"``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None):
            _REGISTRY[cls.__name__] = cls

    def _init_base(self) -> None:
        # ``_drift`` starts True so that the first update takes the restart path, which
        # checks the parameters and builds the state: the hot path pays nothing for it.
        self._drift = True
        self._ready = False
        # Snapshot protocol (see ``to_dict``): updates in progress, and whether a reader
        # in another thread is taking a snapshot. Plain attributes: under the GIL each
        # read and write is atomic, and the hot path pays two integer updates and a test.
        self._busy = 0
        self._hold = False

    # -- to implement ----------------------------------------------------------------------

    @abc.abstractmethod
    def update(self, x: float) -> bool:
        """Feed one value; return whether it raises a drift alarm."""

    @abc.abstractmethod
    def _clear(self) -> None:
        """Set the learned state to that of a fresh detector (parameters are valid)."""

    def _run(self, values: FloatArray) -> list[int]:
        """Feed checked values; return alarm positions; leave state as after the loop.

        By default, :func:`run_segments` over the detector's ``_scan(chunk)``.
        """
        return run_segments(self, values, self._scan)

    def _scan(self, chunk: FloatArray) -> int:
        """Feed ``chunk`` from the current state; return its first alarm's position or -1.

        The state is then that right after the alarm value, or at the chunk's end (see
        :func:`run_segments`). Detectors that keep the default ``_run`` define it.
        """
        raise NotImplementedError

    def _get_state(self) -> dict[str, Any]:
        """Return the learned state as JSON-safe values."""
        return {name: getattr(self, "_" + name) for name in self._FIELDS}

    @abc.abstractmethod
    def _set_state(self, state: Field) -> None:
        """Restore the learned state from :meth:`_get_state` output, validating it.

        Read every value through ``state``'s checked readers, and check the invariants
        between values, so that a loaded detector never fails at its next update.
        """

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        """Constraints of each parameter, for :func:`prodml._params.check_params`."""
        return {}

    def _check_extra(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Check relations between parameters (after each one passed its own check)."""

    def _require_order(self, name: str, relation: Literal["<=", ">="], other: str) -> None:
        """Raise ConfigError unless setting ``name`` is ``relation`` setting ``other``."""
        value, bound = getattr(self, name), getattr(self, other)
        if not (value <= bound if relation == "<=" else value >= bound):
            raise ConfigError(
                f"The {name!r} parameter of {type(self).__name__} must be {relation} {other} "
                f"({bound!r}). Got {short_repr(value)} instead.",
                parameter=name,
            )

    # -- shared behaviour ------------------------------------------------------------------

    @property
    def drift_detected(self) -> bool:
        """Whether the last value fed raised a drift alarm."""
        return self._drift and self._ready

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters by name."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def _restart(self) -> None:
        """Start afresh: on first use (checking parameters) and after an alarm."""
        if not self._ready:
            check_params(type(self).__name__, self.get_params(), self._constraints())
            self._check_extra()
            self._ready = True
        self._drift = False
        self._clear()

    def reset(self) -> None:
        """Forget everything seen so far, as if the detector had just been created.

        Also re-checks the parameters, so a changed setting takes effect here.

        Raises
        ------
        ConfigError
            If a parameter is invalid.
        """
        self._busy += 1
        if self._hold:
            self._wait_for_reader()
        try:
            self._ready = False
            # As at construction: should the check below fail, the next update takes
            # the restart path (and its check) instead of going on with the old state.
            self._drift = True
            self._restart()
        finally:
            self._busy -= 1

    def update_many(self, values: npt.ArrayLike) -> IntArray:
        """Feed an array of values; return the positions (into ``values``) of the alarms.

        Gives exactly the alarms, and leaves exactly the state, of calling ``update`` on
        each value in turn; ``drift_detected`` then describes the last value.

        Parameters
        ----------
        values
            One-dimensional array-like of numbers in the detector's ``domain``.

        Returns
        -------
        numpy.ndarray
            Sorted int64 positions of the values that raised an alarm.

        Raises
        ------
        DriftError
            If a value is not a finite number (or outside the detector's domain); the
            detector is then left untouched.
        ConfigError
            If a parameter is invalid.
        """
        arr = self._as_values(values)
        self._busy += 1
        if self._hold:
            self._wait_for_reader()
        try:
            if not self._ready:
                self._restart()
            if arr.size == 0:
                return np.zeros(0, dtype=np.int64)
            return np.asarray(self._run(arr), dtype=np.int64)
        finally:
            self._busy -= 1

    def _wait_for_reader(self) -> None:
        """Slow path of an update that found a snapshot being taken: wait until it is done.

        An update nested in another (``update_many`` feeding ``update``) goes on: the
        reader is waiting for the outer one to finish.
        """
        if self._busy > 1:
            return
        while True:
            self._busy -= 1
            while self._hold:
                time.sleep(0)  # let the reader finish its snapshot
            self._busy += 1
            if not self._hold:
                return

    def _as_values(self, values: npt.ArrayLike) -> FloatArray:
        name = type(self).__name__
        raw = np.asarray(values)
        if raw.dtype.kind not in "biuf":
            raise DriftError(
                f"{name}.update_many takes {_DOMAIN_WORDS[self.domain]}; "
                f"got an array of dtype {raw.dtype}."
            )
        if raw.ndim != 1:
            raise DriftError(f"{name}.update_many takes a 1-D array; got shape {raw.shape}.")
        arr = raw.astype(np.float64, copy=False)
        if self.domain == "binary":
            bad = np.flatnonzero((arr != 0.0) & (arr != 1.0))
        elif self.domain == "unit":
            bad = np.flatnonzero(~((arr >= 0.0) & (arr <= 1.0)))
        else:
            bad = np.flatnonzero(~(np.abs(arr) <= MAX_VALUE))  # NaN and inf too
        if bad.size:
            i = int(bad[0])
            raise DriftError(
                f"{name} takes {_DOMAIN_WORDS[self.domain]}; got {arr[i]!r} at position {i}."
            )
        return arr

    def _bad_value(self, x: object) -> DriftError:
        """The error for a bad value given to ``update`` (hot paths raise it)."""
        return DriftError(
            f"{type(self).__name__} takes {_DOMAIN_WORDS[self.domain]}; got {short_repr(x)}."
        )

    def _as_float(self, x: object) -> float:
        """Slow path of ``update``'s input check, for anything but a plain ``float``."""
        if isinstance(x, np.timedelta64):
            raise self._bad_value(x)
        if isinstance(x, numbers.Real | np.bool_):
            try:
                value = float(x)
            except OverflowError:  # an int beyond float range
                raise self._bad_value(x) from None
            if -MAX_VALUE <= value <= MAX_VALUE:  # finite, and no sum of squares overflows
                return value
        raise self._bad_value(x)

    # -- state -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters and full state as a JSON-safe dict.

        ``type(self).from_dict(d)`` (or ``StreamingDetector.from_dict(d)``) rebuilds a
        detector that continues exactly where this one stopped.

        Safe to call from another thread while one thread updates the detector: the
        snapshot is taken between two updates (an update that arrives meanwhile waits
        for it), so it is always a state the detector was in, and the live detector ends
        exactly as it would have without the snapshot.
        """
        with _READERS:
            self._hold = True
            try:
                while self._busy:
                    time.sleep(0)  # let the update in progress finish
                if not self._ready:
                    self._restart()
                return {
                    "type": type(self).__name__,
                    "format_version": FORMAT_VERSION,
                    "params": _json_safe(self.get_params()),
                    "state": _json_safe({"drift": self._drift, **self._get_state()}),
                }
            finally:
                self._hold = False

    @classmethod
    def from_dict(cls: type[_D], data: Mapping[str, Any]) -> _D:
        """Rebuild a detector from :meth:`to_dict` output, validating all of it.

        Raises
        ------
        StateError
            (also a :class:`~prodml.errors.ConfigError`) if ``data`` is not a detector
            state this version can read, is for another detector class than ``cls``,
            holds invalid parameters, or a state value outside its invariants (a
            negative count, a NaN sum, a window longer than ``window_size``); the
            message names the field path.
        """
        root = Field(data, owner=cls.__name__)
        top = root.dict(keys=("type", "format_version", "params", "state"))
        kind = root["type"].str(max_len=100)
        root.owner = kind
        check_format_version(top["format_version"], FORMAT_VERSION, owner=kind)
        target = _REGISTRY.get(kind)
        if target is None or not issubclass(target, cls):
            raise root["type"].fail(f"a {cls.__name__} detector type")
        params = root["params"].dict(keys=target._PARAMS)
        for name, value in params.items():
            _check_json_param(root["params"][name], value)
        try:
            det = target(**params)
            det.reset()
        except ConfigError as err:
            path = f"params.{err.parameter}" if err.parameter else "params"
            raise state_error(
                f"{kind} state field {path!r}: {err}", path=path, owner=kind
            ) from None
        state = root["state"]
        state.dict(keys=("drift", *target._FIELDS) if target._FIELDS else None)
        det._set_state(state)
        det._drift = state["drift"].bool()
        return det

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={short_repr(v)}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class _WarningDetector(StreamingDetector):
    """A detector that also raises warnings (DDM, EDDM, HDDM_A, HDDM_W)."""

    __slots__ = ("_warning",)
    _warning: bool

    @property
    def warning_detected(self) -> bool:
        """Whether the last value fed raised a warning (never together with an alarm)."""
        return self._ready and self._warning


def _check_json_param(field: Field, value: object) -> None:
    """A parameter is a JSON scalar (the detector's own checks then apply)."""
    if value is not None and not isinstance(value, str | bool | int | float):
        raise field.fail("a number, string, bool or null")
    if isinstance(value, str):
        field.str(max_len=100)


def _json_safe(value: Any) -> Any:
    """``value`` with numpy scalars turned into the Python numbers JSON takes.

    A threshold given as ``np.float64`` yields ``np.bool_`` flags, which JSON refuses.
    """
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return py_value(value)


def first_true(mask: npt.NDArray[np.bool_]) -> int:
    """Position of the first true entry of ``mask``, or -1."""
    i = int(np.argmax(mask)) if mask.size else 0
    return i if mask.size and mask[i] else -1


def run_segments(
    det: StreamingDetector, values: FloatArray, scan: Any, first_chunk: int = 4096
) -> list[int]:
    """Drive a vectorised ``scan`` over ``values`` with restart-after-alarm semantics.

    ``scan(chunk)`` feeds ``chunk`` from the detector's current state and returns the
    position of its first alarm (the state then being that right after the alarm
    value) or -1 (state at the chunk's end). Chunks start small after each restart and
    double, so that many alarms cost O(n log n) and none costs O(n).
    """
    alarms: list[int] = []
    pos, n, size = 0, len(values), first_chunk
    while pos < n:
        if det._drift:
            det._restart()
            size = first_chunk
        chunk = values[pos : pos + size]
        hit = scan(chunk)
        if hit >= 0:
            det._drift = True
            alarms.append(pos + hit)
            pos += hit + 1
        else:
            pos += len(chunk)
            size *= 2
    return alarms


def tracker_index(score: FloatArray, best: float, *, lowest: bool = True) -> IntArray:
    """For each position, the last position whose score became the running best so far.

    A position becomes the best when its score is <= the best before it (>= when
    ``lowest`` is false), ties moving the tracker forward; ``best`` is the best score
    before the first position. -1 means the tracker has not moved yet.
    """
    prior = np.concatenate(([best], score[:-1]))
    if lowest:
        prior = np.minimum.accumulate(prior)
        moved = score <= prior
    else:
        prior = np.maximum.accumulate(prior)
        moved = score >= prior
    idx = np.where(moved, np.arange(len(score)), -1)
    return np.maximum.accumulate(idx) if len(idx) else idx.astype(np.int64)
