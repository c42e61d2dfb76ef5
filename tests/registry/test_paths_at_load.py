"""Paths read back from a store: length in bytes, and Windows device names at load.

A manifest entry is limited to 1024 bytes of UTF-8 (what a filesystem counts), not 1024
characters: 1024 ``é`` are 2048 bytes. On Windows a manifest naming a device (``CON``,
``aux.py``) would open the device when loaded, so there it is refused at load too; on
other systems such a name is only a file and a stored version keeps loading.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import IntegrityError
from prodml.registry import ModelRegistry, _paths
from prodml.registry._paths import device_problem, path_problem, portable_problem
from prodml.registry.backends import _sqlschema as sq


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


def test_length_is_counted_in_utf8_bytes() -> None:
    assert path_problem("/".join(["a" * 200] * 5) + "/" + "b" * 19) is None  # 1024 bytes
    assert path_problem("/".join(["\u00e9" * 100] * 5)) is None  # 1004 bytes
    # 1024 characters but 1536 bytes, every segment under 255 bytes.
    deep = "/".join(["\u00e9" * 100] * 11)[:1024]
    assert len(deep) == 1024
    assert not deep.endswith("/")
    assert path_problem(deep) == "must be 1-1024 bytes in UTF-8"


@given(st.text(min_size=1, max_size=1200))
def test_length_limit_matches_the_encoded_size(rel: str) -> None:
    problem = path_problem(rel)
    try:
        size = len(rel.encode("utf-8"))
    except UnicodeEncodeError:
        assert problem is not None
        return
    if size > 1024:
        assert problem is not None


def test_a_lone_surrogate_is_a_problem_not_a_crash() -> None:
    assert path_problem("model\udc80.bin") == "is not valid Unicode (a lone surrogate)"


def test_device_names_are_what_portable_problem_refuses() -> None:
    for rel in ("con", "src/aux.py", "d/COM1.log", "lpt\u00b9", "nul .txt"):
        assert device_problem(rel) is not None, rel
        assert portable_problem(rel) == device_problem(rel)
    for rel in ("console", "aux_data.bin", "com10", "a/b.c"):
        assert device_problem(rel) is None, rel


def _forge_device_name(reg: ModelRegistry, tmp_path: Path) -> None:
    src = tmp_path / "model"
    src.mkdir()
    (src / "w.bin").write_bytes(b"w")
    mv = reg.register("m", src, flavour="files")
    # A manifest naming a device, written behind the registry's back.
    rel = next(iter(mv.files)).rsplit("/", 1)[0] + "/aux.py"
    forged = mv.model_copy(update={"files": {**mv.files, rel: "0" * 64}})
    with reg.metadata._engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sq.versions.update().values(payload=forged.model_dump_json()))


def test_device_names_are_refused_at_load_on_windows(
    reg: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forge_device_name(reg, tmp_path)
    monkeypatch.setattr(_paths, "ON_WINDOWS", True)
    opened: list[object] = []
    monkeypatch.setattr(reg.artifacts, "_open", lambda *a: opened.append(a))
    for call in (reg.load, reg.verify):
        with pytest.raises(IntegrityError, match="reserves for a device"):
            call("m@1")
    assert opened == []


def test_device_names_elsewhere_are_only_files(reg: ModelRegistry, tmp_path: Path) -> None:
    _forge_device_name(reg, tmp_path)
    # Not refused as a path: the forged digest is what fails, once the file is looked at.
    with pytest.raises(IntegrityError, match=r"aux\.py") as info:
        reg.verify("m@1")
    assert "device" not in str(info.value)
