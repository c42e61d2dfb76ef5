"""What a type-checked user of prodml.integrations.dask sees (run by tests/test_typing_user.py).

``transform`` (and ``historical``, ``score``) are typed ``Any`` for now: their results are
checked here at run time only (see the lead's list of what dask.py needs: overloads by
``output``, ``"array"`` -> a Dask array, ``"frame"`` -> a Dask DataFrame).
"""

from __future__ import annotations

import dask.array as da
import dask.config
import dask.dataframe as dd
import numpy as np
import pandas as pd
from typing_extensions import assert_type

import prodml.integrations.dask as pdask
from prodml.drift import DriftDetector, DriftReport, Profile
from prodml.features import FeaturePipeline, steps


def table(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame: pd.DataFrame = pd.DataFrame(
        {"amount": rng.normal(shift, 1.0, n), "country": rng.choice(["de", "fr"], n)}
    )
    return frame


def main() -> None:
    with dask.config.set(scheduler="synchronous"):  # no threads left behind
        train = dd.from_pandas(table(2_000), npartitions=4)
        pipe = FeaturePipeline([steps.StandardScale(["amount"]), steps.OneHot(["country"])])
        fitted = pdask.fit_pipeline(pipe, train)
        assert_type(fitted, FeaturePipeline)
        assert fitted is pipe
        x = pdask.transform(pipe, train)
        assert isinstance(x, da.Array)
        assert x.compute().shape == (2_000, 3)
        frame = pdask.transform(pipe, train, output="frame")
        assert isinstance(frame, dd.DataFrame)
        assert list(frame.columns) == pipe.feature_names_out

        detector = pdask.fit_detector(DriftDetector(), train)
        assert_type(detector, DriftDetector)
        serving = dd.from_pandas(table(1_000, shift=0.5, seed=1), npartitions=2)
        report = pdask.detect(detector, serving)
        assert_type(report, DriftReport)
        assert report.drifted_columns == ["amount"]
        prof = pdask.profile(serving)
        assert_type(prof, Profile)
        assert prof.n_rows == 1_000


if __name__ == "__main__":
    main()
