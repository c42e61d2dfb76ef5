"""Every ``prodml registry`` / ``score`` command end to end, on each kind of registry.

The same registry (churn v1, v2 with production -> v1, and fraud v1) is built through the
Python API on (a) a local folder, (b) SQLite + file artifacts and (c) PostgreSQL + S3
(moto), and each command is run in-process through ``prodml.cli.main``: exit codes,
stdout (the table and ``--json`` both agree with the API's answer) and stderr (one line,
a reason, never a credential). The PostgreSQL URL carries a password (the test server
trusts its clients, so any password connects) and AWS_SECRET_ACCESS_KEY holds a canary:
neither may appear in anything the command prints.

Bad input per backend (closed port, unknown role, missing bucket, unreachable or
credential-less S3, a read-only database role, a model or alias that does not exist, a
registry that does not exist) exits 2 with one line and leaves the registry as it was.
``prodml serve`` runs in a subprocess on the PostgreSQL + S3 registry for one HTTP round
trip and a SIGTERM. The store commands on Redis are in tests/test_cli_backends_store.py.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from prodml.cli import main
from prodml.features import FeaturePipeline, steps
from prodml.registry import ModelRegistry
from prodml.testing.registry import service_url

PASSWORD = "pw-canary-7f3a91c2"  # noqa: S105 - a canary, in every PostgreSQL URL given
S3_SECRET = "s3-secret-canary-5d21c8e4"  # noqa: S105 - a canary: AWS_SECRET_ACCESS_KEY
CANARIES = (PASSWORD, S3_SECRET)
BUCKET = "prodml-test"
POSTGRES_HINT = "start PostgreSQL, e.g. `source .ci/services.sh`"
S3_HINT = "run moto_server (pip install 'moto[server]'), e.g. `source .ci/services.sh`"


# ----------------------------------------------------------------- services


def with_password(url: str, password: str = PASSWORD) -> str:
    """``url`` with ``password`` (the server trusts its clients: it connects all the same)."""
    import sqlalchemy as sa

    return sa.make_url(url).set(password=password).render_as_string(hide_password=False)


@dataclass
class Postgres:
    base: str
    schemas: list[str]
    roles: list[str]

    def schema(self) -> str:
        """A new empty schema; the URL (with the canary password) that searches it."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._sql(f'CREATE SCHEMA "{name}"')
        self.schemas.append(name)
        return f"{with_password(self.base)}?options=-csearch_path%3D{name}"

    def read_only_role(self, url: str) -> str:
        """``url`` as a new role that may read the registry's tables, not write them."""
        schema = url.rsplit("%3D", 1)[1]
        role = f"ro_{uuid.uuid4().hex[:10]}"
        self._sql(f'CREATE ROLE "{role}" LOGIN')
        self.roles.append(role)
        self._sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        self._sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        import sqlalchemy as sa

        base = sa.make_url(self.base).set(username=role, password=PASSWORD)
        return f"{base.render_as_string(hide_password=False)}?options=-csearch_path%3D{schema}"

    def tables(self, url: str) -> list[str]:
        schema = url.rsplit("%3D", 1)[1]
        import sqlalchemy as sa

        engine = sa.create_engine(self.base)
        try:
            return sorted(sa.inspect(engine).get_table_names(schema=schema))
        finally:
            engine.dispose()

    def _sql(self, statement: str) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.base)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(statement)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """Fresh schemas (and roles) on the test server, dropped after the module's tests."""
    base = service_url("PRODML_TEST_POSTGRES_URL", POSTGRES_HINT, extra=("psycopg", "postgres"))
    pg = Postgres(base, [], [])
    try:
        yield pg
    finally:
        for schema in pg.schemas:
            pg._sql(f'DROP SCHEMA "{schema}" CASCADE')
        for role in pg.roles:  # after the schemas: their grants went with them
            pg._sql(f'DROP ROLE "{role}"')


def clear_s3_clients() -> None:
    """s3fs reuses a filesystem per set of arguments: a new one reads the environment."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """S3 configured as a cron job configures it, in the environment; returns the endpoint.

    One attempt per request (AWS_MAX_ATTEMPTS=1), so a server that cannot be reached
    fails in milliseconds, and no credential or config file but the environment's.
    """
    endpoint = service_url("PRODML_TEST_S3_ENDPOINT", S3_HINT, extra=("s3fs", "s3"))
    nothing = tmp_path_factory.mktemp("no-aws")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(nothing / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(nothing / "credentials"),
        }.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        clear_s3_clients()
        import s3fs

        with contextlib.suppress(OSError):  # made by an earlier test or another xdist worker
            s3fs.S3FileSystem().mkdir(BUCKET)
        yield endpoint
    clear_s3_clients()


@pytest.fixture
def s3(s3_env: str) -> str:
    """A new prefix in the test bucket."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex}"


# ----------------------------------------------------------------- the registry


@pytest.fixture(scope="module")
def model() -> tuple[Any, Any, pd.DataFrame]:
    """A tiny (pipeline, model) pair and the input it scores."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(0, 1, 300), "c": rng.choice(["a", "b"], 300)})
    pipe = FeaturePipeline([steps.StandardScale(["x"]), steps.OneHot(["c"])]).fit(df)
    lr = LogisticRegression().fit(pipe.transform(df), (df.x > 0).astype(int))
    return pipe, lr, df


@dataclass
class Where:
    """A registry on one backend: its location on a command line and through the API."""

    kind: str
    args: list[str]
    open: Callable[..., ModelRegistry]

    def read(self) -> dict[str, Any]:
        """Everything a command could change: versions, aliases, audit events."""
        with self.open(read_only=True) as reg:
            state: dict[str, Any] = {}
            for name in reg.models():
                versions = [
                    (mv.version, mv.status, sorted(mv.tags.items()))
                    for mv in reg.search(name, page_size=1000)
                ]
                events = [(e.seq, e.action) for e in reg.history(name, page_size=1000)]
                state[name] = (versions, reg.aliases(name), events)
            return state


def fill(reg: ModelRegistry, model: tuple[Any, Any, pd.DataFrame]) -> None:
    pipe, lr, _ = model
    reg.register("churn", (pipe, lr), metrics={"auc": 0.8}, tags={"team": "risk"})
    reg.register("churn", (pipe, lr), metrics={"auc": 0.9})
    reg.set_alias("churn", "production", 1)
    reg.register("fraud", (pipe, lr))


def _where(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Where:
    if kind == "folder":
        folder = str(tmp_path / "reg")
        return Where(kind, [folder], lambda **kw: ModelRegistry.local(folder, **kw))
    if kind == "sqlite":
        db, art = f"sqlite:///{tmp_path / 'meta.db'}", (tmp_path / "artifacts").as_uri()
    else:
        request.getfixturevalue("s3_env")
        db = request.getfixturevalue("postgres").schema()
        art = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    return Where(kind, ["--db", db, "--artifacts", art], lambda **kw: ModelRegistry(db, art, **kw))


BACKENDS = ["folder", "sqlite", "postgres-s3"]


@pytest.fixture(scope="module", params=BACKENDS)
def where(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    model: tuple[Any, Any, pd.DataFrame],
) -> Where:
    """The registry on each backend, shared by the tests that leave it as it was."""
    if request.param == "postgres-s3":
        pg_s3: Where = request.getfixturevalue("pg_s3")  # built once for the module
        return pg_s3
    w = _where(request.param, tmp_path_factory.mktemp("reg"), request)
    with w.open() as reg:
        fill(reg, model)
    return w


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path, model: Any) -> Where:
    """The registry on each backend, for a test that changes it."""
    w = _where(request.param, tmp_path, request)
    with w.open() as reg:
        fill(reg, model)
    return w


@pytest.fixture(scope="module")
def pg_s3(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: Any
) -> Where:
    w = _where("postgres-s3", tmp_path_factory.mktemp("reg"), request)
    with w.open() as reg:
        fill(reg, model)
    return w


# ----------------------------------------------------------------- running the command


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``prodml ARGV`` in-process: (exit code, stdout, stderr), with no canary in them."""
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    for canary in CANARIES:
        assert canary not in out, out
        assert canary not in err, err
    return code, out, err


def fails(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    """``prodml ARGV`` exits 2 with one line on stderr holding every fragment, nothing else."""
    code, out, err = cli(argv, capsys)
    assert (code, out) == (2, ""), (code, out, err)
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


# ----------------------------------------------------------------- reading


def test_lists_models_as_the_api_does(where: Where, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["registry", *where.args, "--json"], capsys)
    assert code == 0
    with where.open(read_only=True) as reg:
        expected = [
            {
                "model": n,
                "latest": reg.get(n, "latest").version,
                "aliases": reg.aliases(n),
                # Nothing archived here: the newest version is the latest ready one.
                "newest": reg.get(n, "latest").version,
                "newest_status": "ready",
            }
            for n in reg.models()
        ]
    assert json.loads(out) == expected
    assert [r["model"] for r in expected] == ["churn", "fraud"]
    code, out, _ = cli(["registry", *where.args], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["model", "latest", "ready", "newest", "aliases"]
    assert [line.split() for line in lines[1:]] == [
        ["churn", "2", "2", "production->v1"],
        ["fraud", "1", "1"],
    ]


def test_lists_a_models_versions_as_the_api_does(
    where: Where, capsys: pytest.CaptureFixture[str]
) -> None:
    """``prodml registry --db URL --artifacts URL churn`` listed every model, exit 0: with
    --db given, the one positional (MODEL) was taken for PATH and dropped, so an unknown
    model exited 0 too."""
    code, out, _ = cli(["registry", *where.args, "churn", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    with where.open(read_only=True) as reg:
        api = list(reg.search("churn"))
    assert [(r["version"], r["metrics"], r["tags"]) for r in rows] == [
        (mv.version, mv.metrics, mv.tags) for mv in api
    ]
    assert [(r["version"], r["aliases"]) for r in rows] == [(2, []), (1, ["production"])]
    code, out, _ = cli(["registry", *where.args, "churn"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["version", "status", "aliases"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["2", "ready", mv_created(api[0])],
        ["1", "ready", "production"],
    ]
    fails(["registry", *where.args, "nope"], capsys, "'nope'")


def mv_created(mv: Any) -> str:
    return str(mv.created_at.isoformat(timespec="seconds"))


@pytest.mark.parametrize("fmt", ["markdown", "json", "html"])
def test_card_is_the_apis_card(
    where: Where, fmt: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = cli(
        ["registry", "card", *where.args, "churn@production", "--format", fmt], capsys
    )
    assert code == 0
    with where.open(read_only=True) as reg:
        card = reg.card("churn@production")
    if fmt == "json":
        got, want = json.loads(out), json.loads(card.to_json())
        assert got["model"] == want["model"]
        assert got["model"]["ref"] == "churn@1"
    elif fmt == "markdown":
        assert out.splitlines()[0] == card.to_markdown().splitlines()[0] == "# Model card: churn@1"
    else:
        assert out.lstrip().lower().startswith("<!doctype html>")
    target = tmp_path / f"card.{fmt}"
    code, out, _ = cli(
        ["registry", "card", *where.args, "churn@1", "--format", fmt, "--out", str(target)],
        capsys,
    )
    assert code == 0
    assert out == f"model card of churn@1: {target}\n"
    assert target.stat().st_size > 0


def test_prune_history_counts_then_prunes_as_the_api_does(
    fresh: Where, capsys: pytest.CaptureFixture[str]
) -> None:
    where = fresh
    before = where.read()
    with where.open(read_only=True) as reg:
        expected = reg.prune_history("churn", keep=1, dry_run=True)
    assert expected == len(before["churn"][2]) - 1 > 0
    argv = ["registry", "prune-history", *where.args, "churn", "--keep", "1"]
    code, out, _ = cli([*argv, "--dry-run"], capsys)
    assert (code, out) == (0, f"churn: would remove {expected} audit event(s)\n")
    assert where.read() == before
    code, out, _ = cli(argv, capsys)
    assert (code, out) == (0, f"churn: removed {expected} audit event(s)\n")
    after = where.read()
    assert after["churn"][:2] == before["churn"][:2]  # versions and aliases as they were
    assert after["fraud"] == before["fraud"]
    assert [a for _, a in after["churn"][2]].count("prune_history") == 1


def test_score_uses_the_aliased_version(
    where: Where,
    model: tuple[Any, Any, pd.DataFrame],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    pipe, lr, df = model
    df.to_parquet(tmp_path / "in.parquet")
    out_dir = tmp_path / "scored"
    argv = ["score", "churn@production", str(tmp_path / "in.parquet"), str(out_dir)]
    code, out, _ = cli([*argv, *score_args(where), "--json", "-q"], capsys)
    assert code == 0
    report = json.loads(out)
    assert (report["rows"], report["model"], report["version"]) == (300, "churn", 1)
    scored = pq.read_table(out_dir).column("prediction").to_numpy()
    np.testing.assert_allclose(scored, lr.predict_proba(pipe.transform(df))[:, 1])
    code, out, _ = cli([*argv, *score_args(where), "-q"], capsys)  # resumes: nothing to do
    assert code == 0
    assert out.startswith("scored 300 rows with churn version 1 into ")
    assert "(0 parts written, 1 kept from before)" in out


def score_args(where: Where) -> list[str]:
    """``serve`` and ``score`` name a local registry with --registry, not a positional."""
    return ["--registry", where.args[0]] if where.kind == "folder" else where.args


# ----------------------------------------------------------------- bad input


def test_what_does_not_exist_exits_2_and_changes_nothing(
    where: Where, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = where.read()
    (tmp_path / "in.parquet").write_bytes(pq_bytes())
    score = ["score", "churn@canary", str(tmp_path / "in.parquet"), str(tmp_path / "o")]
    for argv, fragment in [
        (["registry", *where.args, "nope"], "'nope'"),
        (["registry", "card", *where.args, "nope@1"], "'nope'"),
        (["registry", "card", *where.args, "churn@9"], "no version 9"),
        (["registry", "card", *where.args, "churn@canary"], "no alias 'canary'"),
        (["registry", "prune-history", *where.args, "nope", "--keep", "0"], "'nope'"),
        (["registry", "prune-history", *where.args, "nope", "--keep", "0", "--dry-run"], "'nope'"),
        (["registry", "prune-history", *where.args, "churn", "--keep", "-1"], "--keep"),
        ([*score, *score_args(where)], "no alias 'canary'"),
        (["serve", "churn@canary", *score_args(where)], "no alias 'canary'"),
    ]:
        fails(argv, capsys, fragment)
    assert where.read() == before


def pq_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    pd.DataFrame({"x": [0.5], "c": ["a"]}).to_parquet(buf)
    return buf.getvalue()


def test_a_folder_and_a_database_at_once_is_refused(
    where: Where, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``--registry PATH --db URL``: the folder was dropped without a word."""
    db = ["--db", f"sqlite:///{tmp_path / 'other.db'}", "--artifacts", tmp_path.as_uri()]
    fails(["registry", "card", str(tmp_path), "churn@1", *db], capsys, "not both")
    fails(["serve", "churn@1", "--registry", str(tmp_path), *db], capsys, "not both")


def test_a_write_command_creates_no_registry(
    postgres: Postgres, s3: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """prune-history opened the registry read-write, which created the tables in an empty
    database (or the SQLite file and artifacts folder) before failing on the model."""
    url = postgres.schema()
    argv = ["registry", "prune-history", "churn", "--keep", "0"]
    fails([*argv, "--db", url, "--artifacts", s3], capsys, "no prodml registry in")
    fails(["registry", "--db", url, "--artifacts", s3], capsys, "no prodml registry in")
    fails(["serve", "churn@1", "--db", url, "--artifacts", s3], capsys, "no prodml registry in")
    assert postgres.tables(url) == []
    db, art = tmp_path / "new" / "r.db", tmp_path / "new" / "art"
    fails([*argv, "--db", f"sqlite:///{db}", "--artifacts", art.as_uri()], capsys, "r.db")
    assert not (tmp_path / "new").exists()


def test_unreachable_or_refusing_database(
    pg_s3: Where, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Closed port and unknown role (the test server trusts every password, so a role it
    does not know is how it refuses a login): one line naming the reason, no password."""
    art = pg_s3.args[3]
    closed = with_password("postgresql+psycopg://ann@127.0.0.1:1/registry")
    url = pg_s3.args[1]
    import sqlalchemy as sa

    unknown = with_password(
        sa.make_url(url.split("?")[0]).set(username="nobody_here").render_as_string(False)
    )
    (tmp_path / "in.parquet").write_bytes(pq_bytes())
    in_query = f"postgresql+psycopg://ann@127.0.0.1:1/registry?password={PASSWORD}"
    for db, reason in [
        (closed, "Connection refused"),
        (unknown, 'role "nobody_here"'),
        (in_query, "Connection refused"),
    ]:
        where = ["--db", db, "--artifacts", art]
        for argv in (
            ["registry", *where],
            ["registry", f"--db={db}", f"--artifacts={art}"],
            ["registry", *where, "churn", "--json"],
            ["registry", "card", *where, "churn@1"],
            ["registry", "prune-history", *where, "churn", "--keep", "0"],
            ["score", "churn@1", str(tmp_path / "in.parquet"), str(tmp_path / "o"), *where],
            ["serve", "churn@1", *where],
        ):
            err = fails(argv, capsys, reason)
            assert "***" in err  # the URL shown, its password masked


def test_missing_bucket_is_named_before_anything_runs(
    pg_s3: Where, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A typo in the bucket listed the registry (exit 0) and failed at load time with
    "artifact file ... is missing", naming a file rather than the bucket."""
    before = pg_s3.read()
    where = ["--db", pg_s3.args[1], "--artifacts", "s3://no-such-bucket-cli34/models"]
    (tmp_path / "in.parquet").write_bytes(pq_bytes())
    for argv in (
        ["registry", *where],
        ["registry", "card", *where, "churn@1"],
        ["registry", "prune-history", *where, "churn", "--keep", "0"],
        ["score", "churn@1", str(tmp_path / "in.parquet"), str(tmp_path / "o"), *where],
        ["serve", "churn@1", *where],
    ):
        fails(argv, capsys, "bucket 'no-such-bucket-cli34'", "does not exist")
    assert pg_s3.read() == before


def test_s3_unreachable_or_without_credentials(
    pg_s3: Where,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Each was a botocore traceback, exit 1 (what `prodml drift` says for drift found)."""
    (tmp_path / "in.parquet").write_bytes(pq_bytes())
    score = ["score", "churn@1", str(tmp_path / "in.parquet"), str(tmp_path / "o"), *pg_s3.args]
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        clear_s3_clients()
        fails(["registry", *pg_s3.args], capsys, "S3: Could not connect to the endpoint URL")
        fails(score, capsys, "S3: Could not connect")
        monkeypatch.undo()  # back to the module's S3 settings, without credentials
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        clear_s3_clients()
        fails(["registry", *pg_s3.args], capsys, "Unable to locate credentials", "AWS_PROFILE")
        fails(score, capsys, "Unable to locate credentials")
    finally:
        monkeypatch.undo()
        clear_s3_clients()  # the next test's client reads the credentials again


def test_a_read_only_database_role_refuses_the_write_and_changes_nothing(
    pg_s3: Where, postgres: Postgres, capsys: pytest.CaptureFixture[str]
) -> None:
    before = pg_s3.read()
    reader = postgres.read_only_role(pg_s3.args[1])
    where = ["--db", reader, "--artifacts", pg_s3.args[3]]
    argv = ["registry", "prune-history", *where, "churn", "--keep", "0"]
    fails(argv, capsys, "permission denied")
    assert pg_s3.read() == before
    code, out, _ = cli([*argv, "--dry-run"], capsys)  # reading is allowed: it counts
    assert (code, out) == (0, f"churn: would remove {len(before['churn'][2])} audit event(s)\n")
    code, out, _ = cli(["registry", *where, "churn", "--json"], capsys)
    assert code == 0
    assert [r["version"] for r in json.loads(out)] == [2, 1]


# ----------------------------------------------------------------- serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_postgres_and_s3_answers_then_stops_on_sigterm(
    pg_s3: Where, model: tuple[Any, Any, pd.DataFrame]
) -> None:
    """One request over HTTP, then SIGTERM: a clean exit, no traceback, no credential."""
    import httpx

    pipe, lr, _ = model
    port = free_port()
    cmd = [sys.executable, "-m", "prodml.cli", "serve", "churn@production", *pg_s3.args,
           "--port", str(port), "--watch-every", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "not ready after 60 s"
            time.sleep(0.1)
        record = {"x": 0.5, "c": "b"}
        answer = httpx.post(f"{url}/v1/predict", json=record, timeout=10).json()
        assert answer["version"] == 1
        expected = lr.predict_proba(pipe.transform(pd.DataFrame([record])))[0, 1]
        assert answer["value"] == pytest.approx(expected, abs=1e-12)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode in (0, -signal.SIGTERM), err  # uvicorn re-raises the signal
    assert "Traceback" not in err
    for canary in CANARIES:
        assert canary not in out + err


def test_a_record_from_a_newer_prodml_is_named_not_used(
    fresh: Where, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version row with a field this prodml does not know (as a newer one might write):
    the listing shows the versions it can read (exit 0) and one warning line naming the
    model, version and field; the card of that version fails (exit 2) naming the same."""
    import sqlalchemy as sa

    url = f"sqlite:///{fresh.args[0]}/registry.db" if fresh.kind == "folder" else fresh.args[1]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            table = sa.table("prodml_versions", sa.column("name"), sa.column("version"),
                             sa.column("payload"))  # fmt: skip
            where = sa.and_(table.c.name == "churn", table.c.version == 2)
            payload = json.loads(conn.execute(sa.select(table.c.payload).where(where)).scalar())
            payload["added_by_prodml_99"] = {"x": 1}
            conn.execute(table.update().where(where).values(payload=json.dumps(payload)))
    finally:
        engine.dispose()
    code, out, err = cli(["registry", *fresh.args, "churn", "--json"], capsys)
    assert code == 0, err
    listed = json.loads(out)
    assert [v["version"] for v in listed] == [1], listed  # version 2 skipped, not fatal
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, err
    assert "churn version 2" in warnings[0]
    assert "added_by_prodml_99" in warnings[0]
    fails(
        ["registry", "card", *fresh.args, "churn@2"],
        capsys,
        "churn version 2",
        "added_by_prodml_99",
    )
    code, out, _ = cli(["registry", "card", *fresh.args, "churn@1", "--format", "json"], capsys)
    assert code == 0  # the other versions read as before
    assert json.loads(out)["model"]["ref"] == "churn@1"


def test_credentials_that_may_not_see_the_bucket_still_list_and_load(
    pg_s3: Where,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Least privilege for serving (s3:GetObject, no s3:ListBucket): the bucket check
    cannot tell, so it stands aside and the commands run."""
    import s3fs

    def forbidden(self: Any, path: str, **kwargs: Any) -> Any:
        raise PermissionError(f"Forbidden: {path}")

    monkeypatch.setattr(s3fs.S3FileSystem, "info", forbidden)
    code, out, _ = cli(["registry", *pg_s3.args, "--json"], capsys)
    assert (code, [r["model"] for r in json.loads(out)]) == (0, ["churn", "fraud"])
    (tmp_path / "in.parquet").write_bytes(pq_bytes())
    argv = ["score", "churn@1", str(tmp_path / "in.parquet"), str(tmp_path / "o"), "--json"]
    code, out, _ = cli([*argv, *pg_s3.args], capsys)
    assert (code, json.loads(out)["rows"]) == (0, 1)


# ----------------------------------------------------------------- the API on S3


def test_api_load_from_a_missing_bucket_names_the_bucket(pg_s3: Where) -> None:
    """Was an IntegrityError 'artifact file ... is missing', as if the file were tampered."""
    from prodml.errors import StorageError

    missing = "s3://no-such-bucket-cli34/x"
    with ModelRegistry(pg_s3.args[1], missing, read_only=True) as reg:
        for call in (reg.load, reg.verify):
            with pytest.raises(StorageError, match="bucket 'no-such-bucket-cli34'") as caught:
                call("churn@1")
            assert caught.value.path == "no-such-bucket-cli34"
            assert "does not exist" in str(caught.value)
            assert not any(c in str(caught.value) for c in CANARIES)


def _drop_a_file(where: Where) -> str:
    """Delete churn v1's model file from S3; return its path in the version."""
    import s3fs

    with where.open(read_only=True) as reg:
        mv = reg.get("churn@1")
    rel = sorted(mv.files)[0]
    s3fs.S3FileSystem().rm(f"{where.args[3].removeprefix('s3://')}/{mv.artifact_key}/{rel}")
    return rel


def test_api_file_missing_from_an_existing_bucket_is_still_an_integrity_error(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    model: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bucket is there, the file is not: tampering, not configuration; with or without
    the right to see the bucket (least privilege: the check stands aside)."""
    from prodml.errors import IntegrityError

    w = _where("postgres-s3", tmp_path, request)
    with w.open() as reg:
        fill(reg, model)
    rel = _drop_a_file(w)
    with w.open(read_only=True) as reg:
        for call in (reg.load, reg.verify):
            with pytest.raises(IntegrityError, match="is missing") as caught:
                call("churn@1")
            assert (caught.value.path, caught.value.version) == (rel, 1)
        assert reg.load("churn@2") is not None  # the other version is whole
    import s3fs

    def forbidden(self: Any, path: str, **kwargs: Any) -> Any:
        raise PermissionError(f"Forbidden: {path}")

    monkeypatch.setattr(s3fs.S3FileSystem, "info", forbidden)
    with w.open(read_only=True) as reg, pytest.raises(IntegrityError, match="is missing"):
        reg.load("churn@1")


def test_api_load_from_an_unreachable_s3_is_a_storage_error(
    pg_s3: Where, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were botocore's EndpointConnectionError / NoCredentialsError, untranslated."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    from prodml.errors import StorageError

    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        clear_s3_clients()
        with pg_s3.open(read_only=True) as reg:
            for call in (reg.load, reg.verify):
                with pytest.raises(StorageError, match="Could not connect") as caught:
                    call("churn@1")
                text = str(caught.value)
                assert pg_s3.args[3] in text, text  # the store: bucket and prefix
                assert "(endpoint http://127.0.0.1:1)" in text, text
                assert isinstance(caught.value.__cause__, EndpointConnectionError)
                assert not any(c in text for c in CANARIES), text
        monkeypatch.undo()  # back to the module's S3 settings, without credentials
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        clear_s3_clients()
        with (
            pg_s3.open(read_only=True) as reg,
            pytest.raises(StorageError, match=r"Unable to locate credentials.*AWS_PROFILE") as e,
        ):
            reg.load("churn@1")
        assert isinstance(e.value.__cause__, NoCredentialsError)
    finally:
        monkeypatch.undo()
        clear_s3_clients()


def test_api_register_on_an_unreachable_s3_is_a_storage_error_and_changes_nothing(
    pg_s3: Where, monkeypatch: pytest.MonkeyPatch, model: Any
) -> None:
    from prodml.errors import StorageError

    pipe, lr, _ = model
    before = pg_s3.read()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        clear_s3_clients()
        with pg_s3.open() as reg, pytest.raises(StorageError, match="Could not connect") as e:
            reg.register("churn", (pipe, lr))
        assert "cannot write artifact key churn/" in str(e.value)
        assert not any(c in str(e.value) for c in CANARIES)
    finally:
        monkeypatch.undo()
        clear_s3_clients()
    assert pg_s3.read() == before
