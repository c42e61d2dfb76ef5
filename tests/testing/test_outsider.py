"""The conformance suites work in a stranger's project, and fail the stores that are wrong.

A backend author's project is written to a folder outside this repository: the online
store of docs/store.md ("Testing your own backend", taken from the page itself), an
artifact store of their own (files under a folder, named their own way), and one
deliberately broken store per fault. Plain ``pytest`` runs it in a subprocess, with
warnings as errors and no conftest, plugin or setting of ours; the good stores must
pass, and each broken one must fail on the check that names its fault.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BROKEN_ONLINE = '''
import threading
import time

from docs_store import DictOnlineStore, OnlineStoreConformance
from prodml.store.backends import StoredValue


class ReadsAnotherView(DictOnlineStore):
    """Finds a key in whichever view holds it."""

    def read(self, pairs):
        by_key = {key: r for (_, key), r in self._rows.items()}
        return [
            None if (r := self._rows.get(p, by_key.get(p[1]))) is None
            else StoredValue(r.version, r.event_us, r.payload)
            for p in pairs
        ]


class DeletesByPrefix(DictOnlineStore):
    def delete_view(self, view):
        gone = [p for p in self._rows if p[0].startswith(view)]
        for p in gone:
            del self._rows[p]
        return len(gone)


class DeletesNothing(DictOnlineStore):
    def delete_view(self, view):
        return sum(p[0] == view for p in self._rows)


class WritesRecordByRecord(DictOnlineStore):
    def write(self, view, records):
        n = 0
        for r in records:
            n += DictOnlineStore.write(self, view, [r])
            time.sleep(0.0005)  # a round trip per record: a reader comes between
        return n


class LosesUpdates(DictOnlineStore):
    """Reads the stored values, then writes in a second step: another writer may come between."""

    def write(self, view, records):
        with self._lock:
            old = {r.key: self._rows.get((view, r.key)) for r in records}
        time.sleep(0.001)  # a database round trip: another writer comes between
        new = [r for r in records if old[r.key] is None or old[r.key].version != r.version
               or (r.event_us, r.created_us) > (old[r.key].event_us, old[r.key].created_us)]
        with self._lock:
            for r in new:
                self._rows[(view, r.key)] = r
        return len(new)


def _suite(cls):
    class Suite(OnlineStoreConformance):
        @pytest.fixture
        def online_store(self):
            return cls()

    return Suite


import pytest

TestReadsAnotherView = _suite(ReadsAnotherView)
TestDeletesByPrefix = _suite(DeletesByPrefix)
TestDeletesNothing = _suite(DeletesNothing)
TestWritesRecordByRecord = _suite(WritesRecordByRecord)
TestLosesUpdates = _suite(LosesUpdates)
'''

FOLDER_STORE = '''
import shutil
from pathlib import Path

from prodml.registry import ArtifactStore
from prodml.registry.backends import register_backend
from prodml.registry.backends.artifacts import UnsafeEntry

class FolderArtifactStore(ArtifactStore):
    """Each key a folder; each file in it flat, its path's "/" written as "%2F"."""

    def __init__(self, url, *, read_only=False):
        self.root = Path(url.removeprefix("folder://"))
        self.url = url
        self.read_only = read_only
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, key):
        return self.root.joinpath(*key.split("/"))

    def _put_tree(self, src, key):
        self._dir(key).mkdir(parents=True)
        for p in sorted(src.rglob("*")):
            if p.is_file():
                name = p.relative_to(src).as_posix().replace("/", "%2F")
                shutil.copyfile(p, self._dir(key) / name)

    def _open(self, key, rel):
        path = self._dir(key) / rel.replace("/", "%2F")
        if path.is_symlink():
            raise UnsafeEntry(rel, "a symbolic link")
        return open(path, "rb")

    def _list_files(self, key):
        d = self._dir(key)
        return sorted(p.name.replace("%2F", "/") for p in d.iterdir()) if d.is_dir() else []

    def _list_keys(self):
        # Every folder two levels down; prodml keeps only the NAME/STAMP-UUID ones.
        return [f"{m.name}/{k.name}" for m in self.root.iterdir() if m.is_dir()
                for k in m.iterdir() if k.is_dir()]

    def _remove(self, key):
        shutil.rmtree(self._dir(key), ignore_errors=True)


class FollowsLinks(FolderArtifactStore):
    def _open(self, key, rel):
        return open(self._dir(key) / rel.replace("/", "%2F"), "rb")


class HidesExtraFiles(FolderArtifactStore):
    def _list_files(self, key):
        return [f for f in super()._list_files(key) if not f.endswith(".py")]


class RemovesNothing(FolderArtifactStore):
    def _remove(self, key):
        pass


register_backend("folder", FolderArtifactStore, kind="artifacts")
'''

ARTIFACTS = '''
import pytest

from folder_store import (
    FolderArtifactStore,
    FollowsLinks,
    HidesExtraFiles,
    RemovesNothing,
)
from prodml.testing.registry import ArtifactStoreConformance, ProcessConformance


def _suite(cls):
    class Suite(ArtifactStoreConformance):
        @pytest.fixture
        def artifact_store(self, tmp_path):
            return cls(f"folder://{tmp_path}/artifacts")

        @staticmethod
        def plant_link(store, key, rel, target):
            path = store._dir(key) / rel.replace("/", "%2F")
            path.unlink()
            path.symlink_to(target)

    return Suite


TestFolder = _suite(FolderArtifactStore)
TestFollowsLinks = _suite(FollowsLinks)
TestHidesExtraFiles = _suite(HidesExtraFiles)
TestRemovesNothing = _suite(RemovesNothing)


class TestNoHooks(ArtifactStoreConformance):
    """The two-line subclass: a store the suite knows nothing about."""

    @pytest.fixture
    def artifact_store(self, tmp_path):
        return FolderArtifactStore(f"folder://{tmp_path}/artifacts")


class TestFolderProcesses(ProcessConformance):
    worker_imports = ("folder_store",)  # registers folder:// in each worker process

    @pytest.fixture
    def registry_urls(self, tmp_path):
        return f"sqlite:///{tmp_path}/registry.db", f"folder://{tmp_path}/artifacts", {}
'''

# test id -> what must be in its failure message (None: it must pass).
ONLINE_GOOD = [
    "round_trip_and_missing_keys",
    "older_values_never_replace_newer_ones",
    "a_new_version_replaces_any_value",
    "one_read_of_many_pairs_keeps_their_order",
    "state_round_trip",
    "delete_view_removes_only_that_view",
    "views_and_keys_never_run_together",
    "delete_view_matches_the_name_exactly",
    "empty_calls_and_repeated_pairs",
    "writes_are_atomic_under_concurrent_writers",
    "materialize_is_incremental_and_idempotent",
]
EXPECTED: dict[str, str | None] = {
    **{f"test_docs_store.TestDictOnlineStore::test_{t}": None for t in ONLINE_GOOD},
    "test_broken_online.TestReadsAnotherView::test_round_trip_and_missing_keys": "None",
    "test_broken_online.TestReadsAnotherView::test_state_round_trip": None,
    "test_broken_online.TestDeletesByPrefix::test_delete_view_matches_the_name_exactly": "== 1",
    "test_broken_online.TestDeletesByPrefix::test_delete_view_removes_only_that_view": None,
    "test_broken_online.TestDeletesNothing::test_delete_view_removes_only_that_view": "is None",
    "test_broken_online.TestWritesRecordByRecord::"
    "test_writes_are_atomic_under_concurrent_writers": "a write is not atomic",
    "test_broken_online.TestWritesRecordByRecord::test_round_trip_and_missing_keys": None,
    "test_broken_online.TestLosesUpdates::test_writes_are_atomic_under_concurrent_writers": (
        "concurrent writes lost an update"
    ),
    "test_broken_online.TestLosesUpdates::test_a_new_version_replaces_any_value": None,
    **{
        f"test_artifacts.TestFolder::test_{t}": None
        for t in [
            "round_trip_prodml_object",
            "round_trip_files",
            "swapped_file_fails_load",
            "truncated_file_fails_load",
            "deleted_file_fails_load",
            "added_file_fails_load",
            "gc_removes_deleted_and_orphans",
            "gc_never_touches_foreign_files",
            "failed_save_leaves_nothing",
            "symlinks_in_a_stored_artifact_fail_verification",
            "hostile_manifests_never_escape",
            "signed_bucket_tampering",
        ]
    },
    "test_artifacts.TestFollowsLinks::test_symlinks_in_a_stored_artifact_fail_verification": (
        "DID NOT RAISE"
    ),
    "test_artifacts.TestHidesExtraFiles::test_added_file_fails_load": "DID NOT RAISE",
    "test_artifacts.TestRemovesNothing::test_gc_removes_deleted_and_orphans": "assert",
    "test_artifacts.TestNoHooks::test_deleted_file_fails_load": None,
    "test_artifacts.TestFolderProcesses::test_concurrent_writers_get_consecutive_numbers": None,
    "test_artifacts.TestNoHooks::test_symlinks_in_a_stored_artifact_fail_verification": (
        "skipped: override plant_link"
    ),
}


def _docs_store_block() -> str:
    page = (ROOT / "docs" / "store.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python[ \t]*\n(.*?)^```", page, re.S | re.M)
    [block] = [b for b in blocks if "class DictOnlineStore(OnlineStore)" in b]
    return block


def _outcomes(report: Path) -> dict[str, str]:
    """test id -> "passed", "skipped: MESSAGE" or "failed: MESSAGE" from a junit report."""
    out: dict[str, str] = {}
    # S314: the report was just written by our own pytest subprocess.
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314
        test_id = f"{case.get('classname')}::{case.get('name')}"
        result = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                kind = "skipped" if child.tag == "skipped" else "failed"
                result = f"{kind}: {child.get('message', '')} {child.text or ''}"
        out[test_id] = result
    return out


def test_an_outsiders_project_runs_the_suites(tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="needs the 'store' extra: pip install 'prodml[store]'")
    project = tmp_path / "their-project"
    project.mkdir()
    (project / "docs_store.py").write_text(_docs_store_block(), encoding="utf-8")
    (project / "test_docs_store.py").write_text(
        "from docs_store import TestDictOnlineStore  # noqa: F401\n", encoding="utf-8"
    )
    (project / "test_broken_online.py").write_text(textwrap.dedent(BROKEN_ONLINE))
    (project / "folder_store.py").write_text(textwrap.dedent(FOLDER_STORE))
    (project / "test_artifacts.py").write_text(textwrap.dedent(ARTIFACTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PRODML_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    selected = [f"{t.replace('.', '.py::', 1)}" for t in EXPECTED]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-q",
            f"--junitxml={tmp_path / 'report.xml'}",
            *selected,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert (tmp_path / "report.xml").exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    got = _outcomes(tmp_path / "report.xml")
    problems = []
    for test_id, needle in EXPECTED.items():
        outcome = got.get(test_id, "not run")
        if needle is None:
            ok = outcome == "passed"
        elif needle.startswith("skipped: "):
            ok = outcome.startswith("skipped") and needle.removeprefix("skipped: ") in outcome
        else:
            ok = outcome.startswith("failed") and needle in outcome
        if not ok:
            problems.append(f"{test_id}: expected {needle or 'a pass'}, got {outcome[:600]}")
    assert problems == [], "\n".join(problems) + "\n" + proc.stdout[-2000:]
    assert "warnings summary" not in proc.stdout
