"""A canary secret passed through every way of building a store never comes out again.

Everything the registry produces is collected: exception messages with their whole chain
of causes (as a traceback prints them), reprs, ``.url`` attributes, audit entries, log
records (every prodml logger at DEBUG, everything else at INFO) and the CLI's stdout and
stderr. The canary must appear in none of it.
"""

from __future__ import annotations

import logging
import os
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from prodml._secrets import Secrets, redact_options, redact_url
from prodml.cli import main
from prodml.errors import ProdMLError
from prodml.registry import ModelRegistry
from prodml.registry.backends import artifact_store_for, metadata_store_for
from prodml.registry.backends.sql import SQLMetadataStore
from prodml.schema import Column, Schema

from .conftest import S3_BUCKET

CANARY = "c4n4ry-S3CRET-7f3a9d"
MODEL = Schema([Column("x", "float")])


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class Collector:
    """Everything a user could see from the registry, in one string."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def error(self, call: Callable[[], object]) -> ProdMLError:
        with pytest.raises(ProdMLError) as info:
            call()
        self.seen.append("".join(traceback.format_exception(info.value)))
        return info.value

    def registry(self, reg: ModelRegistry) -> None:
        mv = reg.register("m", MODEL, tags={"t": "v"})
        reg.set_alias("m", "prod", mv.version)
        assert reg.load("m@prod") == MODEL
        reg.verify("m@prod")
        self.seen += [repr(reg), repr(reg.metadata), repr(reg.artifacts)]
        self.seen += [reg.metadata.url, reg.artifacts.url, repr(reg.gc(0, scan=True))]
        self.seen += [repr(e) for e in reg.history("m")]
        self.seen += [repr(mv) for mv in reg.search("m")]
        root = getattr(reg.artifacts, "root", "")
        self.seen.append(str(root))
        reg.close()

    def check(self, *extra: str) -> None:
        text = "\n".join(self.seen + list(extra))
        assert CANARY not in text
        assert CANARY.lower() not in text.lower()


@pytest.fixture
def collector(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="prodml")
    c = Collector()
    yield c
    c.check(caplog.text)


def test_unknown_schemes_and_drivers(collector: Collector) -> None:
    err = collector.error(lambda: ModelRegistry(f"mysqlx://ann:{CANARY}@db/x", "memory://a"))
    assert "ann:***@db" in str(err)
    collector.error(lambda: ModelRegistry("memory://", f"gs://ann:{CANARY}@bucket/x"))
    collector.error(lambda: SQLMetadataStore(f"postgresql+nodriver://ann:{CANARY}@db/x"))
    collector.error(lambda: metadata_store_for(f"nope://ann:{CANARY}@db/x"))
    collector.error(lambda: artifact_store_for(f"nope://ann:{CANARY}@db/x"))
    collector.error(lambda: artifact_store_for(f"memory://bucket/x?token={CANARY}"))
    collector.error(lambda: ModelRegistry(f"registry.db?password={CANARY}", "memory://a"))


def test_unreachable_database(collector: Collector) -> None:
    url = f"postgresql+psycopg://ann:{CANARY}@127.0.0.1:1/db?sslpassword={CANARY}"
    err = collector.error(lambda: ModelRegistry(url, "memory://a", lock_timeout=2))
    assert "ann:***@127.0.0.1:1" in str(err)


def test_sqlite_with_query_secret(tmp_path: Path, collector: Collector) -> None:
    url = f"sqlite:///{tmp_path}/r.db?token={CANARY}"
    reg = ModelRegistry(url, f"file://{tmp_path}/art")
    assert reg.metadata.url.endswith("?token=***")
    collector.registry(reg)


def test_postgres_password_in_url_and_query(
    postgres_url: str, tmp_path: Path, collector: Collector
) -> None:
    url = _with_password(postgres_url, CANARY)  # the test server trusts loopback
    collector.registry(ModelRegistry(url, f"file://{tmp_path}/a1"))
    sep = "&" if "?" in postgres_url else "?"
    collector.registry(ModelRegistry(f"{postgres_url}{sep}password={CANARY}", "memory://a2"))
    store = SQLMetadataStore(url)
    collector.seen += [repr(store), store.url, repr(store._engine)]
    store.close()
    cli_db = f"{url}"
    art = (tmp_path / "a1").as_uri()
    collector.seen.append(_cli(["registry", "--db", cli_db, "--artifacts", art, "--json"]))
    collector.seen.append(_cli(["registry", "--db", cli_db, "--artifacts", art, "nope"]))


def test_s3_credentials_in_storage_options(
    s3_options: dict[str, Any], tmp_path: Path, collector: Collector
) -> None:
    options = {**s3_options, "secret": CANARY, "client_kwargs": {"aws_session_token": CANARY}}
    url = f"s3://{S3_BUCKET}/{uuid.uuid4().hex}"
    reg = ModelRegistry(f"sqlite:///{tmp_path}/r.db", url, storage_options=options)
    collector.registry(reg)
    store = artifact_store_for(url, **options)
    collector.seen += [repr(store), store.url, str(store.root)]
    collector.error(
        lambda: ModelRegistry(
            "memory://", f"s3://{S3_BUCKET}/x?token={CANARY}", storage_options=options
        )
    )


def test_cli_errors_and_listing(tmp_path: Path, collector: Collector) -> None:
    missing = f"sqlite:///{tmp_path}/missing.db?password={CANARY}"
    out = _cli(["registry", "--db", missing, "--artifacts", f"file://{tmp_path}/a"])
    assert "missing.db" in out
    assert not (tmp_path / "missing.db").exists()
    collector.seen.append(out)
    collector.seen.append(
        _cli(["registry", "--db", f"mysqlx://u:{CANARY}@h/d", "--artifacts", "x"])
    )


def _cli(argv: list[str]) -> str:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(argv)
    return out.getvalue() + err.getvalue()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///x/y.db", "sqlite:///x/y.db"),
        ("sqlite:////abs.db?mode=ro", "sqlite:////abs.db?mode=ro"),
        ("memory://", "memory://"),
        ("s3://b/p?token=abc&x=1", "s3://b/p?token=***&x=1"),
        (
            "postgresql://u:p%40w@h:5/db?sslmode=require",
            "postgresql://u:***@h:5/db?sslmode=require",
        ),
        ("gs://user:secret@bucket/x#frag", "gs://user:***@bucket/x"),
        (
            "https://h/p?X-Amz-Signature=abc&X-Amz-Credential=k",
            "https://h/p?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        ("mysql://user@h/db", "mysql://user@h/db"),
        ("no scheme at all", "no scheme at all"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_secrets_scrub_and_options() -> None:
    s = Secrets.of("postgresql://u:p%40ssw0rd@h/db?token=t0k3n-value", {"secret": b"bytes-secret"})
    text = "p@ssw0rd p%40ssw0rd t0k3n-value bytes-secret pw"
    assert s.scrub(text) == "*** *** *** *** pw"
    assert s.found_in("xx t0k3n-value")
    assert "p@ss" not in repr(s)
    assert redact_options({"key": "a", "endpoint_url": "u", "client_kwargs": {"token": "x"}}) == {
        "key": "***",
        "endpoint_url": "u",
        "client_kwargs": {"token": "***"},
    }
    assert os.environ.get(CANARY) is None


def test_version_repr_masks_credentials_the_user_wrote(tmp_path: Path) -> None:
    """Reprs go to logs and tracebacks: a registered version's repr and str mask what the
    model card masks, while its attributes keep the values as registered."""
    reg = ModelRegistry.local(tmp_path / "reg")
    v = reg.register(
        "churn",
        MODEL,
        description="data from s3://bucket/x?X-Amz-Signature=sig-value-1234",
        tags={"api_token": "tag-secret-1234", "team": "risk"},
        lineage={
            "code_version": "https://ci:clone-tok3n@git.example/r.git",
            "run_password": "lineage-secret-1234",
            "run_id": "run-42",
            "dataset": "s3://b/AKIAABCDEFGHIJKLMNOP/data",
        },
    )
    loaded = reg.get("churn", v.version)
    for shown in (repr(v), str(v), repr(loaded), repr(loaded.lineage), str(loaded.lineage)):
        for secret in (
            "sig-value-1234",
            "tag-secret-1234",
            "clone-tok3n",
            "lineage-secret-1234",
            "AKIAABCDEFGHIJKLMNOP",
        ):
            assert secret not in shown, (secret, shown)
        assert "run-42" in shown
    assert "'team': 'risk'" in repr(loaded)
    # The stored values are the user's own: unchanged.
    assert loaded.tags == {"api_token": "tag-secret-1234", "team": "risk"}
    assert loaded.lineage.code_version == "https://ci:clone-tok3n@git.example/r.git"
    assert loaded.model_dump()["lineage"]["run_password"] == "lineage-secret-1234"  # noqa: S105
