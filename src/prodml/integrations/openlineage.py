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
from prodml.errors import ConfigError

__all__ = ["OpenLineageSink", "to_openlineage"]

_FEATURE = "OpenLineage events"


def _facets(base: Any, facets: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {}
    for key, value in (facets or {}).items():
        fields = {k: v for k, v in dict(value).items() if k not in ("_producer", "_schemaURL")}
        out[key] = base().with_additional_properties(**fields)
    return out


def to_openlineage(event: Mapping[str, Any]) -> Any:
    """The ``openlineage.client.event_v2.RunEvent`` of a prodml lineage event.

    Raises
    ------
    MissingExtraError
        When ``openlineage-python`` is not installed.
    ConfigError
        When ``event`` is not a RunEvent dict the client accepts.
    """
    ev2 = require("openlineage.client.event_v2", extra="lineage", feature=_FEATURE)
    base = require("openlineage.client.generated.base", extra="lineage", feature=_FEATURE)
    try:
        return ev2.RunEvent(
            eventType=ev2.RunState[event["eventType"]],
            eventTime=event["eventTime"],
            run=ev2.Run(
                runId=event["run"]["runId"],
                facets=_facets(base.RunFacet, event["run"].get("facets")),
            ),
            job=ev2.Job(
                namespace=event["job"]["namespace"],
                name=event["job"]["name"],
                facets=_facets(base.JobFacet, event["job"].get("facets")),
            ),
            inputs=[
                ev2.InputDataset(
                    d["namespace"], d["name"], facets=_facets(base.DatasetFacet, d.get("facets"))
                )
                for d in event.get("inputs", [])
            ],
            outputs=[
                ev2.OutputDataset(
                    d["namespace"], d["name"], facets=_facets(base.DatasetFacet, d.get("facets"))
                )
                for d in event.get("outputs", [])
            ],
            producer=event["producer"],
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"not an OpenLineage RunEvent: {err!r}", parameter="event") from err


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
