"""The one task state machine: phases, the allowed transitions, and `advance()`.

A phase is written in one place only, the database's `TaskStore` (`core.db.tasks`), and it
moves a task only through `advance()`: a transition that is not in `TRANSITIONS` cannot happen
anywhere. Which component asks for which transition is told in `core.db.tasks`.
"""

from enum import StrEnum
from typing import Final

from aidetect.core.errors import PermanentError


class Phase(StrEnum):
    """A task's phase, as shown in `status.phase` and stored in the database."""

    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


TERMINAL: Final = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})

TRANSITIONS: Final[dict[Phase, frozenset[Phase]]] = {
    Phase.PENDING: frozenset({Phase.QUEUED, Phase.FAILED, Phase.CANCELLED}),
    Phase.QUEUED: frozenset({Phase.RUNNING, Phase.FAILED, Phase.CANCELLED}),
    # Running -> Queued: a stuck task is requeued by the operator's resync.
    Phase.RUNNING: frozenset({Phase.QUEUED, Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED}),
    Phase.SUCCEEDED: frozenset(),
    Phase.FAILED: frozenset(),
    Phase.CANCELLED: frozenset(),
}


class InvalidTransition(PermanentError):
    """A phase change that the state machine does not allow."""

    def __init__(self, current: Phase, target: Phase) -> None:
        super().__init__(f"cannot move a task from {current} to {target}")
        self.current = current
        self.target = target


def can_advance(current: Phase, target: Phase) -> bool:
    """Whether `current -> target` is an allowed transition."""
    return target in TRANSITIONS[current]


def advance(current: Phase, target: Phase) -> Phase:
    """Return `target` if the transition is allowed; raise `InvalidTransition` otherwise."""
    if not can_advance(current, target):
        raise InvalidTransition(current, target)
    return target
