"""The one settings object: every option of every component, read from AIDETECT_* variables.

Nothing else in aidetect reads the environment. Components call `get_settings()`; tests
override it with `get_settings.cache_clear()` and their own environment, or build `Settings(...)`.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from urllib.parse import urlparse

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from aidetect.core.profiles import ProfileSet, load_profiles

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class DatabaseSettings(BaseSettings):
    """Postgres, the system of record (AIDETECT_DATABASE_*)."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_DATABASE_")

    url: str = Field(default="postgresql://aidetect@127.0.0.1:5432/aidetect")
    pool_max: int = Field(default=8, ge=1, description="Connections per process.")
    connect_timeout_seconds: int = Field(default=5, ge=1)


class AmqpSettings(BaseSettings):
    """RabbitMQ, which carries tasks to workers and events back (AIDETECT_AMQP_*)."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_AMQP_")

    url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/%2F")
    delivery_limit: int = Field(
        default=30,
        ge=22,
        description="Quorum-queue x-delivery-limit: a safety net above the largest backoffLimit "
        "(20) + 1; tasks enforce their own backoffLimit before it.",
    )
    heartbeat_seconds: int = Field(
        default=60,
        ge=0,
        description="AMQP heartbeat of every long-lived connection: a connection silent for "
        "two of them is taken as lost (0: no heartbeats).",
    )
    reconnect_initial_seconds: float = Field(
        default=0.5, gt=0, description="First wait before reconnecting after the broker is lost."
    )
    reconnect_max_seconds: float = Field(
        default=15.0, gt=0, description="Cap of the exponential wait between reconnect attempts."
    )
    outage_limit_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Exit non-zero once the broker has been unreachable this long (0: never).",
    )


class KubeSettings(BaseSettings):
    """How to reach the kube-apiserver. No kubeconfig means in-cluster, then ~/.kube/config."""

    model_config = SettingsConfigDict(env_prefix="")

    kubeconfig: str | None = Field(default=None, description="Path of a kubeconfig (KUBECONFIG).")


class OperatorSettings(BaseSettings):
    """The kopf operator (AIDETECT_OPERATOR_*)."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_OPERATOR_")

    namespaces: list[str] = Field(default=[], description="Namespaces to watch; empty = all.")
    shard: str = Field(
        default="",
        max_length=40,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
        description="This operator's name among several that share the cluster by namespace "
        "(each with its own `namespaces`); it names its events queue, aidetect.events.<shard>.",
    )
    resync_interval_seconds: float = Field(default=10.0, gt=0)
    drift_check_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Compare every CR with its row (a listing of every DetectionTask) at most "
        "this often; the rest of the resync runs every resync_interval_seconds.",
    )
    stuck_after_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Requeue a Queued/Running task with no progress for this long.",
    )
    items_per_message: int = Field(default=16, ge=1, le=1000)
    corpus_items_per_message: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Items per queue message of a corpus job: a worker's micro-batch (64), so "
        "a 100 000-text job is 1 563 messages, each scored in one forward pass.",
    )
    corpus_split_batch: int = Field(
        default=2000,
        ge=1,
        le=50_000,
        description="Records of a corpus written to Postgres per transaction while splitting "
        "(with the cursor to resume from: an operator killed mid-split redoes at most this many).",
    )
    corpus_jobs: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Corpus splits and output uploads that run at once (threads).",
    )
    event_debounce_seconds: float = Field(
        default=0.05, ge=0, description="Collect worker events this long before patching CRs."
    )
    progress_interval_seconds: float = Field(
        default=2.0,
        ge=0,
        description="Show a running task's progress on its CR at most this often (its end is "
        "shown at once): each status patch makes the apiserver rewrite the whole CR; 0 = on "
        "every worker batch.",
    )
    success_events: bool = Field(
        default=False,
        description="Post a Normal Event on each task that succeeds (one apiserver write per "
        "task); failures always get a Warning Event.",
    )
    status_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Show Queued this long after admission, if the task has not ended by then "
        "(most end sooner, and then cost no Queued write); 0 = at once.",
    )
    liveness_port: int = Field(default=8080, ge=0, le=65535)
    readiness_port: int = Field(
        default=8081, ge=0, le=65535, description="/readyz: connected to RabbitMQ (0: off)."
    )


class WorkerSettings(BaseSettings):
    """The worker (AIDETECT_WORKER_*)."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_WORKER_")

    name: str = Field(default_factory=socket.gethostname, description="Worker id (the pod name).")
    node: str = Field(default="", description="The node it runs on (downward API).")
    detectors: list[str] = Field(default=[], description="Profiles to serve; empty = the default.")
    max_batch: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="Texts per micro-batch. Each batch costs a few database round trips, an "
        "event per task and an ack callback, whatever its size: 64 keeps that near a tenth of "
        "the forward passes of a small model (docs/performance.md).",
    )
    max_wait_ms: int = Field(default=50, ge=0)
    torch_threads: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="Threads for one forward pass on the CPU; 0: the CPUs the worker may use "
        "(its cgroup CPU limit, else its CPU affinity), not every core of the node.",
    )
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    db_pool_max: int = Field(
        default=4,
        ge=1,
        description="Database connections of a worker (AIDETECT_DATABASE_POOL_MAX is the other "
        "components'): its three stages and its heartbeat take one each at most.",
    )
    demo_model_dir: str = Field(
        default="~/.cache/aidetect/demo-models", description="Where fallback demo models are built."
    )
    retry_base_seconds: float = Field(default=2.0, ge=0, description="Backoff before a retry.")
    retry_max_seconds: float = Field(default=60.0, ge=0)
    health_port: int = Field(
        default=8082,
        ge=0,
        le=65535,
        description="/healthz and /readyz (models loaded, connected to RabbitMQ); 0: off.",
    )


class ApiSettings(BaseSettings):
    """The REST facade (AIDETECT_API_*)."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_API_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    auth_enabled: bool = True
    token: SecretStr = Field(
        default=SecretStr(""), description="A bearer token for every namespace (an admin's)."
    )
    tenants_file: str | None = Field(
        default=None,
        description="YAML or JSON file of tenants: bearer tokens and the namespaces each may use "
        "(docs/api.md); re-read when it changes.",
    )
    namespace: str = Field(
        default="default", description="Where POST /predict creates an admin's tasks by default."
    )
    max_body_bytes: int = Field(
        default=6_500_000, ge=1024, description="Fits the largest legal batch, JSON-escaped."
    )


class Settings(BaseSettings):
    """All of aidetect's settings, grouped by the system or component they configure."""

    model_config = SettingsConfigDict(env_prefix="AIDETECT_", extra="ignore")

    dev_mode: bool = Field(default=False, description="Allow development defaults such as secrets.")
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")
    profiles_file: str | None = Field(default=None, description="YAML file of detector profiles.")
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    amqp: AmqpSettings = Field(default_factory=AmqpSettings)
    kube: KubeSettings = Field(default_factory=KubeSettings)
    operator: OperatorSettings = Field(default_factory=OperatorSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    def profiles(self) -> ProfileSet:
        """The detector profiles this deployment serves."""
        return load_profiles(self.profiles_file)

    def insecure_defaults(self) -> list[str]:
        """Default or missing secrets that only dev mode may run with."""
        problems = []
        api = self.api
        if api.auth_enabled and not api.token.get_secret_value() and not api.tenants_file:
            problems.append(
                "AIDETECT_API_TOKEN is empty (and no AIDETECT_API_TENANTS_FILE) "
                "while API auth is enabled"
            )
        amqp = urlparse(self.amqp.url)
        if amqp.password == "guest" and amqp.hostname not in LOOPBACK_HOSTS:
            problems.append("AIDETECT_AMQP_URL uses the default guest password on a remote broker")
        return problems


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
