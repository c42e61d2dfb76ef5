"""Self-contained HTML rendering of a drift report: verdict table and inline SVG plots."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from prodml._markup import MAX_TEXT, html_text

if TYPE_CHECKING:
    from prodml.drift._report import DriftReport, DriftResult

_REF, _CUR = "#4c78a8", "#f58518"
# Width and height; padding at the top/right, left (y axis) and bottom (ticks + title).
_W, _H, _PAD, _PADL, _PADB = 420, 190, 12, 46, 34

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} .sub{color:#666;margin-bottom:16px}
table.pm{border-collapse:collapse;font-size:13px;margin-bottom:24px}
table.pm th,table.pm td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}
table.pm th:first-child,table.pm td:first-child{text-align:left}
tr.drift td{background:#fdecea} .yes{color:#c62828;font-weight:600} .no{color:#2e7d32}
.na{color:#888} .grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 10px;width:440px}
.card h3{font-size:14px;margin:2px 0 4px;overflow-wrap:anywhere} .card .m{font-size:12px;color:#555}
table.pm td:first-child{max-width:32em;overflow-wrap:anywhere}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "&ndash;"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


_LABEL = 40
"""Characters of a category label drawn under its bars (the bar's tooltip shows more)."""


def _name(column: str) -> str:
    """A column name in HTML: escaped, cut, isolated from the text around it."""
    return f"<bdi>{html_text(column)}</bdi>"


def _verdict(r: DriftResult) -> str:
    if not r.testable and r.drifted:  # values untestable, null share drifted
        return '<span class="yes">drift (nulls)</span>'
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
            _name(r.column),
            html.escape(r.kind),
            html.escape(r.method),
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
        title = f' title="{html_text(r.note, MAX_TEXT, name=False)}"' if r.note else ""
        rows.append(f"<tr{cls}{title}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="pm">{head}{"".join(rows)}</table>'


def _nice_ticks(lo: float, hi: float) -> list[tuple[float, str]] | None:
    """Round tick values in ``[lo, hi]`` with their labels.

    Steps of 1, 2 or 5 times a power of ten, the count closest to five (fewer, larger
    steps on a tie). None when the range is empty, too wide to do arithmetic on, or too
    narrow for 15 digits to label (the caller then labels bin edges instead).

    Examples
    --------
    >>> [label for _, label in _nice_ticks(1.136, 89.816)]
    ['20', '40', '60', '80']
    >>> [label for _, label in _nice_ticks(0.0, 5.0)]
    ['0', '1', '2', '3', '4', '5']
    >>> [label for _, label in _nice_ticks(0.013, 0.052)]
    ['0.02', '0.03', '0.04', '0.05']
    >>> [label for _, label in _nice_ticks(0.0, 4e6)]
    ['0', '1e+06', '2e+06', '3e+06', '4e+06']
    """
    span = hi - lo
    if not (math.isfinite(span) and span > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return None
    power = math.floor(math.log10(span))
    best: tuple[int, float, int] | None = None
    for exp in (power - 2, power - 1, power):
        for mult in (5, 2, 1):
            step = mult * 10.0**exp
            count = math.floor(hi / step + 1e-9) - math.ceil(lo / step - 1e-9) + 1
            if count >= 2 and (best is None or abs(count - 5) < abs(best[0] - 5)):
                best = (count, step, exp)
    if best is None:
        return None
    _, step, exp = best
    decimals = max(0, -exp)
    first = math.ceil(lo / step - 1e-9)
    values = [(first + k) * step for k in range(best[0])]
    # Short labels, as many digits as it takes to tell them apart (a narrow range far from
    # zero needs more).
    formats = [f".{decimals}f"] if decimals <= 6 and max(map(abs, values)) < 1e6 else []
    for spec in [*formats, *(f".{digits}g" for digits in range(3, 16))]:
        labels = ["0" if v == 0 else format(v, spec) for v in values]
        if len(set(labels)) == len(labels):
            return list(zip(values, labels, strict=True))
    return None


def _edge_label(value: float, *, datetime: bool) -> str:
    """An axis label: a number, or the date of epoch seconds for datetime columns."""
    if datetime and math.isfinite(value) and abs(value) < 1e11:
        return str(np.datetime64(round(value), "s").astype("datetime64[D]"))
    return _fmt(value, 3)


def _y_axis(top: float, height: int, pb: int = _PADB) -> str:
    """Left axis of a share-of-rows plot: 0, half and the top, in percent, with a title."""
    parts = [f'<line x1="{_PADL}" y1="{_PAD}" x2="{_PADL}" y2="{height - pb}" stroke="#999"/>']
    for frac in (0.0, 0.5, 1.0):
        yy = height - pb - frac * (height - pb - _PAD)
        parts.append(
            f'<line x1="{_PADL - 3}" y1="{yy:.1f}" x2="{_PADL}" y2="{yy:.1f}" stroke="#999"/>'
            f'<text x="{_PADL - 5}" y="{yy + 3:.1f}" font-size="9" text-anchor="end">'
            f"{_pct(frac * top)}</text>"
        )
    mid = (height - pb + _PAD) / 2
    parts.append(
        f'<text x="10" y="{mid:.1f}" font-size="9" text-anchor="middle" '
        f'transform="rotate(-90 10 {mid:.1f})">share of rows</text>'
    )
    return "".join(parts)


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%" if p >= 0.1 or p == 0 else f"{100 * p:.1f}%"


def _svg_hist(plot: dict[str, Any], column: str, *, datetime: bool = False) -> str:
    edges, ref, cur = plot["edges"], plot["reference"], plot["current"]
    top = max(*ref, *cur, 1e-12)
    n = len(edges) - 1
    height = _H

    def x(i: float) -> float:
        # Bins are equal-width: place edge i by its index (no arithmetic on the values,
        # which may be as large as the largest float).
        return _PADL + i / n * (_W - _PADL - _PAD)

    def y(p: float) -> float:
        return height - _PADB - p / top * (height - _PADB - _PAD)

    parts = []
    # The reference is filled, the current drawn as an outline on top: a spiky column
    # (a count with few values) never hides one series behind the other.
    for series, color, fill in ((ref, _REF, "0.45"), (cur, _CUR, "0")):
        pts = [f"{x(0):.1f},{y(0):.1f}"]
        for i, p in enumerate(series):
            pts += [f"{x(i):.1f},{y(p):.1f}", f"{x(i + 1):.1f},{y(p):.1f}"]
        pts.append(f"{x(n):.1f},{y(0):.1f}")
        parts.append(
            f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="{fill}" '
            f'stroke="{color}" stroke-width="1.6"/>'
        )
    baseline = height - _PADB
    axis = [f'<line x1="{_PADL}" y1="{baseline}" x2="{_W - _PAD}" y2="{baseline}" stroke="#999"/>']
    lo, hi = float(edges[0]), float(edges[n])
    nice = None if datetime else _nice_ticks(lo, hi)
    if nice is not None:
        # Round values where they fall (the bins are equal-width, so linear in value).
        marks: list[tuple[float, str]] = [
            (n * (value - lo) / (hi - lo), label) for value, label in nice
        ]
    else:
        marks = [
            (i, _edge_label(edges[i], datetime=datetime))
            for i in sorted({round(k * n / 4) for k in range(5)})
        ]
    for at, label in marks:
        anchor = "start" if at <= 0 else "end" if at >= n else "middle"
        axis.append(
            f'<line x1="{x(at):.1f}" y1="{height - _PADB}" x2="{x(at):.1f}" '
            f'y2="{height - _PADB + 3}" stroke="#999"/>'
            f'<text x="{x(at):.1f}" y="{height - _PADB + 13}" font-size="9" '
            f'text-anchor="{anchor}">{label}</text>'
        )
    title = html_text(column, _LABEL * 2) + (" (date)" if datetime else "")
    axis.append(
        f'<text x="{(_PADL + _W - _PAD) / 2:.1f}" y="{height - 4}" font-size="10" '
        f'text-anchor="middle">{title}</text>'
    )
    return _svg("".join(parts) + "".join(axis) + _y_axis(top, height), height)


def _svg_bar(plot: dict[str, Any], column: str) -> str:
    labels, ref, cur = plot["labels"], plot["reference"], plot["current"]
    top = max(*ref, *cur, 1e-12)
    n = len(labels)
    shown = [html_text(label, _LABEL) for label in labels]
    longest = max((len(html.unescape(text)) for text in shown), default=1)
    rotate = n > 6 or longest * 5.5 > (_W - _PADL - _PAD) / max(n, 1)
    # Full labels always: turned 40 degrees when they would not fit side by side.
    pb = _PADB + (min(longest, 24) * 4 if rotate else 0)
    height = _H + pb - _PADB
    slot = (_W - _PADL - _PAD) / max(n, 1)
    bw = slot * 0.4
    plot_h = height - pb - _PAD
    parts = []
    for i, label in enumerate(labels):
        x0 = _PADL + i * slot + slot * 0.1
        for j, (p, color) in enumerate(((ref[i], _REF), (cur[i], _CUR))):
            h = max(p, 0.0) / top * plot_h
            parts.append(
                f'<rect x="{x0 + j * bw:.1f}" y="{height - pb - h:.1f}" width="{bw:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{html_text(label)}: '
                f"{_pct(p)}</title></rect>"
            )
        text = shown[i]
        cx, cy = x0 + bw, height - pb + 11
        turn = f' transform="rotate(-40 {cx:.1f} {cy:.1f})"' if rotate else ""
        anchor = "end" if rotate else "middle"
        parts.append(
            f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="9" text-anchor="{anchor}"{turn}>'
            f"{text}</text>"
        )
    axis = (
        f'<line x1="{_PADL}" y1="{height - pb}" x2="{_W - _PAD}" y2="{height - pb}" '
        'stroke="#999"/>'
        f'<text x="{(_PADL + _W - _PAD) / 2:.1f}" y="{height - 4}" font-size="10" '
        f'text-anchor="middle">{html_text(column, _LABEL * 2)}</text>'
    )
    return _svg("".join(parts) + axis + _y_axis(top, height, pb), height)


def _svg(body: str, height: int = _H) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" role="img">{body}</svg>'
    )


def _card(r: DriftResult) -> str:
    if r.plot.get("type") == "hist":
        svg = _svg_hist(r.plot, r.column, datetime=r.kind == "datetime")
    elif r.plot.get("type") == "bar":
        svg = _svg_bar(r.plot, r.column)
    else:
        svg = f'<p class="na">{html_text(r.note or "no plot", MAX_TEXT, name=False)}</p>'
    meta = (
        f"{html.escape(r.method)} statistic {_fmt(r.statistic)}, adjusted p {_fmt(r.p_adjusted)}, "
        f"effect {_fmt(r.effect)}; n = {r.n_reference:,} / {r.n_current:,}"
    )
    return (
        f'<div class="card"><h3>{_name(r.column)} &middot; {_verdict(r)}</h3>'
        f'<div class="m">{meta}</div>{svg}</div>'
    )


def _setting(settings: dict[str, Any], key: str) -> str:
    """A detector setting as text: a report read back may hold any JSON there."""
    return html_text(settings.get(key), name=False)


def render_fragment(report: DriftReport) -> str:
    """Summary, verdict table and plots, without the page wrapper (for notebooks)."""
    s = report.settings
    drifted = report.drifted_columns
    summary = (
        f"{len(drifted)} of {len(report.results)} columns drifted"
        f" &middot; alpha {_setting(s, 'alpha')}, correction {_setting(s, 'correction')}, "
        f"min_effect {_setting(s, 'min_effect')} &middot; reference {report.n_reference:,} "
        f"rows, current {report.n_current:,} rows"
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
