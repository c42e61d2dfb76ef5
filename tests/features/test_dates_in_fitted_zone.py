"""DateParts reads a column in the zone it was fitted in, in batches and records alike.

One instant gives the same parts whatever zone it arrives in (pandas, Arrow, Python
datetimes, records), equal to the parts pandas computes in the fitted zone; naive values
in a zoned column, and aware values in a column fitted naive, are refused, as
Schema.validate refuses them.
"""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.features._dates import PARTS

ALL = list(PARTS)
# DST in both hemispheres, a 30-minute DST (Lord Howe), odd offsets, a zone whose rules
# changed (Samoa skipped a day), UTC, fixed offsets, and two spellings of New York.
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "US/Eastern",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "+05:30",
    "-03:30",
    "+14:00",
]
LO = int(pd.Timestamp("1678-01-02", tz="UTC").value // 1000)  # microseconds
HI = int(pd.Timestamp("2262-04-09", tz="UTC").value // 1000)


def _pandas_parts(stamp: pd.Timestamp) -> list[float]:
    """The parts pandas gives for a Timestamp (in the zone it is in)."""
    return [
        float(v)
        for v in (
            stamp.year,
            stamp.month,
            stamp.day,
            stamp.day_of_week,
            stamp.day_of_year,
            stamp.hour,
            stamp.minute,
            stamp.second,
            stamp.day_of_week >= 5,
        )
    ]


_PIPES: dict[str, FeaturePipeline] = {}


def _fitted(zone: str) -> FeaturePipeline:
    """A pipeline with every part, fitted on a column in ``zone`` (cached per zone)."""
    if zone not in _PIPES:
        t = pd.DatetimeIndex(["2024-01-15 12:00"]).tz_localize("UTC").tz_convert(zone)
        frame = pd.DataFrame({"t": t})
        _PIPES[zone] = FeaturePipeline([steps.DateParts(["t"], parts=ALL)]).fit(frame)
    return _PIPES[zone]


def _spellings(instants: pd.DatetimeIndex, zone: str) -> dict[str, Any]:
    """The same instants as batches of every kind a user passes, in ``zone``."""
    aware = instants.tz_convert(zone)
    us = pa.timestamp("us", tz=zone)
    return {
        "pandas": pd.DataFrame({"t": aware}),
        "arrow table": pa.table({"t": pa.array(aware, us)}),
        "ArrowDtype": pd.DataFrame({"t": pd.array(aware, dtype=pd.ArrowDtype(us))}),
        "Python datetimes": pd.DataFrame(
            {"t": pd.Series([v.to_pydatetime() for v in aware], dtype=object)}
        ),
    }


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(LO, HI), min_size=1, max_size=4),
    st.sampled_from(ZONES),
    st.sampled_from(ZONES),
)
def test_one_instant_gives_the_parts_of_the_fitted_zone(
    micros: list[int], source: str, fitted: str
) -> None:
    instants = pd.DatetimeIndex(np.array(micros, dtype="datetime64[us]")).tz_localize("UTC")
    pipe = _fitted(fitted)
    expected = np.array([_pandas_parts(s.tz_convert(fitted)) for s in instants])
    for name, batch in _spellings(instants, source).items():
        np.testing.assert_array_equal(pipe.transform(batch), expected, err_msg=name)
    for i, stamp in enumerate(instants.tz_convert(source)):
        for value in (stamp, stamp.to_pydatetime()):
            np.testing.assert_array_equal(pipe.transform_record({"t": value}), expected[i])


def test_a_utc_batch_for_a_paris_column_gives_paris_hours() -> None:
    # The skew this fixes: a column fitted in Paris and served in UTC gave UTC hours.
    paris = pd.DataFrame({"t": pd.DatetimeIndex(["2024-07-01 09:00"]).tz_localize("Europe/Paris")})
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["hour"])]).fit(paris)
    utc = paris.assign(t=paris["t"].dt.tz_convert("UTC"))
    assert pipe.transform(utc)[0, 0] == 9.0
    assert pipe.transform_record({"t": utc["t"][0]})[0] == 9.0
    assert pipe.transform_record({"t": dt.datetime(2024, 7, 1, 7, tzinfo=dt.timezone.utc)})[0] == 9
    # ... and the other way round: a column fitted in UTC reads Paris values in UTC.
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["hour"])]).fit(utc)
    assert pipe.transform(paris)[0, 0] == 7.0
    assert pipe.transform_record({"t": paris["t"][0]})[0] == 7.0


def test_ambiguous_wall_times_follow_fold_as_pandas_does() -> None:
    # 02:30 on 2024-10-27 happened twice in Paris: fold=0 is CEST (00:30 UTC), 1 is CET.
    paris = ZoneInfo("Europe/Paris")
    values = [dt.datetime(2024, 10, 27, 2, 30, fold=f, tzinfo=paris) for f in (0, 1)]
    pipe = _fitted("UTC")
    expected = np.array([_pandas_parts(pd.Timestamp(v).tz_convert("UTC")) for v in values])
    assert expected[:, ALL.index("hour")].tolist() == [0.0, 1.0]
    objects = pd.DataFrame({"t": pd.Series(values, dtype=object)})
    np.testing.assert_array_equal(pipe.transform(objects), expected)
    stamps = pd.DataFrame({"t": [pd.Timestamp(v) for v in values]})
    np.testing.assert_array_equal(pipe.transform(stamps), expected)
    for i, v in enumerate(values):
        np.testing.assert_array_equal(pipe.transform_record({"t": v}), expected[i])
        np.testing.assert_array_equal(pipe.transform_record({"t": pd.Timestamp(v)}), expected[i])
    # Both UTC instants read in Paris are 02:30: the same parts.
    both = pd.DatetimeIndex(["2024-10-27 00:30", "2024-10-27 01:30"]).tz_localize("UTC")
    out = _fitted("Europe/Paris").transform(pd.DataFrame({"t": both}))
    assert out[:, ALL.index("hour")].tolist() == [2.0, 2.0]


def test_instants_around_a_dst_gap_skip_the_missing_hour() -> None:
    # Paris skipped 02:00-03:00 on 2024-03-31: 00:59 UTC is 01:59, 01:00 UTC is 03:00.
    utc = pd.DatetimeIndex(["2024-03-31 00:59:59", "2024-03-31 01:00:00"]).tz_localize("UTC")
    pipe = _fitted("Europe/Paris")
    hours = pipe.transform(pd.DataFrame({"t": utc}))[:, ALL.index("hour")]
    assert hours.tolist() == [1.0, 3.0]
    for i, v in enumerate(utc):
        assert pipe.transform_record({"t": v.to_pydatetime()})[ALL.index("hour")] == hours[i]


NAIVE = dt.datetime(2024, 3, 31, 2, 30)  # a wall time Paris skipped


@pytest.mark.parametrize(
    "value",
    [NAIVE, pd.Timestamp(NAIVE), np.datetime64(NAIVE, "us"), NAIVE.date()],
    ids=["datetime", "Timestamp", "datetime64", "date"],
)
def test_naive_values_are_refused_for_a_column_fitted_in_a_zone(value: Any) -> None:
    # Before: read as wall-clock time in the fitted zone, as written (02:30, a time Paris
    # skipped), where Schema.validate and serving refuse them and pandas will not mix
    # naive and aware values (tz_convert of naive values raises).
    pipe = _fitted("Europe/Paris")
    message = r"column 't': expected datetimes in time zone 'Europe/Paris'.*tz_localize"
    with pytest.raises(SchemaError, match=message):
        pipe.transform_record({"t": value})
    batches = [pd.DataFrame({"t": pd.Series([value], dtype=object)})]
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        wall = pd.Timestamp(value)
        batches += [
            pd.DataFrame({"t": pd.DatetimeIndex([wall])}),
            pa.table({"t": pa.array([wall], pa.timestamp("us"))}),
        ]
    else:
        batches.append(pa.table({"t": pa.array([value], pa.date32())}))
    for batch in batches:
        with pytest.raises(SchemaError, match=message + r".*row 0"):
            pipe.transform(batch)
        with pytest.raises(SchemaError, match=r"column 't'.*naive"):  # as validation does
            pipe.input_schema.validate(batch)


def test_nulls_still_reach_dateparts_as_nulls_in_every_zone() -> None:
    pipe = _fitted("Europe/Paris")
    utc = pd.DataFrame({"t": pd.DatetimeIndex(["2024-01-01", None]).tz_localize("UTC")})
    with pytest.raises(SchemaError, match=r"column 't': null value NaT reached DateParts.*row 1"):
        pipe.transform(utc)
    arrow = pa.table({"t": pa.array([None], pa.timestamp("us", tz="UTC"))})
    with pytest.raises(SchemaError, match=r"null value None reached DateParts.*row 0"):
        pipe.transform(arrow)
    objects = pd.DataFrame(
        {"t": pd.Series([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), pd.NaT], dtype=object)}
    )
    with pytest.raises(SchemaError, match=r"null value .* reached DateParts.*row 1"):
        pipe.transform(objects)
    for null in (None, pd.NaT, np.datetime64("NaT")):
        with pytest.raises(SchemaError, match="reached DateParts"):
            pipe.transform_record({"t": null})


def test_spellings_of_the_fitted_zone_are_read_as_they_are() -> None:
    import pytz  # pandas' zone library before 3.0: users still hold such Timestamps

    pipe = _fitted("America/New_York")
    when = dt.datetime(2024, 7, 4, 12, 0)
    values = [
        pytz.timezone("America/New_York").localize(when),
        when.replace(tzinfo=ZoneInfo("US/Eastern")),
        pd.Timestamp(when).tz_localize("US/Eastern"),
    ]
    for v in values:
        assert pipe.transform_record({"t": v})[ALL.index("hour")] == 12.0
    batch = pd.DataFrame({"t": pd.DatetimeIndex([when]).tz_localize("US/Eastern")})
    assert pipe.transform(batch)[0, ALL.index("hour")] == 12.0


def test_fixed_offset_zones_convert_both_ways() -> None:
    pipe = _fitted("+05:30")
    utc = dt.datetime(2024, 1, 1, 20, 45, tzinfo=dt.timezone.utc)  # 02:15 next day at +05:30
    expected = [2024, 1, 2, 1, 2, 2, 15, 0, 0]
    np.testing.assert_array_equal(pipe.transform_record({"t": utc}), expected)
    arrow = pa.table({"t": pa.array([utc], pa.timestamp("s", tz="+0530"))})  # arrow's spelling
    np.testing.assert_array_equal(pipe.transform(arrow), [expected])
    paris = pa.table({"t": pa.array([utc], pa.timestamp("s", tz="Europe/Paris"))})
    np.testing.assert_array_equal(pipe.transform(paris), [expected])


def test_a_wall_time_beyond_datetime64_ns_is_refused_in_both_paths() -> None:
    # In range as an instant (UTC), past 2262-04-11 23:47 as Tokyo wall-clock time.
    late = dt.datetime(2262, 4, 11, 20, tzinfo=dt.timezone.utc)
    pipe = _fitted("Asia/Tokyo")
    message = r"column 't': datetime .* is outside the range prodml computes with"
    with pytest.raises(SchemaError, match=message + r".*row 0"):
        pipe.transform(pd.DataFrame({"t": pd.DatetimeIndex([late])}))
    with pytest.raises(SchemaError, match=message + r".*row 0"):
        pipe.transform(pd.DataFrame({"t": pd.Series([late], dtype=object)}))
    for value in (late, pd.Timestamp(late)):
        with pytest.raises(SchemaError, match=message):
            pipe.transform_record({"t": value})
    # One hour earlier is 2262-04-12 04:00 in Tokyo too: still out; UTC reads it fine.
    assert _fitted("UTC").transform_record({"t": late})[0] == 2262.0


def test_a_column_fitted_naive_refuses_an_aware_value() -> None:
    # No zone to convert to, and reading the value in its own zone would give another
    # column's features (stop 40): refused, as Schema.validate refuses it.
    naive = pd.DataFrame({"t": pd.DatetimeIndex(["2024-07-01 09:00"])})
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["hour"])]).fit(naive)
    paris = dt.datetime(2024, 7, 1, 9, tzinfo=ZoneInfo("Europe/Paris"))
    for call in (
        lambda: pipe.transform_record({"t": paris}),
        lambda: pipe.transform(pd.DataFrame({"t": pd.DatetimeIndex([paris])})),
        lambda: pipe.transform(pd.DataFrame({"t": pd.Series([paris], dtype=object)})),
    ):
        with pytest.raises(SchemaError) as err:
            call()
        [problem] = err.value.problems
        assert (problem.column, problem.kind) == ("t", "type")
        assert "'Europe/Paris'" in problem.message  # the zone found
        assert "fitted naive" in problem.message
        assert ".dt.tz_localize(None)" in problem.message  # how to fix it
    # Its wall-clock time, made naive, is read as before.
    assert pipe.transform_record({"t": paris.replace(tzinfo=None)})[0] == 9.0


def test_the_zone_survives_json_and_pickle() -> None:
    paris = pd.DataFrame({"t": pd.DatetimeIndex(["2024-07-01 09:00"]).tz_localize("Europe/Paris")})
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["hour"])]).fit(paris)
    utc = paris.assign(t=paris["t"].dt.tz_convert("UTC"))
    for again in (FeaturePipeline.from_json(pipe.to_json()), pickle.loads(pickle.dumps(pipe))):
        assert again.transform(utc)[0, 0] == 9.0
        assert again.transform_record({"t": utc["t"][0]})[0] == 9.0
        assert again.fingerprint == pipe.fingerprint


def test_chunks_in_several_zones_are_each_converted() -> None:
    instants = pd.DatetimeIndex(["2024-01-01 23:30", "2024-07-01 23:30"]).tz_localize("UTC")
    pipe = _fitted("Europe/Paris")
    chunks = [
        pd.DataFrame({"t": instants[:1]}),
        pa.table(
            {
                "t": pa.array(
                    instants[1:].tz_convert("Asia/Tokyo"), pa.timestamp("us", tz="Asia/Tokyo")
                )
            }
        ),
    ]
    out = pipe.transform(chunks)
    assert out[:, ALL.index("hour")].tolist() == [0.0, 1.0]
    assert out[:, ALL.index("day")].tolist() == [2.0, 2.0]
