"""An online row shows its missing references: a printed ``None`` says why it is there."""

from __future__ import annotations

from prodml.store._reads import OnlineRow


def test_a_row_with_missing_references_says_so_and_a_whole_row_prints_as_a_dict() -> None:
    row = OnlineRow({"amount_7d": None, "n_txn_7d": 3})
    assert repr(row) == "{'amount_7d': None, 'n_txn_7d': 3}"
    row.missing = ("txn_stats:amount_7d",)
    assert repr(row) == (
        "OnlineRow({'amount_7d': None, 'n_txn_7d': 3}, missing=('txn_stats:amount_7d',))"
    )
    assert row == {"amount_7d": None, "n_txn_7d": 3}  # still a plain dict to compare and use
