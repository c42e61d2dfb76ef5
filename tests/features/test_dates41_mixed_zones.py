"""An object column mixing naive and aware datetimes: one problem, worded one way.

``Schema.validate`` said "got values in several time zones (naive, 'UTC')", while
``FeaturePipeline.transform`` of the same column named one side of the mixture only ("got
time zone 'UTC'" for a column fitted naive, "got a naive datetime" for one fitted in a
zone). Both now give the same problem (column, message, row); a record, one value, is
refused as the one-row batch of it is.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError, SchemaProblem
from prodml.features import FeaturePipeline, steps

NAIVE = dt.datetime(2024, 3, 1, 12, 30)
UTC = dt.datetime(2024, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
PARIS = dt.datetime(2024, 3, 3, 9, 15, tzinfo=ZoneInfo("Europe/Paris"))
DAY = dt.date(2024, 3, 4)

FITS = {
    "naive": pd.DataFrame({"t": [NAIVE, NAIVE]}),
    "UTC": pd.DataFrame({"t": pd.to_datetime(["2024-01-01 10:00"], utc=True)}),
    "Paris": pd.DataFrame({"t": pd.to_datetime(["2024-01-01 10:00"]).tz_localize("Europe/Paris")}),
}


def _fitted(fit: str) -> FeaturePipeline:
    return FeaturePipeline([steps.DateParts(["t"], parts=["hour", "day"])]).fit(FITS[fit])


def _column(values: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"t": pd.Series(values, dtype=object)})


def _problems(call: object, data: object) -> tuple[SchemaProblem, ...]:
    with pytest.raises(SchemaError) as info:
        call(data)  # type: ignore[operator]
    return info.value.problems


def _outcome(call: object, data: object) -> SchemaProblem | list[float]:
    """The one problem raised, or the output rows as lists."""
    try:
        out = call(data)  # type: ignore[operator]
    except SchemaError as err:
        (problem,) = err.problems
        return problem
    return out.tolist()  # type: ignore[no-any-return]


MIXTURES = {
    "naive then UTC": [NAIVE, UTC, NAIVE],
    "UTC then naive": [UTC, NAIVE],
    "null, Paris, naive": [None, PARIS, NAIVE, UTC],
    "a date among Paris values": [PARIS, DAY],
}


@pytest.mark.parametrize("fit", FITS)
@pytest.mark.parametrize("values", MIXTURES.values(), ids=MIXTURES.keys())
def test_transform_names_the_mixture_as_validate_does(fit: str, values: list[object]) -> None:
    pipe = _fitted(fit)
    data = _column(values)
    (got,) = _problems(pipe.transform, data)
    assert (got,) == _problems(pipe.input_schema.validate, data)
    assert (got.column, got.kind) == ("t", "type")
    assert "got values in several time zones (" in got.message
    assert "naive" in got.message.split("several time zones (")[1].split(")")[0]
    assert got.row is not None


def test_the_mixtures_message_for_a_column_fitted_naive() -> None:
    """The wording, in full: stop 40 said "got time zone 'UTC'; drop the zone ..."."""
    (got,) = _problems(_fitted("naive").transform, _column([NAIVE, UTC, NAIVE]))
    assert str(got) == (
        "column 't': expected naive datetimes (timezone=None), got values in several time "
        "zones (naive, 'UTC'); bring them to one with pd.to_datetime(column, utc=True)"
        ".dt.tz_localize(None) (naive values are read as UTC) (first at row 1)"
    )


@pytest.mark.parametrize("fit", FITS)
def test_a_record_is_refused_as_its_one_row_batch(fit: str) -> None:
    """A record holds one value: no mixture, the problem of that value, as the batch of
    that row alone words it; the batch's mixture names a row whose record fails."""
    pipe = _fitted(fit)
    values = [NAIVE, UTC, PARIS, DAY]
    (mixture,) = _problems(pipe.transform, _column(values))
    refused = []
    for i, value in enumerate(values):
        batch, record = (
            _outcome(pipe.transform, _column([value])),
            _outcome(pipe.transform_record, {"t": value}),
        )
        if isinstance(batch, SchemaProblem):
            assert isinstance(record, SchemaProblem)
            assert (record.column, record.kind, record.message) == ("t", "type", batch.message)
            refused.append(i)
        else:
            assert record == batch[0]
    assert mixture.row in refused


_VALUES = st.sampled_from([NAIVE, UTC, PARIS, DAY, None])


@settings(max_examples=60, deadline=None)
@given(values=st.lists(_VALUES, min_size=2, max_size=8), fit=st.sampled_from(list(FITS)))
def test_any_naive_and_aware_mixture_gets_validates_problem(values: list[object], fit: str) -> None:
    naive = any(v is NAIVE or v is DAY for v in values)
    aware = any(v is UTC or v is PARIS for v in values)
    if not (naive and aware):
        values = [*values, NAIVE, UTC]
    pipe = _fitted(fit)
    data = _column(values)
    assert _problems(pipe.transform, data) == _problems(pipe.input_schema.validate, data)
