# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""Conformance suites for model registry backends (needs the ``test`` extra).

A backend opts in with a short pytest subclass that provides one fixture, in the style of
``fsspec.tests.abstract``; every store prodml ships runs the same suites::

    from prodml.testing.registry import MetadataStoreConformance


    class TestMyStore(MetadataStoreConformance):
        @pytest.fixture
        def metadata_store(self):
            return MyStore("mystore://...")

- :class:`MetadataStoreConformance` (fixture ``metadata_store``): numbering, get and
  resolve, keyset-paged search and history, aliases (last-writer-wins, compare-and-set,
  racing threads) with history and rollback, archive/delete, promotion, leases and gc
  (in-flight registrations survive any grace period; refusals without ``force``), one
  lock deadline, read-only registries, forged rows refused before any file is read,
  damaged records and alias rows (through the hooks ``_replace_record`` and
  ``_replace_alias_row``: raised on a direct read, skipped by listings, never quoted), and
  the database half of the signed-version tamper matrix (every signed field edited, the
  signature dropped, replaced or re-made with an untrusted key); and, for signed alias
  records, that the store logs ``event.sealed(seq)`` inside its transaction (every move
  and status change carries a record that verifies; a failing signer changes nothing)
  and keeps a registry identity (``MetadataStore._registry_id``).
- :class:`ArtifactStoreConformance` (fixture ``artifact_store``): round trips of every
  flavour, and that a swapped, truncated, deleted or added file fails the load with
  :class:`~prodml.errors.IntegrityError` naming the file; gc of deleted and orphan keys;
  hypothesis-generated hostile manifests and flavour metadata that never touch a
  sentinel directory outside the store; symbolic links refused at register and at load;
  staging inside the store; and, for signed versions, a swapped file re-hashed into its
  manifest row or a row pointed at another version's files.
- :class:`ProcessConformance` (fixtures ``registry_urls`` giving ``(db_url,
  artifacts_url, storage_options)``, and ``empty_db_url``, an empty database): writers in
  separate processes get unique, consecutive version numbers; eight processes moving one
  alias never conflict; gc racing writers loses no version; a process killed
  mid-registration leaves a lease that gc collects; an empty database next to stored
  models is refused.

:func:`service_url` reads a service URL from the environment for a fixture: it skips the
test when the variable is unset, or fails it when ``PRODML_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

from prodml.testing.registry._artifacts import ArtifactStoreConformance
from prodml.testing.registry._common import service_url
from prodml.testing.registry._metadata import MetadataStoreConformance
from prodml.testing.registry._process import ProcessConformance

__all__ = [
    "ArtifactStoreConformance",
    "MetadataStoreConformance",
    "ProcessConformance",
    "service_url",
]
