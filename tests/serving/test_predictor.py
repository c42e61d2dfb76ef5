"""Predictor: the request path in one call, checked against the parts it composes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, SchemaError
from prodml.monitoring import ModelMonitor
from prodml.rollout import ABTest, BlueGreen, Canary, Shadow, Step
from prodml.schema import _record_is_clean
from prodml.serving import ModelError, Prediction, Predictor
from prodml.serving._check import compile_check
from prodml.testing import strategies as pst

from .conftest import SCHEMA, Broken, records


def expected_scores(pipe: Any, model: Any, df: pd.DataFrame) -> np.ndarray:
    return np.array(
        [model.predict_proba(pipe.transform_record(r)[None, :])[0, 1] for r in records(df)]
    )


def test_predict_record_equals_pipeline_and_model(data: pd.DataFrame, pipe: Any, lr: Any) -> None:
    pred = Predictor(pipe, lr, schema=SCHEMA, name="churn", version=7)
    recs = records(data.head(50))
    got = [pred.predict_record(r, id=i) for i, r in enumerate(recs)]
    assert [p.value for p in got] == expected_scores(pipe, lr, data.head(50)).tolist()
    batch = lr.predict_proba(pipe.transform(data.head(50).drop(columns=["y"])))[:, 1]
    np.testing.assert_allclose([p.value for p in got], batch, rtol=0, atol=1e-12)
    assert {(p.version, p.variant, p.model) for p in got} == {(7, "default", "churn")}
    assert [p.id for p in got] == list(range(50))
    assert all(p.latency_s > 0 for p in got)
    assert isinstance(got[0], Prediction)
    assert set(got[0].to_dict()) == {"value", "version", "variant", "latency_s", "id", "model"}


def test_generated_ids_are_unique(pipe: Any, lr: Any, data: pd.DataFrame) -> None:
    pred = Predictor(pipe, lr)
    rec = records(data.head(1))[0]
    ids = {pred.predict_record(rec).id for _ in range(200)}
    assert len(ids) == 200


def test_schema_error_lists_every_problem_as_schema_validate(pipe: Any, lr: Any, data: Any) -> None:
    pred = Predictor(pipe, lr, schema=SCHEMA)
    bad = {**records(data.head(1))[0], "f0": 99.0, "s0": 3, "ts": "yesterday"}
    del bad["f1"]
    with pytest.raises(SchemaError) as got:
        pred.predict_record(bad)
    with pytest.raises(SchemaError) as want:
        SCHEMA.validate(bad)
    assert got.value.problems == want.value.problems
    assert {p.column for p in got.value.problems} == {"f0", "f1", "s0", "ts"}
    assert pred.stats.requests[("default", "invalid")] == 1


@pytest.mark.parametrize("bad", [[1, 2, 3], "a record", None, 5])
def test_a_non_dict_record_is_a_schema_error(pipe: Any, lr: Any, bad: Any) -> None:
    with pytest.raises(SchemaError):
        Predictor(pipe, lr).predict_record(bad)


@settings(max_examples=80)
@given(st.data())
def test_compiled_check_agrees_with_schema_fast_path(data: st.DataObject) -> None:
    schema = data.draw(pst.schemas())
    record = data.draw(pst.records(schema=schema))
    if data.draw(st.booleans()) and schema.columns:  # and some records with a hole or junk
        col = data.draw(st.sampled_from(schema.names))
        junk = st.sampled_from(
            [None, float("nan"), 1.5, 3, True, "x", pd.Timestamp("2024-01-01"),
             pd.Timestamp("2024-01-01", tz="UTC"), pd.NaT, b"x"]
        )  # fmt: skip
        record[col] = data.draw(st.one_of(junk, st.integers(), st.text(max_size=3), st.floats()))
    assert compile_check(schema)(record) == _record_is_clean(schema, record, strict=schema.strict)


def test_model_error_is_wrapped_without_values(pipe: Any, lr: Any, data: Any) -> None:
    pred = Predictor(pipe, Broken(lr), schema=SCHEMA, name="churn", version=3)
    rec = {**records(data.head(1))[0], "f0": 45.0}
    with pytest.raises(ModelError) as err:
        pred.predict_record(rec)
    assert isinstance(err.value.__cause__, RuntimeError)
    assert "12345" not in str(err.value)
    assert "45" not in str(err.value)
    assert (err.value.model_name, err.value.version, err.value.variant) == ("churn", 3, "default")
    assert pred.stats.requests[("default", "error")] == 1


def test_monitor_gets_every_prediction_and_labels_join(pipe: Any, lr: Any, data: Any) -> None:
    mon = ModelMonitor("churn", evaluate_every_s=None)
    pred = Predictor(pipe, lr, monitor=mon)
    got = [pred.predict_record(r) for r in records(data.head(30))]
    assert mon.counters()["predictions_total"] == 30
    assert all(mon.log_label(p.id, int(y)) for p, y in zip(got, data.y.head(30), strict=True))
    assert mon.metrics()["window_count"] == 30.0


def test_a_failing_monitor_does_not_fail_the_request(pipe: Any, lr: Any, data: Any) -> None:
    mon = ModelMonitor("reg", task="regression", evaluate_every_s=None)
    mon.log_prediction = None  # type: ignore[method-assign]  # not callable: rejected
    with pytest.raises(ConfigError):
        Predictor(pipe, lr, monitor=mon)

    class Failing:
        def log_prediction(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("sink down")

    pred = Predictor(pipe, lr, monitor=Failing())
    assert 0 <= pred.predict_record(records(data.head(1))[0]).value <= 1
    assert pred.stats.monitor_errors == 1


def test_canary_routes_sticky_by_key_column(pipe: Any, lr: Any, lr2: Any, data: Any) -> None:
    canary = Canary(steps=[Step(0.3)], salt="t")
    pred = Predictor(
        pipe, lr, version=1, variants={"candidate": (pipe, lr2)}, policy=canary,
        key_column="customer",
    )  # fmt: skip
    recs = [{**r, "customer": f"c{i}"} for i, r in enumerate(records(data.head(200)))]
    got = [pred.predict_record(r) for r in recs]
    assert [p.variant for p in got] == [canary.route(r["customer"]) for r in recs]
    assert 20 < sum(p.variant == "candidate" for p in got) < 100
    for p, r in zip(got, recs, strict=True):
        model = lr2 if p.variant == "candidate" else lr
        x = pipe.transform_record({k: v for k, v in r.items() if k != "customer"})
        assert p.value == model.predict_proba(x[None, :])[0, 1]
    canary.promote()
    assert {pred.predict_record(r).variant for r in recs[:50]} == {"candidate"}
    canary2 = Canary(steps=[Step(0.3)])
    pred2 = Predictor(pipe, lr, variants={"candidate": (pipe, lr2)}, policy=canary2)
    canary2.rollback()
    assert {pred2.predict_record(r).variant for r in recs[:50]} == {"baseline"}


def test_ab_assignment_and_blue_green(pipe: Any, lr: Any, lr2: Any, data: Any) -> None:
    ab = ABTest({"A": 0.5, "B": 0.5}, metric="converted", salt="x")
    pred = Predictor(pipe, lr, variants={"B": (pipe, lr2)}, policy=ab)
    rec = records(data.head(1))[0]
    keys = [f"user-{i}" for i in range(100)]
    assert [pred.predict_record(rec, key=k).variant for k in keys] == [ab.route(k) for k in keys]
    bg = BlueGreen("blue", "green")
    pred = Predictor(pipe, lr, variants={"green": (pipe, lr2)}, policy=bg)
    assert pred.predict_record(rec).variant == "blue"
    bg.switch()
    assert pred.predict_record(rec).variant == "green"


def test_variants_must_match_the_policy(pipe: Any, lr: Any, lr2: Any) -> None:
    with pytest.raises(ConfigError, match="candidate"):
        Predictor(pipe, lr, policy=Canary())
    with pytest.raises(ConfigError, match="nope"):
        Predictor(pipe, lr, variants={"nope": (pipe, lr2)})
    with pytest.raises(ConfigError, match="rollout policy"):
        Predictor(pipe, lr, policy=object())
    with pytest.raises(ConfigError, match="'candidate' is a LogisticRegression, not a"):
        Predictor(pipe, lr, policy=Canary(), variants={"candidate": lr2})


def test_shadow_scores_off_the_response_path(pipe: Any, lr: Any, lr2: Any, data: Any) -> None:
    shadow = Shadow(mirror=0.5, salt="s", min_agreement=None)
    mon = ModelMonitor("churn", evaluate_every_s=None)
    pred = Predictor(pipe, lr, variants={"shadow": (pipe, lr2)}, policy=shadow, monitor=mon)
    recs = records(data.head(100))
    got = [pred.predict_record(r, id=f"r{i}") for i, r in enumerate(recs)]
    pred.drain_shadow()
    assert {p.variant for p in got} == {"primary"}
    mirrored = sum(shadow.should_mirror(f"r{i}") for i in range(100))
    assert 20 < mirrored < 80
    assert shadow.report()["compared"] == mirrored == pred.stats.shadow["compared"]
    assert mon.counters()["predictions_total"] == 100  # the shadow's answers are not logged
    pred.close()


def test_shadow_failures_never_fail_requests(pipe: Any, lr: Any, data: Any) -> None:
    shadow = Shadow(mirror=1.0, min_agreement=None)
    pred = Predictor(pipe, lr, variants={"shadow": (pipe, Broken(lr))}, policy=shadow)
    recs = [{**r, "f0": 45.0} for r in records(data.head(20))]
    got = [pred.predict_record(r) for r in recs]
    pred.drain_shadow()
    assert len(got) == 20
    assert pred.stats.shadow["error"] == 20
    assert shadow.report()["compared"] == 0
    pred.close()


class Explainer:
    def __init__(self, pipe: Any, model: Any) -> None:
        self.model = model
        self.calls: list[dict[str, Any]] = []

    def explain_record(self, record: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(record)
        return {
            "values": np.array([0.5, -0.25]),
            "base_values": 0.1,
            "model": type(self.model).__name__,
        }


def test_explainer_object_and_factory(pipe: Any, lr: Any, lr2: Any, data: Any) -> None:
    rec = {**records(data.head(1))[0], "request_id": "x"}
    explainer = Explainer(pipe, lr)
    p = Predictor(pipe, lr, explainer=explainer).predict_record(rec, explain=True)
    assert p.explanation["base_values"] == 0.1
    assert "request_id" not in explainer.calls[0]  # the explainer sees the model's inputs
    assert p.to_dict()["explanation"] == {
        "values": [0.5, -0.25],
        "base_values": 0.1,
        "model": "LogisticRegression",
    }
    assert Predictor(pipe, lr, explainer=explainer).predict_record(rec).explanation is None
    canary = Canary(steps=[Step(1.0)])
    pred = Predictor(
        pipe, lr, variants={"candidate": (pipe, lr2)}, policy=canary, explainer=Explainer
    )
    assert pred.predict_record(rec, explain=True).explanation["model"] == "LogisticRegression"
    with pytest.raises(ConfigError, match="explainer"):
        Predictor(pipe, lr).predict_record(rec, explain=True)
    with pytest.raises(ConfigError, match="explain_record"):
        Predictor(pipe, lr, explainer=42)


def test_explainer_failure_is_a_model_error(pipe: Any, lr: Any, data: Any) -> None:
    class Bad:
        def explain_record(self, record: Any) -> Any:
            raise ValueError("boom 999")

    with pytest.raises(ModelError, match="explainer") as err:
        Predictor(pipe, lr, explainer=Bad()).predict_record(records(data.head(1))[0], explain=True)
    assert "999" not in str(err.value)


@pytest.mark.parametrize("model_name", ["lr", "gbc"])
def test_predict_many_equals_predict_record_bit_for_bit(
    model_name: str, request: Any, pipe: Any, data: Any
) -> None:
    model = request.getfixturevalue(model_name)
    pred = Predictor(pipe, model, schema=SCHEMA)
    recs = records(data.head(64))
    recs[5] = {**recs[5], "f0": "high"}
    recs[9] = {**recs[9], "s1": 12, "f2": 1e9}
    many = pred.predict_many(recs, ids=list(range(64)))
    for i, (r, got) in enumerate(zip(recs, many, strict=True)):
        if i in (5, 9):
            assert isinstance(got, SchemaError)
            assert {p.row for p in got.problems} == {i}
            continue
        assert got.value == pred.predict_record(r).value
        assert type(got.value) is float
    assert isinstance(many[9], SchemaError)
    assert len(many[9].problems) == 2
    atomic = pred.predict_many(recs, atomic=True)
    assert sum(r is None for r in atomic) == 62


def test_gradient_boosting_is_row_stable_so_batches_call_it_once(pipe: Any, gbc: Any) -> None:
    assert Predictor(pipe, gbc).variants["default"].row_stable


def test_predict_batch_matches_records_and_selects_columns(pipe: Any, lr: Any, data: Any) -> None:
    pred = Predictor(pipe, lr, schema=SCHEMA)
    df = data.head(40).drop(columns=["y"]).assign(customer=range(40))
    got = pred.predict_batch(df)
    singles = [pred.predict_record(r).value for r in records(data.head(40))]
    np.testing.assert_allclose(got, singles, rtol=0, atol=1e-12)
    import pyarrow as pa

    table = pred.predict_batch(pa.Table.from_pandas(df), output="arrow")
    assert table.column_names == ["prediction"]
    np.testing.assert_array_equal(table.column(0).to_numpy(), got)
    with pytest.raises(SchemaError):
        pred.predict_batch(df.assign(f0="x"))
    with pytest.raises(ConfigError, match="output"):
        pred.predict_batch(df, output="pandas")
    with pytest.raises(ConfigError, match="variant"):
        pred.predict_batch(df, variant="nope")


def test_outputs_and_bad_pairs(pipe: Any, lr: Any, data: Any) -> None:
    rec = records(data.head(1))[0]
    x = pipe.transform_record(rec)[None, :]
    assert Predictor(pipe, lr, output="predict").predict_record(rec).value == lr.predict(x)[0]
    margin = Predictor(pipe, lr, output="decision_function").predict_record(rec).value
    assert margin == lr.decision_function(x)[0]
    with pytest.raises(ConfigError, match="output"):
        Predictor(pipe, lr, output="proba_all")
    with pytest.raises(ConfigError, match="FeaturePipeline"):
        Predictor("not a pipeline", lr)
    with pytest.raises(ConfigError, match="predict"):
        Predictor(pipe, object())
    from sklearn.linear_model import LogisticRegression

    narrow = LogisticRegression().fit(np.zeros((4, 2)) + np.arange(4)[:, None], [0, 0, 1, 1])
    with pytest.raises(ConfigError, match="expects 2 features"):
        Predictor(pipe, narrow)


def test_router_and_bandit_policies(pipe: Any, lr: Any, lr2: Any, data: Any) -> None:
    from prodml.rollout import EpsilonGreedy, Router

    rec = records(data.head(1))[0]
    router = Router({"new": 0.5, "old": 0.5}, salt="r")
    pred = Predictor(pipe, lr, variants={"old": (pipe, lr2)}, policy=router)
    keys = [f"k{i}" for i in range(50)]
    assert [pred.predict_record(rec, key=k).variant for k in keys] == router.route_many(keys)
    bandit = EpsilonGreedy(["a", "b"], seed=0)
    pred = Predictor(pipe, lr, variants={"b": (pipe, lr2)}, policy=bandit)
    chosen = {pred.predict_record(rec).variant for _ in range(60)}
    assert chosen == {"a", "b"}


def test_shadow_mirrors_by_the_routing_key(pipe: Any, lr: Any, lr2: Any, data: Any) -> None:
    shadow = Shadow(mirror=0.5, salt="m", min_agreement=None)
    pred = Predictor(
        pipe, lr, variants={"shadow": (pipe, lr2)}, policy=shadow, key_column="customer"
    )
    recs = [{**r, "customer": f"c{i}"} for i, r in enumerate(records(data.head(60)))]
    for r in recs:
        pred.predict_record(r)
    pred.predict_many(recs)
    pred.drain_shadow()
    mirrored = sum(shadow.should_mirror(r["customer"]) for r in recs)
    assert shadow.report()["compared"] == 2 * mirrored
    with pytest.raises(SchemaError):  # not a dict: no key column to read, still a clean error
        pred.predict_record([1, 2])  # type: ignore[arg-type]
    pred.close()
