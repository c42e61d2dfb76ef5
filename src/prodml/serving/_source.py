"""Where served versions come from: a registry, resolved, verified, loaded and watched.

Convention: a servable registry version is a ``(pipeline, model)`` pair registered as one
version (the ``pair`` flavour), with the request schema as its ``signature``; without a
signature the pipeline's inferred input schema is the contract.

Hot reload polls each variant's reference (one metadata query per reference) every
``watch_every_s`` seconds on a daemon thread. A version whose reference moved is verified
(:meth:`ModelRegistry.verify`, every artifact hash), loaded, checked (pipeline and model
fit together and answer) and only then swapped in; a version that fails any step is
refused, logged and counted, and the one serving before keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from prodml._pickle import NotPicklable
from prodml._quote import short_repr
from prodml.errors import ProdMLError
from prodml.serving._metrics import ServingStats
from prodml.serving._served import Served, check_pair

__all__ = ["RegistrySource", "Watcher"]

_log = logging.getLogger("prodml.serving")


class RegistrySource(NotPicklable):
    """Resolves and loads the versions behind a predictor's variant references."""

    _SHIP_INSTEAD = "the registry URLs and the model references"

    def __init__(
        self,
        registry: Any,
        refs: Mapping[str, str],
        *,
        trusted: Any,
        output: str,
        explainer: Any,
        probe: list[Mapping[str, Any]] | None,
        compiled: bool = True,
    ) -> None:
        self.registry = registry
        self.compiled = compiled
        self.refs = dict(refs)
        self.trusted = trusted
        self.output = output
        self.explainer = explainer
        self.probe = probe

    def resolve(self) -> dict[str, Any]:
        """The :class:`~prodml.registry.ModelVersion` each variant's reference names now."""
        found: dict[str, Any] = {}
        by_ref: dict[str, Any] = {}
        for variant, ref in self.refs.items():
            if ref not in by_ref:
                by_ref[ref] = self.registry.get(ref)
            found[variant] = by_ref[ref]
        return found

    def load(self, mv: Any) -> Served:
        """Verify, load and check one version.

        Raises
        ------
        IntegrityError
            When an artifact file is missing or changed.
        ConfigError, ModelError
            When the version is not a servable pair or fails its check.
        """
        self.registry.verify(mv.name, mv.version)
        obj = self.registry.load(mv.name, mv.version, trusted=self.trusted)
        pipe, model = check_pair(obj, f"model {short_repr(mv.name)} version {mv.version}")
        served = Served(
            pipe,
            model,
            schema=mv.signature,
            name=mv.name,
            version=mv.version,
            output=self.output,
            explainer=self.explainer,
            files=mv.files,
            compiled=self.compiled,
        )
        served.verify(self.probe)
        return served

    def reload(
        self, current: Mapping[str, Served], refused: dict[str, Any], stats: ServingStats
    ) -> dict[str, Served]:
        """What each variant should serve now: ``current``, with moved references loaded.

        ``refused`` maps a variant to the version last refused for it, which is not tried
        again while its reference stays there; it is updated in place.
        """
        by_key = {(s.name, s.version): s for s in current.values()}
        versions = dict(current)
        for variant, mv in self.resolve().items():
            key = (mv.name, mv.version)
            if key in by_key:
                versions[variant] = by_key[key]
                refused.pop(variant, None)
                continue
            if refused.get(variant) == key:
                continue
            try:
                by_key[key] = versions[variant] = self.load(mv)
            except Exception as err:  # noqa: BLE001 - refuse, keep serving the old one
                refused[variant] = key
                stats.count("reloads", "refused")
                _log.error(
                    "prodml serving: refused %s version %s for variant %r: %s",
                    mv.name,
                    mv.version,
                    variant,
                    err,
                )
                continue
            refused.pop(variant, None)
            stats.count("reloads", "loaded")
            _log.info("prodml serving: %r now serves %s", variant, mv.ref)
        return versions


class Watcher:
    """Calls ``refresh`` every ``interval`` seconds on a daemon thread until stopped."""

    def __init__(self, refresh: Callable[[], object], interval: float) -> None:
        self._refresh = refresh
        self._interval = interval
        self._failing: str | None = None  # the last failure logged, until a check succeeds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prodml-reload", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._check()

    def _check(self) -> None:
        try:
            self._refresh()
        except Exception as err:  # noqa: BLE001 - the watcher must outlive a registry hiccup
            # Logged once, not at every check (an alias deleted under a server would
            # otherwise log every few seconds until someone acts); again when it changes.
            failure = f"{type(err).__name__}: {err}"
            if failure != self._failing:
                self._failing = failure
                if isinstance(err, ProdMLError):  # a registry state to act on, not a bug
                    _log.error(
                        "prodml serving: checking the registry for new versions failed "
                        "(the loaded versions keep serving): %s",
                        err,
                    )
                else:
                    _log.exception("prodml serving: checking the registry for new versions failed")
        else:
            if self._failing is not None:
                _log.info("prodml serving: checking the registry works again")
            self._failing = None

    def stop(self) -> None:
        """Stop watching (waits for a refresh in progress)."""
        self._stop.set()
        self._thread.join()
