"""The operator's resident memory, read from /proc while CRs are created and processed."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MIB = 2**20


def rss_mib(pid: int) -> float | None:
    """VmRSS of the process in MiB; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MIB
    return None


@dataclass
class RssSampler:
    """Samples a process's RSS every `every` seconds in a thread, keeping every sample."""

    pid: int
    every: float = 1.0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, MiB)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> float | None:
        rss = rss_mib(self.pid)
        if rss is not None:
            self.samples.append((time.monotonic(), rss))
        return rss

    def start(self) -> RssSampler:
        def loop() -> None:
            while not self._stop.wait(self.every):
                self.sample()

        threading.Thread(target=loop, name="rss", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def peak(self) -> float | None:
        return max((rss for _, rss in self.samples), default=None)

    @property
    def last(self) -> float | None:
        return self.samples[-1][1] if self.samples else None
