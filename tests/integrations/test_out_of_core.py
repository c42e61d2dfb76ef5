"""Drift between Parquet datasets read batch by batch with pyarrow (no Dask)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from prodml.drift import DriftDetector, Profile


def _write(path, n: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.05] = np.nan
    df = pd.DataFrame(
        {
            "x": x,
            "y": rng.lognormal(0.0, 1.0, n),
            "k": rng.integers(0, 50, n),
            "c": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    # several row groups, so that batches cross row-group boundaries
    df.to_parquet(path, row_group_size=max(1, n // 3))
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ooc")
    ref, cur = root / "ref.parquet", root / "cur.parquet"
    return ref, _write(ref, 3000, 0, 0.0), cur, _write(cur, 2500, 1, 0.25)


@pytest.mark.parametrize("batch", [7, 97, 256, 10_000])
def test_batches_give_the_in_memory_report(files, batch: int) -> None:
    ref, ref_df, cur, cur_df = files
    want = DriftDetector().fit(ref_df).detect(cur_df)
    got = (
        DriftDetector()
        .fit(pq.ParquetFile(ref).iter_batches(batch_size=batch))
        .detect(pq.ParquetFile(cur).iter_batches(batch_size=batch))
    )
    assert got.to_dict() == want.to_dict()
    assert "x" in got.drifted_columns


def test_dataset_input_gives_the_in_memory_report(files) -> None:
    ref, ref_df, cur, cur_df = files
    want = DriftDetector().fit(ref_df).detect(cur_df)
    got = DriftDetector().fit(ds.dataset(ref)).detect(ds.dataset(cur))
    assert got.to_dict() == want.to_dict()
    batches = ds.dataset(cur).to_batches(batch_size=123)
    assert DriftDetector().fit(ds.dataset(ref)).detect(batches).to_dict() == want.to_dict()


def test_sketched_profile_is_batching_independent(tmp_path) -> None:
    # beyond max_exact the profile is a log-bucket sketch (bounded KS error, see
    # docs/drift.md); batching does not change it.
    path = tmp_path / "big.parquet"
    df = _write(path, 25_000, 3, 0.0)
    whole = Profile(max_exact=10_000).update(df)
    batched = Profile(max_exact=10_000).update(pq.ParquetFile(path).iter_batches(batch_size=999))
    assert not whole.columns["x"].exact
    assert batched == whole
    ref = DriftDetector(max_exact=10_000).fit(df)
    cur = pq.ParquetFile(path).iter_batches(batch_size=4096)
    assert ref.detect(cur).to_dict() == ref.detect(df).to_dict()
