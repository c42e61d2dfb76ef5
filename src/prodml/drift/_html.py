"""Self-contained HTML rendering of a drift report: verdict table and inline SVG plots."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from prodml.drift._report import DriftReport, DriftResult

_REF, _CUR = "#4c78a8", "#f58518"
_W, _H, _PAD = 420, 170, 28

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} .sub{color:#666;margin-bottom:16px}
table.pm{border-collapse:collapse;font-size:13px;margin-bottom:24px}
table.pm th,table.pm td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}
table.pm th:first-child,table.pm td:first-child{text-align:left}
tr.drift td{background:#fdecea} .yes{color:#c62828;font-weight:600} .no{color:#2e7d32}
.na{color:#888} .grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 10px;width:440px}
.card h3{font-size:14px;margin:2px 0 4px} .card .m{font-size:12px;color:#555}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "&ndash;"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def _verdict(r: DriftResult) -> str:
    if not r.testable:
        return '<span class="na">not testable</span>'
    return '<span class="yes">drift</span>' if r.drifted else '<span class="no">ok</span>'


def _table(report: DriftReport) -> str:
    head = (
        "<tr><th>column</th><th>kind</th><th>test</th><th>statistic</th><th>p-value</th>"
        "<th>adjusted p</th><th>effect</th><th>PSI</th><th>JS</th><th>Hellinger</th>"
        "<th>Wasserstein</th><th>verdict</th></tr>"
    )
    rows = []
    for r in report.results:
        m = r.metrics
        cells = [
            html.escape(r.column),
            r.kind,
            r.method,
            _fmt(r.statistic),
            _fmt(r.p_value),
            _fmt(r.p_adjusted),
            _fmt(r.effect),
            _fmt(m.get("psi")),
            _fmt(m.get("jensen_shannon")),
            _fmt(m.get("hellinger")),
            _fmt(m.get("wasserstein")),
            _verdict(r),
        ]
        cls = ' class="drift"' if r.drifted else ""
        title = f' title="{html.escape(r.note)}"' if r.note else ""
        rows.append(f"<tr{cls}{title}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="pm">{head}{"".join(rows)}</table>'


def _edge_label(value: float, *, datetime: bool) -> str:
    """An axis label: a number, or the date of epoch seconds for datetime columns."""
    if datetime and math.isfinite(value) and abs(value) < 1e11:
        return str(np.datetime64(round(value), "s").astype("datetime64[D]"))
    return _fmt(value, 3)


def _svg_hist(plot: dict[str, Any], *, datetime: bool = False) -> str:
    edges, ref, cur = plot["edges"], plot["reference"], plot["current"]
    top = max(*ref, *cur, 1e-12)
    lo, hi = edges[0], edges[-1]
    n = len(edges) - 1

    def x(i: int) -> float:
        # Bins are equal-width: place edge i by its index (no arithmetic on the values,
        # which may be as large as the largest float).
        return _PAD + i / n * (_W - 2 * _PAD)

    def y(p: float) -> float:
        return _H - _PAD - p / top * (_H - 2 * _PAD)

    parts = []
    for series, color in ((ref, _REF), (cur, _CUR)):
        pts = [f"{x(0):.1f},{y(0):.1f}"]
        for i, p in enumerate(series):
            pts += [f"{x(i):.1f},{y(p):.1f}", f"{x(i + 1):.1f},{y(p):.1f}"]
        pts.append(f"{x(n):.1f},{y(0):.1f}")
        parts.append(
            f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="0.35" '
            f'stroke="{color}" stroke-width="1.2"/>'
        )
    axis = (
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#999"/>'
        f'<text x="{_PAD}" y="{_H - 8}" font-size="10">{_edge_label(lo, datetime=datetime)}</text>'
        f'<text x="{_W - _PAD}" y="{_H - 8}" font-size="10" text-anchor="end">'
        f"{_edge_label(hi, datetime=datetime)}</text>"
    )
    return _svg("".join(parts) + axis)


def _svg_bar(plot: dict[str, Any]) -> str:
    labels, ref, cur = plot["labels"], plot["reference"], plot["current"]
    top = max(*ref, *cur, 1e-12)
    n = len(labels)
    slot = (_W - 2 * _PAD) / max(n, 1)
    bw = slot * 0.4
    parts = []
    for i, label in enumerate(labels):
        x0 = _PAD + i * slot + slot * 0.1
        for j, (p, color) in enumerate(((ref[i], _REF), (cur[i], _CUR))):
            h = max(p, 0.0) / top * (_H - 2 * _PAD)
            parts.append(
                f'<rect x="{x0 + j * bw:.1f}" y="{_H - _PAD - h:.1f}" width="{bw:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{html.escape(label)}: '
                f"{p:.4f}</title></rect>"
            )
        short = html.escape(label if len(label) <= 6 else label[:5] + "\u2026")
        parts.append(
            f'<text x="{x0 + bw:.1f}" y="{_H - _PAD + 12}" font-size="9" '
            f'text-anchor="middle">{short}</text>'
        )
    axis = f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#999"/>'
    return _svg("".join(parts) + axis)


def _svg(body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img">{body}</svg>'
    )


def _card(r: DriftResult) -> str:
    if r.plot.get("type") == "hist":
        svg = _svg_hist(r.plot, datetime=r.kind == "datetime")
    elif r.plot.get("type") == "bar":
        svg = _svg_bar(r.plot)
    else:
        svg = f'<p class="na">{html.escape(r.note or "no plot")}</p>'
    meta = (
        f"{r.method} statistic {_fmt(r.statistic)}, adjusted p {_fmt(r.p_adjusted)}, "
        f"effect {_fmt(r.effect)}; n = {r.n_reference:,} / {r.n_current:,}"
    )
    return (
        f'<div class="card"><h3>{html.escape(r.column)} &middot; {_verdict(r)}</h3>'
        f'<div class="m">{meta}</div>{svg}</div>'
    )


def render_fragment(report: DriftReport) -> str:
    """Summary, verdict table and plots, without the page wrapper (for notebooks)."""
    s = report.settings
    drifted = report.drifted_columns
    summary = (
        f"{len(drifted)} of {len(report.results)} columns drifted"
        f" &middot; alpha {s.get('alpha')}, correction {s.get('correction')}, "
        f"min_effect {s.get('min_effect')} &middot; reference {report.n_reference:,} rows, "
        f"current {report.n_current:,} rows"
    )
    legend = (
        f'<div class="legend"><span style="background:{_REF}"></span>reference'
        f'<span style="background:{_CUR}"></span>current</div>'
    )
    cards = "".join(_card(r) for r in report.results)
    return (
        f'<div class="prodml-drift"><style>{_CSS}</style><div class="sub">{summary}</div>'
        f'{_table(report)}{legend}<div class="grid">{cards}</div></div>'
    )


def render_page(report: DriftReport) -> str:
    """A complete, self-contained HTML document."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>prodml drift report</title></head><body><h1>Drift report</h1>"
        f"{render_fragment(report)}</body></html>\n"
    )
