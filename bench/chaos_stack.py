"""The chaos suite's hold on a `make up` stack: its processes, kill -9, restart, and a watch.

Every process of the stack is known by the pid file its hack/ script writes. A fault kills the
real process (beam.smp, not the rabbitmq-server script; the postmaster, not pg_ctl) with
SIGKILL and restarts it with the script that started it (`hack/components.sh restart`,
`hack/rabbitmq.sh restart`, `hack/postgres.sh restart`). Nothing else is restarted: the watch
records any process that dies, or changes pid, without the suite having killed it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from local_stack import HACK, PID_FILES, alive, read_pid

# The command that brings each killable process back, as the stack started it.
RESTART = {
    "worker": ["components.sh", "restart", "{state}", "worker"],
    "operator": ["components.sh", "restart", "{state}", "operator"],
    "api": ["components.sh", "restart", "{state}", "api"],
    "rabbitmq": ["rabbitmq.sh", "restart", "{state}"],
    "postgres": ["postgres.sh", "restart", "{state}"],
}


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault: what was killed, when (seconds from the start), and when it was back."""

    target: str
    old_pid: int
    new_pid: int | None
    killed_at: float
    back_at: float | None
    error: str = ""


@dataclass
class Stack:
    """The processes of one stack, and the pids the suite expects them to have."""

    state: Path
    t0: float = field(default_factory=time.monotonic)
    expected: dict[str, int] = field(default_factory=dict)
    restarted: dict[str, int] = field(default_factory=dict)
    incidents: list[str] = field(default_factory=list)
    _down: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def pid(self, name: str) -> int | None:
        return read_pid(self.state, name)

    def snapshot(self) -> dict[str, int]:
        """Record every running process's pid as the one it must keep unless the suite kills it."""
        pids = {name: pid for name in PID_FILES if (pid := self.pid(name)) and alive(pid)}
        missing = sorted(set(PID_FILES) - set(pids))
        if missing:
            raise RuntimeError(f"not running in {self.state}: {', '.join(missing)}")
        with self._lock:
            self.expected = pids
        return pids

    def kill_and_restart(self, target: str, downtime: float) -> FaultRecord:
        """SIGKILL the target's real process, wait `downtime`, restart it with its hack/ script."""
        with self._lock:
            old = self.expected[target]
            if not alive(old):  # it died on its own: restarting it would hide that
                error = "was not running when its fault came; not restarted"
                return FaultRecord(target, old, None, self.now(), None, error)
            self._down.add(target)
        try:
            os.kill(old, signal.SIGKILL)
        except ProcessLookupError:
            pass  # exited between the check and the kill: the restart below still applies
        killed_at = self.now()
        self._wait_dead(old)
        time.sleep(downtime)
        args = [a.format(state=self.state) for a in RESTART[target]]
        proc = subprocess.run(
            ["bash", str(HACK / args[0]), *args[1:]], capture_output=True, text=True, check=False
        )
        new = self.pid(target)
        with self._lock:
            self._down.discard(target)
            if proc.returncode != 0 or new is None or not alive(new):
                error = f"restart failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
                self.incidents.append(f"{target}: {error}")
                return FaultRecord(target, old, None, killed_at, None, error)
            self.expected[target] = new
            self.restarted[target] = self.restarted.get(target, 0) + 1
        return FaultRecord(target, old, new, killed_at, self.now())

    @staticmethod
    def _wait_dead(pid: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def check_once(self) -> None:
        """Note each process that died or changed pid, except while the suite has it down."""
        with self._lock:
            for name, pid in self.expected.items():
                if name in self._down:
                    continue
                current = self.pid(name)
                if not alive(pid):
                    what = f"{name} (pid {pid}) exited without being killed by the suite"
                elif current is not None and current != pid and alive(current):
                    what = f"{name} was restarted by something else (pid {pid} -> {current})"
                else:
                    continue
                self.incidents.append(f"t={self.now():.1f}s: {what}")
                self._down.add(name)  # reported once

    def watch(self, stop: threading.Event, interval: float = 1.0) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(interval):
                self.check_once()

        thread = threading.Thread(target=loop, name="watch", daemon=True)
        thread.start()
        return thread
