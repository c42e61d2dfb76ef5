"""Files prodml writes (reports, model cards, state): whole or not at all, paths named.

``prodml._files.write_text`` writes beside the target and renames into place; a path the
OS refuses is a :class:`ConfigError` naming it. Checked here on the helper and on the
public methods that take a ``path``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from prodml._files import write_text
from prodml.drift import DriftDetector
from prodml.errors import ConfigError
from prodml.registry import ModelRegistry


def _umask() -> int:
    # Read from the kernel: os.umask would have to set it to read it.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    pytest.skip("no /proc/self/status to read the umask from (not Linux)")
    raise AssertionError  # unreachable: skip raises


def test_a_new_file_gets_the_umask_s_permissions_and_replaces_the_old(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    write_text(target, "new ü")
    assert target.read_text(encoding="utf-8") == "new ü"
    fresh = tmp_path / "fresh.html"
    write_text(fresh, "x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~_umask()  # not mkstemp's 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.html", "report.html"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_scratch(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_text(target, "half \ud800 written")  # a lone surrogate: not UTF-8
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_unusable_paths_are_config_errors_naming_them(tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("keep")
    cases = [
        (tmp_path, "it is a folder"),
        (file / "report.html", "Not a directory"),
        (tmp_path / "missing" / "report.html", "No such file or directory"),
    ]
    for path, why in cases:
        with pytest.raises(ConfigError, match=f"cannot write the report '.*': {why}") as info:
            write_text(path, "x", "the report")
        assert info.value.parameter == "path"
        assert str(path)[-20:] in str(info.value)  # the path is shown, not only its start
        assert str(info.value).count("cannot write") == 1  # said once, not wrapped again
    assert file.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def _report() -> Callable[[Path], object]:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 25})
    report = DriftDetector().fit(ref).detect(ref + 5)
    return lambda path: (report.to_html(path), report.to_json(path.with_suffix(".json")))


def _card(tmp_path: Path) -> Callable[[Path], object]:
    reg = ModelRegistry.local(tmp_path / "registry")
    reg.register("churn", DummyClassifier().fit([[0], [1]], [0, 1]), metrics={"auc": 0.8})
    card = reg.card("churn@1")
    reg.close()
    return lambda path: (
        card.to_markdown(path),
        card.to_html(path.with_suffix(".html")),
        card.to_json(path.with_suffix(".json")),
    )


@pytest.mark.parametrize("kind", ["drift report", "model card"])
def test_reports_and_cards_write_whole_files_or_name_the_path(tmp_path: Path, kind: str) -> None:
    write = _report() if kind == "drift report" else _card(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    write(out / "r.md")
    written = sorted(p.name for p in out.iterdir())
    assert len(written) in (2, 3)
    assert all((out / name).stat().st_size > 100 for name in written)
    blocker = tmp_path / "blocker"
    blocker.write_text("keep")
    with pytest.raises(ConfigError, match=f"cannot write the {kind} .*blocker.*Not a directory"):
        write(blocker / "r.md")
    assert blocker.read_text() == "keep"


def test_fsync_syncs_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    target = tmp_path / "state.json"
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_text(target, "{}", fsync=True)
    assert events == ["fsync file", "rename", "fsync folder"]
    events.clear()
    write_text(target, "{}")  # the default: no fsync, for reports a rerun rewrites
    assert events == ["rename"]
    assert target.read_text() == "{}"


def test_a_link_is_written_through_and_a_replaced_file_keeps_its_permissions(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    real = shared / "report.html"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "report.html"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink()  # the link stays, as with open(link, "w")
    assert real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # not the umask's
    assert sorted(p.name for p in shared.iterdir()) == ["report.html"]  # no scratch left
    dangling = tmp_path / "later.html"
    dangling.symlink_to(shared / "later.html")
    write_text(dangling, "made")  # open(dangling, "w") creates the file it names
    assert (shared / "later.html").read_text() == "made"
    assert dangling.is_symlink()
    assert stat.S_IMODE((shared / "later.html").stat().st_mode) == 0o666 & ~_umask()


posix_only = pytest.mark.skipif(
    os.name != "posix", reason="file modes and the umask are POSIX's (no extra installs them)"
)


@pytest.fixture
def permissive_umask() -> Iterator[int]:
    """A umask that lets a new file be read by everyone (0o644), as many hosts set it."""
    old = os.umask(0o022)
    yield 0o022
    os.umask(old)


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """``(mode, size)`` of each temporary file ``write_text`` creates, as it is created."""
    seen: list[tuple[int, int]] = []
    real_open = os.open

    def spy(path: str | os.PathLike[str], flags: int, *args: int, **kw: object) -> int:
        fd = real_open(path, flags, *args, **kw)  # type: ignore[arg-type]
        if os.fspath(path).endswith(".tmp"):
            info = os.fstat(fd)
            seen.append((stat.S_IMODE(info.st_mode), info.st_size))
        return fd

    monkeypatch.setattr(os, "open", spy)
    return seen


@posix_only
def test_a_new_file_with_a_mode_is_private_from_the_moment_it_exists(
    tmp_path: Path, permissive_umask: int, created: list[tuple[int, int]]
) -> None:
    """``mode=0o600``: the temporary file is created 0600, not chmod-ed after it was written.

    A chmod after the write (or even before it, after the create) leaves a moment in which
    another user can open the file, and an open descriptor reads what is written later.
    """
    target = tmp_path / "state.json"
    write_text(target, "{}", "the state", mode=0o600)
    assert created == [(0o600, 0)]  # private when created, before any byte was written
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "{}"
    created.clear()
    plain = tmp_path / "report.html"
    write_text(plain, "x")  # the default: the umask decides, as for open(path, "w")
    assert created == [(0o644, 0)]
    assert stat.S_IMODE(plain.stat().st_mode) == 0o644


@posix_only
def test_an_existing_file_keeps_its_mode_and_its_replacement_is_never_more_open(
    tmp_path: Path, permissive_umask: int, created: list[tuple[int, int]]
) -> None:
    shared = tmp_path / "shared.json"
    shared.write_text("old")
    shared.chmod(0o644)
    write_text(shared, "new", mode=0o600)  # an existing file keeps its own mode
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert shared.read_text() == "new"
    private = tmp_path / "private.json"
    private.write_text("old")
    private.chmod(0o600)
    created.clear()
    write_text(private, "new")  # a private file replaced: private from the start, too
    assert created == [(0o600, 0)]
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


@posix_only
def test_a_mode_applies_to_the_file_a_dangling_link_names(
    tmp_path: Path, permissive_umask: int
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "state.json"
    link.symlink_to(real / "state.json")
    write_text(link, "{}", mode=0o600)
    assert link.is_symlink()
    assert stat.S_IMODE((real / "state.json").stat().st_mode) == 0o600
    write_text(link, "{}", mode=0o644)  # written through; the file keeps its mode
    assert stat.S_IMODE((real / "state.json").stat().st_mode) == 0o600
