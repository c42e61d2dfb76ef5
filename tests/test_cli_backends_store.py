"""``prodml store`` end to end on a local folder, DuckDB + Redis and PostgreSQL + Redis.

Each action runs in-process through ``prodml.cli.main``; its table and ``--json`` agree
with the :class:`~prodml.store.FeatureStore` API's answer. A Redis or PostgreSQL server
that cannot be reached, or refuses the login, exits 2 with one line, the password
masked, and a failed command leaves the store as it was.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pytest

from prodml.cli import main

pytest.importorskip("duckdb", reason="the store commands need the 'store' extra")

from prodml.store import Entity, FeatureStore, FeatureView

PASSWORD = "redis-canary-91b3e7f0"  # noqa: S105 - a canary: never printed
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
H = timedelta(hours=1)


@dataclass
class Store:
    """A feature store on one backend: its location on a command line, and the API's."""

    args: list[str]
    offline: str
    online: str

    def open(self) -> FeatureStore:
        return FeatureStore(self.offline, self.online)

    def read(self) -> tuple[dict[str, str], dict[str, datetime]]:
        """What a command could change: the views (by fingerprint) and watermarks."""
        with self.open() as fs:
            return {n: v.fingerprint for n, v in fs.views.items()}, fs.watermarks()


@pytest.fixture(params=["folder", "duckdb-redis", "postgres-redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Store, Path]:
    """A store with one source written (spend of users 1 and 2), and its definitions file."""
    if request.param == "folder":
        root = tmp_path / "fs"
        FeatureStore.local(root).close()
        where = Store([str(root)], f"duckdb://{root}", f"sqlite:///{root / 'online.db'}")
    else:
        offline = (
            f"duckdb://{tmp_path / 'offline'}"
            if request.param == "duckdb-redis"
            else request.getfixturevalue("postgres_url")
        )
        online = request.getfixturevalue("redis_url")
        where = Store(["--offline", offline, "--online", online], offline, online)
    with where.open() as fs:
        rows = pa.table({"user_id": [1, 2], "event_at": [T0, T0 + H], "spend": [3.0, 4.0]})
        source = fs.offline_store.write_source("spend", rows, timestamp="event_at")
    user = Entity("user", keys=["user_id"])
    view = FeatureView("spend", entity=user, source=source, features=["spend"])
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps([user.to_dict(), view.to_dict()]))
    return where, defs


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    return code, out, err


def fails(argv: list[str], capsys: pytest.CaptureFixture[str], fragment: str) -> str:
    code, out, err = cli(argv, capsys)
    assert (code, out) == (2, ""), (code, out, err)
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert fragment in err, err
    return err


def test_every_action_agrees_with_the_api(
    store: tuple[Store, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    where, defs = store
    code, out, _ = cli(["store", "apply", *where.args, "--file", str(defs), "--json"], capsys)
    assert (code, json.loads(out)) == (0, {"user": "created", "spend": "created"})
    code, out, _ = cli(["store", "apply", *where.args, "--file", str(defs)], capsys)
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["name", "status"],
        ["user", "unchanged"],
        ["spend", "unchanged"],
    ]
    end = T0 + 2 * H
    argv = ["store", "materialize", *where.args, "--end", end.isoformat(), "--json"]
    code, out, _ = cli(argv, capsys)
    [run] = json.loads(out)
    assert (code, run["view"], run["entities"], run["written"]) == (0, "spend", 2, 2)
    views, marks = where.read()
    assert marks == {"spend": end}
    code, out, _ = cli(["store", "views", *where.args, "--json"], capsys)
    assert code == 0
    assert json.loads(out) == [
        {
            "view": "spend",
            "entity": "user",
            "features": 1,
            "ttl": "-",
            "fingerprint": views["spend"][:12],
            "materialized to": end.isoformat(),
        }
    ]
    code, out, _ = cli(["store", "views", *where.args], capsys)
    assert code == 0
    assert out.splitlines()[1].split() == [
        "spend",
        "user",
        "1",
        "-",
        views["spend"][:12],
        end.isoformat(),
    ]
    with where.open() as fs:
        row = fs.online({"user_id": 2}, ["spend:spend"])
        expected = {"values": dict(row), "missing": list(row.missing)}
    argv = [
        "store",
        "online",
        *where.args,
        "--entity",
        '{"user_id": 2}',
        "--feature",
        "spend:spend",
    ]
    code, out, _ = cli(argv, capsys)
    assert (code, json.loads(out)) == (0, expected)
    assert expected == {"values": {"spend": 4.0}, "missing": []}


def test_failures_exit_2_and_change_nothing(
    store: tuple[Store, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    where, defs = store
    assert main(["store", "apply", *where.args, "--file", str(defs)]) == 0
    before = where.read()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "v", "entity": "nobody", "features": ["spend"]}]))
    entity = ["--entity", '{"user_id": 2}']
    for argv, fragment in [
        (["store", "online", *where.args, *entity, "--feature", "spend:nope"], "no feature 'nope'"),
        (["store", "online", *where.args, *entity, "--feature", "nope:spend"], "'nope'"),
        (["store", "materialize", *where.args, "--view", "nope"], "'nope'"),
        (["store", "apply", *where.args, "--file", str(bad)], "format_version"),
    ]:
        fails(argv, capsys, fragment)
    assert where.read() == before


def test_redis_unreachable_or_refusing_the_login(
    redis_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An unreachable Redis was a traceback, exit 1; a refused login too."""
    server = urlsplit(redis_url).netloc.rpartition("@")[2]  # host:port
    closed = f"redis://:{PASSWORD}@127.0.0.1:1/0"
    refused = f"redis://nobody:{PASSWORD}@{server}/0"
    offline = f"duckdb://{tmp_path / 'offline'}"
    fragments = [
        (closed, "cannot reach the Redis online store redis://:***@127.0.0.1:1/0: Error 111"),
        (refused, "cannot reach the Redis online store redis://nobody:***@"),
        (refused, "invalid username"),
    ]
    for online, fragment in fragments:
        where = ["--offline", offline, "--online", online]
        fails(["store", "views", *where], capsys, fragment)
        fails(["store", "materialize", *where], capsys, fragment)
        fails(
            ["store", "online", *where, "--entity", "{}", "--feature", "spend:spend"],
            capsys,
            fragment,
        )


def test_postgres_offline_store_unreachable(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    offline = f"postgresql+psycopg://ann:{PASSWORD}@127.0.0.1:1/features"
    err = fails(["store", "views", "--offline", offline, "--online", redis_url], capsys, "refused")
    assert "ann:***@" in err


def test_api_unreachable_redis_is_a_prodml_error() -> None:
    """Was redis-py's ConnectionError, raw, through the API."""
    import redis

    from prodml.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot reach the Redis online store") as caught:
        FeatureStore("duckdb://", f"redis://:{PASSWORD}@127.0.0.1:1/0").views  # noqa: B018
    assert "redis://:***@127.0.0.1:1/0" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert caught.value.parameter == "url"
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own (a password required), to stop mid-test."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("needs redis-server on PATH (the 'redis' extra's server)")
    with socket.socket() as s:  # a free port; the server binds it just after
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--requirepass", PASSWORD, "--dir", str(tmp_path)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.025)
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}/0", proc
    finally:
        proc.kill()
        proc.wait()


def test_api_redis_stopping_mid_use_is_a_prodml_error_every_call(
    throwaway_redis: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Connected, then the server goes: every online store call says so, password masked."""
    import redis

    from prodml.errors import ConfigError
    from prodml.store.online import OnlineRecord

    url, server = throwaway_redis
    with FeatureStore(f"duckdb://{tmp_path / 'offline'}", url) as fs:
        rows = pa.table({"user_id": [1], "event_at": [T0], "spend": [3.0]})
        source = fs.offline_store.write_source("spend", rows, timestamp="event_at")
        user = Entity("user", keys=["user_id"])
        fs.apply([user, FeatureView("spend", entity=user, source=source, features=["spend"])])
        fs.materialize(T0 + H)
        assert fs.online({"user_id": 1}, ["spend:spend"])["spend"] == 3.0
        server.kill()
        server.wait()
        online = fs.online_store
        calls = [
            lambda: fs.online({"user_id": 1}, ["spend:spend"]),
            lambda: fs.materialize(T0 + 2 * H),
            lambda: online.read([("spend", "1")]),
            lambda: online.write("spend", [OnlineRecord("1", "v", 0, 0, "[1.0]")]),
            lambda: online.get_state("x"),
            lambda: online.set_state("x", "y"),
            lambda: online.delete_view("spend"),
        ]
        for call in calls:
            with pytest.raises(ConfigError, match="cannot reach the Redis online store") as e:
                call()
            assert PASSWORD not in str(e.value)
            assert ":***@127.0.0.1:" in str(e.value)
            assert isinstance(e.value.__cause__, redis.ConnectionError)


def test_materialize_table_shows_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "fs"
    with FeatureStore.local(root) as fs:
        rows = pa.table({"user_id": [1], "event_at": [T0], "spend": [3.0]})
        source = fs.offline_store.write_source("spend", rows, timestamp="event_at")
        user = Entity("user", keys=["user_id"])
        fs.apply([user, FeatureView("spend", entity=user, source=source, features=["spend"])])
    end = ["--end", (T0 + H).isoformat()]
    code = main(["store", "materialize", str(root), *end])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["view", "start", "end", "entities", "written", "at"]
    *row, at = lines[1].split()
    assert row == ["spend", "beginning", "2024-01-01T01:00:00+00:00", "1", "1"]
    assert datetime.fromisoformat(at).utcoffset() == timedelta(0)
    # A second run starts where the first stopped; --json keeps the raw microseconds.
    end = ["--end", (T0 + 2 * H).isoformat(), "--json"]
    assert main(["store", "materialize", str(root), *end]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["start_us"] == int((T0 + H).timestamp()) * 1_000_000
    assert run["end_us"] == int((T0 + 2 * H).timestamp()) * 1_000_000
    assert isinstance(run["at_us"], int)
