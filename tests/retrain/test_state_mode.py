"""The controller's state file is its owner's alone when it is created (POSIX).

It holds the decisions, their reasons and run ids. Before ``RetrainState.save`` went
through ``prodml._files.write_text`` it was created 0600 (``mkstemp``); then it took the
umask's permissions, world-readable under the common umask 0o022.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from prodml.retrain import RetrainController, ScheduleTrigger
from prodml.schema import Column, Schema

from .helpers import DAY, registry

pytestmark = pytest.mark.skipif(
    os.name != "posix", reason="file modes and the umask are POSIX's (no extra installs them)"
)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _ctl(path: Path) -> RetrainController:
    return RetrainController(
        registry=registry(),
        model="churn",
        alias="production",
        train=lambda data, ctx: (None, Schema([Column("x", "float")]), {"accuracy": 0.9}),
        data=lambda ctx: pd.DataFrame({"x": [1.0, 2.0]}),
        triggers=[ScheduleTrigger(timedelta(days=7))],
        state_path=path,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_state_file_is_private_and_was_never_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state" / "retrain.json"
    made: list[int] = []
    real_open = os.open

    def spy(file: str | os.PathLike[str], flags: int, *args: int, **kw: object) -> int:
        fd = real_open(file, flags, *args, **kw)  # type: ignore[arg-type]
        if os.fspath(file).endswith(".tmp"):
            made.append(stat.S_IMODE(os.fstat(fd).st_mode))  # as created, before any write
        return fd

    monkeypatch.setattr(os, "open", spy)
    ctl = _ctl(path)
    ctl.step(0.0)
    assert _mode(path) == 0o600
    assert len(made) >= 2  # the run started, then its result: a save each
    assert set(made) == {0o600}  # every save's temporary file, from its creation
    assert [d.action for d in ctl.decisions][:1] == ["retrain"]


def test_an_existing_state_file_keeps_the_mode_its_operator_gave_it(tmp_path: Path) -> None:
    path = tmp_path / "retrain.json"
    ctl = _ctl(path)
    ctl.step(0.0)
    path.chmod(0o640)  # opened to a group on purpose
    ctl.step(8 * DAY)
    assert _mode(path) == 0o640
    assert _ctl(path).to_dict() == ctl.to_dict()  # and it is the state, whole
