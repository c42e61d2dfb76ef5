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
from prodml.features._fitted import FittedState, adopt, copies_of, private_steps
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
from prodml.features._record import RecordFn, build_record_fn
from prodml.features._sklearn import BaseEstimator, TransformerMixin
from prodml.features._texts import read_texts
from prodml.fingerprint import canonical_json, fingerprint_spec
from prodml.schema import Schema

# STEP_TYPES is re-exported (X as X) from _pipeline_state, where the saved-state helpers
# moved; the names and scikit-learn side of FeaturePipeline is the NamesAndParams mixin.
__all__ = ["ExtraColumnWarning", "FeaturePipeline"]

# Held while a pipeline compiles the record path of a fitted state: compiling is pure
# Python under the GIL, so one lock for all pipelines costs no parallelism.
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

    Notes
    -----
    A fitted pipeline may transform from several threads at once, and be refitted
    meanwhile: a fit builds the new state aside (over copies of the steps) and installs it
    in one assignment, so each ``transform`` or ``transform_record`` call reads the old
    fit or the new one, whole, never a mix. ``steps`` show the installed fit's values.
    """

    _fitted: FittedState | None = None
    """Everything a transform reads, swapped whole by each fit (see :mod:`._fitted`)."""

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

    def _programs(self, schema: Schema, steps: Sequence[Step] | None = None) -> list[Program]:
        """Each input column's chain through ``steps`` (the pipeline's own by default)."""
        order: dict[str, list[Step]] = {}
        for step in self.steps if steps is None else steps:
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
        The steps are fitted aside, as copies, and installed with one assignment once
        every one is fitted: a transform in another thread meanwhile answers with the
        previous fit, and a fit that raises (whatever the error) leaves the pipeline and
        its steps as they were.
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
        # Fitted aside: ``start_fit`` replaces a copy's fitted dicts, so the installed
        # state (and a transform reading it now) keeps the old ones. A refit that raised
        # part-way once left the steps before the failure refitted and the later ones
        # reset; a copy that raises is dropped, and nothing was changed.
        fitting = copies_of(self.steps)
        programs = self._programs(schema, fitting)
        self._fit_programs(programs, fitting, single, source)
        self._install(schema, programs, fitting)
        return self

    def _fit_programs(
        self, programs: list[Program], fitting: list[Step], single: Columns | None, source: Any
    ) -> None:
        """Fit the steps ``fitting`` (those ``programs`` hold) over the data."""
        for step in fitting:
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

    def _install(
        self, schema: Schema, programs: list[Program], fitted: Sequence[Step] | None = None
    ) -> None:
        """Make ``programs`` the fitted state, in one assignment.

        ``programs`` hold steps no other state holds (a fit's copies, or copies made
        here): a later fit changes ``self.steps`` in place, never them. ``fitted``, the
        copies in ``self.steps`` order, are then shown on ``self.steps``.
        """
        names: list[str] = []
        for p in programs:
            p.offset = len(names)
            enc = p.encoder
            names.extend(enc.names_out(p.column) if enc is not None else [p.column])
            p.width = len(names) - p.offset
        if fitted is None:
            programs = private_steps(programs)
        self._fitted = FittedState(schema, programs, names)
        self._show(self._fitted)
        if fitted is not None:
            adopt(self.steps, fitted)

    def _show(self, state: FittedState) -> None:
        """The fitted attributes scikit-learn's conventions name, as views of ``state``.

        For readers (users, explanations, the serving checks): ``transform`` and
        ``transform_record`` read ``state`` itself, whole.
        """
        self.input_schema_: Schema = state.schema
        self.n_features_in_: int = len(state.schema)  # scikit-learn's name: the input width
        self.feature_names_out_: list[str] = state.feature_names
        self.programs_: list[Program] = state.programs

    def _record_path(self, fitted: FittedState) -> RecordFn:
        """The compiled record function of ``fitted``, compiled now if this is its first.

        Under a lock: threads asking at once compile once, each the function of the
        state it read (a refit meanwhile compiles its own on its first record).
        """
        with _COMPILING:
            fn = fitted.record_fn
            if fn is None:
                fn = fitted.record_fn = build_record_fn(fitted.programs, len(fitted.feature_names))
            return fn

    def __getstate__(self) -> dict[str, Any]:
        return dict(super().__getstate__())  # a copy: never the live __dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        held = self.__dict__
        held.pop("_record_fn", None)  # pickled by a version that kept it
        if "programs_" in held and "_fitted" not in held:  # pickled before FittedState
            schema, programs = held["input_schema_"], held["programs_"]
            for stale in ("_known", "_n_read"):
                held.pop(stale, None)
            for p in programs:  # pickled before programs kept the fitted zone
                p.zone = schema[p.column].timezone if p.kind == TIME else None
            self._fitted = FittedState(schema, private_steps(programs), held["feature_names_out_"])
            self._show(self._fitted)

    # -- checks ---------------------------------------------------------------------

    def _check_fitted(self) -> FittedState:
        fitted = self._fitted
        if fitted is None:
            raise NotFittedError(
                "This FeaturePipeline is not fitted yet; call fit(data) first",
                estimator="FeaturePipeline",
            )
        return fitted

    def __sklearn_is_fitted__(self) -> bool:
        return self._fitted is not None

    def _extra(self, names: Iterable[str], known: frozenset[str]) -> None:
        extra = [n for n in names if n not in known]
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
        # One read of the fitted state: a refit in another thread meanwhile swaps in a
        # new one, which this call never sees (nor a mix of the two).
        fitted = self._check_fitted()
        if output not in ("numpy", "pandas", "arrow"):
            raise ConfigError(
                "The 'output' parameter of FeaturePipeline.transform must be one of "
                f"{{'arrow', 'numpy', 'pandas'}}. Got {short_repr(output)} instead.",
                parameter="output",
            )
        width = len(fitted.schema)
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] != width:
            # Positional columns: another width cannot be the same input.
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        None,
                        "input",
                        f"X has {X.shape[1]} features, but FeaturePipeline is expecting "
                        f"{width} features as input",
                    )
                ]
            )
        X = _named(X)  # noqa: N806 - scikit-learn's name
        if is_tabular(X):
            out = self._transform_cols(Columns(X, categorical_values=True), fitted)
        elif not chunk_source(X):
            raise input_error(X)
        else:
            parts = [
                self._transform_cols(cols, fitted)
                for cols in iter_columns(X, categorical_values=True)
            ]
            names = fitted.feature_names
            out = np.asfortranarray(np.vstack(parts)) if parts else np.empty((0, len(names)))
        if output == "pandas":
            index = X.index if isinstance(X, pd.DataFrame) else None
            return pd.DataFrame(out, columns=fitted.feature_names, index=index)
        if output == "arrow":
            return pa.table({n: out[:, j] for j, n in enumerate(fitted.feature_names)})
        return out

    def _transform_cols(self, cols: Columns, fitted: FittedState) -> Floats:
        programs = fitted.programs
        missing = [p.column for p in programs if p.column not in cols]
        if missing:
            raise SchemaError(
                problems=[
                    SchemaProblem(c, "missing", "column is missing from the input") for c in missing
                ]
            )
        self._extra(cols.names, fitted.known)
        out = np.empty((cols.num_rows, len(fitted.feature_names)), order="F")
        texts = read_texts(cols, [p.column for p in programs if p.kind == TEXT])
        for p in programs:
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
        fitted = self._fitted  # read once: a refit meanwhile swaps in a whole new state
        if fitted is None or fitted.record_fn is None:
            fitted = self._check_fitted()
            fn = self._record_path(fitted)  # the first record since fit or load
        else:
            fn = fitted.record_fn
        if type(record) is dict and len(record) == fitted.n_read:
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
        if not fitted.known.issuperset(record):
            self._extra(record, fitted.known)
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
        fitted = self._check_fitted()
        if type(column) is not str:
            raise ConfigError(
                f"column must be a column name (str), not {type_name(column)}",
                parameter="column",
            )
        if column not in fitted.known:
            raise SchemaError(
                problems=[SchemaProblem(column, "extra", "column was not seen at fit")]
            )
        for p in fitted.programs:
            if p.column == column:
                # Each step that takes nulls either fills them (Impute) or ends the chain
                # (Passthrough): a null reaches the check at null_at only from a first step
                # that cannot take it (tests/features: accepts_missing == transform_record).
                return p.null_at > 0
        return True  # read by no step

    # -- state as data ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The pipeline (parameters and fitted state) as JSON-safe data with a version."""
        state = self._fitted
        fitted = state is not None
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
            "input_schema": state.schema.to_dict() if state is not None else None,
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
            pipe._install(schema, programs)
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
        if self._fitted is not None:
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
