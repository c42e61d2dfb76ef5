"""A step whose state write fails leaves the controller where its file is, as a crash.

retrain37 found that a run decided in memory whose save failed went on, at the next step,
to train and register a candidate the file did not know; a restart then decided again and
registered a second candidate for what was one decision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prodml.retrain._controller import RUN_TAG
from prodml.retrain._state import RetrainState

from .helpers import registry
from .test_crash_points import Killed, _ctl


def test_a_failed_decision_write_registers_one_candidate_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = registry()
    path = tmp_path / "state.json"
    real_save = RetrainState.save
    failed: list[str] = []

    def save(self: RetrainState, where: Path) -> str:
        if self.phase == "training" and not failed:  # the decision to retrain
            failed.append(self.phase)
            raise OSError(28, "No space left on device")
        return real_save(self, where)

    monkeypatch.setattr(RetrainState, "save", save)
    fired: list[str] = []
    ctl = _ctl(reg, path, "registered", fired)  # dies once, before saving a registration
    with pytest.raises(OSError, match="No space left"):
        ctl.step(0.0)
    assert ctl.state.phase == "idle"  # back where the file is (nothing was saved yet)
    assert ctl.state.run is None
    with pytest.raises(Killed):
        ctl.step(0.0)  # decides again, saves, trains, registers, and dies
    restarted = _ctl(reg, path, None, [])
    restarted.step(0.0)
    runs = [v.tags[RUN_TAG] for v in reg.search("m")]
    assert len(runs) == 1, runs  # was 2: the unsaved run's candidate, and the restart's
    decisions = json.loads(path.read_text())["decisions"]
    assert [d["action"] for d in decisions].count("retrain") == 1


def test_the_state_in_memory_matches_the_file_after_any_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = registry()
    path = tmp_path / "state.json"
    real_save = RetrainState.save
    calls: list[Any] = []

    def save(self: RetrainState, where: Path) -> str:
        calls.append(self.phase)
        if len(calls) == 3:  # some write in the middle of the first run
            raise OSError(5, "Input/output error")
        return real_save(self, where)

    monkeypatch.setattr(RetrainState, "save", save)
    ctl = _ctl(reg, path, None, [])
    with pytest.raises(OSError, match="Input/output"):
        ctl.step(0.0)
    on_file = RetrainState.load(path)
    assert ctl.state.phase == on_file.phase
    assert ctl.state.run == on_file.run
    assert ctl.state.decisions == on_file.decisions
