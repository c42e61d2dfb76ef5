# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""Metadata store conformance: records that cannot be read, in listings and direct reads.

The records are written through the store's own write path (a registration), then
replaced through the store's hook :meth:`~prodml.registry.MetadataStore._replace_record`
(the stored record of a version, as JSON text). A store without that hook skips these
tests, naming it.
"""

from __future__ import annotations

import json
import warnings

from prodml.errors import IntegrityError
from prodml.registry import (
    MetadataStore,
    ModelRegistry,
    NewerFormatError,
    UnreadableRecordWarning,
)
from prodml.registry._formats import VERSION_FORMAT
from prodml.registry.entities import ModelVersion
from prodml.testing.registry._common import _model, pytest

SECRET = "c0nfidential-record-content"  # noqa: S105 - a marker never to be shown


def _replace(store: MetadataStore, name: str, version: int, record: str) -> None:
    """Replace a stored record through the store's hook, or skip naming the hook."""
    try:
        store._replace_record(name, version, record)
    except NotImplementedError:
        pytest.skip(
            f"{type(store).__name__} does not implement the MetadataStore._replace_record "
            "hook (replace a version's stored record with JSON text), which these tests "
            "need to damage a record"
        )


def _newer(mv: ModelVersion) -> str:
    """``mv``'s record as a newer prodml might write it: a newer format, a field renamed."""
    data = mv.model_dump(mode="json")
    data["format_version"] = VERSION_FORMAT + 1
    data["creator"] = str(data.pop("created_by")) + SECRET
    return json.dumps(data)


class RecordConformance:
    """A damaged or newer record: skipped and reported by listings, raised on a read."""

    def test_listing_skips_a_damaged_record_and_reports_it(self, registry: ModelRegistry) -> None:
        for _ in range(3):
            registry.register("m", _model())
        registry.register("n", _model())
        _replace(registry.metadata, "m", 2, "{not json " + SECRET)

        with pytest.warns(UnreadableRecordWarning) as caught:
            page = registry.search()
        assert [mv.ref for mv in page] == ["m@3", "m@1", "n@1"]
        assert [(p.kind, p.model_name, p.version) for p in page.problems] == [("version", "m", 2)]
        assert isinstance(page.problems[0].error, IntegrityError)
        assert len(caught) == 1
        assert "m version 2" in str(caught[0].message)
        assert SECRET not in str(caught[0].message)
        assert caught[0].filename == __file__  # the caller's line, not prodml's

        with warnings.catch_warnings(record=True) as paged:
            warnings.simplefilter("always")
            seen, problems, token = [], [], None
            while True:  # one record a page: paging walks past the bad one
                page = registry.search(page_size=1, page_token=token)
                seen += [mv.ref for mv in page]
                problems += [f"{p.model_name}@{p.version}" for p in page.problems]
                token = page.next_token
                if token is None:
                    break
        assert seen == ["m@3", "m@1", "n@1"]
        assert problems == ["m@2"]
        assert [w.category for w in paged] == [UnreadableRecordWarning]

        with pytest.warns(UnreadableRecordWarning):
            refs = [mv.ref for mv in registry.metadata.all_versions()]
        assert refs == ["m@1", "m@3", "n@1"]
        assert registry.metadata.has_model("m")
        with pytest.raises(IntegrityError, match="m version 2") as info:
            registry.get("m@2")
        assert SECRET not in str(info.value)
        assert registry.get("m@3").version == 3

    def test_a_newer_record_raises_on_a_direct_read(self, registry: ModelRegistry) -> None:
        mv = registry.register("m", _model())
        registry.register("m", _model())
        _replace(registry.metadata, "m", 1, _newer(mv))

        with pytest.raises(NewerFormatError, match="upgrade prodml") as info:
            registry.get("m@1")
        assert (info.value.found, info.value.supported) == (VERSION_FORMAT + 1, VERSION_FORMAT)
        assert (info.value.model_name, info.value.version) == ("m", 1)
        assert SECRET not in str(info.value)
        with pytest.raises(NewerFormatError):
            registry.load("m@1")

        with pytest.warns(UnreadableRecordWarning, match="m version 1") as caught:
            page = registry.search("m")
        assert [v.version for v in page] == [2]
        assert isinstance(page.problems[0].error, NewerFormatError)
        assert caught[0].filename == __file__
