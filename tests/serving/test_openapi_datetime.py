"""/openapi.json's datetime patterns say exactly which strings the server reads.

The pattern once left out 29 February (a leap day is valid) and the server read strings
the pattern excluded (``fromisoformat`` takes ``"2024-07-01T07"``, ``"+0100"``, week
dates, seven fraction digits cut silently): a fuzzer's negative cases were accepted and a
client generator refused valid days. Now the server reads a datetime string only when it
matches the pattern, and the pattern follows the calendar.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from prodml.serving import Predictor, create_app
from prodml.serving._openapi import AWARE, FIRST_YEAR, LAST_YEAR, NAIVE, READABLE

from .conftest import SCHEMA, make_data, records


@pytest.fixture(scope="module")
def client(pipe: Any, lr: Any) -> Any:
    with TestClient(create_app(Predictor(pipe, lr, schema=SCHEMA, name="churn"))) as c:
        yield c


REC = {
    k: (v.isoformat() if isinstance(v, pd.Timestamp) else v)
    for k, v in records(make_data(3))[0].items()
}


def test_the_patterns_follow_the_calendar_day_by_day() -> None:
    day, last = dt.date(FIRST_YEAR, 1, 1), dt.date(LAST_YEAR, 12, 31)
    while day <= last:
        text = day.isoformat()
        assert re.fullmatch(NAIVE, text), text
        assert re.fullmatch(AWARE, f"{text}T00:00Z"), text
        day += dt.timedelta(days=1)
    for year in range(FIRST_YEAR - 2, LAST_YEAR + 3):
        leap_day = f"{year:04d}-02-29T12:00"
        inside = FIRST_YEAR <= year <= LAST_YEAR
        assert bool(re.fullmatch(NAIVE, leap_day)) == (inside and calendar.isleap(year)), year
        assert bool(re.fullmatch(NAIVE, f"{year:04d}-06-01")) == inside, year
        for bad in ("02-30", "02-31", "04-31", "13-01", "00-10", "01-00", "01-32"):
            assert not re.fullmatch(NAIVE, f"{year:04d}-{bad}"), (year, bad)


def _formatted(moment: dt.datetime, sep: str, spec: str, offset: str) -> str:
    return moment.isoformat(sep=sep, timespec=spec) + offset


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moment=st.datetimes(dt.datetime(FIRST_YEAR, 1, 1), dt.datetime(LAST_YEAR, 12, 31, 23, 59)),
    sep=st.sampled_from(["T", " "]),
    spec=st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"]),
    offset=st.sampled_from(["Z", "+05:30", "-23:59", "+00:00"]),
)
def test_what_the_pattern_allows_is_read_as_that_instant(
    client: Any, moment: dt.datetime, sep: str, spec: str, offset: str
) -> None:
    naive = _formatted(moment, sep, spec, "")
    for pattern, text in ((NAIVE, naive), (AWARE, naive + offset)):
        assert re.fullmatch(pattern, text), text
        assert READABLE.fullmatch(text), text
    r = client.post("/v1/predict", json={**REC, "ts": naive})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "sent",
    [
        "2024-07-01T07",  # fromisoformat reads these; the pattern does not allow them
        "2024-07-01x07:00",
        "2024-07-01T07:00:00,5",
        "2024-07-01T07:00:00.1234567",
        "20240701T0700",
        "2024-W27-1",
        "2024-07-01T07:00\n",
        "1677-12-31T00:00",
        "2262-01-01T00:00",
        "2100-02-29T00:00",
        "2024-07-01T07:00Z",  # an offset in a naive column
    ],
)
def test_what_the_pattern_excludes_is_refused(client: Any, sent: str) -> None:
    """Was: read (200) where the document's pattern said it would not be."""
    assert not re.fullmatch(NAIVE, sent)
    r = client.post("/v1/predict", json={**REC, "ts": sent})
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/ts"]


def test_the_document_carries_the_patterns_and_the_range(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    ts = doc["components"]["schemas"]["Record"]["properties"]["ts"]
    ts = ts["anyOf"][0] if "anyOf" in ts else ts  # nullable
    assert ts["pattern"] == NAIVE
    assert "format" not in ts
    assert f"{FIRST_YEAR} to {LAST_YEAR}" in ts["description"]
    assert client.post("/v1/predict", json={**REC, "ts": "2024-02-29T10:00"}).status_code == 200
