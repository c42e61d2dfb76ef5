"""Every message quoting a user's value stays short, across the public entry points.

In the spirit of ``tests/test_bounds.py::test_a_10mb_value_is_quoted_as_a_short_prefix``:
each call below passes a 10 MB string (or a list of two million items) where a name, a
setting, a metric or a value is expected, in schema, features, drift, registry, rollout,
cost, store, monitoring and serving, and must raise a ProdMLError whose message is short.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml import cost
from prodml._quote import short_repr
from prodml.drift import DriftDetector, PageHinkley, stats
from prodml.errors import ProdMLError
from prodml.features import FeaturePipeline, steps
from prodml.monitoring import AlertRule, CountWindow, Histogram, ModelMonitor
from prodml.registry import ModelRegistry
from prodml.rollout import UCB1, Canary, Gate, Step, ThompsonSampling
from prodml.schema import Column, Schema
from prodml.store import Entity, FeatureView, Source

HUGE = "x" * 10_000_000  # 10 MB
LONG = list(range(2_000_000))
FRAME = pd.DataFrame({"x": np.arange(20.0), "c": list("ab") * 10})
SCHEMA = Schema([Column("x", "float")])


def _pipe() -> FeaturePipeline:
    return FeaturePipeline([steps.StandardScale(["x"])]).fit(FRAME)


def _registry(tmp: Path) -> ModelRegistry:
    return ModelRegistry.local(tmp / "reg")


def _predictor() -> Any:
    pytest.importorskip("sklearn", reason="the serving example needs scikit-learn (test extra)")
    from sklearn.linear_model import LogisticRegression

    from prodml.serving import Predictor

    pipe = _pipe()
    model = LogisticRegression().fit(pipe.transform(FRAME), [0, 1] * 10)
    return Predictor(pipe, model, name="m", version=1)


CALLS: dict[str, Callable[[Path], object]] = {
    # schema
    "schema: duplicate names": lambda _: Schema([Column(HUGE, "float"), Column(HUGE, "float")]),
    "schema: allowed value": lambda _: Column("x", "float", allowed=[HUGE]),
    "schema: value": lambda _: SCHEMA.validate({"x": HUGE}),
    # features
    "features: missing column": lambda _: FeaturePipeline([steps.StandardScale([HUGE])]).fit(FRAME),
    "features: strategy": lambda _: FeaturePipeline([steps.Impute(["x"], strategy=HUGE)]).fit(
        FRAME
    ),
    "features: output": lambda _: _pipe().transform(FRAME, output=HUGE),
    "features: record list": lambda _: _pipe().transform_record({"x": LONG}),
    # drift
    "drift: correction": lambda _: DriftDetector(correction=HUGE).fit(FRAME),
    "drift: columns": lambda _: DriftDetector(columns=[HUGE]).fit(FRAME),
    "drift: stats input": lambda _: stats.psi([1.0, 2.0], [HUGE]),
    "drift: streaming setting": lambda _: PageHinkley(threshold=HUGE).update(1.0),
    # registry names, tags, metrics
    "registry: model name": lambda t: _registry(t).register(HUGE, SCHEMA),
    "registry: alias": lambda t: _registry(t).get("m@" + HUGE),
    "registry: tag key": lambda t: _registry(t).register("m", SCHEMA, tags={HUGE: "a"}),
    "registry: metric name": lambda t: _registry(t).register("m", SCHEMA, metrics={HUGE: 1.0}),
    "registry: metric value": lambda t: _registry(t).register("m", SCHEMA, metrics={"a": HUGE}),
    # rollout
    "rollout: variant": lambda _: Canary([Step(0.5, 1)], [Gate("e", threshold=0.1)]).observe(
        HUGE, e=1.0
    ),
    "rollout: metric": lambda _: Canary([Step(0.5, 1)], [Gate("e", threshold=0.1)]).observe(
        "baseline", e=HUGE
    ),
    "rollout: gate": lambda _: Gate("e", threshold=HUGE),
    "rollout: reward": lambda _: UCB1(["a", "b"]).update("a", HUGE),
    "rollout: thompson reward": lambda _: ThompsonSampling(["a", "b"]).update("a", HUGE),
    # cost
    "cost: instance": lambda _: cost.load_catalog("sample", max_age_days=None).instance(HUGE),
    "cost: catalog path": lambda _: cost.load_catalog(HUGE),
    "cost: table": lambda _: cost.markdown_table(HUGE),
    # store
    "store: entity": lambda _: Entity(HUGE, keys=["k"]),
    "store: view": lambda _: FeatureView(
        HUGE, entity=Entity("u", keys=["k"]), source=Source.parquet("p/", timestamp="t")
    ),
    "store: source column": lambda _: Source.parquet("p/", timestamp=HUGE),
    # monitoring
    "monitoring: task": lambda _: ModelMonitor("m", task=HUGE),
    "monitoring: output": lambda _: ModelMonitor("m", window=CountWindow(8)).log_prediction(
        1, None, HUGE
    ),
    "monitoring: latency": lambda _: ModelMonitor("m", window=CountWindow(8)).log_prediction(
        1, None, 0.5, latency_s=HUGE
    ),
    "monitoring: buckets": lambda _: Histogram(LONG[::-1]),
    "monitoring: rule": lambda _: AlertRule("r", metric="accuracy", op=HUGE, fire=0.5),
    # serving
    "serving: record value": lambda _: _predictor().predict_record({"x": HUGE}),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_message_quoting_a_huge_value_is_short(name: str, tmp_path: Path) -> None:
    with pytest.raises(ProdMLError) as info:
        CALLS[name](tmp_path)
    message = str(info.value)
    assert len(message) < 2_000, (len(message), message[:300])
    assert "x" * 1000 not in message


def test_short_repr_scans_only_what_it_shows() -> None:
    # A personal value inside the shown prefix is redacted; beyond the cut it is not shown.
    assert short_repr(["ann@example.com"]) == "<redacted>"
    far = short_repr(["x" * 5000 + " ann@example.com"])
    assert far.startswith("['xxx")
    assert "example" not in far
    assert short_repr([HUGE]).endswith("(10000004 characters in all)")


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://ann:s3cret@db.internal/warehouse",  # a host that is not e-mail-like
        "see s3://AKIAABCDEFGHIJKLMNOP@bucket/key",
        "AKIAABCDEFGHIJKLMNOP",
    ],
)
def test_a_quoted_credential_is_redacted(value: str) -> None:
    """A value holding a URL password or an access key id is shown as ``<redacted>``
    (serving's 422 masked URLs itself; every other message quoted them whole)."""
    assert short_repr(value) == "<redacted>"
    with pytest.raises(ProdMLError) as info:
        Schema([Column("x", "float")]).validate({"x": value})
    assert "s3cret" not in str(info.value)
    assert "AKIA" not in str(info.value)
    assert "<redacted>" in str(info.value)
    assert short_repr("https://example.com/models/churn") == "'https://example.com/models/churn'"


@pytest.mark.parametrize(
    "text",
    [
        "refAKIAIOSFODNN7EXAMPLE",
        "key=AKIAIOSFODNN7EXAMPLE;",
        "id_AKIAIOSFODNN7EXAMPLE",
        "(ASIAIOSFODNN7EXAMPLE)",
    ],
)
def test_an_access_key_id_glued_to_text_is_masked(text: str) -> None:
    from prodml._secrets import mask_secrets

    assert "IOSFODNN7EXAMPLE" not in mask_secrets(text)
    assert short_repr(text) == "<redacted>"


def test_an_access_key_id_in_a_longer_upper_case_run_is_masked() -> None:
    # Glued to a capital or a digit, or of another length than 20, it is still a key id.
    from prodml._secrets import mask_secrets

    for text, masked in (
        ("XAKIAIOSFODNN7EXAMPLE", "X***"),
        ("AKIAIOSFODNN7EXAMPLE1", "***"),
        ("KEYASIAIOSFODNN7 end", "KEY*** end"),
        ("AKIAIOSFODNN", "***"),  # a quote cut short keeps 8 of its 16
    ):
        assert mask_secrets(text) == masked
    assert mask_secrets("AKIA1234567 and AGPA") == "AKIA1234567 and AGPA"  # 7: too short


@pytest.mark.parametrize(
    "value",
    [
        ["ann@exa\u200bmple.com"],  # repr writes the zero-width space as \u200b
        ("ann@example\u00ad.com", 1),  # a soft hyphen: \xad
        {"to": "bob@example.org\u2060"},  # a word joiner after the address
    ],
)
def test_an_address_repr_escapes_is_still_redacted(value: object) -> None:
    # repr escapes invisible characters, and the escaped text hid the address from the scan
    # although a reader of the message sees it.
    assert short_repr(value) == "<redacted>"


def test_escapes_without_personal_data_are_quoted_as_repr_writes_them() -> None:
    assert short_repr(["a\u200bb", "x\\U99999999"]) == repr(["a\u200bb", "x\\U99999999"])
