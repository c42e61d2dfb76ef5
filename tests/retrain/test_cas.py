"""The compare-and-swap guards the state file where the lock does not (two hosts, NFS).

``flock`` may be local to each NFS client: two controllers on two hosts can both hold
it. They are modelled here by writers built with ``locking=False``. Before, the check
("does the file still hold what I read?") and the write (a rename) were two steps: two
writers with the same copy could both pass the check and the second rename erased the
first one's decisions. Now a write first takes an exclusive claim on the text it
replaces (``O_CREAT | O_EXCL``), so of two writers with the same copy exactly one writes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from prodml.retrain import Guards, RetrainConflictError, RetrainController, Signal
from prodml.retrain._writer import STALE_CLAIM_S, StateWriter

from .helpers import DAY, registry


class Always:
    name = "always"

    def check(self, context: object) -> Signal:
        return Signal("always", "fires at every step")


def _ctl(reg: Any, path: Path) -> RetrainController:
    ctl = RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=lambda d, ctx: (None, DummyRegressor().fit(d[["y"]], d["y"]), {}),
        triggers=[Always()],
        data=lambda ctx: pd.DataFrame({"y": np.arange(20.0)}),
        guards=Guards(min_interval=DAY),
        state_path=path,
    )
    # Another host: its lock does not see ours (flock on NFS may be local to a client).
    ctl._writer = StateWriter(path, locking=False)
    return ctl


def test_two_controllers_without_a_shared_lock_one_is_refused_by_the_cas(
    tmp_path: Path,
) -> None:
    reg, path = registry(), tmp_path / "state.json"
    _ctl(reg, path).step(0.0)  # version 1
    a, b = _ctl(reg, path), _ctl(reg, path)  # both read the same state
    assert a.step(2 * DAY).action == "promote"
    written = path.read_text()
    with pytest.raises(RetrainConflictError) as err:
        b.step(2 * DAY + 10)
    assert err.value.path == str(path)
    assert path.read_text() == written  # the second write was refused, nothing erased
    assert reg.get("m@production").version == 2  # and nothing registered twice


def test_of_two_writers_with_the_same_copy_racing_exactly_one_writes(tmp_path: Path) -> None:
    """Both passed the early check; the claim lets one through, the other is refused."""
    path = tmp_path / "state.json"
    path.write_text("v0")
    a, b = StateWriter(path, locking=False), StateWriter(path, locking=False)
    inside = threading.Event()
    release = threading.Event()

    def slow_save() -> str:  # a writes while b tries: b must not write at all
        inside.set()
        release.wait(10)
        path.write_text("from a")
        return "from a"

    thread = threading.Thread(target=a.write, args=(slow_save,))
    thread.start()
    assert inside.wait(10)
    called = []
    with pytest.raises(RetrainConflictError, match="its claim on this state is held"):
        b.write(lambda: called.append(1) or "from b")
    release.set()
    thread.join(10)
    assert called == []  # before: b's check passed (the file was still v0) and it wrote
    assert path.read_text() == "from a"
    with pytest.raises(RetrainConflictError, match="written by another controller"):
        b.write(lambda: called.append(1) or "from b")  # its copy is stale now
    assert called == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no claim left


def test_racing_processes_never_lose_a_write(tmp_path: Path) -> None:
    """Many processes, no lock, each adding one line to the file it read: none is lost."""
    path = tmp_path / "state.json"
    path.write_text("")
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from prodml.retrain import RetrainConflictError\n"
        "from prodml.retrain._writer import StateWriter\n"
        "path, me = Path(sys.argv[1]), sys.argv[2]\n"
        "wins = 0\n"
        "for i in range(40):\n"
        "    w = StateWriter(path, locking=False)\n"
        "    text = (w.known or '') + f'{me}-{i}\\n'\n"
        "    try:\n"
        "        w.write(lambda: (path.with_name('t' + me).write_text(text),\n"
        "                         path.with_name('t' + me).replace(path), text)[2])\n"
        "        wins += 1\n"
        "    except RetrainConflictError:\n"
        "        pass\n"
        "print(wins)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path), str(n)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for n in range(4)
    ]
    wins = sum(int(p.communicate(timeout=120)[0]) for p in procs)
    lines = path.read_text().splitlines()
    assert len(lines) == wins  # every write that returned is in the file: none erased
    assert wins >= 40


def _leave_claim(path: Path, owner: dict[str, Any], age: float = 0.0) -> Path:
    writer = StateWriter(path, locking=False)
    claim = writer.claim_path()
    claim.write_text(json.dumps(owner))
    if age:
        then = time.time() - age
        os.utime(claim, (then, then))
    return claim


def test_a_claim_left_by_a_killed_writer_on_this_host_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("v0")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    claim = _leave_claim(path, {"host": socket.gethostname(), "pid": int(dead.stdout)})
    writer = StateWriter(path, locking=False)
    writer.write(lambda: (path.write_text("v1"), "v1")[1])
    assert path.read_text() == "v1"
    assert not claim.exists()


def test_with_the_lock_held_a_claim_of_this_host_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("v0")
    _leave_claim(path, {"host": socket.gethostname(), "pid": os.getpid()})
    writer = StateWriter(path)
    with writer.hold():  # every writer of this host takes the lock before its claim
        writer.write(lambda: (path.write_text("v1"), "v1")[1])
    assert path.read_text() == "v1"


@pytest.mark.parametrize(("age", "taken"), [(10.0, False), (STALE_CLAIM_S + 60, True)])
def test_a_claim_from_another_host_is_taken_over_once_stale(
    tmp_path: Path, age: float, taken: bool
) -> None:
    path = tmp_path / "state.json"
    path.write_text("v0")
    _leave_claim(path, {"host": "other-host.example", "pid": 1}, age=age)
    writer = StateWriter(path)
    with writer.hold():
        if taken:
            writer.write(lambda: (path.write_text("v1"), "v1")[1])
        else:
            with pytest.raises(RetrainConflictError):
                writer.write(lambda: (path.write_text("v1"), "v1")[1])
    assert path.read_text() == ("v1" if taken else "v0")
