"""Feature store: prodml vs Feast on the same Parquet data, SQLite and Redis online.

Workload S1 (issue 17): 3 feature views x 10 float features, 1,000,000 event rows each
(100,000 users, created = event + a lag; 1% of rows arrive days late, i.e. backfills),
and a 100,000-row entity table with timestamps. Figures, for both tools:

- ``historical``: wall time, CPU time (``time.process_time``, all threads) and peak
  memory above the baseline (RSS sampled every 5 ms in a fresh process), against the
  output table's size;
- ``materialize`` into SQLite (and Redis) up to the entity table's last time;
- online read p50/p99 of 1 entity x 30 features over 10,000 calls, on SQLite and on
  Redis, next to a bare ``sqlite3`` / ``redis`` read of the same stored rows;
- both tools' historical output checked row by row against the brute-force join
  (:func:`prodml.testing.store.brute_force_historical`): a leak is a row whose value was
  not yet created at the row's time.

Feast pins older pyarrow/numpy/pydantic, so it runs from its own virtualenv as a
subprocess (``--feast-python``, default ``/work/benchvenv/feast/bin/python``)::

    python3 -m venv /work/benchvenv/feast
    /work/benchvenv/feast/bin/pip install 'feast[redis]'

Usage: ``python benchmarks/bench_store.py [--quick] [--redis URL] [--repeat N]
[--string-keys]``; Redis
defaults to ``$PRODML_TEST_REDIS_URL``. ``--repeat N`` adds N back-to-back ``historical``
pairs (prodml, then Feast) with the load average of each and the medians of the ratios;
``--historical-only --repeat N`` runs only those (``--no-check`` skips the brute-force
check, which takes minutes). Figures go to stdout and
``benchmarks/results/store.json`` (not written with ``--historical-only``).

``--string-keys`` writes the same data with ``user_id`` as strings (``u00000042``) in
the Parquet sources and the entity table: pandas 3 reads them back as Arrow-backed
``str``, and both tools get an entity DataFrame of that dtype (Feast's pandas 2 gets the
same ``StringDtype(na_value=nan)`` by a cast); Feast's entity is ``ValueType.STRING``,
prodml's infers ``string``. The key kind and each tool's entity key dtype are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

RESULTS = Path(__file__).parent / "results" / "store.json"
FEAST_PY = "/work/benchvenv/feast/bin/python"
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
SPAN_S = 90 * 86_400
TTL = timedelta(days=30)
N_VIEWS, N_FEATS = 3, 10


# ------------------------------------------------------------------------------ data


def user_keys(ids: np.ndarray, string_keys: bool) -> pa.Array:
    """The ``user_id`` column: int64 ids, or the same ids as strings ``u00000042``."""
    ints = pa.array(ids.astype(np.int64))
    if not string_keys:
        return ints
    digits = pc.utf8_lpad(ints.cast(pa.string()), width=8, padding="0")
    return pc.binary_join_element_wise("u", digits, "")


def make_data(
    root: Path, events: int, entities: int, users: int, seed: int = 0, *, string_keys: bool = False
) -> None:
    """Write the sources and the entity table; the same random draws for both key kinds."""
    rng = np.random.default_rng(seed)
    for v in range(N_VIEWS):
        ev = T0.timestamp() + rng.integers(0, SPAN_S, events)
        lag = rng.integers(0, 3_600, events).astype(float)
        late = rng.random(events) < 0.01
        lag[late] = rng.integers(86_400, 10 * 86_400, late.sum())
        cols: dict[str, Any] = {
            "user_id": user_keys(rng.integers(0, users, events), string_keys),
            "event_at": pd.to_datetime(ev, unit="s", utc=True).astype("datetime64[us, UTC]"),
            "created_at": pd.to_datetime(ev + lag, unit="s", utc=True).astype(
                "datetime64[us, UTC]"
            ),
        }
        for f in range(N_FEATS):
            cols[f"v{v}_f{f}"] = rng.normal(size=events).round(6)
        (root / f"v{v}").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), root / f"v{v}" / "part-0.parquet", row_group_size=250_000)
    ent_t = T0.timestamp() + 30 * 86_400 + rng.integers(0, SPAN_S - 30 * 86_400, entities)
    pq.write_table(
        pa.table(
            {
                "user_id": user_keys(rng.integers(0, users, entities), string_keys),
                "event_timestamp": pd.to_datetime(ent_t, unit="s", utc=True).astype(
                    "datetime64[us, UTC]"
                ),
                "row_id": np.arange(entities, dtype=np.int64),
            }
        ),
        root / "entity.parquet",
    )


def end_time(root: Path) -> datetime:
    ts = pq.read_table(root / "entity.parquet").column("event_timestamp")
    return ts.to_pandas().max().to_pydatetime()


# ---------------------------------------------------------------------------- memory

PEAK_SAMPLER = textwrap.dedent(
    """
    import os, threading, time
    def _rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    class Peak:
        def __init__(self):
            self.base = _rss(); self.peak = self.base; self._stop = False
            self._t = threading.Thread(target=self._run, daemon=True); self._t.start()
        def _run(self):
            while not self._stop:
                self.peak = max(self.peak, _rss()); time.sleep(0.005)
        def stop(self):
            self._stop = True; self._t.join(); self.peak = max(self.peak, _rss())
            return self.peak - self.base
    """
)


def _percentiles(times: list[float]) -> dict[str, float]:
    arr = np.array(times) * 1e6
    return {"p50_us": float(np.percentile(arr, 50)), "p99_us": float(np.percentile(arr, 99))}


# ---------------------------------------------------------------------------- prodml

PRODML_HISTORICAL = PEAK_SAMPLER + textwrap.dedent(
    """
    import json, sys, time
    import pyarrow.parquet as pq
    from prodml.store import FeatureStore
    root, store_dir = sys.argv[1], sys.argv[2]
    store = FeatureStore.local(store_dir)
    refs = [r for v in store.views.values() for r in v.refs()]
    entity = pq.read_table(root + "/entity.parquet").to_pandas()
    key_dtype = str(entity["user_id"].dtype)
    peak = Peak(); t0 = time.perf_counter(); c0 = time.process_time()
    train = store.historical(entity, refs).to_pandas()
    wall = time.perf_counter() - t0; cpu = time.process_time() - c0; extra = peak.stop()
    train.to_parquet(root + "/prodml_out.parquet")
    out_bytes = int(train.memory_usage(deep=True).sum())
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_bytes": extra,
                      "output_bytes": out_bytes, "entity_key_dtype": key_dtype}))
    """
)


def prodml_setup(root: Path, store_dir: Path) -> Any:
    from prodml.store import Entity, FeatureStore, FeatureView, Source

    store = FeatureStore.local(store_dir)
    user = Entity("user", keys=["user_id"])
    views = [
        FeatureView(
            f"v{v}",
            entity=user,
            source=Source.parquet(str(root / f"v{v}"), timestamp="event_at", created="created_at"),
            features=[f"v{v}_f{f}" for f in range(N_FEATS)],
            ttl=TTL,
        )
        for v in range(N_VIEWS)
    ]
    store.apply([user, *views])
    return store


def probe_user(string_keys: bool) -> tuple[int | str, str]:
    """The user read online: its key value, and prodml's stored key string for it."""
    return ("u00000042", "su00000042") if string_keys else (42, "42")


def bench_prodml(
    root: Path, redis_url: str | None, calls: int, *, string_keys: bool = False
) -> dict[str, Any]:
    import redis as redis_py

    from prodml.store import FeatureStore

    out: dict[str, Any] = {}
    store_dir = root / "prodml"
    store = prodml_setup(root, store_dir)
    refs = [r for v in store.views.values() for r in v.refs()]
    out["historical"] = _prodml_historical(root, store_dir)
    end = end_time(root)
    t0 = time.perf_counter()
    store.materialize(end)
    out["materialize_sqlite_s"] = time.perf_counter() - t0
    user, stored = probe_user(string_keys)
    key = {"user_id": user}
    out["online_sqlite"] = _online_loop(lambda: store.online(key, refs, at=end), calls)
    out["bare_sqlite"] = _bare_sqlite(store_dir / "online.db", calls, stored)
    row_sqlite = store.online(key, refs, at=end)
    if redis_url:
        url = f"{redis_url}{'&' if '?' in redis_url else '?'}prefix=benchprodml:"
        rstore = FeatureStore(store.offline_store, url)
        rstore.apply(
            [
                *{v.entity.name: v.entity for v in store.views.values()}.values(),
                *store.views.values(),
            ]
        )
        t0 = time.perf_counter()
        rstore.materialize(end)
        out["materialize_redis_s"] = time.perf_counter() - t0
        out["online_redis"] = _online_loop(lambda: rstore.online(key, refs, at=end), calls)
        assert dict(rstore.online(key, refs, at=end)) == dict(row_sqlite)
        client = redis_py.Redis.from_url(redis_url, decode_responses=True)
        keys = [f"benchprodml:v{v}:{stored}" for v in range(N_VIEWS)]
        out["bare_redis"] = _online_loop(lambda: client.mget(keys), calls)
        for k in client.scan_iter(match="benchprodml:*", count=10_000):
            client.delete(k)
    out["online_row"] = dict(row_sqlite.items())
    return out


def _prodml_historical(root: Path, store_dir: Path) -> dict[str, Any]:
    res = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "-c", PRODML_HISTORICAL, str(root), str(store_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def historical_pairs(
    root: Path, feast_py: str, repeat: int, *, string_keys: bool = False
) -> dict[str, Any]:
    """``historical`` of prodml then Feast, ``repeat`` times: per pair and medians.

    Each pair runs back to back, so both tools see about the same load; the load average
    (1 minute) is recorded with each pair.
    """
    store_dir = root / "prodml"
    if not store_dir.exists():
        prodml_setup(root, store_dir)
    yaml = _feast_yaml(root, "feast_h", f"  type: sqlite\n  path: {root}/feast_h/online.db\n")
    end = end_time(root).isoformat()
    pairs: list[dict[str, Any]] = []
    for _ in range(repeat):
        p = _prodml_historical(root, store_dir)
        f = _run_feast(
            feast_py,
            root,
            "feast_h",
            yaml,
            calls=0,
            end=end,
            extra=("historical", "only"),
            string_keys=string_keys,
        )
        if "error" in f:
            return {"pairs": pairs, "error": f["error"]}
        fh = f["historical"]
        pairs.append(
            {
                "prodml_wall_s": p["wall_s"],
                "feast_wall_s": fh["wall_s"],
                "ratio": fh["wall_s"] / p["wall_s"],
                "prodml_cpu_s": p["cpu_s"],
                "feast_cpu_s": fh["cpu_s"],
                "cpu_ratio": fh["cpu_s"] / p["cpu_s"],
                "prodml_peak_over_output": p["peak_bytes"] / p["output_bytes"],
                "prodml_peak_mib": p["peak_bytes"] / 2**20,
                "feast_peak_mib": fh["peak_bytes"] / 2**20,
                "load_1min": os.getloadavg()[0],
                "prodml_entity_key_dtype": p["entity_key_dtype"],
                "feast_entity_key_dtype": fh["entity_key_dtype"],
            }
        )
    return {
        "pairs": pairs,
        "median_ratio": statistics.median(x["ratio"] for x in pairs),
        "median_cpu_ratio": statistics.median(x["cpu_ratio"] for x in pairs),
        "median_prodml_peak_over_output": statistics.median(
            x["prodml_peak_over_output"] for x in pairs
        ),
        "median_prodml_peak_mib": statistics.median(x["prodml_peak_mib"] for x in pairs),
    }


def _online_loop(fn: Any, calls: int) -> dict[str, float]:
    for _ in range(min(500, calls)):
        fn()
    times = []
    clock = time.perf_counter
    for _ in range(calls):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return _percentiles(times)


def _bare_sqlite(path: Path, calls: int, stored: str) -> dict[str, float]:
    import sqlite3

    con = sqlite3.connect(path)
    sql = "SELECT view, payload FROM prodml_online WHERE key = ? AND view IN (?, ?, ?)"
    args = [stored, *(f"v{v}" for v in range(N_VIEWS))]
    return _online_loop(lambda: con.execute(sql, args).fetchall(), calls)


# ----------------------------------------------------------------------------- Feast

FEAST_DRIVER = PEAK_SAMPLER + textwrap.dedent(
    """
    import json, sys, time, warnings, logging
    from datetime import datetime, timedelta, timezone
    warnings.filterwarnings("ignore"); logging.disable(logging.WARNING)
    import numpy as np, pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float64
    from feast.value_type import ValueType
    root, repo, online = sys.argv[1], sys.argv[2], sys.argv[3]
    calls, end = int(sys.argv[4]), datetime.fromisoformat(sys.argv[5])
    import os
    os.makedirs(repo, exist_ok=True)
    with open(repo + "/feature_store.yaml", "w") as f:
        f.write(online)
    string_keys = "string-keys" in sys.argv[6:]
    user = Entity(name="user", join_keys=["user_id"],
                  value_type=ValueType.STRING if string_keys else ValueType.INT64)
    views = []
    for v in range(3):
        src = FileSource(path=f"{root}/v{v}/part-0.parquet", timestamp_field="event_at",
                         created_timestamp_column="created_at")
        views.append(FeatureView(name=f"v{v}", entities=[user], ttl=timedelta(days=30),
                                 schema=[Field(name=f"v{v}_f{i}", dtype=Float64)
                                         for i in range(10)],
                                 source=src, online=True))
    store = FeatureStore(repo_path=repo)
    store.apply([user, *views])
    refs = [f"v{v}:v{v}_f{i}" for v in range(3) for i in range(10)]
    out = {}
    if "historical" in sys.argv[6:]:
        entity = pd.read_parquet(root + "/entity.parquet")
        if string_keys:  # pandas 3's Arrow-backed str (pandas 2 reads object)
            entity["user_id"] = entity["user_id"].astype(
                pd.StringDtype("pyarrow", na_value=np.nan))
        key_dtype = str(entity["user_id"].dtype)
        peak = Peak(); t0 = time.perf_counter(); c0 = time.process_time()
        df = store.get_historical_features(entity_df=entity, features=refs).to_df()
        out["historical"] = {"wall_s": time.perf_counter() - t0,
                             "cpu_s": time.process_time() - c0, "peak_bytes": peak.stop(),
                             "output_bytes": int(df.memory_usage(deep=True).sum()),
                             "entity_key_dtype": key_dtype}
        df.sort_values("row_id").to_parquet(root + "/feast_out.parquet")
    if "only" in sys.argv[6:]:
        print(json.dumps(out)); sys.exit(0)
    t0 = time.perf_counter()
    store.materialize(start_date=end - timedelta(days=400), end_date=end)
    out["materialize_s"] = time.perf_counter() - t0
    rows = [{"user_id": "u00000042" if string_keys else 42}]
    def read():
        return store.get_online_features(features=refs, entity_rows=rows).to_dict()
    for _ in range(min(200, calls)):
        read()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter(); read(); times.append(time.perf_counter() - t0)
    arr = np.array(times) * 1e6
    out["online"] = {"p50_us": float(np.percentile(arr, 50)),
                     "p99_us": float(np.percentile(arr, 99))}
    out["online_row"] = {k: v[0] for k, v in read().items() if k != "user_id"}
    print(json.dumps(out))
    """
)


def _run_feast(
    feast_py: str,
    root: Path,
    repo: str,
    yaml: str,
    *,
    calls: int,
    end: str,
    extra: tuple[str, ...] = (),
    string_keys: bool = False,
) -> dict[str, Any]:
    """Run the Feast driver in its own virtualenv; its JSON figures, or the error."""
    res = subprocess.run(  # noqa: S603 - our own driver in the Feast venv
        [
            feast_py,
            "-c",
            FEAST_DRIVER,
            str(root),
            f"{root}/{repo}",
            yaml,
            str(calls),
            end,
            *extra,
            *(["string-keys"] if string_keys else []),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode:
        return {"error": res.stderr[-3000:]}
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def _feast_yaml(root: Path, project: str, online: str) -> str:
    return (
        f"project: {project}\nregistry: {root}/{project}/registry.db\nprovider: local\n"
        f"online_store:\n{online}offline_store:\n  type: file\n"
        "entity_key_serialization_version: 3\n"
    )


def bench_feast(
    root: Path, feast_py: str, redis_url: str | None, calls: int, *, string_keys: bool = False
) -> dict[str, Any]:
    if not Path(feast_py).exists():
        return {"skipped": f"no Feast virtualenv at {feast_py}"}
    end = end_time(root).isoformat()
    sqlite_online = f"  type: sqlite\n  path: {root}/feast/online.db\n"
    sqlite = _run_feast(
        feast_py,
        root,
        "feast",
        _feast_yaml(root, "feast", sqlite_online),
        calls=calls,
        end=end,
        extra=("historical",),
        string_keys=string_keys,
    )
    if "error" in sqlite:
        return sqlite
    out: dict[str, Any] = {
        "historical": sqlite["historical"],
        "materialize_sqlite_s": sqlite["materialize_s"],
        "online_sqlite": sqlite["online"],
        "online_row": sqlite["online_row"],
    }
    if redis_url:
        from urllib.parse import urlsplit

        u = urlsplit(redis_url)
        db = (u.path or "/0").strip("/") or "0"
        redis_online = f"  type: redis\n  connection_string: {u.hostname}:{u.port},db={db}\n"
        r = _run_feast(
            feast_py,
            root,
            "feast_r",
            _feast_yaml(root, "feast_r", redis_online),
            calls=calls,
            end=end,
            string_keys=string_keys,
        )
        if "error" in r:
            out["redis_error"] = r["error"]
        else:
            out["materialize_redis_s"] = r["materialize_s"]
            out["online_redis"] = r["online"]
    return out


# ----------------------------------------------------------------------- correctness


def check_against_brute_force(root: Path, name: str) -> dict[str, Any]:
    """Compare a tool's output with the brute-force join; count leaks and other errors."""
    from prodml.store import Entity, FeatureView, Source
    from prodml.testing.store import brute_force_historical

    path = root / f"{name}_out.parquet"
    if not path.exists():
        return {"checked": False}
    entity = pd.read_parquet(root / "entity.parquet").sort_values("row_id")
    entity = entity.reset_index(drop=True)
    out = pd.read_parquet(path)
    dropped = len(entity) - out["row_id"].nunique()
    # A tool that drops entity rows gets NaN there, counted as wrong where a value exists.
    got = entity[["row_id"]].merge(
        out.drop(columns=["user_id", "event_timestamp"]), on="row_id", how="left"
    )
    user = Entity("user", keys=["user_id"])
    wrong = leaks = 0
    for v in range(N_VIEWS):
        feats = [f"v{v}_f{f}" for f in range(N_FEATS)]
        view = FeatureView(
            f"v{v}",
            entity=user,
            ttl=TTL,
            features=feats,
            source=Source.parquet(str(root / f"v{v}"), timestamp="event_at", created="created_at"),
        )
        src = pq.read_table(root / f"v{v}")
        expected = brute_force_historical(entity, [(view, src)])
        exp = np.array([np.nan if r[feats[0]] is None else r[feats[0]] for r in expected])
        actual = got[feats[0]].to_numpy(dtype=float, na_value=np.nan)
        bad = ~((np.isnan(exp) & np.isnan(actual)) | (exp == actual))
        wrong += int(bad.sum())
        if bad.any():
            # A leak: the tool's value comes from a row created after the entity row's time.
            frame = src.select(["user_id", "created_at", feats[0]]).to_pandas()
            created = dict(
                zip(
                    zip(frame["user_id"], frame[feats[0]], strict=False),
                    frame["created_at"],
                    strict=False,
                )
            )
            for i in np.flatnonzero(bad):
                c = created.get((entity["user_id"][i], actual[i]))
                if c is not None and c > entity["event_timestamp"][i]:
                    leaks += 1
    return {
        "checked": True,
        "rows": len(entity) * N_VIEWS,
        "dropped_entity_rows": dropped,
        "wrong": wrong,
        "leaks": leaks,
    }


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k events, 10k entity rows")
    parser.add_argument("--feast-python", default=FEAST_PY)
    parser.add_argument("--redis", default=os.environ.get("PRODML_TEST_REDIS_URL"))
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument(
        "--repeat", type=int, default=0, help="then N more back-to-back historical pairs"
    )
    parser.add_argument(
        "--historical-only", action="store_true", help="only the --repeat historical pairs"
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip the brute-force check (minutes)"
    )
    parser.add_argument(
        "--string-keys",
        action="store_true",
        help="user_id as strings (u00000042) in the sources and the entity table",
    )
    args = parser.parse_args()
    keys = "string" if args.string_keys else "int64"
    events, entities, users = (
        (100_000, 10_000, 10_000) if args.quick else (1_000_000, 100_000, 100_000)
    )
    calls = args.calls or (2_000 if args.quick else 10_000)
    import duckdb
    import redis

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        root = Path(tmp)
        make_data(root, events, entities, users, string_keys=args.string_keys)
        if args.historical_only:
            only = historical_pairs(
                root, args.feast_python, max(args.repeat, 1), string_keys=args.string_keys
            )
            checks = {
                n: {"checked": False} if args.no_check else check_against_brute_force(root, n)
                for n in ("prodml", "feast")
            }
            print(
                json.dumps(
                    {
                        "keys": keys,
                        "entity_key_dtypes": _key_dtypes(only.get("pairs", [])),
                        "historical_pairs": only,
                        "checks": checks,
                        "load_average_at_end": os.getloadavg(),
                    },
                    indent=2,
                )
            )
            return
        prodml = bench_prodml(root, args.redis, calls, string_keys=args.string_keys)
        feast = bench_feast(
            root, args.feast_python, args.redis, calls, string_keys=args.string_keys
        )
        pairs = (
            historical_pairs(root, args.feast_python, args.repeat, string_keys=args.string_keys)
            if args.repeat
            else None
        )
        checks = {n: check_against_brute_force(root, n) for n in ("prodml", "feast")}
    feast_version = (
        subprocess.run(  # noqa: S603 - the Feast venv's own python
            [args.feast_python, "-c", "import feast; print(feast.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if Path(args.feast_python).exists()
        else None
    )
    report = {
        "workload": {
            "keys": keys,
            "events_per_view": events,
            "views": N_VIEWS,
            "features": N_VIEWS * N_FEATS,
            "entity_rows": entities,
            "users": users,
            "online_calls": calls,
        },
        "versions": {
            "duckdb": duckdb.__version__,
            "redis-py": redis.__version__,
            "feast": feast_version,
            "python": sys.version.split()[0],
        },
        "prodml": prodml,
        "feast": feast,
        "historical_pairs": pairs,
        "checks": checks,
        "load_1min_at_end": os.getloadavg()[0],
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    _print(report)


def _key_dtypes(pairs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The pandas dtypes of ``user_id`` in the entity DataFrames each tool was given."""
    return {
        tool: sorted({x[f"{tool}_entity_key_dtype"] for x in pairs}) for tool in ("prodml", "feast")
    }


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{b / a:.1f}x"


def _print(r: dict[str, Any]) -> None:
    p, f = r["prodml"], r["feast"]
    ph, fh = p["historical"], f.get("historical", {})
    mb = 1 / 2**20
    print(f"workload: {r['workload']}")
    print(f"versions: {r['versions']}")
    print(
        f"entity user_id dtype: prodml {ph.get('entity_key_dtype')}, "
        f"feast {fh.get('entity_key_dtype')}"
    )
    print("figure                         prodml        feast         ratio (feast/prodml)")
    rows = [
        ("historical wall (s)", ph["wall_s"], fh.get("wall_s")),
        ("historical peak (MiB)", ph["peak_bytes"] * mb, (fh.get("peak_bytes") or 0) * mb),
        ("output size (MiB)", ph["output_bytes"] * mb, (fh.get("output_bytes") or 0) * mb),
        ("materialize sqlite (s)", p["materialize_sqlite_s"], f.get("materialize_sqlite_s")),
        ("materialize redis (s)", p.get("materialize_redis_s"), f.get("materialize_redis_s")),
        (
            "online sqlite p50 (us)",
            p["online_sqlite"]["p50_us"],
            f.get("online_sqlite", {}).get("p50_us"),
        ),
        (
            "online sqlite p99 (us)",
            p["online_sqlite"]["p99_us"],
            f.get("online_sqlite", {}).get("p99_us"),
        ),
        (
            "online redis p50 (us)",
            p.get("online_redis", {}).get("p50_us"),
            f.get("online_redis", {}).get("p50_us"),
        ),
        (
            "online redis p99 (us)",
            p.get("online_redis", {}).get("p99_us"),
            f.get("online_redis", {}).get("p99_us"),
        ),
    ]
    for name, a, b in rows:
        fa = f"{a:,.2f}" if a is not None else "-"
        fb = f"{b:,.2f}" if b else "-"
        print(f"{name:<30} {fa:<13} {fb:<13} {_ratio(a, b)}")
    print(f"prodml peak / output: {ph['peak_bytes'] / ph['output_bytes']:.2f}x")
    for kind in ("sqlite", "redis"):
        bare = p.get(f"bare_{kind}")
        mine = p.get(f"online_{kind}")
        if bare and mine:
            print(
                f"online {kind} p50 vs bare {kind} read: {mine['p50_us'] / bare['p50_us']:.2f}x "
                f"(bare p50 {bare['p50_us']:.1f} us, p99 {bare['p99_us']:.1f} us)"
            )
    pairs = r.get("historical_pairs")
    if pairs and pairs.get("pairs"):
        for x in pairs["pairs"]:
            print(
                f"historical pair: prodml {x['prodml_wall_s']:.2f} s, feast "
                f"{x['feast_wall_s']:.2f} s, ratio {x['ratio']:.1f}x (CPU "
                f"{x['prodml_cpu_s']:.2f} s vs {x['feast_cpu_s']:.2f} s, {x['cpu_ratio']:.1f}x), "
                "prodml peak "
                f"{x['prodml_peak_mib']:.1f} MiB ({x['prodml_peak_over_output']:.2f}x output), "
                f"load {x['load_1min']:.1f}"
            )
        print(
            f"historical pairs: median ratio {pairs['median_ratio']:.1f}x (CPU "
            f"{pairs['median_cpu_ratio']:.1f}x), median prodml peak "
            f"{pairs['median_prodml_peak_over_output']:.2f}x output"
        )
    print(f"load average (1 min) at the end: {r['load_1min_at_end']:.1f}")
    for name, c in r["checks"].items():
        print(f"{name} vs brute force: {c}")
    if "error" in f:
        print("feast failed:", f["error"][-1500:])
    if "redis_error" in f:
        print("feast redis failed:", f["redis_error"][-1500:])


if __name__ == "__main__":
    main()
