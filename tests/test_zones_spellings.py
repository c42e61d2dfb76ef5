"""Every spelling of UTC or of a fixed offset is one zone, wherever prodml hands it on.

``Column(timezone=)`` accepted '+0530', 'Z', 'utc' and 'GMT0' as zones, but
``Schema.to_arrow`` wrote them into the arrow type as spelled: arrow then needed a tz
database to read them (none holds them), and pandas reads '+0530' as +05:00. Spellings
users meet in real data ('UTC+05:30' from Spark's session zones) were refused. ``infer``
took a tzinfo whose ``utcoffset(None)`` was its standard offset for a fixed offset, and
refused a daylight-saving rule with no name with a message about a tz database.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dateutil import tz as dateutil_tz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml import _zones
from prodml._data import as_columns
from prodml.errors import SchemaError
from prodml.schema import Column, Schema

SPELLINGS = [
    ("UTC", "UTC"), ("utc", "UTC"), ("Z", "UTC"), ("z", "UTC"), ("GMT0", "UTC"),
    ("Etc/UTC", "UTC"), ("GMT", "UTC"), ("+00:00", "UTC"), ("-00:00", "UTC"),
    ("-0000", "UTC"), ("UTC+00:00", "UTC"), ("UTC-0", "UTC"),
    ("+05:30", "+05:30"), ("+0530", "+05:30"), ("UTC+05:30", "+05:30"),
    ("GMT+05:30", "+05:30"), ("utc+0530", "+05:30"), ("UT+5:30", "+05:30"),
    ("+05", "+05:00"), ("UTC+5", "+05:00"), ("Etc/GMT-5", "+05:00"),
    ("-03:30", "-03:30"), ("GMT-3:30", "-03:30"), ("Etc/GMT+3", "-03:00"),
    ("+14:00", "+14:00"), ("-1400", "-14:00"), ("Etc/GMT-14", "+14:00"),
]  # fmt: skip
WINTER = pd.Timestamp("2024-01-15 09:45")


def frame_in(zone: str) -> pd.DataFrame:
    return pd.DataFrame({"t": pd.Series([WINTER, None]).dt.tz_localize("UTC").dt.tz_convert(zone)})


# -- one canonical spelling ---------------------------------------------------------------


@pytest.mark.parametrize(("spelling", "canonical"), SPELLINGS)
def test_every_spelling_has_one_canonical_zone(spelling: str, canonical: str) -> None:
    assert _zones.canonical_zone(spelling) == canonical
    column = Column("t", "datetime", timezone=spelling)
    assert column.timezone == spelling  # kept as declared: saved states keep fingerprints
    assert Schema([column]).to_arrow().field("t").type.tz == canonical


def test_iana_names_and_refused_spellings_keep_their_spelling() -> None:
    for name in ("Europe/Paris", "US/Eastern", "EST5EDT", "+25:00", "UTC+25", "Mars/Base"):
        assert _zones.canonical_zone(name) == name


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC+05:30", "+05:30"), ("GMT+05:30", "+05:30"), ("UTC+5", "+05:00"), ("GMT-3", "-03:00"),
     ("ut+0100", "+01:00")],
)  # fmt: skip
def test_offsets_after_a_utc_prefix_are_accepted_with_the_iso_sign(zone: str, offset: str) -> None:
    # Java's ZoneId spelling, which Spark hands arrow as a session zone: ahead of UTC
    # (unlike Etc/GMT+N, POSIX's sign). Refused as not in the tz database before.
    assert Column("t", "datetime", timezone=zone).timezone == zone
    assert _zones.same_zone(zone, offset)
    Schema([Column("t", "datetime", timezone=zone)]).validate(frame_in(offset))


@pytest.mark.parametrize("zone", ["UTC+25", "GMT+05:75", "UTC+123"])
def test_out_of_range_prefixed_offsets_are_refused(zone: str) -> None:
    with pytest.raises(SchemaError) as info:
        Column("t", "datetime", timezone=zone)
    assert info.value.column == "t"
    assert repr(zone) in info.value.problems[0].message


@pytest.mark.parametrize(("spelling", "canonical"), SPELLINGS)
def test_to_arrow_gives_a_type_pandas_reads_as_the_same_instants_and_wall_clock(
    spelling: str, canonical: str
) -> None:
    schema = Schema([Column("t", "datetime", timezone=spelling)])
    df = frame_in(canonical)
    table = pa.Table.from_pandas(df, schema=schema.to_arrow(), preserve_index=False)
    back = table.to_pandas()  # ArrowInvalid before for '+0530', 'Z', 'utc', '-0000'
    for read in (
        lambda s: s.dt.tz_localize(None),
        lambda s: s.dt.tz_convert("UTC").dt.tz_localize(None),
    ):
        pd.testing.assert_series_equal(  # the same wall clock, the same instants
            read(back["t"]).astype("datetime64[ns]"), read(df["t"]).astype("datetime64[ns]")
        )
    schema.validate(df)
    schema.validate(table)
    schema.validate(back)


@pytest.mark.parametrize(("spelling", "canonical"), SPELLINGS)
def test_a_schema_read_back_from_arrow_and_parquet_is_equal(
    spelling: str, canonical: str, tmp_path: Path
) -> None:
    schema = Schema([Column("t", "datetime", timezone=spelling, description="when")])
    assert Schema.from_arrow(schema.to_arrow()) == schema
    assert Schema.from_json(schema.to_json()) == schema
    path = tmp_path / "s.parquet"
    pq.write_table(schema.to_arrow().empty_table(), path)
    assert Schema.from_arrow(pq.read_schema(path)) == schema


def test_from_arrow_of_a_foreign_type_gives_the_canonical_spelling() -> None:
    for tz, zone in (
        ("+0530", "+05:30"),
        ("Z", "UTC"),
        ("UTC+05:30", "+05:30"),
        ("Etc/UTC", "UTC"),
    ):
        schema = Schema.from_arrow(pa.schema([pa.field("t", pa.timestamp("us", tz=tz))]))
        assert schema["t"].timezone == zone


def test_from_arrow_takes_the_type_over_hostile_metadata() -> None:
    # A column converted to another zone keeps its field metadata: the type decides.
    for meta in (b'{"timezone": "+0530"}', b'{"timezone": 5}', b'{"timezone": "Mars/Base"}'):
        field = pa.field("t", pa.timestamp("us", tz="Europe/Paris"), metadata={b"prodml": meta})
        assert Schema.from_arrow(pa.schema([field]))["t"].timezone == "Europe/Paris"
    field = pa.field(
        "t", pa.timestamp("us", tz="+05:30"), metadata={b"prodml": b'{"timezone": "UTC+5:30"}'}
    )
    assert Schema.from_arrow(pa.schema([field]))["t"].timezone == "UTC+5:30"


@pytest.mark.usefixtures("no_tz_database")
def test_offsets_and_utc_need_no_tz_database_once_canonical() -> None:
    # 'Etc/GMT-5' is a tz database entry; its canonical '+05:00' needs no database.
    for spelling, canonical in (("Etc/GMT-5", "+05:00"), ("+0530", "+05:30"), ("Z", "UTC")):
        schema = Schema([Column("t", "datetime", timezone=spelling)])
        df = frame_in(canonical)
        table = pa.Table.from_pandas(df, schema=schema.to_arrow(), preserve_index=False)
        assert table.schema.field("t").type.tz == canonical
        assert table.to_pandas()["t"][0] == df["t"][0]
        schema.validate(table)


# -- the code in a message is code pandas runs as meant -----------------------------------


def test_the_convert_hint_names_the_zone_as_pandas_reads_it() -> None:
    schema = Schema([Column("t", "datetime", timezone="+0530")])
    in_utc = frame_in("UTC")
    with pytest.raises(SchemaError) as info:
        schema.validate(in_utc)
    message = info.value.problems[0].message
    assert "expected datetimes in time zone '+0530'" in message  # as declared
    assert ".dt.tz_convert('+05:30')" in message  # pandas reads '+0530' as +05:00
    schema.validate(in_utc.assign(t=in_utc["t"].dt.tz_convert("+05:30")))  # the hint works


def test_the_declare_hint_names_the_canonical_zone() -> None:
    table = pa.table({"t": pa.array([0], pa.timestamp("us", tz="Z"))})
    with pytest.raises(SchemaError, match=r"or declare timezone='UTC'"):
        Schema([Column("t", "datetime")]).validate(table)


# -- infer: tzinfo objects with no name ---------------------------------------------------


class StandardOffsetRule(dt.tzinfo):
    """A daylight-saving rule whose ``utcoffset(None)`` is its standard offset."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        summer = when is not None and 4 <= when.month <= 9
        return dt.timedelta(hours=2 if summer else 1)

    def dst(self, when: dt.datetime | None) -> dt.timedelta:
        return self.utcoffset(when) - dt.timedelta(hours=1)

    def tzname(self, when: dt.datetime | None) -> str:
        return "CEST" if self.dst(when) else "CET"


class PytzLikeFixedOffset(dt.tzinfo):
    """The shape of pytz's FixedOffset: a ``zone`` attribute that is ``None``."""

    zone = None

    def __init__(self, minutes: int) -> None:
        self._offset = dt.timedelta(minutes=minutes)

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        return self._offset

    def dst(self, when: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(0)

    def tzname(self, when: dt.datetime | None) -> str | None:
        return None


def aware(tz: dt.tzinfo) -> list[dt.datetime]:
    return [dt.datetime(2024, 1, 15, 9, tzinfo=tz), dt.datetime(2024, 7, 15, 9, tzinfo=tz)]


@pytest.mark.parametrize(
    ("tz", "zone"),
    [
        (dateutil_tz.tzoffset(None, 3600), "+01:00"),
        (dateutil_tz.tzoffset("X", -16200), "-04:30"),
        (dt.timezone(dt.timedelta(hours=1)), "+01:00"),
        (dt.timezone(dt.timedelta(hours=-3), "BRT"), "-03:00"),
        (PytzLikeFixedOffset(330), "+05:30"),
        (dateutil_tz.tzutc(), "UTC"),
        (dt.timezone(dt.timedelta(0)), "UTC"),
    ],
)
def test_infer_reads_a_nameless_fixed_offset_as_an_offset(tz: dt.tzinfo, zone: str) -> None:
    values = aware(tz)
    for data in (
        pd.DataFrame({"t": pd.Series(values, dtype=object)}),  # Python datetimes
        pd.DataFrame(
            {
                "t": pd.Series(
                    pd.to_datetime([v.replace(tzinfo=None) for v in values])
                ).dt.tz_localize(tz)
            }
        ),
        {"t": values[0]},
    ):
        schema = Schema.infer(data)
        assert schema["t"].timezone == zone
        schema.validate(data)
        Schema([Column("t", "datetime", timezone=zone)]).validate(data)


def test_infer_reads_pytz_fixed_offsets_as_offsets() -> None:
    import pytz

    values = pd.Series(pd.to_datetime(["2024-01-15 09:00", "2024-07-15 09:00"]))
    for minutes, zone in ((330, "+05:30"), (-60, "-01:00"), (0, "UTC")):
        data = pd.DataFrame({"t": values.dt.tz_localize(pytz.FixedOffset(minutes))})
        assert Schema.infer(data)["t"].timezone == zone
        assert Schema.infer({"t": data["t"][0].to_pydatetime()})["t"].timezone == zone


@pytest.mark.parametrize(
    "tz",
    [
        dateutil_tz.tzstr("EST5EDT"),
        dateutil_tz.tzrange("EST", -18000, "EDT"),
        StandardOffsetRule(),  # was read as the fixed offset +01:00 before
    ],
)
def test_infer_refuses_a_daylight_saving_rule_with_no_name_saying_how_to_fix(
    tz: dt.tzinfo,
) -> None:
    for data in (pd.DataFrame({"t": pd.Series(aware(tz), dtype=object)}), {"t": aware(tz)[1]}):
        with pytest.raises(SchemaError) as info:
            Schema.infer(data)
        (problem,) = info.value.problems
        assert (problem.column, problem.kind) == ("t", "type")
        assert "daylight saving rules but no IANA name" in problem.message
        assert "tz_convert('America/New_York')" in problem.message
        assert "tz database" not in problem.message


def test_infer_refuses_the_local_zone_of_a_machine_with_daylight_saving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        local = dateutil_tz.tzlocal()
    finally:
        monkeypatch.undo()
        time.tzset()
    with pytest.raises(SchemaError, match="no IANA name"):
        Schema.infer({"t": dt.datetime(2024, 1, 15, 9, tzinfo=local)})


def test_infer_words_a_name_the_database_does_not_know() -> None:
    table = pa.table({"t": pa.array([0], pa.timestamp("us", tz="Mars/Base"))})
    with pytest.raises(SchemaError) as info:
        Schema.infer(table)
    (problem,) = info.value.problems
    assert problem.message.startswith("got values in a zone no column can declare: time zone")


@pytest.mark.parametrize(
    ("tz", "zone"), [("Etc/UTC", "UTC"), ("+0530", "+05:30"), ("Z", "UTC"), ("GMT+05:30", "+05:30")]
)
def test_infer_records_the_canonical_zone(tz: str, zone: str) -> None:
    table = pa.table({"t": pa.array([0, None], pa.timestamp("us", tz=tz))})
    schema = Schema.infer(table)
    assert schema["t"].timezone == zone
    schema.validate(table)
    as_pandas = table.to_pandas(types_mapper=pd.ArrowDtype)  # kept as arrow: '+0530' too
    assert Schema.infer(as_pandas) == schema
    schema.validate(as_pandas)  # read the range as wall-clock time before: needed a database


# -- Parquet files as other tools write them ----------------------------------------------

MICROS = [1_700_000_000_000_000, None, 1_720_000_000_000_000]


def _write(path: Path, unit: str, tz: str | None, **options: Any) -> None:
    scale = {"ms": 10**-3, "us": 1, "ns": 10**3}[unit]
    values = [None if v is None else int(v * scale) for v in MICROS]
    pq.write_table(
        pa.table({"t": pa.array(values, pa.int64()).cast(pa.timestamp(unit, tz=tz))}),
        path,
        **options,
    )


PARQUET_FILES = {
    # writer: (unit, zone written, write_table options, zone infer gives)
    "spark, UTC session": ("us", "UTC", {}, "UTC"),
    "spark, offset session": ("us", "+00:00", {}, "UTC"),
    "pandas 3": ("us", "UTC", {}, "UTC"),
    "polars": ("us", "Etc/UTC", {}, "UTC"),
    "polars, a zone": ("ms", "Europe/Paris", {}, "Europe/Paris"),
    # With no arrow schema in the file, Parquet keeps only "adjusted to UTC".
    "no arrow schema": ("us", "+05:30", {"store_schema": False}, "UTC"),
    # Spark's legacy INT96: read back naive, UTC wall-clock time.
    "spark INT96": (
        "ns",
        "UTC",
        {"use_deprecated_int96_timestamps": True, "store_schema": False},
        None,
    ),
}


@pytest.mark.parametrize("writer", list(PARQUET_FILES))
def test_parquet_from_other_tools_infers_then_validates(writer: str, tmp_path: Path) -> None:
    unit, tz, options, zone = PARQUET_FILES[writer]
    path = tmp_path / "f.parquet"
    _write(path, unit, tz, **options)
    for df in (
        pd.read_parquet(path),
        pd.read_parquet(path, dtype_backend="pyarrow"),
        pq.read_table(path),
    ):
        schema = Schema.infer(df)
        assert schema["t"].timezone == zone, writer
        schema.validate(df)
        utc = Schema([Column("t", "datetime", timezone="UTC")])
        if zone is not None and _zones.same_zone("UTC", zone):
            utc.validate(df)
        else:
            with pytest.raises(SchemaError, match="expected datetimes in time zone 'UTC'"):
                utc.validate(df)


@pytest.mark.parametrize("tz", ["+0530", "Z", "UTC+05:30"])
def test_parquet_in_a_zone_pandas_cannot_read_validates_read_with_pyarrow(
    tz: str, tmp_path: Path
) -> None:
    path = tmp_path / "f.parquet"
    _write(path, "us", tz)
    # pyarrow's limit (ArrowInvalid; with pytz installed, pytz's UnknownTimeZoneError, a
    # KeyError): the documented way round it.
    with pytest.raises((pa.ArrowInvalid, KeyError)):
        pd.read_parquet(path)
    for data in (pq.read_table(path), pd.read_parquet(path, dtype_backend="pyarrow")):
        schema = Schema.infer(data)
        assert schema["t"].timezone == _zones.canonical_zone(tz)
        schema.validate(data)
        Schema([Column("t", "datetime", timezone=tz)]).validate(data)


# -- the property: every spelling of an offset, every path --------------------------------


def spellings_of(minutes: int) -> list[object]:
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    out: list[object] = [
        f"{sign}{h:02d}:{m:02d}", f"{sign}{h:02d}{m:02d}", f"UTC{sign}{h:02d}:{m:02d}",
        f"GMT{sign}{h}:{m:02d}", f"utc{sign}{h:02d}{m:02d}",
        dt.timezone(dt.timedelta(minutes=minutes)), dateutil_tz.tzoffset(None, minutes * 60),
        PytzLikeFixedOffset(minutes),
    ]  # fmt: skip
    if m == 0:
        out += [f"{sign}{h:02d}", f"UTC{sign}{h}"]
        if h:
            out.append(f"Etc/GMT{'-' if sign == '+' else '+'}{h}")  # POSIX sign
    return out


def _problems(schema: Schema, data: object) -> list[tuple[str | None, str, str]]:
    try:
        schema.validate(data)
    except SchemaError as err:
        return [(p.column, p.kind, p.message) for p in err.problems]
    return []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    minutes=st.integers(-14 * 60, 14 * 60),
    micros=st.integers(-(2**50), 2**50),
    shift=st.sampled_from([-1, 1, 60]),
)
def test_every_spelling_of_an_offset_is_one_zone_on_every_path(
    minutes: int, micros: int, shift: int
) -> None:
    canonical = _zones.canonical_zone(spellings_of(minutes)[0])  # type: ignore[arg-type]
    instant = pd.Timestamp(micros, unit="us", tz="UTC")
    frame = pd.DataFrame({"t": [instant.tz_convert(canonical)]})
    other = _zones.canonical_zone(
        _zones.zone_name(dt.timezone(dt.timedelta(minutes=minutes + shift)))
    )
    frame_other = pd.DataFrame({"t": [instant.tz_convert(other)]})
    for spelling in spellings_of(minutes):
        zone = spelling if isinstance(spelling, str) else _zones.zone_name(spelling)
        assert _zones.canonical_zone(zone) == canonical
        schema = Schema([Column("t", "datetime", timezone=zone)])
        assert Schema.from_arrow(schema.to_arrow()) == schema
        table = pa.Table.from_pandas(frame, schema=schema.to_arrow(), preserve_index=False)
        record = {
            "t": instant.to_pydatetime().astimezone(dt.timezone(dt.timedelta(minutes=minutes)))
        }
        # The same instants, and the same wall clock, on the pandas, arrow and record paths.
        assert table.column("t").cast(pa.int64())[0].as_py() == micros * 1000
        assert table.to_pandas()["t"][0] == frame["t"][0]
        assert table.to_pandas()["t"][0].tz_localize(None) == frame["t"][0].tz_localize(None)
        assert record["t"].replace(tzinfo=None) == frame["t"][0].tz_localize(None).to_pydatetime()
        walls = {str(as_columns(d).datetime64("t")[0]) for d in (frame, table, record)}
        assert walls == {str(np.datetime64(frame["t"][0].tz_localize(None), "ns"))}
        for data in (frame, table, record):
            assert _problems(schema, data) == []
        if not isinstance(spelling, str):
            assert Schema.infer({"t": instant.to_pydatetime().astimezone(spelling)}) == Schema(
                [Column("t", "datetime", timezone=canonical)]
            )
        # The same problems for data one minute (or an hour) off, on every path.
        if abs(minutes + shift) < 24 * 60:
            off_table = pa.Table.from_pandas(frame_other, preserve_index=False)
            off_record = {"t": frame_other["t"][0].to_pydatetime()}
            found = [_problems(schema, d) for d in (frame_other, off_table, off_record)]
            assert found[0]
            assert found[0] == found[1] == found[2]
