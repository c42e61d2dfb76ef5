"""The end-to-end demo behind ``prodml demo``: offline, seeded, on embedded defaults."""

from __future__ import annotations

from prodml._demo._legacy import run_demo
from prodml._demo.data import make_churn_data

__all__ = ["make_churn_data", "run_demo"]
