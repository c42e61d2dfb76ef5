"""Price catalogs: the shipped sample, look-ups, overrides, freshness and tiers."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.cost import (
    PriceCatalog,
    StaleCatalogWarning,
    TieredPrice,
    UnpricedError,
    load_catalog,
)
from prodml.errors import ConfigError, ProdMLError

FRESH = dt.date(2025, 2, 1)


@pytest.fixture(scope="module")
def sample() -> PriceCatalog:
    return load_catalog("sample", max_age_days=None)


def test_sample_has_sources_dates_and_known_prices(sample):
    assert sample.instance("g4dn.xlarge").price_per_hour == 0.526
    assert sample.instance("p4d.24xlarge").price_per_accelerator_hour == pytest.approx(32.7726 / 8)
    assert sample.storage_price("aws-s3-standard").amount == 0.023
    assert sample.accelerator_of("p4d.24xlarge").peak_flops == 312e12
    dates = sample.dates()
    assert len(dates) == len(sample.instances) + len(sample.storage) + len(sample.egress) + len(
        sample.accelerators
    )
    for inst in sample.instances.values():
        assert inst.price.source.startswith("https://")
        assert inst.price.amount > 0
    assert {i.provider for i in sample.instances.values()} == {"aws", "gcp"}
    assert any(i.accelerators for i in sample.instances.values())
    assert any(not i.accelerators for i in sample.instances.values())


def test_missing_price_is_an_error_not_zero(sample):
    with pytest.raises(UnpricedError, match=r"No price for instance 'p5\.48xlarge'") as info:
        sample.instance("p5.48xlarge")
    err = info.value
    assert isinstance(err, ProdMLError)
    assert isinstance(err, KeyError)
    assert err.item == "p5.48xlarge"
    assert err.section == "instances"
    assert "g4dn.xlarge" in str(err)
    assert str(err).startswith("No price")  # not quoted like a bare KeyError
    with pytest.raises(UnpricedError, match="storage class"):
        sample.storage_price("tape")
    with pytest.raises(UnpricedError, match="egress"):
        sample.egress_price("azure-internet")
    with pytest.raises(UnpricedError, match="a10g"):
        sample.accelerator_of("g5.xlarge")
    with pytest.raises(UnpricedError, match="no accelerator"):
        sample.accelerator_of("c6i.xlarge")
    with pytest.raises(ConfigError, match="no accelerators"):
        _ = sample.instance("c6i.xlarge").price_per_accelerator_hour


def test_stale_catalog_warns_and_fresh_does_not():
    with pytest.warns(StaleCatalogWarning, match=r"older than 365 days .*2025-01-15"):
        load_catalog("sample", today=dt.date(2026, 11, 23))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cat = load_catalog("sample", today=FRESH)
    assert cat.stale_entries(365, today=FRESH) == []
    assert len(cat.stale_entries(10, today=FRESH)) == len(cat.dates())
    assert issubclass(StaleCatalogWarning, UserWarning)


def _override(amount: float, as_of: str = "2026-11-01") -> dict:
    return {
        "instances": {
            "g4dn.xlarge": {
                "provider": "aws",
                "region": "us-east-1",
                "vcpus": 4,
                "memory_gib": 16,
                "accelerator": "t4",
                "accelerators": 1,
                "price": {"amount": amount, "unit": "hour", "as_of": as_of, "source": "contract"},
            }
        }
    }


def test_merge_overrides_and_keeps_the_rest(sample):
    mine = sample.merge(_override(0.3))
    assert mine.instance("g4dn.xlarge").price_per_hour == 0.3
    assert mine.instance("g4dn.xlarge").price.as_of == dt.date(2026, 11, 1)
    assert mine.instance("g5.xlarge") == sample.instance("g5.xlarge")
    assert sample.instance("g4dn.xlarge").price_per_hour == 0.526  # original untouched
    other = PriceCatalog(name="eur", currency="EUR")
    with pytest.raises(ConfigError, match="EUR catalog into a USD"):
        sample.merge(other)
    added = sample.merge(PriceCatalog(storage={"nas": sample.storage_price("aws-s3-standard")}))
    assert "nas" in added.storage


def test_round_trip_through_json_file(tmp_path, sample):
    path = tmp_path / "mine.json"
    path.write_text(sample.to_json())
    assert load_catalog(path, max_age_days=None) == sample
    assert load_catalog(str(path), max_age_days=None) == sample
    assert load_catalog(json.loads(sample.to_json()), max_age_days=None) == sample


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("nope", "No shipped price catalog named 'nope'"),
        ("/no/such/file.json", "does not exist"),
        ({"instances": {"x": {"provider": "aws"}}}, "Invalid price catalog at 'instances.x"),
        (_override(-1.0), "instances.g4dn.xlarge.price.amount"),
        (_override(1.0, as_of="yesterday"), "as_of"),
    ],
)
def test_bad_catalogs_raise_config_error(source, match):
    with pytest.raises(ConfigError, match=match):
        load_catalog(source, max_age_days=None)


def test_bad_json_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_catalog(path)


def test_catalog_is_frozen(sample):
    with pytest.raises(ValueError, match="frozen"):
        sample.name = "x"  # type: ignore[misc]


def test_tiered_egress_matches_hand_computation(sample):
    aws = sample.egress_price("aws-internet")
    assert float(aws.cost(50)) == 0.0
    assert float(aws.cost(100 + 1000)) == pytest.approx(1000 * 0.09)
    expected = 10140 * 0.09 + 40960 * 0.085 + 102400 * 0.07 + 46400 * 0.05
    assert float(aws.cost(200_000)) == pytest.approx(expected)
    np.testing.assert_allclose(aws.cost([0, 100, 1100]), [0.0, 0.0, 90.0])


TIER = {"unit": "GB", "as_of": "2025-01-01", "source": "x"}


def test_tier_validation_and_overflow():
    with pytest.raises(ValueError, match="must increase"):
        TieredPrice.model_validate(
            {**TIER, "tiers": [{"up_to": 10, "amount": 1}, {"up_to": 5, "amount": 1}]}
        )
    with pytest.raises(ValueError, match="only the last tier"):
        TieredPrice.model_validate({**TIER, "tiers": [{"amount": 1}, {"up_to": 5, "amount": 1}]})
    bounded = TieredPrice.model_validate({**TIER, "tiers": [{"up_to": 10, "amount": 1}]})
    with pytest.raises(UnpricedError, match="no tier above 10"):
        bounded.cost(11)


@given(a=st.floats(0, 5e5), b=st.floats(0, 5e5))
def test_tiered_cost_is_monotone_and_marginal_price_decreases(a, b):
    aws = load_catalog(max_age_days=None).egress_price("aws-internet")
    lo, hi = sorted((a, b))
    assert float(aws.cost(lo)) <= float(aws.cost(hi))
    # Concave past the free tier: one more GB never costs more at a higher volume.
    if lo >= 100:
        step = 1.0
        later = float(aws.cost(hi + step)) - float(aws.cost(hi))
        earlier = float(aws.cost(lo + step)) - float(aws.cost(lo))
        assert later <= earlier + 1e-9


def test_future_dated_price_warns_and_is_listed():
    """A price read "in the future" is a typo that would never count as stale."""
    data = load_catalog("sample", max_age_days=None).model_dump(mode="json")
    data["storage"]["aws-s3-standard"]["as_of"] = "2062-01-15"
    today = dt.date(2026, 12, 6)
    with pytest.warns(
        StaleCatalogWarning,
        match=r"1 price\(s\) are dated after today .*2062-01-15.*storage/aws-s3-standard",
    ):
        cat = load_catalog(data, today=today, max_age_days=10_000)
    assert cat.future_entries(today=today) == ["storage/aws-s3-standard"]
    # The typo hides it from the age check that finds every other entry.
    stale = cat.stale_entries(365, today=today)
    assert "storage/aws-s3-standard" not in stale
    assert len(stale) == len(cat.dates()) - 1
    # A day's grace for time zones: tomorrow (UTC) is not flagged, the day after is.
    data["storage"]["aws-s3-standard"]["as_of"] = "2026-12-07"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cat = load_catalog(data, today=today, max_age_days=10_000)
    assert cat.future_entries(today=today) == []
    assert cat.future_entries(today=dt.date(2026, 12, 5)) == ["storage/aws-s3-standard"]
