"""Predictor: one call from a raw record to a monitored, routed, versioned prediction.

This module holds the request path (``predict_record``, ``predict_many``) and the
construction from a pipeline and a model. Serving from a registry (``from_registry``,
``refresh``, ``close``) is in ``_lifecycle``; the read side (``predict_batch``, what
serves now) in ``_views``.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, overload

from prodml._params import NONE, Interval, TypeOf, check_params
from prodml._pickle import NotPicklable
from prodml._quote import short_repr
from prodml.errors import ConfigError, ProdMLError, SchemaError
from prodml.schema import Schema
from prodml.serving._echo import logged
from prodml.serving._lifecycle import Lifecycle
from prodml.serving._many import predict_many
from prodml.serving._metrics import REFUSED, ServingStats
from prodml.serving._prediction import (
    DEFAULT_VARIANT,
    Prediction,
    State,
    V_co,
    check_monitors,
    monitor_logger,
    policy_variants,
)
from prodml.serving._served import ModelError, Served, check_pair, model_error
from prodml.serving._shadow import ShadowWorker
from prodml.serving._source import RegistrySource, Watcher
from prodml.serving._views import Views

if TYPE_CHECKING:
    from prodml.monitoring import ModelMonitor
    from prodml.serving._prediction import RolloutPolicy
    from prodml.serving._served import ExplainerLike

__all__ = ["DEFAULT_VARIANT", "Prediction", "Predictor"]

_log = logging.getLogger("prodml.serving")
_perf = time.perf_counter
_new_tuple = tuple.__new__


class Predictor(NotPicklable, Lifecycle, Views, Generic[V_co]):
    """Serve a feature pipeline and a model: validate, transform, predict, route, monitor.

    One :meth:`predict_record` call checks the record against the schema (every problem
    listed in one :class:`~prodml.errors.SchemaError`), runs
    :meth:`~prodml.features.FeaturePipeline.transform_record` and the model, optionally
    an explanation, logs the prediction to the monitor and, with a rollout policy, routes
    the request to a variant (canary or blue-green split, A/B assignment) or mirrors it to
    a shadow version off the response path. Thread-safe.

    Parameters
    ----------
    pipeline, model
        The fitted :class:`~prodml.features.FeaturePipeline` and the model fed with its
        output; they serve the policy's baseline (or the only) variant.
    schema
        The request contract; default ``pipeline.input_schema``.
    name, version
        Model name and version reported with each prediction.
    variants
        Other variants of the policy, by name: ``(pipeline, model)`` pairs (from a
        registry: references, see :meth:`from_registry`).
    policy
        A :mod:`prodml.rollout` policy. Its first variant (Canary baseline, BlueGreen
        active, Shadow primary, ABTest control, first Router variant or bandit arm) is
        served by ``pipeline, model``.
    monitor
        A :class:`~prodml.monitoring.ModelMonitor`, or one per variant name; the shadow's
        answers are never logged.
    explainer
        An object with ``explain_record(record)`` (``prodml.explain.Explainer``), or a
        factory ``f(pipeline, model)`` building one for each served version.
    key_column
        Record field holding the routing key (sticky routing per customer, say); without
        it the prediction id is the key.
    output
        ``"auto"`` (score of the positive class for a binary classifier, else
        ``predict``), ``"proba"``, ``"predict"`` or ``"decision_function"``.
    shadow_queue
        Mirrored requests waiting for the shadow worker before new ones are dropped.
    compiled
        Score single records of scikit-learn gradient boosting models with a compiled
        path equal to the model's own ``predict_proba`` / ``predict`` bit for bit (checked
        when a version loads; needs numba, the ``fast`` extra). ``Served.compiled`` (in
        :attr:`variants`) says whether a version uses it.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from prodml.features import FeaturePipeline, steps
    >>> df = pd.DataFrame({"age": [20.0, 30.0, 40.0, 50.0], "plan": ["a", "b", "a", "b"]})
    >>> pipe = FeaturePipeline([steps.StandardScale(["age"]), steps.OneHot(["plan"])]).fit(df)
    >>> model = LogisticRegression().fit(pipe.transform(df), [0, 0, 1, 1])
    >>> pred = Predictor(pipe, model, name="churn", version=1)
    >>> p = pred.predict_record({"age": 45.0, "plan": "a"}, id="req-1")
    >>> round(p.value, 3), p.version, p.variant, p.id
    (0.729, 1, 'default', 'req-1')
    >>> pred.predict_batch(df).round(3).tolist()
    [0.238, 0.364, 0.636, 0.762]
    """

    _SHIP_INSTEAD = (
        "the registry URLs and model references (Predictor.from_registry in the worker), "
        "or the pipeline and model"
    )

    @overload
    def __init__(
        self: Predictor[float],
        pipeline: Any,
        model: Any,
        *,
        schema: Schema | None = None,
        name: str = "model",
        version: int | None = None,
        variants: Mapping[str, tuple[Any, Any]] | None = None,
        policy: RolloutPolicy | None = None,
        monitor: ModelMonitor | Mapping[str, ModelMonitor] | None = None,
        explainer: ExplainerLike | Callable[[Any, Any], ExplainerLike] | None = None,
        key_column: str | None = None,
        output: Literal["proba"],
        shadow_queue: int = 1000,
        compiled: bool = True,
    ) -> None: ...
    @overload
    def __init__(
        self: Predictor[Any],
        pipeline: Any,
        model: Any,
        *,
        schema: Schema | None = None,
        name: str = "model",
        version: int | None = None,
        variants: Mapping[str, tuple[Any, Any]] | None = None,
        policy: RolloutPolicy | None = None,
        monitor: ModelMonitor | Mapping[str, ModelMonitor] | None = None,
        explainer: ExplainerLike | Callable[[Any, Any], ExplainerLike] | None = None,
        key_column: str | None = None,
        output: Literal["auto", "predict", "decision_function"] = "auto",
        shadow_queue: int = 1000,
        compiled: bool = True,
    ) -> None: ...
    def __init__(
        self,
        pipeline: Any,
        model: Any,
        *,
        schema: Schema | None = None,
        name: str = "model",
        version: int | None = None,
        variants: Mapping[str, tuple[Any, Any]] | None = None,
        policy: RolloutPolicy | None = None,
        monitor: ModelMonitor | Mapping[str, ModelMonitor] | None = None,
        explainer: ExplainerLike | Callable[[Any, Any], ExplainerLike] | None = None,
        key_column: str | None = None,
        output: Literal["auto", "proba", "predict", "decision_function"] = "auto",
        shadow_queue: int = 1000,
        compiled: bool = True,
    ) -> None:
        home = Served(
            pipeline, model, schema=schema, name=name, version=version, output=output,
            explainer=explainer, compiled=compiled,
        )  # fmt: skip
        home.verify()
        others = {
            v: Served(
                *check_pair(pair, f"variant {short_repr(v)}"),
                name=name,
                output=output,
                explainer=explainer,
                compiled=compiled,
            )
            for v, pair in (variants or {}).items()
        }
        for served in others.values():
            served.verify()
        self._setup(home, others, policy, monitor, key_column, shadow_queue)
        self._source: RegistrySource | None = None
        self._watcher: Watcher | None = None

    def _setup(  # noqa: PLR0917 - private, called from __init__ and from_registry only
        self,
        home: Served,
        others: Mapping[str, Served],
        policy: RolloutPolicy | None,
        monitor: Any,
        key_column: str | None,
        shadow_queue: int,
    ) -> None:
        check_params(
            "Predictor",
            {"key_column": key_column, "shadow_queue": shadow_queue},
            {
                "key_column": [TypeOf(str, "a str"), NONE],
                "shadow_queue": [Interval(int, 1, None)],
            },
        )
        names = policy_variants(policy)
        unknown = sorted(set(others) - set(names))
        missing = [v for v in names[1:] if v not in others]
        if unknown or missing:
            raise ConfigError(
                f"variants {unknown or missing} do not match the policy's variants "
                f"{list(names)}: give one model for each variant but the first, which "
                f"{home.name!r} serves",
                parameter="variants",
            )
        self.policy = policy
        self.key_column = key_column
        self.stats: ServingStats = ServingStats()
        self._state = State({names[0]: home, **{v: others[v] for v in names[1:]}}, names[0])
        self._ok = {v: self.stats.ok_counter(v) for v in names}
        self._monitors = check_monitors(monitor, names)
        self._loggers = {v: monitor_logger(m) for v, m in self._monitors.items()}
        self._route = None if policy is None else getattr(policy, "route", None)
        self._choose = None if policy is None else getattr(policy, "choose", None)
        mirror = getattr(policy, "should_mirror", None)
        self._mirror = mirror if callable(mirror) else None
        self._shadow_variant: str | None = names[1] if self._mirror is not None else None
        self._shadow = ShadowWorker(policy, self.stats, shadow_queue) if self._mirror else None
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(4) + "-"
        # "<prefix><n>", n = 1, 2, ...: one call of C code, so unique across threads too.
        self._next_id = map(self._id_prefix.__add__, map(str, self._ids)).__next__
        self._reload_lock = threading.Lock()
        # variant -> the (name, version) last refused for it, not retried while wanted
        self._refused: dict[str, tuple[str, int | None]] = {}

    # ------------------------------------------------------------------ hot path

    def predict_record(
        self,
        record: Mapping[str, Any],
        *,
        id: Any = None,  # noqa: A002 - the prediction id, as ModelMonitor names it
        key: Any = None,
        explain: bool = False,
    ) -> Prediction[V_co]:
        """Predict one dict record.

        Parameters
        ----------
        record
            Raw input values by column (fields the pipeline does not read are ignored).
        id
            Prediction id for the monitor and the response; generated when omitted.
        key
            Routing key; default ``record[key_column]``, else the id.
        explain
            Also run the explainer (its answer is in ``Prediction.explanation``).

        Raises
        ------
        SchemaError
            Listing every problem of the record.
        ModelError
            When the model or the explainer raises (the cause is chained).
        ProdMLError
            When the predictor refuses the record: a routing key the policy refuses
            (:class:`~prodml.errors.PolicyError`), ``explain=True`` without an explainer.
            Counted ``outcome="refused"`` (``variant=""``), as the HTTP app counts the
            400 it answers; every call counts its record once, whatever it raises.
        """
        t0 = _perf()
        if id is None:
            id = self._next_id()  # noqa: A001
        state = self._state
        if self.policy is not None:
            key = self._key(record, key, id)
            variant = self._routed(key)
        else:
            variant = state.home
        served = state.versions[variant]
        try:
            # The schema check and the features in one call; None: not certainly clean,
            # the general path lists every problem (or clears what only it can).
            x = served.features(record) if type(record) is dict else None
            if x is None:
                x = served.transform(record)
        except SchemaError:
            self.stats.request(variant, "invalid")
            raise
        try:
            value = served.score_one(x)
        except Exception as err:
            self.stats.request(variant, "error")
            raise model_error(served, variant, err) from err
        latency = _perf() - t0
        explanation = None
        try:
            if explain:
                explanation = self._explain(served, variant, record)
            # Decided before anything is logged: a key the policy refuses raises with no
            # prediction logged (and the micro-batcher's retry of a group counts once).
            mirror = self._mirror is not None and self._mirror(key)
        except ModelError:
            self.stats.request(variant, "error")  # as predict_many counts it
            raise
        except SchemaError:
            self.stats.request(variant, "invalid")
            raise
        except ProdMLError:  # no explainer, a key the shadow policy refuses
            self.stats.request("", REFUSED)
            raise
        log = self._loggers.get(variant)
        if log is not None:
            try:
                log(id, record, value, latency)
            except Exception as err:  # noqa: BLE001 - monitoring must not fail a served request
                self._log_failed(err)
        if mirror:
            self._shadow_submit(state, record, value, latency)
        next(self._ok[variant])
        # tuple.__new__ skips the NamedTuple's Python-level __new__ (every field given).
        return _new_tuple(
            Prediction, (value, served.version, variant, latency, id, served.name, explanation)
        )

    def _key(self, record: Any, key: Any, id: Any) -> Any:  # noqa: A002
        """The routing key: as given, else the record's key column, else the id."""
        if key is not None:
            return key
        if self.key_column is not None and isinstance(record, Mapping):
            return record.get(self.key_column, id)
        return id

    def _routed(self, key: Any) -> str:
        """The variant for ``key``; a key the policy refuses counts one refused record."""
        try:
            return self._pick(key)
        except ProdMLError:
            self.stats.request("", REFUSED)  # as the HTTP app answers it: 400
            raise

    def _pick(self, key: Any) -> str:
        if self._route is not None:
            return str(self._route(key))
        return str(self._choose())  # type: ignore[misc]

    def _explain(self, served: Served, variant: str, record: Mapping[str, Any]) -> Any:
        if served.explainer is None:
            raise ConfigError("explain=True needs an explainer", parameter="explainer")
        try:
            return served.explainer.explain_record(served.strip(record))
        except ProdMLError:
            raise
        except Exception as err:
            raise model_error(served, variant, err, what="explainer") from err

    def _log(self, variant: str, id: Any, record: Any, value: Any, latency: float) -> None:  # noqa: A002
        log = self._loggers.get(variant)
        if log is None:
            return
        try:
            log(id, record, value, latency)
        except Exception as err:  # noqa: BLE001 - monitoring must not fail a served request
            self._log_failed(err)

    def _log_failed(self, err: Exception) -> None:
        self.stats.monitor_error()
        # The monitor's message may quote the record: masked as a 4xx answer's quotes are.
        _log.warning("prodml serving: monitor.log_prediction failed: %s", logged(err))

    def _shadow_submit(self, state: State, record: Any, value: Any, latency: float) -> None:
        if self._shadow is not None and self._shadow_variant is not None:
            self._shadow.submit(state.versions[self._shadow_variant], record, value, latency)

    # ------------------------------------------------------------------ many records

    def predict_many(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        ids: Sequence[Any] | None = None,
        keys: Sequence[Any] | None = None,
        explain: bool = False,
        atomic: bool = False,
        started: Sequence[float] | None = None,
        count_refused: bool = True,
    ) -> list[Prediction[V_co] | SchemaError | ModelError | None]:
        """Predict many records; each answer equals :meth:`predict_record`'s bit for bit.

        Records are routed and checked one by one, then each variant's feature rows go
        to its model in one call when that model's batch answers equal its one-row
        answers (checked on probe rows when the version was loaded: true of tree
        ensembles, not of scikit-learn's linear models, whose BLAS kernels sum in another
        order for one row); otherwise the model is called once per row. Every record is
        answered before any outcome is counted or any prediction logged to a monitor or
        mirrored: a call that raises (a routing key the policy refuses, ``explain=True``
        without an explainer) has logged nothing and counts each of its records once, as
        ``outcome="refused"`` (``variant=""``), as the HTTP app does for the 400 it answers.

        Parameters
        ----------
        records
            Dict records.
        ids, keys
            Per-record prediction ids and routing keys (generated / derived when omitted).
        explain
            Also run the explainer on each record.
        atomic
            When a record is invalid, predict (and log) none: the answer then holds the
            errors, and ``None`` for the valid records (counted ``refused``).
        started
            Per-record start times (``time.perf_counter``) for the latencies; default now.
        count_refused
            Count the records of a refused call (default). ``False`` for a caller that
            retries them one by one and counts them then (the micro-batcher).

        Returns
        -------
        list
            Per record, in order: a :class:`Prediction`, or the
            :class:`~prodml.errors.SchemaError` / :class:`ModelError` it raised (a
            schema problem's ``row`` is the record's position).

        Raises
        ------
        ConfigError
            When ``ids``, ``keys`` or ``started`` do not hold one entry per record (a
            mistake of the caller: not counted).
        ProdMLError
            When the predictor refuses the call (see above); nothing is predicted.
        """
        return predict_many(
            self, records, ids=ids, keys=keys, explain=explain, atomic=atomic, started=started,
            count_refused=count_refused,
        )  # fmt: skip

    def __enter__(self) -> Predictor[V_co]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = self._state
        served = ", ".join(f"{v}={s.name}@{s.version}" for v, s in state.versions.items())
        return f"Predictor({served})"
