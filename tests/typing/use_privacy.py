"""What a type-checked user of prodml.privacy and prodml.privacy_dp sees."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typing_extensions import assert_type

from prodml.drift import Profile
from prodml.fairness import GroupMetrics
from prodml.privacy import Privacy, find_personal_data, is_token, redact
from prodml.privacy_dp import (
    Bins,
    Categories,
    DPDriftReport,
    DPRelease,
    PrivacyBudget,
    PrivacyBudgetError,
    compare,
    release_group_counts,
    release_profile,
)
from prodml.schema import Column, Schema


def main() -> None:
    assert_type(find_personal_data("mail me at ann@example.com"), str | None)
    assert find_personal_data("mail me at ann@example.com") == "email"
    assert_type(redact("ann@example.com"), str)
    assert redact("ann@example.com") == "<redacted>"
    policy = Privacy(sensitive=["email"], k=10, salt="typing")
    assert_type(policy.k, int)
    assert_type(policy.sensitive, tuple[str, ...])
    token = policy.token("ann@example.com")
    assert_type(token, str)
    assert is_token(token)
    schema = Schema([Column("ssn", "string", sensitive=True), Column("x", "float")])
    assert Privacy.from_schema(schema, k=3).sensitive == ("ssn",)

    rng = np.random.default_rng(1)

    def site(n: int, shift: float = 0.0) -> pd.DataFrame:
        frame: pd.DataFrame = pd.DataFrame(
            {"x": rng.normal(shift, 1, n), "plan": rng.choice(["free", "pro", "team"], n)}
        )
        return frame

    # Annotated: mypy joins Bins and Categories to `object` in a bare dict display.
    domains: dict[str, Bins | Categories] = {
        "x": Bins([-4, -2, -1, 0, 1, 2, 4]),
        "plan": Categories(["free", "pro", "team"]),
    }
    budget = PrivacyBudget(epsilon=1.0)
    reference = release_profile(
        Profile().update(site(4000)), domains, epsilon=0.5, budget=budget, seed=0
    )
    assert_type(reference, DPRelease)
    current = release_profile(
        Profile().update(site(4000, 0.5)),
        domains,
        epsilon=0.5,
        budget=budget,
        seed=1,
        mechanism="laplace",
    )
    report = compare(reference, current)
    assert_type(report, DPDriftReport)
    assert_type(report.drifted_columns, list[str])
    assert "x" in report.drifted_columns
    assert_type(report.to_frame(), pd.DataFrame)
    assert_type(current.to_frame(), pd.DataFrame)
    assert isinstance(current.to_frame(), pd.DataFrame)
    try:
        release_profile(Profile().update(site(100)), domains, epsilon=0.5, budget=budget)
    except PrivacyBudgetError:
        pass
    else:
        raise AssertionError("the budget was spent twice over")

    y = rng.integers(0, 2, 2000)
    gm = GroupMetrics(["sex"], ["tpr"]).update(y, y, {"sex": rng.choice(["F", "M"], 2000)})
    counts = release_group_counts(gm, ["F", "M"], epsilon=1.0, seed=0)
    assert_type(counts, DPRelease)


if __name__ == "__main__":
    main()
