"""Predictors built from a registry: the pair convention, verification and hot reload."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from prodml.errors import ConfigError, IntegrityError, NotFoundError
from prodml.registry import ModelRegistry
from prodml.rollout import Canary, Shadow, Step
from prodml.serving import BackgroundServer, Predictor, create_app

from .conftest import SCHEMA, records


def corrupt(reg: ModelRegistry, version: int) -> None:
    """Change one artifact file of ``churn`` ``version`` on disk."""
    mv = reg.get("churn", version)
    folder = Path(reg.artifacts._path(mv.artifact_key))  # a local store: a plain folder
    target = folder / sorted(mv.files)[-1]
    target.write_bytes(target.read_bytes() + b" ")


def test_from_registry_serves_the_alias(
    registry: ModelRegistry, data: pd.DataFrame, lr: Any, pipe: Any
) -> None:
    with Predictor.from_registry(registry, "churn@production", watch_every_s=None) as pred:
        rec = records(data.head(1))[0]
        p = pred.predict_record(rec)
        assert (p.model, p.version, p.variant) == ("churn", 1, "default")
        assert p.value == lr.predict_proba(pipe.transform_record(rec)[None, :])[0, 1]
        assert pred.variants["default"].schema == SCHEMA  # the signature is the contract
        assert pred.describe()["fingerprint"] == pred.variants["default"].fingerprint
        assert repr(pred) == "Predictor(default=churn@1)"


def test_refresh_follows_the_alias_and_refuses_a_tampered_version(
    registry: ModelRegistry, pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    rec = records(data.head(1))[0]
    with Predictor.from_registry(registry, "churn@production", watch_every_s=None) as pred:
        registry.set_alias("churn", "production", 2)
        assert pred.predict_record(rec).version == 1  # nothing moves before the check
        assert pred.refresh() == {"default": 2}
        assert pred.predict_record(rec).version == 2
        registry.register("churn", (pipe, lr), signature=SCHEMA)  # v3
        corrupt(registry, 3)
        registry.set_alias("churn", "production", 3)
        assert pred.refresh() == {"default": 2}  # refused: v2 keeps serving
        assert pred.refresh() == {"default": 2}  # and not retried while the alias stays
        assert pred.stats.reloads == {"loaded": 2, "refused": 1}
        registry.set_alias("churn", "production", 1)
        assert pred.refresh() == {"default": 1}


def test_construction_refuses_bad_versions(registry: ModelRegistry, lr: Any, pipe: Any) -> None:
    corrupt(registry, 2)
    with pytest.raises(IntegrityError):
        Predictor.from_registry(registry, "churn@2", watch_every_s=None)
    registry.register("churn", lr)  # v3: a model alone, not a (pipeline, model) pair
    with pytest.raises(ConfigError, match="pair"):
        Predictor.from_registry(registry, "churn@3", watch_every_s=None)
    with pytest.raises(NotFoundError):
        Predictor.from_registry(registry, "churn@staging", watch_every_s=None)
    with pytest.raises(NotFoundError, match="candidate"):  # the canary's default alias
        Predictor.from_registry(registry, "churn@production", policy=Canary(), watch_every_s=None)
    with pytest.raises(ConfigError, match="not variants"):
        Predictor.from_registry(registry, "churn@1", variants={"x": "churn@2"}, watch_every_s=None)
    with pytest.raises(ConfigError, match="watch_every_s"):
        Predictor.from_registry(registry, "churn@1", watch_every_s=-1)


def test_variants_resolve_by_alias_convention(registry: ModelRegistry, data: pd.DataFrame) -> None:
    registry.set_alias("churn", "candidate", 2)
    canary = Canary(steps=[Step(0.5)], salt="c")
    with Predictor.from_registry(
        registry, "churn@production", policy=canary, watch_every_s=None
    ) as pred:
        assert {v: s.version for v, s in pred.variants.items()} == {"baseline": 1, "candidate": 2}
        recs = records(data.head(40))
        seen = {(p.variant, p.version) for p in (pred.predict_record(r) for r in recs)}
        assert seen == {("baseline", 1), ("candidate", 2)}
        canary.promote()  # routing follows the policy at once
        assert {pred.predict_record(r).version for r in recs} == {2}
        registry.set_alias("churn", "production", 2)  # then ops move the alias
        assert pred.refresh() == {"baseline": 2, "candidate": 2}
        assert pred.variants["baseline"] is pred.variants["candidate"]  # loaded once


def test_shadow_from_registry(registry: ModelRegistry, data: pd.DataFrame) -> None:
    shadow = Shadow(mirror=1.0, min_agreement=None)
    pred = Predictor.from_registry(
        registry, "churn@1", variants={"shadow": "churn@2"}, policy=shadow, watch_every_s=None
    )
    for r in records(data.head(10)):
        assert pred.predict_record(r).version == 1
    pred.close()  # finishes the queued shadow work
    assert shadow.report()["compared"] == 10


def test_hot_reload_under_load_fails_no_request(
    registry: ModelRegistry, pipe: Any, lr: Any, data: pd.DataFrame
) -> None:
    """Concurrent clients while the alias moves 1 -> 2 -> 3 (tampered) -> 4: no failure."""
    registry.register("churn", (pipe, lr), signature=SCHEMA)  # v3, tampered below
    registry.register("churn", (pipe, lr), signature=SCHEMA)  # v4
    corrupt(registry, 3)
    recs = [
        {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in r.items()}
        for r in records(data.head(50))
    ]
    pred = Predictor.from_registry(registry, "churn@production", watch_every_s=0.05)
    stop = threading.Event()
    with BackgroundServer(create_app(pred)) as server:

        def client(i: int) -> list[tuple[int, Any]]:
            out = []
            with httpx.Client(base_url=server.url, timeout=30) as c:
                n = 0
                while not stop.is_set() or n < 5:
                    r = c.post("/v1/predict", json=recs[(i + n) % len(recs)])
                    out.append((r.status_code, r.json().get("version")))
                    n += 1
            return out

        def wait_for(done: Callable[[], bool]) -> None:
            # Each move waits for the watcher to act on the last one (a loaded machine
            # may take longer than any fixed sleep), then lets the clients run a while.
            deadline = time.monotonic() + 30
            while not done() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(client, i) for i in range(6)]
            time.sleep(0.2)
            registry.set_alias("churn", "production", 2)
            wait_for(lambda: pred.version == 2)
            registry.set_alias("churn", "production", 3)
            wait_for(lambda: pred.stats.reloads["refused"] >= 1)
            registry.set_alias("churn", "production", 4)
            wait_for(lambda: pred.version == 4)
            stop.set()
            results = [x for f in futures for x in f.result()]
        final = httpx.post(f"{server.url}/v1/predict", json=recs[0]).json()["version"]
    pred.close()
    statuses = {s for s, _ in results}
    versions = {v for _, v in results}
    assert statuses == {200}, f"{sum(s != 200 for s, _ in results)} failed of {len(results)}"
    assert len(results) > 100
    assert {1, 2, 4} <= versions
    assert 3 not in versions
    assert final == 4
    assert pred.stats.reloads["refused"] == 1


def test_a_deleted_alias_is_logged_once_and_the_loaded_version_keeps_serving(
    registry: ModelRegistry, data: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    rec = records(data.head(1))[0]
    registry.set_alias("churn", "staging", 1)
    with (
        caplog.at_level("INFO", logger="prodml.serving"),
        Predictor.from_registry(registry, "churn@staging", watch_every_s=0.02) as pred,
    ):
        registry.delete_alias("churn", "staging")
        with pytest.raises(NotFoundError, match="staging"):
            pred.refresh()  # asked directly, the failure is the caller's
        time.sleep(0.4)  # about 20 checks by the watcher
        assert pred.predict_record(rec).version == 1
        failed = [r for r in caplog.records if "checking the registry" in r.getMessage()]
        # Once, on one line (a registry state, not a bug: no traceback); it was every check.
        assert len(failed) == 1, [r.getMessage() for r in failed]
        assert failed[0].exc_info is None
        assert "no alias 'staging'" in failed[0].getMessage()
        registry.set_alias("churn", "staging", 2)
        deadline = time.monotonic() + 10
        while pred.version != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pred.predict_record(rec).version == 2
        assert any("works again" in r.getMessage() for r in caplog.records)
