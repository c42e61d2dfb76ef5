"""Send prodml's lineage events through the ``openlineage-python`` client.

Extra ``prodml[lineage]``. :class:`OpenLineageSink` turns each event of
:mod:`prodml.lineage` into the client's ``RunEvent`` and emits it with the client's
configured transport (HTTP to Marquez, Kafka, a file, the console: see the client's
``openlineage.yml`` / ``OPENLINEAGE_URL``), so any OpenLineage consumer reads it
unchanged.

Examples
--------
>>> from prodml.integrations.openlineage import OpenLineageSink
>>> from prodml.lineage import dataset, run_event
>>> sent = []
>>> sink = OpenLineageSink(emit=sent.append)  # a client's emit, or any callable
>>> sink.emit(run_event("COMPLETE", job="churn.register", outputs=[dataset("r", "models/churn/1")]))
>>> type(sent[0]).__name__, sent[0].job.name
('RunEvent', 'churn.register')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prodml._extras import require
from prodml._quote import short_repr
from prodml.errors import ConfigError, ProdMLError
from prodml.lineage import _parse_event_time, _parse_run_id

__all__ = ["OpenLineageSink", "to_openlineage"]

_FEATURE = "OpenLineage events"


def _facets(base: Any, facets: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """The client's facets of ``facets``, each keeping its own ``_producer``/``_schemaURL``.

    The client's facet classes stamp every facet with the client's producer and the
    generic facet schema; a prodml facet says it was produced by prodml and where its
    schema is, so both are set back after the facet is built.
    """
    if facets is None:
        return {}
    if not isinstance(facets, Mapping):
        raise _not_an_event(f"{where} facets are not an object")
    out = {}
    for key, value in facets.items():
        if not isinstance(key, str) or not isinstance(value, Mapping):
            raise _not_an_event(f"{where} facet {short_repr(key)} is not an object")
        producer, schema_url = value.get("_producer"), value.get("_schemaURL")
        if not isinstance(producer, str) or not isinstance(schema_url, str):
            raise _not_an_event(
                f"{where} facet {short_repr(key)} lacks its _producer or _schemaURL"
            )
        fields = {k: v for k, v in value.items() if k not in ("_producer", "_schemaURL")}
        if not all(isinstance(k, str) and k.isidentifier() for k in fields):
            raise _not_an_event(f"{where} facet {short_repr(key)} has a field name that is "
                                "not an identifier")  # fmt: skip
        made = base(producer=producer).with_additional_properties(**fields)
        made._schemaURL = schema_url  # the client sets it from its class
        out[key] = made
    return out


def _not_an_event(why: str) -> ConfigError:
    return ConfigError(f"not an OpenLineage RunEvent: {why}", parameter="event")


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise _not_an_event(f"{field} is not a non-empty str")
    return value


def _run_id(value: object) -> str:
    text = _text(value, "run.runId")
    if _parse_run_id(text) is None:
        raise _not_an_event("run.runId is not a UUID")
    return text


def _event_time(value: object) -> str:
    text = _text(value, "eventTime")
    if _parse_event_time(text) is None:
        raise _not_an_event("eventTime is not an ISO 8601 date-time with a UTC offset")
    return text


def to_openlineage(event: Mapping[str, Any]) -> Any:
    """The ``openlineage.client.event_v2.RunEvent`` of a prodml lineage event.

    Facets keep the ``_producer`` and ``_schemaURL`` they were made with. The event is
    checked as the client builds it; a message names the field at fault, never a value
    of the event (facets may hold tags or paths).

    Raises
    ------
    MissingExtraError
        When ``openlineage-python`` is not installed.
    ConfigError
        When ``event`` is not a RunEvent dict the client accepts.
    """
    ev2 = require("openlineage.client.event_v2", extra="lineage", feature=_FEATURE)
    base = require("openlineage.client.generated.base", extra="lineage", feature=_FEATURE)
    if not isinstance(event, Mapping):
        raise _not_an_event(f"a {type(event).__name__}, not a dict")
    try:
        run, job = event["run"], event["job"]
        if not isinstance(run, Mapping) or not isinstance(job, Mapping):
            raise _not_an_event("run and job must be objects")
        datasets = {}
        for side, cls in (("inputs", ev2.InputDataset), ("outputs", ev2.OutputDataset)):
            found = event.get(side, [])
            if not isinstance(found, list) or not all(isinstance(d, Mapping) for d in found):
                raise _not_an_event(f"{side} is not a list of objects")
            datasets[side] = [
                cls(
                    _text(d.get("namespace"), f"a dataset's namespace in {side}"),
                    _text(d.get("name"), f"a dataset's name in {side}"),
                    facets=_facets(base.DatasetFacet, d.get("facets"), "a dataset"),
                )
                for d in found
            ]
        state = _text(event.get("eventType"), "eventType")
        if state not in ev2.RunState.__members__:
            raise _not_an_event(f"eventType is not one of {', '.join(ev2.RunState.__members__)}")
        return ev2.RunEvent(
            eventType=ev2.RunState[state],
            eventTime=_event_time(event.get("eventTime")),
            run=ev2.Run(
                runId=_run_id(run.get("runId")),
                facets=_facets(base.RunFacet, run.get("facets"), "a run"),
            ),
            job=ev2.Job(
                namespace=_text(job.get("namespace"), "job.namespace"),
                name=_text(job.get("name"), "job.name"),
                facets=_facets(base.JobFacet, job.get("facets"), "a job"),
            ),
            inputs=datasets["inputs"],
            outputs=datasets["outputs"],
            producer=_text(event.get("producer"), "producer"),
        )
    except ProdMLError:
        raise
    except KeyError as err:
        field = err.args[0] if err.args and isinstance(err.args[0], str) else "a field"
        raise _not_an_event(f"{short_repr(field)} is missing or unknown") from None
    except (TypeError, ValueError) as err:
        # The client's own checks (run id, event time); their messages may quote values.
        raise _not_an_event(f"the client refused it ({type(err).__name__})") from None


class OpenLineageSink:
    """A lineage sink that emits through an ``openlineage-python`` client.

    Parameters
    ----------
    client
        An ``openlineage.client.OpenLineageClient``; default: one configured the
        client's way (``OPENLINEAGE_URL``, ``openlineage.yml``...).
    emit
        Instead of a client, a callable taking the client's ``RunEvent`` (tests).
    """

    def __init__(self, client: Any = None, *, emit: Callable[[Any], Any] | None = None) -> None:
        if emit is None:
            if client is None:
                module = require("openlineage.client", extra="lineage", feature=_FEATURE)
                client = module.OpenLineageClient()
            emit = client.emit
        self._emit = emit

    def emit(self, event: dict[str, Any]) -> None:
        """Convert ``event`` and emit it through the client."""
        self._emit(to_openlineage(event))
