"""ModelRegistry facade: validation, references, flavours and their safety, backends table."""

from __future__ import annotations

import getpass
import math
import operator
import string
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from prodml.errors import (
    ConfigError,
    ConflictError,
    IntegrityError,
    MissingExtraError,
    NotFoundError,
    RegistryError,
)
from prodml.registry import (
    MetadataStore,
    MetricThreshold,
    ModelRegistry,
    NotWorseThanCurrent,
    PickleFallbackWarning,
    PromotionError,
    SignatureCompatible,
    register_backend,
)
from prodml.registry.backends import artifact_store_for, metadata_store_for
from prodml.registry.backends.memory import MemoryMetadataStore
from prodml.registry.backends.sql import SQLMetadataStore
from prodml.registry.entities import ModelVersion, check_alias, check_name
from prodml.schema import Column, Schema


def _schema(*names: str) -> Schema:
    return Schema([Column(n, "float") for n in names])


@pytest.fixture
def reg() -> ModelRegistry:
    return ModelRegistry("memory://", f"memory://{uuid.uuid4().hex}", actor="tester")


def _fitted() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    return LogisticRegression().fit(X, (X[:, 1] > 0).astype(int)), X


# ------------------------------------------------------------------ names and refs

BAD_NAMES = ["", "../etc", "a/b", "a\\b", ".hidden", "-x", "a..b", "x" * 129, "a b", "é", None, 3]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_model_names_refused(reg: ModelRegistry, name: Any) -> None:
    with pytest.raises(ConfigError, match="Invalid model name") as info:
        reg.register(name, _schema("x"))
    assert info.value.parameter == "name"
    with pytest.raises(ConfigError):
        reg.get(name) if isinstance(name, str) and name else check_name(name)
    assert reg.artifacts.list_keys() == []


@pytest.mark.parametrize("alias", ["latest", "3", "9prod", "a/b", "", "a@b", "x" * 65, None])
def test_bad_aliases_refused(reg: ModelRegistry, alias: Any) -> None:
    reg.register("m", _schema("x"))
    with pytest.raises(ConfigError) as info:
        reg.set_alias("m", alias, 1)
    assert info.value.parameter == "alias"
    assert reg.aliases("m") == {}


@settings(max_examples=60)
@given(st.text(alphabet=string.ascii_letters + string.digits + "._-/\\ @", max_size=20))
def test_valid_names_never_escape_a_directory(name: str) -> None:
    try:
        ok = check_name(name)
    except ConfigError:
        return
    assert ok == name
    assert "/" not in ok
    assert "\\" not in ok
    assert ".." not in ok
    assert not ok.startswith((".", "-"))


def test_alias_names_never_parse_as_numbers() -> None:
    assert check_alias("prod_2") == "prod_2"
    for bad in ("2", "02", "latest"):
        with pytest.raises(ConfigError):
            check_alias(bad)


def test_ref_parsing(reg: ModelRegistry) -> None:
    reg.register("m", _schema("x"))
    reg.set_alias("m", "prod", 1)
    with pytest.raises(ConfigError, match="not both"):
        reg.get("m@prod", 1)
    for bad in (3, None, b"m"):
        with pytest.raises(ConfigError):
            reg.get(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        reg.get("m", True)
    with pytest.raises(ConfigError):
        reg.get("m", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        reg.get("m@pro/d")
    assert reg.get("m", "latest").version == 1


# ------------------------------------------------------------------ register inputs


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"tags": {"a": 1}}, "tags"),
        ({"tags": {"": "x"}}, "tags"),
        ({"tags": {3: "x"}}, "tags"),
        ({"tags": {"a": "nul\0byte"}}, "tags"),
        ({"tags": {"k" * 257: "x"}}, "tags"),
        ({"metrics": {"a\0": 1.0}}, "metrics"),
        ({"metrics": {"": 1.0}}, "metrics"),
        ({"metrics": {"auc": math.nan}}, "metrics"),
        ({"metrics": {"auc": math.inf}}, "metrics"),
        ({"metrics": {"auc": True}}, "metrics"),
        ({"metrics": {"auc": "0.9"}}, "metrics"),
        ({"description": 3}, "description"),
        ({"signature": {"x": "float"}}, "signature"),
        ({"lineage": "abc"}, "lineage"),
        ({"lineage": {"parent_version": "two"}}, "lineage"),
        ({"flavour": "nope"}, "flavour"),
    ],
)
def test_bad_register_inputs(reg: ModelRegistry, kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as info:
        reg.register("m", _schema("x"), **kwargs)
    assert info.value.parameter == parameter
    assert reg.artifacts.list_keys() == []
    with pytest.raises(NotFoundError):
        reg.get("m")


def test_lineage_must_be_json(reg: ModelRegistry) -> None:
    with pytest.raises(ConfigError, match="not JSON"):
        reg.register("m", _schema("x"), lineage={"seen": {1, 2}})


def test_parent_version_must_exist(reg: ModelRegistry) -> None:
    with pytest.raises(NotFoundError) as info:
        reg.register("m", _schema("x"), lineage={"parent_version": 4})
    assert info.value.version == 4
    reg.register("m", _schema("x"))
    mv = reg.register("m", _schema("x"), lineage={"parent_version": 1, "code_version": "abc"})
    assert mv.lineage.parent_version == 1
    assert reg.get("m@2").lineage.code_version == "abc"


def test_unsupported_model_type(reg: ModelRegistry) -> None:
    with pytest.raises(ConfigError, match="no flavour can save an object of type dict"):
        reg.register("m", {"weights": [1, 2]})
    with pytest.raises(ConfigError, match="no flavour"):
        reg.register("m", (_schema("x"), object()))


def test_failed_commit_removes_uploaded_files() -> None:
    class Refusing(MemoryMetadataStore):
        def _insert_version(
            self, draft: ModelVersion, actor: str, *, leased: bool = False, seal: Any = None
        ) -> ModelVersion:
            raise ConflictError("simulated", model_name=draft.name)

    reg = ModelRegistry(Refusing(), f"memory://{uuid.uuid4().hex}")
    with pytest.raises(ConflictError):
        reg.register("m", _schema("x"))
    assert reg.artifacts.list_keys() == []
    assert reg.metadata.pending() == []  # the lease was released with the files


# ------------------------------------------------------------------ flavours and safety


def test_sklearn_saved_with_skops_loads_without_pickle(reg: ModelRegistry) -> None:
    pytest.importorskip("skops", reason="needs the 'sklearn' extra (skops)")
    model, X = _fitted()
    mv = reg.register("clf", model)
    assert mv.flavour_meta == {"format": "skops"}
    assert list(mv.files) == ["model.skops"]
    np.testing.assert_array_equal(reg.load("clf").predict(X), model.predict(X))


def test_load_expect_checks_the_class_of_what_was_loaded(reg: ModelRegistry) -> None:
    model, X = _fitted()
    reg.register("clf", model)
    loaded = reg.load("clf", trusted=True, expect=type(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert isinstance(reg.load("clf", trusted=True, expect=object), type(model))
    with pytest.raises(RegistryError, match=r"clf@1 loads as LogisticRegression, not the tuple"):
        reg.load("clf", trusted=True, expect=tuple)
    for bad in ("LogisticRegression", 3, (tuple, list)):
        with pytest.raises(ConfigError, match="expect must be a class"):
            reg.load("clf", trusted=True, expect=bad)  # type: ignore[call-overload]


def test_skops_untrusted_types_need_opt_in(reg: ModelRegistry) -> None:
    pytest.importorskip("skops", reason="needs the 'sklearn' extra (skops)")
    X = np.array([[1.0, -2.0], [3.0, 4.0]])
    model = FunctionTransformer(func=operator.neg).fit(X)
    reg.register("fn", model)
    with pytest.raises(RegistryError, match=r"^cannot load fn version 1: .*_operator\.neg"):
        reg.load("fn")
    with pytest.raises(RegistryError, match=r"_operator\.neg"):
        reg.load("fn", trusted=["something.else"])
    np.testing.assert_array_equal(reg.load("fn", trusted=["_operator.neg"]).transform(X), -X)
    np.testing.assert_array_equal(reg.load("fn", trusted=True).transform(X), -X)


def test_joblib_fallback_needs_trusted(reg: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    model, X = _fitted()
    with pytest.warns(PickleFallbackWarning) as caught:
        mv = reg.register("clf", model)
    assert mv.flavour_meta == {"format": "joblib"}
    (warned,) = caught.list
    assert warned.filename == __file__  # the user's line, not prodml's
    assert "pip install 'prodml[sklearn]'" in str(warned.message)
    assert "trusted=True" in str(warned.message)
    with pytest.raises(RegistryError, match="pickle") as refused:
        reg.load("clf")
    text = str(refused.value)
    assert text.startswith("cannot load clf version 1: ")
    for hint in ("pip install 'prodml[sklearn]'", "trusted=True", "--trusted"):
        assert hint in text
    assert (refused.value.model_name, refused.value.version) == ("clf", 1)
    with pytest.raises(RegistryError, match="pickle"):
        reg.load("clf", trusted=["sklearn.linear_model.LogisticRegression"])
    np.testing.assert_array_equal(reg.load("clf", trusted=True).predict(X), model.predict(X))


def test_joblib_fallback_warns_for_the_model_of_a_pair(
    reg: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    model, _ = _fitted()
    with pytest.warns(PickleFallbackWarning, match=r"prodml\[sklearn\]"):
        reg.register("pair", (_schema("x0", "x1"), model))
    with pytest.raises(RegistryError, match=r"^cannot load pair version 1: .*--trusted"):
        reg.load("pair")


@pytest.mark.parametrize(
    "target", ["os:system", "builtins:eval", "prodml.schema", "prodml.schema:Column.model_fields"]
)
def test_json_flavour_imports_only_prodml_classes(reg: ModelRegistry, target: str) -> None:
    mv = reg.register("m", _schema("x"))
    forged = mv.model_copy(update={"flavour_meta": {"class": target}})
    reg.metadata.create_version(forged, "mallory")
    with pytest.raises(RegistryError, match=r"refusing|not a class"):
        reg.load("m@2")


def test_prodml_object_flavour_schema_round_trip(reg: ModelRegistry) -> None:
    schema = Schema([Column("age", "int", nullable=False, min=0), Column("plan", "category")])
    mv = reg.register("schema", schema)
    assert mv.flavour == "prodml"
    assert mv.flavour_meta == {"class": "prodml.schema:Schema"}
    assert reg.load("schema") == schema


def test_feature_pipeline_round_trip(reg: ModelRegistry) -> None:
    from prodml.features import FeaturePipeline, steps

    df = pd.DataFrame({"a": [1.0, None, 3.0, 4.0], "b": [0.5, 1.5, 2.5, None]})
    pipe = FeaturePipeline(
        [steps.Impute(["a", "b"], strategy="median"), steps.StandardScale(["a", "b"])]
    ).fit(df)
    mv = reg.register("features", pipe, lineage={"pipeline_fingerprint": pipe.fingerprint})
    assert mv.flavour == "prodml"
    back = reg.load("features")
    assert type(back) is FeaturePipeline
    np.testing.assert_array_equal(back.transform(df), pipe.transform(df))
    assert back.fingerprint == pipe.fingerprint


def test_pair_of_pipeline_and_model(reg: ModelRegistry) -> None:
    model, X = _fitted()
    schema = _schema("x0", "x1")
    mv = reg.register("pair", (schema, model))
    assert sorted(mv.files) == sorted(["pipeline/object.json", f"model/{_model_file(mv)}"])
    got_schema, got_model = reg.load("pair", trusted=True)
    assert got_schema == schema
    np.testing.assert_array_equal(got_model.predict(X), model.predict(X))


def _model_file(mv: ModelVersion) -> str:
    fmt = mv.flavour_meta["parts"][1]["meta"]["format"]
    return "model.skops" if fmt == "skops" else "model.joblib"


def test_files_flavour_refuses_missing_path(reg: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        reg.register("f", tmp_path / "nope.onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="wrote no files"):
        reg.register("f", tmp_path / "empty")


# ------------------------------------------------------------------ local registry


def test_local_registry_persists_and_verifies(tmp_path: Path) -> None:
    model, X = _fitted()
    with ModelRegistry.local(tmp_path / "reg", actor="ann") as reg:
        mv = reg.register("churn", model, tags={"team": "growth"}, metrics={"auc": 0.9})
        reg.set_alias("churn", "production", mv.version)
    assert (tmp_path / "reg" / "registry.db").is_file()
    with ModelRegistry.local(tmp_path / "reg") as again:
        assert again.get("churn@production") == mv
        assert [e.actor for e in again.history("churn")] == ["ann", "ann"]
        np.testing.assert_array_equal(
            again.load("churn@production", trusted=True).predict(X), model.predict(X)
        )
        path = tmp_path / "reg" / "artifacts" / mv.artifact_key / next(iter(mv.files))
        path.write_bytes(path.read_bytes() + b"\0")
        with pytest.raises(IntegrityError, match=next(iter(mv.files))):
            again.load("churn@production", trusted=True)


def test_actor_from_env_then_login(reg: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    anon = ModelRegistry(reg.metadata, reg.artifacts)
    monkeypatch.setenv("PRODML_ACTOR", "ci-bot")
    assert anon.actor == "ci-bot"
    monkeypatch.delenv("PRODML_ACTOR")
    monkeypatch.setattr(getpass, "getuser", lambda: "login-name")
    assert anon.actor == "login-name"

    def fail() -> str:
        raise OSError("no user")

    monkeypatch.setattr(getpass, "getuser", fail)
    assert anon.actor == "unknown"
    assert anon.register("m", _schema("x")).created_by == "unknown"


def test_gc_bad_grace(reg: ModelRegistry) -> None:
    for bad in (-1, "1h", True, 10**400, float("nan")):
        with pytest.raises(ConfigError, match="grace_period") as err:
            reg.gc(bad)  # type: ignore[arg-type]
        assert len(str(err.value)) < 200


@pytest.mark.parametrize("parameter", ["lease_ttl", "lock_timeout"])
@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), 10**400, "30s"])
def test_bad_lease_and_lock_times_are_refused(tmp_path: Path, parameter: str, bad: object) -> None:
    with pytest.raises(ConfigError, match=f"'{parameter}' parameter of ModelRegistry must be"):
        ModelRegistry.local(tmp_path / "reg", **{parameter: bad})


def test_promote_not_worse_and_missing_metric(reg: ModelRegistry) -> None:
    reg.register("m", _schema("x"), metrics={"loss": 0.3})
    reg.register("m", _schema("x"), metrics={"loss": 0.4})
    reg.register("m", _schema("x"))
    reg.promote("m", "prod", 1)
    gate = NotWorseThanCurrent("loss", higher_is_better=False)
    with pytest.raises(PromotionError, match=r"worse than 0\.3") as info:
        reg.promote("m", "prod", 2, checks=[gate])
    assert info.value.alias == "prod"
    assert info.value.model_name == "m"
    with pytest.raises(PromotionError, match="not recorded"):
        reg.promote("m", "prod", 3, checks=[gate, MetricThreshold("loss", max=1.0)])
    with pytest.raises(ConfigError):
        MetricThreshold("loss")
    assert reg.get("m@prod").version == 1


def test_signature_gate_requires_signature(reg: ModelRegistry) -> None:
    reg.register("m", _schema("x"), signature=_schema("x"))
    reg.register("m", _schema("x"))
    reg.set_alias("m", "prod", 1)
    with pytest.raises(PromotionError, match="no signature"):
        reg.promote("m", "prod", 2, checks=[SignatureCompatible()])
    assert reg.promote("m", "prod", 2, checks=[SignatureCompatible(require=False)]).version == 2


# ------------------------------------------------------------------ backends table


def test_unknown_and_missing_schemes() -> None:
    with pytest.raises(ConfigError, match="no metadata store is registered for scheme 'mysql'"):
        ModelRegistry("mysql://x", "memory://")
    with pytest.raises(ConfigError, match="no scheme"):
        ModelRegistry("registry.db", "memory://")
    with pytest.raises(ConfigError, match="artifacts"):
        ModelRegistry("memory://", "gs://bucket")


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"prodml\[postgres\]") as info:
        metadata_store_for("postgresql+psycopg://u@localhost/db")
    assert info.value.extra == "postgres"
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(MissingExtraError, match=r"prodml\[s3\]"):
        artifact_store_for("s3://bucket/prefix")


@pytest.fixture
def backends_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    from prodml.registry import backends

    for kind, table in backends._BACKENDS.items():
        monkeypatch.setitem(backends._BACKENDS, kind, dict(table))


@pytest.mark.usefixtures("backends_snapshot")
def test_register_backend_lazy_and_checked() -> None:
    register_backend("lazyfake", "prodml_no_such_pkg.Store", requires={"nope_mod_x": "fake"})
    with pytest.raises(MissingExtraError) as info:
        metadata_store_for("lazyfake://x")
    assert info.value.extra == "fake"
    register_backend("notastore", str)
    with pytest.raises(ConfigError, match="not a MetadataStore"):
        metadata_store_for("notastore://")
    with pytest.raises(ConfigError, match="kind"):
        register_backend("x", dict, kind="queue")  # type: ignore[arg-type]


def test_memory_store_sharing() -> None:
    name = uuid.uuid4().hex
    a = MemoryMetadataStore(f"memory://{name}")
    b = MemoryMetadataStore(f"memory://{name}")
    assert a is b
    assert MemoryMetadataStore("memory://") is not MemoryMetadataStore("memory://")


def test_bad_sql_url() -> None:
    with pytest.raises(RegistryError, match="cannot open"):
        SQLMetadataStore("sqlite+nodriver:///x.db")


# ------------------------------------------------------------------ properties


@settings(max_examples=60)
@given(
    ops=st.lists(
        st.one_of(st.tuples(st.just("set"), st.integers(1, 5)), st.just(("rollback",))),
        max_size=25,
    )
)
def test_alias_rollback_matches_a_stack(ops: list[tuple[Any, ...]]) -> None:
    reg = ModelRegistry(MemoryMetadataStore(), f"memory://{uuid.uuid4().hex}")
    for _ in range(5):
        reg.register("m", _schema("x"))
    stack: list[int] = []
    for op in ops:
        if op[0] == "set":
            reg.set_alias("m", "prod", op[1])
            if not stack or stack[-1] != op[1]:
                stack.append(op[1])
        elif len(stack) >= 2:
            assert reg.rollback("m", "prod").version == stack[-2]
            stack.pop()
        else:
            with pytest.raises((ConflictError, NotFoundError)):
                reg.rollback("m", "prod")
        assert reg.aliases("m").get("prod") == (stack[-1] if stack else None)
    actions = [e.action for e in reg.history("m", alias="prod")]
    assert len(actions) == sum(1 for a in actions if a in ("set_alias", "rollback"))


TAGS = st.dictionaries(st.sampled_from(["team", "stage"]), st.sampled_from(["a", "b"]), max_size=2)


@settings(max_examples=30)
@given(tag_sets=st.lists(TAGS, min_size=1, max_size=8), query=TAGS, page_size=st.integers(1, 4))
def test_search_matches_filter_over_sqlite(
    tmp_path_factory: pytest.TempPathFactory,
    tag_sets: list[dict[str, str]],
    query: dict[str, str],
    page_size: int,
) -> None:
    db = tmp_path_factory.mktemp("db") / "r.db"
    store: MetadataStore = metadata_store_for(f"sqlite:///{db}")
    now = datetime.now(timezone.utc)
    for tags in tag_sets:
        draft = ModelVersion(
            name="m",
            version=0,
            flavour="files",
            artifact_key="m/k",
            files={},
            created_at=now,
            created_by="t",
            tags=tags,
        )
        store.create_version(draft, "t")
    expected = [
        i + 1 for i, tags in enumerate(tag_sets) if all(tags.get(k) == v for k, v in query.items())
    ][::-1]
    got: list[int] = []
    token = None
    while True:
        page = store.search("m", tags=query, page_size=page_size, page_token=token)
        assert len(page) <= page_size
        got += [mv.version for mv in page]
        if page.next_token is None:
            break
        token = page.next_token
    store.close()
    assert got == expected


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_threads_share_one_registry(tmp_path: Path, backend: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    db = "memory://" if backend == "memory" else f"sqlite:///{tmp_path}/r.db"
    reg = ModelRegistry(db, f"file://{tmp_path}/art", actor="t")

    def work(i: int) -> list[int]:
        out = [reg.register("m", _schema("x"), tags={"w": str(i)}).version for _ in range(5)]
        reg.set_alias("m", f"w{i}", out[-1])
        assert reg.get(f"m@w{i}").version == out[-1]
        return out

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(work, range(6)))
    assert sorted(v for r in results for v in r) == list(range(1, 31))
    assert len(reg.history("m")) == 36
    for i, r in enumerate(results):
        assert [mv.version for mv in reg.search("m", tags={"w": str(i)})] == r[::-1]
    reg.close()


def test_promotion_error_pickles() -> None:
    import pickle

    err = PromotionError(["a failed", "b failed"], model_name="m", version=3, alias="prod")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is PromotionError
    assert str(back) == str(err)
    assert (back.failures, back.model_name, back.version, back.alias) == (
        ["a failed", "b failed"],
        "m",
        3,
        "prod",
    )
    assert isinstance(back, RegistryError)


@pytest.mark.parametrize("root", ["memory://", "memory:///", "memory://r/{u}", "memory:///r/{u}/"])
def test_memory_artifact_roots(root: str) -> None:
    reg = ModelRegistry("memory://", root.format(u=uuid.uuid4().hex))
    for key in reg.artifacts.list_keys():  # the bare root is process-global: start empty
        reg.artifacts.delete(key)
    keep = reg.register("a", _schema("x"))
    gone = reg.register("a", _schema("y"))
    reg.delete("a", gone.version)
    assert reg.artifacts.list_keys() == sorted([keep.artifact_key, gone.artifact_key])
    assert reg.gc(0).removed == [gone.artifact_key]
    assert reg.load("a") == _schema("x")
    reg.artifacts.delete(keep.artifact_key)
    assert reg.artifacts.list_keys() == []


def test_remote_load_leaves_no_temp_dirs(
    reg: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reg.register("m", _schema("x"))
    for _ in range(3):
        reg.load("m")
    bad = reg.register("m", _schema("y"))
    reg.artifacts.delete(bad.artifact_key)
    with pytest.raises(IntegrityError):
        reg.load("m@2")
    assert list(tmp_path.iterdir()) == []
