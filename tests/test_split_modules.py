"""Names moved out of a module when it was split still resolve, and old pickles still load.

``registry/_registry.py``, ``serving/_predictor.py``, ``registry/backends/metadata.py``,
``schema.py``, ``store/_asof.py``, ``monitoring/monitor.py``, ``features/pipeline.py``,
``retrain/_controller.py``, ``_data.py`` and ``integrations/dask.py`` were split into smaller
private modules. Code (ours, users' backends) imports these names from the old paths, and a
pickle records ``module.name``: both must keep working.
"""

from __future__ import annotations

import importlib
import pickle
from datetime import datetime, timezone

import pytest

from prodml._data import KindInfo
from prodml.registry.backends._records import EventDraft, Pending, VersionQuery
from prodml.schema import Column, LogicalType, Schema

# Every name each old module offered before the split (its __all__ and what other modules,
# the stores and users' backends imported from it).
OLD_NAMES = {
    "prodml.registry.backends.metadata": [
        "ALL",
        "ANY",
        "LIVE",
        "EventDraft",
        "MetadataStore",
        "Pending",
        "PendingState",
        "PrunePlan",
        "Seal",
        "VersionQuery",
        "check_target",
        "lost_lease",
        "plan_prune",
        "register_event",
        "replay_stack",
    ],
    "prodml.registry._registry": ["GCReport", "ModelRegistry"],
    "prodml.serving._predictor": ["DEFAULT_VARIANT", "Prediction", "Predictor"],
    # _Model: prodml.store's definitions derive from it; _record_is_clean: tests compare
    # serving's compiled check with it.
    "prodml.schema": [
        "Column",
        "FORMAT_VERSION",
        "LogicalType",
        "Schema",
        "_Model",
        "_record_is_clean",
    ],
    # Its __all__, and the entity keys that moved to store/_asof_keys.py (the tests and
    # benchmarks/README name them here).
    "prodml.store._asof": [
        "HASHED_KEY_BYTES",
        "READ_ROWS",
        "Bools",
        "Ints",
        "Unsupported",
        "_Finder",
        "_IndexIn",
        "_KeyIndex",
        "_StringFinder",
        "_array",
        "_codes",
        "_finder",
        "_string_hash",
        "_string_words",
        "_valid",
        "point_in_time",
    ],
    # The queue of served predictions moved to monitoring/_served.py, the evaluation side
    # (drift windows, values, rules, sinks, counters) to monitoring/_evaluation.py.
    "prodml.monitoring.monitor": [
        "ModelMonitor",
        "Rule",
        "Task",
        "_BAD",
        "_BUFFERED",
        "_T_MAX",
        "_T_MIN",
        "_log",
    ],
    # The saved-state helpers moved to features/_pipeline_state.py; the names and the
    # scikit-learn side of FeaturePipeline to the mixin in features/_pipeline_names.py.
    "prodml.features.pipeline": [
        "ExtraColumnWarning",
        "FORMAT_VERSION",
        "FeaturePipeline",
        "STEP_TYPES",
        "_MAX_STEPS",
        "_check_fill_kinds",
        "_jsonable",
        "_load_schema",
        "_load_step",
        "_named",
    ],
    # The training phase (with the two tags) moved to retrain/_training.py, the checks,
    # canary and promotion to retrain/_promotion.py: mixins of RetrainController.
    "prodml.retrain._controller": [
        "Action",
        "RUN_TAG",
        "RetrainController",
        "RunContext",
        "TRAINED_AT_TAG",
        "_clock",
        "_exists",
        "_short",
    ],
    # The kinds and type problems moved to _data_kinds.py, the record converters and the
    # nanosecond range to _data_records.py (drift/_profile imports _first_non_null).
    "prodml._data": [
        "Columns",
        "KindInfo",
        "NS_FIRST",
        "NS_LAST",
        "NS_RANGE",
        "RawColumn",
        "Tabular",
        "_NS_MAX",
        "_NS_PER",
        "_NUMERIC_INFERRED",
        "_arrow_kind",
        "_first_non_null",
        "_is_string_view",
        "_pandas_kind",
        "_scalar_kind",
        "_type_error",
        "as_columns",
        "as_ns",
        "column_kind",
        "is_record",
        "is_tabular",
        "iter_columns",
        "py_value",
        "record_datetime64",
        "record_float",
        "type_name",
        "type_problem",
    ],
    # The partitions' errors moved to integrations/_dask_errors.py, the input and its
    # partitions to _dask_frames.py, the drift functions to _dask_drift.py (the other
    # _dask_* modules and users' code name the helpers here).
    "prodml.integrations.dask": [
        "PartitionError",
        "_DETECTOR",
        "_FEATURE",
        "_MAX_FILES",
        "_PIPE",
        "_WHERE",
        "_Data",
        "_Zoned",
        "_categories",
        "_cause",
        "_check_split_every",
        "_compute",
        "_conform",
        "_dd",
        "_fit_pipeline",
        "_frame",
        "_in_partition",
        "_is_paths",
        "_merge_profiles",
        "_merge_states",
        "_merge_zoned",
        "_merge_zones",
        "_number",
        "_on_partition",
        "_partition_counts",
        "_partition_error",
        "_partition_states",
        "_picklable",
        "_profile_for",
        "_profile_part",
        "_profile_zoned",
        "_progress",
        "_restore",
        "_shared",
        "_transform_part",
        "_tree_reduce",
        "_witness",
        "_witness_rows",
        "_zone",
        "_zones",
        "detect",
        "fit_detector",
        "fit_pipeline",
        "group_metrics",
        "historical",
        "profile",
        "score",
        "transform",
    ],
}

# Where each split class is still defined (pickle and NotPicklable's error name it).
DEFINED_IN = {
    "ModelRegistry": "prodml.registry._registry",
    "Predictor": "prodml.serving._predictor",
    "ModelMonitor": "prodml.monitoring.monitor",
    "FeaturePipeline": "prodml.features.pipeline",
    "RetrainController": "prodml.retrain._controller",
}

# The public members each split class had before the split (now partly from mixins).
OLD_MEMBERS = {
    "prodml.registry.ModelRegistry": [
        "actor",
        "aliases",
        "archive",
        "card",
        "close",
        "delete",
        "delete_alias",
        "environment_check",
        "gc",
        "get",
        "history",
        "lineage_namespace",
        "lineage_sink",
        "load",
        "local",
        "models",
        "promote",
        "prune_history",
        "register",
        "registry_id",
        "restore",
        "rollback",
        "search",
        "set_alias",
        "verify",
    ],
    "prodml.serving.Predictor": [
        "close",
        "describe",
        "drain_shadow",
        "from_registry",
        "home",
        "metrics_text",
        "monitors",
        "name",
        "predict_batch",
        "predict_many",
        "predict_record",
        "refresh",
        "variants",
        "version",
    ],
    "prodml.monitoring.ModelMonitor": [
        "alert_states",
        "counters",
        "evaluate",
        "forget",
        "from_dict",
        "from_json",
        "log_label",
        "log_prediction",
        "metrics",
        "pending_count",
        "to_dict",
        "to_json",
    ],
    "prodml.features.FeaturePipeline": [
        "accepts_missing",
        "feature_names_out",
        "feature_sources_out",
        "fingerprint",
        "finish_pass",
        "fit",
        "fit_needs_positions",
        "fit_pending",
        "from_dict",
        "from_json",
        "get_feature_names_out",
        "get_params",
        "input_schema",
        "merge_states",
        "named_steps",
        "output_groups",
        "partition_counts",
        "partition_states",
        "plan_positions",
        "set_params",
        "start_fit",
        "to_dict",
        "to_json",
        "transform",
        "transform_record",
    ],
    "prodml.retrain.RetrainController": [
        "decisions",
        "load_state",
        "rollout",
        "save",
        "step",
        "to_dict",
        "trigger_failures",  # added after the split, with the failing-trigger records
    ],
}


@pytest.mark.parametrize(
    ("module_name", "name"),
    [(module, name) for module, names in OLD_NAMES.items() for name in names],
)
def test_a_name_of_a_split_module_still_imports_from_its_old_path(
    module_name: str, name: str
) -> None:
    module = importlib.import_module(module_name)
    assert hasattr(module, name), f"{module_name}.{name} no longer resolves"


@pytest.mark.parametrize("path", sorted(OLD_MEMBERS))
def test_a_split_class_keeps_its_module_and_every_public_member(path: str) -> None:
    module_name, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), name)
    # Ours only: scikit-learn's bases add members that vary with its version, and its
    # metadata routing generates `set_<method>_request` on each subclass.
    members = sorted(
        n
        for n in dir(cls)
        if not n.startswith("_")
        and not n.endswith("_request")
        and next(b for b in cls.__mro__ if n in vars(b)).__module__.startswith("prodml")
    )
    assert members == OLD_MEMBERS[path]
    assert cls.__module__ == DEFINED_IN[name]


# Private methods other packages call on a split class (serving's request path logs
# through ModelMonitor._log_served); they moved into mixins and must still resolve.
CALLED_ACROSS = {
    "prodml.monitoring.ModelMonitor": ["_flush", "_log_served"],
    # tests/retrain/_child.py replaces _checkpoint on the class (test_crash kills the
    # process there); it stays on RetrainController, the mixins call it through self.
    "prodml.retrain.RetrainController": ["_checkpoint"],
}


@pytest.mark.parametrize("path", sorted(CALLED_ACROSS))
def test_a_split_class_keeps_the_private_methods_other_packages_call(path: str) -> None:
    module_name, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), name)
    for member in CALLED_ACROSS[path]:
        assert callable(getattr(cls, member, None)), f"{path}.{member} no longer resolves"


@pytest.mark.parametrize(
    "value",
    [
        EventDraft(
            name="churn",
            action="set_alias",
            actor="ci",
            version=2,
            alias="production",
            at=datetime(2026, 1, 2, tzinfo=timezone.utc),
        ),
        Pending("k1", "churn", "lease", 1.5),
        VersionQuery(name="churn", limit=3),
    ],
    ids=lambda v: type(v).__name__,
)
def test_a_pickle_naming_the_old_module_loads(value: object) -> None:
    cls = type(value)
    # Protocol 0 names the class as text: rewrite it to the path a pickle made before the
    # split recorded.
    now = f"{cls.__module__}\n{cls.__qualname__}\n".encode()
    old = f"prodml.registry.backends.metadata\n{cls.__qualname__}\n".encode()
    data = pickle.dumps(value, protocol=0)
    assert now in data
    assert pickle.loads(data.replace(now, old)) == value


@pytest.mark.parametrize(
    "value",
    [
        Schema([Column("age", "int", min=0), Column("plan", "category", allowed=["a"])]),
        Column("t", "datetime", timezone="UTC"),
        LogicalType.FLOAT,
    ],
    ids=lambda v: type(v).__name__,
)
def test_a_schema_class_is_still_defined_in_prodml_schema(value: object) -> None:
    # Pickles and the docs name prodml.schema: the split moved helpers, not the classes.
    cls = type(value)
    assert cls.__module__ == "prodml.schema"
    data = pickle.dumps(value, protocol=0)
    assert f"prodml.schema\n{cls.__qualname__}\n".encode() in data
    assert pickle.loads(data) == value


def test_a_kind_info_pickled_before_the_data_split_loads() -> None:
    # KindInfo moved from prodml._data to prodml._data_kinds; a pickle made before names
    # the old module, which still holds it.
    value = KindInfo("mixed", example="x", row=3)
    now = f"prodml._data_kinds\n{KindInfo.__qualname__}\n".encode()
    old = f"prodml._data\n{KindInfo.__qualname__}\n".encode()
    data = pickle.dumps(value, protocol=0)
    assert now in data
    assert pickle.loads(data.replace(now, old)) == value


def test_a_partition_error_pickled_before_the_dask_split_loads() -> None:
    # PartitionError pickles through _partition_error (its __reduce__), which moved from
    # prodml.integrations.dask to _dask_errors: a pickle made before names the old module.
    pytest.importorskip("dask", reason="needs the 'dask' extra")
    from prodml.integrations.dask import PartitionError

    try:
        raise PartitionError("partition 1 failed", partition=1, files=("a.parquet",))
    except PartitionError as caught:
        err = caught
    now = b"prodml.integrations._dask_errors\n_partition_error\n"
    old = b"prodml.integrations.dask\n_partition_error\n"
    # The class keeps the public path it had (tracebacks and the docs name it).
    assert PartitionError.__module__ == "prodml.integrations.dask"
    assert pickle.loads(pickle.dumps(PartitionError)) is PartitionError
    data = pickle.dumps(err, protocol=0)
    assert now in data
    back = pickle.loads(data.replace(now, old))
    assert type(back) is PartitionError
    assert (str(back), back.partition, back.files) == (str(err), 1, ("a.parquet",))
