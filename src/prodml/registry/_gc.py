"""Garbage collection of artifact keys: what may go, decided from the metadata store.

The metadata store keeps a *pending* row for every key whose files may become garbage:
the lease of a registration in flight, the orphan of a failed registration (or of a lease
gc revoked), and the files of a deleted version. A default :func:`collect` reads only
those rows, so it costs what there is to collect, not what the registry holds; with
``scan=True`` it also lists the whole artifact store for keys nothing references (left by
an older prodml, or written by hand) and removes them once older than the grace period.

Whatever ``grace_period``, a key is never deleted while its registration can still
commit: an expired lease is first revoked in one atomic step, and a registration whose
lease was revoked fails at commit instead of committing a version without files.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from prodml.errors import RegistryError
from prodml.registry._paths import key_problem
from prodml.registry.backends._artifact_base import ArtifactStore, key_age
from prodml.registry.backends.metadata import LIVE, MetadataStore, Pending, VersionQuery
from prodml.registry.entities import Status

__all__ = ["GCReport", "collect"]

log = logging.getLogger("prodml.registry")


@dataclass
class GCReport:
    """What :meth:`ModelRegistry.gc <prodml.registry.ModelRegistry.gc>` removed.

    With ``dry_run``, what it would remove. Every list holds artifact keys.

    Attributes
    ----------
    deleted_versions
        Files of deleted versions.
    orphans
        Keys of failed or killed registrations (expired leases), and with ``scan`` keys
        nothing references that are older than the grace period.
    kept_recent
        Unreferenced keys younger than the grace period (``scan`` only).
    in_flight
        Keys leased by registrations still in flight (``scan`` only): never touched.
    skipped
        Keys a pending row names that are not valid keys: never touched, reported.
    refusal
        Why gc refused (or, in a dry run, would refuse) without ``force=True``.
    """

    deleted_versions: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    kept_recent: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refusal: str | None = None

    @property
    def removed(self) -> list[str]:
        """Every artifact key removed (or, with ``dry_run``, to be removed)."""
        return sorted(self.deleted_versions + self.orphans)


def collect(
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    grace: float,
    *,
    dry_run: bool,
    force: bool,
    scan: bool,
) -> GCReport:
    """Find (and unless ``dry_run``, delete) the garbage; see the module docstring."""
    if (gone := artifacts._missing_store()) is not None:  # a missing bucket looks empty
        raise gone
    now = time.time()
    report = GCReport()
    due: dict[str, Pending] = {}
    for p in metadata.pending(due_by=now):
        if key_problem(p.key) is not None:
            report.skipped.append(p.key[:80])
        else:
            due[p.key] = p
    unreferenced: list[str] = []
    staged: list[str] = []
    listed: list[str] | None = None
    versions: dict[str, Status] | None = None
    if scan:
        listed = artifacts.list_keys()
        staging = artifacts.staged_keys()
        # Read the metadata only after listing, pending rows before versions: a key
        # listed above was leased before its first file was written, and a commit turns
        # the lease into a version in one transaction, so one of the two reads sees it.
        leases = {p.key for p in metadata.pending() if not p.garbage}
        versions = metadata.artifact_keys()
        for key in listed:
            if key in due or key in leases:
                if key in leases and key not in due:
                    report.in_flight.append(key)
                continue
            status = versions.get(key)
            if status == "deleted":
                due[key] = Pending(key, key.split("/")[0], "deleted", now)
            elif status is None:
                age = key_age(key, now)
                (unreferenced if age is not None and age >= grace else report.kept_recent).append(
                    key
                )
        staged = [
            k
            for k in staging
            if k not in leases and k not in due and (key_age(k, now) or 0) >= grace
        ]
    for key, p in sorted(due.items()):
        (report.deleted_versions if p.state == "deleted" else report.orphans).append(key)
    report.orphans = sorted(report.orphans + unreferenced)
    if not report.removed and not staged:
        if scan and not dry_run and not artifacts.read_only:
            artifacts.tidy_staging()
        return report
    report.refusal = _refusal(metadata, report, unreferenced, listed, versions)
    if dry_run:
        return report
    if report.refusal is not None and not force:
        raise RegistryError(f"gc refused: {report.refusal}")
    for key, p in sorted(due.items()):
        if p.state == "lease" and not metadata.revoke(key, expired_by=now):
            report.orphans.remove(key)  # renewed or committed since we read it
            continue
        artifacts.delete(key)
        metadata.forget(key)
        log.info("gc removed artifact key %s (%s)", key, p.state)
    for key in unreferenced:
        artifacts.delete(key)
        log.info("gc removed unreferenced artifact key %s", key)
    for key in staged:
        artifacts.remove_staging(key)
    if scan:
        artifacts.tidy_staging()
    return report


def _refusal(
    metadata: MetadataStore,
    report: GCReport,
    unreferenced: list[str],
    listed: list[str] | None,
    versions: dict[str, Status] | None,
) -> str | None:
    """Why this deletion looks like a mistake (a wrong or emptied database), or ``None``.

    Orphans of expired leases are left out: a lease proves its key never committed.
    Without a scan this reads at most ``risky + 1`` versions, so it stays cheap.
    """
    risky = len(report.deleted_versions) + len(unreferenced)
    if not risky:
        return None
    if versions is not None and not versions:
        return (
            f"the metadata store holds no versions, yet {risky} artifact key(s) would be "
            "deleted. If the database was lost, replaced or emptied (a zero-length "
            "registry.db), deleting them destroys every model; pass force=True only if "
            "you mean it"
        )
    if listed is not None:
        total = len(listed)
    else:
        query = VersionQuery(statuses=LIVE, descending=False, limit=risky + 1)
        total = len(metadata._version_records(query)) + risky  # unreadable ones count
    if 2 * risky > total:
        return (
            f"it would delete {risky} of {total} artifact keys, more than half of the store; "
            "check that the metadata store is the right one, then pass force=True"
        )
    return None
