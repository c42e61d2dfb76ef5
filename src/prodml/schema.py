"""Table contracts: :class:`Schema` and :class:`Column`, to and from pyarrow, and validation.

A :class:`Schema` lists the columns a table (or a single record) must have, each with a
logical type (``float``, ``int``, ``bool``, ``string``, ``category``, ``datetime``),
whether nulls are allowed, and optionally the allowed values or a numeric range.
:meth:`Schema.validate` checks a pandas DataFrame, a pyarrow Table or RecordBatch, or a
dict record against it and raises one :class:`~prodml.errors.SchemaError` that lists every
problem found.

Type rules used by validation: an ``int`` column satisfies ``float``; a ``float`` column
satisfies ``int`` when every value is integral (pandas stores ints with nulls as floats);
``string`` and ``category`` accept each other's values (text); nothing is parsed, so the
string ``'1.5'`` in a ``float`` column is a type error. NaN, None, NaT and ``pd.NA`` are
all nulls. A ``datetime`` column's values must be in its ``timezone`` (naive when it is
``None``; dates count as naive): a zone is never assumed or converted.

Examples
--------
>>> import pandas as pd
>>> from prodml.schema import Column, Schema
>>> schema = Schema(
...     [
...         Column("age", "int", nullable=False, min=0, max=130),
...         Column("plan", "category", allowed=["free", "pro"]),
...     ]
... )
>>> schema.validate(pd.DataFrame({"age": [34, 200], "plan": ["pro", "gold"]}))
Traceback (most recent call last):
...
prodml.errors.SchemaError: 2 problems found:
  - column 'age': 1 value above the maximum 130, e.g. 200 (first at row 1)
  - column 'plan': 1 value not among the allowed values ['free', 'pro'], e.g. 'gold' (first at row 1)
"""  # noqa: E501

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import numbers
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from prodml._data import Columns, as_columns, type_name
from prodml._data_records import record_problems
from prodml._model import _Model
from prodml._params import OneOf, TypeOf, check_params
from prodml._quote import short_repr
from prodml._schema_infer import _observe
from prodml._zones import value_in_zone, zone_error, zone_fits
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.fingerprint import fingerprint_spec
from prodml.privacy import warn_personal

__all__ = ["Column", "LogicalType", "Schema"]

FORMAT_VERSION = 1


class LogicalType(str, Enum):
    """The logical type of a column, independent of its physical storage."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    CATEGORY = "category"
    DATETIME = "datetime"

    def __str__(self) -> str:
        return self.value


_NUMERIC = (LogicalType.FLOAT, LogicalType.INT)
_TEXT = (LogicalType.STRING, LogicalType.CATEGORY)

Scalar = str | bool | int | float
_UNSET: Any = object()


class Column(_Model):
    """One column of a :class:`Schema`.

    Parameters
    ----------
    name
        Column name, as it appears in the data.
    dtype
        Logical type: ``"float"``, ``"int"``, ``"bool"``, ``"string"``, ``"category"`` or
        ``"datetime"``.
    nullable
        Whether nulls (None, NaN, NaT) are allowed.
    allowed
        When given, every non-null value must be one of these.
    min
        Inclusive lower bound for ``float`` and ``int`` columns. Held as a float, or as an
        int when float64 would round it (``2**60 + 1``): values are compared with the
        bound exactly.
    max
        Inclusive upper bound for ``float`` and ``int`` columns (held as ``min`` is).
    timezone
        IANA time zone (or fixed offset such as ``"+01:00"``) of a ``datetime`` column,
        or ``None`` for naive timestamps. Enforced: :meth:`Schema.validate` reports naive
        values in a column with a zone, aware values in a naive column, and values in
        another zone (hours, weekdays and dates differ between zones even for the same
        instants). Spellings of one zone match: ``"UTC"``, ``"Z"``, ``"Etc/UTC"`` and
        ``datetime.timezone.utc``; ``"+05:30"``, ``"+0530"`` and ``"UTC+05:30"`` (ISO
        sign after ``UTC``/``GMT``; ``"Etc/GMT-1"`` is ``"+01:00"``); two IANA names with
        the same rules in the installed tz database (``"US/Eastern"`` and
        ``"America/New_York"``). A fixed offset never matches a named zone. The column
        keeps the spelling declared; :meth:`Schema.to_arrow` and the fixes messages
        show use the canonical one (``"UTC"``, ``"+05:30"``), which pandas and arrow read
        as meant (pandas reads ``"+0530"`` as +05:00). Checked
        here: a name the installed tz database does not know is a ``SchemaError``
        suggesting the closest ones (with no database installed, IANA-shaped names are
        accepted unchecked; see ``docs/schema.md``).
    description
        Free text for people.
    sensitive
        Whether the column holds data about people that prodml must never keep or show
        raw (see :mod:`prodml.privacy`): drift profiles and reports keep salted hashes or
        sketches of it, and error messages do not quote its values.

    Raises
    ------
    ConfigError
        For an invalid setting (a wrong type, ``min`` above ``max``, ...).
    SchemaError
        For a ``timezone`` that is not a zone, naming the column.

    Examples
    --------
    >>> Column("price", "float", min=0).dtype
    <LogicalType.FLOAT: 'float'>
    >>> Column("email", "string", sensitive=True).sensitive
    True
    >>> import pandas as pd
    >>> naive = pd.DataFrame({"t": pd.to_datetime(["2024-01-01 09:00"])})
    >>> Schema([Column("t", "datetime", timezone="Europe/Paris")]).validate(naive)
    Traceback (most recent call last):
    ...
    prodml.errors.SchemaError: column 't': expected datetimes in time zone 'Europe/Paris', got naive datetimes; localize them with .dt.tz_localize(<zone they were recorded in>).dt.tz_convert('Europe/Paris')
    >>> paris = naive.assign(t=naive["t"].dt.tz_localize("Europe/Paris"))
    >>> Schema([Column("t", "datetime", timezone="Europe/Paris")]).validate(paris)
    """  # noqa: E501

    name: str = Field(min_length=1, strict=True)
    dtype: LogicalType
    # Strict: "no" or 0 is not a bool, True is not a bound (pydantic would coerce both).
    nullable: bool = Field(default=True, strict=True)
    allowed: tuple[Scalar, ...] | None = None
    # float, or int for an integer bound float64 would round (2**60 + 1): kept exact.
    min: float | int | None = None
    max: float | int | None = None
    timezone: str | None = Field(default=None, strict=True)
    description: str = Field(default="", strict=True)
    sensitive: bool = Field(default=False, strict=True)

    def __init__(
        self,
        name: str = _UNSET,
        dtype: LogicalType | str = _UNSET,
        /,
        *,
        nullable: bool = True,
        allowed: Sequence[Scalar] | None = None,
        min: float | None = None,  # noqa: A002 - the field's name
        max: float | None = None,  # noqa: A002 - the field's name
        timezone: str | None = None,
        description: str = "",
        sensitive: bool = False,
        **data: Any,
    ) -> None:
        # Positional name and dtype for people; keywords for pydantic's nested validation.
        data.update(
            nullable=nullable,
            allowed=allowed,
            min=min,
            max=max,
            timezone=timezone,
            description=description,
            sensitive=sensitive,
        )
        if name is not _UNSET:
            data["name"] = name
        if dtype is not _UNSET:
            data["dtype"] = dtype
        with _declared_zones():
            super().__init__(**data)

    @field_validator("min", "max", mode="before")
    @classmethod
    def _real_bound(cls, value: Any) -> Any:
        # Any real number (numpy's included) but not a bool or a numeric string.
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"must be a real number or None, not {type_name(value)}")
        try:
            as_float = float(value)
        except OverflowError:  # an int beyond the float range; None is "no bound"
            raise ValueError("must be within the float range (None: no bound)") from None
        if isinstance(value, numbers.Integral) and as_float != int(value):
            # float64 would round it (2**60 + 1 is 2**60): kept exact, as the integer
            # values it bounds are compared. Others stay floats (and their JSON as was).
            return int(value)
        return as_float

    @model_validator(mode="after")
    def _check_consistent(self) -> Column:
        if (self.min is not None or self.max is not None) and self.dtype not in _NUMERIC:
            raise ValueError(f"min/max apply to float and int columns, not {self.dtype}")
        for bound in (self.min, self.max):
            if bound is not None and math.isnan(bound):
                raise ValueError("min/max must not be NaN")
            if bound is not None and math.isinf(bound):
                # JSON has no infinity (to_json wrote 'Infinity', fingerprint refused it),
                # and validate refuses infinite values anyway: None is "no bound".
                raise ValueError(f"min/max must be finite (None: no bound); got {bound}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.timezone is not None and self.dtype is not LogicalType.DATETIME:
            raise ValueError("timezone applies to datetime columns only")
        if self.timezone is not None:
            why = zone_error(self.timezone)
            if why is not None:  # a typo here would fail every validate, far from it
                raise SchemaError(problems=[SchemaProblem(self.name, "type", why)])
        if self.allowed is not None:
            if self.dtype is LogicalType.DATETIME:
                raise ValueError("allowed values are not supported for datetime columns")
            wrong = [v for v in self.allowed if not _scalar_fits(v, self.dtype)]
            if wrong:
                raise ValueError(f"allowed value {short_repr(wrong[0])} is not a {self.dtype}")
            if self.dtype in _NUMERIC:
                # NaN is a null and matches nothing; inf and ints beyond float64 break the
                # number rule validate applies first; none has a JSON spelling either.
                odd = [v for v in self.allowed if not _finite_number(v)]
                if odd:
                    raise ValueError(
                        f"allowed value {short_repr(odd[0])} is not a finite number "
                        "within the float range"
                    )
        return self


@contextlib.contextmanager
def _declared_zones() -> Iterator[None]:
    """Raise the SchemaError of unknown declared time zones, not pydantic's ConfigError.

    A zone is checked by ``Column``'s validator, which pydantic wraps (with every other
    invalid field) in one ConfigError; a bad zone is a schema problem naming its column,
    so its SchemaErrors are raised as one, with every column's problem.
    """
    try:
        yield
    except ConfigError as err:
        cause = err.__cause__
        if not isinstance(cause, ValidationError):
            raise
        problems = [
            p
            for e in cause.errors()
            if isinstance(found := e.get("ctx", {}).get("error"), SchemaError)
            for p in found.problems
        ]
        if problems:
            raise SchemaError(problems=problems) from None
        raise


def _finite_number(v: object) -> bool:
    """A finite float, or an int float64 holds (compared exactly, with no conversion)."""
    if isinstance(v, float):
        return math.isfinite(v)
    return not isinstance(v, int) or abs(v) <= sys.float_info.max


def _scalar_fits(v: object, dtype: LogicalType) -> bool:
    if dtype in _TEXT:
        return isinstance(v, str)
    if dtype is LogicalType.BOOL:
        return isinstance(v, bool)
    if isinstance(v, bool):
        return False
    if dtype is LogicalType.INT:
        return isinstance(v, int) or (isinstance(v, float) and v.is_integer())
    return isinstance(v, int | float)


class Schema(_Model):
    """An ordered set of :class:`Column` contracts for a table or record.

    Parameters
    ----------
    columns
        The columns, in order; names must be unique.
    strict
        Whether :meth:`validate` reports columns that the schema does not list.

    Examples
    --------
    >>> s = Schema([Column("x", "float"), Column("c", "category")])
    >>> s.names
    ['x', 'c']
    >>> Schema.from_json(s.to_json()) == s
    True
    """

    columns: tuple[Column, ...] = ()
    strict: bool = Field(default=False, strict=True)

    def __init__(self, columns: Any = _UNSET, /, *, strict: bool = False, **data: Any) -> None:
        data["strict"] = strict
        if columns is not _UNSET:
            if isinstance(columns, str | bytes | Mapping) or not isinstance(columns, Iterable):
                raise ConfigError(
                    "The 'columns' parameter of Schema must be a list of Column. "
                    f"Got {type_name(columns)} instead.",
                    parameter="columns",
                )
            data["columns"] = tuple(columns)
        with _declared_zones():
            super().__init__(**data)

    _index: dict[str, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_unique(self) -> Schema:
        index = {c.name: i for i, c in enumerate(self.columns)}
        if len(index) != len(self.columns):
            counts = Counter(c.name for c in self.columns)
            dupes = sorted(n for n, k in counts.items() if k > 1)
            raise ValueError(f"column names must be unique; repeated: {short_repr(dupes)}")
        self._index = index  # name -> position: lookups in O(1), not a scan per name
        return self

    # -- access -------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return [c.name for c in self.columns]

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index

    def __getitem__(self, name: str) -> Column:
        if not isinstance(name, str):
            raise SchemaError(
                problems=[
                    SchemaProblem(None, "missing", f"column names are str, not {type_name(name)}")
                ]
            )
        i = self._index.get(name)
        if i is not None:
            return self.columns[i]
        raise SchemaError(problems=[SchemaProblem(name, "missing", "column is not in the schema")])

    def select(self, names: Sequence[str]) -> Schema:
        """The sub-schema of ``names``, in that order.

        Raises
        ------
        SchemaError
            For a name the schema does not have (or ``names`` not a list of names).
        """
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise ConfigError(
                "The 'names' parameter of Schema.select must be a list of column names. "
                f"Got {type_name(names)} instead.",
                parameter="names",
            )
        return Schema([self[n] for n in names], strict=self.strict)

    # -- validation ---------------------------------------------------------------

    def validate(self, data: object, *, strict: bool | None = None) -> None:  # type: ignore[override]
        """Check ``data`` against the schema; raise one error listing every problem.

        Parameters
        ----------
        data
            A pandas DataFrame, pyarrow Table or RecordBatch, or a dict record.
        strict
            Report columns not in the schema; defaults to the schema's ``strict``.

        Raises
        ------
        SchemaError
            With one :class:`~prodml.errors.SchemaProblem` per missing column, extra column
            (when strict), wrong type, disallowed null, out-of-range or disallowed value.
            A ``datetime`` column whose values are not in the column's ``timezone``
            (naive for ``None``), or mix zones, is a ``"type"`` problem.
        """
        strict = self.strict if strict is None else strict
        if isinstance(data, Mapping):
            if _record_is_clean(self, data, strict=strict):
                return  # the common serving case, checked without building a table
            # An invalid record's problems, read from the dict (the same problems as the
            # one-row table's, ~100x cheaper); None for what only the table path decides.
            found = record_problems(self.columns, data, strict=strict)
            if found is None:
                found = self.problems(_values_view(data), strict=strict)
            if found:
                # One record has no rows: "(first at row 0)" would only be noise.
                raise SchemaError(problems=[dataclasses.replace(p, row=None) for p in found])
            return
        cols = _values_view(data)
        problems = self.problems(cols, strict=strict)
        if problems:
            raise SchemaError(problems=problems)

    def problems(self, cols: object, *, strict: bool = False) -> list[SchemaProblem]:
        """Every problem of the data (as :meth:`validate` takes it), without raising.

        Raises
        ------
        SchemaError
            When ``cols`` is not data at all (not a table or record).
        """
        # _schema_checks imports this module's types at module level.
        from prodml._schema_checks import _column_problems  # noqa: PLC0415

        cols = _values_view(cols)
        found: list[SchemaProblem] = []
        for col in self.columns:
            if col.name not in cols:
                found.append(SchemaProblem(col.name, "missing", "column is missing"))
                continue
            found.extend(_column_problems(col, cols))
        if strict:
            known = set(self.names)
            found.extend(
                SchemaProblem(n, "extra", "column is not in the schema")
                for n in cols.names
                if n not in known
            )
        return found

    # -- construction -------------------------------------------------------------

    @classmethod
    def infer(
        cls,
        data: object,
        *,
        nullable: Literal["always", "observed"] = "always",
        strict: bool = False,
        detect_personal: bool | Callable[[list[str]], str | None] = True,
    ) -> Schema:
        """Infer a schema from a DataFrame, Table, RecordBatch, record or chunk iterable.

        Parameters
        ----------
        data
            The data; chunks are combined as their concatenation would be (an int chunk
            and a float chunk give ``float``; pandas chunks give ``category`` only when
            each holds the column with the same categorical dtype, as ``pd.concat``
            keeps it, else ``string``).
        nullable
            ``"always"`` marks every column nullable (so that serving data with a null is
            not rejected for a training set that happened to have none); ``"observed"``
            marks a column nullable only when it contains a null.
        strict
            The ``strict`` flag of the result.
        detect_personal
            Look for personal data in text columns (up to 200 distinct values of each, in
            every chunk until one is found): a column where at least 10% of them hold an
            e-mail address, phone, payment card, US SSN, UK national insurance number or
            IBAN (see :func:`prodml.privacy.find_personal_data`) is marked
            ``sensitive=True`` and a :class:`~prodml.privacy.PersonalDataWarning` names it
            (never a value). A
            callable takes the sampled values and returns the kind found or ``None``: the
            hook for another detector (a Presidio analyzer, for one). ``False``: no check.

        Returns
        -------
        Schema
            One column per input column, in order. A column whose values are all null
            and whose storage type says nothing is inferred as ``string``.

        Raises
        ------
        SchemaError
            When a column holds values of incompatible types, or chunks disagree; for a
            datetime column in several zones, or in a zone with daylight saving rules
            and no IANA name (dateutil's ``tzstr('EST5EDT')``). A zone is recorded in its
            canonical spelling (``"UTC"`` for ``"Etc/UTC"``; a tzinfo with one offset
            and no name, ``tzoffset(None, 3600)``, is ``"+01:00"``).

        Examples
        --------
        >>> import pandas as pd
        >>> s = Schema.infer(pd.DataFrame({"x": [1.5, None], "n": [1, 2]}), nullable="observed")
        >>> [(c.name, c.dtype.value, c.nullable) for c in s.columns]
        [('x', 'float', True), ('n', 'int', False)]
        """
        check_params(
            "Schema.infer",
            {"nullable": nullable, "strict": strict},
            {"nullable": [OneOf(("always", "observed"))], "strict": [TypeOf(bool, "a bool")]},
        )
        seen = _observe(data, detect_personal)
        columns = [
            Column(
                name,
                "string" if kind == "null" or seen.categorical.demoted(name, kind) else kind,
                nullable=True if nullable == "always" else seen.has_null[name],
                timezone=seen.tz[name] if name in seen.tz else seen.null_tz.get(name),
                sensitive=name in seen.personal,
            )
            for name, kind in seen.kinds.items()
        ]
        for name, found in seen.personal.items():
            warn_personal(name, found)
        return cls(columns, strict=strict)

    # -- pyarrow ------------------------------------------------------------------

    def to_arrow(self) -> pa.Schema:
        """The equivalent ``pyarrow.Schema``.

        Types: float64, int64, bool, string, dictionary<int32, string> (category) and
        timestamp[ns] (with the time zone in its canonical spelling: ``"UTC"`` for
        ``"Z"`` or ``"Etc/UTC"``, ``"+05:30"`` for ``"+0530"`` or ``"UTC+05:30"``, which
        arrow and pandas read with no tz database). Allowed values, ranges, descriptions
        and a zone's declared spelling travel in field metadata, so :meth:`from_arrow`
        restores them exactly.

        Examples
        --------
        >>> Schema([Column("t", "datetime", timezone="+0530")]).to_arrow().field("t").type
        TimestampType(timestamp[ns, tz=+05:30])
        """
        from prodml._schema_arrow import _arrow_schema  # noqa: PLC0415 - it imports this module

        return _arrow_schema(self)

    @classmethod
    def from_arrow(cls, schema: pa.Schema) -> Schema:
        """Build a schema from a ``pyarrow.Schema``.

        A timestamp's zone is the type's, in its canonical spelling (``"UTC"`` for
        ``"Etc/UTC"``), or the spelling :meth:`to_arrow` kept in the field metadata when
        it means the type's zone.

        Raises
        ------
        SchemaError
            For arrow types with no logical equivalent (lists, structs, binary, ...).
        StateError
            For prodml's field or schema metadata (a Parquet file's, from anywhere) that
            is not a JSON object of the settings it holds (``"sensitive": "false"`` is
            not false), or too large or deep, naming the column.
        """
        from prodml._schema_arrow import _arrow_columns  # noqa: PLC0415 - it imports this module

        columns, strict = _arrow_columns(schema)
        return cls(columns, strict=strict)

    # -- serialisation ------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with a ``format_version``."""
        d = self.model_dump(mode="json", exclude_defaults=False)
        for col in d["columns"]:
            # Written only when set, so that schemas saved before the field keep their
            # fingerprints (registry signatures, feature-view fingerprints).
            if not col["sensitive"]:
                del col["sensitive"]
        return {"format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Schema:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        ConfigError
            On an unknown ``format_version`` or invalid content.
        """
        from prodml._state import (  # noqa: PLC0415 - _state imports pydantic
            Field,
            check_format_version,
            loading,
        )

        d = dict(Field(d, owner="Schema").dict())
        # A newer format says to upgrade prodml; True (== 1 in Python) is no version.
        check_format_version(d.pop("format_version", None), FORMAT_VERSION, owner="Schema")
        with loading("Schema"):
            return cls(**d)

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> Schema:
        """Rebuild from :meth:`to_json` output."""
        from prodml._state import load_json  # noqa: PLC0415 - _state imports pydantic

        d = load_json(s, owner="Schema")
        if not isinstance(d, dict):
            raise ConfigError("Schema JSON must be an object")
        return cls.from_dict(d)

    @property
    def fingerprint(self) -> str:
        """sha256 hex of the schema's canonical JSON."""
        return fingerprint_spec(self.to_dict())

    def diff(self, other: Schema) -> list[str]:
        """Differences that would make data valid for ``self`` invalid for ``other``.

        Used to check that a new model version accepts what the current one accepts: a
        narrower type, nulls no longer allowed, another time zone.
        ``other`` must be a :class:`Schema` (else ConfigError).

        Examples
        --------
        >>> a = Schema([Column("x", "float"), Column("y", "int")])
        >>> b = Schema([Column("x", "int", nullable=False)])
        >>> a.diff(b)
        ["column 'x': type float -> int", "column 'x': nulls no longer allowed"]
        """
        if not isinstance(other, Schema):
            raise ConfigError(
                f"Schema.diff compares with a Schema; got {type_name(other)}", parameter="other"
            )
        out: list[str] = []
        for c in other.columns:
            if c.name not in self:
                out.append(f"column {short_repr(c.name)}: required but not provided")
                continue
            mine = self[c.name]
            if mine.dtype != c.dtype and not (
                (mine.dtype, c.dtype) == (LogicalType.INT, LogicalType.FLOAT)
                or {mine.dtype, c.dtype} <= set(_TEXT)
            ):
                out.append(f"column {short_repr(c.name)}: type {mine.dtype} -> {c.dtype}")
            if mine.nullable and not c.nullable:
                out.append(f"column {short_repr(c.name)}: nulls no longer allowed")
            if mine.dtype is c.dtype is LogicalType.DATETIME and not zone_fits(
                c.timezone, mine.timezone
            ):
                zones = [
                    "naive" if z is None else short_repr(z) for z in (mine.timezone, c.timezone)
                ]
                out.append(f"column {short_repr(c.name)}: time zone {zones[0]} -> {zones[1]}")
        return out


def _values_view(data: object) -> Columns:
    """``data`` as a view reading a pandas Categorical of numbers as those numbers.

    As the arrow dictionary of them reads (``pd.read_parquet`` and ``pq.read_table`` of
    one hive-partitioned folder get one answer); see :class:`prodml._data.Columns`.
    """
    if isinstance(data, Columns):
        if data.categorical_values:
            return data
        data = data.source
    return as_columns(data, categorical_values=True)


_FLOAT_BITS = 1023  # ints this wide always convert to a finite float64


def _record_is_clean(schema: Schema, record: Mapping[Any, Any], *, strict: bool) -> bool:
    """Whether a dict record certainly has no problem, checked in plain Python.

    Conservative: ``True`` only for values whose check is unambiguous (exact Python types,
    no bound or allowed-value violation); anything else returns ``False`` and takes the
    table path, which finds and words every problem. Serving requests are mostly clean,
    so they skip the cost of building a one-row table.
    """
    if strict and len(record) != len(schema.columns):
        return False
    for col in schema.columns:
        try:
            v = record[col.name]
        except KeyError:
            return False
        kind = type(v)
        if v is None or (kind is float and v != v):  # noqa: PLR0124 - NaN test
            if not col.nullable:
                return False
            continue
        dtype = col.dtype
        if dtype is LogicalType.FLOAT:
            if kind is not float and kind is not int:
                return False
            if kind is float and not -math.inf < v < math.inf:
                return False
            if kind is int and v.bit_length() > _FLOAT_BITS:
                return False
        elif dtype is LogicalType.INT:
            if kind is not int or v.bit_length() > _FLOAT_BITS:
                return False
        elif dtype is LogicalType.BOOL:
            if kind is not bool:
                return False
        elif dtype is LogicalType.DATETIME:
            # A Timestamp in the column's zone, or naive in a naive column (as in
            # prodml.serving's compiled check, which must answer as this does).
            if kind is not pd.Timestamp or not 1677 < v.year < 2262:  # edges: range
                return False
            if col.timezone is None:
                if v.tzinfo is not None:
                    return False
            elif not value_in_zone(col.timezone, v.tzinfo):
                return False
        elif kind is not str:
            return False
        if (col.min is not None and v < col.min) or (col.max is not None and v > col.max):
            return False
        if col.allowed is not None and v not in col.allowed:
            return False
    return True
