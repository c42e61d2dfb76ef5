"""The canary test: plant personal data, run every public path that writes or shows
something about data, and grep what comes out. Nothing may leak unless opted in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodml.drift import DriftDetector, Profile
from prodml.errors import ProdMLError
from prodml.monitoring import AlertRule, ModelMonitor
from prodml.monitoring.sinks import InMemorySink
from prodml.privacy import PersonalDataWarning, Privacy
from prodml.schema import Column, Schema

from .conftest import leaked, planted_frame

N = 400


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    ref, s1 = planted_frame(N, seed=1)
    cur, s2 = planted_frame(N, seed=2, shift=0.5)
    return ref, cur, s1 + s2


def test_canaries_are_well_formed(data: tuple[pd.DataFrame, pd.DataFrame, list[str]]) -> None:
    ref, _, secrets = data
    # The grep finds them when they are there: the test would catch a leak.
    assert len(leaked(ref.to_csv(), secrets)) == 3 * N
    assert leaked("ssn 078-05-1120 / 078051120", ["078-05-1120"]) == ["078-05-1120"]


def test_drift_report_html_json_frame_and_profile_do_not_leak(
    data: tuple[pd.DataFrame, pd.DataFrame, list[str]], tmp_path: Path
) -> None:
    ref, cur, secrets = data
    det = DriftDetector().fit(ref)
    report = det.detect(cur)
    artifacts = {
        "html": report.to_html(tmp_path / "r.html"),
        "json": report.to_json(tmp_path / "r.json"),
        "frame": report.to_frame().to_csv(),
        "repr": repr(report) + report._repr_html_(),
        "dict": json.dumps(report.to_dict()),
        "reference profile": det.reference_.to_json(),
        "profile": Profile().update(cur).to_json(),
        "profile repr": repr(Profile().update(cur)),
        "file html": (tmp_path / "r.html").read_text(),
        "file json": (tmp_path / "r.json").read_text(),
    }
    for what, text in artifacts.items():
        assert leaked(text, secrets) == [], what
    # The test still works on the hashed columns, and on the rest.
    assert report["x"].drifted
    assert report["email"].testable
    assert not report["plan"].drifted
    # Low-cardinality, non-personal values stay readable.
    assert "pro" in report["plan"].plot["labels"]


def test_chunked_profiles_and_merge_do_not_leak(
    data: tuple[pd.DataFrame, pd.DataFrame, list[str]],
) -> None:
    ref, _, secrets = data
    chunks = [ref.iloc[i : i + 50] for i in range(0, N, 50)]
    merged = Profile().update(chunks[0])
    for chunk in chunks[1:]:
        merged = merged.merge(Profile().update(chunk))
    assert leaked(merged.to_json(), secrets) == []
    assert merged == Profile().update(chunks)


def test_drift_cli_reports_do_not_leak(
    data: tuple[pd.DataFrame, pd.DataFrame, list[str]], tmp_path: Path
) -> None:
    ref, cur, secrets = data
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "prodml.cli",
            "drift",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
            "--html",
            str(tmp_path / "r.html"),
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stderr
    for text in (out.stdout, out.stderr, *(p.read_text() for p in tmp_path.glob("r.*"))):
        assert leaked(text, secrets) == []
    # The opt-in from the command line: e-mail addresses seen once, shown with k=1.
    opted = subprocess.run(
        [
            sys.executable,
            "-m",
            "prodml.cli",
            "drift",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
            "--allow-raw",
            "email",
            "--k",
            "1",
            "--json",
            str(tmp_path / "opted.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert opted.returncode == 1, opted.stderr
    shown = leaked((tmp_path / "opted.json").read_text(), secrets)
    assert shown
    assert set(shown) <= set(ref["email"]) | set(cur["email"])


def test_monitor_state_alerts_and_snapshots_do_not_leak(
    data: tuple[pd.DataFrame, pd.DataFrame, list[str]],
) -> None:
    ref, cur, secrets = data
    sink = InMemorySink()
    mon = ModelMonitor(
        "churn",
        reference=ref,
        drift_window=300,
        rules=[AlertRule("drift", metric="drift_share", op=">", fire=0.0, clear=0.0)],
        sinks=[sink],
        clock=lambda: 0.0,
        evaluate_every_s=None,
    )
    records = cur.to_dict("records")
    for i, rec in enumerate(records):
        mon.log_prediction(i, rec, 0.7)
    events = mon.evaluate(1.0)
    assert [e.state for e in events] == ["firing"]  # the window of 300 rows drifted (x)
    state = mon.to_json()  # 100 rows of the next window are buffered: saved hashed
    assert json.loads(state)["state"]["drift_rows"]
    texts = [
        state,
        repr(mon),
        json.dumps([e.to_dict() for e in sink.events]),
        repr(list(sink.snapshots)),
        json.dumps(mon.metrics(2.0)),
    ]
    for text in texts:
        assert leaked(text, secrets) == []
    # A restored monitor still tests the hashed rows against the reference.
    back = ModelMonitor.from_json(state, reference=ref, clock=lambda: 3.0)
    for i, rec in enumerate(records[:200]):
        back.log_prediction(10_000 + i, rec, 0.7)
    back.evaluate(4.0)
    assert back.counters()["drift_windows_total"] == 2  # one before the restart, one after
    assert back.counters()["drift_errors_total"] == 0


def test_error_messages_do_not_leak(data: tuple[pd.DataFrame, pd.DataFrame, list[str]]) -> None:
    ref, _, secrets = data
    schema = Schema(
        [
            Column("ssn", "string", allowed=["none"], sensitive=True),
            Column("card", "int"),
            Column("email", "category", allowed=["x@y.z"]),
        ]
    )
    with pytest.raises(ProdMLError) as err:
        schema.validate(ref[["ssn", "card", "email"]])
    messages = [str(err.value)]
    mixed = ref[["email"]].astype(object)
    mixed.loc[0, "email"] = 3.5
    with pytest.raises(ProdMLError) as err:
        Schema.infer(mixed, detect_personal=False)
    messages.append(str(err.value))
    odd = pd.DataFrame({"who": [[s] for s in ref["email"]]})
    with pytest.raises(ProdMLError) as err:
        Profile().update(odd)
    messages.append(str(err.value))
    mon = ModelMonitor(evaluate_every_s=None)
    with pytest.raises(ProdMLError) as err:
        mon.log_prediction([ref["email"][0]], None, 0.5)  # type: ignore[arg-type]
    messages.append(str(err.value))
    for text in messages:
        assert leaked(text, secrets) == [], text
    assert "<redacted>" in messages[0]


def test_opt_in_per_column_shows_raw_values(
    data: tuple[pd.DataFrame, pd.DataFrame, list[str]],
) -> None:
    ref, cur, secrets = data
    policy = Privacy(allow_raw=["email"], k=1, max_categories=None)
    prof = Profile(privacy=policy).update(ref)
    text = prof.to_json()
    assert set(leaked(text, secrets)) == set(ref["email"])  # only the opted-in column
    report = DriftDetector(privacy=policy).fit(ref).detect(cur)
    assert any(label in set(ref["email"]) for label in report["email"].plot["labels"])


def test_schema_infer_marks_the_planted_columns(
    data: tuple[pd.DataFrame, pd.DataFrame, list[str]],
) -> None:
    ref, _, secrets = data
    with pytest.warns(PersonalDataWarning) as caught:
        schema = Schema.infer(ref)
    marked = {c.name for c in schema.columns if c.sensitive}
    assert marked == {"customer_id", "ssn", "email", "card", "note"}
    messages = " ".join(str(w.message) for w in caught)
    assert leaked(messages, secrets) == []
    assert leaked(schema.to_json(), secrets) == []
    # A declared-sensitive numeric column is kept only as a coarse sketch.
    cards = pd.DataFrame({"card": ref["card"].astype("int64").astype(float)})
    prof = Profile(privacy=Privacy.from_schema(Schema([Column("card", "float", sensitive=True)])))
    state = prof.update(cards).to_dict()["columns"]["card"]
    assert "points" not in state
    rep, _ = prof.columns["card"].sample(prof.log_gamma)  # type: ignore[union-attr]
    assert not np.isin(cards["card"].to_numpy(), rep).any()


def test_registry_card_does_not_leak(
    data: tuple[pd.DataFrame, pd.DataFrame, list[str]], tmp_path: Path
) -> None:
    from prodml.registry import ModelRegistry

    ref, _, secrets = data
    emails, ssns = list(ref["email"]), list(ref["ssn"])
    reg = ModelRegistry.local(tmp_path / "reg")
    try:
        signature = Schema(
            [Column("email", "string", allowed=emails[:20], sensitive=True), Column("x", "float")]
        )
        reg.register(
            "churn",
            signature,
            signature=signature,
            description=f"built for {emails[0]}",
            tags={"owner": emails[1], "note": f"excludes {ssns[0]}"},
            lineage={"dataset": emails[2], "fairness": {"groups": [{"group": ssns[1]}]}},
        )
        card = reg.card("churn", intended_use=f"ask {emails[3]}")
        texts = [card.to_markdown(), card.to_html(), card.to_json(), repr(card)]
    finally:
        reg.close()
    for text in texts:
        assert leaked(text, secrets) == []
    assert "&lt;redacted>" in texts[0]  # Markdown: "<redacted>" would be read as a tag
