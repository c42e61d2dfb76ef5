"""Hostile names and values in every document prodml renders for people.

Column, feature, metric, tag and category names holding HTML, Markdown, control and bidi
characters, or 10,000 characters, go through the public API into a real drift report, a
model card from a registry on SQLite and an explanation; the rendered HTML and Markdown
must show them as text (no element, attribute, link, heading or extra table cell comes
from them), visibly (a U+202E cannot reverse the verdict next to it, ``"case "`` does not
pass for ``"case"``) and cut (a 10,000-character name does not make a 10,000-character
column). ``tests/test_render_hostile_browser.py`` opens the pages in Chromium.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodml._markup import MAX_NAME, MAX_TEXT, md_text, visible
from prodml.drift import DriftDetector, DriftReport
from prodml.explain import Explanation, importance_html, importance_markdown
from prodml.privacy import Privacy
from prodml.registry import ModelCard, ModelRegistry
from prodml.schema import Column, Schema

SCRIPT = '<script>console.log("PWNED-script")</script>'
IMG = '"><img src=x onerror=console.log("PWNED-img")>'
HOSTILE = [
    SCRIPT,
    IMG,
    "</style><b>bold</b>",
    "]]><!--",
    "a|b`c`[x](javascript:alert(1))",
    "# heading",
    '=HYPERLINK("http://evil")',
    "+1|@SUM(A1)",
    "line\nfeed\rreturn",
    "nul\x00bell\x07",
    "bidi\u202eevil",
    "zero\u200bwidth",
    "L" * 10_000,
    "emoji \U0001f600",
    "Case",
    "case",
    "case ",
    "see https://evil.example and www.evil.example",
    "tail\\",
]
# What the registry refuses with a clear ConfigError (tests/registry cover it) is left out.
NO_NUL = [n for n in HOSTILE if "\x00" not in n]
LONE_SURROGATE = "lone \ud800 surrogate"
INJECTED_TAGS = {"script", "img", "b", "iframe", "object", "embed", "a"}


class _Elements(HTMLParser):
    """Every element of a page and its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _elements(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def _assert_inert(page: str, styles: int, longest: int = MAX_NAME) -> None:
    """No element or attribute of ``page`` comes from data; no run of text over ``longest``."""
    found = _elements(page)
    tags = [t for t, _ in found.tags]
    assert not INJECTED_TAGS & set(tags), sorted(INJECTED_TAGS & set(tags))
    assert tags.count("style") == styles
    assert not [a for _, attrs in found.tags for a in attrs if a.startswith("on")]
    assert "\u202e" not in page
    assert "\u200b" not in page
    assert "\x00" not in page
    assert "L" * (longest + 1) not in page


@pytest.fixture(scope="module")
def report() -> DriftReport:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({name: rng.normal(size=200) for name in HOSTILE})
    ref["category"] = rng.choice(HOSTILE[:12], 200)
    cur = ref.copy()
    cur[SCRIPT] += 1.0
    return DriftDetector(privacy=Privacy(k=1)).fit(ref).detect(cur)


def test_drift_html_shows_every_name_as_text(report: DriftReport, tmp_path: Path) -> None:
    page = report.to_html(tmp_path / "drift.html")  # a lone surrogate still writes
    assert (tmp_path / "drift.html").read_text(encoding="utf-8") == page
    _assert_inert(page, styles=1)
    rows = re.findall(r"<tr[^>]*><td><bdi>(.*?)</bdi></td>", page)
    shown = [_elements(r).text for r in rows]
    assert ["".join(t) for t in shown] == [visible(n) for n in [*HOSTILE, "category"]]
    # Names that differ only by trailing space, or by a hidden character, look different.
    assert len({"".join(t) for t in shown}) == len(HOSTILE) + 1
    assert "&#x27;bidi\\u202eevil&#x27;" in page
    assert "&#x27;case &#x27;" in page
    assert "(10,000 characters in all)" in page


def test_drift_html_cuts_long_category_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = ["x" * 5_000 + str(i) for i in range(3)]
    ref = pd.DataFrame({"c": rng.choice(labels, 300)})
    page = DriftDetector(privacy=Privacy(k=1)).fit(ref).detect(ref).to_html()
    assert "x" * (MAX_NAME + 1) not in page
    assert page.count("(5,001 characters in all)") >= 3


def test_drift_html_of_a_hostile_saved_report_is_inert(report: DriftReport) -> None:
    # A report read back from JSON may carry any JSON in its settings and notes.
    state = json.loads(report.to_json())
    state["settings"]["alpha"] = SCRIPT
    state["settings"]["correction"] = IMG
    state["settings"]["min_effect"] = {"x": "</style><b>bold</b>"}
    page = DriftReport.from_dict(state).to_html()
    _assert_inert(page, styles=1)
    assert "&lt;script&gt;" in page


def test_sensitive_category_values_never_show(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    values = ["ann@example.com", "Bob Tables", "078-05-1120"]
    ref = pd.DataFrame({"who": rng.choice(values, 300), "x": rng.normal(size=300)})
    policy = Privacy.from_schema(Schema([Column("who", "category", sensitive=True)]), k=1)
    rep = DriftDetector(privacy=policy).fit(ref).detect(ref)
    for text in (rep.to_html(), rep.to_json(), repr(rep.to_frame().to_dict())):
        assert not [v for v in values if v in text]


def _markdown_ok(text: str) -> None:
    """Strict checks of prodml's Markdown: no link, raw HTML, stray heading or cell."""
    width = 0
    for line in text.splitlines():
        cells = re.split(r"(?<!\\)(?:\\\\)*\|", line)
        if line.startswith("|"):
            if line.startswith(("|---", "|--")):
                width = line.count("|") - 1
            elif width:
                assert len(cells) - 2 == width, line
        else:
            width = 0 if not line.startswith("|") else width
        unescaped = re.sub(r"\\.", "", line)
        assert not re.search(r"[\[\]`]", unescaped), line
        assert not re.search(r"<[A-Za-z/!?]", unescaped), line
        assert not re.search(r"://|www\.", unescaped), line
        assert "\r" not in line, line
        if line.startswith("#"):
            assert re.fullmatch(r"#{1,2} [A-Z][\w ,]*(: \S+)?", line), line


def _rendered_markdown(text: str) -> str:
    markdown = pytest.importorskip("markdown", reason="needs Python-Markdown (the 'dev' extra)")
    return str(markdown.markdown(text, extensions=["tables"]))


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> ModelCard:
    root = tmp_path_factory.mktemp("card")
    reg = ModelRegistry(f"sqlite:///{root}/registry.db", f"file://{root}/artifacts", actor="ann")
    schema = Schema(
        [
            Column("age", "float", min=18, max=97, sensitive=True),
            Column("plan", "category", allowed=["Bob Tables", "pro"], sensitive=True),
            Column("tier", "category", allowed=HOSTILE[:6]),
        ]
    )
    mv = reg.register(
        "churn",
        schema,
        signature=schema,
        description="# Big\r| a | b |\n<script>x</script> [x](javascript:alert(1))",
        tags={n[:100]: n for n in NO_NUL} | {"api_token": "tok-123", "owner": SCRIPT},
        metrics={n[:200]: 0.5 for n in NO_NUL},
        lineage={
            "data": "postgresql://ann:hunter2@db.internal/mlops?password=pw2",
            "bucket": "s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI@models/x",
            "storage": {"secret": "s3cr3t-value"},
            "importance": dict.fromkeys(HOSTILE, 0.1),
        },
    )
    reg.set_alias("churn", "production", mv.version)
    out = reg.card("churn@production")
    reg.close()
    return out


def test_card_markdown_cannot_be_broken_out_of(card: ModelCard) -> None:
    text = card.to_markdown()
    _markdown_ok(text)
    assert "\n# Big" not in text
    assert "\\# Big" in text
    assert "'bidi\\\\u202eevil'" in text
    assert "'case '" in text


def test_card_markdown_renders_to_text_only(card: ModelCard) -> None:
    page = _rendered_markdown(card.to_markdown())
    tags = {t for t, _ in _elements(page).tags}
    assert tags <= {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td"}, tags
    for table in re.findall(r"<table>.*?</table>", page, re.S):
        widths = {row.count("<td") + row.count("<th") for row in table.split("<tr>")[1:]}
        assert len(widths) == 1, table[:300]


def test_card_html_is_inert(card: ModelCard) -> None:
    page = card.to_html()
    _assert_inert(page, styles=1, longest=MAX_TEXT)  # a tag's value is text, cut at 2,000
    assert "&#x27;case &#x27;" in page
    assert "(10,000 characters in all)" in page


@pytest.mark.parametrize("render", ["to_markdown", "to_html", "to_json"])
def test_card_shows_no_secret_nor_sensitive_value(card: ModelCard, render: str) -> None:
    text = getattr(card, render)()
    for secret in ("hunter2", "pw2", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "s3cr3t", "tok-123"):
        assert secret not in text, secret
    assert "Bob Tables" not in text  # the allowed values of a sensitive column
    assert "97" not in re.sub(r"\d{4}-\d\d-\d\dT[\d:+]+|\d+\.\d+\.\d+", "", text)
    assert "db.internal" in text  # the URL is still there, without its password


def test_card_json_round_trips_hostile_content(card: ModelCard) -> None:
    text = card.to_json()
    assert ModelCard.from_json(text) == card
    assert json.loads(text)["intended_use"]["owner"] == SCRIPT  # JSON keeps the value


def test_explanation_markdown_keeps_its_columns() -> None:
    values = {n: 1.0 / (i + 1) for i, n in enumerate([*HOSTILE, LONE_SURROGATE])}
    e = Explanation(0.1, values, 0.1 + sum(values.values()), "margin", "linear")
    for text in (e.to_markdown(top=len(values)), importance_markdown(values, top=len(values))):
        _markdown_ok(text)
        rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
        assert len(rows) == len(values)
        assert [r.rsplit(" | ", 1)[0][2:] for r in rows] == [md_text(n) for n in values]
    for page in (e.to_html(top=len(values)), importance_html(values, top=len(values))):
        _assert_inert(page, styles=0)


def test_markdown_escaping_is_reversible_for_plain_names() -> None:
    # What a renderer shows of md_text(name) is visible(name): checked by Python-Markdown.
    names = [n for n in HOSTILE if len(n) < 100]
    body = "| name |\n|---|\n" + "".join(f"| {md_text(n)} |\n" for n in names)
    page = _rendered_markdown(body)
    cells = re.findall(r"<td>(.*?)</td>", page)
    assert [html.unescape(c) for c in cells] == [visible(n).strip() for n in names]


def test_visible_names_are_distinct_for_distinct_names() -> None:
    shown = [visible(n) for n in [*HOSTILE, LONE_SURROGATE]]
    assert len(set(shown)) == len(shown)
    assert all(len(s) <= MAX_NAME + 40 for s in shown)
