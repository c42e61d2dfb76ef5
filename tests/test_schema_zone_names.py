"""A declared time zone is checked where it is declared; ``infer`` gives what validates.

``Column(timezone=)`` with a name no tz database knows (a typo) used to be accepted, and
every later ``validate`` reported good data as a type problem. An object column mixing
zones used to pass ``Schema.infer`` and then fail ``validate`` on that same data.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml import _zones
from prodml.errors import ConfigError, SchemaError
from prodml.schema import Column, Schema

# -- declared names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone",
    [
        "UTC", "utc", "Etc/UTC", "GMT", "Z", "Zulu",
        "+01:00", "-03:30", "+0530", "+05", "+23:59", "Etc/GMT-1", "Etc/GMT+12", "Etc/GMT-14",
        "Europe/Paris", "America/New_York", "US/Eastern", "Asia/Kolkata", "Asia/Calcutta",
    ],
)  # fmt: skip
def test_known_zone_names_and_offsets_are_accepted(zone: str) -> None:
    assert Column("t", "datetime", timezone=zone).timezone == zone  # kept as spelled


@pytest.mark.parametrize(
    ("zone", "said"),
    [
        ("Europe/Pari", "did you mean 'Europe/Paris'"),
        ("europe/paris", "did you mean 'Europe/Paris'"),  # names are case-sensitive
        ("Asia/Kolkatta", "did you mean 'Asia/Kolkata'"),
        ("America/NewYork", "did you mean 'America/New_York'"),
        ("Mars/Olympus_Mons", "is not in the installed tz database; expected an IANA name"),
        ("+25:00", "is not a valid offset"),
        ("+01:75", "is not a valid offset"),
        ("Etc/GMT-15", "is not in the installed tz database"),
        ("", "is not in the installed tz database"),
        ("../../../etc/passwd", "is not in the installed tz database"),
        ("Europe/../../etc/hostname", "is not in the installed tz database"),
        ("\x00", "is not in the installed tz database"),
    ],
)
def test_an_unknown_zone_is_a_schema_error_naming_column_and_zone(zone: str, said: str) -> None:
    with pytest.raises(SchemaError) as info:
        Column("ts", "datetime", timezone=zone)
    (problem,) = info.value.problems
    assert problem.column == "ts"
    assert problem.kind == "type"
    assert said in problem.message
    assert repr(zone)[1:-1][:20] in str(info.value)


def test_every_bad_zone_of_a_schema_is_listed_in_one_error() -> None:
    with pytest.raises(SchemaError) as info:
        Schema(
            [
                {"name": "a", "dtype": "datetime", "timezone": "Europe/Pari"},
                {"name": "ok", "dtype": "datetime", "timezone": "UTC"},
                {"name": "b", "dtype": "datetime", "timezone": "Mars/Base"},
            ]
        )
    assert info.value.columns == ["a", "b"]


def test_a_schema_read_back_with_an_unknown_zone_is_refused() -> None:
    saved = Schema([Column("ts", "datetime", timezone="Europe/Paris")]).to_json()
    hostile = saved.replace("Europe/Paris", "Europe/Pari")
    with pytest.raises(SchemaError, match="did you mean 'Europe/Paris'") as info:
        Schema.from_json(hostile)
    assert info.value.column == "ts"
    with pytest.raises(SchemaError):
        Schema.from_arrow(pa.schema([pa.field("ts", pa.timestamp("us", tz="Europe/Pari"))]))


def test_a_zone_problem_does_not_hide_other_invalid_settings() -> None:
    with pytest.raises(ConfigError, match="timezone applies to datetime"):
        Column("n", "int", timezone="Europe/Pari")


# -- no tz database installed ---------------------------------------------------------------


@pytest.mark.usefixtures("no_tz_database")
def test_without_a_tz_database_iana_shaped_names_are_accepted_unchecked() -> None:
    assert _zones.known_zones() == {}
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        ZoneInfo.no_cache("Europe/Paris")
    # UTC and offsets need no database; IANA names cannot be checked, so they pass.
    for zone in ("UTC", "+01:00", "Etc/GMT-1", "Europe/Paris", "Europe/Pari"):
        assert Column("t", "datetime", timezone=zone).timezone == zone
    # What no IANA name looks like is still refused, and says no database is installed.
    for zone in ("+25:00", "../etc/passwd", "Europe/Paris "):
        with pytest.raises(SchemaError) as info:
            Column("t", "datetime", timezone=zone)
        assert info.value.column == "t"
    with pytest.raises(SchemaError, match="none is installed"):
        Column("t", "datetime", timezone="../etc/passwd")


@pytest.mark.usefixtures("no_tz_database")
def test_without_a_tz_database_zones_compare_by_name() -> None:
    # Links need the database's rules: without them only equal names (after the UTC and
    # offset spellings) are one zone.
    assert _zones.tz_rules("America/New_York") is None
    assert _zones.same_zone("America/New_York", "America/New_York")
    assert not _zones.same_zone("US/Eastern", "America/New_York")
    assert _zones.same_zone("Etc/UTC", "UTC")
    assert _zones.same_zone("Etc/GMT-1", "+01:00")
    # The zone check of validate, on a column typed with its zone (converting the values
    # to pandas needs the database: a limit of pyarrow, not of the check).
    paris = pa.chunked_array([pa.array([0, None], pa.timestamp("us", tz="Europe/Paris"))])
    assert _zones.zone_problem("t", "Europe/Paris", paris) is None
    problem = _zones.zone_problem("t", "Europe/Berlin", paris)
    assert problem is not None
    assert "got time zone 'Europe/Paris'" in problem.message


def test_with_the_database_back_links_match_again() -> None:
    assert _zones.same_zone("US/Eastern", "America/New_York")
    assert "europe/paris" in _zones.known_zones()


# -- infer refuses what validate would refuse -----------------------------------------------


def test_infer_refuses_an_object_column_mixing_zones() -> None:
    values = [
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        None,
        pd.Timestamp("2024-01-02", tz="Europe/Paris"),
    ]
    frame = pd.DataFrame({"ok": [1, 2, 3], "t": pd.Series(values, dtype=object)})
    with pytest.raises(SchemaError) as info:
        Schema.infer(frame)
    (problem,) = info.value.problems
    assert (problem.column, problem.kind, problem.row) == ("t", "type", 2)
    assert "values in several time zones ('UTC', 'Europe/Paris')" in problem.message
    assert "2024" not in problem.message


def test_infer_refuses_naive_and_aware_values_in_one_column() -> None:
    values = [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2, tzinfo=ZoneInfo("UTC"))]
    with pytest.raises(SchemaError, match=r"several time zones \(naive, 'UTC'\)"):
        Schema.infer(pd.DataFrame({"t": pd.Series(values, dtype=object)}))


def test_infer_accepts_spellings_of_one_zone_in_an_object_column() -> None:
    values = [
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        pd.Timestamp("2024-01-02", tz="Etc/UTC"),
        dt.datetime(2024, 1, 3, tzinfo=ZoneInfo("UTC")),
    ]
    frame = pd.DataFrame({"t": pd.Series(values, dtype=object)})
    schema = Schema.infer(frame)
    assert schema["t"].timezone == "UTC"
    schema.validate(frame)


ZONES = [None, "UTC", "Etc/UTC", "Europe/Paris", "America/New_York", "+05:30", "-03:00"]


def _tzinfo(zone: str | None, form: int) -> dt.tzinfo | None:
    if zone is None:
        return None
    if zone.startswith(("+", "-")):
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = zone[1:].split(":")
        return dt.timezone(sign * dt.timedelta(hours=int(hours), minutes=int(minutes)))
    if zone == "UTC" and form:
        return dt.timezone.utc
    return ZoneInfo(zone)


@st.composite
def _column(draw: st.DrawFn, n: int) -> tuple[str, Any]:
    """One datetime column of ``n`` rows: its storage and its values."""
    storage = draw(st.sampled_from(["numpy", "arrow", "object", "object Timestamp"]))
    seconds = draw(
        st.lists(
            st.none() | st.integers(-(2**31), 2**32),  # 1901 .. 2106: inside datetime64[ns]
            min_size=n,
            max_size=n,
        )
    )
    instants = [
        None if s is None else dt.datetime(1970, 1, 1) + dt.timedelta(seconds=s) for s in seconds
    ]
    if storage.startswith("object"):
        # Each value in a zone of its own: mostly one, sometimes several.
        zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3))
        values: list[Any] = []
        for i, when in enumerate(instants):
            if when is None:
                values.append(None)
                continue
            zone = zones[i % len(zones)] if draw(st.booleans()) else zones[0]
            tz = _tzinfo(zone, draw(st.integers(0, 1)))
            v = when if tz is None else when.replace(tzinfo=dt.timezone.utc).astimezone(tz)
            values.append(pd.Timestamp(v) if storage == "object Timestamp" else v)
        return storage, pd.Series(values, dtype=object)
    zone = draw(st.sampled_from(ZONES))
    naive = pd.Series(pd.to_datetime(instants)).astype("datetime64[us]")
    typed = naive if zone is None else naive.dt.tz_localize("UTC").dt.tz_convert(zone)
    if storage == "arrow":
        return storage, typed.astype(pd.ArrowDtype(pa.timestamp("us", tz=zone)))
    return storage, typed


@st.composite
def _datetime_tables(draw: st.DrawFn) -> Any:
    n = draw(st.integers(1, 6))
    columns = draw(st.lists(_column(n), min_size=1, max_size=3))
    frame = pd.DataFrame({f"c{i}": s for i, (_, s) in enumerate(columns)})
    typed = all(not storage.startswith("object") for storage, _ in columns)
    if typed and draw(st.booleans()):
        return pa.Table.from_pandas(frame, preserve_index=False)
    return frame


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_datetime_tables())
def test_a_schema_inferred_from_data_validates_that_data(data: Any) -> None:
    refusal: SchemaError | None = None
    try:
        schema = Schema.infer(data, detect_personal=False)
    except SchemaError as err:
        refusal = err
    if refusal is None:
        schema.validate(data)
        return
    # A refusal names the columns at fault: object columns mixing zones.
    assert refusal.columns
    for p in refusal.problems:
        assert p.kind == "type"
        assert "several time zones" in p.message
        assert isinstance(data, pd.DataFrame)
        assert data[p.column].dtype == object
