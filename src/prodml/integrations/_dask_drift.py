"""Drift profiles of Dask DataFrames and Parquet datasets (re-exported by ``dask.py``).

:func:`profile` profiles each partition on a worker and merges the profiles in a tree,
keeping the categories in the order one pass would meet them; :func:`fit_detector` and
:func:`detect` run a :class:`~prodml.drift.DriftDetector` on such a profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from prodml._extras import require
from prodml._params import TypeOf, check_params
from prodml.drift import DriftDetector, DriftReport, Profile
from prodml.drift._profile import CategoricalColumn
from prodml.errors import DriftError, NotFittedError
from prodml.integrations._dask_errors import _FEATURE, _naming_files, _on_partition
from prodml.integrations._dask_frames import (
    _check_split_every,
    _conform,
    _frame,
    _gather_zones,
    _merge_zones,
    _progress,
    _tree_reduce,
    _zones,
)
from prodml.integrations._dask_guard import guarded_parts, partition_files
from prodml.privacy import Privacy, check_privacy

if TYPE_CHECKING:
    from prodml.integrations.dask import _Data

__all__ = ["detect", "fit_detector", "profile"]

_DETECTOR = TypeOf(DriftDetector, "a prodml.drift.DriftDetector")


_Zoned = tuple[Profile, dict[str, list[tuple[int, str | None]]]]


def _profile_part(
    params: dict[str, Any], part: pd.DataFrame, columns: list[Any], index: int
) -> _Zoned:
    part = _conform(part, columns, index, exact=params["columns"] is None)
    return _on_partition(index, _profile_zoned, params, part, index)


def _profile_zoned(params: dict[str, Any], part: pd.DataFrame, index: int) -> _Zoned:
    zones = {name: [zone] for name, zone in _zones(part, index).items()}
    return Profile(**params).update(part), zones


def _merge_zoned(*parts: _Zoned) -> _Zoned:
    zones = _gather_zones(*[z for _, z in parts])
    return _merge_profiles(*[p for p, _ in parts]), zones


def _merge_profiles(*profiles: Profile) -> Profile:
    out = profiles[0]
    for other in profiles[1:]:
        merged = out.merge(other)
        # Profile.merge lists categories in sorted order, profiling one table in order of
        # first appearance; the chi-square sums follow that order, so keep the stream's
        # order (first appearance over the partitions in order), as one pass would.
        for name, state in merged.columns.items():
            if isinstance(state, CategoricalColumn):
                order = [
                    *_categories(out.columns.get(name)),
                    *_categories(other.columns.get(name)),
                ]
                if state.hashed:  # hashed by this merge: the tokens keep the same order
                    order = [merged.privacy.token(k) for k in order]
                state.counts = {k: state.counts[k] for k in dict.fromkeys(order)}
        out = merged
    return out


def _categories(state: object) -> list[Any]:
    return list(state.counts) if isinstance(state, CategoricalColumn) else []


def profile(
    data: _Data,
    *,
    max_exact: int = 100_000,
    relative_accuracy: float = 1e-3,
    columns: Sequence[str] | None = None,
    split_every: int = 8,
    privacy: Privacy | None = None,
    progress: bool | None = None,
) -> Profile:
    """Drift :class:`~prodml.drift.Profile` of a Dask DataFrame or Parquet dataset.

    Each partition is profiled on a worker; the profiles merge in a tree. The result
    equals ``Profile(...).update(data.compute())`` (``==``), sketched columns included.

    Parameters
    ----------
    data
        A Dask DataFrame, a pandas DataFrame, or a path or list of paths of Parquet files.
    max_exact, relative_accuracy, columns
        As :class:`~prodml.drift.Profile`.
    split_every
        Fan-in of the merge tree.
    privacy
        As :class:`~prodml.drift.Profile`. The policy (with its salt) is sent to the
        workers, so that every partition hashes alike.
    progress
        A bar of tasks done on stderr: ``None`` on a terminal only, ``True`` always,
        ``False`` never.

    Raises
    ------
    ConfigError
        For invalid parameters.
    SchemaError
        For unsupported column types or missing ``columns`` (at once, or from the first
        partition without one, naming it), or a datetime column whose time zone differs
        between partitions (naming them and the Parquet files they read, once every
        partition is profiled).
    DriftError
        For an infinite value in a numeric column.
    PartitionError
        When a partition cannot be computed (read error, failing upstream code), naming
        the partition and, when Dask's task names it, the Parquet file.
    """
    _check_split_every(split_every, "profile")
    params: dict[str, Any] = {
        "max_exact": max_exact,
        "relative_accuracy": relative_accuracy,
        "columns": None if columns is None else list(columns),
        "privacy": check_privacy("profile", privacy),
    }
    frame = _frame(data)
    Profile(**params).update(frame._meta)  # parameters and columns, checked at once
    dask = require("dask", extra="dask", feature=_FEATURE)
    if columns is None:
        columns = list(frame.columns)
    else:
        columns = list(columns)
        frame = frame[columns]  # read only these (Parquet: other columns are not read)
    parts = guarded_parts(frame)
    leaves = [dask.delayed(_profile_part)(params, part, columns, i) for i, part in enumerate(parts)]
    with (
        _progress("profiling", progress),
        _naming_files(lambda index: partition_files(parts[index])),
    ):
        result: _Zoned = _tree_reduce(leaves, _merge_zoned, split_every)
    # time zones that differ between partitions: raised here, where the files are known
    _merge_zones(
        [{name: zone} for name, seen in result[1].items() for zone in seen],
        files=lambda index: partition_files(parts[index]),
    )
    return result[0].finalize()


def _profile_for(detector: DriftDetector, data: _Data, columns: Sequence[str] | None) -> Profile:
    check_params("fit_detector/detect", {"detector": detector}, {"detector": [_DETECTOR]})
    if detector.multivariate:
        raise DriftError(
            "multivariate=True needs the rows in memory; the dask functions build profiles "
            "only (use a DriftDetector with multivariate=False)"
        )
    return profile(
        data,
        max_exact=detector.max_exact,
        relative_accuracy=detector.relative_accuracy,
        columns=columns,
        privacy=getattr(detector, "privacy", None),
    )


def fit_detector(detector: DriftDetector, reference: _Data) -> DriftDetector:
    """Fit ``detector`` on the profile of a Dask DataFrame or Parquet dataset.

    Returns
    -------
    DriftDetector
        ``detector``, fitted as ``detector.fit(reference.compute())`` would be.

    Raises
    ------
    DriftError
        For ``multivariate=True`` (it needs rows) or an empty reference.
    """
    prof = _profile_for(detector, reference, getattr(detector, "columns", None))
    return detector.fit(prof)


def detect(detector: DriftDetector, current: _Data) -> DriftReport:
    """Compare a Dask DataFrame or Parquet dataset with a fitted detector's reference.

    Returns
    -------
    DriftReport
        Equal to ``detector.detect(current.compute())``.

    Raises
    ------
    NotFittedError
        Before the detector is fitted.
    """
    check_params("detect", {"detector": detector}, {"detector": [_DETECTOR]})
    if not hasattr(detector, "reference_"):
        raise NotFittedError(
            "This DriftDetector is not fitted yet; call fit(reference) first.",
            estimator="DriftDetector",
        )
    return detector.detect(_profile_for(detector, current, detector.columns_))
