"""``predict_many`` scores each record with the version it checked and transformed it with.

An alias that moves while a list is answered (the registry watcher swaps the predictor's
state) must never pair one version's features with another version's model: the answer
would carry one version's number and a value no version gives.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from prodml.serving import Predictor

from .conftest import SCHEMA, fit_pipeline, records


def test_a_state_swapped_mid_list_does_not_mix_versions(
    data: pd.DataFrame, pipe: Any, lr: Any, lr2: Any
) -> None:
    old = Predictor(pipe, lr, schema=SCHEMA)
    other_pipe = fit_pipeline(data.assign(f0=data["f0"] * 3.0 + 1.0))
    new = Predictor(other_pipe, lr2, schema=SCHEMA)
    recs = records(data.head(4))
    expected = [p.value for p in old.predict_many(recs)]
    assert expected != [p.value for p in new.predict_many(recs)]

    served = old._state.versions[old._state.home]
    check = served.validate

    def validate_then_swap(record: Any) -> None:  # the watcher's swap, mid-list
        check(record)
        old._state = new._state

    served.validate = validate_then_swap  # type: ignore[method-assign]
    got = old.predict_many(recs)
    assert [p.value for p in got] == expected  # the version that checked them scored them
