"""Shared test configuration: a deterministic hypothesis profile for CI and local runs."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Derandomised so that CI is reproducible; PRODML_HYPOTHESIS=dev explores new examples.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("PRODML_HYPOTHESIS", "ci"))
