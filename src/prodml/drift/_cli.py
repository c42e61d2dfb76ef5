"""The ``prodml drift REF CUR`` subcommand: compare two Parquet/CSV files.

Exit codes: 0 no drift, 1 drift found in at least one column, 2 an error (bad file,
mismatched schemas...), as for every ``prodml`` command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``drift`` on the ``prodml`` command's subparsers."""
    p = subparsers.add_parser(
        "drift",
        help="compare a current Parquet/CSV file with a reference one, column by column",
        description="Per-column drift tests (KS / chi-square, corrected p-values and an "
        "effect-size floor). Exit code 0: no drift, 1: drift found, 2: error.",
    )
    p.add_argument("reference", help="reference data (.parquet, .csv or a Parquet folder)")
    p.add_argument("current", help="current data, same columns")
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    p.add_argument(
        "--alpha",
        type=_fraction("level", closed=False),
        default=0.05,
        help="significance level, between 0 and 1 (default: %(default)s)",
    )
    p.add_argument(
        "--correction",
        default="holm",
        choices=["holm", "bonferroni", "fdr_bh", "none"],
        help="multiple-testing correction (default: %(default)s)",
    )
    p.add_argument(
        "--min-effect",
        type=_fraction("effect size", closed=True),
        default=0.02,
        help="effect-size floor, from 0 to 1 (default: %(default)s)",
    )
    p.add_argument("--columns", nargs="+", metavar="NAME", help="compare only these columns")
    p.add_argument(
        "--sensitive",
        nargs="+",
        default=[],
        metavar="NAME",
        help="columns whose values are kept and shown only as salted hashes",
    )
    p.add_argument(
        "--allow-raw",
        nargs="+",
        default=[],
        metavar="NAME",
        help="columns whose raw values the reports may show (privacy opt-in)",
    )
    p.add_argument(
        "--k",
        type=_count,
        default=5,
        help="show a category's label only when seen this many times (default: %(default)s)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar (none in pipes either)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the comparison; print one line per column; return the exit code."""
    from prodml._cli_files import _check_writable, read_streamed  # noqa: PLC0415
    from prodml.drift import DriftDetector  # noqa: PLC0415 - keep `prodml --help` fast
    from prodml.privacy import Privacy  # noqa: PLC0415

    for out in (args.html, args.json):
        if out:
            _check_writable(out)  # before the work, not after minutes of it

    detector = DriftDetector(
        alpha=args.alpha,
        correction=args.correction,
        min_effect=args.min_effect,
        columns=args.columns,
        privacy=Privacy(sensitive=args.sensitive, allow_raw=args.allow_raw, k=args.k),
    )
    progress = False if args.quiet else None  # None: a bar on a terminal only
    # Read batch by batch: memory O(batch), the same report as whole tables (profiles merge);
    # a CSV column's type is the whole file's, as `prodml schema` infers it (read_streamed).
    read_streamed(args.reference, detector.fit, progress=progress)
    report = read_streamed(args.current, detector.detect, progress=progress)
    rows: list[list[Any]] = [["column", "test", "statistic", "adj. p", "effect", "verdict"]]
    for r in report.results:
        verdict = "DRIFT" if r.drifted else ("ok" if r.testable else "not testable")
        rows.append(
            [r.column, r.method, _num(r.statistic), _num(r.p_adjusted), _num(r.effect), verdict]
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    drifted = report.drifted_columns
    print(f"{len(drifted)} of {len(report.results)} columns drifted: {', '.join(drifted) or '-'}")
    if args.html:
        report.to_html(args.html)
        print(f"HTML report: {args.html}")
    if args.json:
        report.to_json(args.json)
        print(f"JSON report: {args.json}")
    return 1 if drifted else 0


def _count(text: str) -> int:
    """``--k``: an integer of 1 or more, said as argparse says a bad flag (not pydantic's words)."""
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: not an integer") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"invalid count {k}: expected 1 or more")
    return k


def _fraction(what: str, *, closed: bool) -> Callable[[str], float]:
    """A flag's number in (0, 1) or [0, 1], refused as argparse refuses a bad flag.

    DriftDetector's own error named its parameter (``'alpha'``, ``'min_effect'``), not
    the flag the user typed.
    """
    bounds = "from 0 to 1" if closed else "strictly between 0 and 1"

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: not a number") from None
        inside = 0.0 <= x <= 1.0 if closed else 0.0 < x < 1.0
        if not inside:  # NaN too
            raise argparse.ArgumentTypeError(f"invalid {what} {text}: expected a number {bounds}")
        return x

    return parse


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}"
