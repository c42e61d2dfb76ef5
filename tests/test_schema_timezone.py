"""``Column(timezone=)`` is enforced by ``Schema.validate`` on every input kind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml._zones import same_zone, tz_rules, value_in_zone
from prodml.errors import SchemaError
from prodml.schema import Column, Schema, _record_is_clean
from prodml.serving._check import compile_check

WHEN = ["2024-01-01 23:30", "2024-07-01 08:00"]


def _naive() -> pd.Series:
    return pd.Series(pd.to_datetime(WHEN))


def _aware(zone: str | None) -> pd.Series:
    s = _naive()
    return s if zone is None else s.dt.tz_localize("UTC").dt.tz_convert(zone)


def _tzinfo(zone: str | None) -> dt.tzinfo | None:
    if zone is None:
        return None
    if zone.startswith(("+", "-")):
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = zone[1:].split(":")
        return dt.timezone(sign * dt.timedelta(hours=int(hours), minutes=int(minutes)))
    return ZoneInfo(zone)


def _python(zone: str | None) -> list[dt.datetime]:
    return [v.replace(tzinfo=_tzinfo(zone)) for v in _naive().dt.to_pydatetime()]


def _arrow_type(zone: str | None) -> pa.DataType:
    return pa.timestamp("us", tz=zone)


# Every input kind Schema.validate takes, each holding the datetimes of WHEN in ``zone``.
INPUTS: dict[str, Callable[[str | None], Any]] = {
    "pandas datetime64[us]": lambda z: pd.DataFrame({"t": _aware(z)}),
    "pandas datetime64[ns]": lambda z: pd.DataFrame({"t": _aware(z).dt.as_unit("ns")}),
    "pandas ArrowDtype": lambda z: pd.DataFrame(
        {"t": pd.array(_python(z), dtype=pd.ArrowDtype(_arrow_type(z)))}
    ),
    "pyarrow Table": lambda z: pa.table({"t": pa.array(_python(z), _arrow_type(z))}),
    "pyarrow RecordBatch": lambda z: pa.RecordBatch.from_pydict(
        {"t": pa.array(_python(z), _arrow_type(z))}
    ),
    "object datetimes": lambda z: pd.DataFrame({"t": pd.Series(_python(z), dtype=object)}),
    "object Timestamps": lambda z: pd.DataFrame(
        {"t": pd.Series([pd.Timestamp(v) for v in _python(z)], dtype=object)}
    ),
    "record Timestamp": lambda z: {"t": pd.Timestamp(_python(z)[0])},
    "record datetime": lambda z: {"t": _python(z)[0]},
}

# (declared, found, what the message says was found); found None: naive values.
WRONG = [
    ("Europe/Paris", None, "got naive datetimes"),
    ("UTC", None, "got naive datetimes"),
    (None, "UTC", "got time zone 'UTC'"),
    (None, "Europe/Paris", "got time zone 'Europe/Paris'"),
    ("Europe/Paris", "UTC", "got time zone 'UTC'"),
    ("UTC", "Europe/London", "got time zone 'Europe/London'"),  # same offset in winter
    ("Europe/Paris", "+01:00", "got time zone '+01:00'"),  # Paris in winter, not in summer
    ("+05:30", "Asia/Kolkata", "got time zone 'Asia/Kolkata'"),
]
RIGHT = [None, "UTC", "Europe/Paris", "+05:30", "-03:00", "America/New_York"]


def _schema(zone: str | None) -> Schema:
    return Schema([Column("t", "datetime", timezone=zone)])


def _problems(schema: Schema, data: Any) -> list[str]:
    try:
        schema.validate(data)
    except SchemaError as err:
        return [str(p) for p in err.problems]
    return []


@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize(("declared", "found", "said"), WRONG)
def test_values_outside_the_declared_zone_are_a_problem(
    kind: str, declared: str | None, found: str | None, said: str
) -> None:
    with pytest.raises(SchemaError) as info:
        _schema(declared).validate(INPUTS[kind](found))
    (problem,) = info.value.problems
    assert (problem.column, problem.kind) == ("t", "type")
    message = str(problem)
    assert message.startswith("column 't': expected ")
    assert said in message
    want = "naive datetimes" if declared is None else f"time zone {declared!r}"
    assert want in message
    fix = ".dt.tz_localize(" if declared is None or found is None else ".dt.tz_convert("
    assert fix in message
    # No value in the message: neither the date nor the time of any row.
    assert "2024" not in message
    assert "23:30" not in message


@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("zone", RIGHT)
def test_values_in_the_declared_zone_pass(kind: str, zone: str | None) -> None:
    assert _problems(_schema(zone), INPUTS[kind](zone)) == []


@pytest.mark.parametrize(
    ("declared", "values"),
    [
        ("UTC", pd.Series(pd.to_datetime(WHEN)).dt.tz_localize("Etc/UTC")),
        ("Etc/UTC", pd.Series(pd.to_datetime(WHEN)).dt.tz_localize("UTC")),
        ("UTC", pd.Series(pd.to_datetime(WHEN)).dt.tz_localize(dt.timezone.utc)),
        ("+00:00", pd.Series(pd.to_datetime(WHEN)).dt.tz_localize("UTC")),
        ("GMT", pd.Series(pd.to_datetime(WHEN)).dt.tz_localize("UTC")),
        ("Etc/GMT-1", pd.Series(pd.to_datetime(WHEN)).dt.tz_localize("+01:00")),
        ("+0530", pd.Series(pd.to_datetime(WHEN)).dt.tz_localize("+05:30")),
        (
            "-03:00",
            pd.Series(pd.to_datetime(WHEN)).dt.tz_localize(dt.timezone(dt.timedelta(hours=-3))),
        ),
    ],
    ids=["Etc/UTC", "UTC", "timezone.utc", "+00:00", "GMT", "Etc/GMT-1", "+0530", "-03:00"],
)
def test_spellings_of_one_zone_match(declared: str, values: pd.Series) -> None:
    frame = pd.DataFrame({"t": values})
    assert _problems(_schema(declared), frame) == []
    assert _problems(_schema(declared), pa.Table.from_pandas(frame)) == []
    assert _problems(_schema(declared), {"t": values.iloc[0]}) == []


@pytest.mark.skipif(
    tz_rules("America/New_York") is None,
    reason="needs an IANA tz database (the system's zoneinfo or the 'tzdata' package)",
)
def test_iana_links_to_the_same_rules_match() -> None:
    eastern = pd.DataFrame({"t": _aware("US/Eastern")})
    assert _problems(_schema("America/New_York"), eastern) == []
    assert _problems(_schema("America/New_York"), {"t": eastern["t"].iloc[0]}) == []
    assert _problems(_schema("Asia/Kolkata"), pd.DataFrame({"t": _aware("Asia/Calcutta")})) == []
    # Different rules are a problem even where the offsets agree on these dates.
    assert _problems(_schema("America/New_York"), pd.DataFrame({"t": _aware("America/Toronto")}))


@pytest.mark.parametrize(
    ("declared", "values", "zones", "row"),
    [
        (
            "Europe/Paris",
            [
                dt.datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
                None,
                dt.datetime(2024, 1, 2),
            ],
            "('Europe/Paris', naive)",
            2,
        ),
        (
            "UTC",
            [
                None,
                dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                pd.Timestamp("2024-01-02", tz="Europe/Paris"),
                pd.Timestamp("2024-01-03", tz="UTC"),
            ],
            "('UTC', 'Europe/Paris')",
            2,
        ),
        (
            None,
            [dt.datetime(2024, 1, 1), pd.Timestamp("2024-01-02", tz="UTC")],
            "(naive, 'UTC')",
            1,
        ),
    ],
)
def test_an_object_column_mixing_zones_is_a_problem(
    declared: str | None, values: list[Any], zones: str, row: int
) -> None:
    frame = pd.DataFrame({"t": pd.Series(values, dtype=object)})
    with pytest.raises(SchemaError) as info:
        _schema(declared).validate(frame)
    (problem,) = info.value.problems
    assert problem.kind == "type"
    assert problem.row == row
    assert f"got values in several time zones {zones}" in problem.message
    assert "pd.to_datetime(column, utc=True)" in problem.message
    assert "2024" not in problem.message


def test_an_object_column_mixing_spellings_of_its_zone_passes() -> None:
    values = [
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        pd.Timestamp("2024-01-02", tz="Etc/UTC"),
        dt.datetime(2024, 1, 3, tzinfo=ZoneInfo("UTC")),
    ]
    frame = pd.DataFrame({"t": pd.Series(values, dtype=object)})
    assert _problems(_schema("UTC"), frame) == []


def test_dates_are_naive() -> None:
    days = [dt.date(2024, 1, 1), None]
    for data in (
        pa.table({"t": pa.array(days, pa.date32())}),
        pd.DataFrame({"t": pd.array(days, dtype=pd.ArrowDtype(pa.date32()))}),
        pd.DataFrame({"t": pd.Series(days, dtype=object)}),
    ):
        assert _problems(_schema(None), data) == []
        (problem,) = _problems(_schema("UTC"), data)
        assert "got naive datetimes" in problem


def test_a_zone_problem_comes_with_the_other_problems() -> None:
    schema = Schema([Column("t", "datetime", nullable=False, timezone="UTC"), Column("x", "int")])
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", None]), "x": ["a", "b"]})
    with pytest.raises(SchemaError) as info:
        schema.validate(frame)
    assert [(p.column, p.kind) for p in info.value.problems] == [
        ("t", "type"),
        ("t", "null"),
        ("x", "type"),
    ]


def test_all_null_columns_have_no_zone_to_check() -> None:
    for data in (
        pd.DataFrame({"t": pd.Series([None, None], dtype=object)}),
        pd.DataFrame({"t": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns, UTC]")}),
        {"t": None},
    ):
        assert _problems(_schema("UTC"), data) == []
    # Nor has a typed all-null column of another zone: it has no value to misread.
    for data in (
        pd.DataFrame({"t": pd.Series([pd.NaT], dtype="datetime64[ns]")}),
        pa.table({"t": pa.array([None], pa.timestamp("us", tz="Europe/Paris"))}),
    ):
        assert _problems(_schema("UTC"), data) == []
    with_a_value = pd.DataFrame({"t": pd.Series([pd.NaT, 0], dtype="datetime64[ns]")})
    assert _problems(_schema("UTC"), with_a_value)


def test_a_hostile_declared_zone_is_only_a_name() -> None:
    for zone in ("../../../etc/passwd", "/etc/passwd", "Europe/../../etc/hostname", "\x00"):
        assert tz_rules(zone) is None
        # Refused where it is declared (tests/test_schema_zone_names.py), never opened.
        with pytest.raises(SchemaError, match="is not in the installed tz database"):
            _schema(zone)


# -- the record fast path -------------------------------------------------------------


@pytest.mark.parametrize("declared", RIGHT)
@pytest.mark.parametrize("found", RIGHT)
def test_the_record_fast_path_agrees_with_the_table_path(
    declared: str | None, found: str | None
) -> None:
    record = {"t": pd.Timestamp(_python(found)[0])}
    schema = _schema(declared)
    table = schema.problems(pd.DataFrame({"t": pd.Series([record["t"]])}))
    assert _problems(schema, record) == [str(p) for p in table]
    clean = _record_is_clean(schema, record, strict=False)
    # A value in the declared zone (or naive in a naive column) is cleared without a
    # table, anything else takes it; the serving check compiled from the schema answers
    # as the fast path does.
    assert clean == (not table)
    assert clean == ((declared is None and found is None) or same_zone(declared or "", found or ""))
    assert compile_check(schema)(record) == clean


def test_a_dateutil_zone_reads_as_its_iana_name_on_both_paths() -> None:
    dateutil_tz = pytest.importorskip("dateutil.tz", reason="dateutil comes with pandas")
    paris = dateutil_tz.gettz("Europe/Paris")
    if paris is None:
        pytest.skip("needs an IANA tz database (the system's zoneinfo)")
    record = {"t": pd.Timestamp("2024-01-01", tz=paris)}
    assert _record_is_clean(_schema("Europe/Paris"), record, strict=False)
    assert not _record_is_clean(_schema("UTC"), record, strict=False)
    assert _problems(_schema("Europe/Paris"), record) == []
    assert (
        _problems(_schema("Europe/Paris"), pd.DataFrame({"t": _naive().dt.tz_localize(paris)}))
        == []
    )
    (problem,) = _problems(_schema("UTC"), record)
    assert "got time zone 'Europe/Paris'" in problem


def test_an_unhashable_tzinfo_is_named_each_time() -> None:
    class Plus1(dt.tzinfo):  # noqa: PLW1641 - __eq__ without __hash__: unhashable, never cached
        def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
            return dt.timedelta(hours=1)

        def dst(self, when: dt.datetime | None) -> dt.timedelta:
            return dt.timedelta(0)

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Plus1)

    with pytest.raises(TypeError):
        hash(Plus1())
    assert value_in_zone("+01:00", Plus1())
    assert value_in_zone("Etc/GMT-1", Plus1())
    assert not value_in_zone("Europe/Paris", Plus1())  # a fixed offset is not a named zone
    assert not value_in_zone("UTC", None)


# -- infer, JSON, diff ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(RIGHT),
    other=st.sampled_from(RIGHT),
    kind=st.sampled_from(list(INPUTS)),
    nulls=st.booleans(),
)
def test_infer_then_validate_round_trips(
    zone: str | None, other: str | None, kind: str, nulls: bool
) -> None:
    data = INPUTS[kind](zone)
    if nulls and isinstance(data, pd.DataFrame):
        data = pd.concat([data, data.iloc[:0].reindex([0])], ignore_index=True)
    schema = Schema.infer(data, detect_personal=False)
    inferred = schema["t"].timezone
    assert inferred is None if zone is None else same_zone(zone, inferred)
    schema.validate(data)
    for again in (Schema.from_json(schema.to_json()), Schema.from_arrow(schema.to_arrow())):
        again.validate(data)
        if other != zone:  # and it keeps enforcing the zone after the round trip
            with pytest.raises(SchemaError, match=r"time zone|naive"):
                again.validate(INPUTS[kind](other))


def test_infer_keeps_the_zone_as_the_data_spells_it() -> None:
    assert Schema.infer(pd.DataFrame({"t": _aware("Europe/Paris")}))["t"].timezone == "Europe/Paris"
    assert (
        Schema.infer(pa.table({"t": pa.array(_python("+05:30"), _arrow_type("+05:30"))}))[
            "t"
        ].timezone
        == "+05:30"
    )
    assert Schema.infer({"t": pd.Timestamp("2024-01-01", tz="UTC")})["t"].timezone == "UTC"


def test_infer_refuses_chunks_in_different_zones() -> None:
    chunks = [pd.DataFrame({"t": _aware("UTC")}), pd.DataFrame({"t": _aware("Europe/Paris")})]
    with pytest.raises(SchemaError, match="chunks disagree on the time zone: 'UTC' then"):
        Schema.infer(chunks)
    with pytest.raises(SchemaError, match="chunks disagree on the time zone: naive then 'UTC'"):
        Schema.infer([pd.DataFrame({"t": _naive()}), pd.DataFrame({"t": _aware("UTC")})])
    same = [pd.DataFrame({"t": _aware("UTC")}), pd.DataFrame({"t": _aware("Etc/UTC")})]
    assert Schema.infer(same)["t"].timezone == "UTC"
    # A typed all-null chunk (naive NaT) has no zone to disagree with, first or later.
    nat = pd.DataFrame({"t": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns]")})
    utc = pd.DataFrame({"t": _aware("UTC")})
    assert Schema.infer([nat, utc])["t"].timezone == "UTC"
    assert Schema.infer([utc, nat])["t"].timezone == "UTC"
    assert Schema.infer([nat.assign(t=nat["t"].dt.tz_localize("UTC"))])["t"].timezone == "UTC"


def test_a_saved_schema_keeps_enforcing() -> None:
    schema = _schema("Europe/Paris")
    loaded = Schema.from_json(schema.to_json())
    assert loaded == schema
    assert loaded.fingerprint == schema.fingerprint
    with pytest.raises(SchemaError, match="expected datetimes in time zone 'Europe/Paris'"):
        loaded.validate(pd.DataFrame({"t": _naive()}))


def test_diff_reports_a_change_of_zone() -> None:
    a = Schema([Column("t", "datetime", timezone="UTC"), Column("u", "datetime")])
    assert (
        a.diff(Schema([Column("t", "datetime", timezone="Etc/UTC"), Column("u", "datetime")])) == []
    )
    b = Schema(
        [Column("t", "datetime", timezone="Europe/Paris"), Column("u", "datetime", timezone="UTC")]
    )
    assert a.diff(b) == [
        "column 't': time zone 'UTC' -> 'Europe/Paris'",
        "column 'u': time zone naive -> 'UTC'",
    ]
