"""Settings come from AIDETECT_* variables (and KUBECONFIG), and nothing else."""

from __future__ import annotations

import pytest

from aidetect.core.config import Settings, get_settings


def test_service_urls_come_from_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDETECT_DATABASE_URL", "postgresql://u@127.0.0.1:1/x")
    monkeypatch.setenv("AIDETECT_AMQP_URL", "amqp://g:g@127.0.0.1:2/%2F")
    monkeypatch.setenv("KUBECONFIG", "/tmp/kc")
    settings = Settings()
    assert settings.db.url == "postgresql://u@127.0.0.1:1/x"
    assert settings.amqp.url == "amqp://g:g@127.0.0.1:2/%2F"
    assert settings.kube.kubeconfig == "/tmp/kc"


def test_get_settings_is_cached_and_can_be_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("AIDETECT_DEV_MODE", "true")
    first = get_settings()
    assert first is get_settings()
    assert first.dev_mode is True
    get_settings.cache_clear()
    monkeypatch.setenv("AIDETECT_DEV_MODE", "false")
    assert get_settings().dev_mode is False
    get_settings.cache_clear()
