"""A refit in one thread while others transform: each answer is the old fit's or the new's.

``fit`` used to reset every step in place (``start_fit``), then fill the steps pass by
pass, then install the programs attribute by attribute. A ``transform`` in another thread
meanwhile read half-reset steps: a KeyError for a column whose fitted dict was emptied,
features of two fits in one row, or a row as wide as the old fit under the new one's
programs. A fit now builds its state aside, over copies of the steps, and swaps it in
with one assignment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml.errors import NotFittedError, SchemaError
from prodml.features import FeaturePipeline, steps

CALLS = 150  # transforms per worker thread


def _make() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x", "y"], strategy="median"),
            steps.StandardScale(["x"]),
            steps.MinMaxScale(["y"]),
            steps.Bucketize(["z"], n_bins=3),
            steps.Impute(["c"], strategy="most_frequent"),
            steps.OneHot(["c"], handle_unknown="ignore"),
        ]
    )


def _frame(seed: int, cats: list[str], shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    x = rng.normal(shift, 1 + shift, n)
    x[::7] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "y": rng.uniform(-shift, 10 + shift, n),
            "z": rng.exponential(1 + shift, n),
            "c": rng.choice(cats, n),
        }
    )


OLD = _frame(1, ["a", "b"], 0.0)
NEW = _frame(2, ["a", "b", "c", "d"], 5.0)  # other categories: a wider output
# A refit that fails part-way: y's range overflows float64 in MinMaxScale's pass, after
# the first pass has fitted every Impute and Bucketize.
BROKEN = NEW.assign(y=np.resize([1.5e308, -1.5e308], len(NEW)))
PROBE = pd.concat([OLD.iloc[:20], NEW.iloc[:20]], ignore_index=True)
RECORDS = PROBE.iloc[[0, 3, 25, 39]].to_dict("records")


def _answers(pipe: FeaturePipeline) -> tuple[Any, ...]:
    return (
        pipe.transform(PROBE),
        pipe.feature_names_out,
        [pipe.transform_record(r) for r in RECORDS],
    )


def _one_of(got: np.ndarray, wants: list[np.ndarray]) -> bool:
    return any(got.shape == w.shape and np.array_equal(got, w, equal_nan=True) for w in wants)


def test_the_two_fits_answer_differently() -> None:
    """The test below can tell the fits apart (and a mix of them from either)."""
    old, new = _answers(_make().fit(OLD)), _answers(_make().fit(NEW))
    assert old[0].shape != new[0].shape
    assert old[1] != new[1]
    with pytest.raises(SchemaError, match="'y'"):
        _make().fit(BROKEN)


def test_transforms_during_repeated_refits_see_one_whole_fit(
    run_together: Callable[..., None],
) -> None:
    old, new = _answers(_make().fit(OLD)), _answers(_make().fit(NEW))
    batches = [old[0], new[0]]
    names = [old[1], new[1]]
    records = [[o, n] for o, n in zip(old[2], new[2], strict=True)]
    pipe = _make().fit(OLD)
    refits = [0]
    failed = [0]

    def refit_once(data: pd.DataFrame) -> None:
        try:
            pipe.fit(data)
            refits[0] += 1
        except SchemaError:
            failed[0] += 1  # the old fit stays: the checks below hold as well

    def refit(done: threading.Event) -> None:
        while not done.is_set():
            for data in (NEW, BROKEN, OLD, BROKEN):
                refit_once(data)

    def batch() -> None:
        for _ in range(CALLS):
            got = pipe.transform(PROBE)
            assert _one_of(got, batches), "a batch mixed two fits"
            frame = pipe.transform(PROBE, output="pandas")
            assert list(frame.columns) in names
            assert _one_of(frame.to_numpy(), batches), "a pandas output mixed two fits"

    def record() -> None:
        for _ in range(CALLS):
            for i, rec in enumerate(RECORDS):
                assert _one_of(pipe.transform_record(rec), records[i]), "a record mixed two fits"

    run_together([batch, batch, record], background=refit)
    assert refits[0] > 0
    assert failed[0] > 0
    # After the last refit the pipeline answers as that fit, in full.
    final = _answers(pipe)
    want = old if final[1] == old[1] else new
    assert _one_of(final[0], [want[0]])
    assert all(_one_of(g, [w]) for g, w in zip(final[2], want[2], strict=True))


def test_steps_show_the_installed_fit_and_states_stay_apart() -> None:
    """The user's steps show the last fit; an earlier transform's state is not touched."""
    pipe = _make().fit(OLD)
    before = pipe._fitted
    assert before is not None
    held = [dict(vars(s)) for p in before.programs for s in p.steps]
    pipe.fit(NEW)
    assert pipe.steps[1].mean_ == _make().fit(NEW).steps[1].mean_
    assert [dict(vars(s)) for p in before.programs for s in p.steps] == held
    assert not {id(s) for s in pipe.steps} & {id(s) for p in before.programs for s in p.steps}
    assert pipe.to_json() == _make().fit(NEW).to_json()


def test_a_loaded_or_unpickled_pipeline_refits_aside_too() -> None:
    """from_json and pickle give states over their own steps, which a refit leaves be."""
    import pickle

    for pipe in (
        FeaturePipeline.from_json(_make().fit(OLD).to_json()),
        pickle.loads(pickle.dumps(_make().fit(OLD))),
    ):
        state = pipe._fitted
        assert state is not None
        assert not {id(s) for s in pipe.steps} & {id(s) for p in state.programs for s in p.steps}
        x = pipe.transform(PROBE)
        pipe.fit(NEW)
        assert np.array_equal(x, _make().fit(OLD).transform(PROBE), equal_nan=True)
        assert _one_of(pipe.transform(PROBE), [_make().fit(NEW).transform(PROBE)])


def test_start_fit_forgets_the_old_fit_at_once() -> None:
    """The partition protocol still makes the pipeline unfitted until its last pass."""
    from prodml.schema import Schema

    pipe = _make().fit(OLD)
    pipe.start_fit(Schema.infer(NEW, nullable="always"))
    with pytest.raises(NotFittedError):
        pipe.transform(PROBE)
    while pipe.fit_pending:
        pipe.finish_pass(pipe.partition_states(NEW))
    assert _one_of(pipe.transform(PROBE), [_make().fit(NEW).transform(PROBE)])
    assert pipe.steps[1].mean_ == _make().fit(NEW).steps[1].mean_
