"""The governance guide runs as written, in page order, and says what it shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from tests._docs import python_blocks

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = DOCS / "governance.md"


def test_every_code_block_of_the_guide_runs_in_order() -> None:
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) == 9
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, block in enumerate(blocks):
            exec(compile(block, f"{GUIDE}:block{i}", "exec"), namespace)  # noqa: S102 - our docs
    lines = out.getvalue().splitlines()
    assert lines[0] == "['x']"
    assert set(eval(lines[1])) == {"free", "pro", "team"}  # noqa: S307
    assert lines[2] == "['(other 600)']"
    assert all("@example.com" in label for label in eval(lines[3]))  # noqa: S307
    assert lines[4] == "pm:"
    assert lines[5] == "['customer']"
    assert lines[6] == "True"
    assert lines[7] == "# Model card: churn@1"
    assert lines[8] == "['## Model', '## Intended use', '## Metrics', '## Signature']"
    card = namespace["card"]
    assert card.intended_use["limitations"] == "trained on EU customers only"
    assert card.fairness is not None
    assert namespace["html_page"].startswith("<!DOCTYPE html>")
    assert lines[9].startswith("old@1 was registered in another environment: numpy 0.9.1")
    assert lines[10] == "['numpy']"
    assert lines[11] == "churn.register ['3f9a'] -> ['models/churn/1']"
    assert lines[12] == "churn.set_alias ['models/churn/1'] -> ['models/churn@production']"
    assert lines[13] == "1 1"
    assert lines[14] == "1 False"
    drifted, p_value = lines[15].split()
    assert drifted == "True"
    assert float(p_value) == pytest.approx(0.001)  # the smallest of 999 simulations
    assert lines[16] == "3 0.5 (0.0, 0.0)"
    assert lines[17] == "refused: [('reference', 0.5), ('current', 0.5)]"
    assert lines[18] == "['counts', 'domain', 'noise']"
    assert lines[19] == "[('F',), ('M',)]"
    # Laplace scales: 1 column * 5 rows / (0.9 * epsilon 0.5); the count of persons 1 / 0.05
    assert lines[20] == "person 5 [11.11, 20.0]"
    assert lines[21] == "(0.5, 0.0)"
    assert lines[22] == "refused: PrivacyBudget state does not match its MAC"
    assert lines[23] == "refused: an older copy"
    assert lines[24] == "person profile (1.0, 0.0)"
    assert "a 32-byte secret" not in namespace["saved"]
    assert namespace["current"].secure


@pytest.mark.parametrize("page", ["governance.md"])
def test_links_point_at_existing_pages(page: str) -> None:
    path = DOCS / page
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    assert links
    for link in [x for x in links if "://" not in x]:
        assert (path.parent / link).resolve().is_file(), f"{page} links to missing {link}"
