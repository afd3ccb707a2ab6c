"""How long a failed message waits before it is handed back to the queue: exponential, capped."""


def retry_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to hold a message whose `attempt`-th delivery failed: base * 2^(attempt-1), <= cap.

    Like a Job's pod backoff (10 s, 20 s, 40 s ...), but on the message: it is nacked after the
    delay, so the retry counts against the delivery limit and other messages flow meanwhile.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    return float(min(cap, base * 2 ** (attempt - 1)))
