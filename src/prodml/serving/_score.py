"""Batch scoring: Parquet in, Parquet out, in bounded memory, resumable after a crash.

Each input file is read ``chunk_rows`` rows at a time (only the columns the model and
``keep_columns`` need); each chunk is validated, transformed and scored as one batch and
written as its own part file, ``part-FFFFF-CCCCCC.parquet`` (input file F, chunk C), first
under a hidden temporary name and then renamed, so a part is either whole or absent.
Reading the next chunk and writing the previous part run on two threads while a chunk is
scored (Parquet decoding and encoding release the GIL). A
manifest, ``_prodml_score.json``, lists the finished parts and is rewritten (atomically)
after each one. On ``resume`` a run skips the parts the manifest lists and redoes the
rest: chunks are cut the same way every time, so no row is lost and none is written twice.
Readers of the output folder (``pyarrow.parquet.read_table``, pandas, Dask, DuckDB) skip
the manifest and temporary files (their names start with ``_`` and ``.``).

Every part's Parquet metadata holds, under the key ``prodml.scoring``, the model name,
version and fingerprint, the variant, the input's fingerprint (sha256 of its files'
bytes), the input file and chunk.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from prodml._files import PATH_QUOTE, os_reason, write_text
from prodml._params import NONE, Interval, TypeOf, check_params
from prodml._progress import progress_bar
from prodml._quote import error_line, short_repr
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.fingerprint import fingerprint_file, fingerprint_spec
from prodml.lineage import facet
from prodml.serving._predictor import Predictor
from prodml.serving._score_lineage import score_run
from prodml.serving._served import Served

__all__ = ["MANIFEST", "ScoreReport", "score"]

MANIFEST = "_prodml_score.json"
FORMAT_VERSION = 1
_META_KEY = b"prodml.scoring"
_OURS = ("part-", ".part-", f".{MANIFEST}")


@dataclass(frozen=True)
class ScoreReport:
    """What a :func:`score` run did."""

    output: str
    rows: int
    parts_written: int
    parts_skipped: int
    seconds: float
    model: str
    version: int | None
    input_fingerprint: str

    @property
    def rows_per_second(self) -> float:
        """Rows scored (written or skipped) per second of this run."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def keep_list(keep_columns: object) -> list[str]:
    """``keep_columns`` as a list of names: one str is one column, not its characters."""
    if isinstance(keep_columns, str):
        return [keep_columns]
    try:
        keep = list(keep_columns)  # type: ignore[call-overload]
    except TypeError:
        raise ConfigError(
            "The 'keep_columns' parameter must be a column name or a sequence of them. "
            f"Got {short_repr(keep_columns)} instead.",
            parameter="keep_columns",
        ) from None
    return keep


def _num_rows(path: Path) -> int:
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (pa.ArrowException, OSError) as err:
        raise ConfigError(f"cannot read {path.name} as Parquet: {error_line(err)}") from err


def _hash(path: Path) -> str:
    try:
        return fingerprint_file(path)
    except OSError as err:  # named here: the system's error alone says not which file
        shown = short_repr(str(path), limit=PATH_QUOTE)
        raise ConfigError(
            f"cannot read the input {shown}: {os_reason(err)}", parameter="source"
        ) from err


def _input_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    paths = [source] if isinstance(source, str | os.PathLike) else list(source)
    if any(not os.fspath(p) for p in paths):  # Path("") is the current folder
        raise ConfigError("the input path is empty: give a file or folder", parameter="source")
    files: list[Path] = []
    for p in map(Path, paths):
        try:
            if p.is_dir():
                found = sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and not any(part[:1] in "._" for part in f.relative_to(p).parts)
                )
                files.extend(found)
            elif p.is_file():
                files.append(p)
            elif p.exists():  # a FIFO would block the run, a device never end it
                shown = short_repr(str(p), limit=PATH_QUOTE)
                raise ConfigError(
                    f"the input {shown} is not a regular file or folder", parameter="source"
                )
            else:
                raise ConfigError(
                    f"no such file or folder: {short_repr(str(p))}", parameter="source"
                )
        except OSError as err:  # noqa: PERF203 - a name too long, a folder we may not list
            raise ConfigError(
                f"cannot read the input {short_repr(str(p))}: {os_reason(err)}",
                parameter="source",
            ) from err
    if not files:
        raise ConfigError("no input files to score", parameter="source")
    return files


def _manifest(dest: Path, expected: dict[str, Any], resume: bool) -> dict[str, int]:
    """The finished parts of a previous run into ``dest`` that this run may keep."""
    path = dest / MANIFEST
    try:
        if not dest.exists():
            dest.mkdir(parents=True)
            return {}
    except OSError as err:  # a name too long, a read-only parent...
        raise ConfigError(
            f"cannot create the output {short_repr(str(dest))}: {os_reason(err)}",
            parameter="dest",
        ) from err
    shown = short_repr(str(dest), limit=PATH_QUOTE)
    if not dest.is_dir():
        raise ConfigError(f"the output {shown} is a file, not a folder", parameter="dest")
    ours = {f.name for f in dest.iterdir() if f.name.startswith(_OURS)}
    others = sorted(f.name for f in dest.iterdir() if f.name not in ours and f.name != MANIFEST)
    if others:
        raise ConfigError(
            f"the output folder {shown} holds files score did not write "
            f"({', '.join(short_repr(n) for n in others[:3])}); give an empty or new folder",
            parameter="dest",
        )
    if not path.exists() or not resume:
        for name in ours:
            (dest / name).unlink()
        path.unlink(missing_ok=True)
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{MANIFEST} in the output folder {shown} is unreadable: {os_reason(err)}",
            parameter="dest",
        ) from err
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{MANIFEST}.format_version must be {FORMAT_VERSION}")
    for key, want in expected.items():
        if data.get(key) != want:
            raise ConfigError(
                f"the output folder holds a run with another {key} ({MANIFEST}.{key} is "
                f"{str(data.get(key))[:80]!r}, this run has {str(want)[:80]!r}); resume only "
                "the same model, input and settings, or pass resume=False to start over",
                parameter="dest",
            )
    done = data.get("done")
    if not isinstance(done, dict) or not all(
        isinstance(k, str) and k.startswith("part-") and type(v) is int and v >= 0
        for k, v in done.items()
    ):
        raise ConfigError(f"{MANIFEST}.done must map part names to row counts")
    return {k: v for k, v in done.items() if (dest / k).is_file()}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True), "the score manifest")


def _chunks(file: Path, columns: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    pf = pq.ParquetFile(file)
    try:
        yield from pf.iter_batches(batch_size=chunk_rows, columns=columns)
    finally:
        pf.close()


def score(
    predictor: Predictor,
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    dest: str | os.PathLike[str],
    *,
    chunk_rows: int = 100_000,
    resume: bool = True,
    keep_columns: Sequence[str] = (),
    variant: str | None = None,
    progress: bool | None = None,
    lineage_sink: object = None,
    lineage_namespace: str = "prodml",
) -> ScoreReport:
    """Score Parquet files with a predictor's model, chunk by chunk, into Parquet parts.

    Parameters
    ----------
    predictor
        Whose model scores (one variant, no routing or monitoring: this is batch work).
    source
        A Parquet file, a folder of them (read recursively, in sorted order; names
        starting with ``_`` or ``.`` are skipped), or a list of files.
    dest
        Output folder (created); it may hold only a previous run's parts.
    chunk_rows
        Rows per chunk, and so per part file. Memory is bounded by a few chunks: one
        being read ahead (with its Parquet row group), one being scored with its
        features, one queued and one being written.
    resume
        Keep the parts a previous, interrupted run of the same model, input and settings
        finished; ``False`` deletes them and starts over.
    keep_columns
        Input columns copied next to ``prediction`` (ids, keys): names, or one name.
    variant
        Which variant's model; default the predictor's first.
    progress
        Show progress on stderr; default only when stderr is a terminal.
    lineage_sink, lineage_namespace
        Where the run's OpenLineage events go (:mod:`prodml.lineage`: ``START``, then
        ``COMPLETE`` or ``FAIL``, job ``<model>.score`` in ``lineage_namespace``), from
        the model version and input files to the output folder.

    Raises
    ------
    SchemaError
        When a chunk does not match the schema; ``row`` in each problem is the row's
        position in its file. Parts finished before stay (resume after fixing the data).
    ConfigError
        For bad settings, a missing input, or an output folder holding other files or a
        run of another model, input or settings.

    Examples
    --------
    >>> import tempfile, pandas as pd, pyarrow.parquet as pq
    >>> from pathlib import Path
    >>> from sklearn.linear_model import LogisticRegression
    >>> from prodml.features import FeaturePipeline, steps
    >>> df = pd.DataFrame({"id": range(6), "x": [0.0, 1, 2, 3, 4, 5]})
    >>> pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(df[["x"]])
    >>> pred = Predictor(
    ...     pipe, LogisticRegression().fit(pipe.transform(df[["x"]]), [0, 0, 0, 1, 1, 1])
    ... )
    >>> tmp = Path(tempfile.mkdtemp())
    >>> df.to_parquet(tmp / "in.parquet")
    >>> report = score(pred, tmp / "in.parquet", tmp / "out", chunk_rows=4, keep_columns=["id"])
    >>> report.rows, report.parts_written
    (6, 2)
    >>> pq.read_table(tmp / "out").column_names
    ['id', 'prediction']
    """
    check_params(
        "score",
        {
            "predictor": predictor,
            "chunk_rows": chunk_rows,
            "resume": resume,
            "progress": progress,
        },
        {
            "predictor": [TypeOf(Predictor, "a prodml.serving.Predictor")],
            "chunk_rows": [Interval(int, 1, None)],
            "resume": [TypeOf(bool, "a bool")],
            "progress": [TypeOf(bool, "a bool"), NONE],
        },
    )
    t0 = time.perf_counter()
    state = predictor._state
    variant = state.home if variant is None else variant
    served = predictor._served(state, variant)
    keep = keep_list(keep_columns)
    files = _input_files(source)
    hashes = {str(f): _hash(f) for f in files}
    input_fp = fingerprint_spec(sorted(hashes.values()))
    expected = {
        "model": served.name,
        "version": served.version,
        "model_fingerprint": served.fingerprint,
        "variant": variant,
        "input_fingerprint": input_fp,
        "chunk_rows": chunk_rows,
        "keep_columns": keep,
    }
    sizes = [_num_rows(f) for f in files]  # a bad input fails before OUT is touched
    out = Path(dest)
    run = score_run(
        lineage_sink, lineage_namespace, predictor=predictor, served=served, variant=variant,
        hashes=hashes, input_fingerprint=input_fp, out=out,
    )  # fmt: skip
    run.start()
    try:
        report = _run(predictor, served, variant, files, sizes, out, expected, chunk_rows,
                      resume, keep, progress, t0, input_fp)  # fmt: skip
    except BaseException as err:
        run.fail(err)
        raise
    result = facet(
        action="score",
        input_fingerprint=input_fp,
        rows=report.rows,
        parts_written=report.parts_written,
        parts_skipped=report.parts_skipped,
    )
    run.complete(run_facets={"prodml": result})
    return report


def _run(  # noqa: PLR0917 - the body of score, split off for its lineage run
    predictor: Predictor,
    served: Served,
    variant: str,
    files: list[Path],
    sizes: list[int],
    out: Path,
    expected: dict[str, Any],
    chunk_rows: int,
    resume: bool,
    keep: list[str],
    progress: bool | None,
    t0: float,
    input_fp: str,
) -> ScoreReport:
    done = _manifest(out, expected, resume)
    columns = list(dict.fromkeys([*served.known, *served.schema.names, *keep]))
    bar = progress_bar(desc="scoring", total=sum(sizes), enabled=progress, delay=0)
    manifest = {"format_version": FORMAT_VERSION, **expected, "done": done, "complete": False}
    writer = _Writer(out, manifest)
    written = skipped = 0
    try:
        todo = _todo(files, sizes, chunk_rows, done, columns, keep)
        for f_i, c, name, batch in _prefetch(todo):
            if batch is None:  # a whole file already done
                skipped += -(-sizes[f_i] // chunk_rows)
                bar.update(sizes[f_i])
                continue
            if name in done:
                skipped += 1
            else:
                table = _score_chunk(predictor, served, variant, batch, keep, c * chunk_rows)
                writer.put(name, table, {**expected, "input_file": files[f_i].name, "chunk": c})
                written += 1
            bar.update(batch.num_rows)
        writer.close()
        manifest["complete"] = True
        manifest["rows"] = sum(done.values())
        _write_json(out / MANIFEST, manifest)
    finally:
        writer.close(raise_error=False)
        bar.close()
    return ScoreReport(
        output=str(out),
        rows=sum(sizes),
        parts_written=written,
        parts_skipped=skipped,
        seconds=time.perf_counter() - t0,
        model=served.name,
        version=served.version,
        input_fingerprint=input_fp,
    )


def _todo(  # noqa: PLR0917 - private helper of score
    files: list[Path],
    sizes: list[int],
    chunk_rows: int,
    done: dict[str, int],
    columns: list[str],
    keep: list[str],
) -> Iterator[tuple[int, int, str, pa.RecordBatch | None]]:
    """Every chunk in order: (file index, chunk index, part name, rows or None if skipped)."""
    for f_i, (file, n_rows) in enumerate(zip(files, sizes, strict=True)):
        names = [f"part-{f_i:05d}-{c:06d}.parquet" for c in range(-(-n_rows // chunk_rows))]
        if all(name in done for name in names):
            yield f_i, 0, "", None
            continue
        for c, batch in enumerate(_chunks(file, _present(file, columns, keep), chunk_rows)):
            yield f_i, c, names[c], batch


_T = TypeVar("_T")
_END = object()


def _prefetch(items: Iterator[_T]) -> Iterator[_T]:
    """``items``, read one ahead on a thread (Parquet decoding overlaps scoring)."""
    q: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    with contextlib.suppress(queue.Full):
                        q.put(item, timeout=0.05)
                        break
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer
            q.put(err)

    thread = threading.Thread(target=run, name="prodml-score-read", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            q.get_nowait()
        thread.join()


class _Writer:
    """Writes parts and then the manifest, in order, on a thread (one part queued)."""

    def __init__(self, out: Path, manifest: dict[str, Any]) -> None:
        self.out, self.manifest = out, manifest
        self.error: BaseException | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="prodml-score-write", daemon=True
        )
        self._thread.start()

    def put(self, name: str, table: pa.Table, meta: dict[str, Any]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put((name, table, meta))

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the main thread raises the error at its next put
            name, table, meta = job
            try:
                _write_part(self.out / name, table, meta)
                self.manifest["done"][name] = table.num_rows
                _write_json(self.out / MANIFEST, self.manifest)
            except BaseException as err:  # noqa: BLE001 - re-raised in the main thread
                self.error = err

    def close(self, *, raise_error: bool = True) -> None:
        """Finish the queued parts; raise a write error if there was one."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if raise_error and self.error is not None:
            raise self.error


def _present(file: Path, columns: list[str], keep: list[str]) -> list[str]:
    """The wanted columns the file has (validation then names the missing model inputs)."""
    names = set(pq.read_schema(file).names)
    missing = [k for k in keep if k not in names]
    if missing:
        raise SchemaError(
            problems=[
                SchemaProblem(k, "missing", f"keep column missing in {file.name}") for k in missing
            ]
        )
    return [c for c in columns if c in names]


def _score_chunk(  # noqa: PLR0917 - private helper of score
    predictor: Predictor,
    served: Served,
    variant: str,
    batch: pa.RecordBatch,
    keep: list[str],
    offset: int,
) -> pa.Table:
    try:
        values = served.score_table(batch, variant)
    except SchemaError as err:
        raise SchemaError(
            problems=[
                SchemaProblem(
                    p.column, p.kind, p.message, None if p.row is None else p.row + offset
                )
                for p in err.problems
            ]
        ) from err
    cols = {k: batch.column(k) for k in keep}
    cols["prediction"] = pa.array(values)
    return pa.table(cols)


def _write_part(path: Path, table: pa.Table, meta: dict[str, Any]) -> None:
    schema = table.schema.with_metadata({_META_KEY: json.dumps(meta, sort_keys=True).encode()})
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table.replace_schema_metadata(schema.metadata), tmp)
    os.replace(tmp, path)
