"""Start-up cost of ``import prodml`` and the ``prodml`` command (issue 16).

A newcomer's first contact is ``prodml --help``: it must answer at once. This benchmark
times, on the same machine in one run:

- ``python -c pass`` (the interpreter alone: the floor),
- ``python -c "import prodml"`` (target: <= 150 ms),
- ``prodml --help`` and ``prodml --version`` (target: <= 300 ms each),
- ``python -c "import pandas"`` (what every call cost before the imports went lazy),

with hyperfine when it is installed (``apt-get install hyperfine``), else with a loop of
subprocess runs timed here; it prints the median of each, the ratio to the interpreter
alone, and whether each target holds. It also lists the heavy modules each command loads
(none is the point). ``--quick`` runs fewer repetitions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("numpy", "pandas", "scipy", "pyarrow", "sklearn", "pydantic", "sqlalchemy")
PRODML = [sys.executable, "-m", "prodml.cli"]


def _commands() -> dict[str, list[str]]:
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import prodml": [sys.executable, "-c", "import prodml"],
        "prodml --help": [*PRODML, "--help"],
        "prodml --version": [*PRODML, "--version"],
        "import pandas": [sys.executable, "-c", "import pandas"],
    }


TARGETS_MS = {"import prodml": 150.0, "prodml --help": 300.0, "prodml --version": 300.0}


def _time_hyperfine(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "out.json"
        argv = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--style", "none"]
        argv += ["--export-json", str(export)]
        argv += [" ".join(_quote(a) for a in cmd) for cmd in commands.values()]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - our argv
        results = json.loads(export.read_text())["results"]
    return {name: r["median"] * 1000 for name, r in zip(commands, results, strict=True)}


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def _time_loop(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so that a busy neighbour slows every command alike
        for name, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - our argv
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def _heavy_modules(code: str) -> list[str]:
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return sorted({m.split(".")[0] for m in out} & set(HEAVY))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    runs = 10 if args.quick else 30
    commands = _commands()
    tool = "hyperfine" if shutil.which("hyperfine") else "a subprocess loop"
    medians = (_time_hyperfine if tool == "hyperfine" else _time_loop)(commands, runs)
    print(f"start-up, median of {runs} runs ({tool}), {os.cpu_count()} cores")
    floor = medians["python -c pass"]
    for name, ms in medians.items():
        target = TARGETS_MS.get(name)
        verdict = (
            ""
            if target is None
            else f"  target <= {target:.0f} ms: " + ("ok" if ms <= target else "MISSED")
        )
        print(f"  {name:<18} {ms:7.1f} ms   ratio to python alone {ms / floor:5.2f}x{verdict}")
    ratio = medians["import pandas"] / medians["import prodml"]
    print(f"  import pandas / import prodml ratio: {ratio:.1f}x")
    cli = "from prodml.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    for label, code in (("import prodml", "import prodml"), ("prodml --help", cli)):
        heavy = _heavy_modules(code)
        print(f"  heavy modules loaded by {label}: {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
