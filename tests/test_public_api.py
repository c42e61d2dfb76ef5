"""The public surface: every ``__all__`` name resolves, and the names are exactly these.

Adding a public name means adding it here too, on purpose (httpx's test_exported_members).
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import prodml

EXPECTED: dict[str, set[str]] = {
    "prodml": {"Column", "ProdMLError", "Schema", "__version__"},
    "prodml.errors": {
        "AuthorizationError",
        "ConfigError",
        "ConflictError",
        "DriftError",
        "IntegrityError",
        "MissingExtraError",
        "NotFittedError",
        "NotFoundError",
        "PolicyError",
        "ProdMLError",
        "RegistryError",
        "SchemaError",
        "SchemaProblem",
        "StorageError",
    },
    "prodml.schema": {"Column", "LogicalType", "Schema"},
    "prodml.fingerprint": {
        "TableHasher",
        "fingerprint_bytes",
        "fingerprint_file",
        "fingerprint_path",
        "fingerprint_spec",
        "fingerprint_table",
    },
    "prodml.cost": {
        "Accelerator",
        "BatchOption",
        "BreakEven",
        "CostEstimate",
        "DecayCurve",
        "Distribution",
        "Instance",
        "Price",
        "PriceCatalog",
        "RealtimeOption",
        "RetrainDecision",
        "RetrainPlan",
        "StaleCatalogWarning",
        "Tier",
        "TieredPrice",
        "Uncertain",
        "UnpricedError",
        "WallTimeSimulation",
        "batch_scoring_cost",
        "break_even_volume",
        "compare",
        "daly_interval",
        "daly_wall_time",
        "egress_cost",
        "erlang_c",
        "fit_decay",
        "load_catalog",
        "markdown_table",
        "mmc_response_quantile",
        "mmc_response_survival",
        "optimal_retrain_interval",
        "pert",
        "plot_comparison",
        "serving_cost",
        "should_retrain",
        "simulate",
        "simulate_wall_time",
        "spot_break_even_ratio",
        "spot_cost",
        "storage_cost",
        "training_cost",
        "training_cost_from_run",
        "triangular",
        "young_interval",
    },
    "prodml.rollout": {
        "ABTest",
        "BlueGreen",
        "Canary",
        "Decision",
        "EpsilonGreedy",
        "Gate",
        "Router",
        "Shadow",
        "Step",
        "ThompsonSampling",
        "UCB1",
    },
    "prodml.rollout.stats": {
        "Alternative",
        "SRMResult",
        "TestResult",
        "always_valid_halfwidth",
        "mde_means",
        "mde_proportions",
        "means_ttest",
        "msprt_p_value",
        "proportions_ztest",
        "sample_size_means",
        "sample_size_proportions",
        "srm_sequential_test",
        "srm_test",
    },
    "prodml.drift": {
        "ADWIN",
        "CUSUM",
        "DDM",
        "DriftDetector",
        "DriftReport",
        "DriftResult",
        "EDDM",
        "HDDM_A",
        "HDDM_W",
        "KSWIN",
        "PageHinkley",
        "Profile",
    },
    "prodml.drift.stats": {
        "CORRECTIONS",
        "adjust_pvalues",
        "chi2_homogeneity",
        "cramervonmises_2samp",
        "ecdf",
        "hellinger",
        "jensen_shannon",
        "ks_2samp",
        "psi",
        "wasserstein",
    },
    "prodml.drift.streaming": {
        "ADWIN",
        "CUSUM",
        "DDM",
        "EDDM",
        "HDDM_A",
        "HDDM_W",
        "KSWIN",
        "PageHinkley",
        "StreamingDetector",
    },
    "prodml.drift.streaming.adwin": {
        "ADWIN",
    },
    "prodml.drift.streaming.base": {
        "FORMAT_VERSION",
        "StreamingDetector",
    },
    "prodml.drift.streaming.cusum": {
        "CUSUM",
    },
    "prodml.drift.streaming.ddm": {
        "DDM",
    },
    "prodml.drift.streaming.eddm": {
        "EDDM",
    },
    "prodml.drift.streaming.hddm_a": {
        "HDDM_A",
    },
    "prodml.drift.streaming.hddm_w": {
        "HDDM_W",
    },
    "prodml.drift.streaming.kswin": {
        "KSWIN",
    },
    "prodml.drift.streaming.page_hinkley": {
        "PageHinkley",
    },
    "prodml.features": {
        "ExtraColumnWarning",
        "FeaturePipeline",
        "steps",
    },
    "prodml.features.pipeline": {
        "ExtraColumnWarning",
        "FeaturePipeline",
    },
    "prodml.features.steps": {
        "Bucketize",
        "Clip",
        "DateParts",
        "Function",
        "Hashing",
        "Impute",
        "Log1p",
        "MinMaxScale",
        "OneHot",
        "Ordinal",
        "RobustScale",
        "StandardScale",
        "get_function",
        "register_function",
    },
    "prodml.monitoring": {
        "AlertEvent",
        "AlertRule",
        "BurnRateRule",
        "BurnWindow",
        "CallbackSink",
        "CountWindow",
        "Histogram",
        "InMemorySink",
        "LoggingSink",
        "MetricsSnapshot",
        "ModelMonitor",
        "Sink",
        "TimeWindow",
    },
    "prodml.monitoring.alerts": {
        "AlertEvent",
        "AlertRule",
        "BurnRateRule",
        "BurnWindow",
        "RuleState",
        "rule_from_dict",
    },
    "prodml.monitoring.histogram": {
        "Histogram",
    },
    "prodml.monitoring.metrics": {
        "accuracy",
        "log_loss",
        "macro_precision",
        "macro_recall",
        "mae",
        "precision",
        "recall",
        "rmse",
        "roc_auc",
    },
    "prodml.monitoring.monitor": {
        "ModelMonitor",
    },
    "prodml.monitoring.otel": {
        "OpenTelemetrySink",
    },
    "prodml.monitoring.prometheus": {
        "PrometheusSink",
    },
    "prodml.monitoring.sinks": {
        "CallbackSink",
        "InMemorySink",
        "LoggingSink",
        "MetricsSnapshot",
        "Sink",
    },
    "prodml.monitoring.windows": {
        "CountWindow",
        "TimeWindow",
        "Window",
        "window_from_dict",
    },
    "prodml.registry": {
        "ArtifactStore",
        "Attestation",
        "AuditEvent",
        "Check",
        "Encryption",
        "Flavour",
        "GCReport",
        "Lineage",
        "MetadataStore",
        "MetricThreshold",
        "ModelRegistry",
        "ModelVersion",
        "NotWorseThanCurrent",
        "Page",
        "PromotionError",
        "SignatureCompatible",
        "register_backend",
        "register_flavour",
    },
    "prodml.registry.authz": {
        "AliasRequest",
        "Authorizer",
        "RequireApproval",
    },
    "prodml.registry.backends": {
        "ArtifactStore",
        "MetadataStore",
        "artifact_store_for",
        "metadata_store_for",
        "register_backend",
    },
    "prodml.registry.backends.artifacts": {
        "ArtifactStore",
        "FsspecArtifactStore",
        "LocalArtifactStore",
        "MemoryArtifactStore",
        "S3ArtifactStore",
        "UnsafeEntry",
    },
    "prodml.registry.backends.memory": {
        "MemoryMetadataStore",
    },
    "prodml.registry.backends.metadata": {
        "ANY",
        "EventDraft",
        "MetadataStore",
        "Pending",
        "Seal",
        "VersionQuery",
        "register_event",
    },
    "prodml.registry.backends.sql": {
        "SQLMetadataStore",
    },
    "prodml.registry.checks": {
        "Check",
        "MetricThreshold",
        "NotWorseThanCurrent",
        "PromotionError",
        "SignatureCompatible",
    },
    "prodml.registry.encryption": {
        "KeyProvider",
        "LocalKeyFile",
        "SCHEME",
        "decrypt_file",
        "decrypt_tree",
        "encrypt_file",
        "encrypt_tree",
    },
    "prodml.registry.entities": {
        "Attestation",
        "AuditEvent",
        "Encryption",
        "Lineage",
        "ModelVersion",
        "Page",
        "Status",
        "check_alias",
        "check_name",
    },
    "prodml.registry.signing": {
        "PAYLOAD_TYPE",
        "Ed25519Signer",
        "Ed25519Verifier",
        "Signer",
        "TrustPolicy",
        "Verifier",
        "pae",
        "sign_version",
        "statement",
        "verify_version",
    },
    "prodml.registry.flavours": {
        "FilesFlavour",
        "Flavour",
        "PairFlavour",
        "ProdMLJSONFlavour",
        "SklearnFlavour",
        "Trust",
        "flavour_for",
        "get_flavour",
        "register_flavour",
    },
    "prodml.testing.registry": {
        "ArtifactStoreConformance",
        "MetadataStoreConformance",
        "ProcessConformance",
        "service_url",
    },
    "prodml.store": {
        "Entity",
        "EntityNotFoundError",
        "FeatureSkew",
        "FeatureStore",
        "FeatureView",
        "MaterializeRun",
        "OnlineRow",
        "SkewReport",
        "Source",
        "TrainingSet",
    },
    "prodml.store.backends": {
        "OfflineStore",
        "OnlineRecord",
        "OnlineStore",
        "StoredValue",
        "ViewQuery",
        "offline_store_for",
        "online_store_for",
        "register_backend",
    },
    "prodml.store.offline": {"OfflineStore", "ViewQuery"},
    "prodml.store.online": {"OnlineRecord", "OnlineStore", "StoredValue"},
    "prodml.testing.store": {
        "OfflineStoreConformance",
        "OnlineStoreConformance",
        "PitCase",
        "ViewCase",
        "brute_force_historical",
        "pit_cases",
        "rows_equal",
    },
    "prodml.integrations": set(),
    "prodml.integrations.dask": {
        "detect",
        "fit_detector",
        "fit_pipeline",
        "group_metrics",
        "historical",
        "profile",
        "score",
        "transform",
    },
    "prodml.serving": {
        "BackgroundServer",
        "DEFAULT_VARIANT",
        "ExplainerLike",
        "ModelError",
        "Prediction",
        "Predictor",
        "ScoreReport",
        "create_app",
        "score",
    },
    "prodml.cli": {"main"},
    "prodml.testing": set(),
    "prodml.testing.strategies": {
        "chunkings",
        "column_names",
        "columns",
        "records",
        "schemas",
        "schemas_and_tables",
        "split_table",
        "tables",
    },
    "prodml.explain": {
        "Attributions",
        "Explainer",
        "Explanation",
        "SUPPORTED",
        "importance_html",
        "importance_markdown",
        "load_explainer",
        "register_explainer",
    },
    "prodml.fairness": {
        "DEFAULT_METRICS",
        "METRICS",
        "FairnessGate",
        "FairnessReport",
        "Gap",
        "GroupMetrics",
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
    },
    "prodml.fairness.stats": {
        "CORRECTIONS",
        "adjust_pvalues",
        "auc_and_variance",
        "newcombe_interval",
        "normal_p_value",
        "ratio_interval",
        "sequence_halfwidth",
        "two_proportion_test",
        "wilson_interval",
        "z_value",
    },
    "prodml.retrain": {
        "Action",
        "AlertTrigger",
        "ConceptDriftTrigger",
        "CostTrigger",
        "DriftTrigger",
        "Guards",
        "RetrainController",
        "RetrainCost",
        "RetrainState",
        "RetrainStateError",
        "RunContext",
        "ScheduleTrigger",
        "Signal",
        "StoreTrainingData",
        "Trigger",
        "TriggerContext",
    },
}


def public_modules() -> list[str]:
    names = ["prodml"]
    for info in pkgutil.walk_packages(prodml.__path__, "prodml."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


def test_every_public_module_is_listed() -> None:
    assert set(public_modules()) == set(EXPECTED)


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_exact_sorted_and_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    assert set(exported) == EXPECTED[module_name]
    assert list(exported) == sorted(exported), f"{module_name}.__all__ is not sorted"
    assert len(exported) == len(set(exported)), f"{module_name}.__all__ repeats a name"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ lists {name!r}, which is missing"
    assert module.__doc__, f"{module_name} has no docstring"


def test_importing_prodml_does_not_import_optional_extras() -> None:
    import subprocess
    import sys

    code = (
        "import sys, prodml, prodml.schema, prodml.fingerprint\n"
        "heavy = {'dask', 'distributed', 'prometheus_client', 'matplotlib', 'psycopg', 's3fs',"
        " 'hypothesis', 'mlflow', 'torch', 'duckdb', 'redis'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
