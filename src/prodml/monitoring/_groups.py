"""Per-group windows of a ModelMonitor: fairness metrics and gaps for alerts (private).

With ``ModelMonitor(group_by=[...])`` each prediction's sensitive values (passed as
``log_prediction(..., groups={...})``, or read from its features) are kept until its
label arrives; the labelled prediction then joins a sliding window of a
:class:`prodml.fairness.GroupMetrics`, whose counts go up for each new record and down
for each record leaving the window (O(1) per label). At each evaluation the window's
report becomes named values:

* ``{metric}[{group}]``: each group's value (``tpr[sex=F]``), groups with enough records;
* ``{metric}_difference``, ``{metric}_ratio``: fairlearn's gap values;
* ``{metric}_difference_lower``: the largest gap the window shows for sure (family
  level ``alpha`` across the pairs of groups), 0 when none; ``{metric}_ratio_upper``;
* ``{metric}_flagged``: pairs flagged (significant after correction, above the floor);
* ``group_window_count``: labelled predictions in the window (the rules' traffic).
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict, deque
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prodml._quote import short_repr
from prodml._state import Field
from prodml.errors import ConfigError, SchemaError
from prodml.fairness._ingest import privacy, public_key
from prodml.fairness._metrics import ALIASES, METRICS
from prodml.fairness._state import is_salt_id
from prodml.monitoring.windows import CountWindow, TimeWindow, Window, _time_order
from prodml.privacy import PersonalDataWarning, is_token

if TYPE_CHECKING:
    from prodml.fairness import GroupMetrics

__all__ = ["GroupWindows", "build", "load_config", "series"]

_GAP_SUFFIXES = ("_difference_lower", "_ratio_upper", "_difference", "_ratio", "_flagged")
_FAIRNESS_NAMES = frozenset(METRICS) | frozenset(ALIASES)
TRAFFIC = "group_window_count"
_ABSENT: Any = object()
#: Settings of a monitor's GroupMetrics when ``group_by`` is a list of names. Each
#: evaluation is a look at the window, so alpha is small: see docs/fairness.md.
MONITOR_DEFAULTS: dict[str, Any] = {"missing": "group", "max_groups": 100, "alpha": 1e-4}


def series(key: str) -> tuple[str, str, str] | None:
    """How a monitor value is exported to Prometheus, or ``None`` for other values.

    ``("group", metric, group)`` for a group's value, ``(gap, metric, "")`` for a gap.
    """
    if key.endswith("]") and "[" in key:
        metric = key[: key.index("[")]
        if metric in _FAIRNESS_NAMES:
            return "group", metric, key[len(metric) + 1 : -1]
        return None
    for suffix in _GAP_SUFFIXES:
        if key.endswith(suffix) and key[: -len(suffix)] in _FAIRNESS_NAMES:
            return suffix[1:], key[: -len(suffix)], ""
    return None


class GroupWindows:
    """The sliding per-group window of one monitor."""

    # Class defaults, for windows pickled before they existed: checked once, then known.
    _unsorted: bool = True
    _last: float = -math.inf

    def __init__(self, metrics: GroupMetrics, window: Window, max_pending: int) -> None:
        self.metrics = metrics
        self.window_spec = window
        self.max_pending = max_pending
        self._pending: OrderedDict[Hashable, tuple[object, ...] | None] = OrderedDict()
        self._window: deque[tuple[float, tuple[object, ...], int, float]] = deque()
        # Whether the window's records are out of time order, and the last one's time.
        self._unsorted, self._last = False, -math.inf
        if isinstance(window, TimeWindow):
            self._limit, self._seconds = window.max_size, window.seconds
        elif isinstance(window, CountWindow):
            self._limit, self._seconds = window.size, math.inf
        else:
            raise ConfigError(
                f"group_window must be a CountWindow or TimeWindow. Got {short_repr(window)} "
                "instead.",
                parameter="group_window",
            )
        self.dropped = 0

    def accepts(self, name: str) -> bool:
        """Whether an alert rule may watch ``name``."""
        kind = series(name)
        return name == TRAFFIC or (kind is not None and kind[1] in self.metrics.metrics)

    def predict(self, prediction_id: Hashable, groups: Any) -> None:
        """Remember a prediction's group (validated now, so a bad one fails the call).

        At ``max_groups``, a new group first makes room: the groups with no record in
        the window and no prediction waiting for its label are forgotten (a service that
        groups by app version keeps working past its hundredth release). The call fails
        only when every group is still in use.
        """
        try:
            key = self.metrics.group_of(groups)
        except SchemaError:
            if not self._drop_idle_groups():
                raise
            key = self.metrics.group_of(groups)
        pending = self._pending
        pending.pop(prediction_id, None)
        pending[prediction_id] = key
        if len(pending) > self.max_pending:
            pending.popitem(last=False)

    def _drop_idle_groups(self) -> int:
        """At ``max_groups``: forget the groups out of use; how many went."""
        metrics = self.metrics
        if len(metrics.groups) < metrics.max_groups:
            return 0  # the error was about the record, not the number of groups
        waiting = {key for key in self._pending.values() if key is not None}
        return metrics._drop_idle(waiting)

    def forget(self, prediction_id: Hashable) -> int:
        """Drop a pending prediction's group; 1 if there was one, else 0."""
        return 0 if self._pending.pop(prediction_id, _ABSENT) is _ABSENT else 1

    def label(self, prediction_id: Hashable, t: float, label: int, output: float) -> None:
        """Add a labelled prediction to the window, and let the oldest go past its size."""
        key = self._pending.pop(prediction_id, _ABSENT)
        if key is _ABSENT:  # logged before the monitor grouped, or evicted
            return
        if key is None:  # the missing/unseen policy drops this group
            self.dropped += 1
            return
        self.metrics.update_record(label, output, key)
        window = self._window
        window.append((t, key, label, output))
        if t < self._last:  # the clock stepped back: see expire
            self._unsorted = True
        self._last = t
        if len(window) > self._limit:
            _, old_key, old_label, old_output = window.popleft()
            self.metrics.remove_record(old_label, old_output, old_key)

    def expire(self, now: float) -> None:
        """Drop records older than a time window's length, or more than one ahead of now.

        The window is ``(now - seconds, now + seconds]``, as a TimeWindow's. (A record
        stamped over a window ahead comes from a clock that stepped back since.) After
        such a step the records are out of time order and every one is checked, not only
        the oldest, until they are in order again: a record stamped before the step no
        longer hides older ones behind it (they stayed up to one window too long).
        """
        cutoff, ahead = now - self._seconds, now + self._seconds
        window = self._window
        while window and (window[0][0] <= cutoff or window[0][0] > ahead):
            _, key, label, output = window.popleft()
            self.metrics.remove_record(label, output, key)
        while window and window[-1][0] > ahead:  # in order, the ones ahead are the newest
            _, key, label, output = window.pop()
            self.metrics.remove_record(label, output, key)
            self._last = window[-1][0] if window else -math.inf
        if self._unsorted:
            kept: deque[tuple[float, tuple[object, ...], int, float]] = deque()
            for record in window:
                if cutoff < record[0] <= ahead:
                    kept.append(record)
                else:
                    self.metrics.remove_record(record[2], record[3], record[1])
            self._window = kept
            self._resort()

    def _resort(self) -> None:
        """Whether the records are out of time order, and the last one's time."""
        self._unsorted, self._last = _time_order(r[0] for r in self._window)

    def values(self) -> dict[str, float]:
        """The window's per-group values and gaps, by name."""
        out = self.metrics.report().to_metrics(counts=False)
        out[TRAFFIC] = float(len(self._window))
        out["group_dropped"] = float(self.dropped)
        return out

    def config(self) -> dict[str, Any]:
        """The settings, JSON-safe (for ``ModelMonitor.to_dict``)."""
        return {
            "group_metrics": self.metrics.config(),
            "window": {"kind": self.window_spec.kind, "config": self.window_spec.config()},
        }

    def to_dict(self) -> dict[str, Any]:
        """The pending groups and the window's records, JSON-safe.

        Group values that look like personal data are saved as their tokens, with the
        salt's id, as in ``GroupMetrics.to_dict`` (see docs/fairness.md).
        """
        saved: dict[tuple[object, ...], list[object]] = {}  # each key's saved form, once

        def form(key: tuple[object, ...]) -> list[object]:
            values = saved.get(key)
            if values is None:
                values = saved[key] = list(public_key(key))
            return values

        result: dict[str, Any] = {
            "pending": [[pid, None if k is None else form(k)] for pid, k in self._pending.items()],
            "window": [[t, form(k), y, out] for t, k, y, out in self._window],
            "dropped": self.dropped,
        }
        if any(is_token(v) for key in saved.values() for v in key):
            result["salt_id"] = self.metrics._token_salt or privacy().salt_id
        return result

    def load(self, data: Mapping[str, Any]) -> None:
        """Replay a state saved by :meth:`to_dict` (each record validated again).

        Raises
        ------
        StateError
            Naming the field at fault under ``state.groups`` (``window[3][1]``,
            ``salt_id``, ``dropped``) and what was expected; nothing is loaded then.
        """
        root = Field(data, owner="ModelMonitor")
        root.dict(keys=tuple(k for k in ("pending", "window", "dropped", "salt_id") if k in data))
        salt = root.get("salt_id")
        if salt is not None:
            salt.check(is_salt_id(salt.value), "a salt id (16 lowercase hex digits)")
        pending = root["pending"].each(max_len=self.max_pending)
        window = root["window"].each(max_len=_MAX_WINDOW)
        keys = [_saved_key(item) for item in (*pending, *window)]
        if salt is None and any(is_token(v) for key in keys if key for v in key):
            raise root._child(None, "salt_id").fail(
                "present (the groups hold tokens)", shown="nothing"
            )
        _check_salt(self.metrics, None if salt is None else str(salt.value))
        metrics = self.metrics
        for item, key in zip(pending, keys, strict=False):
            pid_f, _ = item.each(length=2)
            pid = pid_f.value
            pid_f.check(isinstance(pid, str | int) and not isinstance(pid, bool), "a str or int id")
            pid_f.check(pid not in self._pending, "an id not listed before")
            if key is None:
                item[1].check(item[1].value is None, "a group (a list of values) or null")
                self._pending[pid] = None
            else:
                self._pending[pid] = _group_of(metrics, item[1], key)
        for item, key in zip(window, keys[len(pending) :], strict=True):
            t_f, key_f, y_f, out_f = item.each(length=4)
            t = t_f.float()
            key_f.check(key is not None, "a group (a list of values)")
            group = _group_of(metrics, key_f, key)  # type: ignore[arg-type]
            key_f.check(group is not None, "a group the policies keep")
            y, out = y_f.value, out_f.value
            try:
                metrics.update_record(y, out, group)
            except SchemaError as err:
                if err.problems and err.problems[0].column == "y_true":
                    raise y_f.fail("a label 0 or 1") from None
                raise out_f.fail(
                    "an output 0 or 1" if metrics.threshold is None else "a score in [0, 1]"
                ) from None
            self._window.append((t, group, y, out))  # type: ignore[arg-type]
        self.dropped = root["dropped"].count() if "dropped" in data else 0
        self._resort()


# Records a saved window may list: beyond any max_size a TimeWindow or CountWindow takes.
_MAX_WINDOW = 10_000_000


def _saved_key(item: Field) -> tuple[object, ...] | None:
    """The saved group of a pending ([id, group]) or window ([t, group, y, out]) record."""
    values = item.list()
    key = values[1] if len(values) in (2, 4) else None
    return tuple(key) if type(key) is list else None


def _group_of(metrics: GroupMetrics, field: Field, key: tuple[object, ...]) -> Any:
    """The monitor's group of a saved key, or a StateError naming the key's field."""
    field.check(type(field.value) is list, "a group (a list of values) or null")
    try:
        return metrics.group_of(key)
    except (SchemaError, TypeError):
        raise field.fail(
            f"a group of {len(metrics.sensitive)} sensitive values its settings accept"
        ) from None


def _check_salt(metrics: GroupMetrics, salt: str | None) -> None:
    """Warn when the saved tokens were made with another salt (see fairness' _state)."""
    if salt is None:
        return
    if salt != privacy().salt_id:
        warnings.warn(
            "ModelMonitor state holds group values that look like personal data as tokens "
            f"made with another salt (id {short_repr(salt)}, this process "
            f"{privacy().salt_id}): the window loads as saved, but new predictions of "
            "those values will be other groups; set the PRODML_PRIVACY_SALT environment "
            "variable to one secret in every process that saves or loads this monitor",
            PersonalDataWarning,
            stacklevel=2,
        )
        metrics._token_salt = salt


def build(
    group_by: Any,
    *,
    group_window: Window | None,
    window: Window,
    task: str,
    threshold: float,
    max_pending: int,
) -> GroupWindows | None:
    """The per-group windows of a monitor, or ``None`` without ``group_by``."""
    from prodml.fairness import GroupMetrics  # noqa: PLC0415 - only monitors that group

    if group_by is None or (isinstance(group_by, Sequence) and not group_by):
        return None
    if task != "binary":
        raise ConfigError(
            f"group_by needs a binary monitor (per-group confusion counts); this one is {task!r}.",
            parameter="group_by",
        )
    if isinstance(group_by, GroupMetrics):
        if group_by.weighted:
            # The monitor logs predictions and labels without weights: every record
            # would weigh 1 under a name that says weighted.
            raise ConfigError(
                "group_by: a monitor logs records without weights; give it a "
                "GroupMetrics(weighted=False), and weigh offline with GroupMetrics.update("
                "..., sample_weight=).",
                parameter="group_by",
            )
        settings = {**group_by.config(), "threshold": threshold}
    elif isinstance(group_by, Sequence) and not isinstance(group_by, str):
        settings = {
            "sensitive": list(group_by),
            "threshold": threshold,
            **MONITOR_DEFAULTS,
        }
    else:
        raise ConfigError(
            "The 'group_by' parameter of ModelMonitor must be a list of sensitive column "
            f"names or a prodml.fairness.GroupMetrics. Got {short_repr(group_by)} instead.",
            parameter="group_by",
        )
    spec = group_window if group_window is not None else _fresh(window.kind, window.config())
    return GroupWindows(GroupMetrics(**settings), spec, max_pending)


def load_config(kwargs: dict[str, Any]) -> None:
    """Turn the saved ``group_by`` / ``group_window`` settings back into constructor values."""
    from prodml.fairness import GroupMetrics  # noqa: PLC0415 - only monitors that group

    saved = kwargs.pop("group_by", None)
    if saved is None:
        return
    try:
        kwargs["group_by"] = GroupMetrics(**saved["group_metrics"])
        kwargs["group_window"] = _fresh(saved["window"]["kind"], saved["window"]["config"])
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(
            f"Saved ModelMonitor field 'config.group_by' is malformed: {str(err)[:120]}.",
            parameter="config.group_by",
        ) from None


def _fresh(kind: object, config: Mapping[str, Any]) -> Window:
    """An empty window of the given kind and settings."""
    if kind == "count":
        return CountWindow(**config)
    if kind == "time":
        return TimeWindow(**config)
    raise ConfigError(f"Unknown window kind {short_repr(kind)}; expected 'count' or 'time'.")
