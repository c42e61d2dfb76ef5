"""The demo's story, one step per part of prodml, on a generated churn data set.

1. Train: read the training set point in time from a local feature store (``store``
   extra; :mod:`prodml._demo.store`), infer a schema, fit a feature pipeline and a logistic
   regression.
2. Register the pair with lineage (data and feature-view fingerprints) in a local registry
   and alias it ``production``.
3. Serve traffic through a :class:`~prodml.serving.Predictor` (schema check, single-record
   path, model, monitor) and one HTTP round trip to its ASGI app (``serve`` extra), while a
   :class:`~prodml.monitoring.ModelMonitor` watches it; half-way the customers change (data
   and concept drift, hitting young customers hardest), and the monitor raises drift,
   accuracy and bias (true positive rate per age band) alerts.
4. A :class:`~prodml.retrain.RetrainController` acts on the accuracy alert: it retrains on
   fresh labelled data, registers the candidate with its lineage and runs a canary that
   promotes it; its next (scheduled) run reads shuffled labels, and that canary rolls the
   candidate back.
5. Estimate what serving and retraining cost, and how often retraining pays.

Every step writes what it found into ``DemoResult``; :mod:`prodml._demo.report` turns that
into ``report.html`` and ``summary.json``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

from prodml import __version__
from prodml._demo.data import PLANS, make_churn_data
from prodml._demo.store import training_set
from prodml.cost import (
    CostEstimate,
    fit_decay,
    optimal_retrain_interval,
    serving_cost,
    should_retrain,
    training_cost_from_run,
)
from prodml.drift import ADWIN, DriftDetector, DriftReport
from prodml.errors import MissingExtraError, SchemaError
from prodml.fairness import GroupMetrics
from prodml.features import FeaturePipeline, steps
from prodml.fingerprint import fingerprint_table
from prodml.monitoring import AlertEvent, AlertRule, CountWindow, InMemorySink, ModelMonitor
from prodml.registry import (
    ModelRegistry,
    NotWorseThanCurrent,
    PickleFallbackWarning,
    SignatureCompatible,
)
from prodml.retrain import AlertTrigger, Guards, RetrainController, ScheduleTrigger
from prodml.rollout import Canary, Decision, Gate, Step
from prodml.schema import Schema
from prodml.serving import BackgroundServer, Predictor, create_app

__all__ = ["DemoResult", "run_scenario"]

NUMERIC = ["tenure_months", "monthly_spend", "sessions_7d", "support_tickets"]
CATEGORICAL = ["plan", "region"]
LABEL = "churned"
MODEL = "churn"
THRESHOLD = 0.3

Pair = tuple[FeaturePipeline, LogisticRegression]


@dataclass
class DemoResult:
    """Everything the demo measured, for the report and ``summary.json``."""

    summary: dict[str, Any] = field(default_factory=dict)
    drift_report: DriftReport | None = None
    alerts: list[AlertEvent] = field(default_factory=list)
    accuracy_timeline: list[tuple[int, float]] = field(default_factory=list)
    rollouts: dict[str, list[Decision]] = field(default_factory=dict)
    costs: dict[str, CostEstimate] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    explanation: Any = None  # a prodml.explain.Explanation of one production decision
    importance: dict[str, float] = field(default_factory=dict)
    # The drift report's reference and current tables, written next to it for `prodml drift`.
    drift_inputs: tuple[pd.DataFrame, pd.DataFrame] | None = None


def make_pipeline() -> FeaturePipeline:
    """The demo's feature pipeline: impute and scale numbers, one-hot text, date parts."""
    return FeaturePipeline(
        [
            steps.Impute(NUMERIC, strategy="median"),
            steps.StandardScale(NUMERIC),
            steps.Impute(CATEGORICAL, strategy="most_frequent"),
            steps.OneHot(CATEGORICAL, max_categories=10),
            steps.DateParts(["signup_at"], parts=["month", "dayofweek"]),
        ]
    )


def _train(data: pd.DataFrame, *, seed: int) -> tuple[FeaturePipeline, LogisticRegression, float]:
    start = time.perf_counter()
    features = data.drop(columns=[LABEL])
    pipe = make_pipeline().fit(features)
    model = LogisticRegression(max_iter=1000, random_state=seed)
    model.fit(pipe.transform(features), data[LABEL].to_numpy())
    return pipe, model, time.perf_counter() - start


def _scores(pair: Pair, data: pd.DataFrame) -> np.ndarray:
    pipe, model = pair
    return np.asarray(model.predict_proba(pipe.transform(data.drop(columns=[LABEL])))[:, 1])


def _evaluate(pair: Pair, data: pd.DataFrame) -> dict[str, float]:
    scores = _scores(pair, data)
    y = data[LABEL].to_numpy()
    return {
        "accuracy": round(float(accuracy_score(y, scores >= 0.5)), 4),
        "auc": round(float(roc_auc_score(y, scores)), 4),
    }


def _records(data: pd.DataFrame) -> list[dict[str, Any]]:
    """Serving requests as a client sends them: JSON-like dicts, None for missing."""
    frame = data.drop(columns=[LABEL]).astype(object)
    frame = frame.where(frame.notna(), None)
    return frame.to_dict("records")


def run_scenario(
    out: Path, *, seed: int = 0, step: Callable[[str], None] = lambda _msg: None
) -> DemoResult:
    """Run the whole story, writing the registry under ``out``; return what it measured."""
    result = DemoResult()
    result.summary.update({"prodml_version": __version__, "seed": seed})
    schema, train, pair = _train_step(out, result, seed=seed, step=step)
    # The registry is the demo's own: start it afresh so that every run tells the same story.
    shutil.rmtree(out / "registry", ignore_errors=True)
    signing, signer_summary = _signing(out, step)
    registry = ModelRegistry.local(out / "registry", **signing)
    result.summary["signing"] = signer_summary
    with warnings.catch_warnings():
        # On a core install (no skops) the demo's models are stored with joblib and loaded
        # with trusted=True, knowingly: the registration warning would say so three times.
        warnings.simplefilter("ignore", PickleFallbackWarning)
        try:
            step(_registering_line(signer_summary))
            v1 = registry.register(
                MODEL,
                pair,
                signature=schema,
                metrics=result.summary["training"]["holdout"],
                lineage={
                    "data_fingerprint": result.summary["data_fingerprint"],
                    "pipeline_fingerprint": pair[0].fingerprint,
                    "code_version": __version__,
                    **_feature_views(result.summary["feature_store"]),
                },
                tags={"trained_on": "baseline"},
                description="logistic regression on the baseline customers",
            )
            registry.set_alias(MODEL, "production", v1.version)
            latencies = _serve_step(registry, schema, train, result, seed=seed, step=step)
            fit_seconds = _rollout_step(registry, schema, pair, result, seed=seed, step=step)
            _explain_step(registry, train, result, step=step)
            _card_step(registry, out, result, step=step)
        finally:
            registry.close()
    step("estimating serving and retraining costs")
    result.costs, result.summary["costs"] = _costs(pair, latencies, fit_seconds, seed=seed)
    return result


def _registering_line(signer_summary: dict[str, Any]) -> str:
    """The registration step's narration: signed or not, and with which key id."""
    line = "registering churn v1 in a local registry (SQLite + files) as production"
    if "key_id" in signer_summary:
        line += f", signed with {signer_summary['algorithm']} key {signer_summary['key_id']}"
        line += " (every load and alias move verifies it)"
    return line


def _signing(out: Path, step: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An Ed25519 key for the demo's registry: every version signed, every load verified."""
    try:
        from prodml.registry.signing import Ed25519Signer, TrustPolicy  # noqa: PLC0415

        signer = Ed25519Signer.generate()
    except MissingExtraError:
        step("  signing skipped: pip install 'prodml[sign]' adds signed versions")
        return {}, {"skipped": "needs the sign extra"}
    # A new key each run: the demo's registry is rebuilt each run, so no old version needs
    # the old key. A team keeps its private key in a KMS and ships the public one.
    return (
        {"signer": signer, "trust": TrustPolicy([signer.verifier()])},
        {"algorithm": "ed25519", "key_id": signer.key_id},
    )


def _explain_step(
    registry: ModelRegistry, train: pd.DataFrame, result: DemoResult, *, step: Callable[[str], None]
) -> None:
    """Why production scores one customer as it does, in the customer's own columns."""
    from prodml.explain import Explainer  # noqa: PLC0415

    pipe, model = registry.load(f"{MODEL}@production", trusted=True)
    features = train.drop(columns=[LABEL])
    explainer = Explainer(pipe, model, background=features.sample(200, random_state=0)).fit()
    recent = make_churn_data(2_000, seed=11, shift=1.0, concept=1.0).drop(columns=[LABEL])
    scores = np.asarray(model.predict_proba(pipe.transform(recent))[:, 1])
    customer = _records(recent.iloc[[int(np.argmax(scores))]].assign(**{LABEL: 0}))[0]
    explanation = explainer.explain_record(customer)
    attributions = dict(explanation.values)
    importance = explainer.importance(recent)
    top = explanation.top(3)
    step(
        f"  why production scores its riskiest recent customer {explanation.prediction:.3f} "
        f"({explainer.scale}): " + ", ".join(f"{name} {value:+.3f}" for name, value in top)
    )
    result.explanation = explanation
    result.importance = dict(importance)
    result.summary["explanation"] = {
        "scale": explainer.scale,
        # Not the customer's record: its values (age band among them) are data about a
        # person, which reports do not carry (docs/governance.md); the reasons say why.
        "base": round(float(explanation.base), 6),
        "prediction": round(float(explanation.prediction), 6),
        "top_reasons": [[name, round(float(value), 6)] for name, value in top],
        "additivity_error": abs(
            explanation.base + math.fsum(attributions.values()) - explanation.prediction
        ),
        "global_importance": {k: round(float(v), 6) for k, v in importance.items()},
    }


def _card_step(
    registry: ModelRegistry, out: Path, result: DemoResult, *, step: Callable[[str], None]
) -> None:
    """The model card of production, from what the registry knows, as Markdown and HTML."""
    card = registry.card(
        f"{MODEL}@production",
        intended_use="rank customers for retention offers (scores 0.3 and above get one)",
        out_of_scope="pricing or credit decisions; any decision about a single person alone",
        limitations=(
            "trained on synthetic customers; age_band is not an input, and the monitor "
            "watches the true positive rate per band"
        ),
        owner="prodml demo",
    )
    (out / "model_card.md").write_text(card.to_markdown(), encoding="utf-8")
    (out / "model_card.html").write_text(card.to_html(), encoding="utf-8")
    step(f"  model card of churn v{card.model['version']}: model_card.md and model_card.html")
    result.summary["model_card"] = {
        "version": card.model["version"],
        "files": ["model_card.md", "model_card.html"],
        "signed_by": result.summary.get("signing", {}).get("key_id"),
        "audit_events": len(card.audit),
    }


def _feature_views(store_summary: dict[str, Any]) -> dict[str, Any]:
    """The feature-view fingerprints the training set was read through, for lineage."""
    views = store_summary.get("lineage", {}).get("feature_views")
    return {"feature_views": views} if views else {}


def _train_step(
    out: Path, result: DemoResult, *, seed: int, step: Callable[[str], None]
) -> tuple[Schema, pd.DataFrame, Pair]:
    step("generating 20,000 customers' history and 5,000 holdout rows")
    truth = make_churn_data(20_000, seed=seed)
    try:
        train, store_summary = training_set(out, truth, LABEL, seed=seed)
    except MissingExtraError:
        step(
            "  feature store skipped: pip install 'prodml[store]' adds point-in-time training sets"
        )
        train, store_summary = truth, {"skipped": "needs the store extra"}
    else:
        step(
            "  training set read point in time from a local feature store: "
            f"{store_summary['point_in_time_rows_equal_to_truth']} rows right; a latest-value "
            f"join would have leaked {store_summary['values_a_latest_value_join_would_leak']:,} "
            "values from after the label day"
        )
    result.summary["feature_store"] = store_summary
    holdout = make_churn_data(5_000, seed=seed + 1)
    inferred = Schema.infer(train.drop(columns=[LABEL]), nullable="observed")
    schema = Schema(
        [
            c if c.name != "plan" else c.model_copy(update={"allowed": tuple(PLANS)})
            for c in inferred.columns
        ]
    )
    (out / "schema.json").write_text(schema.to_json())
    result.summary["data_fingerprint"] = fingerprint_table(train)

    step("fitting the feature pipeline and a logistic regression")
    pipe, model, fit_seconds = _train(train, seed=seed)
    metrics = _evaluate((pipe, model), holdout)
    result.summary["training"] = {
        "rows": len(train),
        "features_out": len(pipe.feature_names_out),
        "fit_seconds": round(fit_seconds, 3),
        "holdout": metrics,
        "pipeline_fingerprint": pipe.fingerprint,
    }
    step(f"  holdout accuracy {metrics['accuracy']:.3f}, AUC {metrics['auc']:.3f}")
    return schema, train, (pipe, model)


def _monitor(train: pd.DataFrame, clock: list[float], sink: InMemorySink) -> ModelMonitor:
    return ModelMonitor(
        MODEL,
        window=CountWindow(500),
        # Churn is rare (8%): at 0.5 the model flags almost nobody; retention offers go to
        # customers scored 0.3 and above, so that is what accuracy and tpr are measured at.
        threshold=THRESHOLD,
        rules=[
            AlertRule(
                "accuracy_low",
                metric="accuracy",
                op="<",
                fire=0.8,
                clear=0.85,
                for_s=60.0,
                min_count=300,
                severity="page",
            ),
            AlertRule(
                "data_drift", metric="drift_share", op=">", fire=0.25, clear=0.1, severity="ticket"
            ),
            AlertRule(
                "concept_drift",
                metric="concept_drift_events",
                op=">",
                fire=0.5,
                clear=0.0,
                severity="ticket",
            ),
            AlertRule(
                # A gap in true positive rate between age bands that the window shows
                # for sure (its lower bound), not a point estimate that noise can cross.
                "tpr_gap_by_age_band",
                metric="tpr_difference_lower",
                op=">",
                fire=0.0,
                clear=0.0,
                for_s=150.0,  # held for 150 requests: the bound hovers at 0 while it fills
                min_count=1_000,
                severity="ticket",
            ),
            AlertRule(
                "latency_p99_high",
                metric="latency_p99",
                op=">",
                fire=0.05,
                min_count=100,
                severity="ticket",
            ),
        ],
        sinks=[sink],
        clock=lambda: clock[0],
        evaluate_every_s=30.0,
        reference=train.drop(columns=[LABEL]),
        drift_window=1_000,
        concept_detector=ADWIN(),
        # age_band is not a model input; the monitor reads it from each request.
        group_by=GroupMetrics(["age_band"], ["tpr"], alpha=1e-4, missing="group"),
        group_window=CountWindow(2_000),
    )


def _serve_step(
    registry: ModelRegistry,
    schema: Schema,
    train: pd.DataFrame,
    result: DemoResult,
    *,
    seed: int,
    step: Callable[[str], None],
) -> np.ndarray:
    step("serving 6,000 requests one by one; customers change after request 3,000")
    serving = pd.concat(
        [
            make_churn_data(3_000, seed=seed + 2),
            make_churn_data(3_000, seed=seed + 3, shift=1.0, concept=1.0),
        ],
        ignore_index=True,
    )
    requests = _records(serving)
    requests[17]["monthly_spend"] = "12.5"  # a client sends a number as text
    requests[42]["plan"] = "platinum"  # an unknown plan
    labels = serving[LABEL].to_numpy()
    clock = [0.0]
    sink = InMemorySink()
    monitor = _monitor(train, clock, sink)
    # The demo wrote this registry moments ago, so it may trust it even when the model was
    # stored with joblib (no skops installed). A service reading a shared registry installs
    # prodml[sklearn] and loads without trusted=True.
    predictor = Predictor.from_registry(
        registry, f"{MODEL}@production", monitor=monitor, trusted=True, watch_every_s=None
    )
    pipe, _ = registry.load(f"{MODEL}@production", trusted=True)
    batch_rows = pipe.transform(serving.drop(columns=[LABEL]).iloc[:200])
    rejected: list[dict[str, Any]] = []
    latencies: list[float] = []
    same = checked = 0
    label_delay = 100  # labels arrive 100 requests after their prediction
    for i, record in enumerate(requests):
        clock[0] = float(i)  # one request per second
        try:
            # Schema check, transform_record, the model and monitor.log_prediction.
            prediction = predictor.predict_record(record, id=i)
        except SchemaError as err:
            rejected.append({"request": i, "problems": [str(p) for p in err.problems]})
            continue
        latencies.append(prediction.latency_s)
        if i < len(batch_rows):
            checked += 1
            same += bool(np.array_equal(pipe.transform_record(record), batch_rows[i]))
        if i >= label_delay:
            monitor.log_label(i - label_delay, int(labels[i - label_delay]))
        if i % 250 == 249:
            acc = monitor.metrics().get("accuracy", math.nan)
            result.accuracy_timeline.append((i + 1, round(float(acc), 4)))
    for line in _rejected_lines(rejected):
        step(line)
    http = _http_round_trip(predictor, requests[0], step)
    result.alerts = list(sink.events)
    for event in result.alerts:
        step(_alert_line(event.rule, event.state, int(event.at), event.message))
    lat = np.asarray(latencies)
    result.summary["serving"] = {
        "requests": len(requests),
        "rejected": rejected,
        "record_equals_batch_row": f"{same}/{checked}",
        "latency_us": {
            "p50": round(float(np.percentile(lat, 50)) * 1e6, 1),
            "p99": round(float(np.percentile(lat, 99)) * 1e6, 1),
        },
        "alerts": [
            {"rule": e.rule, "state": e.state, "at_request": int(e.at), "value": e.value}
            for e in result.alerts
        ],
        "monitor_counters": monitor.counters(),
        "http": http,
        "tpr_by_age_band": {
            k[len("tpr[age_band=") : -1]: round(float(v), 4)
            for k, v in sorted(monitor.metrics().items())
            if k.startswith("tpr[age_band=")
        },
    }
    step("drift report: training data vs the last 3,000 requests")
    reference, current = train.drop(columns=[LABEL]), serving.iloc[3_000:].drop(columns=[LABEL])
    result.drift_report = DriftDetector().fit(reference).detect(current)
    result.drift_inputs = (reference, current.reset_index(drop=True))
    result.summary["drift"] = {"drifted_columns": result.drift_report.drifted_columns}
    return lat


# What each of the demo monitor's rules watches, in words, for its narration.
ALERT_MEANINGS = {
    "accuracy_low": "accuracy over the monitor's window of the last 500 predictions",
    "data_drift": "share of the input columns drifted from training in the last 1,000 requests",
    "concept_drift": "ADWIN saw the stream of prediction errors change",
    "tpr_gap_by_age_band": (
        "lower bound of the gap in true positive rate between age bands: "
        "above 0, the gap is real, not noise"
    ),
    "latency_p99_high": "99th percentile of the prediction latency, in seconds",
}


def _alert_line(rule: str, state: str, at: int, message: str) -> str:
    """One narrated alert: the monitor's message, then what the rule watches in words."""
    meaning = ALERT_MEANINGS.get(rule)
    return f"  alert {rule} {state} at request {at}: {message}" + (
        f"; {meaning}" if meaning else ""
    )


def _rejected_lines(rejected: list[dict[str, Any]]) -> list[str]:
    """One narrated line per request the schema check turned away, with its problems."""
    return [
        f"  request {r['request']} rejected by the schema check, nothing predicted: "
        + "; ".join(r["problems"])
        for r in rejected
    ]


def _http_round_trip(
    predictor: Predictor, record: dict[str, Any], step: Callable[[str], None]
) -> dict[str, Any]:
    """One ``POST /v1/predict`` to the ASGI app on a real server on loopback."""
    try:  # create_app needs starlette, the server uvicorn: both in the serve extra
        server = BackgroundServer(create_app(predictor)).start()
    except MissingExtraError:
        step("  HTTP round trip skipped: pip install 'prodml[serve]' adds the ASGI app")
        return {"skipped": "needs the serve extra"}
    body = json.dumps(record, default=str).encode()
    try:
        request = urllib.request.Request(  # noqa: S310 - our own server on loopback
            f"{server.url}/v1/predict", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status, answer = response.status, json.loads(response.read())
    finally:
        server.stop()
    # The check scores the same record in process without logging it to the monitor (a
    # logged prediction would wait there for a label that never comes).
    row = pd.DataFrame([record])
    in_process = float(predictor.predict_batch(row, variant=answer["variant"])[0])
    step(
        f"  POST /v1/predict on {server.host}: {status}, version {answer['version']}, "
        f"value {answer['value']:.4f} (in process: {in_process:.4f})"
    )
    return {
        "status": status,
        "version": answer["version"],
        "variant": answer["variant"],
        "value_equals_in_process": answer["value"] == in_process,
    }


def _rollout_step(
    registry: ModelRegistry,
    schema: Schema,
    v1_pair: Pair,
    result: DemoResult,
    *,
    seed: int,
    step: Callable[[str], None],
) -> float:
    fresh = make_churn_data(8_000, seed=seed + 4, shift=1.0, concept=1.0)
    recent = make_churn_data(5_000, seed=seed + 5, shift=1.0, concept=1.0)
    fit_seconds = [0.0]

    def train(data: pd.DataFrame, context: Any) -> tuple[Any, Any, dict[str, float]]:
        pipe, model, fit_seconds[0] = _train(data, seed=seed)
        return pipe, model, _evaluate((pipe, model), recent)

    now = float(max((e.at for e in result.alerts), default=0.0)) + 1.0  # the monitor's clock
    ctl = RetrainController(
        registry=registry,
        model=MODEL,
        alias="production",
        train=train,
        triggers=[AlertTrigger(lambda: result.alerts, rules=["accuracy_low"])],
        checks=[SignatureCompatible()],
        canary=Canary(
            steps=[
                Step(0.05, min_samples=200),
                Step(0.25, min_samples=500),
                Step(0.5, min_samples=1000),
            ],
            gates=[Gate("error_rate", ratio=1.1)],
            salt="demo",
        ),
        data=lambda context: fresh,
        guards=Guards(min_interval=0),
        signature=schema,
    )
    step("the retraining controller acts on the accuracy alert: churn v2 on 8,000 fresh rows")
    action = ctl.step(now)
    for d in ctl.decisions:
        step(f"  {d.action}: {d.reason}")
    v2 = registry.get(MODEL, action.version)
    pipe2, model2 = registry.load(v2.ref, trusted=True)
    result.summary["retraining"] = {
        "v1_on_recent": _evaluate(v1_pair, recent),
        "v2": v2.metrics,
        "note": (
            "v1 scores the recent customers below chance (AUC < 0.5) because the concept "
            "flipped: heavy users and long-standing customers, who used to stay, now leave, "
            "so v1 ranks them backwards. v2, trained on recent data, learns the new relation."
        ),
    }

    step("canary 1: v2 against production v1 on live traffic")
    live = make_churn_data(40_000, seed=seed + 6, shift=1.0, concept=1.0)
    first = result.rollouts["v2 vs v1"] = _canary(ctl, v1_pair, (pipe2, model2), live, now)
    step(f"  {first[-1].action}: {first[-1].reason}")

    step("canary 2: the scheduled retraining reads a label feed that got shuffled (v3)")
    shuffled = fresh.copy()
    shuffled[LABEL] = np.random.default_rng(seed).permutation(shuffled[LABEL].to_numpy())
    ctl.data = lambda context: shuffled
    ctl.triggers = [ScheduleTrigger(timedelta(hours=1))]
    now += 2 * 3600.0
    action = ctl.step(now)
    v3 = registry.get(MODEL, action.version)
    pair3 = registry.load(v3.ref, trusted=True)
    live = make_churn_data(40_000, seed=seed + 7, shift=1.0, concept=1.0)
    second = result.rollouts["v3 vs v2"] = _canary(ctl, (pipe2, model2), pair3, live, now)
    step(f"  {second[-1].action}: {second[-1].reason}")
    refusal = NotWorseThanCurrent("accuracy")(v3, registry.get(f"{MODEL}@production"))
    gate = "accepted" if refusal is None else f"refused: {refusal}"
    step(f"  registry promotion gate for v3: {gate}")
    rollout: dict[str, Any] = {
        name: {"outcome": d[-1].action, "reason": d[-1].reason, "decisions": len(d)}
        for name, d in result.rollouts.items()
    }
    rollout["registry_gate_on_v3"] = gate
    rollout["controller"] = [
        {"action": d.action, "version": d.version, "reason": d.reason}
        for d in ctl.decisions
        if d.action in ("retrain", "register", "canary", "promote", "rollback")
    ]
    result.summary["rollout"] = rollout
    result.summary["production_version"] = registry.get(f"{MODEL}@production").version
    result.history = [
        {
            "at": e.at.isoformat(timespec="seconds"),
            "actor": e.actor,
            "action": e.action,
            "version": e.version,
            "alias": e.alias,
        }
        for e in reversed(registry.history(MODEL).items)  # oldest first
    ]
    return fit_seconds[0]


def _canary(
    ctl: RetrainController,
    baseline: Pair,
    candidate: Pair,
    traffic: pd.DataFrame,
    start: float,
) -> list[Decision]:
    """Route ``traffic`` through the controller's canary; it steps every 500 requests."""
    canary = ctl.rollout
    assert canary is not None  # noqa: S101 - the controller started one
    wrong = {
        "baseline": _scores(baseline, traffic) >= 0.5,
        "candidate": _scores(candidate, traffic) >= 0.5,
    }
    y = traffic[LABEL].to_numpy().astype(bool)
    for i in range(len(traffic)):
        variant = canary.route(f"customer-{i}")
        canary.observe(variant, error_rate=float(wrong[variant][i] != y[i]))
        if i % 500 == 499 and ctl.step(start + (i + 1) * 0.12).action in ("promote", "rollback"):
            break
    return canary.decisions  # the audit log: repeated holds are folded into one entry


def _costs(
    pair: Pair,
    latencies: np.ndarray,
    fit_seconds: float,
    *,
    seed: int,
) -> tuple[dict[str, CostEstimate], dict[str, Any]]:
    # The measured model time plus an assumed 3-10 ms for the HTTP stack around it.
    p50 = float(np.percentile(latencies, 50))
    p99 = float(np.percentile(latencies, 99))
    traffic: dict[str, Any] = {
        "peak_rps": (300.0, 500.0, 900.0),
        "mean_rps": (80.0, 120.0, 200.0),
        "latency_s": (0.003 + p50, 0.005 + p50, 0.010 + p99),
        "price_per_replica_hour": 0.0832,  # a 2-vCPU general-purpose instance, on demand
        "concurrency": 2,
        "min_replicas": 2,
        "seed": seed,
    }
    serving = serving_cost(**traffic, slo_s=0.05)
    per_1k = serving_cost(**traffic, per="1k")
    retrain = training_cost_from_run(
        run_seconds=fit_seconds,
        run_steps=1,
        total_steps=(1.0, 1.0, 3.0),  # one fit, up to three with a hyper-parameter search
        price_per_device_hour=0.0832,
        seed=seed,
    )
    # How fast does v1 lose accuracy as customers drift? Evaluate it on a gradual drift.
    weeks = np.arange(0, 9, dtype=float)
    accuracy = [
        _evaluate(pair, make_churn_data(3_000, seed=100 + int(w), shift=w / 8, concept=w / 8))[
            "accuracy"
        ]
        for w in weeks
    ]
    curve = fit_decay(weeks, np.asarray(accuracy), kind="linear")
    # Each point (0.01) of accuracy lost costs 200 USD a week in missed retention offers;
    # one retraining costs its compute plus a 200 USD review.
    retrain_total = 200.0 + retrain.expected
    plan = optimal_retrain_interval(retrain_total, curve=curve, value_per_unit=20_000.0)
    decision = should_retrain(
        8.0, curve=curve, horizon=4.0, retrain_cost=retrain_total, value_per_unit=20_000.0
    )
    estimates = {
        "serving per month": serving,
        "serving per 1k predictions": per_1k,
        "one retraining (compute)": retrain,
    }
    summary = {
        name: {
            "low": float(f"{e.low:.6g}"),
            "expected": float(f"{e.expected:.6g}"),
            "high": float(f"{e.high:.6g}"),
            "unit": e.unit,
            "currency": "USD",
        }
        for name, e in estimates.items()
    }
    summary["retraining_cadence"] = {
        "weekly_accuracy_of_v1": accuracy,
        "decay_per_week": round(curve.rate, 5),
        "optimal_interval_weeks": round(plan.interval, 2),
        "cost_per_week_at_optimum": round(plan.cost_rate, 2),
        "retrain_now_at_week_8": decision.retrain,
        "avoidable_loss_usd_next_4_weeks": round(decision.expected_loss, 2),
        "reason": decision.reason,
        "horizon_weeks": 4.0,
        "retraining_cost_usd": {
            "compute": float(f"{retrain.expected:.6g}"),
            "review": 200.0,
            "total": round(retrain_total, 2),
        },
        "value_per_accuracy_point_usd_per_week": 200.0,
        "note": (
            "Amounts in USD. One retraining costs its compute (a fraction of a cent for this "
            "small model) plus a fixed 200 USD human review; the cadence uses the total. "
            "The 'avoidable loss' is the accuracy v1 would lose over the next 4 weeks, "
            "priced at 200 USD a week per point (0.01) of accuracy."
        ),
    }
    return estimates, summary
