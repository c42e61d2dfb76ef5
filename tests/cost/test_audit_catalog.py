"""A price catalog read from a file is hostile until validated.

Each hostile file below was accepted before this audit (or failed with a bare
``ValueError`` / ``RecursionError``); each is now a ConfigError (a ProdMLError) whose
``parameter`` names the field, without echoing the offending value at length.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from prodml.cost import Instance, Price, load_catalog
from prodml.errors import ConfigError, ProdMLError


def price(**over: Any) -> dict[str, Any]:
    return {"amount": 1.5, "unit": "hour", "as_of": "2025-01-15", "source": "s", **over}


def instance(**over: Any) -> dict[str, Any]:
    return {
        "provider": "aws",
        "region": "us-east-1",
        "vcpus": 4,
        "memory_gib": 16.0,
        "price": price(),
        **over,
    }


def catalog(**sections: Any) -> dict[str, Any]:
    return {"name": "mine", "currency": "USD", **sections}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(text, encoding="utf-8")
    return path


def refused(source: Any, field: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_catalog(source, max_age_days=None)
    assert isinstance(err.value, ProdMLError)
    assert err.value.parameter == field, str(err.value)
    assert len(str(err.value)) < 400
    return err.value


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (instance(price=price(amount="0.5")), "instances.x.price.amount"),  # text
        (instance(price=price(amount=True)), "instances.x.price.amount"),  # a bool read as 1.0
        (instance(memory_gib="16"), "instances.x.memory_gib"),
        (instance(memory_gib=float("inf")), "instances.x.memory_gib"),
        (instance(vcpus=4.0), "instances.x.vcpus"),
        (instance(vcpus="4"), "instances.x.vcpus"),
        (instance(vcpus=10**30), "instances.x.vcpus"),  # huge
        (instance(accelerators=4), "instances.x"),  # four of no accelerator
        (instance(accelerator="t4"), "instances.x"),  # a T4 fitted zero times
        (instance(price=price(unit="second")), "instances.x.price"),  # read as hourly
        (instance(price=price(unit="month")), "instances.x.price"),
        (instance(price=price(as_of=0)), "instances.x.price.as_of"),  # read as 1970-01-01
        (instance(price=price(as_of="Jan 2025")), "instances.x.price.as_of"),
    ],
)
def test_wrong_types_and_units_in_an_instance_are_refused_by_field(
    entry: dict[str, Any], field: str
) -> None:
    refused(catalog(instances={"x": entry}), field)


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ({"storage": {"s": price(unit="hour")}}, "storage.s"),
        ({"storage": {"s": price(unit="GiB-month")}}, "storage.s"),  # GiB is not GB
        (
            {
                "egress": {
                    "e": {
                        "tiers": [{"up_to": None, "amount": "0.09"}],
                        "unit": "GB",
                        "as_of": "2025-01-15",
                        "source": "s",
                    }
                }
            },
            "egress.e.tiers.0.amount",
        ),
        (
            {
                "egress": {
                    "e": {
                        "tiers": [{"up_to": None, "amount": 0.09}],
                        "unit": "GB-month",
                        "as_of": "2025-01-15",
                        "source": "s",
                    }
                }
            },
            "egress.e",
        ),
        (
            {
                "accelerators": {
                    "a": {
                        "peak_flops": "3e14",
                        "power_watts": 400,
                        "precision": "bf16",
                        "as_of": "2025-01-15",
                        "source": "s",
                    }
                }
            },
            "accelerators.a.peak_flops",
        ),
    ],
)
def test_storage_egress_and_accelerators_are_checked_by_field(
    sections: dict[str, Any], field: str
) -> None:
    refused(catalog(**sections), field)


@pytest.mark.parametrize("currency", ["usd", "US dollars", "", "EURO", 5])
def test_a_currency_must_be_an_iso_code(currency: object) -> None:
    # "usd" beside "USD" would be two currencies that compare() refuses to rank.
    refused({"currency": currency}, "currency")


def test_nan_negative_and_infinite_prices_are_refused_from_a_file(tmp_path: Path) -> None:
    body = json.dumps(catalog(instances={"x": instance()}))
    for literal, hint in [("NaN", "finite"), ("-1.5", "greater than"), ("1e400", "finite")]:
        err = refused(write(tmp_path, body.replace("1.5", literal)), "instances.x.price.amount")
        assert hint in str(err)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        # two entries of one instance: json keeps the last, the first vanished
        (
            '{"instances": {"x": '
            + json.dumps(instance())
            + ', "x": '
            + json.dumps(instance(price=price(amount=0.1)))
            + "}}",
            "instances.x",
        ),
        # a second amount inside one price
        (
            '{"instances": {"x": '
            + json.dumps(instance()).replace('"amount": 1.5', '"amount": 1.5, "amount": 0.1')
            + "}}",
            "instances.x.price.amount",
        ),
        ('{"currency": "USD", "currency": "EUR"}', "currency"),
        (
            (
                '{"egress": {"e": {"tiers": [{"up_to": null, "amount": 1, "amount": 0}], '
                '"unit": "GB", "as_of": "2025-01-15", "source": "s"}}}'
            ),
            "egress.e.tiers.0.amount",
        ),
    ],
)
def test_a_key_given_twice_is_refused_not_last_wins(tmp_path: Path, text: str, field: str) -> None:
    err = refused(write(tmp_path, text), field)
    assert "more than once" in str(err)


@pytest.mark.parametrize(
    "text",
    [
        '{"instances": {"x": {"vcpus": ' + "9" * 5000 + "}}}",  # past int_max_str_digits
        "[" * 100_000 + "]" * 100_000,  # past the recursion limit
        '{"a": ' * 5000 + "1" + "}" * 5000,
    ],
)
def test_pathological_json_is_a_config_error(tmp_path: Path, text: str) -> None:
    # Before: a bare ValueError and a RecursionError escaped load_catalog.
    err = refused(write(tmp_path, text), "source")
    assert "9999" not in str(err)


def test_the_shipped_catalog_and_its_json_round_trip_still_load(tmp_path: Path) -> None:
    sample = load_catalog("sample", max_age_days=None)
    again = load_catalog(write(tmp_path, sample.to_json()), max_age_days=None)
    assert again == sample
    assert sample.merge(json.loads(sample.to_json())) == sample


def test_python_callers_keep_dates_and_ints_where_floats_go() -> None:
    p = Price(amount=2, unit="hour", as_of=dt.date(2025, 1, 1), source="s")
    assert isinstance(p.amount, float)
    assert p.amount == 2.0
    inst = Instance(provider="p", region="r", vcpus=2, memory_gib=4, price=p)
    assert inst.price_per_hour == 2.0
    with pytest.raises(ConfigError, match="date"):
        Price(amount=2, unit="hour", as_of=dt.datetime(2025, 1, 1, 12), source="s")
