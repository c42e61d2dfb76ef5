"""The demo's synthetic churn data: seeded, with data drift and concept drift on demand."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["AGE_BANDS", "PLANS", "REGIONS", "make_churn_data"]

AGE_BANDS = ["18-29", "30-44", "45-64", "65+"]
PLANS = ["free", "basic", "pro", "team", "enterprise"]
REGIONS = [f"region-{i:02d}" for i in range(12)]


def make_churn_data(
    n: int, *, seed: int = 0, shift: float = 0.0, concept: float = 0.0
) -> pd.DataFrame:
    """A synthetic churn table of ``n`` customers.

    Parameters
    ----------
    n
        Number of rows.
    seed
        Seed of the generator: the same arguments give the same table.
    shift
        Data drift: > 0 moves usage down, prices and support tickets up.
    concept
        Concept drift: > 0 changes what drives churn (a competitor now wins over the
        heaviest users, and young customers most of all), so a model fitted on
        ``concept=0`` data gets worse, and worse for the ``18-29`` age band than for the
        others. ``age_band`` is a sensitive attribute: the demo's model does not read it,
        and its monitor watches the true positive rate per band.

    Examples
    --------
    >>> df = make_churn_data(5, seed=1)
    >>> list(df.columns)
    ['tenure_months', 'monthly_spend', 'sessions_7d', 'support_tickets', 'plan', 'region', 'signup_at', 'age_band', 'churned']
    """  # noqa: E501 - the doctest output is one line
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 12.0, n)
    spend = rng.lognormal(3.5 + 0.3 * shift, 0.6, n)
    sessions = rng.poisson(np.maximum(0.5, 12.0 - 6.0 * shift), n).astype(float)
    tickets = rng.poisson(0.4 + 0.8 * shift, n)
    plan = rng.choice(PLANS, n, p=[0.35, 0.25, 0.2, 0.15, 0.05])
    region_p = np.arange(1, len(REGIONS) + 1, dtype=float) ** -1.1
    region = rng.choice(REGIONS, n, p=region_p / region_p.sum())
    start = np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64)
    signup = pd.to_datetime(start + rng.integers(0, 3 * 365 * 86_400, n), unit="s")
    # Missing values, as real exports have them.
    spend[rng.random(n) < 0.03] = np.nan
    sessions[rng.random(n) < 0.05] = np.nan
    filled_sessions = np.nan_to_num(sessions, nan=6.0)
    # Its own stream, so that the other columns are those of earlier releases.
    ages = np.random.default_rng([seed, 1])
    age_band = ages.choice(AGE_BANDS, n, p=[0.25, 0.3, 0.3, 0.15])
    young = age_band == AGE_BANDS[0]
    if shift > 0:  # young customers who leave now do so without calling support first
        tickets = np.where(young, ages.poisson(0.2, n), tickets)
    logit = (
        -1.2
        - 0.04 * tenure
        + 0.01 * np.nan_to_num(spend, nan=40.0)
        - 0.12 * filled_sessions
        + 0.5 * tickets
        + np.where(plan == "free", 0.6, 0.0)
        # The concept change: heavy users and long-standing customers now leave.
        + concept * (0.45 * filled_sessions + 0.06 * tenure - 0.9 * tickets - 1.5)
        + concept * np.where(young, 1.5, 0.0)
    )
    churned = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_spend": spend,
            "sessions_7d": sessions,
            "support_tickets": tickets,
            "plan": plan,
            "region": region,
            "signup_at": signup,
            "age_band": age_band,
            "churned": churned.astype(int),
        }
    )
