"""A predictor serving for weeks: hot swaps and watcher restarts leak nothing."""

from __future__ import annotations

import gc
import os
import threading
import weakref
from pathlib import Path

import pandas as pd
import pytest

from prodml.registry import ModelRegistry
from prodml.serving import Predictor

from .conftest import records

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc (Linux)"
)


def _fds(under: Path) -> int:
    """Open fds of this process on files under ``under`` (the test's registry).

    Only those: other tests' background threads in the same worker process open and
    close files of their own at any time, which a count of every fd would see.
    """
    gc.collect()
    root, n = str(under), 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since listed
            continue
        n += target.startswith(root)
    return n


def test_alias_reloads_keep_the_fd_and_thread_counts_of_the_first(
    registry: ModelRegistry, data: pd.DataFrame, tmp_path: Path
) -> None:
    rec = records(data.head(1))[0]
    with Predictor.from_registry(registry, "churn@production", watch_every_s=None) as pred:

        def swap(i: int) -> None:
            registry.set_alias("churn", "production", 2 if i % 2 == 0 else 1)
            assert pred.refresh() == {"default": 2 if i % 2 == 0 else 1}
            for _ in range(5):
                assert pred.predict_record(rec).version == (2 if i % 2 == 0 else 1)

        swap(0)
        fds, threads = _fds(tmp_path), threading.active_count()
        assert fds > 0  # the registry's database at least: the count sees its files
        for i in range(1, 20):
            swap(i)
        assert pred.stats.reloads["loaded"] == 21  # the first load, then 20 swaps
        assert _fds(tmp_path) == fds
        assert threading.active_count() == threads


def test_predictors_opened_and_closed_with_a_watcher_leak_no_thread_or_fd(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    def cycle() -> None:
        pred = Predictor.from_registry(registry, "churn@production", watch_every_s=60.0)
        pred.close()

    cycle()
    fds, threads = _fds(tmp_path), threading.active_count()
    for _ in range(10):
        cycle()
    assert _fds(tmp_path) == fds
    assert threading.active_count() == threads


def test_every_version_swapped_out_is_freed_after_many_reloads(
    registry: ModelRegistry, data: pd.DataFrame
) -> None:
    """The bound of a reload: what is swapped out is freed, only the serving one stays.

    bench_soak.py measured +1.4 KiB of heap per reload over 8 reloads; over 300 it is
    flat (the first checkpoints catch caches of SQLAlchemy, scikit-learn and abc
    warming up). This pins the fact behind it: no loaded version outlives its swap.
    """
    rec = records(data.head(1))[0]
    loaded: list[weakref.ref[object]] = []
    with Predictor.from_registry(registry, "churn@production", watch_every_s=None) as pred:
        for i in range(40):
            registry.set_alias("churn", "production", 2 if i % 2 == 0 else 1)
            pred.refresh()
            served = pred.variants["default"]
            loaded.append(weakref.ref(served))
            loaded.append(weakref.ref(served.model))
            loaded.append(weakref.ref(served.pipeline))
            assert pred.predict_record(rec).version == served.version
            del served
        gc.collect()
        alive = [ref() for ref in loaded if ref() is not None]
        now = pred.variants["default"]
        assert len(alive) == 3  # the version serving now: its Served, model and pipeline
        assert [id(x) for x in alive] == [id(now), id(now.model), id(now.pipeline)]
        assert pred.stats.reloads == {"loaded": 41, "refused": 0}
