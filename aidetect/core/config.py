"""The one settings object: every option of every component, read from AIDETECT_* variables.

Nothing else in aidetect reads the environment. Components call `get_settings()`; tests
override it with `get_settings.cache_clear()` and their own environment, or build `Settings(...)`.
"""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """Postgres, the system of record (AIDETECT_DATABASE_*)."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_DATABASE_")

    url: str = Field(
        default="postgresql://aidetect@127.0.0.1:5432/aidetect",
        description="libpq connection URL.",
    )


class AmqpSettings(BaseSettings):
    """RabbitMQ, which carries tasks to workers and events back (AIDETECT_AMQP_*)."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_AMQP_")

    url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/%2F",
        description="AMQP 0-9-1 URL, as pika.URLParameters reads it.",
    )


class KubeSettings(BaseSettings):
    """How to reach the kube-apiserver. Empty kubeconfig means in-cluster, then ~/.kube/config."""

    model_config = SettingsConfigDict(env_prefix="")

    kubeconfig: str | None = Field(default=None, description="Path of a kubeconfig (KUBECONFIG).")


class Settings(BaseSettings):
    """All of aidetect's settings, grouped by the system or component they configure."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_", extra="ignore")

    dev_mode: bool = Field(default=False, description="Allow development defaults such as secrets.")
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    amqp: AmqpSettings = Field(default_factory=AmqpSettings)
    kube: KubeSettings = Field(default_factory=KubeSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
