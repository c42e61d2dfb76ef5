"""The demo's self-contained HTML report: drift plots, alerts, rollout decisions, costs."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

from prodml.drift._html import render_fragment

if TYPE_CHECKING:
    from prodml._demo.scenario import DemoResult

__all__ = ["render_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f4f4f4; } .muted { color: #666; } .lines { white-space: pre-line; }
.firing { color: #b00020; font-weight: 600; } .resolved { color: #1b7f3b; font-weight: 600; }
.promote { color: #1b7f3b; font-weight: 600; } .rollback { color: #b00020; font-weight: 600; }
"""


def _table(header: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append("<tr>" + "".join(f"<td{cls}>{escape(str(v))}</td>" for v in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _timeline_svg(points: list[tuple[int, float]], change_at: int) -> str:
    """A line chart of windowed accuracy against requests served, with both axes labelled."""
    if not points:
        return ""
    w, h, left, right, top, bottom = 680, 230, 52, 16, 14, 44
    x_max = max(p[0] for p in points)

    def x(v: float) -> float:
        return left + (w - left - right) * v / x_max

    def y(v: float) -> float:
        return h - bottom - (h - top - bottom) * v

    path = " ".join(f"{x(n):.1f},{y(a):.1f}" for n, a in points if not math.isnan(a))
    grid = "".join(
        f'<line x1="{left}" x2="{w - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eee"/>'
        f'<text x="{left - 6}" y="{y(t) + 4:.1f}" font-size="10" text-anchor="end">'
        f"{t:.0%}</text>"
        for t in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    step = _nice_step(x_max / 6)
    ticks = "".join(
        f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{h - bottom}" y2="{h - bottom + 4}" '
        f'stroke="#999"/><text x="{x(v):.1f}" y="{h - bottom + 16}" font-size="10" '
        f'text-anchor="middle">{v:,}</text>'
        for v in range(0, x_max + 1, step)
    )
    axes = (
        f'<line x1="{left}" x2="{w - right}" y1="{h - bottom}" y2="{h - bottom}" stroke="#999"/>'
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{h - bottom}" stroke="#999"/>'
        f'<text x="12" y="{(h - bottom + top) / 2:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(h - bottom + top) / 2:.0f})">accuracy</text>'
    )
    change = (
        f'<line x1="{x(change_at):.1f}" x2="{x(change_at):.1f}" y1="{top}" y2="{h - bottom}" '
        f'stroke="#b00020" stroke-dasharray="4 3"/>'
        f'<text x="{x(change_at) + 4:.1f}" y="{top + 10}" font-size="10" fill="#b00020">'
        f"customers change (request {change_at:,})</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="windowed accuracy over requests">{grid}{ticks}{axes}{change}'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{path}"/>'
        f'<text x="{(left + w - right) / 2:.0f}" y="{h - 6}" font-size="11" '
        'text-anchor="middle">requests served (accuracy over the last 500 labelled)</text></svg>'
    )


def _nice_step(raw: float) -> int:
    """1, 2 or 5 times a power of ten, at least ``raw``: 500 -> 500, 700 -> 1000."""
    power = 10 ** max(0, math.floor(math.log10(max(raw, 1))))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _latency(us: float) -> str:
    """A latency given in microseconds, in us below a millisecond and in ms above."""
    return f"{us:.0f} us" if us < 1000 else f"{us / 1000:.1f} ms"


def _usd(value: float) -> str:
    """An amount in USD; fractions of a cent with two significant digits.

    Never in scientific form: ``0.0000093 USD``, not ``9.3e-06 USD``.
    """
    if value != 0 and abs(value) < 0.01:
        decimals = min(1 - math.floor(math.log10(abs(value))), 12)
        return f"{value:.{decimals}f} USD"
    return f"{value:,.2f} USD"


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _store_and_signing(s: dict[str, Any]) -> list[str]:
    """Where the training set came from, and how the versions are signed."""
    fs, sig = s.get("feature_store", {}), s.get("signing", {})
    out = []
    if "skipped" in fs:
        out.append(f"<p class='muted'>Feature store: skipped ({escape(fs['skipped'])}).</p>")
    elif fs:
        views = ", ".join(f"{escape(v)} ({len(c)} features)" for v, c in fs["views"].items())
        out.append(
            "<p>The training set was read point in time from a local feature store (views "
            f"{views}): {escape(fs['point_in_time_rows_equal_to_truth'])} rows hold the "
            "values known on each customer's label day. Every customer also has a row "
            "written after that day; a join on each customer's latest row would have put "
            f"{fs['values_a_latest_value_join_would_leak']:,} of those later values into "
            f"{fs['rows_a_latest_value_join_would_corrupt']:,} training rows.</p>"
        )
    if "skipped" in sig:
        out.append(f"<p class='muted'>Signing: skipped ({escape(sig['skipped'])}).</p>")
    elif sig:
        out.append(
            f"<p>Every version is signed ({escape(sig['algorithm'])}, key "
            f"<code>{escape(sig['key_id'])}</code>) and its signature is checked on every "
            "load: an edited metadata row or a swapped file is refused.</p>"
        )
    return out


def _http(sv: dict[str, Any]) -> list[str]:
    http = sv.get("http", {})
    if not http or "skipped" in http:
        return [
            f"<p class='muted'>HTTP round trip: skipped ({escape(http.get('skipped', ''))}).</p>"
        ]
    same = "the same value as in process" if http["value_equals_in_process"] else "another value"
    return [
        (
            "<p>One request went through the ASGI app on a real server on loopback: "
            f"<code>POST /v1/predict</code> answered {http['status']} with version "
            f"{http['version']} (variant {escape(http['variant'])}) and {same}.</p>"
        )
    ]


def _fairness(sv: dict[str, Any]) -> list[str]:
    tpr = sv.get("tpr_by_age_band") or {}
    if not tpr:
        return []
    return [
        "<h3>Fairness: true positive rate per age band (the last 2,000 labelled requests)</h3>",
        (
            "<p>The model does not read <code>age_band</code>; the monitor does, and compares "
            "the share of actual churners each band's customers are flagged for (score 0.3 or "
            "more). After the change, young customers leave without calling support first, so "
            "the model misses more of them: the <code>tpr_gap_by_age_band</code> alert fires "
            "when the lower bound of the gap between two bands rises above 0.</p>"
        ),
        _table(["age band", "true positive rate"], [[b, f"{v:.3f}"] for b, v in tpr.items()]),
    ]


def _explanation(result: DemoResult) -> list[str]:
    ex = result.summary.get("explanation")
    if not ex or result.explanation is None:
        return []
    from prodml.explain import importance_html  # noqa: PLC0415 - only with an explanation

    card = result.summary.get("model_card", {})
    return [
        "<h2>5. Why, and what the model is</h2>",
        (
            "<p>The riskiest of 2,000 recent customers, as production v"
            f"{result.summary['production_version']} scores them, explained in the customer's "
            f"own columns (on the {escape(ex['scale'])} scale; base + attributions = "
            "prediction):</p>"
        ),
        result.explanation.to_html(top=5),
        "<h3>What drives the model (mean |attribution| on recent customers)</h3>",
        importance_html(result.importance, top=10),
        (
            f"<p>The model card of version {card['version']} (from the registry: metrics, "
            "signature, lineage back to the data and feature views, environment, signer, "
            f"audit log) is in {', '.join(card['files'])}.</p>"
            if card
            else ""
        ),
    ]


def render_report(result: DemoResult) -> str:
    """The whole report as one HTML page with no external resources."""
    s = result.summary
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>prodml demo report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>prodml demo report</h1>",
        (
            f"<p class='muted'>prodml {escape(str(s['prodml_version']))}, seed {s['seed']}; "
            "every figure below was computed by this run.</p>"
        ),
    ]
    tr = s["training"]
    parts += [
        "<h2>1. Training and registration</h2>",
        _table(
            ["rows", "features out", "fit seconds", "holdout accuracy", "holdout AUC"],
            [
                [
                    tr["rows"],
                    tr["features_out"],
                    tr["fit_seconds"],
                    tr["holdout"]["accuracy"],
                    tr["holdout"]["auc"],
                ]
            ],
        ),
        (
            f"<p>Data fingerprint <code>{escape(s['data_fingerprint'][:16])}</code>, pipeline "
            f"fingerprint <code>{escape(tr['pipeline_fingerprint'][:16])}</code>.</p>"
        ),
        *_store_and_signing(s),
    ]
    sv = s["serving"]
    parts += [
        "<h2>2. Serving and monitoring</h2>",
        (
            f"<p>{sv['requests']} requests served one by one through the single-record path "
            f"(p50 {_latency(sv['latency_us']['p50'])}, p99 {_latency(sv['latency_us']['p99'])} "
            "including "
            f"schema validation); the record path matched the batch rows "
            f"{escape(sv['record_equals_batch_row'])}. Rejected requests:</p>"
        ),
        _table(
            ["request", "problems"],
            [[r["request"], "; ".join(r["problems"])] for r in sv["rejected"]],
        ),
        *_http(sv),
        _timeline_svg(result.accuracy_timeline, change_at=3_000),
        *_fairness(sv),
        "<h3>Alerts</h3>",
        _table(
            ["rule", "state", "at request", "severity", "message"],
            [[e.rule, e.state, int(e.at), e.severity, e.message] for e in result.alerts],
            [e.state for e in result.alerts],
        ),
    ]
    if result.drift_report is not None:
        parts += [
            "<h2>3. Data drift: training data vs the last 3,000 requests</h2>",
            render_fragment(result.drift_report),
        ]
    parts.append("<h2>4. Retraining and rollouts</h2>")
    rt = s.get("retraining", {})
    if "v1_on_recent" in rt and "v2" in rt:
        v1, v2 = rt["v1_on_recent"], rt["v2"]
        parts.append(
            f"<p>On the recent requests, v1 has accuracy {v1['accuracy']:.3f} and AUC "
            f"{v1['auc']:.3f}; v2, retrained on them, accuracy {v2['accuracy']:.3f} and AUC "
            f"{v2['auc']:.3f}. {escape(rt.get('note', ''))}</p>"
        )
    steps = s.get("rollout", {}).get("controller", [])
    if steps:
        parts += [
            "<h3>Retraining controller</h3>",
            (
                "<p>Every decision of the <code>RetrainController</code> with its reason, as "
                "in its JSON state and the registry's audit log (canary holds and advances "
                "below).</p>"
            ),
            _table(
                ["#", "action", "version", "reason"],
                [
                    [i + 1, d["action"], _blank(d["version"]), d["reason"]]
                    for i, d in enumerate(steps)
                ],
                [d["action"] if d["action"] in ("promote", "rollback") else "" for d in steps],
            ),
        ]
    for name, decisions in result.rollouts.items():
        parts += [
            f"<h3>Canary {escape(name)}</h3>",
            _table(
                ["#", "action", "reason", "evaluations"],
                [
                    [i + 1, d.action, d.reason, d.evidence.get("repeats", 1)]
                    for i, d in enumerate(decisions)
                ],
                [d.action if d.action in ("promote", "rollback") else "" for d in decisions],
            ),
        ]
    parts += [
        (
            '<p class="lines">Registry gate on v3: '
            f"{escape(str(s['rollout']['registry_gate_on_v3']))}\n"
            f"Production is now version {s['production_version']}.</p>"
        ),
        "<h3>Registry audit log</h3>",
        _table(
            ["at", "actor", "action", "version", "alias"],
            [
                [h["at"], h["actor"], h["action"], _blank(h["version"]), h["alias"] or ""]
                for h in result.history
            ],
        ),
        *_explanation(result),
        "<h2>6. Costs</h2>",
        _table(
            ["estimate (USD)", "low", "expected", "high", "per"],
            [
                [name, _usd(e.low), _usd(e.expected), _usd(e.high), e.unit.removeprefix("per ")]
                for name, e in result.costs.items()
            ],
        ),
    ]
    cad = s["costs"]["retraining_cadence"]
    cost = cad["retraining_cost_usd"]
    parts += [
        (
            f"<p>v1 loses {cad['decay_per_week']:.4f} accuracy ({cad['decay_per_week']:.1%}) "
            "per week as customers drift. One retraining costs "
            f"{_usd(cost['total'])}: {_usd(cost['compute'])} of compute (the row above) plus a "
            f"{_usd(cost['review'])} human review. Retraining every "
            f"{cad['optimal_interval_weeks']} weeks minimises retraining plus degradation cost "
            f"({_usd(cad['cost_per_week_at_optimum'])} a week). At week 8, keeping v1 for "
            f"the next {cad['horizon_weeks']:g} weeks would lose "
            f"{_usd(cad['avoidable_loss_usd_next_4_weeks'])} that a retraining avoids, against "
            f"{_usd(cost['total'])} for the retraining: "
            f"{'retrain now' if cad['retrain_now_at_week_8'] else 'keep v1'}.</p>"
        ),
        f'<p class="muted">{escape(cad["note"])}</p>',
        "</body></html>",
    ]
    return "\n".join(parts)
