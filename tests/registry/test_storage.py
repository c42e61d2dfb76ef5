"""OS-level failures are StorageErrors naming path and cause, and leave the store as it was.

Real failures, not mocks: a file size limit (``RLIMIT_FSIZE`` in a child process), a full
disk (a 1 MiB tmpfs), a read-only location (a read-only bind mount) and a permission
denied (a directory without write permission, checked in a user namespace where the
process has no capability to override it, so the test holds when run as root too). The
mounts are made inside ``unshare --user --mount`` namespaces, which need no privileges;
where the kernel forbids user namespaces those tests skip, saying so.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from prodml.errors import ConfigError, RegistryError, StorageError
from prodml.registry import ModelRegistry
from prodml.schema import Column, Schema

MODEL = Schema([Column("x", "float")])

# Run in the child: what the store looks like, to compare before and after a failure.
STATE = """
def state(reg):
    from pathlib import Path
    staging = Path(reg.artifacts.root, ".staging")
    return {
        "versions": [mv.ref for mv in reg.search(page_size=1000)],
        "keys": reg.artifacts.list_keys(),
        "pending": [p.key for p in reg.metadata.pending()],
        "staging": sorted(str(p) for p in staging.rglob("*") if p.is_file()),
        "events": len(reg.history("m")),
    }
"""


def _unshare(*flags: str) -> list[str]:
    exe = shutil.which("unshare")
    if exe is None:
        pytest.skip("needs util-linux `unshare` to make user and mount namespaces")
    probe = subprocess.run([exe, *flags, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"the kernel refuses unprivileged user namespaces ({probe.stderr!r})")
    return [exe, *flags]


def _child(code: str, *, prefix: list[str] | None = None, shell: str = "") -> dict[str, Any]:
    """Run ``code`` in a fresh Python (after ``shell`` commands); its last stdout line is JSON."""
    with tempfile.TemporaryDirectory(prefix="prodml-child-") as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(STATE + textwrap.dedent(code), encoding="utf-8")
        python = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
        argv = [*(prefix or []), "sh", "-ec", f"{shell}\n{python}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _seed(root: Path) -> dict[str, Any]:
    reg = ModelRegistry.local(root, actor="seed")
    mv = reg.register("m", MODEL)
    reg.set_alias("m", "prod", mv.version)
    reg.close()  # checkpoints the WAL, so the database is one file
    return {"versions": ["m@1"], "keys": [mv.artifact_key], "pending": [], "staging": []}


FAILING_REGISTER = """
import errno, json, os, resource, signal, sys
from pathlib import Path
from prodml.errors import StorageError
from prodml.registry import ModelRegistry
root, payload = Path({root!r}), {payload!r}
big = Path(payload)
reg = ModelRegistry.local(root)
before = state(reg)
{setup}
try:
    reg.register("m", big)
except StorageError as err:
    failure = {{"type": "StorageError", "errno": err.errno, "path": err.path, "msg": str(err)}}
else:
    failure = {{"type": None}}
{teardown}
after = state(reg)
small = reg.register("m", reg.load("m@1")).version
print(json.dumps({{"failure": failure, "before": before, "after": after, "small": small}}))
"""


def _big_file(tmp_path: Path, mib: int) -> Path:
    big = tmp_path / "weights.bin"
    big.write_bytes(b"\x7f" * (mib << 20))
    return big


def _check_untouched(result: dict[str, Any], errno_name: str, expected: dict[str, Any]) -> None:
    import errno

    failure = result["failure"]
    assert failure["type"] == "StorageError", failure
    assert failure["errno"] == getattr(errno, errno_name), failure
    assert failure["path"], failure
    assert failure["path"] in failure["msg"]
    after = {k: v for k, v in result["after"].items() if k != "events"}
    assert after == expected
    assert result["after"]["events"] == result["before"]["events"]
    assert result["small"] == 2  # the store still works once there is room


def test_file_size_limit(tmp_path: Path) -> None:
    expected = _seed(tmp_path / "reg")
    code = FAILING_REGISTER.format(
        root=str(tmp_path / "reg"),
        payload=str(_big_file(tmp_path, 4)),
        setup="signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))",
        teardown="resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)",
    )
    result = _child(code)
    _check_untouched(result, "EFBIG", expected)
    assert "File too large" in result["failure"]["msg"]


def test_disk_full(tmp_path: Path) -> None:
    prefix = _unshare("--user", "--map-root-user", "--mount")
    root = tmp_path / "reg"
    expected = _seed(root)
    art = root / "artifacts"
    kept = tmp_path / "kept"
    shutil.copytree(art, kept)
    code = FAILING_REGISTER.format(
        root=str(root), payload=str(_big_file(tmp_path, 4)), setup="", teardown=""
    )
    shell = f"mount -t tmpfs -o size=1m tmpfs {art}\ncp -a {kept}/. {art}/"
    result = _child(code, prefix=prefix, shell=shell)
    _check_untouched(result, "ENOSPC", expected)
    assert "No space left" in result["failure"]["msg"]


def test_permission_denied(tmp_path: Path) -> None:
    prefix = _unshare("--user")  # no root mapping: no capability overrides file modes
    root = tmp_path / "reg"
    expected = _seed(root)
    dirs = [root / "artifacts", *(p for p in (root / "artifacts").rglob("*") if p.is_dir())]
    for d in dirs:
        d.chmod(0o555)
    try:
        code = FAILING_REGISTER.format(
            root=str(root),
            payload=str(_big_file(tmp_path, 1)),
            setup="",
            teardown="\n".join(f"os.chmod({str(d)!r}, 0o755)" for d in dirs),
        )
        result = _child(code, prefix=prefix)
    finally:
        for d in dirs:
            d.chmod(0o755)
    _check_untouched(result, "EACCES", expected)
    assert "Permission denied" in result["failure"]["msg"]


def test_read_only_location_opens_for_reading(tmp_path: Path) -> None:
    prefix = _unshare("--user", "--map-root-user", "--mount")
    root = tmp_path / "reg"
    _seed(root)
    files = sorted(p.name for p in root.iterdir())
    code = f"""
    import json
    from prodml.errors import RegistryError
    from prodml.registry import ModelRegistry
    out = {{}}
    for explicit in (False, True):
        reg = ModelRegistry.local({str(root)!r}, read_only=explicit)
        out[str(explicit)] = {{
            "read_only": reg.read_only,
            "get": reg.get("m@prod").version,
            "load": reg.load("m@prod").to_json(),
            "verify": reg.verify("m@1").ref,
            "search": [mv.ref for mv in reg.search("m")],
            "history": [e.action for e in reg.history("m")],
            "gc": reg.gc(dry_run=True).removed,
        }}
        refused = []
        for write in (
            lambda: reg.register("m", reg.load("m@1")),
            lambda: reg.set_alias("m", "prod", 1),
            lambda: reg.archive("m", 1),
            lambda: reg.gc(),
        ):
            try:
                write()
            except RegistryError as err:
                refused.append("read-only" in str(err))
        out[str(explicit)]["refused"] = refused
        reg.close()
    print(json.dumps(out))
    """
    shell = (
        f"mount --bind {root} {root}\nmount -o remount,bind,ro {root}\n"
        f"if touch {root}/probe 2>/dev/null; then exit 9; fi"
    )
    result = _child(code, prefix=prefix, shell=shell)
    for explicit in ("False", "True"):
        got = result[explicit]
        assert got["read_only"] is True
        assert (got["get"], got["verify"], got["search"]) == (1, "m@1", ["m@1"])
        assert Schema.from_json(got["load"]) == MODEL
        assert got["history"] == ["set_alias", "register"]
        assert got["gc"] == []
        assert got["refused"] == [True] * 4
    assert sorted(p.name for p in root.iterdir()) == files  # not even a lock file


def test_explicit_read_only_on_a_writable_sqlite(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    _seed(root)
    writer = ModelRegistry.local(root)
    reader = ModelRegistry.local(root, read_only=True)
    writer.register("m", MODEL)  # a writer keeps working beside a read-only reader
    assert reader.get("m").version == 2
    with pytest.raises(RegistryError, match="read-only"):
        reader.register("m", MODEL)
    writer.close()
    reader.close()


def test_paths_that_are_files(tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("not a directory")
    with pytest.raises(StorageError, match="not a directory") as info:
        ModelRegistry(f"sqlite:///{tmp_path}/r.db", afile.as_uri())
    assert info.value.path == str(afile)
    with pytest.raises(StorageError, match=r"directory '.*a-file': it is a file, not a folder"):
        ModelRegistry.local(afile)
    (tmp_path / "db-dir").mkdir()
    with pytest.raises(StorageError, match="is a directory"):
        ModelRegistry(f"sqlite:///{tmp_path}/db-dir", (tmp_path / "art").as_uri())
    assert not (tmp_path / "r.db").exists()


def test_missing_or_emptied_database_next_to_artifacts(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    _seed(root)
    db = root / "registry.db"
    db.rename(tmp_path / "moved.db")
    with pytest.raises(RegistryError, match="holds no registry") as info:
        ModelRegistry.local(root)
    assert "model files" in str(info.value)
    assert not db.exists()  # nothing was created
    db.touch()
    with pytest.raises(RegistryError, match="zero-length"):
        ModelRegistry.local(root)
    assert db.stat().st_size == 0
    (tmp_path / "moved.db").replace(db)
    reg = ModelRegistry.local(root)
    assert reg.load("m@prod") == MODEL
    reg.close()


def test_a_new_registry_still_starts_empty(tmp_path: Path) -> None:
    reg = ModelRegistry.local(tmp_path / "fresh")
    assert reg.models() == []
    assert reg.register("m", MODEL).version == 1
    reg.close()


def test_flavour_errors_keep_their_type(tmp_path: Path) -> None:
    reg = ModelRegistry.local(tmp_path / "reg")
    with pytest.raises(ConfigError, match="no such file"):
        reg.register("m", tmp_path / "missing.bin")
    assert reg.artifacts.list_keys() == []
    assert reg.metadata.pending() == []
    reg.close()


def test_list_keys_keeps_only_artifact_keys_whatever_the_backend_lists(tmp_path: Path) -> None:
    """A backend's ``_list_keys`` may list foreign entries; ``list_keys`` (and so gc) never
    sees them, so an outside store does not have to copy the key pattern to be safe."""
    from prodml.registry.backends.artifacts import LocalArtifactStore

    class ListsEverything(LocalArtifactStore):
        def _list_keys(self) -> list[str]:
            return [*super()._list_keys(), "other/README", "g/not-a-key", "../x", "", "g/1-ab"]

    store = ListsEverything(f"file://{tmp_path}/artifacts")
    reg = ModelRegistry.local(tmp_path / "reg")
    reg = ModelRegistry(reg.metadata, store)
    v = reg.register("g", Schema([Column("a", "float")]))
    assert store.list_keys() == [v.artifact_key]
    assert reg.gc(0, scan=True).removed == []
    assert reg.load("g") == Schema([Column("a", "float")])


def test_a_postgres_registry_survives_the_server_dropping_its_connections(
    postgres_url: str, tmp_path: Path
) -> None:
    """After a restart or failover, the next call gets a fresh connection (pool pre-ping).

    Without it, the first call after the drop failed (a pooled connection the server had
    closed), the second one worked.
    """
    import sqlalchemy as sa

    reg = ModelRegistry(postgres_url, tmp_path.as_uri())
    try:
        reg.register("churn", Schema([Column("x", "float")]))
        with reg.metadata._engine.connect() as conn:  # type: ignore[attr-defined]
            mine = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        admin = sa.create_engine(postgres_url)
        with admin.connect() as conn:
            dropped = conn.exec_driver_sql(
                "SELECT pg_terminate_backend(%(pid)s)", {"pid": mine}
            ).scalar()
        admin.dispose()
        assert dropped is True
        assert reg.get("churn").version == 1  # on a new connection, first try
        assert reg.register("churn", Schema([Column("x", "float")])).version == 2
    finally:
        reg.close()
