"""Run every benchmark in this folder and collect their ratios into one table.

Each ``bench_*.py`` script runs prodml and the tool a user would otherwise pick on the same
workload, in one process, and prints its figures; lines that carry a ratio contain the word
``ratio`` or a figure such as ``38.3x``. This runner executes them one after another,
keeps each script's full output in ``benchmarks/results/<name>.txt`` and writes the ratio
lines of all of them to ``benchmarks/results/summary.md``.

Usage::

    python benchmarks/run.py            # full workloads (tens of minutes on 2 cores)
    python benchmarks/run.py --quick    # small workloads, a smoke run
    python benchmarks/run.py features drift   # only some benchmarks

Competitors come from the ``bench`` extra: ``pip install -e '.[bench]'``. A benchmark whose
competitor is missing says so in its output and reports prodml's figures alone.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# A line with a ratio: "ratio", "3.2x faster", or a figure such as "38.3x" in a table row.
RATIO_LINE = re.compile(r"ratio|speed-?up|\b\d+(?:\.\d+)?x\b", re.IGNORECASE)


def _machine() -> str:
    import os

    return f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small workloads (smoke run)")
    args = parser.parse_args(argv)

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.names]
        if not scripts:
            parser.error(f"no benchmark named {args.names}")
    RESULTS.mkdir(exist_ok=True)
    summary = [
        "# Benchmark summary",
        "",
        f"Machine: {_machine()}. Mode: {'quick' if args.quick else 'full'}.",
        "",
        "| benchmark | exit | seconds | ratio lines |",
        "| --- | --- | --- | --- |",
    ]
    failed = 0
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
        print(f"==> {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        seconds = time.perf_counter() - start
        output = proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.stderr.strip() else "")
        (RESULTS / f"{name}.txt").write_text(output)
        print(proc.stdout, end="", flush=True)
        if proc.returncode != 0:
            failed += 1
            print(proc.stderr, end="", file=sys.stderr)
        ratios = [line.strip() for line in proc.stdout.splitlines() if RATIO_LINE.search(line)]
        cell = "<br>".join(r.replace("|", "/") for r in ratios) or "(none printed)"
        summary.append(f"| {name} | {proc.returncode} | {seconds:.1f} | {cell} |")
    (RESULTS / "summary.md").write_text("\n".join(summary) + "\n")
    print(f"\nwrote {RESULTS / 'summary.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
