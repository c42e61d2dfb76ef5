"""State as data: versioned JSON, validated on load; errors that name what is wrong."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from prodml.errors import ConfigError, NotFittedError, SchemaError
from prodml.explain import (
    SUPPORTED,
    Explainer,
    Explanation,
    importance_html,
    importance_markdown,
)
from prodml.features import FeaturePipeline

from .conftest import churn_frame, legacy_state, records


@pytest.fixture(scope="module")
def fitted(churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline]) -> dict[str, Explainer]:
    df, y, pipe = churn
    X = pipe.transform(df)
    return {
        "linear": Explainer(
            pipe, LogisticRegression(max_iter=2000).fit(X, y), background=df.iloc[:200]
        ).fit(),
        "tree": Explainer(
            pipe, GradientBoostingClassifier(n_estimators=15, random_state=0).fit(X, y)
        ).fit(),
    }


@pytest.mark.parametrize("method", ["linear", "tree"])
def test_json_round_trip_explains_the_same_bits(
    fitted: dict[str, Explainer],
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
    method: str,
) -> None:
    df = churn[0]
    ex = fitted[method]
    text = ex.to_json()
    back = Explainer.from_json(text)
    assert back.model is None  # the serving process needs no model object
    assert back.to_json() == text
    assert back.fingerprint == ex.fingerprint
    assert len(ex.fingerprint) == 64
    a, b = ex.explain_batch(df), back.explain_batch(df)
    assert a.values.tobytes() == b.values.tobytes()
    assert a.prediction.tobytes() == b.prediction.tobytes()
    rec = records(df)[3]
    assert back.explain_record(rec) == ex.explain_record(rec)
    assert json.loads(text)["format_version"] == (1 if method == "linear" else 5)


def _broken(state: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    d = json.loads(json.dumps(state))
    node = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return d


@pytest.mark.parametrize(
    ("method", "path", "value", "message"),
    [
        ("linear", ["format_version"], 99, "format_version 99"),
        ("linear", ["kind"], "Other", "'kind'"),
        ("linear", ["method"], "magic", "'method'"),
        ("linear", ["kernel", "coef"], [1.0, 2.0], "kernel.coef"),
        ("linear", ["kernel", "intercept"], "nan", "kernel.intercept"),
        ("linear", ["kernel", "scale"], "odds", "kernel.scale"),
        ("linear", ["class_index"], True, "class_index"),
        ("tree", ["kernel", "n_features"], 3, "kernel.n_features"),
        ("tree", ["kernel", "trees"], [], "kernel.trees"),
        ("tree", ["kernel", "trees", 0, "left", 0], 0, "kernel.trees[0].left"),
        ("tree", ["kernel", "trees", 1, "feature", 0], 10_000, "kernel.trees[1].feature"),
        ("tree", ["kernel", "trees", 0, "cover", 0], -1.0, "kernel.trees[0].cover"),
        ("tree", ["kernel", "trees", 0, "value"], [1.0], "kernel.trees[0].value"),
        ("tree", ["kernel", "float32"], "yes", "kernel.float32"),
        ("tree", ["pipeline", "format_version"], 7, "FeaturePipeline state field 'format_version'"),
    ],
)
def test_corrupt_state_is_refused_naming_the_field(
    fitted: dict[str, Explainer], method: str, path: list[Any], value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Explainer.from_dict(_broken(legacy_state(fitted[method]), path, value))


def test_cyclic_tree_is_refused(fitted: dict[str, Explainer]) -> None:
    state = legacy_state(fitted["tree"])  # format 1 (test_state_packed.py: format 5)
    tree = state["kernel"]["trees"][0]
    inner = next(i for i, left in enumerate(tree["left"]) if left > 1)
    tree["left"][inner] = 0  # points back at the root
    with pytest.raises(ConfigError, match="forward child indices"):
        Explainer.from_dict(state)


@pytest.mark.parametrize("text", ["{", "[]", 42, '{"format_version": 1}'])
def test_bad_json_is_a_config_error(text: Any) -> None:
    with pytest.raises(ConfigError):
        Explainer.from_json(text)


def test_unsupported_model_names_what_is_supported(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    df, y, pipe = churn
    model = KNeighborsClassifier().fit(pipe.transform(df), y)
    with pytest.raises(
        ConfigError, match=r"no exact explainer for sklearn\.KNeighborsClassifier"
    ) as err:
        Explainer(pipe, model, background=df).fit()
    assert SUPPORTED in str(err.value)
    assert "GradientBoostingClassifier" in SUPPORTED


def test_settings_are_checked_at_fit(
    churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline],
) -> None:
    df, y, pipe = churn
    model = LogisticRegression(max_iter=500).fit(pipe.transform(df), y)
    with pytest.raises(ConfigError, match="'method' parameter"):
        Explainer(pipe, model, background=df, method="kernel").fit()
    with pytest.raises(ConfigError, match="'class_index' parameter"):
        Explainer(pipe, model, background=df, class_index="1").fit()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'pipeline' parameter"):
        Explainer(object(), model).fit()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not fitted"):
        Explainer(FeaturePipeline(pipe.steps), model).fit()
    narrow = LogisticRegression().fit(pipe.transform(df)[:, :5], y)
    with pytest.raises(ConfigError, match="5 coefficients"):
        Explainer(pipe, narrow, background=df).fit()
    with pytest.raises(NotFittedError):
        Explainer(pipe, model).explain_record({})
    with pytest.raises(NotFittedError):
        _ = Explainer(pipe, model).base


def test_bad_record_is_the_pipelines_schema_error(fitted: dict[str, Explainer]) -> None:
    with pytest.raises(SchemaError) as err:
        fitted["tree"].explain_record({"age": "old", "plan": "pro"})
    assert err.value.problems  # type: ignore[attr-defined]
    # Every problem at once, as serving's schema check reports them.
    bad = {**records(churn_frame(3))[0], "age": "old", "income": "rich", "plan": 3}
    with pytest.raises(SchemaError) as many:
        fitted["tree"].explain_record(bad)
    assert many.value.columns == ["age", "income", "plan"]
    with pytest.raises(SchemaError):
        fitted["linear"].explain_record([1, 2])  # type: ignore[arg-type]


def test_report_fragments(
    fitted: dict[str, Explainer], churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline]
) -> None:
    df = churn[0]
    ex = fitted["tree"]
    e = ex.explain_record(records(df)[0])
    top = e.top(3)
    assert [abs(v) for _, v in top] == sorted((abs(v) for v in e.values.values()), reverse=True)[:3]
    md = e.to_markdown(top=3)
    assert md.count("\n| ") == 4  # header + 3 reasons
    assert top[0][0] in md
    assert "log-odds" in md
    html = e.to_html(top=2)
    assert html.count("<tr>") == 3
    assert html.startswith("<table")
    imp = ex.importance(df)
    assert importance_markdown(imp, top=4).count("\n") == 6
    assert importance_html({"a<b": 1.0}).count("a&lt;b") == 1
    assert e.to_dict()["values"] == e.values
    assert "fitted=False" in repr(Explainer(ex.pipeline, None))
    assert repr(ex) == "Explainer(method='tree', scale='margin', columns=6)"


def test_report_tables_align_decimals() -> None:
    """A table column shows every row with the same decimals (the demo showed 0.4713 above
    -0.09294), enough for four significant digits of its largest value."""
    e = Explanation(
        2.239, {"spend": 1.9634, "sessions": 0.47131, "region": -0.092941}, 4.58, "margin", "linear"
    )
    md = e.to_markdown()
    assert "| spend | +1.963 |" in md
    assert "| sessions | +0.471 |" in md
    assert "| region | -0.093 |" in md
    assert "+0.093" not in e.to_html()
    assert ">-0.093<" in e.to_html()
    imp = {"sessions": 1.708, "plan": 0.2826, "region": 0.07387}
    assert importance_markdown(imp).splitlines()[2:] == [
        "| sessions | 1.708 |",
        "| plan | 0.283 |",
        "| region | 0.074 |",
    ]
    assert ">0.074<" in importance_html(imp)
    tiny = importance_markdown({"a": 3e-7, "b": 1e-8})
    assert "| a | 3e-07 |" in tiny
    assert "| b | 1e-08 |" in tiny
    assert "| a | 0.000 |" in importance_markdown({"a": 0.0})
