"""FeaturePipeline behaviour: composition, outputs, JSON, fingerprint, scikit-learn."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from prodml.errors import ConfigError, NotFittedError, StateError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Schema


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[::7] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(0, 100, n),
            "c": rng.choice(["red", "green", "blue"], n),
            "t": pd.date_range("2024-01-01", periods=n, freq="37min"),
        }
    )


def _spec() -> list[Any]:
    return [
        steps.Impute(["x"], strategy="median"),
        steps.StandardScale(["x", "n"]),
        steps.OneHot(["c"], max_categories=20),
        steps.DateParts(["t"]),
    ]


@pytest.fixture
def fitted() -> FeaturePipeline:
    return FeaturePipeline(_spec()).fit(_frame())


def test_outputs_in_order_of_first_appearance(fitted: FeaturePipeline) -> None:
    assert fitted.feature_names_out == [
        "x",
        "n",
        "c=blue",
        "c=green",
        "c=red",
        "t.hour",
        "t.dayofweek",
        "t.month",
    ]
    assert list(fitted.get_feature_names_out()) == fitted.feature_names_out


def test_scaler_sees_imputed_values(fitted: FeaturePipeline) -> None:
    df = _frame()
    imputed = df["x"].fillna(df["x"].median())
    assert fitted.steps[1].mean_["x"] == pytest.approx(imputed.mean(), rel=1e-14)
    X = fitted.transform(df)
    assert X[:, 0].mean() == pytest.approx(0.0, abs=1e-12)
    assert X[:, 0].std() == pytest.approx(1.0, rel=1e-12)


def test_input_schema_is_inferred(fitted: FeaturePipeline) -> None:
    schema = fitted.input_schema
    assert isinstance(schema, Schema)
    assert [(c.name, c.dtype.value) for c in schema.columns] == [
        ("x", "float"),
        ("n", "int"),
        ("c", "string"),
        ("t", "datetime"),
    ]


def test_pandas_and_arrow_outputs(fitted: FeaturePipeline) -> None:
    df = _frame(20)
    X = fitted.transform(df)
    as_pd = fitted.transform(df, output="pandas")
    as_pa = fitted.transform(pa.Table.from_pandas(df), output="arrow")
    assert list(as_pd.columns) == fitted.feature_names_out
    np.testing.assert_array_equal(as_pd.to_numpy(), X)
    assert as_pa.column_names == fitted.feature_names_out
    np.testing.assert_array_equal(np.column_stack(list(as_pa.to_pydict().values())), X)
    with pytest.raises(ConfigError, match="'output' parameter"):
        fitted.transform(df, output="polars")  # type: ignore[arg-type]


def test_transform_of_chunks_stacks_rows(fitted: FeaturePipeline) -> None:
    df = _frame(50)
    whole = fitted.transform(df)
    parts = fitted.transform([df.iloc[:10], pa.Table.from_pandas(df.iloc[10:])])
    np.testing.assert_array_equal(parts, whole)


def test_fit_on_parquet_file_in_batches(tmp_path: object, fitted: FeaturePipeline) -> None:
    df = _frame()
    path = f"{tmp_path}/f.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=30)
    from_file = FeaturePipeline(_spec()).fit(pq.ParquetFile(path))
    assert from_file.fingerprint == fitted.fingerprint


def test_json_round_trip(fitted: FeaturePipeline) -> None:
    text = fitted.to_json()
    d = json.loads(text)
    assert d["format_version"] == 1
    back = FeaturePipeline.from_json(text)
    assert back.fingerprint == fitted.fingerprint
    df = _frame(30, seed=3)
    assert back.transform(df).tobytes() == fitted.transform(df).tobytes()
    rec = {"x": None, "n": 3, "c": "red", "t": dt.datetime(2024, 5, 6, 7, 8)}
    assert back.transform_record(rec).tobytes() == fitted.transform_record(rec).tobytes()
    assert FeaturePipeline.from_dict(fitted.to_dict()).to_dict() == fitted.to_dict()


def test_unfitted_pipeline_round_trips_as_a_spec() -> None:
    pipe = FeaturePipeline(_spec(), strict=True)
    back = FeaturePipeline.from_json(pipe.to_json())
    assert back.strict is True
    assert back.to_dict() == pipe.to_dict()
    with pytest.raises(NotFittedError):
        back.transform(_frame(3))


def test_fingerprint_changes_with_any_fitted_value(fitted: FeaturePipeline) -> None:
    d = fitted.to_dict()
    base = fitted.fingerprint
    d["steps"][1]["fitted"]["mean_"]["x"] += 1e-12
    assert FeaturePipeline.from_dict(d).fingerprint != base
    d = fitted.to_dict()
    d["steps"][2]["fitted"]["categories_"]["c"] = ["blue", "red"]
    assert FeaturePipeline.from_dict(d).fingerprint != base
    refit = FeaturePipeline(_spec()).fit(_frame(seed=1))
    assert refit.fingerprint != base
    assert FeaturePipeline(_spec()).fit(_frame()).fingerprint == base


def test_from_dict_rejects_bad_data(fitted: FeaturePipeline) -> None:
    d = fitted.to_dict()
    with pytest.raises(StateError, match=r"'format_version' must be 1"):
        FeaturePipeline.from_dict({**d, "format_version": 99})
    bad = json.loads(json.dumps(d))
    bad["steps"][0]["type"] = "Nope"
    with pytest.raises(ConfigError, match=r"'steps\[0\].type' must be a feature step type"):
        FeaturePipeline.from_dict(bad)
    bad = json.loads(json.dumps(d))
    del bad["steps"][1]["fitted"]["scale_"]
    with pytest.raises(ConfigError, match=r"'steps\[1\].fitted.scale_' must be present"):
        FeaturePipeline.from_dict(bad)
    with pytest.raises(ConfigError, match="not valid JSON"):
        FeaturePipeline.from_json("{not json")
    bad = json.loads(json.dumps(d))
    del bad["strict"]
    with pytest.raises(ConfigError, match="'strict' must be present"):
        FeaturePipeline.from_dict(bad)


def _scaled() -> FeaturePipeline:
    return FeaturePipeline([steps.StandardScale(["x"])]).fit(pd.DataFrame({"x": [1.0, 2.0, 4.0]}))


@pytest.mark.parametrize(
    ("attr", "value", "expected"),
    [
        ("scale_", 0.0, "a finite number > 0"),
        ("scale_", -1.0, "a finite number > 0"),
        ("scale_", float("nan"), "a finite number > 0"),
        ("mean_", None, "a finite number"),
        ("mean_", "3", "a finite number"),
        ("mean_", float("inf"), "a finite number"),
    ],
)
def test_fitted_values_are_validated_on_load(attr: str, value: object, expected: str) -> None:
    d = _scaled().to_dict()
    d["steps"][0]["fitted"][attr]["x"] = value
    with pytest.raises(StateError, match=rf"'steps\[0\].fitted.{attr}.x' must be {expected}"):
        FeaturePipeline.from_dict(d)


def test_from_json_refuses_a_changed_state_by_its_fingerprint() -> None:
    pipe = _scaled()
    text = pipe.to_json()
    assert json.loads(text)["fingerprint"] == pipe.fingerprint
    assert FeaturePipeline.from_json(text).fingerprint == pipe.fingerprint
    changed = json.loads(text)
    changed["steps"][0]["fitted"]["mean_"]["x"] += 1.0  # valid, but not what was saved
    with pytest.raises(StateError, match="'fingerprint' must be the fingerprint"):
        FeaturePipeline.from_json(json.dumps(changed))
    del changed["fingerprint"]
    with pytest.raises(StateError, match="'fingerprint' must be present"):
        FeaturePipeline.from_json(json.dumps(changed))
    unfitted = FeaturePipeline([steps.StandardScale(["x"])])
    assert "fingerprint" not in json.loads(unfitted.to_json())
    assert FeaturePipeline.from_json(unfitted.to_json()).to_dict() == unfitted.to_dict()


def test_function_step_is_stored_by_name() -> None:
    def log_ratio(a: np.ndarray) -> np.ndarray:
        return np.log((a + 1.0) / 2.0)

    steps.register_function("log_ratio_test", log_ratio, overwrite=True)
    df = pd.DataFrame({"x": [1.0, 2.0, 5.0]})
    pipe = FeaturePipeline([steps.Function(["x"], func="log_ratio_test")]).fit(df)
    assert '"func":"log_ratio_test"' in pipe.to_json()
    np.testing.assert_array_equal(pipe.transform(df)[:, 0], log_ratio(df["x"].to_numpy()))
    with pytest.raises(ConfigError, match="already registered"):
        steps.register_function("log_ratio_test", np.sqrt)
    with pytest.raises(ConfigError, match="no function is registered as 'nope'"):
        FeaturePipeline([steps.Function(["x"], func="nope")]).fit(df)
    assert steps.get_function("log_ratio_test") is log_ratio


def test_one_hot_unknown_policies() -> None:
    df = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["z"]})
    new = pd.DataFrame({"c": ["a", "zz", "z"]})
    ignore = FeaturePipeline([steps.OneHot(["c"], min_frequency=2)]).fit(df)
    assert ignore.feature_names_out == ["c=a", "c=b", "c=<infrequent>"]
    np.testing.assert_array_equal(ignore.transform(new), [[1, 0, 0], [0, 0, 0], [0, 0, 1]])
    infreq = FeaturePipeline([steps.OneHot(["c"], handle_unknown="infrequent")]).fit(df)
    assert infreq.feature_names_out == ["c=a", "c=b", "c=z", "c=<infrequent>"]
    np.testing.assert_array_equal(infreq.transform(new), [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    assert infreq.transform_record({"c": "zz"}).tolist() == [0, 0, 0, 1]


def test_hashing_is_stable_across_processes() -> None:
    df = pd.DataFrame({"c": ["alpha", "beta", "gamma"]})
    pipe = FeaturePipeline([steps.Hashing(["c"], n_features=4)]).fit(df)
    # crc32 % 4, fixed forever: a change would break every stored model.
    np.testing.assert_array_equal(pipe.transform(df).argmax(axis=1), [2, 3, 1])


def test_bucketize_edges_and_onehot() -> None:
    df = pd.DataFrame({"x": [-5.0, 0.0, 0.5, 10.0, 99.0]})
    pipe = FeaturePipeline([steps.Bucketize(["x"], edges=[0.0, 10.0])]).fit(df)
    np.testing.assert_array_equal(pipe.transform(df)[:, 0], [0, 1, 1, 2, 2])
    hot = FeaturePipeline([steps.Bucketize(["x"], edges=[0.0, 10.0], encode="onehot")]).fit(df)
    assert hot.feature_names_out == ["x_bin0", "x_bin1", "x_bin2"]
    assert hot.transform_record({"x": 10.0}).tolist() == [0, 0, 1]


def test_clip_and_log1p() -> None:
    df = pd.DataFrame({"x": [-3.0, 0.5, 50.0]})
    pipe = FeaturePipeline([steps.Clip(["x"], lower=0.0, upper=10.0), steps.Log1p(["x"])])
    X = pipe.fit(df).transform(df)
    np.testing.assert_array_equal(X[:, 0], np.log1p([0.0, 0.5, 10.0]))


# -- scikit-learn -------------------------------------------------------------------


def _xy(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    df = _frame(n)
    y = ((df["c"] == "red") ^ (df["n"] > 50)).to_numpy().astype(int)
    return df, y


def test_inside_sklearn_pipeline_and_grid_search() -> None:
    df, y = _xy()
    model = Pipeline([("features", FeaturePipeline(_spec())), ("model", LogisticRegression())])
    model.fit(df, y)
    assert model.score(df, y) > 0.6
    assert list(model[:-1].get_feature_names_out())[:2] == ["x", "n"]
    grid = GridSearchCV(
        model,
        {
            "model__C": [0.1, 1.0],
            "features__steps": [_spec(), [*_spec()[:1], steps.RobustScale(["x"]), *_spec()[2:]]],
        },
        cv=3,
    )
    grid.fit(df, y)
    assert grid.best_params_["model__C"] in (0.1, 1.0)
    assert grid.predict(df.iloc[:5]).shape == (5,)


def test_clone_gives_an_unfitted_equal_spec(fitted: FeaturePipeline) -> None:
    copy = clone(fitted)
    assert copy.get_params(deep=False)["strict"] is False
    assert [type(s) for s in copy.steps] == [type(s) for s in fitted.steps]
    assert all(a is not b for a, b in zip(copy.steps, fitted.steps, strict=True))
    with pytest.raises(NotFittedError, match="not fitted"):
        copy.transform(_frame(3))
    check_is_fitted(fitted)
    copy.set_params(strict=True)
    assert copy.strict is True


def test_sklearn_set_output_pandas(fitted: FeaturePipeline) -> None:
    fitted.set_output(transform="pandas")
    out = fitted.transform(_frame(4))
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == fitted.feature_names_out


def test_pickle_round_trip_rebuilds_the_record_path(fitted: FeaturePipeline) -> None:
    import pickle

    back = pickle.loads(pickle.dumps(fitted))
    rec = {"x": 0.25, "n": 7, "c": "blue", "t": dt.datetime(2024, 2, 3, 4, 5)}
    assert back.transform_record(rec).tobytes() == fitted.transform_record(rec).tobytes()
    assert back.fingerprint == fitted.fingerprint
    assert pickle.loads(pickle.dumps(FeaturePipeline(_spec()))).to_dict()["input_schema"] is None


def test_text_storage_kinds_give_the_same_features() -> None:
    values = ["b", None, "a", "b", "c"]
    frames = [
        pd.DataFrame({"c": pd.Series(values, dtype=object)}),
        pd.DataFrame({"c": pd.Series(values, dtype="category")}),
        pa.table({"c": pa.array(values, pa.large_string())}),
        pa.table({"c": pa.array(values).dictionary_encode()}),
        [pa.table({"c": pa.array(values[:2])}), pa.table({"c": pa.array(values[2:])})],
    ]
    spec = [steps.Impute(["c"], strategy="constant"), steps.OneHot(["c"])]
    first = FeaturePipeline(clone(spec)).fit(frames[0])
    want = first.transform(frames[0])
    assert first.feature_names_out == ["c=a", "c=b", "c=c", "c=missing"]
    for data in frames[1:]:
        pipe = FeaturePipeline(clone(spec)).fit(data)
        assert pipe.to_dict()["steps"] == first.to_dict()["steps"]  # schemas differ
        np.testing.assert_array_equal(pipe.transform(data), want)


def test_category_of_numbers_is_not_text() -> None:
    """OneHot still refuses a Categorical of ints. Since schema42 the pipelines read it as
    the ints it holds (as the arrow dictionary pq.read_table gives of a hive partition
    year=2024), so the refusal is the one every number column gets, where it was a type
    problem on its categories ("expected string, got int 1")."""
    from prodml.errors import SchemaError

    df = pd.DataFrame({"c": pd.Series([1, 2, 1], dtype="category")})
    with pytest.raises(SchemaError, match="column 'c': OneHot needs text values; the column hol"):
        FeaturePipeline([steps.OneHot(["c"])]).fit(df)


def test_record_batches_and_datasets(fitted: FeaturePipeline, tmp_path: object) -> None:
    import pyarrow.dataset as ds

    df = _frame()
    table = pa.Table.from_pandas(df, preserve_index=False)
    batches = table.to_batches(max_chunksize=64)
    assert len(batches) > 1
    assert FeaturePipeline(_spec()).fit(batches).fingerprint == fitted.fingerprint
    pq.write_table(table, f"{tmp_path}/d.parquet", row_group_size=50)
    dataset = ds.dataset(f"{tmp_path}/d.parquet")
    assert FeaturePipeline(_spec()).fit(dataset).fingerprint == fitted.fingerprint
    np.testing.assert_array_equal(fitted.transform(batches[0]), fitted.transform(df.iloc[:64]))
    np.testing.assert_array_equal(fitted.transform(dataset), fitted.transform(df))


def test_golden_seeded_fit() -> None:
    rng = np.random.default_rng(42)
    df = pd.DataFrame(
        {
            "x": rng.normal(3, 2, 50).round(3),
            "c": rng.choice(["a", "b", "c", "d"], 50, p=[0.5, 0.3, 0.15, 0.05]),
        }
    )
    df.loc[[3, 17], "x"] = np.nan
    pipe = FeaturePipeline(
        [
            steps.Impute(["x"], strategy="median"),
            steps.StandardScale(["x"]),
            steps.OneHot(["c"], max_categories=3),
        ]
    ).fit(df)
    assert pipe.steps[0].statistics_ == {"x": 3.3465}
    assert pipe.steps[1].mean_ == {"x": 3.197}
    assert pipe.steps[1].scale_ == {"x": 1.4726456023089876}
    assert pipe.steps[2].categories_ == {"c": ["a", "b"]}
    assert pipe.steps[2].infrequent_ == {"c": ["c", "d"]}
    assert pipe.transform(df)[:3].tolist() == [
        [0.2797686010497147, 0.0, 1.0, 0.0],
        [-1.5461968558014574, 0.0, 1.0, 0.0],
        [0.8854812033223982, 0.0, 1.0, 0.0],
    ]
