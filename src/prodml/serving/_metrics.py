"""Serving counters and histograms, and their Prometheus text exposition.

The predictor counts requests by variant and outcome, reloads, shadow comparisons and
micro-batches; :func:`render` writes them in the Prometheus text format (version 0.0.4)
without ``prometheus_client``. Each record is counted once, by its outcome (``ok``,
``invalid``: a schema problem, ``error``: the model or explainer raised, ``refused``: the
predictor refused it). ``refused``, with an empty ``variant``, counts every record of a
call the predictor refuses (a routing key the policy refuses, ``explain=True`` without an
explainer: the HTTP app answers 400), and the valid records of an ``atomic`` call that
predicts none because another is invalid (the HTTP app's 422 for a list). The counting is
the predictor's, so a service embedding it counts what its HTTP twin counts, and the app
counts nothing itself. Label sets stay small: ``variant`` (the policy's variant names),
``outcome`` (a fixed handful) and ``version``.

=========================================== =========== ==============================
name                                        type        labels
=========================================== =========== ==============================
``prodml_serving_requests_total``           counter     variant, outcome (ok, invalid,
                                                        error, refused)
``prodml_serving_model_info``               gauge       variant, version
``prodml_serving_reloads_total``            counter     outcome (loaded, refused)
``prodml_serving_shadow_total``             counter     outcome (compared, error,
                                                        dropped)
``prodml_serving_monitor_errors_total``     counter
``prodml_serving_batch_size``               histogram
``prodml_serving_batch_wait_seconds``       histogram
=========================================== =========== ==============================
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping

from prodml.monitoring.histogram import Histogram

__all__ = ["BATCH_SIZE_BUCKETS", "BATCH_WAIT_BUCKETS", "REFUSED", "ServingStats", "render"]

REFUSED = "refused"
"""The outcome of a record the predictor refused (counted with ``variant=""``)."""

BATCH_SIZE_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0)
BATCH_WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class ServingStats:
    """Thread-safe totals of one predictor (one lock, held for a dict increment).

    Successful single predictions, the hot path, are counted without the lock: by one
    ``itertools.count`` per variant (:meth:`ok_counter`), whose ``next`` is atomic under
    the GIL.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self._ok: dict[str, itertools.count[int]] = {}
        self.reloads: dict[str, int] = {"loaded": 0, "refused": 0}
        self.shadow: dict[str, int] = {"compared": 0, "error": 0, "dropped": 0}
        self.monitor_errors: int = 0
        self.batch_size: Histogram = Histogram(BATCH_SIZE_BUCKETS)
        self.batch_wait: Histogram = Histogram(BATCH_WAIT_BUCKETS)

    def request(self, variant: str, outcome: str, n: int = 1) -> None:
        """Count ``n`` requests of ``variant`` ending in ``outcome``."""
        key = (variant, outcome)
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + n

    def ok_counter(self, variant: str) -> itertools.count[int]:
        """The counter of ``variant``'s successful requests: each ``next`` counts one."""
        with self._lock:
            return self._ok.setdefault(variant, itertools.count())

    def totals(self) -> dict[tuple[str, str], int]:
        """Requests by ``(variant, outcome)``, the lock-free counters included."""
        with self._lock:
            out = dict(self.requests)
            counters = list(self._ok.items())
        for variant, counter in counters:
            n = int(repr(counter)[6:-1])  # "count(n)": n calls so far; reading adds none
            if n:
                out[(variant, "ok")] = out.get((variant, "ok"), 0) + n
        return out

    def count(self, table: str, outcome: str) -> None:
        """Count one reload (``table="reloads"``) or shadow (``"shadow"``) outcome."""
        with self._lock:
            getattr(self, table)[outcome] += 1

    def monitor_error(self) -> None:
        """Count one failed ``ModelMonitor.log_prediction``."""
        with self._lock:
            self.monitor_errors += 1

    def batch(self, size: int, wait_s: float) -> None:
        """Record one micro-batch: its size and how long its first request waited."""
        with self._lock:
            self.batch_size.observe(float(size))
            self.batch_wait.observe(wait_s)


def _label_value(value: object) -> str:
    """A label value escaped as the text format requires: backslash, quote, line feed.

    Any other character (a carriage return, a bidi override) is valid as it is.
    """
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Mapping[str, object]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in pairs.items()) + "}"


def _histogram(lines: list[str], name: str, doc: str, hist: Histogram) -> None:
    lines.append(f"# HELP {name} {doc}")
    lines.append(f"# TYPE {name} histogram")
    for bound, count in zip(hist.bounds, hist.cumulative_counts(), strict=False):
        lines.append(f'{name}_bucket{{le="{float(bound)!r}"}} {float(count)!r}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {float(hist.count)!r}')
    lines.append(f"{name}_sum {float(hist.sum)!r}")
    lines.append(f"{name}_count {float(hist.count)!r}")


def render(stats: ServingStats, versions: Mapping[str, int | None]) -> str:
    """The serving metrics in the Prometheus text format; ``versions`` by variant."""
    requests = stats.totals()
    with stats._lock:
        reloads = dict(stats.reloads)
        shadow = dict(stats.shadow)
        monitor_errors = stats.monitor_errors
        size, wait = stats.batch_size.copy(), stats.batch_wait.copy()
    lines = [
        "# HELP prodml_serving_requests_total Prediction requests by variant and outcome.",
        "# TYPE prodml_serving_requests_total counter",
    ]
    for (variant, outcome), n in sorted(requests.items()):
        labels = _labels({"variant": variant, "outcome": outcome})
        lines.append(f"prodml_serving_requests_total{labels} {float(n)!r}")
    lines += [
        "# HELP prodml_serving_model_info The model version each variant serves (value 1).",
        "# TYPE prodml_serving_model_info gauge",
    ]
    for variant, version in sorted(versions.items()):
        labels = _labels({"variant": variant, "version": "" if version is None else version})
        lines.append(f"prodml_serving_model_info{labels} 1.0")
    for name, doc, table in (
        ("prodml_serving_reloads_total", "Model versions loaded or refused.", reloads),
        ("prodml_serving_shadow_total", "Shadow requests by outcome.", shadow),
    ):
        lines += [f"# HELP {name} {doc}", f"# TYPE {name} counter"]
        lines += [f"{name}{_labels({'outcome': k})} {float(v)!r}" for k, v in sorted(table.items())]
    lines += [
        "# HELP prodml_serving_monitor_errors_total ModelMonitor.log_prediction failures.",
        "# TYPE prodml_serving_monitor_errors_total counter",
        f"prodml_serving_monitor_errors_total {float(monitor_errors)!r}",
    ]
    _histogram(lines, "prodml_serving_batch_size", "Requests per micro-batch.", size)
    _histogram(
        lines, "prodml_serving_batch_wait_seconds", "Wait of a micro-batch's first request.", wait
    )
    return "\n".join(lines) + "\n"
