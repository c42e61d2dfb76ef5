"""Blue-green deployment: verify a preview environment, then switch all traffic at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

from prodml._params import Interval, TypeOf, check_params
from prodml._quote import short_repr
from prodml.errors import PolicyError
from prodml.rollout import _load
from prodml.rollout._base import MetricPolicy
from prodml.rollout._decision import Action, Decision, listing, not_passed, operator_reason
from prodml.rollout._gates import Gate, MetricStore
from prodml.rollout._hashing import Key
from prodml.rollout._limits import MAX_GATES, MAX_NAME, check_clock, check_name, check_size

__all__ = ["BlueGreen"]

Phase = Literal["preview", "verified", "switched", "discarded"]


class BlueGreen(MetricPolicy):
    """Keep live traffic on the active environment while the preview is verified.

    During the *preview* phase every key routes to ``active``; the service sends its
    verification traffic (smoke tests, replayed requests) to the preview and reports the
    results with ``observe(preview, ...)``. :meth:`evaluate` then tests the gates on the
    preview (relative gates compare it with the active environment's metrics):

    * all gates pass with ``min_samples`` each: ``promote`` (with ``auto_switch`` the
      switch happens at once; otherwise call :meth:`switch`; until then, evaluating
      again re-checks the gates: still passing returns the same logged decision, a
      failure discards the preview);
    * a gate fails: ``rollback`` (the preview is discarded, traffic never moved);
    * otherwise ``hold``: no data and inconclusive never count as a pass, and neither
      does a policy without gates (the default): it holds until :meth:`switch` or
      :meth:`rollback`.

    After a switch, :meth:`rollback` moves all traffic back to ``active`` instantly (keep
    it running until you are sure). For the next release, build a new policy with the
    roles swapped.

    Parameters
    ----------
    active, preview
        Names of the live ("blue") and the new ("green") environment (at most 1000
        characters each).
    gates
        Checks on the preview's metrics (at most 1000).
    alpha, min_samples, sequential
        As in :class:`~prodml.rollout.Canary`.
    auto_switch
        Switch traffic as soon as verification passes.
    clock
        Callable returning seconds, stamped on decisions.

    Examples
    --------
    >>> bg = BlueGreen("blue", "green", gates=[Gate("error", threshold=0.05)], clock=lambda: 1.0)
    >>> bg.route("user-1")
    'blue'
    >>> bg.observe_many("green", error=[0.0] * 500)
    >>> bg.evaluate().action, bg.route("user-1")
    ('promote', 'green')
    >>> bg.rollback().action, bg.route("user-1")
    ('rollback', 'blue')
    """

    _kind = "BlueGreen"
    _JSON_PARAMS = (
        "alpha",
        "min_samples",
        "sequential",
        "auto_switch",
    )

    def __init__(
        self,
        active: str = "blue",
        preview: str = "green",
        *,
        gates: Sequence[Gate] = (),
        alpha: float = 0.05,
        min_samples: int = 100,
        sequential: bool = True,
        auto_switch: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.active = active
        self.preview = preview
        self.gates = gates
        self.alpha = alpha
        self.min_samples = min_samples
        self.sequential = sequential
        self.auto_switch = auto_switch
        self.clock = clock
        self._ready = False

    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            check_params(
                "BlueGreen",
                {**self._params(), "active": self.active, "preview": self.preview},
                {
                    "active": [TypeOf(str, "a str")],
                    "preview": [TypeOf(str, "a str")],
                    "alpha": [Interval(float, 0, 1, "neither")],
                    "min_samples": [Interval(int, 1, None)],
                    "sequential": [TypeOf(bool, "a bool")],
                    "auto_switch": [TypeOf(bool, "a bool")],
                },
            )
            check_name("BlueGreen", "active", self.active)
            check_name("BlueGreen", "preview", self.preview)
            if self.active == self.preview:
                raise PolicyError(
                    f"BlueGreen: active and preview are both {short_repr(self.active)}."
                )
            self._gates = tuple(self.gates)
            check_size("BlueGreen", "gates", self._gates, MAX_GATES)
            for g in self._gates:
                if not isinstance(g, Gate):
                    raise PolicyError(
                        f"BlueGreen: gates must be Gate objects. Got {short_repr(g)}."
                    )
            self._store = MetricStore((self.active, self.preview), self._gates)
            # phase: "preview" (verifying), "verified" (passed, waiting for switch),
            # "switched" (preview is live), "discarded" (verification failed).
            self._phase = "preview"
            self._live = self.active
            self._ready = True

    @property
    def phase(self) -> Phase:
        """``preview``, ``verified``, ``switched`` or ``discarded``."""
        self._setup()
        return cast("Phase", self._phase)  # one of these, by construction

    @property
    def live(self) -> str:
        """The environment serving traffic now."""
        self._setup()
        return self._live

    def route(self, key: Key) -> str:
        """Return the live environment (every key goes to the same one)."""
        if not self._ready:
            self._setup()
        return self._live

    def _now(self) -> float:
        return check_clock("BlueGreen", (self.clock or time.time)())

    def evaluate(self) -> Decision:
        """Verify the preview against the gates and decide (logged)."""
        if not self._ready:
            self._setup()
        with self._lock:
            if self._phase in ("switched", "discarded"):
                return self._log[-1]
            now = self._now()  # a broken clock fails before anything changes
            results = [
                self._store.evaluate(
                    g,
                    self.preview,
                    self.active,
                    alpha=self.alpha,
                    min_samples=self.min_samples,
                    sequential=self.sequential,
                )
                for g in self._gates
            ]
            evidence: dict[str, Any] = {
                "phase": self._phase,
                "requests": dict(self._store.requests),
            }
            evidence["gates"] = results
            failed = [r["gate"] for r in results if r["verdict"] == "fail"]
            action: Action
            if failed:
                action, reason = "rollback", f"verification failed: {listing(failed)}"
                self._phase = "discarded"
            elif self._store.requests[self.preview] < self.min_samples:
                action = "hold"
                reason = f"waiting for {self.min_samples} verification requests"
            elif not results:  # nothing was checked: never a pass
                action, reason = "hold", "no gates to check; switch() or rollback() by hand"
            elif all(r["verdict"] == "pass" for r in results):
                # Still passing: the logged promote stands, unless a hold came after it
                # (the gates went inconclusive), when passing again is logged anew.
                if self._phase == "verified" and self._log and self._log[-1].action == "promote":
                    return self._log[-1]
                action, reason = "promote", "verification passed"
                self._phase = "verified"
                if self.auto_switch:
                    self._phase, self._live = "switched", self.preview
                    reason += "; switched"
            else:
                action, reason = "hold", f"gates not passed yet: {not_passed(results)}"
            return self._record(Decision(action, reason, evidence, time=now))

    def switch(self, reason: str = "switched by operator") -> Decision:
        """Send all traffic to the preview now (after verification, or overriding it).

        ``reason`` is cleaned as in :meth:`rollback`.
        """
        reason = operator_reason(reason, "BlueGreen")  # checked before anything changes
        if not self._ready:
            self._setup()
        with self._lock:
            now = self._now()  # a broken clock fails before anything changes
            if self._phase == "switched":
                raise PolicyError("BlueGreen: traffic is already on the preview.")
            self._phase, self._live = "switched", self.preview
            evidence = {"manual": True, "requests": dict(self._store.requests)}
            return self._record(Decision("promote", reason, evidence, time=now))

    def rollback(self, reason: str = "rolled back by operator") -> Decision:
        """Send all traffic back to the previous environment now.

        ``reason`` is logged with the decision: control characters become spaces,
        anything that looks like personal data becomes ``<redacted>``, and text beyond
        1000 characters is cut, so a long reason never blocks a rollback.

        Raises
        ------
        PolicyError
            For a reason that is not a str or is blank; nothing changes.
        """
        reason = operator_reason(reason, "BlueGreen")  # checked before anything changes
        if not self._ready:
            self._setup()
        with self._lock:
            now = self._now()  # a broken clock fails before anything changes
            self._phase, self._live = "discarded", self.active
            evidence = {"manual": True, "requests": dict(self._store.requests)}
            return self._record(Decision("rollback", reason, evidence, time=now))

    def to_dict(self) -> dict[str, Any]:
        """Return settings, phase, metric summaries and the decision log (JSON-safe)."""
        if not self._ready:
            self._setup()
        with self._lock:
            return {
                **self._header(),
                "active": self.active,
                "preview": self.preview,
                "params": self._params(),
                "gates": [g.to_dict() for g in self._gates],
                "phase": self._phase,
                "live": self._live,
                "metrics": self._store.to_dict(),
                "log": self._log_to_list(),
            }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, clock: Callable[[], float] | None = None
    ) -> BlueGreen:
        """Rebuild a blue-green policy written by :meth:`to_dict`."""
        top = _load.root(data, cls._kind)
        top.dict(
            keys=(
                "type",
                "format_version",
                "active",
                "preview",
                "params",
                "gates",
                "phase",
                "live",
                "metrics",
                "log",
            )
        )
        active, preview = top["active"].str(max_len=MAX_NAME), top["preview"].str(max_len=MAX_NAME)
        gates = [_load.gate(g) for g in top["gates"].each(max_len=MAX_GATES)]
        params = _load.params(top["params"])
        bg = _load.build(
            top["params"], lambda: cls(active, preview, gates=gates, clock=clock, **params)
        )
        _load.build(top, bg._setup)
        bg._phase = top["phase"].str(choices=("preview", "verified", "switched", "discarded"))
        bg._live = top["live"].str(choices=(bg.active, bg.preview))
        _load.metric_store(bg._store, top["metrics"])
        bg._log = _load.decision_log(top["log"])
        # The preview serves exactly when the phase is "switched" (switch, auto_switch).
        top["live"].check(
            (bg._live == bg.preview) == (bg._phase == "switched"),
            f"{short_repr(bg.preview)} when the phase is 'switched', {short_repr(bg.active)} "
            "otherwise",
        )
        if bg._phase in ("switched", "discarded"):
            action = "promote" if bg._phase == "switched" else "rollback"
            _load.ended_by(top["phase"], bg._log, (action,), repr(bg._phase))
        elif bg._phase == "verified":  # a later hold may follow the promote
            top["phase"].check(
                any(d.action == "promote" for d in bg._log),
                "'verified' only after a logged promote",
            )
        return bg
