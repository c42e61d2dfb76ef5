"""The public surface of prodml.cost and its lazy optional imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import prodml.cost
from prodml.errors import MissingExtraError


def test_all_is_sorted_unique_and_resolves():
    names = prodml.cost.__all__
    assert list(names) == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(prodml.cost, name), name
    assert prodml.cost.UnpricedError.__module__ == "prodml.cost"


def test_importing_cost_does_not_import_matplotlib():
    code = "import sys, prodml.cost; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    from prodml.cost import compare, serving_cost

    table = compare({"a": serving_cost(peak_rps=1, latency_s=0.1, price_per_replica_hour=1)})
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(MissingExtraError, match=r"prodml\[plot\]"):
        prodml.cost.plot_comparison(table)
