"""A ModelMonitor pickled by an older prodml unpickles and goes on working.

``golden/monitor_before_labels36.pickle`` was written by the code of commit 53c1d7e (main
just before labels36 added the record of labelled ids and ``duplicate_labels_total``)::

    git archive 53c1d7e src | tar -x -C /tmp/old36
    PYTHONPATH=/tmp/old36/src python - > monitor_before_labels36.pickle <<'EOF'
    mon = ModelMonitor("churn", window=CountWindow(10),
                       rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.6)],
                       clock=time.time, evaluate_every_s=None, max_pending=3)
    # p0..p2 logged and labelled 1, 0, 0 (scores 0.9, 0.2, 0.8); p3 (0.4) left pending
    sys.stdout.buffer.write(pickle.dumps(mon, protocol=4))
    EOF

Its state has no ``_labelled`` and no ``duplicate_labels_total`` counter.
"""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from pathlib import Path

from prodml.monitoring import ModelMonitor
from prodml.monitoring._values import COUNTERS
from prodml.monitoring.windows import CountWindow

from .conftest import FakeClock

GOLDEN = Path(__file__).parent / "golden" / "monitor_before_labels36.pickle"


def _old() -> ModelMonitor:
    mon = pickle.loads(GOLDEN.read_bytes())
    assert isinstance(mon, ModelMonitor)
    return mon


def test_golden_pickle_is_from_before_the_record_of_labelled_ids():
    raw = GOLDEN.read_bytes()
    assert b"_labelled" not in raw
    assert b"duplicate_labels_total" not in raw
    assert b"labels_total" in raw


def test_old_monitor_takes_labels_and_counts_duplicates():
    mon = _old()
    assert mon._labelled == OrderedDict()
    counters = mon.counters()
    assert list(counters) == list(COUNTERS)  # every counter, in the usual order
    assert counters["duplicate_labels_total"] == 0
    assert counters["labels_total"] == 3
    assert mon.log_label("p3", 1) is True  # the prediction left pending is still there
    assert mon.log_label("p3", 1) is False  # a second label: a duplicate, not unmatched
    # p0 was labelled before the monitor kept a record of it: unknown now.
    assert mon.log_label("p0", 1) is False
    after = mon.counters()
    assert after["duplicate_labels_total"] == 1
    assert after["unmatched_total"] == 1
    assert after["labels_total"] == 4
    assert mon.metrics()["window_count"] == 4.0


def test_old_monitor_saves_and_copies_with_the_new_state():
    mon = _old()
    mon.log_label("p3", 0)
    twin = ModelMonitor.from_dict(mon.to_dict(), clock=FakeClock(5000.0))
    assert list(twin._labelled) == ["p3"]
    dup = copy.deepcopy(mon)
    assert dup.log_label("p3", 0) is False
    assert dup.counters()["duplicate_labels_total"] == 1
    assert mon.counters()["duplicate_labels_total"] == 0


def test_state_without_the_new_attributes_unpickles_on_this_code():
    # The same situation made here: a monitor whose pickled state predates _labelled.
    mon = ModelMonitor("m", window=CountWindow(5), clock=FakeClock(), evaluate_every_s=None)
    mon.log_prediction("a", None, 0.7)
    del mon.__dict__["_labelled"]
    del mon._counters["duplicate_labels_total"]
    back = pickle.loads(pickle.dumps(mon))
    assert back.log_label("a", 1) is True
    assert back.log_label("a", 1) is False
    assert back.counters()["duplicate_labels_total"] == 1
