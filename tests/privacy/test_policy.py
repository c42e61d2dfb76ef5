"""The Privacy policy: detection patterns, salted tokens, settings and their state."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError
from prodml.privacy import (
    PERSONAL_DATA_KINDS,
    Privacy,
    find_personal_data,
    is_token,
    redact,
)

from .conftest import luhn_complete


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ann@example.com", "email"),
        ("mail: A.B+tag@sub.example.co.uk", "email"),
        ("078-05-1120", "ssn"),
        ("078 05 1120", "ssn"),
        ("4111 1111 1111 1111", "card"),
        ("5500-0000-0000-0004", "card"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("DE89370400440532013000", "iban"),
        ("AB 12 34 56 C", "nino"),
        ("+44 20 7946 0958", "phone"),
        ("(555) 123-4567", "phone"),
        ("555.123.4567", "phone"),
    ],
)
def test_finds_each_kind(text: str, kind: str) -> None:
    assert kind in PERSONAL_DATA_KINDS
    assert find_personal_data(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "pro",
        "2024-01-15",
        "12:30:45",
        "v1.2.3",
        "3.14159265358979",
        "4111 1111 1111 1112",  # fails the Luhn check
        "GB82 WEST 1234 5698 7654 33",  # fails the IBAN checksum
        "000-12-3456",  # no SSN starts with 000
        "666-12-3456",
        "order 20240115-0001",
        "@handle",
        "",
    ],
)
def test_ignores_lookalikes(text: str) -> None:
    assert find_personal_data(text) is None


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_card_numbers_need_the_luhn_digit(prefix: str) -> None:
    good = luhn_complete(prefix)
    assert find_personal_data(good) == "card"
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert find_personal_data(bad) != "card"


@pytest.mark.parametrize("filler", ["a", "1", "a.", "GB", "a-"])
def test_detection_finds_identifiers_inside_long_values(filler: str) -> None:
    # The e-mail pattern's repeats are bounded (64-character local part, 63-character
    # labels) so a scan is linear in the value's length; an identifier inside a long
    # value is still found, and a long value without one is not flagged.
    run = filler * 20_000
    assert find_personal_data(run) is None
    assert find_personal_data(run + " jane.doe@example.org") == "email"
    assert find_personal_data(run + "@example.org") == "email"  # the last 64 characters
    assert find_personal_data(run + " 4111 1111 1111 1111 " + run) == "card"


def test_tokens_are_salted_typed_stable_and_idempotent() -> None:
    a, b = Privacy(salt="salt-a"), Privacy(salt="salt-b")
    t = a.token("ann@example.com")
    assert is_token(t)
    assert t == a.token("ann@example.com")
    assert t != b.token("ann@example.com")
    assert a.token("1") != a.token(1) != a.token(1.0)
    assert a.token(t) == t
    assert not is_token("pm:xyz")
    assert not is_token(42)
    assert a.salt_id != b.salt_id
    assert "salt-a" not in a.salt_id


def test_salt_from_environment_and_never_in_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODML_PRIVACY_SALT", "from-env-secret")
    env = Privacy()
    assert env.token("x") == Privacy(salt="from-env-secret").token("x")
    explicit = Privacy(salt="hidden-secret")
    for text in (repr(explicit), str(explicit.to_dict()), explicit.model_dump_json()):
        assert "hidden-secret" not in text
        assert "from-env-secret" not in text
    monkeypatch.delenv("PRODML_PRIVACY_SALT")
    assert Privacy().token("x") != env.token("x")  # the per-process salt


def test_round_trip_and_validation() -> None:
    p = Privacy(sensitive="ssn", allow_raw=["plan"], max_categories=50, k=3, detect=False)
    assert p.sensitive == ("ssn",)
    assert Privacy.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match="format_version"):
        Privacy.from_dict({**p.to_dict(), "format_version": 9})
    with pytest.raises(ConfigError, match="lacks"):
        Privacy.from_dict({"format_version": 1})
    with pytest.raises(ConfigError, match="k"):
        Privacy(k=0)
    with pytest.raises(ConfigError, match="max_categories"):
        Privacy(max_categories=0)


def test_decisions_per_column() -> None:
    p = Privacy(salt="s", sensitive=["ssn", "both"], allow_raw=["email", "both"])
    assert p.is_sensitive("ssn")
    assert not p.is_sensitive("both")
    assert p.protect_value("email", "ann@example.com") == "ann@example.com"
    assert is_token(p.protect_value("other", "ann@example.com"))
    assert is_token(p.protect_value("ssn", "plain"))
    assert p.protect_value("plan", "pro") == "pro"
    assert p.protect_counts("plan", {"pro": 2, "a@b.io": 1, "c@d.io": 1}) == {
        "pro": 2,
        p.token("a@b.io"): 1,
        p.token("c@d.io"): 1,
    }
    assert p.over_limit("plan", 1001)
    assert not p.over_limit("email", 10**6)
    assert p.protect_record({"ssn": 123456789, "plan": "pro", "x": 1.5}) == {
        "ssn": None,
        "plan": "pro",
        "x": 1.5,
    }
    assert Privacy(detect=False).protect_value("c", "a@b.io") == "a@b.io"


def test_redact() -> None:
    assert redact("gold") == "'gold'"
    assert redact(["ann@example.com"]) == "<redacted>"
    assert redact(3, sensitive=True) == "<redacted>"


def test_sensitive_columns_take_any_iterable_of_names_and_refuse_the_rest() -> None:
    for names in (["email", "ssn"], ("email", "ssn"), pd.Index(["email", "ssn"])):
        assert Privacy(sensitive=names).sensitive == ("email", "ssn")
    assert Privacy(sensitive=iter(["email"]), allow_raw={"plan"}).allow_raw == ("plan",)
    for bad in (3, {"email": True}, b"email", [1, 2]):
        with pytest.raises(ConfigError, match="Invalid Privacy: sensitive"):
            Privacy(sensitive=bad)


@pytest.mark.parametrize("bad", [None, 3, b"ann@example.com", ["ann@example.com"]])
def test_detection_takes_text_only(bad: object) -> None:
    with pytest.raises(ConfigError, match="find_personal_data takes a str") as err:
        find_personal_data(bad)  # type: ignore[arg-type]
    assert err.value.parameter == "text"
