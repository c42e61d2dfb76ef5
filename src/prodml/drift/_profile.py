"""Mergeable per-column summaries of a table, the input of every batch drift test.

A :class:`Profile` is built chunk by chunk (``update``), combined across partitions
(``merge``) and saved as JSON (``to_json``). Numeric columns keep their exact values up to
``max_exact`` per column (integer columns as int64, so ids past 2**53 stay distinct), then
switch to a log-bucket sketch; categorical columns keep exact counts. See ``docs/drift.md``
for the error bounds of sketched columns.

What a profile keeps about values follows its :class:`~prodml.privacy.Privacy` policy
(``docs/governance.md``): sensitive text columns and columns past ``max_categories``
distinct values keep salted hashes (held as 64-bit token ids, shown as ``pm:`` tokens),
values that look personal are hashed one by one,
and sensitive numeric or datetime columns are kept only as the sketch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from prodml._data import Columns, iter_columns, py_value, type_name, type_problem
from prodml._data import _first_non_null as first_non_null
from prodml._params import Interval, check_params
from prodml._progress import chunk_progress
from prodml._quote import short_repr
from prodml._state import Field, check_format_version, load_json, loading
from prodml.drift._columns import (
    CategoricalColumn,
    ColumnState,
    FloatArray,
    IntArray,
    NumericColumn,
    UIntArray,
    _decode,
    _sketch,
)
from prodml.errors import ConfigError, DriftError, ProdMLError, SchemaError, SchemaProblem
from prodml.privacy import Privacy, check_privacy, is_token, token_strings

__all__ = ["MAX_EXACT", "CategoricalColumn", "NumericColumn", "Profile"]

MAX_EXACT = 100_000_000
"""Largest ``max_exact``: 800 MB of exact values per numeric column (a ConfigError above)."""
FORMAT_VERSION = 3  # 2: the privacy policy and salt id; hashed categorical columns
# 3: exact integer columns as int64 ("int_points"); a state without one is written as 2,
# which readers of 2 (before integers were kept exact) still read.
_READABLE_VERSIONS = (1, 2, 3)
_KINDS = {
    "float": "numeric",
    "int": "numeric",
    "datetime": "datetime",
    "string": "categorical",
    "category": "categorical",
    "bool": "categorical",
    "null": "null",
}


class _Counts:
    """Counts of distinct categories to add to a column: raw values, or token ids."""

    __slots__ = ("counts", "ids", "values")

    def __init__(
        self, counts: IntArray, values: list[Any] | None = None, ids: UIntArray | None = None
    ) -> None:
        self.counts, self.values, self.ids = counts, values, ids

    @classmethod
    def of(cls, counts: dict[Any, int]) -> _Counts:
        return cls(np.fromiter(counts.values(), np.int64, len(counts)), list(counts))

    @classmethod
    def of_column(cls, state: CategoricalColumn) -> _Counts:
        if state.ids is not None and state.id_counts is not None:
            return cls(state.id_counts, ids=state.ids)
        return cls.of(state.counts)

    def as_dict(self) -> dict[Any, int]:
        """Counts per value (per token string when held as ids)."""
        if self.values is not None:
            values: list[Any] = self.values
        else:
            assert self.ids is not None  # noqa: S101
            values = token_strings(self.ids)  # the ids are the hashes
        return dict(zip(values, self.counts.tolist(), strict=True))

    def token_ids(self, policy: Privacy) -> tuple[UIntArray, IntArray]:
        """Token ids of the values (tokens map to their own) and their counts."""
        if self.ids is not None:
            return self.ids, self.counts
        assert self.values is not None  # noqa: S101
        return policy.token_ids(self.values), self.counts


def _category_counts(cols: Columns, name: str) -> tuple[_Counts, int]:
    """Distinct non-null categories of a column with their counts, and the null count."""
    raw = cols.raw(name)
    if isinstance(raw, pd.Series) and isinstance(raw.dtype, pd.CategoricalDtype):
        codes = raw.cat.codes.to_numpy()
        valid = codes >= 0
        binc = np.bincount(codes[valid], minlength=len(raw.cat.categories))
        cats = list(raw.cat.categories)
        counts = {py_value(cats[i]): int(c) for i, c in enumerate(binc) if c}
        return _Counts.of(counts), int((~valid).sum())
    arr = cols.arrow(name)
    parts: list[tuple[list[Any], IntArray]] = []
    for chunk in arr.chunks:
        if pa.types.is_dictionary(chunk.type):
            idx = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            binc = np.bincount(idx[idx >= 0], minlength=len(chunk.dictionary))
            seen = np.flatnonzero(binc)
            values, n = chunk.dictionary.take(pa.array(seen)), binc[seen]
        else:
            vc = pc.value_counts(chunk)
            values, n = vc.field(0), vc.field(1).to_numpy(zero_copy_only=False)
        if values.null_count:
            keep = values.is_valid()
            values, n = values.filter(keep), n[keep.to_numpy(zero_copy_only=False)]
        parts.append((values.to_pylist(), n.astype(np.int64)))
    if len(parts) == 1:
        values_list, n = parts[0]
        if pa.types.is_dictionary(arr.type) and len(set(values_list)) < len(values_list):
            return _Counts.of(_summed(parts)), int(arr.null_count)  # a repeated entry
        return _Counts(n, values_list), int(arr.null_count)
    return _Counts.of(_summed(parts)), int(arr.null_count)


def _summed(parts: list[tuple[list[Any], IntArray]]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for values, n in parts:
        for value, c in zip(values, n.tolist(), strict=True):
            out[value] = out.get(value, 0) + c
    return out


def _int_values(cols: Columns, name: str) -> tuple[IntArray, int] | None:
    """An integer column's non-null values as int64 (a private copy) and its null count.

    ``None`` when they do not fit int64 (uint64 values past 2**63 - 1): the column is then
    read as float64, as every column was before integers were kept exact.
    """
    raw = cols.raw(name)
    if isinstance(raw, pd.Series) and isinstance(raw.dtype, np.dtype) and raw.dtype.kind in "iu":
        values, n_null = raw.to_numpy(), 0  # a numpy int dtype holds no null
    else:
        arr = cols.arrow(name)
        if not pa.types.is_integer(arr.type):  # pragma: no cover - an "int" kind is arrow ints
            return None
        n_null = arr.null_count
        values = (arr.drop_null() if n_null else arr).to_numpy()
    if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
        return None
    return values.astype(np.int64, copy=True), n_null


def _numeric_values(
    cols: Columns, name: str, kind: str, observed: str = ""
) -> tuple[FloatArray | IntArray, int]:
    """Finite non-null values (a private copy) and the number of nulls.

    Integer columns (``observed == "int"``) are kept as int64: as float64, integers past
    2**53 round (2**53 + 1 reads as 2**53), and samples that differ would compare equal.
    """
    if observed == "int":
        ints = _int_values(cols, name)
        if ints is not None:
            return ints
    if kind == "datetime":
        ns = cols.datetime64(name).astype("int64")
        valid = ns != np.iinfo(np.int64).min
        return ns[valid].astype(np.float64) / 1e9, int((~valid).sum())
    x = cols.float64(name)
    if np.isfinite(x).all():  # the common case: one pass, then the copy the profile owns
        return x.copy(), 0
    nan = np.isnan(x)
    inf = np.isinf(x)
    if inf.any():
        first = int(np.flatnonzero(inf)[0])
        raise DriftError(
            f"column {short_repr(name)} holds {int(inf.sum())} infinite value(s) (first at row "
            f"{first} "
            "of its chunk); drift tests need finite numbers: drop, clip or null them first",
            column=name,
        )
    return x[~nan], int(nan.sum())


class Profile:
    """Mergeable summary of a table, column by column, for drift tests.

    Not thread-safe: give each thread (or chunk, or partition) its own profile and
    :meth:`merge` them, or hold a lock around :meth:`update`.

    Parameters
    ----------
    max_exact
        Numeric columns keep exact values up to this many non-null values (8 bytes each);
        beyond, a log-bucket sketch whose KS statistic is within a reported bound of the
        exact one. The default, 100,000, keeps a profile of any size in bounded memory.
        At most :data:`MAX_EXACT` (100,000,000); a ConfigError above.
    relative_accuracy
        Relative error of a value in the sketch (bucket width).
    columns
        Profile only these columns (others in the data are ignored); ``None`` for all.
    privacy
        What the profile may keep about values (:class:`~prodml.privacy.Privacy`); the
        default policy hashes values that look personal and text columns with more than
        1,000 distinct values. Profiles compared or merged must share the salt.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"x": [1.0, 2.0], "c": ["u", "v"]})
    >>> b = pd.DataFrame({"x": [3.0, None], "c": ["u", None]})
    >>> merged = Profile().update(a).merge(Profile().update(b))
    >>> merged == Profile().update([a, b])
    True
    >>> merged.n_rows, merged.kinds
    (4, {'x': 'numeric', 'c': 'categorical'})
    >>> Profile.from_json(merged.to_json()) == merged
    True

    Values that look personal are kept only as salted hashes:

    >>> p = Profile().update(pd.DataFrame({"who": ["ann@example.com", "bob"]}))
    >>> sorted(k[:3] for k in p.columns["who"].counts)
    ['bob', 'pm:']
    """

    def __init__(
        self,
        *,
        max_exact: int = 100_000,
        relative_accuracy: float = 1e-3,
        columns: Sequence[str] | None = None,
        privacy: Privacy | None = None,
    ) -> None:
        self.privacy: Privacy = check_privacy("Profile", privacy)
        # The salt the hashes in this profile were made with (a saved profile keeps its own).
        self.salt_id: str = self.privacy.salt_id
        self.max_exact = max_exact
        self.relative_accuracy = relative_accuracy
        if columns is not None and (isinstance(columns, str) or not isinstance(columns, Iterable)):
            raise ConfigError(
                "The 'columns' parameter of Profile must be a list of column names or None. "
                f"Got {type_name(columns)} instead.",
                parameter="columns",
            )
        self.select: list[str] | None = None if columns is None else list(columns)
        self.n_rows: int = 0
        self.columns: dict[str, ColumnState | None] = {}
        self._started = False
        # Nulls of columns that were entirely null so far (no kind known yet).
        self._null_rows: dict[str, int] = {}

    @property
    def log_gamma(self) -> float:
        """Natural log of the sketch's bucket growth factor."""
        a = self.relative_accuracy
        return math.log((1 + a) / (1 - a))

    @property
    def kinds(self) -> dict[str, str]:
        """Kind of each column: ``numeric``, ``datetime``, ``categorical`` or ``null``."""
        return {n: ("null" if s is None else s.kind) for n, s in self.columns.items()}

    def _check(self) -> None:
        check_params(
            "Profile",
            {"max_exact": self.max_exact, "relative_accuracy": self.relative_accuracy},
            {
                "max_exact": [Interval(int, 10_000, MAX_EXACT)],
                "relative_accuracy": [Interval(float, 0, 0.1, "neither")],
            },
        )

    @classmethod
    def from_data(cls, data: object, **params: Any) -> Profile:
        """Profile of a table or an iterable of chunks in one call."""
        return cls(**params).update(data)

    def update(self, data: object, *, progress: bool | None = None) -> Profile:
        """Add a table, or every chunk of an iterable of tables; return ``self``.

        Out of core, an iterable of chunks shows a bar counting rows on stderr when it is
        a terminal (``progress=None``); ``progress=False`` never draws one, ``True``
        always does. A single table never shows one.

        Raises
        ------
        SchemaError
            A chunk whose columns differ from the first chunk's, or a column whose type
            changes (numeric in one chunk, text in another).
        DriftError
            A numeric column holding an infinite value.
        """
        self._check()
        chunks = iter_columns(data, what="data to profile")
        for cols in chunk_progress(chunks, desc="profiling", enabled=progress):
            self._update_one(cols)
        return self

    def _update_one(self, cols: Columns) -> None:
        if self.salt_id != self.privacy.salt_id:
            self._check_salt(self)
        # Selected columns are read in place (no copy of the table).
        names = list(cols.names) if self.select is None else self.select
        if self.select is not None:
            wanted = set(self.select)
            _check_same_columns(self.select, [n for n in cols.names if n in wanted], "data")
        if not self._started:
            self.columns = dict.fromkeys(names)
            self._started = True
        _check_same_columns(list(self.columns), [n for n in names if n in cols])
        for name in self.columns:
            self._update_column(cols, name)
        self.n_rows += cols.num_rows

    def _update_column(self, cols: Columns, name: str) -> None:
        """Add one column of ``cols`` (its name already checked) to its state."""
        info = cols.kind(name)
        sensitive = self.privacy.is_sensitive(name)
        if info.kind == "mixed" and info.row is not None:
            first, _ = first_non_null(cols.raw(name))
            shown = "a value" if sensitive else short_repr(info.example)
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        name,
                        "type",
                        f"the column mixes types: {type_name(first)} values and "
                        f"{type_name(info.example)} {shown}; drift tests "
                        "need one kind per column (a number, datetime or category)",
                        info.row,
                    )
                ]
            )
        if info.kind not in _KINDS:
            raise SchemaError(
                problems=[
                    type_problem(
                        name,
                        "a number, datetime or category",
                        cols.raw(name),
                        info,
                        sensitive=sensitive,
                    )
                ]
            )
        kind = _KINDS[info.kind]
        state = self._state_for(name, kind, cols.num_rows)
        if state is None:
            return
        if isinstance(state, NumericColumn):
            values, n_null = _numeric_values(cols, name, kind, info.kind)
            state.add(values, self._max_exact(name), self.log_gamma)
            if sensitive and state.pure is not None:
                # A bucket's single value is a raw value: never kept for a sensitive column.
                state.pure = np.full(state.pure.size, np.nan)
        else:
            counts, n_null = _category_counts(cols, name)
            self._add_counts(name, state, counts)
        state.n_null += n_null

    def _max_exact(self, name: str) -> int:
        # A sensitive number is never held exactly: the sketch from the first value on.
        return 0 if self.privacy.is_sensitive(name) else self.max_exact

    def _add_counts(self, name: str, state: CategoricalColumn, new: _Counts) -> None:
        """Add distinct categories' counts as the privacy policy allows them to be kept.

        A column hashed whole keeps token ids (no token string is made); the others keep
        a dict of counts per value, with values that look personal hashed one by one.
        """
        pol = self.privacy
        if state.hashed and pol.is_raw(name):
            # A state saved hashed, now opted in to raw values: its tokens stay tokens.
            state.hashed = False
            state.counts = state.counts  # held as a dict from now on
            state.add(pol.tokenize_counts(new.as_dict()))
        elif (
            state.hashed
            or pol.is_sensitive(name)
            or pol.over_limit(name, max(state.n_categories, new.counts.size))
        ):
            # Hashed whole: skip looking for personal values one by one.
            _hash_whole(state, pol)
            state.add_ids(*new.token_ids(pol))
        else:
            counts = new.as_dict()
            held = state.counts
            if held:
                # A value the column holds raw passed this policy when it was first added
                # (a loaded state's were checked again on load): only values new to the
                # column are searched for personal data, not every category per chunk.
                state.add({v: c for v, c in counts.items() if v in held})
                counts = {v: c for v, c in counts.items() if v not in held}
            state.add(pol.protect_counts(name, counts))
            if pol.over_limit(name, state.n_categories):
                _hash_whole(state, pol)

    def _has_tokens(self) -> bool:
        return any(
            isinstance(s, CategoricalColumn) and (s.hashed or any(map(is_token, s.counts)))
            for s in self.columns.values()
        )

    def _apply_privacy(self) -> None:
        """Re-apply the policy to every column (a loaded state is not trusted to have)."""
        for name, state in self.columns.items():
            if isinstance(state, CategoricalColumn):
                counts, state.counts = state.counts, {}
                self._add_counts(name, state, _Counts.of(counts))
            elif (
                isinstance(state, NumericColumn)
                and self.privacy.is_sensitive(name)
                and state.keys is None
            ):
                state.finalize()
                points = state.points if state.points is not None else np.empty(0)
                state.keys, state.counts, pure = _sketch(points, self.log_gamma, is_sorted=True)
                state.pure = np.full(pure.size, np.nan)  # no raw value of a sensitive column
                state.points = None

    def _check_salt(self, *profiles: Profile) -> None:
        """Refuse to mix hashes made with another salt than this profile's policy's."""
        current = self.privacy.salt_id
        for prof in profiles:
            if prof.salt_id != current and prof._has_tokens():
                raise DriftError(
                    "this profile holds values hashed with another salt than the current "
                    "one, so new values would not match them; set the "
                    f"{self.privacy.salt_env} environment variable to one secret for every "
                    "process that builds, updates or merges these profiles"
                )
        self.salt_id = current

    def tokenizer(self) -> Privacy | None:
        """The policy that reproduces this profile's hashes, or ``None`` (another salt)."""
        return self.privacy if self.privacy.salt_id == self.salt_id else None

    def _state_for(self, name: str, kind: str, n_null: int) -> ColumnState | None:
        state = self.columns[name]
        if kind == "null":
            if state is None:
                self.columns[name] = None
                self._null_rows[name] = self._null_rows.get(name, 0) + n_null
                return None
            state.n_null += n_null
            return None
        if state is None:
            state = NumericColumn(kind) if kind != "categorical" else CategoricalColumn()
            state.n_null = self._null_rows.pop(name, 0)
            self.columns[name] = state
        elif state.kind != kind:
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        name, "type", f"column was {state.kind} in earlier data, now {kind}"
                    )
                ]
            )
        return state

    def finalize(self) -> Profile:
        """Sort pending values; idempotent. Called by every reader; return ``self``."""
        for state in self.columns.values():
            if isinstance(state, NumericColumn):
                state.finalize()
        return self

    def _column(self, name: str) -> Any:
        try:
            return self.columns[name]
        except (KeyError, TypeError):
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        name if isinstance(name, str) else None,
                        "missing",
                        f"the profile has no column {short_repr(name)}",
                    )
                ]
            ) from None

    def n_null(self, name: str) -> int:
        """Number of nulls seen in a column.

        Raises
        ------
        SchemaError
            When the profile has no such column.
        """
        state = self._column(name)
        return self._null_rows.get(name, 0) if state is None else state.n_null

    def adopt(self, other: Profile, name: str) -> None:
        """Take column ``name`` (state and nulls) from ``other``, replacing ours."""
        _require_profile(other, "adopt")
        self.columns[name] = other._column(name)
        if other.columns[name] is None:
            self._null_rows[name] = other.n_null(name)

    def merge(self, other: Profile) -> Profile:
        """A new profile of both inputs, equal to profiling their concatenation.

        Raises
        ------
        SchemaError
            When the two profiles have different columns or column kinds.
        DriftError
            When their sketch settings differ, or ``other`` is not a Profile.
        """
        _require_profile(other, "merge")
        if (self.max_exact, self.relative_accuracy) != (other.max_exact, other.relative_accuracy):
            raise DriftError(
                "cannot merge profiles built with different max_exact/relative_accuracy"
            )
        self._check_salt(self, other)
        if not self._started:
            return Profile.from_dict(other.to_dict(), privacy=self.privacy)
        out = Profile.from_dict(self.to_dict(), privacy=self.privacy)
        if not other._started:
            return out
        _check_same_columns(list(self.columns), list(other.columns))
        for name, theirs in other.columns.items():
            if theirs is None:
                mine = out.columns[name]
                if mine is None:
                    out._null_rows[name] = out._null_rows.get(name, 0) + other.n_null(name)
                else:
                    mine.n_null += other.n_null(name)
                continue
            mine = out._state_for(name, theirs.kind, 0)
            assert mine is not None  # noqa: S101
            mine.n_null += theirs.n_null
            if isinstance(mine, CategoricalColumn):
                assert isinstance(theirs, CategoricalColumn)  # noqa: S101
                if theirs.hashed and not mine.hashed:
                    _hash_whole(mine, out.privacy)
                out._add_counts(name, mine, _Counts.of_column(theirs))
            else:
                assert isinstance(theirs, NumericColumn)  # noqa: S101
                _merge_numeric(mine, theirs, out._max_exact(name), self.log_gamma)
        out.n_rows += other.n_rows
        return out

    # -- serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state with ``format_version``; arrays as base64 little-endian bytes."""
        self.finalize()
        columns = {
            n: ({"kind": "null", "n_null": self.n_null(n)} if s is None else s.to_dict())
            for n, s in self.columns.items()
        }
        ints = any("int_points" in c for c in columns.values())
        return {
            "format_version": FORMAT_VERSION if ints else 2,
            "max_exact": self.max_exact,
            "relative_accuracy": self.relative_accuracy,
            "n_rows": self.n_rows,
            "started": self._started,
            "privacy": self.privacy.to_dict(),
            "salt_id": self.salt_id,
            "columns": columns,
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], *, privacy: Privacy | None = None) -> Profile:
        """Rebuild a profile saved by :meth:`to_dict`, validating it.

        The saved privacy policy is applied again (a saved state is not trusted to hold
        only what its policy allows); ``privacy`` replaces the saved policy (pass it
        when it had an explicit ``salt``, which is never saved).

        Raises
        ------
        StateError
            (also a DriftError) naming the field at fault: an unknown
            ``format_version``, a column whose counts do not add up to ``n_rows``,
            unsorted or non-finite values, bucket keys out of order.
        """
        root = Field(state, owner="Profile", error=DriftError)
        top = root.dict()
        check_format_version(
            top.get("format_version"), _READABLE_VERSIONS, owner="Profile", error=DriftError
        )
        optional = tuple(k for k in ("privacy", "salt_id") if k in top)
        root.dict(
            keys=("format_version", "max_exact", "relative_accuracy", "n_rows", "started",
                  "columns", *optional)
        )  # fmt: skip
        if privacy is None and "privacy" in top:
            privacy = _load_privacy(root["privacy"])
        try:
            prof = cls(
                max_exact=top["max_exact"],
                relative_accuracy=top["relative_accuracy"],
                privacy=privacy,
            )
            prof._check()
        except (ConfigError, DriftError) as err:
            raise root.fail(f"valid settings ({str(err)[:300]})") from None
        except TypeError:
            raise root.fail("valid settings") from None
        if "salt_id" in top:
            prof.salt_id = root["salt_id"].str(max_len=200)
        n_rows = root["n_rows"].count()
        prof.n_rows = n_rows
        prof._started = root["started"].bool()
        for name, col in root["columns"].items(max_len=10_000_000):
            prof.columns[name] = _load_column(col, n_rows)
            if col["kind"].value == "null":
                prof._null_rows[name] = col["n_null"].count()
        with loading("Profile", DriftError):
            prof._apply_privacy()
        return prof

    def to_json(self) -> str:
        """The state of :meth:`to_dict` as a JSON string."""
        # Not sort_keys: the columns keep the user's order (every other key has a fixed one).
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str, *, privacy: Privacy | None = None) -> Profile:
        """Rebuild a profile saved by :meth:`to_json` (``privacy`` as in :meth:`from_dict`).

        The text is read with a size and nesting-depth limit.
        """
        return cls.from_dict(load_json(text, owner="Profile", error=DriftError), privacy=privacy)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Profile(n_rows={self.n_rows}, columns={self.kinds})"


def _hash_whole(state: CategoricalColumn, policy: Privacy) -> None:
    """Replace a column's raw counts by counts per token id (a no-op once hashed)."""
    if state.hashed and state.ids is not None:
        return
    new = _Counts.of(state.counts)
    state.counts = {}
    state.add_ids(*new.token_ids(policy))
    state.hashed = True


def _merge_numeric(
    mine: NumericColumn, theirs: NumericColumn, max_exact: int, log_gamma: float
) -> None:
    theirs.finalize()
    if theirs.keys is not None:
        assert theirs.counts is not None  # noqa: S101
        if mine.keys is None:
            mine.finalize()
            own = np.empty(0) if mine.points is None else mine.points
            mine.keys, mine.counts, mine.pure = _sketch(own, log_gamma, is_sorted=True)
            mine.points = None
        assert theirs.pure is not None  # noqa: S101
        mine._add_keys(theirs.keys, theirs.counts, theirs.pure)
    elif theirs.points is not None:
        mine.add(theirs.points.copy(), max_exact, log_gamma)
    mine.finalize()


def _load_privacy(f: Field) -> Privacy:
    """The saved privacy policy of a profile; its errors name ``privacy`` (a DriftError)."""
    try:
        with loading("Profile", DriftError):
            return Privacy.from_dict(f.dict())
    except ProdMLError as err:
        raise f.fail(f"a Privacy policy (malformed: {str(err)[:200]})") from None


def _load_column(f: Field, n_rows: int) -> ColumnState | None:
    """One saved column summary, validated: its counts add up to the profile's rows."""
    kind = f["kind"].str(choices=("null", "categorical", "numeric", "datetime"))
    n_null = f["n_null"].int(lo=0, hi=n_rows)
    if kind == "null":
        f.dict(keys=("kind", "n_null"))
        f["n_null"].check(n_null == n_rows, f"the profile's n_rows ({n_rows}) for a null column")
        return None
    if kind == "categorical":
        hashed = "hashed" in f.dict()
        f.dict(keys=("kind", "n_null", "counts", *(("hashed",) if hashed else ())))
        counts: dict[Any, int] = {}
        for pair in f["counts"].each(max_len=n_rows):
            key_f, count_f = pair.each(length=2)
            key = key_f.value
            ok = isinstance(key, str | bool | int) or (
                isinstance(key, float) and math.isfinite(key)
            )
            key_f.check(
                ok and key not in counts, "a category (str, bool or number) not seen before"
            )
            counts[key] = count_f.int(lo=1, hi=n_rows)
        seen = n_null + sum(counts.values())
        f["counts"].check(
            seen == n_rows, f"counts adding up to n_rows - n_null ({n_rows - n_null})"
        )
        return CategoricalColumn(
            n_null=n_null, counts=counts, hashed=f["hashed"].bool() if hashed else False
        )
    out = NumericColumn(kind, n_null=n_null)
    if "int_points" in f.dict() and kind == "numeric":
        f.dict(keys=("kind", "n_null", "int_points"))
        ints = _decoded(f["int_points"], "int64")
        f["int_points"].check(bool((ints[1:] >= ints[:-1]).all()), "sorted values")
        out.points = ints
    elif "points" in f.dict():
        f.dict(keys=("kind", "n_null", "points"))
        points = _decoded(f["points"], "float64")
        f["points"].check(bool(np.isfinite(points).all()), "finite values")
        f["points"].check(bool((np.diff(points) >= 0).all()), "sorted values")
        out.points = points
    else:
        fields = set(f.dict())
        saved_pure = "pure" in fields
        f.dict(keys=("kind", "n_null", "keys", "counts", *(("pure",) if saved_pure else ())))
        keys, counts_arr = _decoded(f["keys"], "int64"), _decoded(f["counts"], "int64")
        f["counts"].check(len(keys) == len(counts_arr), "one count per key")
        f["keys"].check(bool((np.diff(keys) > 0).all()), "increasing bucket keys")
        f["counts"].check(bool((counts_arr >= 1).all()), "counts >= 1")
        # A state saved before purity was kept: every bucket unknown, so impure (NaN).
        pure = _decoded(f["pure"], "float64") if saved_pure else np.full(keys.size, np.nan)
        if saved_pure:
            f["pure"].check(len(pure) == len(keys), "one value (or NaN) per key")
            f["pure"].check(not bool(np.isinf(pure).any()), "finite values or NaN")
        out.keys, out.counts, out.pure = keys, counts_arr, pure
    f.check(out.count + n_null == n_rows, f"a column summary of n_rows ({n_rows}) values")
    return out


def _decoded(f: Field, dtype: str) -> npt.NDArray[Any]:
    text = f.str(max_len=1 << 31)
    try:
        return _decode(text, dtype)
    except ValueError:  # not base64, or not a whole number of values
        raise f.fail(f"base64 of little-endian {dtype} values") from None


def _check_same_columns(expected: list[str], got: Iterable[str], where: str = "this chunk") -> None:
    got = list(got)
    have, want = set(got), set(expected)  # sets: linear in the number of columns
    problems = [
        SchemaProblem(n, "missing", f"column is missing from {where}")
        for n in expected
        if n not in have
    ]
    problems += [
        SchemaProblem(n, "extra", "column is not in the first chunk") for n in got if n not in want
    ]
    if problems:
        raise SchemaError(problems=problems)


def _require_profile(other: object, method: str) -> None:
    if not isinstance(other, Profile):
        raise DriftError(f"Profile.{method} needs a Profile; got {type_name(other)}")
