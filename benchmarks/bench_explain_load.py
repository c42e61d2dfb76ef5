"""Explainer load and fingerprint time vs shap's unpickle, at two (or more) source trees.

Workload: the F1 pipeline (``bench_features.py``) fitted on ``--train`` rows, feeding
RandomForestClassifiers of ``--forests`` (trees x max_depth, default 300x8 and 500x10),
each explained path-dependently and interventionally (100 background rows). The states
(``Explainer.to_json``, format 5) and shap's pickled ``TreeExplainer`` of the same forest
are written once; then, in ``--rounds`` rounds, each ``--tree`` runs in its own process
(``PYTHONPATH=<tree>/src``) and times ``Explainer.from_json``, ``pickle.loads`` of shap's
explainer and ``Explainer.fingerprint``, ``--repeats`` times each, in CPU seconds
(``time.process_time``: a busy neighbour on the shared machine lands less in them).
Printed per tree and state: medians of per-round CPU times, the median of the per-round
ratios prodml / shap, and (with two trees) the median of the per-round ratios of the
last tree to the first. Each tree checks that every fingerprint equals the first tree's.

Run::

    git worktree add --detach /tmp/main-old main
    python benchmarks/bench_explain_load.py --tree old=/tmp/main-old --tree new=.
    python benchmarks/bench_explain_load.py --forests 300x8 --rounds 3 --json out.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def prepare(folder: Path, forests: list[str], train_rows: int) -> list[str]:
    """Fit the forests and write each state and shap pickle into ``folder``."""
    import numpy as np
    import shap
    from bench_features import make_f1, prodml_pipeline
    from sklearn.ensemble import RandomForestClassifier

    from prodml.explain import Explainer

    train = make_f1(train_rows, seed=0)
    pipe = prodml_pipeline().fit(train)
    X = pipe.transform(train)
    rng = np.random.default_rng(0)
    logit = X[:, 0] - 0.5 * X[:, 3] + 0.8 * X[:, 20] + 0.3 * X[:, 60] - 0.02 * X[:, -2]
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(int)
    background = train.iloc[:100]
    tags = []
    for spec in forests:
        n_trees, depth = (int(v) for v in spec.split("x"))
        model = RandomForestClassifier(
            n_estimators=n_trees, max_depth=depth, random_state=0, n_jobs=2
        ).fit(X, y)
        model.set_params(n_jobs=None)
        for mode in ("path", "interventional"):
            tag = f"rf{spec}-{mode}"
            if mode == "path":
                ex = Explainer(pipe, model).fit()
                theirs = shap.TreeExplainer(model)
            else:
                ex = Explainer(pipe, model, background=background, n_background=100,
                               feature_perturbation="interventional").fit()  # fmt: skip
                theirs = shap.TreeExplainer(
                    model, data=pipe.transform(background), feature_perturbation="interventional"
                )
            (folder / f"{tag}.json").write_text(ex.to_json())
            (folder / f"{tag}.pkl").write_bytes(pickle.dumps(theirs))
            tags.append(tag)
            print(f"  {tag}: state {len(ex.to_json()) / 1e6:.1f} MB", flush=True)
    return tags


def worker(folder: Path, tags: list[str], repeats: int) -> dict[str, Any]:
    """Runs in one tree's process: CPU seconds of each call, per state."""
    import gc

    from prodml.explain import Explainer

    out: dict[str, Any] = {}
    for tag in tags:
        text = (folder / f"{tag}.json").read_text()
        blob = (folder / f"{tag}.pkl").read_bytes()
        ex = Explainer.from_json(text)  # warm-up: imports, first calls
        times: dict[str, list[float]] = {"load": [], "shap": [], "fingerprint": []}
        calls = {
            "load": functools.partial(Explainer.from_json, text),
            "shap": functools.partial(pickle.loads, blob),  # our own bytes
            "fingerprint": functools.partial(getattr, ex, "fingerprint"),
        }
        for _ in range(repeats):
            for name, call in calls.items():
                gc.collect()
                t = time.process_time()
                call()
                times[name].append(time.process_time() - t)
        out[tag] = {name: statistics.median(ts) for name, ts in times.items()}
        out[tag]["digest"] = ex.fingerprint
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", action="append", default=[], help="LABEL=PATH of a source tree")
    ap.add_argument("--forests", nargs="+", default=["300x8", "500x10"])
    ap.add_argument("--train", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="calls timed per round (median)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        folder, tags, repeats = args.worker
        print(json.dumps(worker(Path(folder), tags.split(","), int(repeats))))
        return
    trees = [t.split("=", 1) for t in args.tree] or [["here", str(HERE.parent)]]
    with tempfile.TemporaryDirectory(prefix="prodml-explain-load-") as d:
        folder = Path(d)
        print(f"fitting {args.forests} on {args.train:,} F1 rows")
        sys.path.insert(0, str(HERE))
        tags = prepare(folder, args.forests, args.train)
        rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
        for r in range(args.rounds):
            for label, path in trees:
                env = {**os.environ, "PYTHONPATH": str(Path(path).resolve() / "src")}
                cmd = [sys.executable, __file__, "--worker", d, ",".join(tags), str(args.repeats)]
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)  # noqa: S603
                rounds[label].append(json.loads(proc.stdout.splitlines()[-1]))
                print(f"  round {r + 1} {label} done", flush=True)
    report(rounds, tags, args.json)


def report(rounds: dict[str, list[dict[str, Any]]], tags: list[str], out: Path | None) -> None:
    labels = list(rounds)
    result: dict[str, Any] = {}
    for tag in tags:
        digests = {rounds[label][0][tag]["digest"] for label in labels}
        row: dict[str, Any] = {"same_digest": len(digests) == 1}
        for label in labels:
            runs = [r[tag] for r in rounds[label]]
            row[label] = {
                name: statistics.median(r[name] for r in runs) * 1e3
                for name in ("load", "shap", "fingerprint")
            }
            row[label]["load_over_shap"] = statistics.median(r["load"] / r["shap"] for r in runs)
        if len(labels) > 1:
            a, b = rounds[labels[0]], rounds[labels[-1]]
            for name in ("load", "fingerprint"):
                row[f"{name}_{labels[-1]}_over_{labels[0]}"] = statistics.median(
                    y[tag][name] / x[tag][name] for x, y in zip(a, b, strict=True)
                )
        result[tag] = row
        print(f"\n{tag} (same digest at every tree: {row['same_digest']})")
        for label in labels:
            v = row[label]
            print(
                f"  {label:6s} load {v['load']:8.1f} ms  shap unpickle {v['shap']:7.1f} ms  "
                f"(prodml/shap {v['load_over_shap']:5.1f}x)  fingerprint {v['fingerprint']:8.1f} ms"
            )
        if len(labels) > 1:
            pair = f"{labels[-1]}_over_{labels[0]}"
            print(
                f"  {labels[-1]}/{labels[0]}: load {row[f'load_{pair}']:.2f}, "
                f"fingerprint {row[f'fingerprint_{pair}']:.2f}"
            )
    if out is not None:
        out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
