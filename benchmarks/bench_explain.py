"""Benchmark X1: prodml.explain vs shap on the F1 pipeline (attributions per raw column).

Workload (seed 0): the F1 pipeline of ``bench_features.py`` (16 raw columns, 113 outputs)
fitted on ``--train`` rows, feeding four explainers: a LogisticRegression, a 100-tree
GradientBoostingClassifier (depth 3), a 300-tree RandomForestClassifier (max_depth 8:
both tools take time proportional to leaves x depth^2, and unbounded forests take hours
in either), and that forest again with interventional TreeSHAP w.r.t. 100 background
rows (``feature_perturbation="interventional"``; ``bench_explain_interventional.py``
runs the same comparison on its own forest, with ``--fit-memory`` for the fit's cost).
shap's side is what a user writes without prodml: ``transform_record`` (or
``transform``), ``shap.LinearExplainer(model, background)`` / ``shap.TreeExplainer(model)``
(``shap.TreeExplainer(model, data=background, feature_perturbation="interventional")``)
on the transformed row(s), and a hand-written sum of each raw column's outputs.

Figures per model:

* ``explain_record`` p50 / p99 over ``--records`` dict records, prodml and shap timed in
  ``--rounds`` alternating rounds (best round kept) so a busy neighbour does not land on
  one tool only;
* batch rows/s on ``--rows`` rows (the forests on ``--forest-rows``), transform included
  on both sides;
* max |prodml - shap| over every batch value and base value;
* state size and load time (median of ``--load-repeats``): ``Explainer.to_json`` /
  ``from_json`` (format 5: typed arrays) vs pickling shap's explainer (``pickle.dumps`` /
  ``loads``), with the median of the per-round ratios; for the forests also the state
  as prodml saved it before format 5 (format 1, or 4 for the interventional forest: a
  JSON list per tree and field), and for the interventional forest the format-3 state
  (its background rows, grouped again on load, as prodml saved it before format 4).

Run::

    python benchmarks/bench_explain.py            # 100,000 rows
    python benchmarks/bench_explain.py --quick    # 5,000 rows, smoke run
    python benchmarks/bench_explain.py --json out.json
    python benchmarks/bench_explain.py --only-interventional --load-repeats 7
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import pickle
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from bench_features import make_f1, prodml_pipeline
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from prodml.explain import Explainer


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        for rec in df.to_dict("records")
    ]


def _timings(fn: Callable[[Any], Any], items: list[Any]) -> tuple[float, float]:
    times = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6, float(np.percentile(times, 99)) * 1e6


def _best(fns: dict[str, Callable[[Any], Any]], items: list[Any], rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {name: [] for name in fns}
    for r in range(rounds):
        for name, fn in fns.items():
            gc.collect()
            p50, p99 = _timings(fn, items)
            out[name].append((p50, p99))
            print(f"    round {r + 1} {name:7s} p50 {p50:9.1f} us  p99 {p99:9.1f} us")
    return {name: (min(v[0] for v in vals), min(v[1] for v in vals)) for name, vals in out.items()}


class ShapSide:
    """What a user writes with shap: transform, explain, sum each raw column's outputs."""

    def __init__(
        self, pipe: Any, model: Any, background: np.ndarray | None, linear: bool = True
    ) -> None:
        import shap

        self.pipe = pipe
        self.columns = list(pipe.output_groups())
        self.groups = list(pipe.output_groups().values())
        self.linear = background is not None and linear
        if self.linear:
            self.explainer = shap.LinearExplainer(model, background)
        elif background is not None:
            self.explainer = shap.TreeExplainer(
                model, data=background, feature_perturbation="interventional"
            )
        else:
            self.explainer = shap.TreeExplainer(model)
        base = np.ravel(self.explainer.expected_value)
        self.base = float(base[-1])

    def _values(self, X: np.ndarray) -> np.ndarray:
        sv = np.asarray(
            self.explainer.shap_values(X, **({} if self.linear else {"check_additivity": False}))
        )
        return sv[..., 1] if sv.ndim == 3 else sv

    def record(self, rec: dict[str, Any]) -> dict[str, float]:
        sv = self._values(self.pipe.transform_record(rec)[None, :])[0]
        return {c: float(sv[idx].sum()) for c, idx in zip(self.columns, self.groups, strict=True)}

    def batch(self, df: pd.DataFrame) -> np.ndarray:
        sv = self._values(self.pipe.transform(df))
        return np.column_stack([sv[:, idx].sum(axis=1) for idx in self.groups])


def run_model(  # noqa: PLR0917 - one benchmark case
    name: str,
    model: Any,
    pipe: Any,
    train: pd.DataFrame,
    args: argparse.Namespace,
    interventional: bool = False,
) -> dict[str, Any]:
    print(f"\n== {name}")
    linear = isinstance(model, LogisticRegression)
    background = train.iloc[:100]  # shap's LinearExplainer keeps at most 100 rows: the same
    if interventional:
        ex = Explainer(pipe, model, background=background, n_background=100,
                       feature_perturbation="interventional").fit()  # fmt: skip
    else:
        ex = Explainer(pipe, model, background=background if linear else None).fit()
    with_bg = linear or interventional
    shap_side = ShapSide(pipe, model, pipe.transform(background) if with_bg else None, linear)
    recs = _records(make_f1(args.records, seed=7))
    ex.explain_record(recs[0])  # compile the kernels before timing
    shap_side.record(recs[0])
    best = _best({"prodml": ex.explain_record, "shap": shap_side.record}, recs, args.rounds)
    rows = args.forest_rows if isinstance(model, RandomForestClassifier) else args.rows
    rows = args.interventional_rows if interventional else rows
    data = make_f1(rows, seed=3)
    t = time.perf_counter()
    ours = ex.explain_batch(data)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    theirs = shap_side.batch(data)
    t_shap = time.perf_counter() - t
    diff = max(float(np.abs(ours.values - theirs).max()), abs(ours.base - shap_side.base))
    additivity = float(np.abs(ours.base + ours.values.sum(axis=1) - ours.prediction).max())
    text = ex.to_json()
    blob = pickle.dumps(shap_side.explainer)
    loads: dict[str, Callable[[], Any]] = {
        "prodml": lambda: Explainer.from_json(text),
        # pickle.loads: our own bytes, measured as a user would
        "shap": lambda: pickle.loads(blob),  # noqa: S301
    }
    text3 = _format_3(ex) if interventional else None
    if text3 is not None:  # the rows, grouped again on load: what format 3 (stop 39) saved
        loads["format_3"] = lambda: Explainer.from_json(text3)
    legacy = _legacy(ex) if ex.kernel_.method == "tree" else None
    if legacy is not None:  # a JSON list per tree and field: what formats 1 to 4 saved
        loads["legacy"] = lambda: Explainer.from_json(legacy)
    load_s = _alternating_medians(loads, args.load_repeats)
    load_ours, load_shap = load_s["prodml"], load_s["shap"]
    old_format = None
    if text3 is not None:
        old_format = {
            "state_bytes": len(text3.encode()),
            "load_ms": load_s["format_3"] * 1e3,
            "median_ratio_format_3_over_5": load_s["format_3/prodml"],
        }
    result = {
        "record_p50_us": {"prodml": best["prodml"][0], "shap": best["shap"][0]},
        "record_p99_us": {"prodml": best["prodml"][1], "shap": best["shap"][1]},
        "batch_rows": rows,
        "batch_rows_per_s": {"prodml": rows / t_ours, "shap": rows / t_shap},
        "max_abs_diff": diff,
        "max_additivity_error": additivity,
        "state_bytes": {"prodml": len(text.encode()), "shap_pickle": len(blob)},
        "load_ms": {"prodml": load_ours * 1e3, "shap_pickle": load_shap * 1e3},
        "load_median_ratio_prodml_over_shap": load_s["prodml/shap"],
        "method": ex.kernel_.method,
    }
    if old_format is not None:
        result["format_3"] = old_format
    if legacy is not None:
        result["legacy_format"] = {
            "format_version": json.loads(legacy)["format_version"],
            "state_bytes": len(legacy.encode()),
            "load_ms": load_s["legacy"] * 1e3,
            "median_ratio_legacy_over_5": load_s["legacy/prodml"],
            "median_ratio_legacy_over_shap": load_s["legacy/shap"],
        }
    for q in ("p50", "p99"):
        ours_us, shap_us = best["prodml"][q == "p99"], best["shap"][q == "p99"]
        print(
            f"  explain_record {q}: prodml {ours_us:.1f} us, shap {shap_us:.1f} us -> "
            f"{shap_us / ours_us:.1f}x faster"
        )
    bps = result["batch_rows_per_s"]
    print(
        f"  batch ({rows:,} rows): prodml {bps['prodml']:,.0f} rows/s, shap "
        f"{bps['shap']:,.0f} rows/s -> ratio {bps['prodml'] / bps['shap']:.1f}x"
    )
    print(f"  max |prodml - shap| {diff:.2e}; max |base + sum - prediction| {additivity:.2e}")
    print(
        f"  state: prodml JSON {len(text) / 1e3:,.1f} kB loads in {load_ours * 1e3:.1f} ms; "
        f"shap pickle {len(blob) / 1e3:,.1f} kB loads in {load_shap * 1e3:.1f} ms "
        f"(medians of {args.load_repeats} alternating rounds; median ratio "
        f"{load_s['prodml/shap']:.1f}x)"
    )
    if legacy is not None:
        lf = result["legacy_format"]
        print(
            f"  format {lf['format_version']} (JSON lists, before format 5): "
            f"{lf['state_bytes'] / 1e3:,.1f} kB loads in {lf['load_ms']:.1f} ms (median ratio "
            f"to format 5: {lf['median_ratio_legacy_over_5']:.2f}x; to shap: "
            f"{lf['median_ratio_legacy_over_shap']:.1f}x)"
        )
    if old_format is not None:
        print(
            f"  format 3 (background rows, grouped on load): "
            f"{old_format['state_bytes'] / 1e3:,.1f} kB loads in {old_format['load_ms']:.1f} ms "
            f"(median ratio to format 5: {old_format['median_ratio_format_3_over_5']:.2f}x)"
        )
    return result


def _alternating_medians(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each call over ``repeats`` rounds that alternate the calls.

    Also ``"<name>/prodml"``, ``"<name>/shap"`` and ``"prodml/shap"``: the median of the
    per-round ratios, steadier than a ratio of medians on a shared machine.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    out = {name: statistics.median(ts) for name, ts in times.items()}
    ours = times["prodml"]
    for name, ts in times.items():
        if name != "prodml":
            key = "prodml/shap" if name == "shap" else f"{name}/prodml"
            pairs = zip(ours, ts, strict=True) if name == "shap" else zip(ts, ours, strict=True)
            out[key] = statistics.median(a / b for a, b in pairs)
        if name not in ("prodml", "shap") and "shap" in times:
            pairs = zip(ts, times["shap"], strict=True)
            out[f"{name}/shap"] = statistics.median(a / b for a, b in pairs)
    return out


def _legacy(ex: Explainer) -> str:
    """A tree explainer's state as prodml saved it before format 5 (JSON lists)."""
    return json.dumps(ex._state_dict(savable=True, packed=False))


def _format_3(ex: Explainer) -> str:
    """An interventional explainer's state as format 3 saved it: its background rows."""
    state = json.loads(_legacy(ex))
    kernel = state["kernel"]
    if "patterns" not in kernel:  # a prodml before format 4 saved format 3 itself
        return ex.to_json()
    for key in ("n_background", "base", "patterns"):
        del kernel[key]
    rows = ex.kernel_.background  # type: ignore[union-attr]
    kernel["background"] = [[None if math.isnan(v) else v for v in r] for r in rows.tolist()]
    state["format_version"] = 3
    return json.dumps(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--forest-rows", type=int, default=1_000)
    parser.add_argument("--interventional-rows", type=int, default=200)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-repeats", type=int, default=5, help="loads timed (median)")
    parser.add_argument(
        "--only-interventional",
        action="store_true",
        help="run the interventional forest only (its load time: format 5 vs 4 vs 3 vs shap)",
    )
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.forest_rows, args.train, args.records = 5_000, 200, 5_000, 100
        args.interventional_rows = 50
    try:
        import shap
    except ImportError:
        print("shap is not installed (pip install 'prodml[bench]'): nothing to compare with")
        return
    print(f"X1: prodml.explain vs shap {shap.__version__}; {platform.platform()}, 2 cores (shared)")
    train = make_f1(args.train, seed=0)
    pipe = prodml_pipeline().fit(train)
    X = pipe.transform(train)
    rng = np.random.default_rng(0)
    logit = X[:, 0] - 0.5 * X[:, 3] + 0.8 * X[:, 20] + 0.3 * X[:, 60] - 0.02 * X[:, -2]
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(int)
    n_raw = len(pipe.output_groups())
    print(f"F1 pipeline: {n_raw} raw columns, {X.shape[1]} outputs; {len(X):,} training rows")
    models = {
        "LogisticRegression": LogisticRegression(max_iter=1000),
        "GradientBoosting (100 trees)": GradientBoostingClassifier(
            n_estimators=100, random_state=0
        ),
        "RandomForest (300 trees, depth 8)": RandomForestClassifier(
            n_estimators=300, max_depth=8, random_state=0, n_jobs=2
        ),
    }
    results = {}
    if args.only_interventional:
        models = {k: v for k, v in models.items() if k.startswith("RandomForest")}
    for name, model in models.items():
        model.fit(X, y)
        if isinstance(model, RandomForestClassifier):
            model.set_params(n_jobs=None)  # shap and prodml are single-threaded
        if not args.only_interventional:
            results[name] = run_model(name, model, pipe, train, args)
        if isinstance(model, RandomForestClassifier):
            label = "RandomForest (300 trees, depth 8), interventional, 100 background rows"
            results[label] = run_model(label, model, pipe, train, args, interventional=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
