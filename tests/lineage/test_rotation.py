"""JsonLinesSink rotation: a bound users set, atomic renames, no event lost or split."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from prodml.errors import ConfigError
from prodml.lineage import JsonLinesSink


def _event(n: int, pad: int = 100) -> dict:
    return {"n": n, "pad": "x" * (pad - len(str(n)))}  # every line the same length


LINE = len(json.dumps(_event(0), sort_keys=True)) + 1  # 119 bytes with the newline


def test_without_max_bytes_one_file_grows_as_before(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "l.jsonl")
    for n in range(50):
        sink.emit(_event(n))
    assert sink.files() == [tmp_path / "l.jsonl"]
    assert [e["n"] for e in sink.read()] == list(range(50))
    assert (tmp_path / "l.jsonl").stat().st_size == 50 * LINE


def test_rotation_keeps_backups_whole_lines_and_drops_only_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    sink = JsonLinesSink(path, max_bytes=3 * LINE, backups=2)  # three events a file
    for n in range(20):
        sink.emit(_event(n))
    # files of 3 events: 0-2, 3-5, ..., 15-17, then 18-19 live; two backups kept
    assert sink.files() == [tmp_path / "l.jsonl.2", tmp_path / "l.jsonl.1", path]
    assert [e["n"] for e in sink.read()] == list(range(12, 20))
    for f, first in zip(sink.files(), (12, 15, 18), strict=True):
        lines = f.read_text().splitlines()
        assert [json.loads(x)["n"] for x in lines] == list(range(first, min(first + 3, 20)))
        assert f.stat().st_size <= 3 * LINE
    assert not (tmp_path / "l.jsonl.3").exists()


def test_an_event_larger_than_max_bytes_is_written_whole_to_its_own_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "l.jsonl"
    sink = JsonLinesSink(path, max_bytes=2 * LINE, backups=3)
    sink.emit(_event(0))
    sink.emit(_event(1, pad=1000))
    sink.emit(_event(2))
    assert [json.loads(x)["n"] for x in (tmp_path / "l.jsonl.1").read_text().splitlines()] == [1]
    assert [json.loads(x)["n"] for x in (tmp_path / "l.jsonl.2").read_text().splitlines()] == [0]
    assert [e["n"] for e in sink.read()] == [0, 1, 2]
    assert len(sink.read()[1]["pad"]) == 999


def test_a_crash_between_renames_loses_no_event_and_the_next_rotation_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "l.jsonl"
    sink = JsonLinesSink(path, max_bytes=2 * LINE, backups=3)
    for n in range(6):  # files: .2 = 0-1, .1 = 2-3, live = 4-5
        sink.emit(_event(n))
    real = os.replace
    calls = []

    def crash_after_one(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", crash_after_one)
    with pytest.raises(ConfigError, match="cannot append to the lineage file"):
        sink.emit(_event(6))
    monkeypatch.setattr(os, "replace", real)
    # .2 moved to .3, then the crash: a gap at .2, every event still there once, whole
    assert [p.name for p in sink.files()] == ["l.jsonl.3", "l.jsonl.1", "l.jsonl"]
    assert [e["n"] for e in sink.read()] == [0, 1, 2, 3, 4, 5]
    sink.emit(_event(6))  # the retried event: the rotation closes the gap
    assert [p.name for p in sink.files()] == ["l.jsonl.3", "l.jsonl.2", "l.jsonl.1", "l.jsonl"]
    assert [e["n"] for e in sink.read()] == [0, 1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"max_bytes": 0},
            "The 'max_bytes' parameter of JsonLinesSink must be an int >= 1 or None",
        ),
        ({"max_bytes": 2.5}, "The 'max_bytes' parameter of JsonLinesSink must be an int >= 1"),
        ({"max_bytes": 10, "backups": 0}, "The 'backups' parameter of JsonLinesSink must be"),
    ],
)
def test_bad_bounds_are_refused_when_the_sink_is_made(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        JsonLinesSink(tmp_path / "l.jsonl", **kwargs)


def test_a_pickled_sink_keeps_its_bounds(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "l.jsonl", max_bytes=2 * LINE, backups=1)
    copy = pickle.loads(pickle.dumps(sink))
    assert (copy.max_bytes, copy.backups) == (2 * LINE, 1)
    assert (
        repr(copy)
        == f"JsonLinesSink({str(tmp_path / 'l.jsonl')!r}, max_bytes={2 * LINE}, backups=1)"
    )
    for n in range(5):
        copy.emit(_event(n))
    assert [e["n"] for e in sink.read()] == [2, 3, 4]
