"""Every stateful class refuses hostile saved state with a ProdMLError, or works (issue 15 §1).

``STATEFUL`` lists a (factory, use) pair per class with ``from_dict``; the property check
:func:`prodml.testing.state_mutations.check_state_mutations` mutates every leaf of the
factory object's ``to_dict()``. ``test_every_class_with_from_dict_is_listed`` fails when a
new class with ``from_dict`` is added without an entry here.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import pkgutil
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prodml
from prodml.errors import ConfigError, ProdMLError, StateError
from prodml.testing.state_mutations import check_state_mutations, mutations


def _pipeline() -> Any:
    from prodml.features import FeaturePipeline, steps

    df = pd.DataFrame(
        {
            "x": [1.0, 2.0, None, 4.0, 5.0, 7.0],
            "y": [0.5, 1.5, 2.5, 3.5, 4.5, 9.0],
            "c": ["a", "b", "a", "c", None, "a"],
            "d": pd.to_datetime(["2024-01-01", "2024-02-03", "2024-03-04"] * 2),
        }
    )
    pipe = FeaturePipeline(
        [
            steps.Impute(["x"], strategy="median"),
            steps.StandardScale(["x"]),
            steps.MinMaxScale(["y"], clip=True),  # a parameter saved only when set
            steps.Impute(["c"], strategy="most_frequent"),
            steps.OneHot(["c"]),
            steps.DateParts(["d"]),
        ]
    ).fit(df)
    return pipe, df


def _pipeline_use(pipe: Any) -> None:
    _, df = _pipeline()
    pipe.transform(df.head(3))
    pipe.transform_record(df.iloc[0].to_dict())


def _pipeline2() -> Any:
    from prodml.features import FeaturePipeline, steps

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 10.0], "c": ["a", "b", "a", "b"]})
    return FeaturePipeline(
        [
            steps.RobustScale(["x"]),
            steps.Bucketize(["x"], n_bins=3),
            steps.Ordinal(["c"]),
        ]
    ).fit(df)


def _pipeline2_use(pipe: Any) -> None:
    pipe.transform(pd.DataFrame({"x": [1.5, 8.0], "c": ["a", "b"]}))
    pipe.transform_record({"x": 2.0, "c": "b"})


def _detector(name: str) -> Callable[[], Any]:
    def make() -> Any:
        from prodml.drift import streaming

        det = getattr(streaming, name)()
        rng = np.random.default_rng(0)
        if det.domain == "binary":
            det.update_many((rng.random(300) < 0.2).astype(float))
        else:
            det.update_many(rng.random(300))
        return det

    return make


def _detector_use(det: Any) -> None:
    det.update(1.0)
    det.update(0.0)


def _profile() -> Any:
    from prodml.drift import Profile

    return Profile().update(
        pd.DataFrame({"x": [1.0, 2.0, 3.0, None], "c": ["u", "v", "u", None], "b": [True] * 4})
    )


def _profile_use(p: Any) -> None:
    p.merge(_profile())
    p.update(pd.DataFrame({"x": [1.0], "c": ["u"], "b": [False]}))


def _report() -> Any:
    from prodml.drift import DriftDetector

    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(["a", "b"], 200)})
    cur = pd.DataFrame({"x": rng.normal(1, 1, size=200), "c": rng.choice(["a", "b"], 200)})
    return DriftDetector().fit(ref).detect(cur)


def _report_use(r: Any) -> None:
    r.to_frame()
    r.to_html()
    _ = r.drifted_columns


def _router() -> Any:
    from prodml.rollout import Router

    return Router({"a": 0.3, "b": 0.7}, salt="s")


def _canary() -> Any:
    from prodml.rollout import Canary, Gate, Step

    c = Canary(
        steps=[Step(0.1, min_samples=20), Step(0.5, min_samples=20)],
        gates=[Gate("error_rate", threshold=0.1)],
        clock=lambda: 5.0,
    )
    c.observe_summary("candidate", 50, {"error_rate": 0.01})
    c.observe_summary("baseline", 50, {"error_rate": 0.02})
    c.evaluate()
    return c


def _policy_use(p: Any) -> None:
    p.route("user-1")
    p.evaluate()


def _bluegreen() -> Any:
    from prodml.rollout import BlueGreen, Gate

    bg = BlueGreen("blue", "green", gates=[Gate("error", threshold=0.05)], clock=lambda: 1.0)
    bg.observe_many("green", error=[0.0] * 50)
    bg.evaluate()
    return bg


def _shadow() -> Any:
    from prodml.rollout import Shadow

    sh = Shadow(mirror=0.5, min_agreement=0.9, tolerance=0.01, clock=lambda: 0.0)
    sh.compare_many(
        [1.0] * 40, [1.001] * 40, primary_latency=[10.0] * 40, shadow_latency=[12.0] * 40
    )
    sh.evaluate()
    return sh


def _shadow_use(sh: Any) -> None:
    sh.route("user-1")
    sh.compare(1.0, 1.0, primary_latency=1.0, shadow_latency=2.0)
    sh.report()
    sh.evaluate()


def _abtest() -> Any:
    from prodml.rollout import ABTest

    ab = ABTest({"A": 0.5, "B": 0.5}, metric="converted", clock=lambda: 0.0)
    ab.observe_summary("A", 2000, {"converted": 0.100})
    ab.observe_summary("B", 2000, {"converted": 0.125})
    ab.evaluate()
    return ab


def _bandit(name: str) -> Callable[[], Any]:
    def make() -> Any:
        from prodml import rollout

        b = getattr(rollout, name)(["a", "b", "c"], seed=1)
        for i in range(30):
            arm = b.choose()
            b.update(arm, float(i % 3 == 0))
        return b

    return make


def _bandit_use(b: Any) -> None:
    arm = b.choose()
    b.update(arm, 1.0)
    b.choose_many(3)


def _monitor() -> Any:
    from prodml.monitoring import AlertRule, CountWindow, ModelMonitor

    clock = iter([float(t) for t in range(1000)]).__next__
    mon = ModelMonitor(
        "churn",
        window=CountWindow(8),
        rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.6, clear=0.8)],
        clock=clock,
        evaluate_every_s=None,
    )
    for i, (score, label) in enumerate([(0.9, 1), (0.2, 0), (0.8, 0), (0.7, 0)]):
        mon.log_prediction(i, None, score, latency_s=0.004)
        mon.log_label(i, label)
    mon.log_prediction(99, None, 0.5, latency_s=0.01)
    mon.evaluate()
    return mon


def _monitor_load(d: Any) -> Any:
    from prodml.monitoring import ModelMonitor

    return ModelMonitor.from_dict(d, clock=iter([float(t) for t in range(100, 1000)]).__next__)


def _monitor_use(mon: Any) -> None:
    mon.log_prediction(1000, None, 0.3, latency_s=0.002)
    mon.log_label(1000, 1)
    mon.metrics()
    mon.evaluate()


def _histogram() -> Any:
    from prodml.monitoring import Histogram

    h = Histogram((0.01, 0.05, 0.1, 0.5))
    for v in (0.004, 0.02, 0.03, 0.07, 0.2, 3.0):
        h.observe(v)
    return h


def _histogram_use(h: Any) -> None:
    h.observe(0.02)
    h.quantile(0.5)
    h.merge(_histogram())


def _rule_state() -> Any:
    from prodml.monitoring.alerts import AlertRule, RuleState

    rule = AlertRule("acc", metric="accuracy", op="<", fire=0.8, clear=0.85, for_s=60)
    st = RuleState()
    for t, v in [(0, 0.7), (30, 0.75), (60, 0.78)]:
        st.step(rule, v, traffic=500, now=float(t))
    return st


def _rule_state_use(st: Any) -> None:
    from prodml.monitoring.alerts import AlertRule

    rule = AlertRule("acc", metric="accuracy", op="<", fire=0.8, clear=0.85, for_s=60)
    st.step(rule, 0.9, traffic=500, now=1e6)


def _group_metrics() -> Any:
    from prodml.fairness import GroupMetrics

    gm = GroupMetrics(["sex"], ["selection_rate", "tpr"], min_count=1)
    return gm.update([1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 1, 1], ["F", "F", "F", "M", "M", "M"])


def _group_metrics_use(gm: Any) -> None:
    gm.update_record(1, 0, {"sex": "F"})
    gm.report().by_group  # noqa: B018 - the use is the computation


def _fairness_gate() -> Any:
    from prodml.fairness import FairnessGate

    return FairnessGate("tpr", max_difference=0.05)


def _fairness_gate_use(g: Any) -> None:
    g.evaluate(_group_metrics())


def _cost() -> Any:
    from prodml.cost import CostEstimate

    return CostEstimate.point({"compute": 80.0, "storage": 20.0}, unit="per month")


def _cost_use(c: Any) -> None:
    str(c)
    c.to_dict()


def _schema() -> Any:
    from prodml.schema import Schema

    return Schema.infer(pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]}))


def _schema_use(s: Any) -> None:
    s.validate(pd.DataFrame({"x": [1.0], "c": ["a"]}))


def _view() -> Any:
    from prodml.store import Entity, FeatureView, Source

    return FeatureView(
        "txn",
        entity=Entity("user", keys=["user_id"]),
        source=Source.parquet("txn/", timestamp="event_at"),
        features=["amount_7d"],
        ttl=timedelta(days=30),
    )


def _entity() -> Any:
    from prodml.store import Entity

    return Entity("user", keys=["user_id"])


def _source() -> Any:
    from prodml.store import Source

    return Source.parquet("data/txn/", timestamp="event_at", created="created_at")


def _decision() -> Any:
    from prodml.rollout import Decision

    return Decision(
        "hold", "waiting", {"n": 3, "gates": [{"gate": "x", "verdict": "pass"}]}, time=1.0
    )


def _gate() -> Any:
    from prodml.rollout import Gate

    return Gate("error_rate", threshold=0.1)


def _gate_use(g: Any) -> None:
    from prodml.rollout import Canary, Step

    c = Canary(steps=[Step(0.5, min_samples=1)], gates=[g], clock=lambda: 0.0)
    c.observe_summary("candidate", 50, {g.metric: 0.01})
    c.observe_summary("baseline", 50, {g.metric: 0.01})
    c.evaluate()


def _sketch() -> Any:
    from prodml.rollout._sketch import QuantileSketch

    q = QuantileSketch()
    for v in np.linspace(0, 1, 50):
        q.add(float(v))
    return q


def _sketch_use(q: Any) -> None:
    q.add(0.3)
    q.quantile(0.5)


def _drift_summary() -> Any:
    from prodml.monitoring._drift import DriftSummary

    col = {"drifted": 1.0, "testable": 1.0, "statistic": 0.2, "p_value": 0.01, "effect": 0.3}
    return DriftSummary(at=3.0, n_rows=10, columns={"x": col})


def _explainer() -> Any:
    from sklearn.linear_model import LinearRegression

    from prodml.explain import Explainer
    from prodml.features import FeaturePipeline, steps

    df = pd.DataFrame({"age": [20.0, 30.0, 40.0, 50.0], "plan": ["a", "b", "a", "b"]})
    pipe = FeaturePipeline([steps.StandardScale(["age"]), steps.OneHot(["plan"])]).fit(df)
    model = LinearRegression().fit(pipe.transform(df), [1.0, 3.0, 2.0, 4.0])
    return Explainer(pipe, model, background=df).fit()


def _interventional_explainer() -> Any:
    from sklearn.tree import DecisionTreeRegressor

    from prodml.explain import Explainer
    from prodml.features import FeaturePipeline, steps

    df = pd.DataFrame({"age": [20.0, 30.0, 40.0, 50.0], "plan": ["a", "b", "a", "b"]})
    pipe = FeaturePipeline([steps.StandardScale(["age"]), steps.OneHot(["plan"])]).fit(df)
    model = DecisionTreeRegressor(max_depth=2, random_state=0)
    model.fit(pipe.transform(df), [1.0, 3.0, 2.0, 4.0])
    return Explainer(
        pipe, model, background=df, feature_perturbation="interventional", n_background=3
    ).fit()


def _explainer_use(ex: Any) -> None:
    ex.explain_record({"age": 50.0, "plan": "b"})


def _retrain_state() -> Any:
    from prodml.retrain import RetrainState

    return RetrainState(model="churn", alias="production")


def _trust_policy() -> Any:
    pytest.importorskip("cryptography", reason="TrustPolicy keys need the 'sign' extra")
    from prodml.registry.signing import Ed25519Signer, TrustPolicy

    return TrustPolicy([Ed25519Signer.generate().verifier()])


def _privacy() -> Any:
    from prodml.privacy import Privacy

    return Privacy(salt="not-a-real-salt")


def _privacy_load(d: Any) -> Any:
    from prodml.privacy import Privacy

    return Privacy.from_dict(d, salt="not-a-real-salt")


def _model_card() -> Any:
    import tempfile

    from prodml.fairness import GroupMetrics
    from prodml.registry import ModelRegistry
    from prodml.schema import Column, Schema

    gm = GroupMetrics(["sex"], ["selection_rate"], min_count=1)
    gm.update([1, 0, 1, 1], [1, 0, 0, 1], ["F", "F", "M", "M"])
    signature = Schema(
        [Column("tenure", "int", min=0, max=600), Column("plan", "category", allowed=["a"])]
    )
    reg = ModelRegistry.local(tempfile.mkdtemp(), actor="ann")
    mv = reg.register(
        "churn",
        signature,
        signature=signature,
        description="Monthly churn score",
        tags={"intended_use": "retention calls", "team": "growth"},
        metrics={"auc": 0.81},
        lineage={
            "data_fingerprint": "ab12",
            "run_id": "run-42",
            "fairness": gm.report().to_dict(),
            "importance": {"tenure": 0.7, "plan": -0.2},
        },
    )
    reg.set_alias("churn", "production", mv.version)
    card = reg.card("churn@production")
    reg.close()
    return card


def _model_card_use(card: Any) -> None:
    card.to_markdown()
    card.to_html()
    card.to_json()
    repr(card)


def _noop(obj: Any) -> None:
    obj.to_dict()


_DETECTORS = ("ADWIN", "CUSUM", "DDM", "EDDM", "HDDM_A", "HDDM_W", "KSWIN", "PageHinkley")


# class name -> (factory, use, loader or None for type(obj).from_dict)
def _budget() -> Any:
    from prodml.privacy_dp import PrivacyBudget

    budget = PrivacyBudget(epsilon=2.0, delta=1e-6)
    budget.spend(0.5, label="site a")
    budget.spend(0.25, 1e-7, label="site b")
    return budget


def _budget_use(b: Any) -> None:
    b.remaining  # noqa: B018 - the use is the computation
    if b.can_spend(0.01):
        b.spend(0.01)


def _dp_release() -> Any:
    from prodml.privacy_dp import Bins, Categories, release_profile

    prof = _profile()
    doms = {"x": Bins([0.0, 2.0, 4.0]), "c": Categories(["u", "v"])}
    a = release_profile(prof, doms, epsilon=1.0, seed=0)
    return a.merge(release_profile(prof, doms, epsilon=0.5, seed=1))


def _dp_release_use(r: Any) -> None:
    from prodml.privacy_dp import compare

    r.to_frame()
    r.counts(r.columns[0])
    compare(r, r, n_sim=99)


STATEFUL: dict[str, tuple[Callable[[], Any], Callable[[Any], object], Any]] = {
    "FeaturePipeline": (lambda: _pipeline()[0], _pipeline_use, None),
    "FeaturePipeline[robust,bucketize,ordinal]": (_pipeline2, _pipeline2_use, None),
    **{name: (_detector(name), _detector_use, None) for name in _DETECTORS},
    "Profile": (_profile, _profile_use, None),
    "DriftReport": (_report, _report_use, None),
    "Router": (_router, lambda r: r.route("k"), None),
    "Canary": (_canary, _policy_use, None),
    "BlueGreen": (_bluegreen, _policy_use, None),
    "Shadow": (_shadow, _shadow_use, None),
    "ABTest": (_abtest, _policy_use, None),
    "EpsilonGreedy": (_bandit("EpsilonGreedy"), _bandit_use, None),
    "UCB1": (_bandit("UCB1"), _bandit_use, None),
    "ThompsonSampling": (_bandit("ThompsonSampling"), _bandit_use, None),
    "Decision": (_decision, _noop, None),
    "Gate": (_gate, _gate_use, None),
    "QuantileSketch": (_sketch, _sketch_use, None),
    "ModelMonitor": (_monitor, _monitor_use, _monitor_load),
    "Histogram": (_histogram, _histogram_use, None),
    "RuleState": (_rule_state, _rule_state_use, None),
    "DriftSummary": (_drift_summary, lambda s: s.values(), None),
    "GroupMetrics": (_group_metrics, _group_metrics_use, None),
    "FairnessGate": (_fairness_gate, _fairness_gate_use, None),
    "CostEstimate": (_cost, _cost_use, None),
    "Schema": (_schema, _schema_use, None),
    "Entity": (_entity, _noop, None),
    "PrivacyBudget": (_budget, _budget_use, None),
    "DPRelease": (_dp_release, _dp_release_use, None),
    "Privacy": (_privacy, lambda p: p.protect_value("sales", "pro"), _privacy_load),
    "ModelCard": (_model_card, _model_card_use, None),
    "Explainer": (_explainer, _explainer_use, None),
    "Explainer[interventional]": (_interventional_explainer, _explainer_use, None),
    "RetrainState": (_retrain_state, _noop, None),
    "TrustPolicy": (_trust_policy, _noop, None),
    "Source": (_source, _noop, None),
    "FeatureView": (_view, _noop, None),
}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_hostile_state_is_refused_or_works(name: str) -> None:
    factory, use, load = STATEFUL[name]
    report = check_state_mutations(factory(), use=use, load=load)
    assert report.mutations > 20
    assert report.rejected > 0
    assert report.failures == [], "\n".join(report.failures[:40])


def _classes_with_from_dict() -> set[str]:
    found: set[str] = set()
    for info in pkgutil.walk_packages(prodml.__path__, "prodml."):
        if ".testing" in info.name or info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # a module needing an extra that is not installed
            continue
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and "from_dict" in vars(obj)
                and not inspect.isabstract(obj)
            ):
                found.add(obj.__name__)
    return found


# Classes with from_dict that inherit it: the streaming detectors and bandits.
_INHERITED = {*_DETECTORS, "EpsilonGreedy", "UCB1"}
# from_dict defined on a base class that is not itself a stateful object.
_BASES = {"StreamingDetector", "Bandit"}


def test_every_class_with_from_dict_is_listed() -> None:
    listed = {name.split("[")[0] for name in STATEFUL}
    defined = _classes_with_from_dict()
    missing = defined - listed - _BASES
    assert not missing, f"add these classes to STATEFUL: {sorted(missing)}"
    assert listed - defined <= _INHERITED


def test_deeply_nested_json_is_a_clear_error() -> None:
    from prodml._state import load_json
    from prodml.features import FeaturePipeline
    from prodml.monitoring import ModelMonitor
    from prodml.rollout import Canary

    text = "[" * 100_000
    for loader in (FeaturePipeline.from_json, ModelMonitor.from_json, Canary.from_json):
        with pytest.raises(StateError, match="nested 100000 levels"):
            loader(text)
    with pytest.raises(StateError, match="nested"):
        load_json('{"a": ' * 70 + "1" + "}" * 70, owner="X")
    # brackets inside strings do not count
    assert load_json(json.dumps({"a": "[" * 1000}), owner="X") == {"a": "[" * 1000}


def test_state_error_names_the_path_and_is_the_module_error() -> None:
    from prodml.errors import PolicyError
    from prodml.rollout import UCB1

    b = _bandit("UCB1")()
    d = b.to_dict()
    d["n"][1] = -1
    with pytest.raises(StateError) as info:
        UCB1.from_dict(d)
    assert isinstance(info.value, PolicyError)
    assert info.value.path is not None
    assert info.value.path == "n[1]"
    assert "UCB1 state field 'n[1]' must be an int >= 0. Got -1." in str(info.value)


def test_a_negative_count_names_its_path() -> None:
    from prodml.drift import PageHinkley

    d = PageHinkley().to_dict()
    d["state"]["n"] = -1
    # The upper end is 2**52 (stream39: counts past 2**53 lose exactness in float sums).
    expected = r"PageHinkley state field 'state.n' must be an int in \[0, 4503599627370496\]"
    with pytest.raises(StateError, match=expected):
        PageHinkley.from_dict(d)


def test_mutations_cover_every_leaf() -> None:
    state = {"a": [1, 2], "b": {"c": "x"}}
    described = [what for what, _ in mutations(state)]
    for where in ("['a'][0]", "['a'][1]", "['b']['c']", "del ['b']"):
        assert any(w.startswith(where) for w in described), where
    assert all(isinstance(ConfigError("x"), ProdMLError) for _ in described[:1])


def test_fast_paths_refuse_what_the_slow_paths_refuse() -> None:
    """The C-speed checks of long lists (reload speed) accept no more than per-item ones."""
    from prodml._state import Field, _depth
    from prodml.monitoring import ModelMonitor

    assert Field(list(range(100))).ints(lo=0) == list(range(100))
    for bad in ([*range(50), True], [*range(50), -1], [*range(50), 1.5]):
        with pytest.raises(StateError):
            Field(bad).ints(lo=0)
    with pytest.raises(StateError, match=r"'\[20\]'"):
        Field([0.5] * 20 + [True]).floats()
    with pytest.raises(StateError):
        Field({1: "a"}).dict()
    assert _depth(b'{"a": "[[[[", "b": [[1], {"c": []}]}') == 4
    state = _monitor().to_dict()
    for label in (2, "1", -1, None):  # (True and 1.0 are 0/1 labels, as log_label takes)
        bad = json.loads(json.dumps(state))
        bad["state"]["window"]["labels"][1] = label
        with pytest.raises(StateError, match=r"state.window.labels\[1\]"):
            ModelMonitor.from_dict(bad)
    bad = json.loads(json.dumps(state))
    bad["state"]["window"]["times"][1] = -1.0  # out of order: a clock that stepped back
    assert ModelMonitor.from_dict(bad).to_dict()["state"]["window"]["times"][1] == -1.0
    bad["state"]["window"]["times"][1] = math.nan
    with pytest.raises(StateError, match=r"state.window.times\[1\]"):
        ModelMonitor.from_dict(bad)


def _nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_nesting(v) for v in value), default=0)
    return 0


_JSON_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\/ab\n\u00e9\u200b'), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_JSON_TEXT, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_raw_depth_ignores_brackets_inside_strings(value: Any, ascii_only: bool) -> None:
    """The byte-level depth count skips strings whatever their escapes (quotes, backslashes)."""
    from prodml._state import _depth

    raw = json.dumps({"k": value, "pad": "[" * 3}, ensure_ascii=ascii_only).encode()
    assert _depth(raw) == _nesting({"k": value})
