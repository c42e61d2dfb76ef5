"""The end-to-end demo behind ``prodml demo``: offline, seeded, on embedded defaults.

It trains a churn model, registers it, serves drifting traffic under a monitor that raises
alerts, retrains, runs two canaries (one promotes, one rolls back), estimates costs, and
writes ``report.html``, ``drift.html`` (with the two tables it compares, as Parquet),
``summary.json`` and the local registry to the output folder.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported on first use: pandas, numpy (see run_demo's first line)
    from prodml._demo.data import make_churn_data

__all__ = ["DRIFT_FILES", "make_churn_data", "next_steps", "run_demo"]

# The drift report's reference (training) and current (the last 3,000 requests) tables.
DRIFT_FILES = ("training.parquet", "recent.parquet")


def __getattr__(name: str) -> Any:
    if name == "make_churn_data":
        from prodml._demo.data import make_churn_data  # noqa: PLC0415 - loads pandas

        return make_churn_data
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Progress:
    """The demo's steps: narrated on stdout, and a bar of steps on stderr on a terminal.

    ``quiet``: neither (only the final summary line). In a pipe: the narration only.
    """

    def __init__(self, quiet: bool) -> None:
        from prodml._progress import progress_bar  # noqa: PLC0415

        self.quiet = quiet
        self.t0 = time.perf_counter()
        self.bar = progress_bar(desc="demo", unit="steps", enabled=False if quiet else None)

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        line = f"[{time.perf_counter() - self.t0:6.2f}s] {message}"
        if self.bar.disable:
            print(line, flush=True)
        else:  # above the bar, which stays at the bottom of the terminal
            self.bar.write(line, file=sys.stdout)
            self.bar.update(1)
            self.bar.set_description_str(message.strip()[:40])  # redraws

    def close(self) -> None:
        self.bar.close()


def run_demo(out: Path, *, seed: int = 0, quiet: bool = False) -> int:
    """Run the demo, writing its artefacts to ``out``; return the exit code (0).

    Its first line comes before the seconds of loading numpy, pandas, scikit-learn and
    every prodml module (more on a first run, which compiles them): a new user sees it
    start at once.
    """
    out.mkdir(parents=True, exist_ok=True)
    progress = _Progress(quiet)
    try:
        progress("loading numpy, pandas, scikit-learn and prodml (a few seconds)")
        from prodml._demo.report import render_report  # noqa: PLC0415 - imports every module
        from prodml._demo.scenario import run_scenario  # noqa: PLC0415

        result = run_scenario(out, seed=seed, step=progress)
        progress("writing report.html, drift.html and summary.json")
        (out / "report.html").write_text(render_report(result), encoding="utf-8")
        if result.drift_report is not None:
            result.drift_report.to_html(out / "drift.html")
        if result.drift_inputs is not None:  # so `prodml drift` can be tried on them
            for name, frame in zip(DRIFT_FILES, result.drift_inputs, strict=True):
                frame.to_parquet(out / name, index=False)
    finally:
        progress.close()
    s = result.summary
    s["seconds"] = round(time.perf_counter() - progress.t0, 2)
    (out / "summary.json").write_text(json.dumps(s, indent=2, default=str), encoding="utf-8")
    firing = sorted({e.rule for e in result.alerts if e.state == "firing"})
    outcomes = ", ".join(
        f"{name}: {v['outcome']}" for name, v in s["rollout"].items() if isinstance(v, dict)
    )
    print(
        f"prodml demo: {s['serving']['requests']} requests served, "
        f"{len(s['serving']['rejected'])} rejected; alerts fired: {', '.join(firing) or 'none'}; "
        f"canaries: {outcomes}; production is v{s['production_version']}; "
        f"report in {out / 'report.html'}"
    )
    if not quiet:
        print(next_steps(out))
    return 0


def next_steps(out: Path) -> str:
    """What to try after the demo, printed under its summary (not with ``--quiet``)."""
    reference, current = (out / name for name in DRIFT_FILES)
    return (
        f"next: 'prodml registry {out / 'registry'} churn' lists the versions it registered; "
        f"'prodml drift {reference} {current}' tests drift.html's columns from a shell"
    )
