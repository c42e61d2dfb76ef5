"""Audit 40: fairness figures on frames read back from Parquet, and people's data kept out.

pandas 3 reads text from Parquet as Arrow-backed ``str`` with ``pd.NA``, nullable
integers as ``Int64`` (or ``int64[pyarrow]``), flags as ``boolean``. Every group value and
gap must equal fairlearn's on exactly those columns, to 1e-12. A group whose name is
personal data (an e-mail address used as a group, a phone number) must appear neither in
an error message nor in a report's labels, gaps or flat metric names: before this audit
the messages quoted it whole and every report showed it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodml.errors import SchemaError
from prodml.fairness import (
    FairnessGate,
    GroupMetrics,
    demographic_parity_difference,
    equal_opportunity_difference,
)

fm = pytest.importorskip("fairlearn.metrics", reason="parity tests need fairlearn (test extra)")

TOL = 1e-12
BACKENDS = ["default", "numpy_nullable", "pyarrow"]


def _read(path: Path, backend: str) -> pd.DataFrame:
    """pandas 3's default (``str``, ``Int64``...), or one of its dtype backends."""
    if backend == "default":
        return pd.read_parquet(path)
    return pd.read_parquet(path, dtype_backend=backend)  # type: ignore[call-overload]


EMAIL, EMAIL2 = "ann.lee@example.com", "bob@example.org"


def _parquet(tmp_path: Path, n: int = 3000, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["F", "M", "X"], dtype=object), n)
    sex[rng.random(n) < 0.05] = None
    age = pd.array(
        [None if rng.random() < 0.05 else int(v) for v in rng.integers(1, 4, n)], dtype="Int64"
    )
    y = rng.integers(0, 2, n)
    df = pd.DataFrame(
        {
            "sex": pd.array(sex, dtype="str"),
            "age": age,
            "flag": pd.array(rng.integers(0, 2, n).astype(bool), dtype="boolean"),
            "y": pd.array(y, dtype="Int64"),
            "yb": pd.array(y.astype(bool), dtype="boolean"),
            "pred": pd.array(np.where(rng.random(n) < 0.8, y, 1 - y).astype(bool), dtype="boolean"),
        }
    )
    path = tmp_path / "scored.parquet"
    df.to_parquet(path)
    return path


def _fairlearn_features(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """The same groups spelled as text: missing as prodml's label, values as written."""
    return pd.DataFrame(
        {c: ["<missing>" if pd.isna(v) else str(v) for v in frame[c].astype(object)] for c in cols}
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cols", [["sex"], ["age"], ["sex", "age"], ["flag", "sex"]])
@pytest.mark.parametrize("y_col", ["y", "yb"])
def test_parquet_columns_give_fairlearns_figures(
    tmp_path: Path, backend: str, cols: list[str], y_col: str
) -> None:
    frame = _read(_parquet(tmp_path), backend)
    if backend == "default":
        assert str(frame["sex"].dtype) == "str"
        assert str(frame["age"].dtype) == "Int64"
    gm = GroupMetrics(cols, ["selection_rate", "tpr", "fpr"], missing="group", min_count=1)
    gm.update(frame[y_col], frame["pred"], frame[cols])
    report = gm.report()
    y = frame[y_col].astype(int).to_numpy()
    p = frame["pred"].astype(int).to_numpy()
    mf = fm.MetricFrame(
        metrics={
            "selection_rate": fm.selection_rate,
            "tpr": fm.true_positive_rate,
            "fpr": fm.false_positive_rate,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=_fairlearn_features(frame, cols),
    )
    ours = report.by_group
    index = [tuple(str(v) for v in (k if isinstance(k, tuple) else (k,))) for k in ours.index]
    theirs = mf.by_group.loc[[i[0] if len(i) == 1 else i for i in index]]
    np.testing.assert_allclose(ours.to_numpy(float), theirs.to_numpy(float), rtol=0, atol=TOL)
    for m in ("selection_rate", "tpr", "fpr"):
        assert report.overall[m] == pytest.approx(mf.overall[m], abs=TOL)
        assert report.difference(m).value == pytest.approx(mf.difference()[m], abs=TOL)
        assert report.ratio(m).value == pytest.approx(mf.ratio()[m], abs=TOL)
    dp = demographic_parity_difference(
        frame[y_col], frame["pred"], sensitive_features=_fairlearn_features(frame, cols)
    )
    assert dp == pytest.approx(
        fm.demographic_parity_difference(y, p, sensitive_features=_fairlearn_features(frame, cols)),
        abs=TOL,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_missing_label_read_from_parquet_names_its_row(tmp_path: Path, backend: str) -> None:
    frame = _read(_parquet(tmp_path), backend)
    y = frame["y"].copy()
    y.iloc[17] = pd.NA
    gm = GroupMetrics(["sex"], missing="group")
    with pytest.raises(SchemaError, match="not missing") as err:
        gm.update(y, frame["pred"], frame[["sex"]])
    assert err.value.problems[0].row == 17
    assert gm.count == 0


def _messages_of(call: object) -> str:
    with pytest.raises(SchemaError) as err:
        call()  # type: ignore[operator]
    return str(err.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: GroupMetrics(["who"], max_groups=1).update([1, 0], [1, 0], [EMAIL2, EMAIL]),
        lambda: GroupMetrics(["who"], categories={"who": ["a"]}).update([1], [1], [EMAIL]),
        lambda: GroupMetrics(["who"]).remove_record(1, 1, EMAIL),
        lambda: GroupMetrics(["who"]).remove([1], [1], [EMAIL]),
        lambda: GroupMetrics(["who"]).update_record(1, 1, ("+44 20 7946 0958", "x")),
        lambda: equal_opportunity_difference(
            [0, 0, 1], [0, 1, 1], sensitive_features=[EMAIL] * 2 + ["b"]
        ),
    ],
    ids=["max_groups", "unseen", "remove_record", "remove", "tuple", "function"],
)
def test_personal_data_in_group_values_is_never_quoted(call: object) -> None:
    text = _messages_of(call)
    assert "example" not in text
    assert "7946" not in text


def test_groups_named_by_personal_data_are_shown_by_their_tokens() -> None:
    y = [1, 0, 1, 1, 0, 1] * 10
    p = [1, 0, 0, 1, 1, 1] * 10
    who = [EMAIL, EMAIL, EMAIL, EMAIL2, EMAIL2, "staff"] * 10
    report = (
        GroupMetrics(["who"], ["selection_rate", "tpr"], min_count=1).update(y, p, who).report()
    )
    shown = list(report.by_group.index)
    assert "staff" in shown  # text that is no personal data is shown as given
    tokens = [s for s in shown if s != "staff"]
    assert len(set(tokens)) == 2
    assert all(s.startswith("pm:") for s in tokens)
    everything = json.dumps(
        [
            report.to_dict(),
            report.to_metrics(),
            str(report.difference("tpr")),
            report.gaps().to_dict(),
            report.labels,
        ],
        default=str,
    )
    assert "example" not in everything
    # The same value has the same token in every report of the process (and with
    # PRODML_PRIVACY_SALT set, of every process), so series and gates line up.
    again = GroupMetrics(["who"], min_count=1).update(y, p, who).report()
    assert sorted(again.by_group.index, key=str) == sorted(shown, key=str)
    # A pair can still be asked for by the values themselves.
    gap = report.difference("tpr", groups=(EMAIL, EMAIL2))
    assert gap.value == pytest.approx(1 / 2 - 1.0, abs=TOL)  # tpr of the first minus the second
    assert "example" not in str(gap)


def test_gate_observations_name_personal_groups_by_tokens() -> None:
    gate = FairnessGate(metric="tpr", max_difference=0.1)
    names = list(gate.observation(1, 1, {"who": EMAIL, "plan": "pro"}))
    assert len(names) == 1
    assert "example" not in names[0]
    assert names[0].startswith("tpr[plan=pro,who=pm:")
