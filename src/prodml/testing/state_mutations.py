"""A property check for saved state: hostile leaves give a clear error or a working object.

:func:`check_state_mutations` takes a stateful object, replaces every leaf (and every
container) of its ``to_dict()`` with hostile values (None, -1, NaN, inf, 1e308, wrong
types, ``""``, ``[]``, ``[[]]``, nested dicts) one at a time, and for each mutated state
asserts one of two outcomes:

- loading raises a :class:`~prodml.errors.ProdMLError`; or
- loading gives an object that round-trips (``to_dict`` of the loaded object loads back to
  the same ``to_dict``) *and* works: ``use(obj)`` (one update / transform / route /
  evaluate) returns, or refuses its input with a ProdMLError (a valid state may reject
  data, as a Schema whose column type changed does).

Any other exception, at load, at round-trip or in use, is a failure, and so is a
warning (a ``RuntimeWarning`` from a division by zero is a silent NaN in waiting). This is the test
every prodml class with ``from_dict`` passes; code built on prodml can run it over its own
stateful classes.

Examples
--------
>>> from prodml.drift import PageHinkley
>>> det = PageHinkley()
>>> _ = det.update_many([0.0, 1.0, 0.5])
>>> report = check_state_mutations(det, use=lambda d: d.update(0.25))
>>> report.mutations > 50, report.failures
(True, [])
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prodml.errors import ProdMLError

__all__ = ["HOSTILE_VALUES", "MutationReport", "check_state_mutations", "mutations"]

HOSTILE_VALUES: tuple[object, ...] = (
    None,
    -1,
    0,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    2**80,
    10**400,  # an int beyond the float range: float() of it raises OverflowError
    True,
    "",
    "x" * 3,
    [],
    [[]],
    {},
    {"a": {"b": [1]}},
    2.5,
)
"""The values substituted for each leaf and container of a state."""

_Path = tuple[str | int, ...]


@dataclass
class MutationReport:
    """What :func:`check_state_mutations` found.

    Attributes
    ----------
    mutations
        How many mutated states were tried.
    rejected
        How many were refused at load with a ProdMLError.
    accepted
        How many loaded, round-tripped and worked.
    failures
        One line per mutation that raised anything else (path, value, exception).
    """

    mutations: int = 0
    rejected: int = 0
    accepted: int = 0
    failures: list[str] = field(default_factory=list)


def _walk(node: Any, path: _Path, max_items: int) -> Iterator[tuple[_Path, Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*path, k), max_items)
    elif isinstance(node, list):
        n = len(node)
        picks = range(n) if n <= max_items else sorted({0, 1, n // 2, n - 1})
        for i in picks:
            yield from _walk(node[i], (*path, i), max_items)


def _set(root: Any, path: _Path, value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(root)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _drop(root: Any, path: _Path) -> Any:
    out = copy.deepcopy(root)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def mutations(state: Any, *, max_items: int = 4) -> Iterator[tuple[str, Any]]:
    """Every single-point mutation of ``state``: ``(description, mutated_state)``.

    Each node (leaf or container) is replaced by each of :data:`HOSTILE_VALUES`; each
    key of each dict is also dropped. Lists longer than ``max_items`` are mutated at
    their first, second, middle and last items only.
    """
    for path, node in _walk(state, (), max_items):
        where = "".join(f"[{k!r}]" for k in path) or "<root>"
        for value in HOSTILE_VALUES:
            if type(value) is type(node) and value == node:
                continue
            yield f"{where} = {value!r}", _set(state, path, value)
        if path and isinstance(path[-1], str):
            yield f"del {where}", _drop(state, path)


def _canon(state: Any) -> str:
    # JSON text compares NaN equal to NaN, which dict equality does not.
    return json.dumps(state, sort_keys=True, default=repr)


def check_state_mutations(
    obj: Any,
    *,
    use: Callable[[Any], object],
    load: Callable[[Any], Any] | None = None,
    max_items: int = 4,
) -> MutationReport:
    """Mutate every leaf of ``obj.to_dict()`` and check each outcome (see module doc).

    Parameters
    ----------
    obj
        A stateful object with ``to_dict()`` and a ``from_dict`` class method.
    use
        One use of a loaded object (an update, transform, route or evaluate).
    load
        Builds an object from a state dict; ``type(obj).from_dict`` by default.
    max_items
        Lists longer than this are mutated at four positions only.

    Returns
    -------
    MutationReport
        Counts, and a line per failure (empty when the class is robust).
    """
    loader = load if load is not None else type(obj).from_dict
    report = MutationReport()
    original = obj.to_dict()
    try:
        if _canon(loader(copy.deepcopy(original)).to_dict()) != _canon(original):
            report.failures.append("original: the unmutated state changes on reload")
    except Exception as err:  # noqa: BLE001 - the unmutated state must load
        report.failures.append(f"original: {type(err).__name__}: {str(err)[:200]}")
    for what, state in mutations(obj.to_dict(), max_items=max_items):
        report.mutations += 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _check_one(loader, use, what, state, report)
    return report


def _check_one(
    loader: Callable[[Any], Any],
    use: Callable[[Any], object],
    what: str,
    state: Any,
    report: MutationReport,
) -> None:
    try:
        loaded = loader(state)
    except ProdMLError:
        report.rejected += 1
        return
    except Exception as err:  # noqa: BLE001 - any other exception is the finding
        report.failures.append(f"load: {what}: {type(err).__name__}: {str(err)[:200]}")
        return
    stage = "round-trip"
    try:
        saved = loaded.to_dict()
        if _canon(loader(copy.deepcopy(saved)).to_dict()) != _canon(saved):
            report.failures.append(f"round-trip: {what}: state changed on reload")
            return
        stage = "use"
        with contextlib.suppress(ProdMLError):  # a valid state may refuse an input
            use(loaded)
    except Exception as err:  # noqa: BLE001 - any exception here is the finding
        report.failures.append(f"{stage}: {what}: {type(err).__name__}: {str(err)[:200]}")
        return
    report.accepted += 1
