# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""The conformance suite of artifact stores."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodml.errors import (
    ConfigError,
    IntegrityError,
    NotFoundError,
)
from prodml.registry import (
    ArtifactStore,
    ModelRegistry,
)
from prodml.registry.backends._artifact_base import new_key
from prodml.registry.backends.artifacts import FsspecArtifactStore
from prodml.registry.entities import ModelVersion
from prodml.testing.registry._artifact_trust import ArtifactTrust
from prodml.testing.registry._common import _rewrite, _schema, pytest, stored_files
from prodml.testing.registry._signed import SignedArtifactTrust


def _tamper_write(store: ArtifactStore, key: str, rel: str, data: bytes) -> None:
    if not isinstance(store, FsspecArtifactStore):
        _rewrite(store, key, rel, data)
        return
    target = store._path(key, rel)
    store.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    store.fs.pipe_file(target, data)
    store.fs.invalidate_cache()


def _tamper_delete(store: ArtifactStore, key: str, rel: str) -> None:
    if not isinstance(store, FsspecArtifactStore):
        _rewrite(store, key, rel, None)
        return
    store.fs.rm(store._path(key, rel))
    store.fs.invalidate_cache()


class ArtifactStoreConformance(ArtifactTrust, SignedArtifactTrust):
    """Behaviour every :class:`~prodml.registry.ArtifactStore` must have.

    Provide an ``artifact_store`` fixture returning a fresh, empty store. The attacks
    change stored files through the store's own primitives (``_list_files``, ``_open``,
    ``_remove``, ``_put_tree``), so any store runs the suite as it is; override the hooks
    ``tamper_write(store, key, rel, data)`` / ``tamper_delete(store, key, rel)`` when
    rewriting a whole key is not how files can be changed behind the registry's back,
    and ``plant_link(store, key, rel, target)`` to run the symbolic-link checks on a
    store that keeps files on this machine's disk.
    """

    if TYPE_CHECKING:  # the hooks' types; at run time the functions above

        @staticmethod
        def tamper_write(store: ArtifactStore, key: str, rel: str, data: bytes) -> None: ...

        @staticmethod
        def tamper_delete(store: ArtifactStore, key: str, rel: str) -> None: ...

    else:
        tamper_write = staticmethod(_tamper_write)
        tamper_delete = staticmethod(_tamper_delete)

    @pytest.fixture
    def registry(self, artifact_store: ArtifactStore) -> Any:
        reg = ModelRegistry("memory://", artifact_store, actor="alice")
        yield reg
        reg.close()

    def _sklearn_model(self) -> Any:
        import numpy as np  # noqa: PLC0415
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

        rng = np.random.default_rng(0)
        X = rng.normal(size=(40, 3))  # noqa: N806 - sklearn naming
        return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X

    def test_round_trip_prodml_object(self, registry: ModelRegistry) -> None:
        schema = _schema("x", "y")
        registry.register("s", schema)
        assert registry.load("s@1") == schema

    def test_round_trip_sklearn(self, registry: ModelRegistry) -> None:
        import numpy as np  # noqa: PLC0415

        model, X = self._sklearn_model()  # noqa: N806
        mv = registry.register("clf", model)
        assert mv.flavour == "sklearn"
        back = registry.load("clf", 1, trusted=mv.flavour_meta["format"] == "joblib")
        np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))

    def test_round_trip_pair(self, registry: ModelRegistry) -> None:
        schema = _schema("x")
        model, X = self._sklearn_model()  # noqa: N806
        mv = registry.register("pair", (schema, model))
        assert mv.flavour == "pair"
        pipe, clf = registry.load("pair", trusted=True)
        assert pipe == schema
        assert (clf.predict(X) == model.predict(X)).all()

    def test_round_trip_files(self, registry: ModelRegistry, tmp_path: Path) -> None:
        (tmp_path / "d" / "sub").mkdir(parents=True)
        (tmp_path / "d" / "a.txt").write_bytes(b"alpha")
        (tmp_path / "d" / "sub" / "b.bin").write_bytes(bytes(range(256)))
        registry.register("dir", tmp_path / "d")
        registry.register("one", tmp_path / "d" / "a.txt")
        got = registry.load("dir")
        assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()) == [
            "a.txt",
            "sub/b.bin",
        ]
        assert (got / "sub" / "b.bin").read_bytes() == bytes(range(256))
        assert registry.load("one").read_bytes() == b"alpha"
        shutil.rmtree(got.parent)

    def _stored(self, registry: ModelRegistry) -> ModelVersion:
        model, _ = self._sklearn_model()
        return registry.register("m", model)

    def _read(self, registry: ModelRegistry, mv: ModelVersion, rel: str) -> bytes:
        path, temporary = registry.artifacts.fetch(
            mv.artifact_key, mv.files, model_name=mv.name, version=mv.version
        )
        try:
            return (path / rel).read_bytes()
        finally:
            if temporary:
                shutil.rmtree(path)

    def test_swapped_file_fails_load(self, registry: ModelRegistry) -> None:
        mv = self._stored(registry)
        model, X = self._sklearn_model()  # noqa: N806
        other = registry.register("o", model.set_params(C=0.001).fit(X, X[:, 1] > 0))
        rel = next(iter(mv.files))
        assert other.files[rel] != mv.files[rel]
        self.tamper_write(
            registry.artifacts, mv.artifact_key, rel, self._read(registry, other, rel)
        )
        with pytest.raises(IntegrityError) as info:
            registry.load("m@1", trusted=True)
        assert info.value.path == rel
        assert repr(rel) in str(info.value)
        assert info.value.model_name == "m"
        assert info.value.version == 1
        assert registry.load("o@1", trusted=True).C == 0.001

    def test_truncated_file_fails_load(self, registry: ModelRegistry) -> None:
        mv = self._stored(registry)
        rel = next(iter(mv.files))
        data = self._read(registry, mv, rel)
        self.tamper_write(registry.artifacts, mv.artifact_key, rel, data[: len(data) // 2])
        with pytest.raises(IntegrityError, match="does not match"):
            registry.load("m@1", trusted=True)
        with pytest.raises(IntegrityError):
            registry.verify("m@1")

    def test_deleted_file_fails_load(self, registry: ModelRegistry) -> None:
        mv = self._stored(registry)
        rel = next(iter(mv.files))
        self.tamper_delete(registry.artifacts, mv.artifact_key, rel)
        with pytest.raises(IntegrityError, match="missing") as info:
            registry.load("m@1", trusted=True)
        assert info.value.path == rel

    def test_added_file_fails_load(self, registry: ModelRegistry) -> None:
        mv = self._stored(registry)
        self.tamper_write(registry.artifacts, mv.artifact_key, "evil.py", b"print('hi')")
        with pytest.raises(IntegrityError, match=r"evil\.py"):
            registry.load("m@1", trusted=True)

    def test_gc_removes_deleted_and_orphans(self, registry: ModelRegistry, tmp_path: Path) -> None:
        keep = registry.register("g", _schema("a"))
        gone = registry.register("g", _schema("b"))
        registry.delete("g", gone.version)
        src = tmp_path / "partial-upload"
        src.mkdir()
        (src / "f.bin").write_bytes(b"written by hand, or by an older prodml")
        old = "g/0000000001000-" + "0" * 32
        fresh = new_key("g")
        registry.artifacts.put(src, old)
        registry.artifacts.put(src, fresh)
        dry = registry.gc(3600, dry_run=True)
        assert dry.deleted_versions == [gone.artifact_key]
        assert dry.orphans == []  # unleased keys are only found by a scan
        dry = registry.gc(3600, dry_run=True, scan=True)
        assert dry.deleted_versions == [gone.artifact_key]
        assert dry.orphans == [old]
        assert dry.kept_recent == [fresh]
        assert set(registry.artifacts.list_keys()) == {
            keep.artifact_key,
            gone.artifact_key,
            old,
            fresh,
        }
        report = registry.gc(3600, scan=True)
        assert report.removed == sorted([gone.artifact_key, old])
        assert set(registry.artifacts.list_keys()) == {keep.artifact_key, fresh}
        assert registry.load("g@1") == _schema("a")
        assert registry.gc(0, scan=True).orphans == [fresh]
        assert registry.artifacts.list_keys() == [keep.artifact_key]
        assert registry.metadata.pending() == []

    def test_gc_never_touches_foreign_files(self, registry: ModelRegistry) -> None:
        keep = registry.register("g", _schema("a"))
        self.tamper_write(registry.artifacts, "g/not-a-key", "x.bin", b"someone else's")
        self.tamper_write(registry.artifacts, "other", "README.txt", b"not ours")
        assert registry.artifacts.list_keys() == [keep.artifact_key]
        assert registry.gc(0, scan=True).removed == []
        assert registry.load("g") == _schema("a")
        assert stored_files(registry.artifacts, "g/not-a-key") == {"x.bin": b"someone else's"}
        assert stored_files(registry.artifacts, "other") == {"README.txt": b"not ours"}

    def test_failed_save_leaves_nothing(self, registry: ModelRegistry, tmp_path: Path) -> None:
        with pytest.raises(ConfigError):
            registry.register("f", tmp_path / "does-not-exist")
        assert registry.artifacts.list_keys() == []
        with pytest.raises(NotFoundError):
            registry.get("f")


# --------------------------------------------------------------------------- processes
