"""The local store's load reads the bytes it verified, not whatever is on disk afterwards.

Whoever can write the store's directory may swap a file between the check and the
flavour's read. The local store now copies each file into a private directory while
hashing it, so a swap after the check does not reach the model, and a change during the
copy fails the check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import pytest

from prodml.errors import IntegrityError
from prodml.registry import ModelRegistry, flavours


def _registered(tmp_path: Path) -> tuple[ModelRegistry, Path]:
    src = tmp_path / "bundle.bin"
    src.write_bytes(b"genuine weights")
    reg = ModelRegistry.local(tmp_path / "reg")
    mv = reg.register("m", src, flavour="files")
    stored = Path(reg.artifacts.root, *mv.artifact_key.split("/"), "files", "bundle.bin")  # type: ignore[attr-defined]
    assert stored.read_bytes() == b"genuine weights"
    return reg, stored


def test_a_swap_between_verify_and_read_does_not_reach_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, stored = _registered(tmp_path)
    original = flavours.FilesFlavour.load
    seen: list[Path] = []

    def swap_then_load(self: Any, path: Path, meta: dict[str, Any], **kw: Any) -> Any:
        # The attacker's move, after every file was checked: replace the stored file.
        evil = stored.with_name("evil")
        evil.write_bytes(b"evil weights!!!")
        os.replace(evil, stored)
        seen.append(path)
        return original(self, path, meta, **kw)

    monkeypatch.setattr(flavours.FilesFlavour, "load", swap_then_load)
    out = reg.load("m@1")
    assert out.read_bytes() == b"genuine weights"
    assert stored.read_bytes() == b"evil weights!!!"  # the swap happened
    assert not str(seen[0]).startswith(str(reg.artifacts.root))  # type: ignore[attr-defined]
    assert not seen[0].exists()  # the private copy is removed after the load
    with pytest.raises(IntegrityError, match="does not match its registered sha256"):
        reg.load("m@1")
    reg.close()


def test_a_change_while_copying_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, stored = _registered(tmp_path)
    original = type(reg.artifacts)._open

    def open_then_rewrite(self: Any, key: str, rel: str) -> IO[bytes]:
        f = original(self, key, rel)
        with open(stored, "r+b") as w:  # the same inode, rewritten in place
            w.write(b"EVIL")
        return f

    monkeypatch.setattr(type(reg.artifacts), "_open", open_then_rewrite)
    with pytest.raises(IntegrityError, match="does not match its registered sha256"):
        reg.load("m@1")
    reg.close()


def test_the_private_copy_is_not_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, _ = _registered(tmp_path)
    original = flavours.FilesFlavour.load
    modes: list[int] = []

    def record(self: Any, path: Path, meta: dict[str, Any], **kw: Any) -> Any:
        modes.append(path.stat().st_mode & 0o777)
        return original(self, path, meta, **kw)

    monkeypatch.setattr(flavours.FilesFlavour, "load", record)
    reg.load("m@1")
    assert modes == [0o700]
    reg.close()
