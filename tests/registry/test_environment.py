"""register records the environment; load warns or refuses on a major-version change."""

from __future__ import annotations

import pickle
import platform
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from prodml.errors import ConfigError, RegistryError
from prodml.registry import (
    EnvironmentMismatchError,
    EnvironmentMismatchWarning,
    ModelRegistry,
)
from prodml.registry._environment import mismatches
from prodml.schema import Column, Schema

SCHEMA = Schema([Column("x", "float")])
NUMPY = metadata.version("numpy")
SKLEARN = metadata.version("scikit-learn")


@pytest.fixture
def reg(tmp_path: Path) -> ModelRegistry:
    reg = ModelRegistry.local(tmp_path / "reg")
    yield reg
    reg.close()


def _faked(reg: ModelRegistry, packages: dict[str, object]) -> None:
    reg.register("m", SCHEMA, lineage={"environment": {"python": "3.9.0", "packages": packages}})


def test_register_records_the_flavours_packages(reg: ModelRegistry) -> None:
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    env = reg.register("clf", model).lineage.model_extra["environment"]
    assert env["python"] == platform.python_version()
    assert env["platform"] == platform.platform()
    assert env["packages"]["scikit-learn"] == SKLEARN
    assert env["packages"]["numpy"] == NUMPY
    assert "pip_freeze" not in env
    plain = reg.register("schema", SCHEMA).lineage.model_extra["environment"]
    assert "scikit-learn" not in plain["packages"]
    assert plain["packages"]["pydantic"] == metadata.version("pydantic")
    assert reg.register("none", SCHEMA, environment=False).lineage.model_extra == {}
    full = reg.register("full", SCHEMA, environment="full").lineage.model_extra["environment"]
    assert f"numpy=={NUMPY}" in full["pip_freeze"]
    assert full["pip_freeze"] == sorted(full["pip_freeze"], key=str.lower)
    # An environment the caller recorded is kept as given.
    _faked(reg, {"numpy": NUMPY})
    assert reg.get("m").lineage.model_extra["environment"]["python"] == "3.9.0"
    with pytest.raises(ConfigError, match="environment"):
        reg.register("bad", SCHEMA, environment="yes")  # type: ignore[arg-type]


def test_load_warns_on_a_major_version_change(reg: ModelRegistry) -> None:
    _faked(reg, {"numpy": "0.9.1", "scikit-learn": "99.0", "pandas": "not-a-version"})
    with pytest.warns(EnvironmentMismatchWarning) as caught:
        assert reg.load("m") == SCHEMA
    text = str(caught[0].message)
    assert f"numpy 0.9.1 when registered, {NUMPY} here" in text
    assert f"scikit-learn 99.0 when registered, {SKLEARN} here" in text
    assert "pandas" not in text


def test_load_refuses_by_setting(reg: ModelRegistry) -> None:
    _faked(reg, {"numpy": "0.9.1"})
    reg.environment_check = "error"
    with pytest.raises(EnvironmentMismatchError) as err:
        reg.load("m@1")
    assert isinstance(err.value, RegistryError)
    assert err.value.model_name == "m"
    assert err.value.version == 1
    assert [m.package for m in err.value.mismatches] == ["numpy"]
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == str(err.value)
    assert again.mismatches == err.value.mismatches
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.load("m", environment_check="ignore") == SCHEMA
    with pytest.raises(ConfigError, match="environment_check"):
        reg.load("m", environment_check="loud")  # type: ignore[arg-type]


def test_same_major_versions_and_unreadable_records_pass(reg: ModelRegistry) -> None:
    major = NUMPY.split(".")[0]
    _faked(reg, {"numpy": f"{major}.0.0", "scikit-learn": SKLEARN, "other": "0.0.1"})
    reg.register("odd", SCHEMA, lineage={"environment": "hand-edited"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.load("m") == SCHEMA
        assert reg.load("odd") == SCHEMA
    assert mismatches({"packages": {"numpy": None}}) == []


def test_a_recorded_package_missing_here_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    from prodml.registry import _environment

    real = _environment._version
    monkeypatch.setattr(_environment, "_version", lambda d: None if d == "skops" else real(d))
    (found,) = mismatches({"packages": {"skops": "0.10.0", "numpy": NUMPY}})
    assert (found.package, found.recorded, found.installed) == ("skops", "0.10.0", None)
    assert str(found) == "skops 0.10.0 when registered, not installed here"
