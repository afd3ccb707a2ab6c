"""Condition types and their reasons, as they appear in `status.conditions`.

Each reason is grouped under the condition it explains; reasons are CamelCase, as the
Kubernetes API conventions ask, and stable: users match on them.
"""

from typing import Final

from aidetect.core.states import Phase

# Pending is a phase without a condition: the task is recorded, its items not yet published.
REASON_RECORDED: Final = "Recorded"
REASON_SPLITTING: Final = "Splitting"  # a corpus job: its source is being read into items

# Queued: the task is recorded in the database and published to its detector's queue.
QUEUED: Final = "Queued"
REASON_PUBLISHED: Final = "Published"  # the message was confirmed by the broker
REASON_REQUEUED: Final = "Requeued"  # the resync republished a stuck task
REASON_STARTED: Final = "Started"  # Queued turned False because a worker picked the task up

# Running: a worker is scoring the task's items.
RUNNING: Final = "Running"
REASON_SCORING: Final = "Scoring"
REASON_WRITING_OUTPUT: Final = "WritingOutput"  # a corpus job: every item done, results uploading
REASON_FINISHED: Final = "Finished"  # Running turned False because the task reached an end

# Succeeded: every item has a result.
SUCCEEDED: Final = "Succeeded"
REASON_COMPLETED: Final = "Completed"

# Failed: the task ended without a result.
FAILED: Final = "Failed"
REASON_BACKOFF_LIMIT_EXCEEDED: Final = "BackoffLimitExceeded"  # the detector kept failing
REASON_DEADLINE_EXCEEDED: Final = "DeadlineExceeded"  # activeDeadlineSeconds passed
REASON_INVALID_INPUT: Final = "InvalidInput"  # textFrom missing, unreadable, or empty
REASON_UNKNOWN_DETECTOR: Final = "UnknownDetector"  # spec.detector names no profile
REASON_DELIVERY_LIMIT_EXCEEDED: Final = "DeliveryLimitExceeded"  # dead-lettered by the broker
REASON_TOO_MANY_FAILED_ITEMS: Final = "TooManyFailedItems"  # past failurePolicy.maxFailedItems
REASON_OUTPUT_FAILED: Final = "OutputFailed"  # the results could not be written to spec.output

# Cancelled is a phase without a condition: the task's CR was deleted before it finished.
REASON_CANCELLED: Final = "Cancelled"

# The condition that is True in each phase (Pending and Cancelled have none).
CONDITION_OF_PHASE: Final[dict[Phase, str]] = {
    Phase.QUEUED: QUEUED,
    Phase.RUNNING: RUNNING,
    Phase.SUCCEEDED: SUCCEEDED,
    Phase.FAILED: FAILED,
}
