"""Benchmark D2: the cost of naming the failing partition in ``prodml.integrations.dask``.

Every function of the integration runs the input frame's tasks inside a guard (see
``integrations/_dask_guard.py``) so that an upstream failure is a ``PartitionError``
naming the partition and the Parquet file. This runs, in one process and alternating,
the integration as it is (``guarded``) and with the guard replaced by the identity
(``bare``, the behaviour before it), on Dask's synchronous scheduler:

* ``transform``: ``pdask.transform(pipe, ddf).compute()`` (a lazy output);
* ``fit``: ``pdask.fit_pipeline(pipe, ddf)`` (an eager path: three passes);

on Parquet datasets of ``--files`` files (each a partition) and on ``dd.from_pandas``
frames of many small partitions (where the per-task cost shows most). Both give the same
arrays and fingerprints (checked). Reports CPU seconds (``time.process_time``: the
machine is shared) and the median over ``--repeat`` rounds of the guarded/bare ratio.

    python benchmarks/bench_dask_guard.py
    python benchmarks/bench_dask_guard.py --rows 2000000 --files 64 --repeat 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from prodml.features import FeaturePipeline, steps
from prodml.integrations import _dask_fairness, _dask_guard
from prodml.integrations import dask as pdask

_EAGER = (pdask, _dask_fairness)  # the modules that take guarded_parts
_GUARDED = _dask_guard.guarded


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.exponential(size=n),
            "c": rng.choice(["a", "b", "c", "d"], n),
        }
    )


def _pipe() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="mean"),
            steps.StandardScale(["x", "z"]),
            steps.OneHot(["c"]),
        ]
    )


def _cpu(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    out = run()
    return time.process_time() - start, out


def _bare(frame: Any, columns: list[Any] | None = None) -> Any:
    return frame


def _bare_parts(frame: Any) -> list[Any]:
    return list(frame.to_delayed())


def _set_guard(on: bool) -> None:
    # The lazy outputs call _dask_guard.guarded (through guarded_map); the eager ones
    # their own module's guarded_parts.
    _dask_guard.guarded = _GUARDED if on else _bare  # type: ignore[assignment]
    for module in _EAGER:
        module.guarded_parts = _dask_guard.guarded_parts if on else _bare_parts  # type: ignore[attr-defined]


def _case(name: str, ddf: Any, repeat: int) -> None:
    fitted = _pipe().fit(ddf.compute())
    runs: dict[str, Callable[[], Any]] = {
        "transform": lambda: pdask.transform(fitted, ddf).compute(),
        "fit": lambda: pdask.fit_pipeline(_pipe(), ddf, progress=False).fingerprint,
    }
    for what, run in runs.items():
        ratios, times = [], {"guarded": [], "bare": []}
        for _ in range(repeat):
            outs = {}
            for label in ("bare", "guarded"):
                _set_guard(label == "guarded")
                seconds, outs[label] = _cpu(run)
                times[label].append(seconds)
            assert np.array_equal(outs["bare"], outs["guarded"])
            ratios.append(times["guarded"][-1] / times["bare"][-1])
        print(
            f"{name:<34} {what:<9} bare {statistics.median(times['bare']):7.3f} s  "
            f"guarded {statistics.median(times['guarded']):7.3f} s  "
            f"ratio (median of {repeat}) {statistics.median(ratios):.3f}"
        )
    _set_guard(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--small", type=int, default=1_000, help="partitions of the small case")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    df = _table(args.rows, seed=0)
    with tempfile.TemporaryDirectory() as folder, dask.config.set(scheduler="sync"):
        step = -(-args.rows // args.files)
        for i in range(args.files):
            df.iloc[i * step : (i + 1) * step].to_parquet(os.path.join(folder, f"{i:04d}.parquet"))
        _case(f"Parquet, {args.files} files", dd.read_parquet(folder), args.repeat)
        small = df.iloc[: args.small * 100]
        _case(
            f"from_pandas, {args.small} partitions",
            dd.from_pandas(small, npartitions=args.small),
            args.repeat,
        )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
