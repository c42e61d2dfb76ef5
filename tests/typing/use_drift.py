"""What a type-checked user of prodml.drift sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from typing_extensions import assert_type

from prodml.drift import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    KSWIN,
    DriftDetector,
    DriftReport,
    DriftResult,
    PageHinkley,
    Profile,
)


def main() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"age": rng.normal(40, 10, 5_000), "plan": rng.choice(["free", "pro"], 5_000)}
    )
    current = pd.DataFrame(
        {"age": rng.normal(45, 10, 5_000), "plan": rng.choice(["free", "pro"], 5_000)}
    )
    detector = DriftDetector(alpha=0.05, correction="holm", numeric_test="ks").fit(reference)
    assert_type(detector, DriftDetector)
    report = detector.detect(current)
    assert_type(report, DriftReport)
    assert_type(report.drifted_columns, list[str])
    assert report.drifted_columns == ["age"]
    assert_type(report.drift_detected, bool)
    result = report.results[0]
    assert_type(result, DriftResult)
    assert_type(result.p_value, float | None)
    assert_type(result.effect, float | None)
    assert_type(result.drifted, bool)
    assert_type(report.to_frame(), pd.DataFrame)
    assert_type(report.to_html(), str)
    again = DriftReport.from_dict(report.to_dict())
    assert again.drifted_columns == report.drifted_columns

    prof = Profile()
    for chunk in pa.Table.from_pandas(reference).to_batches(max_chunksize=1_000):
        prof.update(chunk)
    merged = (
        Profile().update(reference.iloc[:2_500]).merge(Profile().update(reference.iloc[2_500:]))
    )
    assert_type(merged, Profile)
    assert merged == Profile().update(reference)
    text = prof.to_json()
    assert_type(Profile.from_json(text), Profile)
    assert_type(DriftDetector().fit(Profile.from_json(text)), DriftDetector)

    stream = np.concatenate([rng.normal(0, 1, 1_000), rng.normal(3, 1, 1_000)])
    adwin = ADWIN()
    flag = adwin.update(float(stream[0]))
    assert_type(flag, bool)
    alarms = ADWIN().update_many(stream)
    assert_type(alarms, npt.NDArray[np.int64])
    assert alarms.dtype == np.int64
    assert len(alarms) > 0
    assert alarms[0] >= 1_000
    for det in (PageHinkley(), CUSUM(), KSWIN()):
        assert_type(det.update_many(stream), npt.NDArray[np.int64])
        assert_type(det.drift_detected, bool)
    errors = (rng.random(2_000) < np.r_[np.full(1_000, 0.05), np.full(1_000, 0.5)]).astype(float)
    for error_det in (DDM(), EDDM(), HDDM_A()):
        found = error_det.update_many(errors)
        assert_type(found, npt.NDArray[np.int64])
        assert found.dtype == np.int64
    assert DDM().update_many(errors)[0] >= 1_000  # the error rate jumps at 1000
    state = adwin.to_dict()
    assert_type(ADWIN.from_dict(state), ADWIN)


if __name__ == "__main__":
    main()
