"""Fixtures shared by the Dask test modules: a LocalCluster and a scheduler switch."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from prodml.testing.registry import service_url


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


@pytest.fixture(scope="module")
def processes() -> Iterator[Any]:
    """A LocalCluster of two worker *processes*: everything crosses a pickle."""
    distributed = pytest.importorskip("distributed", reason="needs the 'dask' extra")
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,  # the workers log each failed task
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


@pytest.fixture
def s3_bucket() -> Iterator[tuple[str, dict[str, Any]]]:
    """A fresh bucket on the moto server, and the storage options that reach it."""
    endpoint = service_url(
        "PRODML_TEST_S3_ENDPOINT",
        "run moto_server, e.g. `source .ci/services.sh`",
        extra=("s3fs", "s3"),
    )
    import s3fs

    options: dict[str, Any] = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
    fs = s3fs.S3FileSystem(**options)
    name = f"prodml-{uuid.uuid4().hex[:16]}"
    fs.mkdir(name)
    try:
        yield name, options
    finally:
        fs.rm(name, recursive=True)
