"""Fixtures shared by the Dask test modules: a LocalCluster and a scheduler switch."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real distributed scheduler (threads: the machine has two cores)."""
    distributed = pytest.importorskip("distributed", reason="needs the 'dask' extra")
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=False,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as lc,
        distributed.Client(lc) as client,
    ):
        yield client


@pytest.fixture(params=["sync", "distributed"])
def scheduler(request: pytest.FixtureRequest, cluster: Any) -> Iterator[str]:
    """Run the test once on Dask's synchronous scheduler and once on the LocalCluster."""
    dask = pytest.importorskip("dask", reason="needs the 'dask' extra")
    if request.param == "sync":
        with dask.config.set(scheduler="sync"):
            yield "sync"
    else:
        with dask.config.set(scheduler=cluster.get):
            yield "distributed"
