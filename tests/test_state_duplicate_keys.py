"""Saved state repeating a key in one object is refused, naming the key.

Was: ``json.loads`` kept the last of two equal keys, so ``{"columns": [], "columns":
[...]}`` loaded as whichever copy came last: text no prodml writer makes, read as if it
were one.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from prodml._state import load_json
from prodml.errors import ProdMLError, StateError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Schema


def test_a_repeated_key_is_refused_naming_it() -> None:
    with pytest.raises(StateError, match="the key 'a' appears twice in one object"):
        load_json('{"a": 1, "b": {"c": 2}, "a": 3}', owner="Thing")
    with pytest.raises(StateError, match="the key 'c' appears twice"):
        load_json('{"b": [{"c": 2, "c": 2}]}', owner="Thing")  # nested, even equal values


def test_distinct_keys_load_as_json_loads_them() -> None:
    text = '{"a": 1, "b": {"c": [1, {"d": null}], "e": "x"}, "A": 2}'
    assert load_json(text, owner="Thing") == json.loads(text)


def test_a_schema_with_its_columns_twice_is_refused() -> None:
    schema = Schema.infer(pd.DataFrame({"age": [1, 2], "plan": ["a", "b"]}))
    text = schema.to_json()
    assert Schema.from_json(text) == schema
    doubled = text.replace('"columns":', '"columns": [], "columns":', 1)
    assert doubled != text
    with pytest.raises(ProdMLError, match="'columns' appears twice"):
        Schema.from_json(doubled)


def test_a_pipeline_with_a_key_twice_is_refused() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 4.0]})
    text = FeaturePipeline([steps.StandardScale(["x"])]).fit(df).to_json()
    doubled = "{" + '"format_version": 1, ' + text[1:]
    assert '"format_version"' in text
    with pytest.raises(ProdMLError, match="'format_version' appears twice"):
        FeaturePipeline.from_json(doubled)
