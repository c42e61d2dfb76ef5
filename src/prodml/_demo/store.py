"""The demo's feature store: the training set is read back point in time, not joined by hand.

The generated customers become the history a real team has: each customer's usage and
account values were written at some time before the day their churn label was taken, and
each customer also has a *later* row (their usage after the label day, which a naive
"latest value" join would leak into training). :func:`training_set` writes that history
as Parquet sources of a local :class:`~prodml.store.FeatureStore`, asks
:meth:`~prodml.store.FeatureStore.historical` for the values known at each label time, and
counts how many values a latest-value join would have got wrong.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodml._extras import require

__all__ = ["ACCOUNT", "USAGE", "training_set"]

USAGE = ["monthly_spend", "sessions_7d", "support_tickets"]
ACCOUNT = ["tenure_months", "plan", "region", "signup_at", "age_band"]
_LABEL_DAY = pd.Timestamp("2024-06-01", tz="UTC")


def training_set(
    out: Path, table: pd.DataFrame, label: str, *, seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``table`` rebuilt through a feature store under ``out/feature_store``.

    Returns the training frame (``table``'s columns and order, values read point in time)
    and the summary of the step.
    """
    from prodml.store import Entity, FeatureStore, FeatureView, Source  # noqa: PLC0415

    root = out / "feature_store"
    shutil.rmtree(root, ignore_errors=True)  # the demo's own: every run tells the same story
    # Before writing anything: on a core install the step is skipped and leaves no folder.
    require("duckdb", extra="store", feature="The demo's feature store")
    rng = np.random.default_rng([seed, 2])
    n = len(table)
    ids = np.arange(n)
    label_at = _LABEL_DAY + pd.to_timedelta(rng.integers(0, 60 * 86_400, n), unit="s")
    sources = {"usage": USAGE, "account": ACCOUNT}
    leaks = np.zeros((n, 0), dtype=bool)
    for name, columns in sources.items():
        known = label_at - pd.to_timedelta(rng.integers(3_600, 20 * 86_400, n), unit="s")
        later = label_at + pd.to_timedelta(rng.integers(3_600, 10 * 86_400, n), unit="s")
        # The value after the label day: another customer's, so that it differs.
        future = table[columns].iloc[rng.permutation(n)].reset_index(drop=True)
        kept = _equal(future, table[columns].reset_index(drop=True))
        leaks = np.hstack([leaks, ~kept])
        rows = pd.concat(
            [
                pd.DataFrame({"customer_id": ids, "event_at": known}).join(
                    table[columns].reset_index(drop=True)
                ),
                pd.DataFrame({"customer_id": ids, "event_at": later}).join(future),
            ],
            ignore_index=True,
        )
        (root / "sources" / name).mkdir(parents=True)
        rows.to_parquet(root / "sources" / name / "part-000000.parquet", index=False)

    store = FeatureStore.local(root / "store")
    customer = Entity("customer", keys=["customer_id"])
    views = [
        FeatureView(
            name,
            entity=customer,
            source=Source.parquet(str(root / "sources" / name), timestamp="event_at"),
            features=columns,
            ttl=timedelta(days=30),
        )
        for name, columns in sources.items()
    ]
    store.apply([customer, *views])
    refs = [f"{name}:{c}" for name, columns in sources.items() for c in columns]
    entity_df = pd.DataFrame({"customer_id": ids, "event_timestamp": label_at, label: table[label]})
    result = store.historical(entity_df, refs)
    frame = result.to_pandas()
    train = frame[list(table.columns)].copy()
    for c in table.columns:  # the source's naive times come back as UTC
        if isinstance(train[c].dtype, pd.DatetimeTZDtype) and table[c].dt.tz is None:
            train[c] = train[c].dt.tz_convert(None).astype(table[c].dtype)
    same = int(_equal(train, table).all(axis=1).sum())
    summary = {
        "views": dict(sources),
        "entity_rows": n,
        "point_in_time_rows_equal_to_truth": f"{same}/{n}",
        # What a join on each customer's latest row would have put in the training set.
        "values_a_latest_value_join_would_leak": int(leaks.sum()),
        "rows_a_latest_value_join_would_corrupt": int(leaks.any(axis=1).sum()),
        "lineage": result.lineage(),
    }
    return train.reset_index(drop=True), summary


def _equal(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Per value (rows x ``b``'s columns), whether ``a`` equals ``b``, nulls equal to nulls."""
    cells = []
    for c in b.columns:
        x, y = a[c].reset_index(drop=True), b[c].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(x) or pd.api.types.is_datetime64_any_dtype(y):
            x, y = pd.to_datetime(x, utc=True), pd.to_datetime(y, utc=True)
        cells.append(((x == y) | (x.isna() & y.isna())).to_numpy(dtype=bool))
    return np.column_stack(cells)
