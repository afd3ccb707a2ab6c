"""The error tree. Each component maps it once: Transient -> retry later, Permanent -> give up."""


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


class KubeUnavailable(TransientError):
    """The kube-apiserver could not be reached or answered 5xx."""


class InvalidInput(PermanentError):
    """The task's input cannot be scored (missing textFrom source, empty text, ...)."""


class UnknownDetector(PermanentError):
    """The task names a detector profile that is not configured."""


class TaskNotFound(PermanentError):
    """No task with this id is recorded."""
