"""Every number docs/cost.md states, recomputed from the code.

tests/cost/test_docs.py runs the page's blocks and checks the comparison table; this file
checks the rest: the figures in ``print(...)  # ...`` comments, the Daly table, the
defaults and constants the prose quotes, and what it says the sample catalog holds. Each
claim is found in the page by a pattern, so a reworded claim fails here until its check
is updated with it.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
import re
from pathlib import Path

import pytest
from tests._docs import python_blocks

from prodml.cost import (
    RealtimeOption,
    daly_interval,
    daly_wall_time,
    erlang_c,
    load_catalog,
    optimal_retrain_interval,
    pert,
    serving_cost,
    simulate,
    training_cost,
    young_interval,
)
from prodml.cost._serving import HOURS_PER_MONTH

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cost.md").read_text(encoding="utf-8")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def find(pattern: str) -> re.Match[str]:
    match = re.search(pattern, DOC, flags=re.S)
    assert match is not None, f"docs/cost.md no longer states {pattern!r}"
    return match


def agrees(stated: str, value: float) -> bool:
    """``value`` shown at the precision of ``stated`` (decimals, or significant digits)."""
    if "e" in stated:
        mantissa = stated.split("e", maxsplit=1)[0].lstrip("-")
        digits = len(mantissa.replace(".", "")) - 1
        return float(f"{value:.{digits}e}") == float(stated)
    decimals = len(stated.split(".")[1]) if "." in stated else 0
    return round(value, decimals) == float(stated)


def printed_claims() -> list[tuple[str, str, str]]:
    """(line, comment, what the line printed) for each commented print of the page."""
    claims: list[tuple[str, str, str]] = []
    namespace: dict[str, object] = {}
    for block in python_blocks(DOC):
        if "plot_comparison" in block:
            continue  # draws a figure; test_docs.py runs it
        lines = block.splitlines()
        out = io.StringIO()
        marks: list[tuple[int, int]] = []  # (line, output length after it ran)
        namespace.update(__marks=marks, __outbuf=out)
        rewritten = []
        for i, line in enumerate(lines):
            rewritten.append(line)
            if line.startswith("print(") and "  # " in line:
                rewritten.append(f"__marks.append(({i}, __outbuf.tell()))")
        with contextlib.redirect_stdout(out):
            exec(compile("\n".join(rewritten), "docs/cost.md", "exec"), namespace)  # noqa: S102
        text = out.getvalue()
        for i, end in marks:  # what line i printed: the last output line before its mark
            printed = text[:end].rstrip("\n").rsplit("\n", 1)[-1]
            claims.append((lines[i], lines[i].split("  # ", 1)[1], printed))
    return claims


CLAIMS = printed_claims()


def test_the_page_has_commented_prints() -> None:
    assert len([c for c in CLAIMS if _NUMBER.search(c[1])]) >= 4


@pytest.mark.parametrize(("line", "comment", "printed"), CLAIMS)
def test_every_number_in_a_print_comment_is_what_the_line_prints(
    line: str, comment: str, printed: str
) -> None:
    stated = _NUMBER.findall(comment)
    shown = [float(x) for x in _NUMBER.findall(printed)]
    pos = 0
    for number in stated:  # the comment's numbers, in order, among the printed ones
        while pos < len(shown) and not agrees(number, shown[pos]):
            pos += 1
        assert pos < len(shown), f"{line!r} prints {printed!r}, the page says {comment!r}"
        pos += 1


def test_the_daly_table_is_what_the_functions_give() -> None:
    # Daly's worked examples: delta = 5 min, R = 10 min, Ts = 500 h; times in minutes.
    find(r"delta = 5 min, R = 10 min, Ts = 500 h")
    rows = re.findall(
        r"^\| ([\d.]+) (h|min) \| ([\d.]+) min \| ([\d.]+) min \| [^|]+\| ([\d.]+) h \|$",
        DOC,
        flags=re.M,
    )
    assert len(rows) == 3
    for m, unit, young, daly, wall in rows:
        mtbf = float(m) * (60 if unit == "h" else 1)
        assert agrees(young, young_interval(5.0, mtbf))
        assert agrees(daly, daly_interval(5.0, mtbf))
        hours = daly_wall_time(500 * 60, checkpoint_time=5.0, restart_time=10.0, mtbf=mtbf) / 60
        assert agrees(wall, hours)


def test_the_quoted_queueing_value_and_constants() -> None:
    find(r"C\(3 servers, 2 Erlangs\) = 4/9")
    assert float(erlang_c(3, 2.0)) == pytest.approx(4 / 9, rel=1e-15)
    find(r"730 hours is the average\s+month \(8760 / 12\)")
    assert HOURS_PER_MONTH == 8760 / 12 == 730
    find(r"`target_utilization=0.7` by default")
    assert inspect.signature(serving_cost).parameters["target_utilization"].default == 0.7
    find(r"quantile` \(p99 by default\)")
    assert inspect.signature(serving_cost).parameters["slo_quantile"].default == 0.99


def test_the_monte_carlo_defaults_the_page_quotes() -> None:
    find(r"draws\s+`n_samples=10_000` values")
    find(r"`seed=0` by default")
    for fn in (serving_cost, training_cost, simulate):
        params = inspect.signature(fn).parameters
        assert params["n_samples"].default == 10_000
        assert params["seed"].default == 0
    find(r"older than\s+`max_age_days=365`")
    assert inspect.signature(load_catalog).parameters["max_age_days"].default == 365


def test_pert_mean_and_six_n_d() -> None:
    find(r"mean `\(low \+ 4 mode \+ high\) / 6`")
    assert float(pert(1.0, 2.0, 9.0).mean()) == pytest.approx((1 + 4 * 2 + 9) / 6, rel=1e-12)
    find(r"flops\s+= 6 \* N \* D")
    est = training_cost(
        params=7e9, tokens=2e12, peak_flops=3e14, mfu=0.4, devices=8, price_per_device_hour=1.0
    )
    assert est.details["flops"] == pytest.approx(6 * 7e9 * 2e12, rel=1e-15)


def test_the_trial_run_comment_is_its_step_time() -> None:
    run = find(
        r"run_seconds=([\d.]+),\s+run_steps=(\d+),\s+startup_seconds=([\d.]+),  # ([\d.]+) s"
    )
    total, steps, startup, per_step = (float(x) for x in run.groups())
    assert (total - startup) / steps == pytest.approx(per_step)


def test_the_comparison_footnote_matches_its_code() -> None:
    find(r"at 500 million predictions per month")
    find(r"predictions_per_month=500e6")
    find(r"traffic\s+peaks\s+at 3x the mean")
    assert RealtimeOption("x", price_per_replica_hour=1.0, latency_s=0.1).peak_to_mean == 3.0


def test_what_the_page_says_the_sample_catalog_holds() -> None:
    prices = load_catalog("sample", max_age_days=None)
    find(r"read in January 2025")
    assert {d.strftime("%Y-%m") for d in prices.dates().values()} == {"2025-01"}
    tiers = find(r"# (\d+) GB free, then ([\d.]+), ([\d.]+), ([\d.]+), ([\d.]+) \$/GB").groups()
    aws = prices.egress_price("aws-internet").tiers
    assert aws[0].amount == 0
    assert aws[0].up_to == float(tiers[0])
    assert [t.amount for t in aws[1:]] == [float(x) for x in tiers[1:]]
    fitted = {
        "g4dn.xlarge": ("t4", 1),
        "g5.xlarge": ("a10g", 1),
        "p4d.24xlarge": ("a100", 8),
        "g2-standard-4": ("l4", 1),
        "a2-highgpu-1g": ("a100", 1),
    }
    find(r"`g4dn.xlarge` T4, `g5.xlarge` A10G, `p4d.24xlarge` 8x A100, `g2-standard-4` L4")
    for name, (gpu, count) in fitted.items():
        inst = prices.instance(name)
        assert str(inst.accelerator).startswith(gpu), name
        assert inst.accelerators == count, name
    for gpu in ("a100", "h100", "l4", "t4"):
        assert any(key.startswith(gpu) for key in prices.accelerators), gpu


def test_a_decimal_or_scientific_claim_is_read_at_its_precision() -> None:
    assert agrees("7.36e+07", 73_612_345.0)
    assert not agrees("7.36e+07", 73_700_000.0)
    assert agrees("1535.92", 1535.9212)
    assert not agrees("1535.92", 1535.93)
    assert agrees("-0.69", -0.6867)


def test_the_audit_claims_of_the_page() -> None:
    find(r"`max_interval`\s+\(1e6 time units by default\)")
    assert inspect.signature(optimal_retrain_interval).parameters["max_interval"].default == 1e6
    find(r"overflows a\s+float past 170 servers")
    assert float(math.factorial(170)) < math.inf
    with pytest.raises(OverflowError):
        float(math.factorial(171))
    find(r"from 1 to 20,000 servers and at\s+utilisations up to 0.9999999")
    source = (Path(__file__).parent / "test_audit_queueing.py").read_text(encoding="utf-8")
    assert "(20000, 19000.0)" in source
    assert "(1, 0.9999999)" in source
    assert "rel=1e-10" in source
