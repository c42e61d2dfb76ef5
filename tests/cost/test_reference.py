"""Cost formulas against brute-force and numerical references.

An audit of ``prodml.cost``: every closed form is recomputed here another way (scipy
optimisation of the same cost function, explicit sums over days or requests, textbook
sums, a simulation), on hypothesis inputs that include the edges (zero prices, rates of
0, intervals shorter than a day, huge values).
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize

from prodml.cost import (
    BatchOption,
    CostEstimate,
    DecayCurve,
    Price,
    RealtimeOption,
    Tier,
    TieredPrice,
    batch_scoring_cost,
    break_even_volume,
    compare,
    daly_interval,
    daly_wall_time,
    egress_cost,
    erlang_c,
    load_catalog,
    optimal_retrain_interval,
    serving_cost,
    should_retrain,
    simulate,
    simulate_wall_time,
    spot_cost,
    storage_cost,
    training_cost,
    young_interval,
)
from prodml.errors import ConfigError

pos = st.floats(1e-3, 1e4, allow_nan=False)

# -- retraining ------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(c=st.floats(1e-3, 1e7), d=st.floats(1e-6, 1e6))
def test_closed_form_interval_minimises_the_cost_rate(c: float, d: float) -> None:
    # max_interval caps the closed form too (T* here reaches 4.5e6 > the default 1e6).
    plan = optimal_retrain_interval(c, decay_rate=d, max_interval=1e300)

    def g(t: float) -> float:  # (C + integral_0^T d t dt) / T
        return (c + d * t * t / 2) / t

    res = optimize.minimize_scalar(
        lambda lt: g(math.exp(lt)), bounds=(-30, 30), method="bounded", options={"xatol": 1e-12}
    )
    assert plan.interval == pytest.approx(math.exp(res.x), rel=1e-5)
    assert plan.cost_rate == pytest.approx(g(plan.interval), rel=1e-12)
    assert plan.cost_rate <= g(math.exp(res.x)) * (1 + 1e-12)


curves = st.one_of(
    st.builds(DecayCurve, st.just("linear"), st.floats(0.5, 1.0), st.floats(1e-6, 0.05)),
    st.builds(
        DecayCurve,
        st.just("exponential"),
        st.floats(0.6, 1.0),
        st.floats(1e-4, 2.0),
        st.floats(0.0, 0.55),
    ),
)


def _brute_g(curve: DecayCurve, value: float, c: float, ts: np.ndarray) -> np.ndarray:
    """g(T) on a grid, the integral of the drop by quad (not the closed form)."""
    out = []
    for t in ts:
        # quad on [0, 1], then on segments growing 4x: one quad over [0, 1e5] of a curve
        # that saturates early is off by 1e-5.
        edges = [0.0, *(e for e in 4.0 ** np.arange(0, 12) if e < t), float(t)]
        lost = math.fsum(
            integrate.quad(lambda s: float(curve.drop(s)), a, b, limit=200, epsrel=1e-12)[0]
            for a, b in itertools.pairwise(edges)
        )
        out.append((c + value * lost) / t)
    return np.asarray(out)


@settings(max_examples=30, deadline=None)
@given(curve=curves, c=st.floats(1.0, 1e4), value=st.floats(10.0, 1e5))
def test_numeric_interval_beats_every_point_of_a_grid(
    curve: DecayCurve, c: float, value: float
) -> None:
    plan = optimal_retrain_interval(c, curve=curve, value_per_unit=value, max_interval=1e5)
    ts = np.geomspace(1e-3, 1e5, 400)  # from ~1.4 minutes (time unit: days) to 270 years
    grid = _brute_g(curve, value, c, ts)
    best = _brute_g(curve, value, c, np.asarray([plan.interval]))[0]
    assert best <= grid.min() * (1 + 1e-6)
    assert plan.cost_rate == pytest.approx(best, rel=1e-6)


def test_a_curve_that_does_not_decay_means_never_retrain() -> None:
    # fit_decay may return an exponential of rate 0 (its lower bound). Before the fix its
    # cumulative drop divided 0 by 0: should_retrain reported a NaN loss and
    # optimal_retrain_interval a 2e-5 interval with a NaN cost rate.
    flat = DecayCurve("exponential", initial=0.9, rate=0.0, floor=0.7)
    assert float(flat.cumulative_drop(5.0)) == 0.0
    decision = should_retrain(10, curve=flat, horizon=5, retrain_cost=1)
    assert decision.expected_loss == 0.0
    assert not decision.retrain
    plan = optimal_retrain_interval(10, curve=flat, max_interval=1e4)
    assert plan.at_bound
    assert plan.cost_rate == pytest.approx(10 / plan.interval)


@pytest.mark.parametrize("rate", [1e-15, 1e-9, 1e-6, 1e-4, 1e-3, 0.1, 3.0, 1e3])
@pytest.mark.parametrize("t", [0.01, 1.0, 365.0])
def test_exponential_cumulative_drop_is_accurate_for_every_rate(rate: float, t: float) -> None:
    curve = DecayCurve("exponential", initial=1.0, rate=rate, floor=0.0)
    # integral_0^t (1 - e^{-r s}) ds = t - (1 - e^{-r t}) / r, in 50-digit arithmetic.
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        r, tt = decimal.Decimal(rate), decimal.Decimal(t)
        ref = float(tt - (1 - (-r * tt).exp()) / r)
    assert float(curve.cumulative_drop(t)) == pytest.approx(ref, rel=1e-9, abs=1e-300)


@settings(max_examples=40, deadline=None)
@given(
    curve=curves,
    age=st.floats(0.0, 400.0),
    horizon=st.floats(0.01, 90.0),
    value=st.floats(1.0, 1e5),
)
def test_should_retrain_loss_is_the_integral_of_the_avoidable_drop(
    curve: DecayCurve, age: float, horizon: float, value: float
) -> None:
    d = should_retrain(age, curve=curve, horizon=horizon, retrain_cost=100.0, value_per_unit=value)
    # Keeping the old model over [0, h] loses drop(age + s); a new one loses drop(s).
    ref = (
        value
        * integrate.quad(
            lambda s: float(curve.drop(age + s) - curve.drop(s)), 0, horizon, limit=200
        )[0]
    )
    assert d.expected_loss == pytest.approx(ref, rel=1e-7, abs=1e-9 * value)
    assert d.retrain == (d.expected_loss > 100.0)


# -- serving, batch, storage, egress, training -----------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    peak=st.floats(1e-3, 1e5),
    latency=st.floats(1e-4, 5.0),
    conc=st.integers(1, 64),
    util=st.floats(0.05, 0.99),
    min_r=st.integers(1, 5),
    price=st.one_of(st.just(0.0), st.floats(1e-4, 100.0)),
)
def test_replicas_are_the_smallest_count_that_holds_the_peak(
    *, peak: float, latency: float, conc: int, util: float, min_r: int, price: float
) -> None:
    est = serving_cost(
        peak_rps=peak,
        latency_s=latency,
        concurrency=conc,
        target_utilization=util,
        min_replicas=min_r,
        price_per_replica_hour=price,
    )
    n = est.details["replicas"]
    capacity = util * conc / latency  # rps one replica serves at the target utilisation
    assert n >= min_r
    assert n * capacity >= peak * (1 - 1e-9)
    if n > min_r:
        assert (n - 1) * capacity < peak
    assert est.expected == pytest.approx(n * price * 730.0, rel=1e-12, abs=0.0)


@settings(max_examples=100, deadline=None)
@given(
    pred=st.one_of(st.just(0.0), st.floats(1.0, 1e12)),
    rps=st.floats(1.0, 1e6),
    price=st.floats(0.0, 50.0),
    jobs=st.integers(1, 100),
    inst=st.integers(1, 16),
    startup=st.floats(0.0, 3600.0),
)
def test_batch_cost_is_billed_instance_seconds(
    *, pred: float, rps: float, price: float, jobs: int, inst: int, startup: float
) -> None:
    est = batch_scoring_cost(
        predictions=pred,
        rows_per_second=rps,
        price_per_instance_hour=price,
        jobs=jobs,
        instances=inst,
        startup_s=startup,
    )
    seconds = pred / rps + jobs * inst * startup
    assert est.expected == pytest.approx(seconds / 3600 * price, rel=1e-12, abs=1e-12)
    assert est.details["instance_hours"] == pytest.approx(seconds / 3600, rel=1e-12, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    gb=st.floats(0.0, 1e6),
    growth=st.floats(0.0, 1e4),
    days=st.integers(1, 3 * 365),
    copies=st.integers(1, 3),
    price=st.floats(0.0, 1.0),
)
def test_storage_is_the_sum_over_days_of_the_stored_volume(
    gb: float, growth: float, days: int, copies: int, price: float
) -> None:
    months = days / (365 / 12)
    est = storage_cost(
        gb=gb, growth_gb_per_month=growth, months=months, copies=copies, price_per_gb_month=price
    )
    # Day by day: the volume at mid-day times a day's share of a month (exact for linear
    # growth); the sum of many small daily bills.
    mid = (np.arange(days) + 0.5) / (365 / 12)
    daily = copies * (gb + growth * mid) / (365 / 12) * price
    assert est.expected == pytest.approx(math.fsum(daily), rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    gb=st.integers(0, 3000),
    bounds=st.lists(st.integers(1, 500), min_size=1, max_size=4, unique=True),
    amounts=st.lists(st.sampled_from([0.0, 0.01, 0.05, 0.09]), min_size=5, max_size=5),
)
def test_tiered_price_is_the_sum_of_each_gb_at_its_tier(
    gb: int, bounds: list[int], amounts: list[float]
) -> None:
    ups = sorted(bounds)
    tiers = [Tier(up_to=u, amount=a) for u, a in zip(ups, amounts, strict=False)]
    tiers.append(Tier(up_to=None, amount=amounts[len(ups)]))
    price = TieredPrice(tiers=tiers, unit="GB", as_of=dt.date(2025, 1, 1), source="test")

    def one_gb(i: int) -> float:  # the i-th GB (1-based) is billed at the tier holding it
        for t in tiers:
            if t.up_to is None or i <= t.up_to:
                return t.amount
        raise AssertionError

    ref = math.fsum(one_gb(i) for i in range(1, gb + 1))
    assert float(price.cost(gb)) == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert egress_cost(gb=gb, price=price).expected == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_prices_of_another_unit_are_refused() -> None:
    # Before the fix an instance's hourly price was taken as a price per GB-month.
    cat = load_catalog(max_age_days=None)
    hourly = cat.instance("g4dn.xlarge").price
    with pytest.raises(ConfigError, match=r"priced per GB-month\. Got a price per 'hour'"):
        storage_cost(gb=10, price_per_gb_month=hourly)
    per_hour = TieredPrice(
        tiers=[Tier(amount=0.1)], unit="hour", as_of=dt.date(2025, 1, 1), source="test"
    )
    with pytest.raises(ConfigError, match=r"priced per GB\. Got a price per 'hour'"):
        egress_cost(gb=10, price=per_hour)
    ok = storage_cost(gb=10, price_per_gb_month=cat.storage_price("aws-s3-standard"))
    assert ok.expected == pytest.approx(0.23)
    assert egress_cost(gb=1000, price=cat.egress_price("aws-internet")).expected > 0


@settings(max_examples=100, deadline=None)
@given(
    params=st.floats(1e6, 1e12),
    tokens=st.floats(1e6, 1e13),
    peak=st.floats(1e12, 1e16),
    mfu=st.floats(0.01, 1.0),
    devices=st.integers(1, 4096),
    price=st.floats(0.0, 20.0),
    overhead=st.floats(0.0, 1.0),
)
def test_training_cost_is_device_hours_times_price(
    *,
    params: float,
    tokens: float,
    peak: float,
    mfu: float,
    devices: int,
    price: float,
    overhead: float,
) -> None:
    est = training_cost(
        params=params,
        tokens=tokens,
        peak_flops=peak,
        mfu=mfu,
        devices=devices,
        price_per_device_hour=price,
        overhead=overhead,
    )
    device_hours = 6 * params * tokens / (peak * mfu) / 3600  # devices cancel out
    assert est.expected == pytest.approx(device_hours * price * (1 + overhead), rel=1e-9)
    assert est.details["wall_hours"] * devices == pytest.approx(device_hours, rel=1e-12)


# -- queueing and checkpointing ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(c=st.integers(1, 60), frac=st.floats(0.0, 0.999))
def test_erlang_c_is_the_textbook_sum(c: int, frac: float) -> None:
    a = frac * c
    terms = [a**k / math.factorial(k) for k in range(c)]
    last = a**c / math.factorial(c) * c / (c - a)
    ref = last / (math.fsum(terms) + last)
    assert float(erlang_c(c, a)) == pytest.approx(ref, rel=1e-9, abs=1e-15)


@settings(max_examples=100, deadline=None)
@given(delta=st.floats(1e-4, 10.0), m=st.floats(1e-2, 1e4))
def test_checkpoint_intervals_minimise_daly_wall_time(delta: float, m: float) -> None:
    if (delta + m) / m > 600:  # e^600: past the float range, refused (test below)
        return
    tau_y, tau_d = young_interval(delta, m), daly_interval(delta, m)
    kw = {"checkpoint_time": delta, "restart_time": 0.0, "mtbf": m}
    res = optimize.minimize_scalar(
        lambda lt: daly_wall_time(100.0, interval=math.exp(lt), **kw),
        bounds=(math.log(delta) - 12, math.log(m) + 8),
        method="bounded",
        options={"xatol": 1e-10},
    )
    best = float(res.fun)
    # Both are approximations to the optimum; Daly's higher-order one is closer when
    # delta << M, and neither is ever far from the best wall time.
    assert daly_wall_time(100.0, interval=tau_d, **kw) <= best * 1.02 + 1e-9
    if delta < 0.1 * m:
        assert daly_wall_time(100.0, interval=tau_d, **kw) <= best * (1 + 1e-3)
        assert daly_wall_time(100.0, interval=tau_y, **kw) <= best * 1.01


@pytest.mark.parametrize(
    ("work", "interval", "delta", "restart", "mtbf"),
    [(40.0, 2.0, 0.1, 0.2, 5.0), (12.0, 0.25, 0.02, 0.05, 1.0)],
)
def test_daly_wall_time_matches_a_simulation_of_exponential_interruptions(
    work: float, interval: float, delta: float, restart: float, mtbf: float
) -> None:
    # With exponential gaps and a whole number of segments, Daly's formula is exact for
    # the model simulate_wall_time simulates (restarts interruptible too).
    sim = simulate_wall_time(
        work,
        interval=interval,
        checkpoint_time=delta,
        restart_time=restart,
        mtbf=mtbf,
        n_runs=40_000,
        seed=5,
    )
    exact = daly_wall_time(
        work, checkpoint_time=delta, restart_time=restart, mtbf=mtbf, interval=interval
    )
    assert abs(sim.mean - exact) < 4 * sim.std_error


@settings(max_examples=60, deadline=None)
@given(
    work=st.floats(0.1, 1e3),
    spot=st.floats(0.0, 10.0),
    ondemand=st.floats(0.0, 10.0),
    m=st.floats(0.5, 100.0),
    delta=st.floats(1e-3, 0.4),
    r=st.floats(0.0, 1.0),
)
def test_spot_parts_add_up_and_the_verdict_follows_the_totals(
    *, work: float, spot: float, ondemand: float, m: float, delta: float, r: float
) -> None:
    est = spot_cost(
        work_hours=work,
        spot_price_per_hour=spot,
        on_demand_price_per_hour=ondemand,
        mtbf_hours=m,
        checkpoint_hours=delta,
        restart_hours=r,
    )
    d = est.details
    assert est.expected == pytest.approx(d["wall_hours"] * spot, rel=1e-9, abs=1e-12)
    assert d["on_demand_cost"] == pytest.approx(work * ondemand, rel=1e-12)
    assert d["savings"] == pytest.approx(d["on_demand_cost"] - est.expected, rel=1e-9, abs=1e-9)
    assert d["spot_wins"] == float(d["savings"] > 0)


# -- comparisons and money ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(prices=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=6), volume=st.floats(1e3, 1e10))
def test_compare_ranks_by_the_totals_it_reports(prices: list[float], volume: float) -> None:
    options = [
        RealtimeOption(f"rt{i}", price_per_replica_hour=p, latency_s=0.02)
        if i % 2
        else BatchOption(f"b{i}", price_per_instance_hour=p, rows_per_second=500)
        for i, p in enumerate(prices)
    ]
    table = compare(options, predictions_per_month=volume)
    totals = {o.name: o.monthly_cost(volume).expected for o in options}
    assert list(table["expected"]) == sorted(totals.values())
    assert dict(table["expected"]) == totals
    parts = [
        c
        for c in table.columns
        if c not in ("expected", "low", "high", "currency", "unit", "per_1k", "relative")
    ]
    for name, row in table.iterrows():
        assert math.fsum(row[p] for p in parts) == pytest.approx(
            row["expected"], rel=1e-12, abs=1e-12
        )
        assert row["per_1k"] == pytest.approx(totals[str(name)] / volume * 1000, rel=1e-12)


def test_compare_per_1k_respects_the_unit_of_the_estimates() -> None:
    kw = {"peak_rps": 100.0, "mean_rps": 50.0, "latency_s": 0.05}
    a = serving_cost(price_per_replica_hour=0.2, per="1k", **kw)
    b = serving_cost(price_per_replica_hour=0.1, per="1k", **kw)
    table = compare({"a": a, "b": b}, predictions_per_month=1e6)
    # Already per 1k predictions: before the fix they were divided by the volume again.
    assert table.loc["a", "per_1k"] == a.expected
    assert table.loc["b", "per_1k"] == b.expected
    yearly = storage_cost(gb=10, months=12, price_per_gb_month=0.02)
    with pytest.raises(ConfigError, match="per_1k needs monthly estimates"):
        compare({"s": yearly}, predictions_per_month=1e6)
    assert compare({"s": yearly})["expected"].iloc[0] == pytest.approx(2.4)


def test_break_even_agrees_with_compare_on_either_side() -> None:
    cpu = RealtimeOption("cpu", price_per_replica_hour=0.17, latency_s=0.05, concurrency=2)
    gpu = RealtimeOption("gpu", price_per_replica_hour=0.526, latency_s=0.01, concurrency=8)
    be = break_even_volume(cpu, gpu)
    assert be is not None
    below = compare([cpu, gpu], predictions_per_month=be.volume * 0.98)
    above = compare([cpu, gpu], predictions_per_month=be.volume * 1.02)
    assert below.index[0] == be.cheaper_below
    assert above.index[0] == be.cheaper_above


def test_many_small_prices_add_up_without_drift() -> None:
    # 10,000 parts of 0.01: a plain float loop gives 100.00000000000125.
    parts = {f"call{i}": 0.01 for i in range(10_000)}
    est = CostEstimate.point(parts)
    assert est.expected == 100.0
    assert est.scale(3.0, unit="x").expected == 300.0
    many = simulate(lambda x: {f"p{i}": x["price"] for i in range(1000)}, {"price": 0.1})
    assert many.expected == 100.0
    # A month of per-request bills, summed day by day, matches the monthly total.
    est = batch_scoring_cost(predictions=3e6, rows_per_second=1000, price_per_instance_hour=0.1)
    daily = [
        batch_scoring_cost(
            predictions=1e5, rows_per_second=1000, price_per_instance_hour=0.1
        ).expected
    ] * 30
    assert math.fsum(daily) == pytest.approx(est.expected, rel=1e-12)


def test_price_must_be_a_price() -> None:
    # A Price with a negative or infinite amount cannot be built (no silent sign flips).
    with pytest.raises(ConfigError):
        Price(amount=-1.0, unit="GB-month", as_of=dt.date(2025, 1, 1), source="x")
    with pytest.raises(ConfigError):
        Price(amount=math.inf, unit="GB-month", as_of=dt.date(2025, 1, 1), source="x")


def test_a_tie_is_not_a_break_even() -> None:
    # One replica minimum against two: 'one' is cheaper at low volume, then both need the
    # same replicas and cost the same; 'two' is never cheaper. It used to be reported as
    # cheaper above 12.3 million predictions.
    one = RealtimeOption("one", price_per_replica_hour=0.17, latency_s=0.05, min_replicas=1)
    two = RealtimeOption("two", price_per_replica_hour=0.17, latency_s=0.05, min_replicas=2)
    assert break_even_volume(one, two) is None
    # A tie between two ranges where different options win: the answer is where the
    # first stops being strictly cheaper, and the table agrees on either side.

    def a(v: float) -> float:
        return 1.0 if v < 1e6 else (2.0 if v < 1e8 else 3.0)

    def b(v: float) -> float:
        return 2.0 if v < 1e8 else 2.5

    be = break_even_volume(a, b)
    assert be is not None
    assert (be.cheaper_below, be.cheaper_above) == ("a", "b")
    assert be.volume == pytest.approx(1e6, rel=1e-9)
    # Tied below, then one cheaper: no change of the cheaper option either.
    assert break_even_volume(lambda v: 1.0 if v < 1e6 else 2.0, lambda v: 1.0) is None


def test_a_wall_time_past_the_float_range_is_refused_not_inf() -> None:
    # A 9 h checkpoint against interruptions every 42 s: e^769. It used to return inf
    # (with a RuntimeWarning), and spot_cost blamed "zero rates or utilisation".
    kw = {"checkpoint_time": 9.0, "restart_time": 0.0, "mtbf": 0.01171875}
    with pytest.raises(ConfigError, match="beyond the float range"):
        daly_wall_time(100.0, **kw)
    with pytest.raises(ConfigError, match="beyond the float range"):
        spot_cost(
            work_hours=100.0,
            spot_price_per_hour=1.0,
            on_demand_price_per_hour=3.0,
            mtbf_hours=0.01171875,
            checkpoint_hours=9.0,
        )
    assert math.isfinite(daly_wall_time(100.0, checkpoint_time=9.0, restart_time=0.0, mtbf=1.0))


def test_a_price_in_another_currency_is_refused() -> None:
    # Prices carry their catalog's currency; an estimate in another one is refused (it
    # used to label a EUR price as USD, the default).
    eur = load_catalog(
        {
            "name": "eu",
            "currency": "EUR",
            "storage": {
                "blob": {"amount": 0.02, "unit": "GB-month", "as_of": "2026-11-01", "source": "x"}
            },
            "egress": {
                "net": {
                    "tiers": [{"amount": 0.08}],
                    "unit": "GB",
                    "as_of": "2026-11-01",
                    "source": "x",
                }
            },
        },
        max_age_days=None,
    )
    blob, net = eur.storage_price("blob"), eur.egress_price("net")
    assert (blob.currency, net.currency) == ("EUR", "EUR")
    with pytest.raises(ConfigError, match="priced in 'EUR' but the estimate is in 'USD'"):
        storage_cost(gb=100, price_per_gb_month=blob)
    with pytest.raises(ConfigError, match="priced in 'EUR' but the estimate is in 'USD'"):
        egress_cost(gb=100, price=net)
    est = storage_cost(gb=100, price_per_gb_month=blob, currency="EUR")
    assert (est.currency, est.expected) == ("EUR", 2.0)
    assert egress_cost(gb=100, price=net, currency="EUR").expected == pytest.approx(8.0)
    # A price stamped EUR cannot sit in a USD catalog; the sample's prices are USD.
    sample = load_catalog(max_age_days=None)
    with pytest.raises(ConfigError, match="priced in 'EUR' but the catalog is in 'USD'"):
        sample.merge({"storage": {"blob": blob.model_dump()}})
    assert sample.instance("g4dn.xlarge").price.currency == "USD"
    assert load_catalog(json.loads(sample.to_json()), max_age_days=None) == sample
    # A price made on its own has no currency and is taken as the estimate's.
    own = Price(amount=0.01, unit="GB-month", as_of=dt.date(2026, 1, 1), source="x")
    assert storage_cost(gb=100, price_per_gb_month=own, currency="GBP").currency == "GBP"
