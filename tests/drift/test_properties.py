"""Property tests over every column type prodml tables can hold (prodml.testing.strategies)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from prodml.drift import DriftDetector, Profile
from prodml.testing.strategies import chunkings, split_table, tables


@given(st.data(), st.sampled_from(["pandas", "arrow"]))
def test_chunked_profile_equals_one_pass(data: st.DataObject, kind: str) -> None:
    table = data.draw(tables(min_rows=1, max_rows=25, kind=kind))
    cuts = data.draw(chunkings(len(table)))
    whole = Profile().update(table)
    assert Profile().update(split_table(table, cuts)) == whole
    assert Profile.from_json(whole.to_json()) == whole


@given(tables(min_rows=1, max_rows=25))
def test_a_table_never_drifts_from_itself(table: pd.DataFrame | pa.Table) -> None:
    report = DriftDetector().fit(table).detect(table)
    assert report.drifted_columns == []
    for r in report.results:
        if r.testable:
            assert r.effect == 0.0
            assert r.p_value == 1.0
            for name in ("psi", "jensen_shannon", "hellinger", "wasserstein"):
                assert r.metrics[name] in (0.0, None)
        else:
            assert r.note in ("every reference value is null", "every current value is null")
    assert len(report.results) == len(table.columns)
    report.to_json()
    report.to_html()


@settings(max_examples=25)
@given(
    st.integers(0, 2**32 - 1),
    st.floats(-0.3, 0.3),
    st.floats(0.5, 2.0),
    st.sampled_from(["normal", "lognormal", "integers"]),
)
def test_sketched_ks_is_within_its_reported_bound(
    seed: int, shift: float, scale: float, dist: str
) -> None:
    rng = np.random.default_rng(seed)
    n = 12_000
    if dist == "normal":
        ref, cur = rng.normal(size=n), rng.normal(shift, scale, size=n)
    elif dist == "lognormal":
        ref, cur = rng.lognormal(size=n), rng.lognormal(shift, scale, size=n)
    else:
        ref = rng.integers(-50, 50, n).astype(float)
        cur = rng.integers(-50, 50 + int(shift * 100), n).astype(float)
    exact = sps.ks_2samp(ref, cur).statistic
    sketched = (
        DriftDetector(max_exact=10_000, relative_accuracy=0.01)
        .fit(pd.DataFrame({"x": ref}))
        .detect(pd.DataFrame({"x": cur}))["x"]
    )
    assert sketched.statistic is not None
    assert sketched.statistic <= exact + 1e-12
    assert exact <= sketched.statistic + sketched.error_bound + 1e-12
