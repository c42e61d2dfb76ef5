"""A score run names its model in the register event's namespace: no credentials in it.

Was: ``score``'s lineage used the artifact store URL as it is, so a URL with a user, a
(masked) password, a query or a fragment put them into every score event, and the
model's namespace differed from the one its register event gives it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from prodml.registry._lineage import dataset_namespace
from prodml.serving._score_lineage import _model_namespace


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://ann:***@models/churn?region=eu-west-1#v", "s3://models/churn"),
        ("sftp://ann@host:22/srv/m", "sftp://host:22/srv/m"),
        ("file:///srv/models", "file:///srv/models"),
    ],
)
def test_the_model_namespace_is_the_register_events(url: str, expected: str) -> None:
    artifacts = SimpleNamespace(url=url)
    predictor = SimpleNamespace(
        _source=SimpleNamespace(registry=SimpleNamespace(artifacts=artifacts))
    )
    assert _model_namespace(predictor) == expected == dataset_namespace(url)


def test_a_predictor_without_a_registry_has_the_default_namespace() -> None:
    assert _model_namespace(SimpleNamespace()) == "prodml.models"
