"""Shared test configuration: a deterministic hypothesis profile for CI and local runs.

Also the one run of ``prodml demo`` that the demo, CLI and report-rendering tests read, and
``run_together``, which the thread tests use to start their threads at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Derandomised so that CI is reproducible; PRODML_HYPOTHESIS=dev explores new examples.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("PRODML_HYPOTHESIS", "ci"))


@dataclass(frozen=True)
class DemoRun:
    """What one ``prodml demo`` command left behind: its folder, stdout and summary.json."""

    out: Path
    stdout: str
    summary: dict[str, Any]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``prodml demo --out DIR --quiet`` run once, as a user runs it, in a fresh interpreter.

    The demo takes seconds; tests/test_demo.py, tests/test_cli.py and
    tests/test_reports_render.py read what this one run wrote instead of running it each.
    A test that writes into the folder (running the demo again) works on a copy.
    """
    out = tmp_path_factory.mktemp("demo") / "prodml-demo"
    proc = subprocess.run(
        [sys.executable, "-m", "prodml.cli", "demo", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return DemoRun(out, proc.stdout, summary)


JOIN_TIMEOUT_S = 60.0


def _run_together(
    workers: list[Callable[[], object]],
    background: Callable[[threading.Event], object] | None = None,
) -> None:
    """Run ``workers`` on threads released together and, meanwhile, ``background(done)``.

    ``background`` loops until ``done`` is set, which happens when every worker returned.
    The first error of any thread is raised here; so is a thread still running after
    :data:`JOIN_TIMEOUT_S` seconds, rather than passing with work unchecked. A thread that
    never reaches the barrier breaks it after that time too. A worker's failure does not
    abort the barrier: every thread has passed it by then, and aborting it while threads
    are still leaving it would raise ``BrokenBarrierError`` in threads it had released
    (the background thread then never ran).
    """
    barrier = threading.Barrier(len(workers) + (background is not None), timeout=JOIN_TIMEOUT_S)
    done = threading.Event()
    errors: list[BaseException] = []

    def run(fn: Callable[[], object]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as err:  # noqa: BLE001 - raised in the main thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in workers]
    bg = None
    if background is not None:
        bg = threading.Thread(target=run, args=(lambda: background(done),), daemon=True)
        bg.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT_S)
    done.set()
    if bg is not None:
        bg.join(timeout=JOIN_TIMEOUT_S)
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]
    stuck = sum(t.is_alive() for t in [*threads, *([bg] if bg else [])])
    if stuck:
        raise AssertionError(f"{stuck} thread(s) still running after {JOIN_TIMEOUT_S:g} s")


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads every microsecond, so that an unlocked read-modify-write loses updates."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


@pytest.fixture
def run_together(busy_switching: None) -> Callable[..., None]:
    """``run_together(workers, background=None)``: threads started at once, switching often.

    See :func:`_run_together`. The thread tests (tests/test_threads.py,
    tests/registry/test_threads.py) take it as a fixture: tests are not a package, so a
    helper written in one test file cannot be imported by another.
    """
    return _run_together


# -- servers: PostgreSQL and Redis from the environment (see .ci/services.sh) -------------
# Unset variables skip the tests that use them, unless PRODML_REQUIRE_SERVICES=1, which
# fails them. tests/registry/conftest.py has a postgres_url of its own (a schema factory).


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new schema of the test server's database (dropped after the test)."""
    import uuid

    import sqlalchemy as sa

    from prodml.testing.registry import service_url

    hint = "start PostgreSQL, e.g. `source .ci/services.sh`"
    base = service_url("PRODML_TEST_POSTGRES_URL", hint, extra=("psycopg", "postgres"))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test server, under a key prefix of this test's (its keys deleted after it)."""
    import uuid

    from prodml.testing.registry import service_url

    hint = "start redis-server, e.g. `source .ci/services.sh`"
    base = service_url("PRODML_TEST_REDIS_URL", hint, extra=("redis", "redis"))
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}prefix={prefix}"
    import redis

    client = redis.Redis.from_url(base)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# -- no tz database: zoneinfo with no system files and no tzdata (a minimal container) ------


@pytest.fixture
def no_tz_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """zoneinfo with no system files, no tzdata and no pytz package (a minimal container)."""

    import types
    import zoneinfo
    from zoneinfo import ZoneInfo

    from prodml import _zones

    def clear() -> None:
        for cached in (_zones.known_zones, _zones.zone_error, _zones.tz_rules, _zones.same_zone):
            cached.cache_clear()
        _zones._tzinfo_fits.cache_clear()

    # prodml's zone code looks zones up without zoneinfo's process-wide cache. Clearing
    # that cache instead made later tests in the process fail: pandas and pyarrow hold
    # the ZoneInfo('UTC') made before, and a new one is another zone to pandas.
    shim = types.SimpleNamespace(
        ZoneInfo=ZoneInfo.no_cache,
        ZoneInfoNotFoundError=zoneinfo.ZoneInfoNotFoundError,
        available_timezones=zoneinfo.available_timezones,
        TZPATH=(),
    )
    monkeypatch.setattr(_zones, "zoneinfo", shim)
    # The tzdata package, and every part of it already imported: a zone read from it
    # earlier in the process left its subpackage (tzdata.zoneinfo.America) in sys.modules,
    # where zoneinfo would find it again.
    for module in [m for m in sys.modules if m == "tzdata" or m.startswith("tzdata.")]:
        monkeypatch.setitem(sys.modules, module, None)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "tzdata", None)  # type: ignore[arg-type]
    # pytz carries its own database, which pyarrow falls back to when zoneinfo has none.
    monkeypatch.setitem(sys.modules, "pytz", None)  # type: ignore[arg-type]
    zoneinfo.reset_tzpath(to=[])
    clear()
    try:
        yield
    finally:
        zoneinfo.reset_tzpath()
        clear()
