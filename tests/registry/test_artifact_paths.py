"""Artifact paths on every real backend: hostile manifest entries, and portable names.

A manifest entry read back from a store (``..``, absolute, NUL, too long, a drive or a
backslash) is refused before any file is touched, on SQLite with local files and on
PostgreSQL with S3. A registration refuses names that could not be written back on every
filesystem a version may be loaded on: Windows device names and characters, a segment
ending in a dot or space, and two names that are one file where case or Unicode
normalisation is ignored (macOS, Windows). Nothing is left behind in either store.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError, IntegrityError
from prodml.registry import ModelRegistry
from prodml.registry._paths import collision, path_problem, portable_problem
from prodml.registry.backends import _sqlschema as sq

NFC = unicodedata.normalize("NFC", "caf\u00e9.bin")
NFD = unicodedata.normalize("NFD", NFC)


@pytest.fixture(params=["sqlite+local", "postgres+s3"])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelRegistry]:
    if request.param == "sqlite+local":
        registry = ModelRegistry.local(tmp_path / "reg")
    else:
        registry = ModelRegistry(
            request.getfixturevalue("postgres_url"),
            request.getfixturevalue("s3_url"),
            storage_options=request.getfixturevalue("s3_options"),
        )
    yield registry
    registry.close()


def _tree(tmp_path: Path, names: list[str]) -> Path:
    src = tmp_path / "model"
    for name in names:
        path = src.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    return src


# ------------------------------------------------------------------ registration

REFUSED: dict[str, tuple[list[str], str]] = {
    "case-only pair": (["Model.bin", "model.bin"], "case-insensitive or Unicode-normalising"),
    "NFC and NFD pair": ([NFC, NFD], "case-insensitive or Unicode-normalising"),
    "case pair in a folder": (["w/A.bin", "w/a.bin"], "case-insensitive"),
    "device name": (["con.txt"], "Windows reserves for a device"),
    "device name, upper case, in a folder": (["src/AUX"], "Windows reserves for a device"),
    "COM port": (["com1.log"], "Windows reserves for a device"),
    "colon (an NTFS stream)": (["model.bin:hidden"], "<>:"),
    "question mark": (["what?.bin"], "<>:"),
    "trailing dot": (["model."], "ending in a dot or a space"),
    "trailing space": (["model "], "ending in a dot or a space"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unportable_names_are_refused_and_nothing_is_written(
    reg: ModelRegistry, tmp_path: Path, case: str
) -> None:
    names, match = REFUSED[case]
    with pytest.raises(ConfigError, match=match):
        reg.register("m", _tree(tmp_path, names), flavour="files")
    assert reg.models() == []
    assert reg.artifacts.list_keys() == []


def test_portable_names_register_and_load(reg: ModelRegistry, tmp_path: Path) -> None:
    names = [NFC, "Model.bin", "w/a.bin", "w/b.bin", "console.txt", "con-fig.json", "x.y.z"]
    mv = reg.register("m", _tree(tmp_path, names), flavour="files")
    assert len(mv.files) == len(names)
    out = reg.load("m@1")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        names
    )


@given(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=6))
def test_collision_is_equality_after_nfc_and_casefold(names: list[str]) -> None:
    folded = [unicodedata.normalize("NFC", n).casefold() for n in names]
    found = collision(names)
    if len(set(folded)) == len(folded):
        assert found is None
    else:
        assert found is not None
        a, b = found
        assert (
            unicodedata.normalize("NFC", a).casefold() == unicodedata.normalize("NFC", b).casefold()
        )
        assert a in names
        assert b in names


def test_portable_problem_is_only_about_windows() -> None:
    for ok in ("aux_data.bin", "console", "lpt", "com10", "a.b", "\u00e9t\u00e9", ".hidden"):
        assert portable_problem(ok) is None, ok
    assert portable_problem("con") is not None
    assert portable_problem("d/LPT9.txt") is not None
    assert portable_problem("d/com\u00b9") is not None


# ------------------------------------------------------------------ stored manifests

HOSTILE = {
    "parent segment": "../outside.bin",
    "deep parent": "files/../../outside.bin",
    "absolute": "/etc/passwd",
    "NUL": "model\x00.bin",
    "backslash": "..\\outside.bin",
    "drive": "C:/Windows/win.ini",
    "too long": "a" * 1025,
    "segment over 255 bytes": "\u00e9" * 128,
    "empty segment": "a//b.bin",
    "dot segment": "./a.bin",
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_stored_paths_are_refused_before_any_read(
    reg: ModelRegistry, tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = HOSTILE[case]
    assert path_problem(rel) is not None
    mv = reg.register("m", _tree(tmp_path, ["w.bin"]), flavour="files")
    forged = mv.model_copy(update={"files": {**mv.files, rel: "0" * 64}})
    engine = reg.metadata._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sq.versions.update().values(payload=forged.model_dump_json()))
    opened: list[Any] = []
    original: Callable[..., Any] = reg.artifacts._open  # type: ignore[attr-defined]
    monkeypatch.setattr(reg.artifacts, "_open", lambda *a: opened.append(a) or original(*a))
    for call in (reg.load, reg.verify):
        with pytest.raises(IntegrityError, match="names a path that") as info:
            call("m@1")
        assert rel not in str(info.value)
        assert (info.value.model_name, info.value.version) == ("m", 1)
    assert opened == []
