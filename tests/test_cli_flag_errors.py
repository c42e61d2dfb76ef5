"""A bad flag value is refused naming the flag, with the usage hint, before any work.

``prodml drift --alpha 2`` answered "The 'alpha' parameter of DriftDetector must be a
float in (0, 1)", naming the Python parameter rather than the flag typed (``--min-effect``
became ``'min_effect'``), and ``prodml registry`` with no registry gave no pointer to its
help.
"""

from __future__ import annotations

import pytest

from prodml import cli


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--alpha", "2"], "argument --alpha: invalid level 2: expected a number strictly"),
        (["--alpha", "0"], "argument --alpha: invalid level 0: expected a number strictly"),
        (["--alpha", "nan"], "argument --alpha: invalid level nan"),
        (["--alpha", "x"], "argument --alpha: invalid level 'x': not a number"),
        (["--min-effect", "-1"], "argument --min-effect: invalid effect size -1: expected"),
        (["--min-effect", "1.5"], "argument --min-effect: invalid effect size 1.5"),
    ],
)
def test_drift_flags_are_refused_by_their_own_name(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["drift", "missing-a.parquet", "missing-b.parquet", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.rstrip().endswith("(see 'prodml drift --help')")
    assert "DriftDetector" not in err


@pytest.mark.parametrize("flags", [["--alpha", "1e-9"], ["--min-effect", "0"]])
def test_edge_values_inside_the_range_are_taken(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["drift", "missing-a.parquet", "missing-b.parquet", *flags]) == 2
    assert "no such file" in capsys.readouterr().err  # past the flags, to the files


def test_registry_without_a_registry_points_at_its_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["registry"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: give a registry folder, or --db URL --artifacts URL (see 'prodml registry --help')"
    )
