"""Prometheus text from the predictor and a monitor's sink parses and round-trips names.

Variant names (any non-empty string a policy accepts) become label values of the serving
exposition; a newline in one used to end the sample line early, and the whole scrape
failed to parse. Parsed with ``prometheus_client``'s parser, the reference reader.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from prodml.features import FeaturePipeline, steps
from prodml.registry import ModelRegistry
from prodml.rollout import Router
from prodml.serving import Predictor

parser = pytest.importorskip("prometheus_client.parser", reason="needs the 'prometheus' extra")

VARIANTS = [
    "base",
    'quote"d',
    "back\\slash",
    "line\nfeed",
    "literal \\n",
    "carriage\rreturn",
    "bidi\u202e",
    "emoji \U0001f600",
    "} 1.0\nfake_metric 99",
]


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    families = list(parser.text_string_to_metric_families(text))
    return [(s.name, s.labels, s.value) for f in families for s in f.samples]


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"age": rng.normal(40, 10, 200)})
    pipe = FeaturePipeline([steps.StandardScale(["age"])]).fit(train)
    model = LogisticRegression().fit(pipe.transform(train), (train["age"] > 40).astype(int))
    root = tempfile.mkdtemp()
    reg = ModelRegistry(f"sqlite:///{root}/registry.db", f"file://{root}/artifacts")
    reg.register("churn", (pipe, model))
    reg.set_alias("churn", "production", 1)
    policy = Router(dict.fromkeys(VARIANTS, 1 / len(VARIANTS)))
    pred = Predictor.from_registry(
        reg, "churn@production", policy=policy, variants=dict.fromkeys(VARIANTS[1:], "churn@1")
    )
    for i in range(300):
        pred.predict_record({"age": float(i % 80)}, key=str(i))
    return pred


def test_serving_metrics_parse_and_round_trip_variant_names(predictor: Predictor) -> None:
    samples = _samples(predictor.metrics_text())
    info = {s[1]["variant"] for s in samples if s[0] == "prodml_serving_model_info"}
    assert info == set(VARIANTS)
    served = {
        s[1]["variant"]: s[2]
        for s in samples
        if s[0] == "prodml_serving_requests_total" and s[1]["outcome"] == "ok"
    }
    assert sum(served.values()) == 300
    assert set(served) <= set(VARIANTS)
    assert not [s for s in samples if s[0] == "fake_metric"]


def test_each_sample_is_one_line(predictor: Predictor) -> None:
    # The text format has one sample per line (lines end at "\n" only; a raw "\r" in a
    # label value is valid): a label value never holds a raw line feed.
    lines = predictor.metrics_text().split("\n")
    samples = [line for line in lines if line and not line.startswith("#")]
    assert all(line.startswith("prodml_serving_") for line in samples), samples[:5]
    assert all(line.count('"') % 2 == line.count('\\"') % 2 for line in samples)


def test_monitor_sink_round_trips_hostile_model_and_column_names() -> None:
    prometheus_client = pytest.importorskip("prometheus_client", reason="the 'prometheus' extra")
    from prodml.monitoring import ModelMonitor
    from prodml.monitoring.prometheus import PrometheusSink

    registry = prometheus_client.CollectorRegistry()
    sink = PrometheusSink(registry)
    models = ['churn"\\\n', "bidi\u202e", "<script>x</script>"]
    for name in models:
        mon = ModelMonitor(name, sinks=[sink], clock=lambda: 0.0)
        mon.log_prediction("a", None, 0.9, latency_s=0.02)
        mon.evaluate()
    text = prometheus_client.generate_latest(registry).decode()
    got = {s[1].get("model") for s in _samples(text) if s[0] == "prodml_predictions_total"}
    assert got == set(models)
