"""Public functions called with wrong-typed arguments raise ProdMLError, never a raw error.

Two sweeps: every callable in the ``__all__`` of the public modules, with every required
argument replaced by one wrong value at a time; and every public method of one fitted
instance of the main stateful classes, likewise. The named cases from issue 15 come first.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml import cost
from prodml.drift import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    KSWIN,
    DriftDetector,
    PageHinkley,
    Profile,
    stats,
)
from prodml.errors import ConfigError, DriftError, PolicyError, ProdMLError
from prodml.features import FeaturePipeline, steps
from prodml.rollout import UCB1, ABTest, EpsilonGreedy, Shadow, ThompsonSampling
from prodml.schema import Column, Schema

# 10**400: an int beyond the float range (float() of it raises OverflowError).
WRONG: list[object] = [None, 3, "x", [], {}, object(), -1, float("nan"), np.zeros((2, 2))]
WRONG += [10**400, float("inf")]

MODULES = [
    "prodml.schema",
    "prodml.fingerprint",
    "prodml.features",
    "prodml.features.steps",
    "prodml.drift",
    "prodml.drift.stats",
    "prodml.rollout",
    "prodml.cost",
    "prodml.fairness",
    "prodml.monitoring",
    "prodml.registry",
    "prodml.serving",
    "prodml.store",
    "prodml.explain",
    "prodml.retrain",
    "prodml.privacy",
    "prodml.privacy_dp",
    "prodml.lineage",
]

# Callables that may raise something else, each with the reason.
EXEMPT = {
    # A missing file is the built-in FileNotFoundError, as for open(); a wrong type is not.
    ("prodml.fingerprint.fingerprint_file", "x"): "FileNotFoundError for a missing file",
    ("prodml.fingerprint.fingerprint_path", "x"): "FileNotFoundError for a missing path",
}
# Result and entity classes that the library builds from checked data (their from_dict
# validation is issue 15 section 1); constructing them by hand is not a user path.
BUILT_BY_THE_LIBRARY = {
    "prodml.drift.DriftReport",
    "prodml.fairness.FairnessReport",
    "prodml.privacy_dp.DPRelease",
    "prodml.registry.Attestation",
    "prodml.registry.AuditEvent",
    "prodml.registry.Encryption",
    "prodml.registry.ModelVersion",
}


def _public_callables() -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for module in MODULES:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            obj = getattr(mod, name)
            qual = f"{module}.{name}"
            if (
                not callable(obj)
                or qual in BUILT_BY_THE_LIBRARY
                or (inspect.isclass(obj) and issubclass(obj, BaseException | Enum))
            ):
                continue
            if any(_required(obj)):
                found.append((qual, obj))
    return found


def _required(func: Callable[..., Any]) -> tuple[list[str], list[str]]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return [], []
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    positional = [
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    keyword = [p.name for p in params if p.default is p.empty and p.kind is p.KEYWORD_ONLY]
    return positional, keyword


def _call_with(func: Callable[..., Any], wrong: object) -> Exception | None:
    positional, keyword = _required(func)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            func(*[wrong] * len(positional), **dict.fromkeys(keyword, wrong))
        except Exception as err:  # noqa: BLE001 - the point: which kind of error
            return err
    return None


# Named by the qualified name alone: a function's repr holds its address, which differs
# between processes (pytest-xdist's workers must collect the same test ids).
@pytest.mark.parametrize(
    ("qual", "func"), [pytest.param(q, f, id=q) for q, f in _public_callables()]
)
def test_public_callables_raise_prodml_errors_on_wrong_types(
    qual: str, func: Callable[..., Any]
) -> None:
    for wrong in WRONG:
        err = _call_with(func, wrong)
        if err is None or isinstance(err, ProdMLError):
            continue
        assert (qual, wrong) in EXEMPT, f"{qual}({wrong!r}) raised {type(err).__name__}: {err}"


FRAME = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", "b"]})
INSTANCES: dict[str, Callable[[], Any]] = {
    "Schema": lambda: Schema([Column("x", "float")]),
    "FeaturePipeline": lambda: FeaturePipeline([steps.StandardScale(["x"])]).fit(FRAME),
    "DriftDetector": lambda: DriftDetector().fit(FRAME),
    "Profile": lambda: Profile.from_data(FRAME),
    "ADWIN": ADWIN,
    "PageHinkley": PageHinkley,
    "CUSUM": CUSUM,
    "DDM": DDM,
    "EDDM": EDDM,
    "HDDM_A": HDDM_A,
    "KSWIN": KSWIN,
    "Shadow": lambda: Shadow("a", "b"),
    "ABTest": lambda: ABTest(["a", "b"], metric="conv"),
    "EpsilonGreedy": lambda: EpsilonGreedy(["a", "b"]),
    "UCB1": lambda: UCB1(["a", "b"]),
    "ThompsonSampling": lambda: ThompsonSampling(["a", "b"]),
}
# scikit-learn's own machinery, not prodml's surface.
SKLEARN_METHODS = {
    "get_params",
    "set_params",
    "set_output",
    "fit_transform",
    "get_metadata_routing",
    "set_fit_request",
    "set_transform_request",
}


def _methods() -> list[tuple[str, str]]:
    out = []
    for cls_name, make in INSTANCES.items():
        obj = make()
        for name, member in inspect.getmembers(type(obj), predicate=inspect.isfunction):
            if name.startswith("_") or name in SKLEARN_METHODS:
                continue
            if any(_required(member)):
                out.append((cls_name, name))
    return out


@pytest.mark.parametrize(("cls_name", "method"), _methods(), ids=str)
def test_public_methods_raise_prodml_errors_on_wrong_types(cls_name: str, method: str) -> None:
    for wrong in WRONG:
        obj = INSTANCES[cls_name]()
        err = _call_with(getattr(obj, method), wrong)
        assert err is None or isinstance(err, ProdMLError), (
            f"{cls_name}.{method}({wrong!r}) raised {type(err).__name__}: {err}"
        )


def test_the_cases_named_in_the_issue() -> None:
    with pytest.raises(ConfigError, match="'columns' parameter of Schema"):
        Schema(None)
    profile = Profile.from_data(FRAME)
    with pytest.raises(DriftError, match=r"Profile\.merge needs a Profile; got int"):
        profile.merge(3)
    with pytest.raises(ConfigError, match="'table' parameter of markdown_table"):
        cost.markdown_table(None)
    with pytest.raises(DriftError, match="same bins; got 3 and 2"):
        stats.psi([1, 2, 3], [1, 2])
    shadow = Shadow("a", "b")
    with pytest.raises(PolicyError, match=r"shape \(2,\) and the shadow output \(3,\)"):
        shadow.compare(np.zeros(2), np.zeros(3))
    with pytest.raises(PolicyError, match="shape"):
        shadow.compare([0.1, 0.9], [0.2, 0.7, 0.1])
    # Same-shape vectors compare entry by entry, within the tolerance.
    assert shadow.compare([0.25, 0.75], np.array([0.25, 0.75])) is True
    assert shadow.compare([0.25, 0.75], [0.75, 0.25]) is False


def _optional_settings() -> list[tuple[str, str]]:
    """(class, parameter) for classes whose every setting has a default."""
    out = []
    for qual, obj in [(q, o) for m in MODULES for q, o in _module_classes(m)]:
        try:
            sig = inspect.signature(obj)
        except ValueError:  # a builtin-backed type (a tuple subclass): no settings
            continue
        params = [
            p
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        if params and all(p.default is not p.empty for p in params):
            out.extend((qual, p.name) for p in params)
    return out


def _module_classes(module: str) -> list[tuple[str, type]]:
    mod = importlib.import_module(module)
    return [
        (f"{module}.{n}", getattr(mod, n))
        for n in mod.__all__
        if inspect.isclass(getattr(mod, n))
        and not issubclass(getattr(mod, n), BaseException | Enum)
        and f"{module}.{n}" not in BUILT_BY_THE_LIBRARY
    ]


# ModelMonitor's settings are checked by its own state work (issue 15 sections 1 and 2).
SETTINGS_EXEMPT = {"prodml.monitoring.ModelMonitor"}


@pytest.mark.parametrize(
    ("qual", "param"),
    [(q, p) for q, p in _optional_settings() if q not in SETTINGS_EXEMPT],
    ids=str,
)
def test_wrong_settings_raise_prodml_errors_at_construction_or_not_at_all(
    qual: str, param: str
) -> None:
    module, name = qual.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    for wrong in [*WRONG, 10**30]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cls(**{param: wrong})
            except ProdMLError:
                continue
            except Exception as err:  # noqa: BLE001 - the point: which kind of error
                pytest.fail(f"{name}({param}={wrong!r}) raised {type(err).__name__}: {err}")


# ---------------------------------------------------------------- a missing model, or no model
# Each public entry point that takes a model, given None, a file name or a dict: a
# ProdMLError that says the model is missing or is not a model, and what is expected.
# A dict is named by its type only (it may be a record about a person): never quoted.
NOT_MODELS = {
    "none": (None, "is missing (None)"),
    "name": ("churn.pkl", "'churn.pkl'"),
    "dict": ({"coef": [1.5, 2.5], "email": "ann@example.com"}, "dict"),
}


def _small_pipeline() -> FeaturePipeline:
    return FeaturePipeline([steps.StandardScale(["a"])]).fit(pd.DataFrame({"a": [1.0, 2.0]}))


def _check_says(err: BaseException, kind: str, said: str, expected: str) -> None:
    text = str(err)
    assert isinstance(err, ProdMLError), f"{type(err).__name__}: {text}"
    assert said in text
    if kind != "none":
        assert "not a model" in text
    assert expected in text  # what to pass instead
    assert "ann@example.com" not in text
    assert "NoneType" not in text  # the old "no exact explainer for NoneType"


@pytest.mark.parametrize("kind", sorted(NOT_MODELS))
def test_explainer_says_the_model_is_missing_or_not_a_model(kind: str) -> None:
    from prodml.explain import Explainer

    bad, said = NOT_MODELS[kind]
    with pytest.raises(ConfigError) as info:
        Explainer(_small_pipeline(), bad, background=pd.DataFrame({"a": [1.0]})).fit()
    assert info.value.parameter == "model"
    _check_says(info.value, kind, said, "method='sampling'")
    if kind == "name":
        assert "load the model first" in str(info.value)


@pytest.mark.parametrize("kind", sorted(NOT_MODELS))
def test_fairness_gate_says_the_candidate_is_missing_or_not_a_model_version(kind: str) -> None:
    from prodml.fairness import FairnessGate

    bad, _ = NOT_MODELS[kind]
    gate = FairnessGate("tpr", max_difference=0.05)
    with pytest.raises(ConfigError) as info:
        gate(bad, None)  # used to answer "model version ? has no per-group counts recorded"
    assert info.value.parameter == "candidate"
    text = str(info.value)
    assert ("candidate model version is missing (None)" if kind == "none" else "not one") in text
    assert "ModelVersion" in text
    assert "ann@example.com" not in text
    assert "'churn.pkl'" not in text  # a model version is not a path: the type says enough


@pytest.mark.parametrize("kind", sorted(NOT_MODELS))
def test_registry_register_says_the_model_is_missing_or_not_a_model(
    kind: str, tmp_path: Any
) -> None:
    from prodml.registry import ModelRegistry

    bad, said = NOT_MODELS[kind]
    reg = ModelRegistry.local(tmp_path / "reg")
    pipe = _small_pipeline()
    try:
        with pytest.raises(ConfigError) as info:
            reg.register("churn", bad)
        _check_says(info.value, kind, said, "a fitted scikit-learn estimator")
        if kind == "name":
            assert "pathlib.Path('churn.pkl')" in str(info.value)
        with pytest.raises(ConfigError) as info:
            reg.register("churn", (pipe, bad))  # was "no flavour ... of type tuple"
        _check_says(info.value, kind, said, "each part of a pair must be")
        assert "the model of the (pipeline, model) pair" in str(info.value)
        files_says = {
            "none": r"model to register is missing \(None\)",
            "name": r"cannot register 'churn\.pkl': no such file",
            "dict": r"'files' flavour stores a file or folder.*Got dict, which is not a path",
        }
        with pytest.raises(ConfigError, match=files_says[kind]):
            reg.register("churn", bad, flavour="files")  # None and a dict: a raw TypeError
        sklearn_says = {  # the sklearn flavour used to pickle each of them as a model
            "none": r"model to register is missing \(None\)",
            "name": r"'sklearn' flavour stores a scikit-learn estimator.*Got str, which is not",
            "dict": r"'sklearn' flavour stores a scikit-learn estimator.*Got dict, which is not",
        }
        with pytest.raises(ConfigError, match=sklearn_says[kind]) as info:
            reg.register("churn", bad, flavour="sklearn")
        assert info.value.parameter == "model"
        assert "ann@example.com" not in str(info.value)
        assert reg.search("churn").items == []  # nothing was stored
    finally:
        reg.close()


class _DuckEstimator:
    """An estimator by its methods only (not a scikit-learn BaseEstimator)."""

    def fit(self, x: Any, y: Any = None) -> _DuckEstimator:
        self.mean_ = float(np.mean(x))
        return self

    def predict(self, x: Any) -> Any:
        return np.full(len(x), self.mean_)


def test_registry_sklearn_flavour_still_takes_a_duck_typed_estimator(tmp_path: Any) -> None:
    """``flavour="sklearn"`` is the override for estimators that are not BaseEstimators."""
    from prodml.registry import ModelRegistry

    reg = ModelRegistry.local(tmp_path / "reg")
    try:
        mv = reg.register("duck", _DuckEstimator().fit([1.0, 3.0]), flavour="sklearn")
        assert mv.flavour == "sklearn"
        back = reg.load("duck", mv.version, trusted=True)
        assert type(back).__name__ == "_DuckEstimator"
        assert back.predict([0, 0]).tolist() == [2.0, 2.0]
    finally:
        reg.close()


@pytest.mark.parametrize("kind", sorted(NOT_MODELS))
def test_predictor_says_the_model_is_missing_or_not_a_model(kind: str) -> None:
    """A ConfigError saying what is wrong with the model and what to pass, never a value."""
    from prodml.serving import Predictor

    bad, said = NOT_MODELS[kind]
    with pytest.raises(ConfigError) as info:
        Predictor(_small_pipeline(), bad)
    text = str(info.value)
    assert said in text
    assert "pass the fitted model (with predict)" in text
    assert info.value.parameter == "model"
    assert "ann@example.com" not in text
    if kind == "name":
        assert "load it first" in text


def test_predictor_says_the_pipeline_is_missing() -> None:
    from prodml.serving import Predictor

    with pytest.raises(ConfigError, match=r"the pipeline is missing \(None\)") as info:
        Predictor(None, object())
    assert info.value.parameter == "pipeline"


@pytest.mark.parametrize("kind", sorted(NOT_MODELS))
def test_retrain_run_fails_saying_train_returned_no_model(kind: str) -> None:
    from datetime import timedelta

    from prodml.registry import ModelRegistry
    from prodml.retrain import RetrainController, ScheduleTrigger

    bad, said = NOT_MODELS[kind]
    reg = ModelRegistry("memory://", f"memory://wrong-types-{kind}")
    ctl = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=lambda data, ctx: (None, bad, {"accuracy": 0.9}),
        data=lambda ctx: pd.DataFrame({"a": [1.0, 2.0]}),
        triggers=[ScheduleTrigger(timedelta(days=7))],
    )
    action = ctl.step(0.0)
    assert action.action == "fail"
    reason = action.reason
    assert "ConfigError" in reason  # a ProdMLError, not whatever the registry hit first
    if kind == "none":
        assert "train returned no model" in reason
    else:
        assert "not a model" in reason
        assert said in reason
    assert "ann@example.com" not in reason
    assert reg.search("churn").items == []
