"""Settings come from AIDETECT_* variables (and KUBECONFIG), and nothing else."""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from aidetect.core.config import AmqpSettings, Settings, get_settings
from aidetect.core.errors import QueueUnavailable
from aidetect.core.queue import Broker


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


def test_pool_sizes_and_heartbeat_come_from_the_documented_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIDETECT_DATABASE_POOL_MAX", "3")
    monkeypatch.setenv("AIDETECT_WORKER_DB_POOL_MAX", "2")
    monkeypatch.setenv("AIDETECT_AMQP_HEARTBEAT_SECONDS", "15")
    settings = Settings()
    assert (settings.db.pool_max, settings.worker.db_pool_max) == (3, 2)
    assert settings.amqp.heartbeat_seconds == 15


def test_broker_connections_use_the_heartbeat_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[pika.URLParameters] = []

    def refuse(params: pika.URLParameters) -> None:
        opened.append(params)
        raise pika.exceptions.AMQPConnectionError("no broker in unit tests")

    monkeypatch.setattr(pika, "BlockingConnection", refuse)
    with pytest.raises(QueueUnavailable):
        Broker.connect(AmqpSettings(url="amqp://g:g@127.0.0.1:1/%2F", heartbeat_seconds=15))
    assert [p.heartbeat for p in opened] == [15]
