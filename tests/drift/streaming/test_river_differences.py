"""Where prodml's streaming detectors part from river 0.26, and why (docs/drift-streaming.md).

HDDM_W: river's ``SampleInfo`` starts a sample's sum of squared weights at 1 and updates
it with the first value too, so a sample of one value has ``lambda**2 + (1 - lambda)**2``
(0.905 at 0.05) where its estimate (the value itself, weight 1) has 1. Its McDiarmid bound
is then narrower than the estimate's, and river alarms earlier than the bound allows on
some streams. prodml keeps 1 (as MOA's HDDM_W does); with that one line of river changed,
the alarms are river's on every stream tried.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from prodml.drift.streaming import HDDM_W, StreamingDetector

hddm_w = pytest.importorskip("river.drift.binary.hddm_w", reason="needs river (the 'test' extra)")


def _river_alarms(det: object, values: np.ndarray) -> list[int]:
    out = []
    for i, x in enumerate(values.tolist()):
        det.update(x)  # type: ignore[attr-defined]
        if det.drift_detected:  # type: ignore[attr-defined]
            out.append(i)
    return out


def _errors(seed: int) -> np.ndarray:
    rng = np.random.default_rng(100 + seed)
    rates = np.repeat(rng.uniform(0.05, 0.6, 3), 2000)
    return (rng.random(6000) < rates).astype(np.float64)


class _FirstWeightOne(hddm_w.SampleInfo):  # type: ignore[misc, name-defined]
    """river's sample, but one value has the squared weight of one value: 1."""

    def update(self, x: float) -> None:
        first = not self._is_init
        super().update(x)
        if first:
            self._ibc = 1.0


def test_a_sample_of_one_value_has_squared_weight_one() -> None:
    det = HDDM_W()
    det.update(1.0)
    total = det.to_dict()["state"]["samples"][0]
    assert total == [1.0, 1.0]
    river_sample = hddm_w.SampleInfo(0.05)
    river_sample.update(1.0)
    assert river_sample.ibc == pytest.approx(0.905)  # river's, narrower


@pytest.mark.parametrize("two_sided", [False, True])
def test_alarms_are_rivers_once_its_first_weight_is_one(
    two_sided: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hddm_w, "SampleInfo", _FirstWeightOne)
    differ_as_is = 0
    for seed in range(20):
        values = _errors(seed)
        ours = HDDM_W(0.001, 0.005, two_sided_test=two_sided)
        got = []
        for i, x in enumerate(values.tolist()):
            if i == 3000:  # a JSON round trip mid-stream changes nothing
                ours = StreamingDetector.from_dict(json.loads(json.dumps(ours.to_dict())))
            if ours.update(x):
                got.append(i)
        assert got == _river_alarms(hddm_w.HDDMW(two_sided_test=two_sided), values)
        assert HDDM_W(0.001, 0.005, two_sided_test=two_sided).update_many(values).tolist() == got
        with monkeypatch.context() as m:
            m.setattr(hddm_w, "SampleInfo", _FirstWeightOne.__mro__[1])
            differ_as_is += got != _river_alarms(hddm_w.HDDMW(two_sided_test=two_sided), values)
    assert differ_as_is > 0  # the difference is real on these streams
