"""One servable model version: a fitted pipeline, a model, the request schema, and checks.

A :class:`Served` is immutable once built and shared by every request that routes to it;
hot reload builds a new one and swaps it in, never mutates one in place.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from prodml._quote import short_repr
from prodml.errors import ConfigError, ProdMLError
from prodml.fingerprint import fingerprint_bytes, fingerprint_spec
from prodml.schema import Schema
from prodml.serving._check import compile_check, compile_features
from prodml.serving._fast import compiled_scorer

__all__ = [
    "OUTPUTS",
    "ExplainerLike",
    "ModelError",
    "Served",
    "check_pair",
    "jsonable",
    "model_error",
]

_log = logging.getLogger("prodml.serving")
OUTPUTS = ("auto", "proba", "predict", "decision_function")
_PROBE_ROWS = 32


@runtime_checkable
class ExplainerLike(Protocol):
    """Anything with ``explain_record(record)``, such as ``prodml.explain.Explainer``."""

    def explain_record(self, record: Mapping[str, Any]) -> Any:
        """Explain one raw input record."""


class ModelError(ProdMLError, RuntimeError):
    """The model (or the explainer) raised while predicting; the cause is chained.

    The message names the model, version and variant, never the input values.
    """

    def __init__(self, message: str, *, model_name: str, version: int | None, variant: str) -> None:
        self.model_name = model_name
        self.version = version
        self.variant = variant
        super().__init__(message)


def model_error(
    served: Served, variant: str, err: BaseException, what: str = "model"
) -> ModelError:
    """The :class:`ModelError` for ``err``, raised by ``served``'s model (or explainer)."""
    return ModelError(
        f"the {what} of {served.name!r} version {served.version} (variant {variant!r}) "
        f"raised {type(err).__name__}",
        model_name=served.name,
        version=served.version,
        variant=variant,
    )


def check_pair(obj: object, where: str) -> tuple[Any, Any]:
    """Return ``(pipeline, model)`` if ``obj`` is a servable pair, else raise ConfigError."""
    from prodml.features import FeaturePipeline  # noqa: PLC0415 - keep import cheap

    if not isinstance(obj, tuple) or len(obj) != 2:
        raise ConfigError(
            f"{where} is a {type(obj).__name__}, not a (pipeline, model) pair: register "
            "the pair (FeaturePipeline, fitted model) as one version to serve it"
        )
    pipe, model = obj
    if not isinstance(pipe, FeaturePipeline):
        missing = " is missing (None)" if pipe is None else f" is a {type(pipe).__name__}"
        raise ConfigError(
            f"{where}: the pipeline{missing}; it must be a fitted prodml FeaturePipeline",
            parameter="pipeline",
        )
    if not hasattr(pipe, "programs_"):
        raise ConfigError(f"{where}: the pipeline is not fitted", parameter="pipeline")
    if not callable(getattr(model, "predict", None)):
        expected = "pass the fitted model (with predict) that reads the pipeline's output"
        if model is None:
            got = "the model is missing (None)"
        elif isinstance(model, (str, bytes, os.PathLike)):
            # A name says what the user meant; any other value only by its type, since a
            # dict or an array passed by mistake may hold data about people.
            shown = short_repr(os.fspath(model), limit=80)
            got = f"the model is {type(model).__name__} {shown}, a name or path, not a model"
            expected = "load it first, then " + expected
        else:
            got = f"the model ({type(model).__name__}) has no predict method"
        raise ConfigError(f"{where}: {got}: {expected}", parameter="model")
    return pipe, model


def _pick_output(model: Any, output: str) -> str:
    if output not in OUTPUTS:
        raise ConfigError(
            f"The 'output' parameter of Predictor must be one of {set(OUTPUTS)}. "
            f"Got {short_repr(output)} instead.",
            parameter="output",
        )
    if output != "auto":
        if not callable(getattr(model, {"proba": "predict_proba"}.get(output, output), None)):
            raise ConfigError(
                f"output={short_repr(output)} needs a model with that method; "
                f"{type(model).__name__} has none",
                parameter="output",
            )
        return output
    classes = getattr(model, "classes_", None)
    binary = classes is not None and len(classes) == 2
    return "proba" if binary and callable(getattr(model, "predict_proba", None)) else "predict"


def _no_features(record: Mapping[str, Any]) -> None:
    """Stands in for :attr:`Served.features` when the pipeline has a record path of its own."""


def _features_fn(schema: Schema, pipeline: Any) -> Callable[[dict[str, Any]], np.ndarray | None]:
    from prodml.features import FeaturePipeline  # noqa: PLC0415 - keep import cheap

    # A subclass may transform records its own way: it keeps the general path.
    if type(pipeline).transform_record is not FeaturePipeline.transform_record:
        return _no_features
    return compile_features(schema, pipeline)


def py_value(v: Any) -> Any:
    """A numpy scalar as the Python scalar it holds (exactly), anything else unchanged."""
    return v.item() if isinstance(v, np.generic) else v


def jsonable(obj: Any) -> Any:
    """A JSON-safe form of an explanation or value (``to_dict``, mappings, arrays...)."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict) and not isinstance(obj, type):
        return jsonable(to_dict())
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj != obj:  # noqa: PLR0124 - NaN is not JSON
        return None
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)


class Served:
    """A loaded, checked model version, ready for requests (immutable after build).

    Parameters
    ----------
    pipeline, model
        The fitted feature pipeline and the model fed with its output.
    schema
        The request contract; default the pipeline's inferred input schema.
    name, version
        Model name and registry version (``None`` for an unregistered model).
    output
        What a prediction is: ``proba`` (score of the positive class of a binary
        classifier), ``predict``, ``decision_function``, or ``auto`` (``proba`` for binary
        classifiers, else ``predict``).
    explainer
        An object with ``explain_record``, or a factory ``f(pipeline, model)`` making one.
    files
        The registry's artifact manifest (path -> sha256), the base of the fingerprint.
    compiled
        Score single rows of a supported model (scikit-learn gradient boosting) with a
        compiled path equal to the model's own bit for bit (:mod:`._fast`; checked by
        :meth:`verify`, needs numba); :attr:`compiled` says whether it serves.

    Attributes
    ----------
    check
        ``check(record)``: whether a dict record certainly passes the schema.
    features
        ``features(record)``: the schema check and the pipeline's record path in one
        compiled function; the feature row, or ``None`` when the record is not certainly
        clean (then :meth:`transform`, the general path, decides and words errors).
    """

    def __init__(
        self,
        pipeline: Any,
        model: Any,
        *,
        schema: Schema | None = None,
        name: str = "model",
        version: int | None = None,
        output: str = "auto",
        explainer: Any = None,
        files: Mapping[str, str] | None = None,
        compiled: bool = True,
    ) -> None:
        where = f"model {short_repr(name)}" + (f" version {version}" if version is not None else "")
        self.pipeline, self.model = check_pair((pipeline, model), where)
        self.schema: Schema = schema if schema is not None else pipeline.input_schema
        if not isinstance(self.schema, Schema):
            raise ConfigError(f"{where}: schema must be a prodml Schema", parameter="schema")
        self.check = compile_check(self.schema)
        self.features = _features_fn(self.schema, self.pipeline)
        self.name = name
        self.version = version
        self.output = _pick_output(model, output)
        self.known = frozenset(pipeline.input_schema.names)
        self.n_known = len(self.known)
        self.exact = frozenset(self.schema.names) == self.known
        self.n_features = len(pipeline.feature_names_out)
        self._files = dict(files) if files is not None else None
        self._fingerprint: str | None = None
        factory = isinstance(explainer, type) or not isinstance(explainer, ExplainerLike)
        if explainer is not None and factory:
            if not callable(explainer):
                raise ConfigError(
                    "explainer must have an explain_record(record) method, or be a factory "
                    "f(pipeline, model) returning such an object",
                    parameter="explainer",
                )
            explainer = explainer(pipeline, model)
            if not isinstance(explainer, ExplainerLike):
                raise ConfigError(
                    "the explainer factory returned an object without explain_record",
                    parameter="explainer",
                )
        self.explainer = explainer
        method = {"proba": "predict_proba"}.get(self.output, self.output)
        self._method: Callable[[np.ndarray], Any] = getattr(model, method)
        self.score_one = self._build_score_one()
        self._own_one = self.score_one
        fast = compiled_scorer(model, self.output, self._own_one) if compiled else None
        self.compiled = fast is not None
        if fast is not None:
            self.score_one = fast
        self.row_stable = False

    def _build_score_one(self) -> Callable[[np.ndarray], Any]:
        method = self._method
        if self.output == "proba":

            def score_proba(x: np.ndarray) -> Any:
                return float(method(x[None])[0, 1])

            return score_proba

        def score(x: np.ndarray) -> Any:
            v = method(x[None])[0]
            return v.item() if isinstance(v, np.generic) else v

        return score

    def score_many(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - a feature matrix
        """The model's values for a 2-D feature matrix, one per row."""
        out = np.asarray(self._method(X))
        return out[:, 1] if self.output == "proba" else out

    def score_table(self, data: Any, variant: str) -> np.ndarray:
        """Validate, transform and score a whole table (a ModelError names ``variant``)."""
        self.schema.validate(data)
        frame = isinstance(data, pd.DataFrame)
        names = list(data.columns) if frame else list(getattr(data, "column_names", []))
        if not self.known.issuperset(names):  # ids, keys: not the pipeline's business
            keep = [n for n in names if n in self.known]
            data = data[keep] if frame else data.select(keep)
        X = self.pipeline.transform(data)  # noqa: N806 - a feature matrix
        try:
            return self.score_many(X)
        except Exception as err:
            raise model_error(self, variant, err) from err

    def verify(self, probe: list[Mapping[str, Any]] | None = None) -> None:
        """Check that pipeline and model fit together and answer; set :attr:`row_stable`.

        Runs the model on zero rows of the pipeline's width and on seeded random rows,
        and the whole path on each ``probe`` record. ``row_stable`` says whether the
        model's batch answers equal its one-row answers bit for bit on those rows, which
        micro-batching relies on to call the model once per batch.

        Raises
        ------
        ConfigError
            When the model expects another number of features than the pipeline makes.
        ModelError
            When the model or the path raises, or answers with a non-finite score.
        """
        expected = getattr(self.model, "n_features_in_", None)
        if expected is not None and int(expected) != self.n_features:
            raise ConfigError(
                f"model {self.name!r} version {self.version}: the model expects {expected} "
                f"features but the pipeline makes {self.n_features}"
            )
        rows = np.random.default_rng(0).normal(size=(_PROBE_ROWS, self.n_features))
        rows[0] = 0.0
        try:
            batch = self.score_many(rows)
            singles = [self.score_one(rows[i]) for i in range(_PROBE_ROWS)]
            for record in probe or ():
                self.validate(record)
                self.score_one(self.pipeline.transform_record(self.strip(record)))
        except ProdMLError:
            raise
        except Exception as err:
            raise ModelError(
                f"model {self.name!r} version {self.version} failed its check: "
                f"{type(err).__name__}",
                model_name=self.name,
                version=self.version,
                variant="",
            ) from err
        if self.compiled and [self._own_one(rows[i]) for i in range(_PROBE_ROWS)] != singles:
            # Not expected (tests compare the two on random data); serve the model's own.
            _log.warning(
                "prodml serving: the compiled path of %r version %s differs from the "
                "model's own predictions; serving without it",
                self.name,
                self.version,
            )
            self.score_one, self.compiled = self._own_one, False
            singles = [self.score_one(rows[i]) for i in range(_PROBE_ROWS)]
        if self.output == "proba" and not np.isfinite(np.asarray(singles, dtype=float)).all():
            raise ModelError(
                f"model {self.name!r} version {self.version} gave a non-finite score",
                model_name=self.name,
                version=self.version,
                variant="",
            )
        self.row_stable = [py_value(v) for v in batch.tolist()] == singles

    def transform(self, record: Any) -> np.ndarray:
        """Check ``record`` against the schema (every problem listed) and transform it.

        The general path, for what :attr:`features` does not take (answers ``None`` for).

        Raises
        ------
        SchemaError
            Listing every problem of the record (or the pipeline's own, for a value
            the schema lets through and a step refuses).
        """
        if type(record) is dict and self.check(record):
            # Every schema column is there; with as many keys, no other key is.
            exact = self.exact and len(record) == self.n_known
        else:
            self.schema.validate(record)
            exact = False
        x: np.ndarray = self.pipeline.transform_record(
            record if exact or self.known.issuperset(record) else self.strip(record)
        )
        return x

    def validate(self, record: Any) -> None:
        """Raise the :class:`~prodml.errors.SchemaError` of ``Schema.validate``, if any."""
        if not (type(record) is dict and self.check(record)):
            self.schema.validate(record)

    def strip(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        """``record`` without the keys the pipeline does not read (ids, routing keys)."""
        if self.known.issuperset(record):
            return record
        return {k: v for k, v in record.items() if k in self.known}

    @property
    def fingerprint(self) -> str:
        """sha256 of the registry's artifact manifest, else of the pickled pair."""
        if self._fingerprint is None:
            if self._files is not None:
                self._fingerprint = fingerprint_spec(self._files)
            else:
                blob = pickle.dumps((self.pipeline, self.model), protocol=5)
                self._fingerprint = fingerprint_bytes(blob)
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """Name, version, output kind, fingerprint and schema (JSON-safe)."""
        return {
            "name": self.name,
            "version": self.version,
            "output": self.output,
            "fingerprint": self.fingerprint,
            "features": self.n_features,
            "compiled": self.compiled,
            "schema": self.schema.to_dict(),
        }
