"""What a type-checked user of prodml.registry sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from typing_extensions import assert_type

from prodml.errors import ConflictError, NotFoundError, RegistryError
from prodml.features import FeaturePipeline, steps
from prodml.registry import (
    AuditEvent,
    GCReport,
    MetricThreshold,
    ModelCard,
    ModelRegistry,
    ModelVersion,
    NotWorseThanCurrent,
    Page,
    SignatureCompatible,
)
from prodml.schema import Schema


def main() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"age": rng.normal(40, 10, 200), "spend": rng.gamma(2.0, 30.0, 200)})
    y = (train["age"] > 40).astype(int)
    model = LogisticRegression().fit(train, y)

    with ModelRegistry.local(tempfile.mkdtemp()) as reg:
        assert_type(reg, ModelRegistry)
        mv = reg.register(
            "churn",
            model,
            tags={"team": "growth"},
            metrics={"auc": 0.91},
            signature=Schema.infer(train),
            lineage={"code_version": "abc123"},
        )
        assert_type(mv, ModelVersion)
        assert_type(mv.version, int)
        assert_type(mv.status, Literal["ready", "archived", "deleted"])
        assert_type(mv.metrics, dict[str, float])
        assert_type(mv.created_at, datetime)
        moved = reg.set_alias("churn", "production", mv.version)
        assert_type(moved, ModelVersion)

        got = reg.get("churn@production")
        assert_type(got, ModelVersion)
        assert got.metrics == {"auc": 0.91}
        # load() returns the object a flavour rebuilt, whose type only the registry's
        # content knows: Any, narrowed by the caller.
        loaded = reg.load("churn@production")
        assert_type(loaded, Any)
        assert isinstance(loaded, LogisticRegression)
        # expect= checks the class at run time and types the result for the checker.
        typed = reg.load("churn@production", expect=LogisticRegression)
        assert_type(typed, LogisticRegression)

        pipe = FeaturePipeline([steps.StandardScale(["age"])]).fit(train)
        pair = reg.register("pair", (pipe, model))
        pipe_back, model_back = reg.load(f"pair@{pair.version}")
        pair_back = reg.load(f"pair@{pair.version}", expect=tuple)
        assert_type(pair_back, tuple[Any, ...])
        assert len(pair_back) == 2
        assert isinstance(pipe_back, FeaturePipeline)
        assert isinstance(model_back, LogisticRegression)

        found = reg.search("churn", tags={"team": "growth"})
        assert_type(found, Page[ModelVersion])
        assert_type(found.items, list[ModelVersion])
        assert_type(found.next_token, str | None)
        assert [v.version for v in found] == [1]

        history = reg.history("churn")
        assert_type(history, Page[AuditEvent])
        event = history.items[0]
        assert_type(
            event.action,
            Literal[
                "register",
                "set_alias",
                "delete_alias",
                "rollback",
                "archive",
                "restore",
                "delete",
                "prune_history",
            ],
        )
        assert [e.action for e in history] == ["set_alias", "register"]
        removed = reg.prune_history("churn", before=datetime(2000, 1, 1, tzinfo=timezone.utc))
        assert_type(removed, int)
        assert removed == 0

        v2 = reg.register("churn", model, metrics={"auc": 0.94}, signature=Schema.infer(train))
        promoted = reg.promote(
            "churn",
            "production",
            v2.version,
            checks=[
                MetricThreshold("auc", min=0.85),
                NotWorseThanCurrent("auc"),
                SignatureCompatible(),
            ],
            reason="weekly retrain",
        )
        assert_type(promoted, ModelVersion)
        assert promoted.version == 2

        try:
            reg.set_alias("churn", "production", 1, expected_version=1)
        except ConflictError as err:
            assert_type(err.model_name, str | None)
            assert_type(err.version, int | str | None)
            assert err.model_name == "churn"
        try:
            reg.get("nope@production")
        except NotFoundError as err:
            assert isinstance(err, KeyError)
            assert isinstance(err, RegistryError)

        back = reg.rollback("churn", "production")
        assert_type(back, ModelVersion)
        assert back.version == 1

        card = reg.card("churn@production")
        assert_type(card, ModelCard)
        assert_type(card.to_markdown(), str)
        assert_type(card.to_html(), str)
        assert "churn" in card.to_markdown()

        report = reg.gc(dry_run=True)
        assert_type(report, GCReport)


if __name__ == "__main__":
    main()
