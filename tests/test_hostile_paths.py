"""Paths no file can have, passed to every public API that takes one.

A name longer than the system allows ("File name too long") and a name holding a NUL
character used to escape as a bare ``OSError`` or ``ValueError`` (``embedded null
byte``), some of them quoting the 5,000-character name whole. Each entry point now raises
a :class:`~prodml.errors.ProdMLError` that names the path quoted and cut, and writes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prodml._files import PATH_QUOTE
from prodml.errors import ProdMLError

LONG = "a" * 5_000
NUL = "x\x00y"


def _report() -> Any:
    from prodml.drift import DriftDetector

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 50})
    return DriftDetector().fit(df).detect(df)


def _controller(tmp: Path, state: str) -> Any:
    from prodml.registry import ModelRegistry
    from prodml.retrain import RetrainController

    reg = ModelRegistry.local(tmp / "reg")
    return RetrainController(
        registry=reg, model="m", alias="production", train=lambda d, c: None, state_path=state
    )


def _sink(path: str) -> None:
    from prodml.lineage import JsonLinesSink

    JsonLinesSink(path).emit({"eventType": "START"})


def _verifier(path: str) -> Any:
    pytest.importorskip("cryptography", reason="signing needs the 'sign' extra (cryptography)")
    from prodml.registry.signing import Ed25519Verifier

    return Ed25519Verifier.from_pem(Path(path))


def _key_file(path: str) -> Any:
    pytest.importorskip("cryptography", reason="encryption needs the 'sign' extra (cryptography)")
    from prodml.registry.encryption import LocalKeyFile

    return LocalKeyFile.create(path)


def _store(path: str) -> Any:
    pytest.importorskip("duckdb", reason="the feature store needs the 'store' extra (duckdb)")
    from prodml.store import FeatureStore

    return FeatureStore.local(path)


def _registry(path: str) -> Any:
    from prodml.registry import ModelRegistry

    return ModelRegistry.local(path)


def _fingerprint_file(path: str) -> Any:
    from prodml.fingerprint import fingerprint_file

    return fingerprint_file(path)


def _fingerprint_path(path: str) -> Any:
    from prodml.fingerprint import fingerprint_path

    return fingerprint_path(path)


ENTRY_POINTS: dict[str, Callable[[Path, str], Any]] = {
    "fingerprint_file": lambda tmp, p: _fingerprint_file(p),
    "fingerprint_path": lambda tmp, p: _fingerprint_path(p),
    "DriftReport.to_html": lambda tmp, p: _report().to_html(p),
    "JsonLinesSink.emit": lambda tmp, p: _sink(p),
    "ModelRegistry.local": lambda tmp, p: _registry(p),
    "FeatureStore.local": lambda tmp, p: _store(p),
    "LocalKeyFile.create": lambda tmp, p: _key_file(p),
    "Ed25519Verifier.from_pem": lambda tmp, p: _verifier(p),
    "RetrainController(state_path=)": lambda tmp, p: _controller(tmp, p).step(0.0),
}


@pytest.mark.parametrize("kind", ["long", "nul"])
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_path_no_file_can_have_is_a_prodml_error(tmp_path: Path, entry: str, kind: str) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    path = str(folder / (LONG if kind == "long" else NUL))
    with pytest.raises(ProdMLError) as info:
        ENTRY_POINTS[entry](tmp_path, path)
    text = str(info.value)
    assert len(text) < PATH_QUOTE + 200, text[:300]  # the name is cut, not echoed whole
    assert "characters in all" in text if kind == "long" else "NUL" in text
    assert sorted(p.name for p in folder.iterdir()) == []  # nothing was written
