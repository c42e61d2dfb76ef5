"""The record path compiles on the first record, not at fit: same state, rows and errors.

``FeaturePipeline.fit`` (and ``from_dict`` / unpickling) no longer compiles the generated
record function; the first ``transform_record`` does, once, under a lock. The fitted state,
the batch output, every record's row and every error message must not move by a bit: they
are checked against digests taken on main (e678a95) before the change.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

import prodml.features._record as record_module
from prodml.errors import ProdMLError
from prodml.features import FeaturePipeline, steps

# sha256 digests from main at e678a95 (the record function compiled at fit); the rows at
# 9 decimals (`_stable`): the full bits, taken first, moved with numpy 2.4.6 on another CPU,
# for e678a95's own code too.
BEFORE = {
    "state": "ab189c2d8421b53e35434c0ff8fd27fff3b764502ca4caf4f8a0946a2dd78475",
    "batch": "1672d3840018108ca3025ef1437fa52d944829d759352dfba76bb865418365a5",
    "records": "1672d3840018108ca3025ef1437fa52d944829d759352dfba76bb865418365a5",
    "errors": "d319517c4140fd2b866527bc40c5b4d513b2bd43dc2232c5a0b4bc8cbb8064d9",
}


def _frame(rows: int = 120, seed: int = 5) -> pd.DataFrame:
    """Every kind of program: floats, ints, bools, text (str, category), zoned datetimes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, rows)
    x[rng.random(rows) < 0.1] = np.nan
    labels = np.array(["low", "mid", "high", "ünï"], dtype=object)
    s = labels[rng.integers(0, 4, rows)].copy()
    s[rng.random(rows) < 0.1] = None
    t = pd.Timestamp("2024-03-01", tz="Europe/Paris") + pd.to_timedelta(
        rng.integers(0, 60 * 86_400, rows), unit="s"
    )
    return pd.DataFrame(
        {
            "x": x,
            "y": rng.gamma(2.0, 1.0, rows),
            "n": rng.integers(-5, 50, rows),
            "b": rng.random(rows) < 0.5,
            "s": pd.Series(s, dtype="str"),
            "c": pd.Series(labels[rng.integers(0, 3, rows)], dtype="category"),
            "h": pd.Series(labels[rng.integers(0, 4, rows)], dtype="str"),
            "o": pd.Series(labels[rng.integers(0, 4, rows)], dtype="str"),
            "t": t,
        }
    )


def _pipeline() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="median"),
            steps.StandardScale(["x", "n"]),
            steps.Log1p(["y"]),
            steps.MinMaxScale(["y"]),
            steps.Bucketize(["n"], n_bins=4),
            steps.Passthrough(["b"]),
            steps.Impute(["s"], strategy="most_frequent"),
            steps.OneHot(["s", "c"], max_categories=3),
            steps.Hashing(["h"], n_features=4),
            steps.Ordinal(["o"]),
            steps.DateParts(["t"], parts=("hour", "dayofweek", "month")),
        ]
    )


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    return [{str(k): v for k, v in row.items()} for row in rows]


def _bad_records(good: dict[str, Any]) -> list[Any]:
    """Records that fail, one way each (missing, wrong type, null, range, extra, not a dict)."""
    bad: list[Any] = []
    for key in good:
        missing = dict(good)
        del missing[key]
        bad.append(missing)
    bad += [
        {**good, "x": "1.5"},
        {**good, "n": None},
        {**good, "y": -3.0},
        {**good, "b": 2},
        {**good, "s": 7},
        {**good, "c": None},
        {**good, "o": "never seen"},
        {**good, "t": "2024-01-01"},
        {**good, "t": pd.Timestamp("2024-03-05 10:00")},
        {**good, "x": float("inf")},
        [("x", 1.0)],
        "x",
    ]
    return bad


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stable(values: Any) -> bytes:
    """The values' bytes at 9 decimals (-0.0 as 0.0): the same on any numpy build and CPU.

    NumPy's vectorised ``log1p`` and reductions may differ in the last bit between
    releases and CPUs; a change of the record path moves far more than that.
    """
    return (np.round(np.asarray(values, dtype=np.float64), 9) + 0.0).tobytes()


def _outcomes(pipe: FeaturePipeline, records: list[Any]) -> tuple[str, str]:
    rows, errors = [], []
    for rec in records:
        try:
            rows.append(_stable(pipe.transform_record(rec)))
        except ProdMLError as err:  # noqa: PERF203 - each record's error is the point
            errors.append(f"{type(err).__name__}: {err}")
    return _digest(b"".join(rows)), _digest("\n".join(errors).encode())


def _strict_pipeline() -> FeaturePipeline:
    pipe = _pipeline()
    pipe.strict = True
    return pipe


def digests() -> dict[str, str]:
    """What the golden test compares (also run on main to take ``BEFORE``)."""
    df = _frame()
    pipe = _strict_pipeline().fit(df)
    recs = _records(df)
    rows, _ = _outcomes(pipe, recs)
    _, errors = _outcomes(pipe, [*_bad_records(recs[0]), {**recs[1], "z": 1.0}])
    batch = np.ascontiguousarray(pipe.transform(df), dtype=np.float64)
    return {
        "state": _digest(pipe.to_json().encode()),
        "batch": _digest(_stable(batch)),
        "records": rows,
        "errors": errors,
    }


def test_state_rows_and_errors_are_as_before() -> None:
    assert digests() == BEFORE


def test_a_loaded_or_unpickled_pipeline_gives_the_same_rows_and_errors() -> None:
    df = _frame()
    pipe = _strict_pipeline().fit(df)
    recs = _records(df)
    failing = [*_bad_records(recs[0]), {**recs[1], "z": 1.0}]
    for copy in (FeaturePipeline.from_json(pipe.to_json()), pickle.loads(pickle.dumps(pipe))):
        assert _outcomes(copy, recs)[0] == BEFORE["records"]
        assert _outcomes(copy, failing)[1] == BEFORE["errors"]


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts record-path compilations; each one sleeps, so that threads overlap."""
    import prodml.features.pipeline as pipeline_module

    calls: list[int] = []
    real = record_module.build_record_fn

    def slow_build(programs: Any, n_out: int) -> Any:
        calls.append(n_out)
        time.sleep(0.05)  # the other thread reaches the lock meanwhile
        return real(programs, n_out)

    monkeypatch.setattr(pipeline_module, "build_record_fn", slow_build)
    return calls


def test_fit_load_and_unpickle_do_not_compile(compiles: list[int]) -> None:
    df = _frame()
    pipe = _pipeline().fit(df)
    FeaturePipeline.from_json(pipe.to_json())
    pickle.loads(pickle.dumps(pipe))
    assert compiles == []
    pipe.transform_record(_records(df)[0])
    pipe.transform_record(_records(df)[1])
    assert compiles == [len(pipe.feature_names_out)]  # once, on the first record


def test_two_threads_on_the_first_record_compile_once(compiles: list[int]) -> None:
    df = _frame()
    pipe = _pipeline().fit(df)
    recs = _records(df)
    batch = pipe.transform(df)
    start = threading.Barrier(2)
    got: dict[int, np.ndarray] = {}

    def first_record(i: int) -> None:
        start.wait()
        got[i] = pipe.transform_record(recs[i])

    threads = [threading.Thread(target=first_record, args=(i,)) for i in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(compiles) == 1
    for i in (3, 4):
        np.testing.assert_array_equal(got[i], batch[i])
        assert got[i].tobytes() == batch[i].tobytes()


def test_a_refit_pipeline_compiles_its_new_programs() -> None:
    df = _frame()
    pipe = _pipeline().fit(df)
    rec = _records(df)[0]
    before = pipe.transform_record(rec)
    other = _frame(seed=9)
    pipe.fit(other)
    after = pipe.transform_record(rec)
    assert after.tobytes() != before.tobytes()
    assert after.tobytes() == pipe.transform(df.iloc[:1]).ravel().tobytes()


def test_an_unfitted_pipeline_still_says_so() -> None:
    with pytest.raises(ProdMLError, match="not fitted yet"):
        _pipeline().transform_record(_records(_frame())[0])
