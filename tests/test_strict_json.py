"""``prodml._state.STRICT_JSON`` reads what orjson reads (the serving app's fast parser).

One decoder for the text users send: HTTP bodies without orjson, and the CLI's
``--entity`` and definition files, which accepted ``1e400`` (as infinity) and lone
surrogates while the docstring promised orjson's reading.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml._state import STRICT_JSON

orjson = pytest.importorskip("orjson", reason="the reference parser: the 'serve' extra")

CASES = [
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    '["\\ud800"]',
    '{"\\udfff": 1}',
    '["\\ud83d\\ude00"]',
    "100000000000000000000",
    "18446744073709551615",
    "-9223372036854775808",
    "-9223372036854775809",
    '{"a": 1, "a": 2}',
    "[" * 5000 + "]" * 5000,
    "1.5",
    '"plain"',
    "[1, 2.0, true, null]",
]


def _read(parse: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", parse(text)
    except (ValueError, RecursionError):
        return "refused", None


@pytest.mark.parametrize("text", CASES)
def test_refuses_and_reads_as_orjson_does(text: str) -> None:
    assert _read(STRICT_JSON.decode, text) == _read(orjson.loads, text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_json_document_reads_as_orjson_reads_it(value: Any) -> None:
    text = json.dumps(value)  # infinities and huge ints included: orjson's reading decides
    got, want = _read(STRICT_JSON.decode, text), _read(orjson.loads, text)
    assert got[0] == want[0], text
    assert repr(got[1]) == repr(want[1]), text
