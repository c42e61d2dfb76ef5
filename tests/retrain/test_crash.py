"""Kill the controller's process (SIGKILL) at every checkpoint and at random times; resume.

Whatever the point, the resumed run ends exactly where an uninterrupted one does: the
same versions (never a duplicate candidate: each carries its run id, looked up on
resume), the same aliases and the same decisions (none lost, none taken twice).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import prodml
from prodml.registry import ModelRegistry
from prodml.retrain._controller import RUN_TAG

CHILD = Path(__file__).with_name("_child.py")
# Every checkpoint between two side effects, in the order the scenario reaches them.
POINTS = [
    "decided",  # run 1: no version yet, so no canary
    "trained",
    "registered",
    "registered_saved",
    "promoted",
    "canary_saved",  # run 2: the canary promotes it
    "canary_hold",
    "canary_advance",
    "canary_promote",
    "canary_rollback",  # run 3: the canary rolls it back
    "rollback_alias",
]
KEY_ACTIONS = {"retrain", "register", "canary", "promote", "rollback", "refuse", "fail"}

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")


def _env() -> dict[str, str]:
    src = str(Path(prodml.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _run(root: Path, crash_at: str = "", slow: float = 0.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHILD), str(root), crash_at, str(slow)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _outcome(root: Path) -> dict[str, object]:
    state = json.loads((root / "state.json").read_text())
    with ModelRegistry.local(root / "registry") as reg:
        versions = list(reg.search("churn"))
        tags = [mv.tags[RUN_TAG] for mv in versions]
        assert len(tags) == len(set(tags)), "a candidate was registered twice"
        return {
            "versions": sorted((mv.version, mv.status) for mv in versions),
            "aliases": reg.aliases("churn"),
            "decisions": [
                (d["action"], d["version"])
                for d in state["decisions"]
                if d["action"] in KEY_ACTIONS
            ],
            "registered_runs": sorted(
                d["run_id"] for d in state["decisions"] if d["action"] == "register"
            ),
            "tags": sorted(tags),
            "phase": state["phase"],
        }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("reference")
    done = _run(root)
    assert done.returncode == 0, done.stderr
    out = _outcome(root)
    assert out["versions"] == [(1, "ready"), (2, "ready"), (3, "archived")]
    assert out["aliases"] == {"production": 2}
    assert out["decisions"] == [
        ("retrain", None), ("register", 1), ("promote", 1),
        ("retrain", None), ("register", 2), ("canary", 2), ("promote", 2),
        ("retrain", None), ("register", 3), ("canary", 3), ("rollback", 3),
    ]  # fmt: skip
    return out


def test_killed_at_every_checkpoint_resumes_to_the_same_end(reference, tmp_path):
    # One history killed at each checkpoint in turn: each run resumes the previous one's
    # state and dies at the next point, so the end state has survived every kind of crash.
    for point in POINTS:
        killed = _run(tmp_path, point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
    resumed = _run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    out = _outcome(tmp_path)
    assert out["versions"] == reference["versions"]
    assert out["aliases"] == reference["aliases"]
    assert out["decisions"] == reference["decisions"]
    assert out["registered_runs"] == out["tags"]  # every candidate is a decision, once
    assert out["phase"] == "idle"
    calls = (tmp_path / "train_calls.txt").read_text().split()
    assert len(calls) == 4  # run 1 trained again after the kill before registering
    assert len(set(calls)) == 3


def test_killed_at_random_times_resumes_to_the_same_end(reference, tmp_path):
    rnd = random.Random(22)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(tmp_path), "", "0.3"],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rnd.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=300)
    done = _run(tmp_path, "", 0.3)
    assert done.returncode == 0, done.stderr
    out = _outcome(tmp_path)
    assert kills >= 1
    assert out["versions"] == reference["versions"]
    assert out["aliases"] == reference["aliases"]
    assert out["decisions"] == reference["decisions"]
    assert out["registered_runs"] == out["tags"]
