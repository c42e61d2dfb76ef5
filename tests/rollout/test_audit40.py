"""Audit 40: rollout policies fed with keys and outcomes read back from Parquet.

pandas 3 reads an integer id column as ``Int64`` (cells ``np.int64``) or, with the
Arrow backend, ``int64[pyarrow]`` (cells ``int``), outcomes as ``boolean``/``Int64`` and
text as ``str``. The same user must get the same variant whichever way the frame was
read (an ``np.int64`` key was refused), outcomes from nullable and Arrow columns must
give the state plain numpy arrays give, and an outcome column that holds text must be
refused rather than parsed (``"1"`` was counted as 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodml.errors import PolicyError
from prodml.rollout import (
    UCB1,
    ABTest,
    BlueGreen,
    Canary,
    EpsilonGreedy,
    Router,
    Shadow,
    ThompsonSampling,
)

BACKENDS = ["default", "numpy_nullable", "pyarrow"]


def _read(path: Path, backend: str) -> pd.DataFrame:
    if backend == "default":
        return pd.read_parquet(path)
    return pd.read_parquet(path, dtype_backend=backend)  # type: ignore[call-overload]


def _parquet(tmp_path: Path, n: int = 500) -> Path:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "user": pd.array(rng.integers(0, 2**40, n), dtype="Int64"),
            "converted": pd.array(rng.random(n) < 0.3, dtype="boolean"),
            "clicks": pd.array(rng.integers(0, 2, n), dtype="Int64"),
            "latency": rng.random(n).astype(np.float32),
        }
    )
    path = tmp_path / "outcomes.parquet"
    df.to_parquet(path)
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_user_id_routes_alike_however_the_frame_was_read(tmp_path: Path, backend: str) -> None:
    frame = _read(_parquet(tmp_path), backend)
    plain = [int(u) for u in frame["user"].astype("int64").to_numpy()]
    cells = [frame["user"].iloc[i] for i in range(len(frame))]  # np.int64 or int
    policies = [
        Router({"a": 0.3, "b": 0.7}, salt="s"),
        Canary(steps=[0.5]),
        ABTest({"control": 0.5, "treat": 0.5}, metric="conversion"),
        Shadow(mirror=0.5),
    ]
    for policy in policies:
        route = policy.route if not isinstance(policy, Shadow) else policy.should_mirror
        assert [route(c) for c in cells] == [route(u) for u in plain]
        assert [route(str(u)) for u in plain[:20]] == [route(u) for u in plain[:20]]


@pytest.mark.parametrize("key", [np.int64(42), np.int32(42), np.uint64(42), np.int8(42)], ids=repr)
def test_numpy_integer_keys_route_as_the_int(key: object) -> None:
    router = Router({"a": 0.5, "b": 0.5}, salt="exp")
    assert router.route(key) == router.route(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [np.float64(42.0), np.bool_(True), True, pd.NA, None], ids=repr)
def test_keys_that_are_no_ids_are_still_refused(key: object) -> None:
    with pytest.raises(PolicyError, match="routing key must be"):
        Router({"a": 0.5, "b": 0.5}).route(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_outcomes_from_parquet_give_the_state_of_numpy_arrays(tmp_path: Path, backend: str) -> None:
    frame = _read(_parquet(tmp_path), backend)
    half = len(frame) // 2
    conv = frame["converted"].to_numpy(dtype=np.float64)

    def fed(column: object) -> ABTest:
        test = ABTest({"control": 0.5, "treat": 0.5}, metric="conversion", min_samples=10)
        test.observe_many("control", conversion=column[:half])  # type: ignore[index]
        for v in column[half:]:  # type: ignore[index]
            test.observe("treat", conversion=v)  # np.bool_, bool
        return test

    assert fed(frame["converted"]).to_dict()["metrics"] == fed(conv).to_dict()["metrics"]
    bandits = [EpsilonGreedy(["a", "b"], seed=1), UCB1(["a", "b"]), ThompsonSampling(["a", "b"])]
    for bandit in bandits:
        twin = type(bandit).from_dict(bandit.to_dict())
        arms = ["a" if i % 3 else "b" for i in range(len(frame))]
        bandit.update_many(arms, frame["clicks"])
        twin.update_many(arms, frame["clicks"].to_numpy(dtype=np.float64))
        assert bandit.to_dict() == twin.to_dict()
    canary, twin_canary = Canary(steps=[0.5]), Canary(steps=[0.5])
    canary.observe_many("candidate", error_rate=frame["converted"], latency=frame["latency"])
    twin_canary.observe_many(
        "candidate", error_rate=conv, latency=frame["latency"].to_numpy(dtype=np.float64)
    )
    assert canary.to_dict()["metrics"] == twin_canary.to_dict()["metrics"]


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["1", "0", "1"], dtype="str"),
        pd.Series(["1", "0", "1"], dtype="string[pyarrow]"),
        np.array(["1", "0", "1"]),
        ["1", 0, 1],
        [1, 0, b"1"],
    ],
    ids=["str", "arrow-string", "numpy-text", "list", "bytes"],
)
def test_outcomes_held_as_text_are_refused(column: object) -> None:
    test = ABTest({"control": 0.5, "treat": 0.5}, metric="conversion")
    with pytest.raises(PolicyError, match="not text"):
        test.observe_many("control", conversion=column)
    with pytest.raises(PolicyError, match="not text"):
        ThompsonSampling(["a", "b"]).update_many(["a"] * 3, column)  # type: ignore[arg-type]
    assert test.to_dict() == ABTest({"control": 0.5, "treat": 0.5}, metric="conversion").to_dict()


@pytest.mark.parametrize("value", ["1", " 1 ", "1e0", b"1"], ids=repr)
def test_one_outcome_held_as_text_is_refused(value: object) -> None:
    with pytest.raises(PolicyError, match="must be a number"):
        ABTest({"c": 0.5, "t": 0.5}, metric="conversion").observe("c", conversion=value)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="must be a number"):
        BlueGreen().observe("green", error_rate=value)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="must be a number"):
        EpsilonGreedy(["a"]).update("a", value)  # type: ignore[arg-type]


def test_a_missing_outcome_read_from_parquet_names_its_position(tmp_path: Path) -> None:
    frame = _read(_parquet(tmp_path), "default")
    col = frame["converted"].copy()
    col.iloc[7] = pd.NA
    test = ABTest({"control": 0.5, "treat": 0.5}, metric="conversion")
    with pytest.raises(PolicyError, match="position 7"):
        test.observe_many("control", conversion=col)
