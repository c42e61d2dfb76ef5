"""Two controllers on one state file: the second is refused, nothing is registered twice.

A cron job that overlaps the last one, or a service thread and a cron job, must not both
act on the same state: one writer per state file, enforced by a lock held while a
controller steps and by a compare-and-swap on the file's content before every write.
"""

from __future__ import annotations

import json
import os
import stat
import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from prodml.errors import ProdMLError
from prodml.retrain import Guards, RetrainConflictError, RetrainController, Signal

from .helpers import DAY, registry


class Always:
    """A trigger that fires at every step (the guards alone limit the runs)."""

    name = "always"

    def check(self, context: object) -> Signal:
        return Signal("always", "fires at every step")


def _train(data: pd.DataFrame, context: object) -> tuple[None, DummyRegressor, dict[str, float]]:
    return None, DummyRegressor().fit(data[["y"]], data["y"]), {"rows": float(len(data))}


def _ctl(reg, path, train=_train):
    return RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=train,
        triggers=[Always()],
        data=lambda ctx: pd.DataFrame({"y": np.arange(20.0)}),
        guards=Guards(min_interval=DAY),
        state_path=path,
    )


def test_a_stale_controller_is_refused_and_does_not_overwrite_the_file(tmp_path):
    reg = registry()
    path = tmp_path / "state.json"
    first, second = _ctl(reg, path), _ctl(reg, path)  # both read "no state yet"
    assert first.step(0.0).action == "promote"
    written = path.read_text()
    # Before: the second decided from its stale copy (no last run), retrained 10 s later
    # despite the one-day minimum interval, and overwrote the first one's decisions.
    with pytest.raises(RetrainConflictError, match="written by another controller") as info:
        second.step(10.0)
    assert isinstance(info.value, ProdMLError)
    assert info.value.path == str(path)
    assert [v.version for v in reg.search("m")] == [1]
    assert path.read_text() == written
    with pytest.raises(RetrainConflictError):
        second.save()
    assert path.read_text() == written
    # A controller rebuilt from the file continues, guards and all.
    again = _ctl(reg, path)
    assert "less than the minimum interval" in again.step(10.0).reason
    assert [d["action"] for d in json.loads(path.read_text())["decisions"]] == [
        "retrain",
        "register",
        "advance",
        "promote",
        "skip",
    ]


def test_a_second_controller_stepping_meanwhile_is_refused_by_the_lock(tmp_path):
    reg = registry()
    path = tmp_path / "state.json"
    started, release = threading.Event(), threading.Event()

    def slow_train(data, context):
        started.set()
        assert release.wait(60)
        return _train(data, context)

    first = _ctl(reg, path, train=slow_train)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(first.step(0.0).action))
    worker.start()
    try:
        assert started.wait(60)
        # The file now says "training": a controller built from it is not stale, but the
        # first one still holds the lock.
        second = _ctl(reg, path)
        assert second.state.phase == "training"
        with pytest.raises(RetrainConflictError, match="another RetrainController is stepping"):
            second.step(1.0)
    finally:
        release.set()
        worker.join(60)
    assert outcome == ["promote"]
    assert [v.version for v in reg.search("m")] == [1]
    with pytest.raises(RetrainConflictError, match="written by another controller"):
        second.step(2.0)  # its copy says "training": stale now


def test_a_state_path_set_after_construction_must_not_hold_another_state(tmp_path):
    reg = registry()
    path = tmp_path / "state.json"
    owner = _ctl(reg, path)
    owner.step(0.0)
    late = _ctl(reg, None)
    late.state_path = path  # the file is owner's: writing it would erase its decisions
    with pytest.raises(RetrainConflictError):
        late.step(DAY)
    fresh = tmp_path / "other.json"
    late.state_path = fresh
    late.save()
    assert json.loads(fresh.read_text())["type"] == "RetrainController"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_the_lock_file_gets_the_state_files_permissions(tmp_path):
    reg = registry()
    private, shared = tmp_path / "private" / "state.json", tmp_path / "shared" / "state.json"
    _ctl(reg, private).step(0.0)
    assert stat.S_IMODE(private.with_name("state.json.lock").stat().st_mode) == 0o600
    shared.parent.mkdir()
    shared.write_text(private.read_text())
    shared.chmod(0o640)  # an operator opened the state up to a group
    _ctl(reg, shared).step(DAY)
    umask = os.umask(0)
    os.umask(umask)
    # A 0600 lock file would let no one but its owner step on a shared state file.
    assert stat.S_IMODE(shared.with_name("state.json.lock").stat().st_mode) == 0o640 & ~umask
