# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""Artifact store conformance, part 2: no path escapes, no links, staging inside the store."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodml.errors import ConfigError, IntegrityError, ProdMLError
from prodml.registry import ArtifactStore, ModelRegistry
from prodml.registry.backends.artifacts import (
    FsspecArtifactStore,
    LocalArtifactStore,
    UnsafeEntry,
)
from prodml.registry.entities import ModelVersion
from prodml.testing.registry._common import _model, pytest, stored_files

SECRET = b"private key material that must never leave the sentinel directory\n"
_SEGMENTS = [
    "..",
    ".",
    "",
    "~",
    "C:",
    "\\..",
    "..\\..",
    "x\x00y",
    "a\nb",
    "%2e%2e",
    "object.json",
    "files",
    "sentinel",
    "secret.txt",
]


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: content and mtime (nanoseconds)."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _remote_snapshot(store: ArtifactStore, prefix: str) -> dict[str, bytes]:
    if not isinstance(store, FsspecArtifactStore):
        return {}  # a store of unknown layout: only its own foreign key is watched
    store.fs.invalidate_cache()
    try:
        found = store.fs.find(prefix)
    except FileNotFoundError:
        return {}
    return {f: store.fs.cat_file(f) for f in found}


def _paths() -> Any:
    """Hostile relative and absolute paths; ``{sentinel}`` stands for the sentinel dir."""
    from hypothesis import strategies as st  # noqa: PLC0415

    joined = st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=6).map("/".join)
    return st.one_of(st.sampled_from(_TEMPLATES), joined, st.text(max_size=12))


_TEMPLATES = [
    "{sentinel}/planted.txt",
    "{sentinel}/secret.txt",
    "../../sentinel/planted.txt",
    "../../../sentinel/secret.txt",
    "../../../../sentinel/planted.txt",
    "/etc/passwd",
    "//server/share/x",
    "C:/x",
    "/",
]
_KINDS = ["files", "key", "basename", "pair", "pending"]


def _plant_link(store: ArtifactStore, key: str, rel: str, target: Path) -> None:
    """Replace stored file ``key/rel`` by a symbolic link to ``target`` (shipped stores)."""
    if isinstance(store, LocalArtifactStore):
        path = store._key_path(key).joinpath(*rel.split("/"))
        path.unlink()
        path.symlink_to(target)
        return
    pytest.skip(
        f"{type(store).__name__} keeps its files where the suite cannot plant a symbolic "
        "link: override plant_link(store, key, rel, target) in your test class to replace "
        "the stored file key/rel by a link to target (the checks then run)"
    )


class ArtifactTrust:
    """Hostile manifests and flavour metadata, symbolic links, staging and temp files.

    Hook: ``plant_link(store, key, rel, target)`` replaces a stored file by a symbolic
    link to ``target``; the default knows the local store only, and skips for others.
    """

    if TYPE_CHECKING:  # the hook's type; at run time the function above

        @staticmethod
        def plant_link(store: ArtifactStore, key: str, rel: str, target: Path) -> None: ...

    else:
        plant_link = staticmethod(_plant_link)

    if TYPE_CHECKING:  # provided by ArtifactStoreConformance

        @staticmethod
        def tamper_write(store: ArtifactStore, key: str, rel: str, data: bytes) -> None: ...

    def _plant_sentinels(self, store: ArtifactStore) -> str:
        """Plant the secret in a foreign key ``sentinel``, and next to an fsspec root.

        ``../../sentinel`` from a version's key names the first; returns the second.
        """
        remote_sentinel = "sentinel-outside"
        if isinstance(store, FsspecArtifactStore):
            remote_sentinel = f"{store.root}-sentinel" if store.root else remote_sentinel
            if not isinstance(store, LocalArtifactStore):
                store.fs.pipe_file(f"{remote_sentinel}/secret.txt", SECRET)
        self.tamper_write(store, "sentinel", "secret.txt", SECRET)
        return remote_sentinel

    def test_hostile_manifests_never_escape(
        self,
        registry: ModelRegistry,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from hypothesis import HealthCheck, example, given, settings  # noqa: PLC0415
        from hypothesis import strategies as st  # noqa: PLC0415

        sentinel = tmp_path / "sentinel"
        sentinel.mkdir()
        (sentinel / "secret.txt").write_bytes(SECRET)
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        store = registry.artifacts
        remote_sentinel = self._plant_sentinels(store)
        base = registry.register("m", _model())
        other = registry.register("o", _model())
        legit = registry.artifacts.list_keys()
        local_before = _snapshot(sentinel)
        remote_before = _remote_snapshot(store, remote_sentinel)
        inside_before = stored_files(store, "sentinel")
        assert inside_before == {"secret.txt": SECRET}
        digest = hashlib.sha256(SECRET).hexdigest()

        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
            database=None,
        )
        @given(kind=st.sampled_from(_KINDS), template=_paths(), pick=st.integers(0, 1))
        @example(kind="files", template="{sentinel}/planted.txt", pick=0)
        @example(kind="files", template="object.json", pick=1)  # the version's own file
        @example(kind="files", template="../../sentinel/planted.txt", pick=1)
        @example(kind="files", template="../../../sentinel/secret.txt", pick=0)
        @example(kind="basename", template="../../../../sentinel/planted.txt", pick=0)
        @example(kind="pair", template="{sentinel}/planted.txt", pick=0)
        @example(kind="key", template="../../../sentinel", pick=0)
        @example(kind="pending", template="../../../sentinel", pick=0)
        def attack(kind: str, template: str, pick: int) -> None:
            path = template.replace("{sentinel}", str(sentinel))
            change: dict[str, Any]
            if kind == "files":
                # The forged entry last: a path equal to one of the version's own files
                # ("object.json") then claims the secret's digest, still an attack.
                change = {"files": {**([{}, base.files][pick]), path: digest}}
            elif kind == "key":
                change = {"artifact_key": [path, f"m/{path}"][pick]}
            elif kind == "basename":
                change = {
                    "flavour": "files",
                    "flavour_meta": {"basename": path, "kind": ["file", "dir"][pick]},
                    "files": {f"files/{path}": digest},
                }
            elif kind == "pair":
                part = {"flavour": "files", "meta": {"basename": path, "kind": "file"}}
                change = {
                    "flavour": "pair",
                    "flavour_meta": {"parts": [part, {"flavour": "pair", "meta": {}}]},
                    "files": {f"pipeline/files/{path}": digest},
                }
            else:
                registry.metadata._lease(path, "m", 0.0)
                change = {}
            if change:
                forged = registry.metadata.create_version(base.model_copy(update=change), "mallory")
                for call in (registry.load, registry.verify):
                    with pytest.raises(ProdMLError):  # nothing it names is inside its key
                        call(forged.ref)
            with contextlib.suppress(ProdMLError):
                registry.gc(0, scan=True)
            assert _snapshot(sentinel) == local_before
            assert _remote_snapshot(store, remote_sentinel) == remote_before
            assert stored_files(store, "sentinel") == inside_before
            assert registry.artifacts.list_keys() == legit

        attack()
        assert list(scratch.iterdir()) in ([], [scratch / "prodml-staging"])
        assert registry.load(base.ref) == _model()
        assert registry.load(other.ref) == _model()

    def test_register_refuses_symlinks_unless_asked(
        self, registry: ModelRegistry, tmp_path: Path
    ) -> None:
        private = tmp_path / "private"
        private.mkdir()
        (private / "id_rsa").write_bytes(SECRET)
        model = tmp_path / "model"
        (model / "sub").mkdir(parents=True)
        (model / "weights.bin").write_bytes(b"weights")
        (model / "sub" / "key").symlink_to(private / "id_rsa")
        (model / "linked-dir").symlink_to(private, target_is_directory=True)
        with pytest.raises(ConfigError, match="symbolic link") as info:
            registry.register("f", model)
        assert info.value.parameter == "follow_symlinks"
        assert "follow_symlinks=True" in str(info.value)
        assert registry.artifacts.list_keys() == []
        assert registry.metadata.pending() == []
        mv = registry.register("f", model, follow_symlinks=True)
        assert sorted(mv.files) == [
            "files/model/linked-dir/id_rsa",
            "files/model/sub/key",
            "files/model/weights.bin",
        ]
        assert mv.files["files/model/sub/key"] == hashlib.sha256(SECRET).hexdigest()
        loaded = registry.load(mv.ref)
        assert not (loaded / "sub" / "key").is_symlink()
        assert (loaded / "sub" / "key").read_bytes() == SECRET
        (model / "loop").symlink_to(model, target_is_directory=True)
        with pytest.raises(ConfigError, match="loop"):
            registry.register("f", model, follow_symlinks=True)
        (model / "loop").unlink()
        (model / "dangling").symlink_to(tmp_path / "nowhere")
        with pytest.raises(ConfigError, match="dangling"):
            registry.register("f", model, follow_symlinks=True)
        assert len(registry.artifacts.list_keys()) == 1
        assert registry.metadata.pending() == []
        assert (private / "id_rsa").read_bytes() == SECRET

    def test_symlinks_in_a_stored_artifact_fail_verification(
        self, registry: ModelRegistry, tmp_path: Path
    ) -> None:
        model = tmp_path / "model"
        (model / "sub").mkdir(parents=True)
        (model / "sub" / "a.txt").write_bytes(b"alpha")
        mv = registry.register("f", model)
        store = registry.artifacts
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "a.txt").write_bytes(b"alpha")  # same bytes: only the link is wrong
        if not isinstance(store, LocalArtifactStore):
            if isinstance(store, FsspecArtifactStore):
                return  # object stores (memory, S3) have no symbolic links to plant
            rel = "files/model/sub/a.txt"
            self.plant_link(store, mv.artifact_key, rel, outside / "a.txt")
            for call in (registry.verify, registry.load):
                with pytest.raises(IntegrityError, match="symbolic link") as info:
                    call(mv.ref)
                assert info.value.path == rel
            return
        base = store._key_path(mv.artifact_key)
        target = base / "files" / "model" / "sub"
        os.rename(target, tmp_path / "moved")
        target.symlink_to(outside, target_is_directory=True)
        for call in (registry.verify, registry.load):
            with pytest.raises(IntegrityError, match="symbolic link") as info:
                call(mv.ref)
            assert info.value.path == "files/model/sub"
        with pytest.raises(UnsafeEntry):  # each step of a read refuses links too
            store._open(mv.artifact_key, "files/model/sub/a.txt")
        target.unlink()
        os.rename(tmp_path / "moved", target)
        (target / "a.txt").unlink()
        (target / "a.txt").symlink_to(outside / "a.txt")
        with pytest.raises(IntegrityError, match="symbolic link") as info:
            registry.verify(mv.ref)
        assert info.value.path == "files/model/sub/a.txt"
        (target / "a.txt").unlink()
        (target / "a.txt").write_bytes(b"alpha")
        assert registry.verify(mv.ref).version == 1
        os.mkfifo(target / "pipe")
        with pytest.raises(IntegrityError, match="special file"):
            registry.verify(mv.ref)
        with pytest.raises(UnsafeEntry, match="special file"):  # and does not block
            store._open(mv.artifact_key, "files/model/sub/pipe")

    def test_staging_lives_in_the_store_and_leaves_nothing(
        self, registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        store = registry.artifacts
        seen: list[Path] = []
        stage = store.stage

        def watching(key: str) -> Any:
            ctx = stage(key)
            path = ctx.__enter__()
            seen.append(path)
            return _Exit(ctx, path)

        monkeypatch.setattr(store, "stage", watching)
        registry.register("m", _model())
        registry.load("m")
        registry.verify("m")
        (staged,) = seen
        assert not staged.exists()
        if isinstance(store, LocalArtifactStore):
            assert staged.is_relative_to(store.root)
            assert store.staged_keys() == []
            assert [p for p in (Path(store.root) / ".staging").rglob("*") if p.is_file()] == []
            registry.gc(scan=True)  # tidies the emptied staging directories
            assert not (Path(store.root) / ".staging").exists()
        assert list(scratch.iterdir()) in ([], [scratch / "prodml-staging"])

    def test_concurrent_registrations_and_gc_share_staging(self, registry: ModelRegistry) -> None:
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                for _ in range(4):
                    registry.register(f"w{i}", _model())
                    registry.gc(0, scan=True)
            except BaseException as err:  # noqa: BLE001 - asserted below
                errors.append(err)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert len(registry.artifacts.list_keys()) == 16
        for i in range(4):
            for v in range(1, 5):
                assert isinstance(registry.verify(f"w{i}@{v}"), ModelVersion)
        assert registry.artifacts.staged_keys() == []


class _Exit:
    """A context manager that exits ``ctx`` (already entered) when it exits."""

    def __init__(self, ctx: Any, path: Path) -> None:
        self.ctx, self.path = ctx, path

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.ctx.__exit__(*exc)
