"""FeaturePipeline: fit once, transform batches and single records identically.

Composition: each input column flows through the steps that name it, in pipeline order
(a column named by Impute and then StandardScale is scaled after imputation). Outputs are
the final representation of each column, columns in order of first appearance in the
steps: a number column gives one output named after it, an encoder gives its own outputs.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import pyarrow as pa

from prodml._data import (
    Columns,
    is_tabular,
    iter_columns,
    type_name,
)
from prodml._params import TypeOf, check_params
from prodml._quote import short_repr
from prodml._state import Field, check_format_version, load_json
from prodml.errors import ConfigError, NotFittedError, SchemaError, SchemaProblem
from prodml.features._base import NUMBER, TEXT, TIME, Floats, Step, null_error
from prodml.features._distributed import DistributedFit
from prodml.features._partition import open_pass
from prodml.features._pipeline_names import NamesAndParams
from prodml.features._pipeline_state import (
    _MAX_STEPS,
    FORMAT_VERSION,
    _check_fill_kinds,
    _jsonable,
    _load_schema,
    _load_step,
)
from prodml.features._pipeline_state import STEP_TYPES as STEP_TYPES  # noqa: PLC0414
from prodml.features._program import (
    KINDS,
    Program,
    chunk_source,
    input_error,
    null_rows,
    raw_value,
    read_values,
)
from prodml.features._record import RecordFn, build_record_fn, exact_width
from prodml.features._sklearn import BaseEstimator, TransformerMixin
from prodml.features._texts import read_texts
from prodml.fingerprint import canonical_json, fingerprint_spec
from prodml.schema import Schema

# STEP_TYPES is re-exported (X as X) from _pipeline_state, where the saved-state helpers
# moved; the names and scikit-learn side of FeaturePipeline is the NamesAndParams mixin.
__all__ = ["ExtraColumnWarning", "FeaturePipeline"]

# Held while a pipeline compiles its record path or installs new programs: compiling is
# pure Python under the GIL, so one lock for all pipelines costs no parallelism.
_COMPILING = threading.Lock()


class ExtraColumnWarning(UserWarning):
    """Input has columns the pipeline did not see at fit (ignored unless ``strict``)."""


def _named(X: Any) -> Any:  # noqa: N803 - scikit-learn's name
    """A 2-D numpy array as a DataFrame with scikit-learn's names ``x0``, ``x1``, ...

    So that the pipeline works on unnamed data inside scikit-learn (steps then name the
    columns ``"x0"``...); other inputs pass through. Sparse matrices are refused.
    """
    if isinstance(X, np.ndarray):
        problem = None
        if X.ndim != 2:
            problem = (
                f"a numpy input must be 2-D (rows x columns); got shape {X.shape}. Reshape "
                "your data with array.reshape(-1, 1) for a single feature"
            )
        elif X.shape[1] == 0:
            problem = f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        elif X.shape[0] == 0:
            problem = f"0 sample(s) (shape={X.shape}) while a minimum of 1 is required."
        if problem is not None:
            raise SchemaError(problems=[SchemaProblem(None, "input", problem)])
        if np.iscomplexobj(X):
            raise SchemaError(problems=[SchemaProblem(None, "input", "Complex data not supported")])
        return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])], copy=False)
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):  # a scipy sparse matrix or array
        raise SchemaError(
            problems=[
                SchemaProblem(None, "input", "sparse input is not supported; pass a dense table")
            ]
        )
    return X


class FeaturePipeline(DistributedFit, NamesAndParams, TransformerMixin, BaseEstimator):
    """A fitted chain of feature steps with identical batch and single-record paths.

    Parameters
    ----------
    steps
        Steps from :mod:`prodml.features.steps`, each naming its input columns.
    strict
        Whether input columns not seen at fit are a SchemaError (else a warning).

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.features import FeaturePipeline, steps
    >>> df = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", "a"]})
    >>> pipe = FeaturePipeline(
    ...     [
    ...         steps.Impute(["x"], strategy="median"),
    ...         steps.StandardScale(["x"]),
    ...         steps.OneHot(["c"]),
    ...     ]
    ... ).fit(df)
    >>> pipe.feature_names_out
    ['x', 'c=a', 'c=b']
    >>> pipe.transform_record({"x": None, "c": "b"})
    array([0., 0., 1.])
    >>> bool((pipe.transform(df)[1] == pipe.transform_record({"x": None, "c": "b"})).all())
    True
    """

    def __init__(self, steps: Sequence[Step], *, strict: bool = False) -> None:
        self.steps: Sequence[Step] = steps
        self.strict = strict

    # -- layout ---------------------------------------------------------------------

    def _check_params(self) -> None:
        check_params(
            "FeaturePipeline",
            {"steps": self.steps, "strict": self.strict},
            {
                "steps": [TypeOf(list | tuple, "a list of steps")],  # type: ignore[arg-type]
                "strict": [TypeOf(bool, "a bool")],
            },
        )
        if not self.steps:
            raise ConfigError("FeaturePipeline needs at least one step", parameter="steps")
        for i, step in enumerate(self.steps):
            if not isinstance(step, Step):
                raise ConfigError(
                    f"steps[{i}] of FeaturePipeline must be a prodml.features step; got "
                    f"{type_name(step)}",
                    parameter="steps",
                )
            step.validate_params()

    def _programs(self, schema: Schema) -> list[Program]:
        order: dict[str, list[Step]] = {}
        for step in self.steps:
            for col in step.columns:
                chain = order.setdefault(col, [])
                if chain and chain[-1].terminal:
                    raise ConfigError(
                        f"column {short_repr(col)} is already encoded by "
                        f"{type(chain[-1]).__name__}; "
                        f"{type(step).__name__} cannot follow it",
                        parameter="steps",
                    )
                chain.append(step)
        missing = [c for c in order if c not in schema]
        if missing:
            raise SchemaError(
                problems=[
                    SchemaProblem(c, "missing", "column is missing from the input") for c in missing
                ]
            )
        programs = []
        for col, chain in order.items():
            kind = KINDS.get(schema[col].dtype.value, TIME)
            kinds = [kind]
            for step in chain:
                kinds.append(step.out_kind(col, kinds[-1]))
            if not chain[-1].terminal and kinds[-1] != NUMBER:
                raise ConfigError(
                    f"column {short_repr(col)} is still {kinds[-1]} after its last step; end it "
                    "with " + ("OneHot, Ordinal or Hashing" if kinds[-1] == TEXT else "DateParts"),
                    parameter="steps",
                )
            null_at = next((i for i, s in enumerate(chain) if not s.takes_nulls), len(chain))
            zone = schema[col].timezone if kind == TIME else None
            programs.append(
                Program(
                    col, kind, chain, kinds[:-1], null_at, dtype=schema[col].dtype.value, zone=zone
                )
            )
        return programs

    def _run(self, p: Program, cols: Columns, values: Any, start: int, stop: int) -> Any:
        """Apply steps ``[start, stop)``, checking nulls where they must be gone."""
        for j in range(start, stop + 1):
            if j == p.null_at:
                rows = null_rows(values, p.kinds[j] if j < len(p.kinds) else NUMBER)
                if rows.size:
                    where = type(p.steps[j]).__name__ if j < len(p.steps) else "the output"
                    row = int(rows[0])
                    raise null_error(p.column, raw_value(cols, p.column, row), row, where)
            if j < stop:
                values = p.steps[j].transform_values(p.column, values, p.kinds[j])
        return values

    # -- fit ------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> FeaturePipeline:  # noqa: N803 - scikit-learn's name
        """Fit every step, in as many passes over the data as the chains need.

        Parameters
        ----------
        X
            A DataFrame, Table or RecordBatch, or an iterable of them (chunks). Pass a
            re-iterable (a list, a ``ParquetFile``, a pyarrow Dataset) to keep memory
            bounded: a one-shot iterator is buffered when more than one pass is needed.
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        FeaturePipeline
            ``self``.

        Raises
        ------
        SchemaError
            For a missing column, a column of the wrong type, or a null a step cannot take.
        ConfigError
            For invalid step parameters or chains.

        Notes
        -----
        A fit that raises (whatever the error) leaves the pipeline and its steps as they
        were: a failed refit keeps the previous fit's answers everywhere.
        """
        self._check_params()
        X = _named(X)  # noqa: N806 - scikit-learn's name
        if is_tabular(X):
            single: Columns | None = Columns(X, categorical_values=True)
            source: Any = X
        elif not chunk_source(X):
            raise input_error(X)
        else:
            single = None
            source = list(X) if isinstance(X, Iterator) else X
        # One table: infer reads the same view, so each column is looked up once per fit.
        schema = Schema.infer(single if single is not None else source, nullable="always")
        programs = self._programs(schema)
        # A fit that raises part-way leaves every step as it was: a refit's failure
        # (a null or a type a later step meets) kept the steps before it refitted and
        # the later ones reset, under the old programs and their compiled record path.
        # ``start_fit`` replaces the fitted dicts, so a shallow copy keeps the old ones.
        saved = [dict(vars(step)) for step in self.steps]
        try:
            self._fit_programs(schema, programs, single, source)
        except BaseException:
            for step, before in zip(self.steps, saved, strict=True):
                vars(step).clear()
                vars(step).update(before)
            raise
        return self

    def _fit_programs(
        self, schema: Schema, programs: list[Program], single: Columns | None, source: Any
    ) -> None:
        """Fit the steps through ``programs``, then install them (see :meth:`fit`)."""
        for step in self.steps:
            step.start_fit()
        cache: dict[str, tuple[int, Any]] = {}
        pos = {p.column: 0 for p in programs}
        last: dict[str, int] = {}  # each column's last stateful step
        while True:
            states = open_pass(programs, pos)
            if not states:
                break
            chunks = (
                [single] if single is not None else iter_columns(source, categorical_values=True)
            )
            for cols in chunks:
                texts = read_texts(
                    cols,
                    [
                        p.column
                        for p in programs
                        if p.kind == TEXT and p.column in states and p.column not in cache
                    ],
                )
                for p in programs:
                    if p.column not in states:
                        continue
                    i, state = states[p.column]
                    start, values = cache.get(p.column, (0, texts.get(p.column)))
                    if values is None:
                        values = read_values(cols, p.column, p.kind, p.dtype, p.zone)
                    values = self._run(p, cols, values, start, i)
                    if single is not None:
                        cache[p.column] = (i, values)
                    if len(values):
                        p.steps[i].update_state(state, values, p.kinds[i])
            for p in programs:
                if p.column in states:
                    i, state = states[p.column]
                    p.steps[i].finalize(p.column, state, p.kinds[i])
                    pos[p.column] = i + 1
                    last[p.column] = i
        self._check_tails(programs, last, single, source, cache)
        self._compile(schema, programs)

    def _check_tails(
        self,
        programs: list[Program],
        last: dict[str, int],
        single: Columns | None,
        source: Any,
        cache: dict[str, tuple[int, Any]],
    ) -> None:
        """Fit rejects what transform would: run the steps no fit pass reached, if needed.

        A number column with no stateful step was never read (so never checked against
        the number rule), and a step with a domain (Log1p) after the last stateful one
        never saw the data. Their checks run here: on the cached values for one table,
        in one more pass over chunks otherwise (only when such a column exists).
        """
        tails = [
            p
            for p in programs
            if (p.kind == NUMBER and p.column not in last)
            or any(s.has_domain for s in p.steps[last.get(p.column, -1) + 1 : p.n_values])
        ]
        if not tails:
            return
        chunks = [single] if single is not None else iter_columns(source, categorical_values=True)
        for cols in chunks:
            for p in tails:
                start, values = cache.get(p.column, (0, None))
                if values is None:
                    start, values = 0, read_values(cols, p.column, p.kind, p.dtype, p.zone)
                self._run(p, cols, values, start, p.n_values)

    def _compile(self, schema: Schema, programs: list[Program]) -> None:
        names: list[str] = []
        for p in programs:
            p.offset = len(names)
            enc = p.encoder
            names.extend(enc.names_out(p.column) if enc is not None else [p.column])
            p.width = len(names) - p.offset
        with _COMPILING:  # a record compiled meanwhile was compiled from the old programs
            self.input_schema_ = schema
            self.n_features_in_: int = len(schema)  # scikit-learn's name for the input width
            self.feature_names_out_ = names
            self.programs_ = programs
            self._known = frozenset(schema.names)
            self._n_read = exact_width(self._known, programs)
            # The record path compiles on the first record (see _record_path), not here:
            # at 1,000 columns compiling it was a fifth of the fit, and most fitted
            # pipelines never see a single record.
            self.__dict__.pop("_record_fn", None)

    def _record_path(self) -> RecordFn:
        """The compiled record function, compiled now if this is the first record.

        Under a lock: threads asking at once compile once, and each gets the function
        of the programs the pipeline holds.
        """
        with _COMPILING:
            fn: RecordFn | None = self.__dict__.get("_record_fn")
            if fn is None:
                fn = build_record_fn(self.programs_, len(self.feature_names_out_))
                self._record_fn = fn
            return fn

    def __getstate__(self) -> dict[str, Any]:
        # The compiled record path is code, not data: compiled again on the first record.
        state: dict[str, Any] = dict(super().__getstate__())  # a copy: never the live __dict__
        state.pop("_record_fn", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.pop("_record_fn", None)  # pickled by a version that kept it
        if "programs_" in state:
            for p in self.programs_:  # pickled before programs kept the fitted zone
                p.zone = self.input_schema_[p.column].timezone if p.kind == TIME else None
            self._n_read = exact_width(self._known, self.programs_)

    # -- checks ---------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "programs_"):
            raise NotFittedError(
                "This FeaturePipeline is not fitted yet; call fit(data) first",
                estimator="FeaturePipeline",
            )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "programs_")

    def _extra(self, names: Iterable[str]) -> None:
        extra = [n for n in names if n not in self._known]
        if not extra:
            return
        if self.strict:
            raise SchemaError(
                problems=[SchemaProblem(n, "extra", "column was not seen at fit") for n in extra]
            )
        warnings.warn(
            f"ignoring columns not seen at fit: {extra}", ExtraColumnWarning, stacklevel=3
        )

    # -- transform ------------------------------------------------------------------

    @overload
    def transform(
        self,
        X: Any,  # noqa: N803 - scikit-learn's name
        output: Literal["numpy"] = "numpy",
    ) -> Floats: ...
    @overload
    def transform(self, X: Any, output: Literal["pandas"]) -> pd.DataFrame: ...  # noqa: N803
    @overload
    def transform(self, X: Any, output: Literal["arrow"]) -> pa.Table: ...  # noqa: N803
    @overload
    def transform(
        self,
        X: Any,  # noqa: N803 - scikit-learn's name
        output: Literal["numpy", "pandas", "arrow"],
    ) -> Floats | pd.DataFrame | pa.Table: ...
    def transform(
        self,
        X: Any,  # noqa: N803 - scikit-learn's name
        output: Literal["numpy", "pandas", "arrow"] = "numpy",
    ) -> Floats | pd.DataFrame | pa.Table:
        """Transform a batch (or an iterable of chunks, stacked) into features.

        Parameters
        ----------
        X
            A DataFrame, Table, RecordBatch, or an iterable of them.
        output
            ``"numpy"``: a 2-D float64 array (Fortran order, one column per feature);
            ``"pandas"`` or ``"arrow"``: a table with :attr:`feature_names_out` columns.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        SchemaError
            Naming the column and value at fault.
        """
        self._check_fitted()
        if output not in ("numpy", "pandas", "arrow"):
            raise ConfigError(
                "The 'output' parameter of FeaturePipeline.transform must be one of "
                f"{{'arrow', 'numpy', 'pandas'}}. Got {short_repr(output)} instead.",
                parameter="output",
            )
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] != self.n_features_in_:
            # Positional columns: another width cannot be the same input.
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        None,
                        "input",
                        f"X has {X.shape[1]} features, but FeaturePipeline is expecting "
                        f"{self.n_features_in_} features as input",
                    )
                ]
            )
        X = _named(X)  # noqa: N806 - scikit-learn's name
        if is_tabular(X):
            out = self._transform_cols(Columns(X, categorical_values=True))
        elif not chunk_source(X):
            raise input_error(X)
        else:
            parts = [
                self._transform_cols(cols) for cols in iter_columns(X, categorical_values=True)
            ]
            out = (
                np.asfortranarray(np.vstack(parts))
                if parts
                else np.empty((0, len(self.feature_names_out_)))
            )
        if output == "pandas":
            index = X.index if isinstance(X, pd.DataFrame) else None
            return pd.DataFrame(out, columns=self.feature_names_out_, index=index)
        if output == "arrow":
            return pa.table({n: out[:, j] for j, n in enumerate(self.feature_names_out_)})
        return out

    def _transform_cols(self, cols: Columns) -> Floats:
        missing = [p.column for p in self.programs_ if p.column not in cols]
        if missing:
            raise SchemaError(
                problems=[
                    SchemaProblem(c, "missing", "column is missing from the input") for c in missing
                ]
            )
        self._extra(cols.names)
        out = np.empty((cols.num_rows, len(self.feature_names_out_)), order="F")
        texts = read_texts(cols, [p.column for p in self.programs_ if p.kind == TEXT])
        for p in self.programs_:
            values = texts.get(p.column)
            if values is None:
                values = read_values(cols, p.column, p.kind, p.dtype, p.zone)
            values = self._run(p, cols, values, 0, p.n_values)
            enc = p.encoder
            if enc is None:
                out[:, p.offset] = values
            else:
                enc.write_batch(
                    p.column, values, out[:, p.offset : p.offset + p.width], p.kinds[-1]
                )
        return out

    def transform_record(self, record: Mapping[str, Any]) -> Floats:
        """Transform one dict record; equal bit for bit to its row of :meth:`transform`.

        Uses no pandas: plain Python over parameters precomputed at fit.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        SchemaError
            Naming the column and value at fault.
        """
        try:
            fn = self._record_fn
        except AttributeError:
            self._check_fitted()
            fn = self._record_path()  # the first record since fit or load
        if type(record) is dict and len(record) == self._n_read:
            # The record path reads every input column and raises on a missing one: when
            # it succeeds on a dict of as many keys, there is no other key to report.
            try:
                return fn(record)
            except SchemaError:
                pass  # the checks below word the problem as they always have
        elif type(record) is not dict and not isinstance(record, Mapping):
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        None, "input", f"a record must be a dict; got {type_name(record)} instead"
                    )
                ]
            )
        if not self._known.issuperset(record):
            self._extra(record)
        return fn(record)

    def accepts_missing(self, column: str) -> bool:
        """Whether a null in input ``column`` transforms (``None``, NaN, NaT, ``pd.NA``).

        The fitted :attr:`input_schema` marks every column nullable (it describes the data
        seen, not the steps); this says what :meth:`transform` and :meth:`transform_record`
        do: a column whose first step takes nulls (``Impute`` fills them, ``Passthrough``
        hands them on as NaN) or that no step reads accepts them, any other refuses them
        with a ``SchemaError`` (``kind="null"``). A request contract built from the
        pipeline, such as the OpenAPI document of :func:`prodml.serving.create_app`,
        uses it to say which columns may be null.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        SchemaError
            For a column not seen at fit.
        ConfigError
            For a ``column`` that is not a ``str``.

        Examples
        --------
        >>> import pandas as pd
        >>> from prodml.features import FeaturePipeline, steps
        >>> df = pd.DataFrame({"x": [1.0, None, 3.0], "z": [1.0, 2.0, 3.0]})
        >>> pipe = FeaturePipeline([steps.Impute(["x"]), steps.StandardScale(["x", "z"])]).fit(df)
        >>> pipe.accepts_missing("x"), pipe.accepts_missing("z")
        (True, False)
        """
        self._check_fitted()
        if type(column) is not str:
            raise ConfigError(
                f"column must be a column name (str), not {type_name(column)}",
                parameter="column",
            )
        if column not in self._known:
            raise SchemaError(
                problems=[SchemaProblem(column, "extra", "column was not seen at fit")]
            )
        for p in self.programs_:
            if p.column == column:
                # Each step that takes nulls either fills them (Impute) or ends the chain
                # (Passthrough): a null reaches the check at null_at only from a first step
                # that cannot take it (tests/features: accepts_missing == transform_record).
                return p.null_at > 0
        return True  # read by no step

    # -- state as data ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The pipeline (parameters and fitted state) as JSON-safe data with a version."""
        fitted = hasattr(self, "programs_")
        return {
            "format_version": FORMAT_VERSION,
            "strict": self.strict,
            "steps": [
                {
                    "type": type(s).__name__,
                    "params": {k: _jsonable(v) for k, v in s.saved_params().items()},
                    "fitted": s.fitted_to_dict() if fitted else None,
                }
                for s in self.steps
            ],
            "input_schema": self.input_schema_.to_dict() if fitted else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeaturePipeline:
        """Rebuild a pipeline from :meth:`to_dict` output, validating all of it.

        Every step's type and parameters, every fitted value (finite means, scales
        > 0, distinct categories, increasing bin edges, one entry per column) and the
        input schema are checked before the pipeline is built. When ``d`` carries a
        ``"fingerprint"`` (as :meth:`to_json` writes), the rebuilt pipeline's
        fingerprint must equal it.

        Raises
        ------
        StateError
            (also a ConfigError) for an unknown format version or step type, or any
            value outside its invariants; the message names the field path
            (``steps[1].fitted.scale_.x``).
        """
        root = Field(d, owner="FeaturePipeline")
        top = root.dict()
        allowed = {"format_version", "strict", "steps", "input_schema", "fingerprint"}
        extra = sorted(set(top) - allowed)
        if extra:
            raise root[extra[0]].fail("absent (not a FeaturePipeline field)")
        check_format_version(top.get("format_version"), FORMAT_VERSION, owner="FeaturePipeline")
        built = [_load_step(spec) for spec in root["steps"].each(max_len=_MAX_STEPS)]
        pipe = cls(built, strict=root["strict"].bool())
        try:
            pipe._check_params()
        except ConfigError as err:
            raise root["steps"].fail(f"a valid list of steps ({err})") from None
        fitted = [spec["fitted"].value is not None for spec in root["steps"].each()]
        schema_field = root["input_schema"]
        if schema_field.value is not None:
            schema_field.check(all(fitted), "null when a step is not fitted")
            schema = _load_schema(schema_field)
            try:
                programs = pipe._programs(schema)
            except (SchemaError, ConfigError) as err:
                raise schema_field.fail(f"a schema the fitted steps accept ({err})") from None
            _check_fill_kinds(pipe, schema, root["steps"])
            pipe._compile(schema, programs)
        else:
            root["steps"].check(not any(fitted), "unfitted steps when input_schema is null")
        expected = root.get("fingerprint")
        if expected is not None:
            expected.str(max_len=64)
            expected.check(
                schema_field.value is not None and pipe.fingerprint == expected.value,
                "the fingerprint of the saved pipeline (the state was changed after saving)",
            )
        return pipe

    def to_json(self) -> str:
        """:meth:`to_dict` as canonical JSON text, with the fitted pipeline's fingerprint.

        :meth:`from_json` recomputes the fingerprint and refuses text whose content no
        longer matches it.
        """
        d = self.to_dict()
        if hasattr(self, "programs_"):
            d["fingerprint"] = self.fingerprint
        return canonical_json(d)

    @classmethod
    def from_json(cls, s: str) -> FeaturePipeline:
        """Rebuild a pipeline from :meth:`to_json` output (see :meth:`from_dict`).

        Raises
        ------
        StateError
            For text that is not JSON, too large or too deeply nested, state that
            fails validation, or a fitted pipeline whose stored fingerprint is
            missing or differs from the rebuilt one.
        """
        d = load_json(s, owner="FeaturePipeline")
        root = Field(d, owner="FeaturePipeline")
        if isinstance(d, Mapping) and d.get("input_schema") is not None:
            root["fingerprint"].str(max_len=64)
        return cls.from_dict(d)

    @property
    def fingerprint(self) -> str:
        """sha256 hex of the fitted pipeline (parameters and every fitted value)."""
        self._check_fitted()
        return fingerprint_spec(self.to_dict())
