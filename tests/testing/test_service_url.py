"""Skips for a missing server name the server; skips for a missing extra name the extra."""

from __future__ import annotations

import pytest

from prodml.testing.registry import service_url


def test_missing_server_with_the_extra_installed_names_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PRODML_REQUIRE_SERVICES", raising=False)
    monkeypatch.delenv("PRODML_X_URL", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        service_url("PRODML_X_URL", "start it", extra=("json", "postgres"))
    message = str(info.value)
    assert message.startswith("no server: set PRODML_X_URL (start it)")
    assert "the 'postgres' extra is installed" in message
    assert "pip install" not in message


def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODML_REQUIRE_SERVICES", raising=False)
    monkeypatch.setenv("PRODML_X_URL", "postgresql://x")
    with pytest.raises(pytest.skip.Exception, match=r"pip install 'prodml\[postgres\]'"):
        service_url("PRODML_X_URL", "start it", extra=("no_such_module_xyz", "postgres"))


def test_required_services_fail_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODML_REQUIRE_SERVICES", "1")
    monkeypatch.delenv("PRODML_X_URL", raising=False)
    with pytest.raises(pytest.fail.Exception, match="no server: set PRODML_X_URL"):
        service_url("PRODML_X_URL", "start it")
    monkeypatch.setenv("PRODML_X_URL", "redis://x")
    assert service_url("PRODML_X_URL", "start it", extra=("json", "redis")) == "redis://x"
