"""A refit that raises part-way leaves the pipeline exactly as it was.

``fit`` resets every step, then fits them pass by pass; a refit that failed in a later
step (a null reaching OneHot, a value outside Log1p's domain, anything raised) kept the
earlier steps refitted and the later ones emptied, under the old programs. ``transform``
then mixed two fits, ``to_json`` saved the mixture, and a record path compiled after it
read the half-updated steps. Now the steps are put back: every answer is the old one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps

OLD = pd.DataFrame(
    {
        "x": [1.0, 2.0, 3.0, 10.0],
        "y": [0.5, None, 2.5, 4.0],
        "c": ["a", "b", "a", "c"],
    }
)
NEW = pd.DataFrame(
    {
        "x": [100.0, 200.0, 300.0, 400.0],
        "y": [5.0, 6.0, None, 8.0],
        "c": ["d", None, "e", "d"],  # a null reaches OneHot: the refit fails there
    }
)
RECORDS = [{"x": 2.0, "y": None, "c": "a"}, {"x": 7.5, "y": 3.0, "c": "zz"}]


def _pipeline() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x", "y"], strategy="median"),
            steps.StandardScale(["x"]),
            steps.Log1p(["y"]),
            steps.MinMaxScale(["y"]),
            steps.OneHot(["c"], handle_unknown="ignore"),
        ]
    )


def _answers(pipe: FeaturePipeline) -> tuple[Any, ...]:
    """Everything a fitted pipeline answers with."""
    return (
        pipe.transform(OLD).tolist(),
        [pipe.transform_record(r).tolist() for r in RECORDS],
        pipe.to_json(),
        pipe.fingerprint,
        pipe.feature_names_out,
        pipe.input_schema,
        FeaturePipeline.from_json(pipe.to_json()).transform(OLD).tolist(),
    )


@pytest.mark.parametrize("compiled", [True, False], ids=["record path compiled", "not yet"])
def test_a_refit_failing_in_a_later_step_changes_nothing(compiled: bool) -> None:
    pipe = _pipeline().fit(OLD)
    want = _answers(_pipeline().fit(OLD))
    if compiled:
        pipe.transform_record(RECORDS[0])
    with pytest.raises(SchemaError, match="reached OneHot"):
        pipe.fit(NEW)
    assert _answers(pipe) == want


def test_a_refit_failing_after_every_step_is_fitted_changes_nothing() -> None:
    """Log1p after the last stateful step of ``y`` is checked once every step is fitted."""

    def make() -> FeaturePipeline:
        return FeaturePipeline([steps.Impute(["x", "y"]), steps.Log1p(["y"])])

    pipe, want = make().fit(OLD), make().fit(OLD)
    with pytest.raises(SchemaError, match="'y'"):
        pipe.fit(NEW.assign(y=[-5.0, 1.0, 2.0, 3.0], c="a"))
    assert pipe.to_json() == want.to_json()
    assert pipe.transform(OLD).tolist() == want.transform(OLD).tolist()
    for record in RECORDS:
        assert pipe.transform_record(record).tolist() == want.transform_record(record).tolist()


class _InjectedError(Exception):
    pass


@pytest.mark.parametrize("error", [_InjectedError, KeyboardInterrupt])
@pytest.mark.parametrize("failing_step", [steps.StandardScale, steps.MinMaxScale])
def test_any_error_raised_by_a_later_step_mid_fit_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, error: type[BaseException], failing_step: type[Any]
) -> None:
    """Injected into the finalize of the second step (on ``x``) or the fourth (on ``y``):
    the steps before it are refitted by then, the steps after it reset."""
    pipe = _pipeline().fit(OLD)
    want = _answers(_pipeline().fit(OLD))
    real = failing_step.finalize

    def failing(self: Any, name: str, state: Any, kind: str) -> None:
        real(self, name, state, kind)
        raise error

    monkeypatch.setattr(failing_step, "finalize", failing)
    with pytest.raises(error):
        pipe.fit(NEW.assign(c="a"))
    monkeypatch.undo()
    assert _answers(pipe) == want


def test_a_failed_first_fit_leaves_an_unfitted_pipeline_unfitted() -> None:
    pipe = _pipeline()
    before = [dict(vars(s)) for s in pipe.steps]
    with pytest.raises(SchemaError):
        pipe.fit(NEW)
    assert [dict(vars(s)) for s in pipe.steps] == before
    assert not hasattr(pipe, "programs_")


def test_a_successful_refit_after_a_failed_one_is_a_fresh_fit() -> None:
    pipe = _pipeline().fit(OLD)
    with pytest.raises(SchemaError):
        pipe.fit(NEW)
    fixed = NEW.assign(c=NEW["c"].fillna("d"))
    pipe.fit(fixed)
    fresh = _pipeline().fit(fixed)
    assert pipe.to_json() == fresh.to_json()
    x = pipe.transform(fixed)
    assert np.array_equal(x, fresh.transform(fixed), equal_nan=True)
    for i, row in enumerate(fixed.to_dict("records")):
        assert np.array_equal(pipe.transform_record(row), x[i], equal_nan=True)
