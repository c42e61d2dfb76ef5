"""The sampling explainer's permutations are bounded where it is built and where it loads.

A saved state's permutations had no count limit, and their switch masks (permutations x
(columns + 1) x features bools) were allocated from it: a 60 MB state could ask for
100 GB. Both sides now apply one bound (``MAX_PERMUTATIONS``, ``MAX_SWITCH_CELLS``), so
what prodml saves loads, and what it would refuse to build it refuses to load.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from prodml.errors import ConfigError
from prodml.explain import Explainer, _sampling
from prodml.explain._sampling import MAX_PERMUTATIONS
from prodml.features import FeaturePipeline, steps

COLUMNS = [f"x{j}" for j in range(8)]  # 8! orders: more than MAX_PERMUTATIONS, so drawn


def _explainer(n_permutations: int) -> Explainer:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(60, len(COLUMNS))), columns=COLUMNS)
    pipe = FeaturePipeline([steps.StandardScale(COLUMNS)]).fit(df)
    model = LinearRegression().fit(pipe.transform(df), df.sum(axis=1))
    return Explainer(
        pipe, model, background=df, method="sampling", n_permutations=n_permutations,
        n_background=5,
    )  # fmt: skip


def test_the_most_permutations_build_save_and_load() -> None:
    ex = _explainer(MAX_PERMUTATIONS).fit()
    state = json.loads(ex.to_json())
    assert len(state["kernel"]["permutations"]) == MAX_PERMUTATIONS
    back = Explainer.from_dict(state, model=ex.model)
    record = dict.fromkeys(COLUMNS, 0.5)
    assert back.explain_record(record).values == ex.explain_record(record).values


def test_more_permutations_are_refused_at_construction_and_at_load() -> None:
    with pytest.raises(ConfigError, match=r"in \[2, 10000\]") as info:
        _explainer(MAX_PERMUTATIONS + 2).fit()
    assert info.value.parameter == "n_permutations"
    state = json.loads(_explainer(MAX_PERMUTATIONS).fit().to_json())
    state["kernel"]["permutations"] += state["kernel"]["permutations"][:2]
    with pytest.raises(ConfigError, match="10002 permutations, more than 10000") as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.permutations"


@pytest.mark.parametrize("room", [0, -1])
def test_switch_cells_are_bounded_alike_at_construction_and_at_load(
    room: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    cells = 64 * (len(COLUMNS) + 1) * len(COLUMNS)  # permutations x steps x features
    state = json.loads(_explainer(64).fit().to_json())
    monkeypatch.setattr(_sampling, "MAX_SWITCH_CELLS", cells + room)
    if room == 0:  # at the bound: builds, and its state loads
        ex = _explainer(64).fit()
        assert ex.kernel_.take.size == cells  # type: ignore[union-attr]
        assert Explainer.from_dict(state).kernel_.take.size == cells  # type: ignore[union-attr]
        return
    with pytest.raises(ConfigError, match=f"= {cells} switch cells") as info:
        _explainer(64).fit()
    assert info.value.parameter == "n_permutations"
    with pytest.raises(ConfigError, match=f"= {cells} switch cells") as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.permutations"
