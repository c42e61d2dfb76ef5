"""The private Dask modules use their helpers from where they live, not through ``dask.py``.

``_dask_fairness.group_metrics`` reached ``_frame``, ``_shared`` and ``_tree_reduce``
through a lazy import of the public module, which re-exports them: a module below the
public one depending on it at call time, and on its re-exports staying. Run in a fresh
interpreter, so that no other test has loaded ``prodml.integrations.dask`` already.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")

_SCRIPT = """
import sys
import dask
import dask.dataframe as dd
import pandas as pd
from prodml.fairness import GroupMetrics
from prodml.integrations._dask_fairness import group_metrics

df = pd.DataFrame({"y": [1, 0, 1, 1], "p": [1, 0, 0, 1], "sex": list("FFMM")})
with dask.config.set(scheduler="sync"):
    gm = group_metrics(GroupMetrics(["sex"], min_count=1), dd.from_pandas(df, npartitions=2),
                       y_true="y", y_pred="p")
assert gm == GroupMetrics(["sex"], min_count=1).update(df["y"], df["p"], df)
print("prodml.integrations.dask" in sys.modules)
"""


def test_group_metrics_runs_without_loading_the_public_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "False"
