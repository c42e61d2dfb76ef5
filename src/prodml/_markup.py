r"""Showing user text in rendered documents: plain, HTML and Markdown.

Reports, model cards and explanations show names and values that come from users and
their data: column, feature, metric and tag names, category values, descriptions. Each
goes through :func:`visible` before the format's own escaping, so that what a reader sees
is what the text is:

* a character that is not printable (a newline, ``\r``, NUL, a bidi override such as
  U+202E, a zero-width space) is shown as its escape (``\u202e``): it can neither
  reorder nor hide what stands next to it, nor break a line of a table;
* a name with such a character, or with leading or trailing white space, is shown quoted
  (``'case '``), so two names that differ only there look different;
* text longer than its limit is cut, saying how long it was, as
  :func:`prodml._quote.short_repr` does (a 10,000-character name does not make a
  10,000-character table column).

:func:`html_text` and :func:`md_text` then escape for HTML and Markdown: no element,
attribute, link, table cell or heading can be made from the text.

Examples
--------
>>> visible("plan"), visible("case "), visible("bidi\u202eevil")
('plan', "'case '", "'bidi\\u202eevil'")
>>> visible("x" * 200, limit=10)
'xxxxxxxxxx... (200 characters in all)'
>>> md_text("a|b [x](javascript:alert(1)) <b>")
'a\\|b \\[x\\](javascript:alert(1)) &lt;b>'
"""

from __future__ import annotations

import html
import re

__all__ = ["MAX_NAME", "MAX_TEXT", "html_text", "md_text", "visible"]

MAX_NAME = 120
"""Characters of a name (a column, a metric, a tag) a document shows before cutting."""

MAX_TEXT = 2_000
"""Characters of free text (a description, a tag's value) a document shows before cutting."""


def _escape_char(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")


def visible(text: object, limit: int = MAX_NAME, *, name: bool = True) -> str:
    """``text`` as a document shows it: hidden characters escaped, cut to ``limit``.

    Parameters
    ----------
    text
        The text (anything else is shown as its ``str``).
    limit
        Characters kept; a longer text is cut and ends in ``... (N characters in all)``.
    name
        Whether ``text`` names something: a name holding an escaped character or leading
        or trailing white space is quoted, so it cannot pass for another name. Free text
        (``name=False``) keeps its line breaks and tabs (a Markdown cell turns them into
        spaces, HTML collapses them) and is not quoted.
    """
    s = text if isinstance(text, str) else str(text)
    total = len(s)
    head = s[:limit]
    keep = "" if name else "\n\r\t"
    plain = head.isprintable() and (not name or head == head.strip())
    if not plain:
        # A name is shown as its repr: quoted, every unprintable character escaped.
        head = (
            repr(head)
            if name
            else "".join(ch if ch.isprintable() or ch in keep else _escape_char(ch) for ch in head)
        )
    if total > limit:
        head += f"... ({total:,} characters in all)"
    return head


def html_text(text: object, limit: int = MAX_NAME, *, name: bool = True) -> str:
    """:func:`visible` text escaped for HTML element content and quoted attributes."""
    return html.escape(visible(text, limit, name=name), quote=True)


# Characters that make Markdown syntax anywhere in a line: emphasis, code, links and
# images, raw HTML (a "<" that could open a tag or an autolink), tables, strike-through.
# "<" and "&" become character references (which every Markdown flavour reads as text;
# Python-Markdown does not honour "\<").
_MD_CHARS = re.compile(
    r"[\\`*\[\]|~&]|<(?=[A-Za-z/!?])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|:(?=//)|(?<=www)\."
)
_MD_REFS = {"<": "&lt;", "&": "&amp;", ":": "&#58;", ".": "&#46;"}
# What makes a block at the start of a line: a heading, a quote, a list item, a rule.
_MD_LINE_START = re.compile(r"^([#>+=-]|\d+[.)])")


def _md_char(m: re.Match[str]) -> str:
    ch = m.group(0)
    return _MD_REFS.get(ch, "\\" + ch)


def md_text(
    text: object, limit: int = MAX_NAME, *, name: bool = True, paragraph: bool = False
) -> str:
    """:func:`visible` text escaped for one line of Markdown (a table cell, a paragraph).

    Line breaks become spaces; characters that would start emphasis, code, a link, an
    image, raw HTML or a table cell are escaped, and ``://`` and ``www.`` are broken so
    that no renderer turns the text into a link. For a ``paragraph`` (text that starts a
    line) a leading heading, quote, list or rule marker is escaped too.
    """
    s = re.sub(r"\s*[\n\r\t]\s*", " ", visible(text, limit, name=name))
    s = _MD_CHARS.sub(_md_char, s)
    if not paragraph:
        return s
    return _MD_LINE_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], s.lstrip())
