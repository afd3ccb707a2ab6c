"""The error tree. Each component maps it once: Transient -> retry later, Permanent -> give up.

The seams (`core.k8s`, `core.queue`, `core.db`, `core.objects`) raise only these: no kubernetes,
pika, psycopg2 or boto3 exception leaves `core`, so the components catch core's types and never
a client library's.
"""

from __future__ import annotations

from dataclasses import dataclass


class AidetectError(Exception):
    """Base of every error aidetect raises on purpose."""


class TransientError(AidetectError):
    """Worth retrying: a dependency is down or busy, and may come back."""


class PermanentError(AidetectError):
    """Retrying cannot help: the input or the configuration is wrong."""


class QueueUnavailable(TransientError):
    """RabbitMQ refused or lost the connection, or did not confirm a publish."""


class DatabaseUnavailable(TransientError):
    """Postgres refused or lost the connection."""


class DatabaseRefused(PermanentError):
    """Postgres refused a statement (a constraint, bad data, a bug in the SQL): it fails again."""

    def __init__(self, message: str, *, pgcode: str | None = None) -> None:
        super().__init__(message)
        self.pgcode = pgcode  # the SQLSTATE, e.g. 23505 for a unique violation


class ObjectStoreUnavailable(TransientError):
    """The S3 endpoint could not be reached, or answered 5xx or slow down."""


class KubeUnavailable(TransientError):
    """The kube-apiserver could not be reached, or answered 5xx or 429."""


@dataclass(frozen=True)
class FieldCause:
    """One field the apiserver named in a refusal (its Status document's `details.causes`)."""

    field: str
    message: str


class KubeRefused(PermanentError):
    """The kube-apiserver refused the request (a 4xx but 429): the same request fails again."""

    def __init__(
        self,
        what: str,
        *,
        status: int,
        reason: str,
        message: str,
        kind: str | None = None,
        causes: tuple[FieldCause, ...] = (),
    ) -> None:
        super().__init__(f"{what}: {status} {reason}: {message}")
        self.status = status  # the HTTP status
        self.reason = reason  # the Status document's reason (NotFound, Invalid, ...)
        self.message = message  # the apiserver's own words, or the status line without them
        self.kind = kind  # the kind of object the refusal is about (details.kind), if named
        self.causes = causes


class KubeConfigInvalid(PermanentError):
    """Neither the kubeconfig nor an in-cluster ServiceAccount gives a usable client."""


class InvalidInput(PermanentError):
    """The task's input cannot be scored (missing textFrom source, empty text, ...)."""


class UnknownDetector(PermanentError):
    """The task names a detector profile that is not configured."""


class TaskNotFound(PermanentError):
    """No task with this id is recorded."""
