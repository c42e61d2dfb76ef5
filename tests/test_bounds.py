"""Documented maxima for sizes that allocate, and short quotes of huge values in messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml import cost
from prodml._params import Interval, check_params
from prodml._quote import MAX_QUOTE, short_repr
from prodml.drift import DriftDetector, Profile
from prodml.errors import ConfigError, PolicyError, ProdMLError, SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.monitoring import InMemorySink
from prodml.rollout import UCB1, EpsilonGreedy, ThompsonSampling
from prodml.schema import Column, Schema

HUGE = "x" * 10_000_000  # 10 MB


def _fit(step: Any) -> FeaturePipeline:
    frame = pd.DataFrame({"x": np.arange(20.0), "c": list("ab") * 10})
    return FeaturePipeline([step]).fit(frame)


@pytest.mark.parametrize(
    ("make", "parameter", "largest"),
    [
        (lambda n: _fit(steps.Bucketize(["x"], n_bins=n)), "n_bins", 10_000),
        (lambda n: _fit(steps.Hashing(["c"], n_features=n)), "n_features", 2**20),
        (lambda n: EpsilonGreedy(["a", "b"]).choose_many(n), "n", 10_000_000),
        (lambda n: UCB1(["a", "b"]).choose_many(n), "n", 10_000_000),
        (lambda n: ThompsonSampling(["a", "b"]).choose_many(n), "n", 10_000_000),
        (lambda n: InMemorySink(max_snapshots=n), "max_snapshots", 10_000_000),
        (
            lambda n: cost.simulate(lambda x: {"a": x["h"]}, {"h": (1.0, 2.0, 3.0)}, n_samples=n),
            "n_samples",
            1_000_000,
        ),
        (
            lambda n: cost.simulate_wall_time(
                10.0, interval=1.0, checkpoint_time=0.1, restart_time=0.1, mtbf=5.0, n_runs=n
            ),
            "n_runs",
            1_000_000,
        ),
    ],
)
def test_sizes_above_their_maximum_are_config_errors(
    make: Callable[[int], Any], parameter: str, largest: int
) -> None:
    for n in (largest + 1, 10**9, 10**18):
        with pytest.raises(ConfigError, match=parameter) as err:
            make(n)
        assert err.value.parameter == parameter
        assert f"{largest:_}".replace("_", "") in str(err.value).replace(",", "")


def test_sizes_at_a_moderate_value_still_work() -> None:
    pipe = _fit(steps.Bucketize(["x"], n_bins=1000, strategy="uniform", encode="onehot"))
    assert len(pipe.feature_names_out) == 1000
    assert len(_fit(steps.Hashing(["c"], n_features=4096)).feature_names_out) == 4096
    assert len(ThompsonSampling(["a", "b"], seed=1).choose_many(10_000)) == 10_000


def test_given_bucket_edges_are_bounded_too() -> None:
    with pytest.raises(ConfigError, match="edges"):
        _fit(steps.Bucketize(["x"], edges=[float(i) for i in range(10_000)]))
    assert len(_fit(steps.Bucketize(["x"], edges=[1.0, 2.0])).feature_names_out) == 1


def test_checkpoint_segments_are_bounded() -> None:
    with pytest.raises(ConfigError, match="segments") as err:
        cost.simulate_wall_time(1e12, interval=1.0, checkpoint_time=0.1, restart_time=0.1, mtbf=5.0)
    assert err.value.parameter == "interval"


# -- quoting -------------------------------------------------------------------------


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(ProdMLError) as err:
        call()
    return str(err.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: check_params("X", {"a": HUGE}, {"a": [Interval(float)]}),
        lambda: Schema([Column("x", "float")]).validate({"x": HUGE}),
        lambda: Schema([Column("x", "float")]).validate(pd.DataFrame({"x": [HUGE]})),
        lambda: Schema([Column("x", "float")]).validate(pd.DataFrame({"x": [1.0, HUGE]})),
        lambda: Schema([Column("c", "string", allowed=["a"])]).validate({"c": HUGE}),
        lambda: _fit(steps.StandardScale(["x"])).transform_record({"x": HUGE}),
        lambda: _fit(steps.StandardScale(["x"])).transform(pd.DataFrame({"x": [HUGE]})),
        lambda: _fit(steps.OneHot(["c"], handle_unknown="error")).transform_record({"c": HUGE}),
        lambda: EpsilonGreedy(["a", "b"]).update(HUGE, 1.0),
        lambda: steps.get_function(HUGE),
        lambda: Schema.infer(pd.DataFrame({"x": [1, HUGE]})),
    ],
)
def test_a_10mb_value_is_quoted_as_a_short_prefix(call: Callable[[], object]) -> None:
    message = _message(call)
    assert len(message) < 2_000, len(message)
    assert "xxxxxxxxxx" in message  # the prefix is shown
    assert "10000000 characters in all" in message


def test_short_repr_keeps_short_values_and_survives_huge_ints() -> None:
    assert short_repr("abc") == "'abc'"
    assert short_repr(1.5) == "1.5"
    assert short_repr(10**100_000) == "<int of 332193 bits>"
    long = short_repr(list(range(1000)))
    assert long.startswith("[0, 1, 2")
    assert "characters in all" in long
    assert len(short_repr(HUGE)) < MAX_QUOTE + 40
    assert isinstance(PolicyError("x"), ProdMLError)
    assert isinstance(SchemaError("x"), ProdMLError)


@pytest.mark.parametrize(
    ("make", "parameter", "largest"),
    [
        (lambda n: DriftDetector(max_exact=n).fit(_FRAME), "max_exact", 100_000_000),
        (lambda n: Profile(max_exact=n).update(_FRAME), "max_exact", 100_000_000),
        (
            lambda n: DriftDetector(multivariate=True, sample_rows=n).fit(_FRAME),
            "sample_rows",
            1_000_000,
        ),
    ],
)
def test_drift_sizes_have_a_documented_maximum(
    make: Callable[[int], Any], parameter: str, largest: int
) -> None:
    for n in (largest + 1, 10**12):
        with pytest.raises(ConfigError, match=parameter) as err:
            make(n)
        assert err.value.parameter == parameter
        assert str(largest) in str(err.value).replace(",", "").replace("_", "")
    make(largest)  # the maximum itself is accepted


_FRAME = pd.DataFrame({"x": np.arange(200.0), "c": list("ab") * 100})


def test_every_accumulated_magnitude_limit_is_the_one_core_limit() -> None:
    # One limit (prodml._state.MAX_MAGNITUDE) for every number that state accumulates; hot
    # paths compare with the literal 1e100 instead of a global lookup, so both must agree.
    import re
    from pathlib import Path

    import prodml
    from prodml._state import MAX_COUNT, MAX_MAGNITUDE
    from prodml.drift.streaming.base import MAX_VALUE as DETECTOR_MAX
    from prodml.monitoring.histogram import MAX_VALUE as HISTOGRAM_MAX
    from prodml.rollout._bandits import MAX_REWARD
    from prodml.rollout._summary import MAX_METRIC

    assert DETECTOR_MAX == HISTOGRAM_MAX == MAX_REWARD == MAX_METRIC == MAX_MAGNITUDE
    assert np.isfinite(np.float64(MAX_MAGNITUDE) ** 2 * MAX_COUNT)  # sums of squares fit
    root = Path(prodml.__file__).parent
    # Every module that spells the limit as a literal (found, not listed: a split moved one).
    found = {}
    for path in root.rglob("*.py"):
        literals = {float(x) for x in re.findall(r"\b1e\+?100\b", path.read_text())}
        if literals:
            found[path.relative_to(root).as_posix()] = literals
    hot = ["drift/streaming/adwin.py", "monitoring/histogram.py", "monitoring/_served.py"]
    assert set(hot) <= set(found), sorted(found)
    for name, literals in found.items():
        assert literals == {MAX_MAGNITUDE}, name
