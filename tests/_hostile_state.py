"""Hostile mutations of saved state beyond ``prodml.testing.state_mutations`` (helper).

``prodml.testing.state_mutations`` replaces each leaf with a fixed set of values and drops
each key. This adds the mutations a hand-edited or hostile file brings (issue: hostile
saved state, everywhere state is read back): an unknown key in every object, ints of 70
bits, a string of a megabyte, a list of 200,000 items, a structure nested 10,000 deep,
lists reversed and with a duplicated item, format versions that are wrong or newer, and a
root that is not an object. :func:`outcome` loads one mutated state and says what
happened; the tests assert it is a ProdMLError naming a field without quoting the value, or
an object that round-trips and works.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from prodml.errors import ProdMLError

MARKER = "hostile-value-7f3a"
"""Planted in long strings: an error message must not quote it at length."""
HUGE_STR = MARKER * 70_000  # about 1.2 MB
DEEP_DEPTH = 10_000

Path = tuple[str | int, ...]


def deep_list(depth: int = DEEP_DEPTH) -> list[Any]:
    """``[[[...]]]`` nested ``depth`` levels, built without recursion."""
    root: list[Any] = []
    node = root
    for _ in range(depth - 1):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


LEAF_VALUES: tuple[tuple[str, Callable[[], Any]], ...] = (
    ("2**70", lambda: 2**70),
    ("-2**70", lambda: -(2**70)),
    ("huge str", lambda: HUGE_STR),
    ("huge list", lambda: [0] * 200_000),
    ("deep list", deep_list),
    ("lone surrogate", lambda: "\udcff"),
)


def _walk(node: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        n = len(node)
        for i in range(n) if n <= 4 else sorted({0, 1, n // 2, n - 1}):
            yield from _walk(node[i], (*path, i))


def _copy(state: Any) -> Any:
    return json.loads(json.dumps(state))


def _replace(state: Any, path: Path, make: Callable[[Any], Any]) -> Any:
    """A copy of ``state`` with the node at ``path`` replaced by ``make(node)``."""
    out = _copy(state)
    if not path:
        return make(out)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = make(node[path[-1]])
    return out


def _with_key(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "zz_unknown_field": 1}


def _reversed(items: list[Any]) -> list[Any]:
    return items[::-1]


def _duplicated(items: list[Any]) -> list[Any]:
    return [*items, items[0]]


def mutations(state: Any) -> list[tuple[str, Callable[[], Any]]]:
    """Every mutation of ``state``: ``(description, build)``; ``build()`` makes the state."""
    out: list[tuple[str, Callable[[], Any]]] = []
    for path, node in _walk(state, ()):
        where = "".join(f"[{k!r}]" for k in path) or "<root>"
        if isinstance(node, dict):
            out.append((f"{where} += unknown key", _bind(state, path, _with_key)))
        if isinstance(node, list) and len(node) >= 2 and node != node[::-1]:
            out.append((f"{where} reversed", _bind(state, path, _reversed)))
        if isinstance(node, list) and node:
            out.append((f"{where} + duplicate", _bind(state, path, _duplicated)))
        if path and path[-1] in ("format_version", "version") and type(node) is int:
            out.extend(
                (f"{where} = {bad!r}", _bind(state, path, _const(bad)))
                for bad in (node + 1, node + 1000, 0, str(node), float(node) + 0.5)
            )
        if path:
            for label, make in LEAF_VALUES:
                out.append((f"{where} = {label}", _bind(state, path, _lazy(make))))
    for label, value in (("list", []), ("int", 1), ("str", "x"), ("null", None)):
        out.append((f"<root> = {label}", _const_root(value)))
    return out


def _bind(state: Any, path: Path, make: Callable[[Any], Any]) -> Callable[[], Any]:
    return lambda: _replace(state, path, make)


def _const(value: Any) -> Callable[[Any], Any]:
    return lambda _old: value


def _lazy(make: Callable[[], Any]) -> Callable[[Any], Any]:
    return lambda _old: make()


def _const_root(value: Any) -> Callable[[], Any]:
    return lambda: value


def canon(state: Any) -> str:
    return json.dumps(state, sort_keys=True, allow_nan=False)


def check_error(err: ProdMLError) -> str | None:
    """What is wrong with a refusal's message, or None (it must not quote a value at length)."""
    text = str(err)
    if MARKER * 4 in text:  # a prefix of at most 60 characters may be quoted
        return "the message quotes the hostile string at length"
    if len(text) > 2000:
        return f"the message is {len(text)} characters long"
    return None


def outcome(loader: Callable[[Any], Any], use: Callable[[Any], object], state: Any) -> str | None:
    """Load ``state``; None when it is refused cleanly or loads, round-trips and works."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            loaded = loader(state)
        except ProdMLError as err:
            return check_error(err)
        except Exception as err:  # noqa: BLE001 - any other exception is the finding
            return f"load: {type(err).__name__}: {str(err)[:200]}"
        stage = "to_dict"
        try:
            saved = loaded.to_dict()
            stage = "json"
            text = canon(saved)
            stage = "reload"
            if canon(loader(json.loads(text)).to_dict()) != text:
                return "round-trip: state changed on reload"
            stage = "use"
            with contextlib.suppress(ProdMLError):  # a valid state may refuse an input
                use(loaded)
        except Exception as err:  # noqa: BLE001 - any exception here is the finding
            return f"{stage}: {type(err).__name__}: {str(err)[:200]}"
    return None
