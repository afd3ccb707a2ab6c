"""The benchmark's load: tasks created by client threads, and one watch that sees them end.

Whatever the path a task is created by (bench_paths.py), one watch per resource records when
each CR is first seen finished, so no task is polled: tasks/s is N over the time from the first
create sent to the last task seen done. Runs are open loop: the threads create tasks as fast as
they can, or on a fixed schedule, and never wait for a task before creating the next.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench_paths import Planned, Resource, kube_client
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

PROGRESS_EVERY = 5.0


class DoneWatch:
    """One watch over a resource in a namespace: when each CR (by name) was first seen done."""

    def __init__(self, kubeconfig: str, namespace: str, resource: Resource) -> None:
        self.custom = client.CustomObjectsApi(kube_client(kubeconfig))
        self.namespace, self.resource = namespace, resource
        self.done: dict[str, tuple[float, str]] = {}  # name -> (monotonic time, phase)
        self.live: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._watch = watch.Watch()

    def _args(self) -> tuple[str, str, str, str]:
        r = self.resource
        return (r.group, r.version, self.namespace, r.plural)

    def _see(self, obj: dict[str, Any], deleted: bool = False) -> None:
        name = obj["metadata"]["name"]
        with self._cond:
            if deleted:
                self.live.discard(name)
                return
            self.live.add(name)
            phase = self.resource.phase(obj)
            if phase and name not in self.done:
                self.done[name] = (time.monotonic(), phase)
                self._cond.notify_all()

    def _relist(self) -> str:
        """Every object as it is now, page by page; the resourceVersion to watch from."""
        token: str | None = None
        with self._cond:
            self.live.clear()
        while True:
            page: dict[str, Any] = self.custom.list_namespaced_custom_object(
                *self._args(), limit=500, _continue=token
            )
            for obj in page["items"]:
                self._see(obj)
            token = page["metadata"].get("continue")
            if not token:
                return str(page["metadata"]["resourceVersion"])

    def start(self) -> DoneWatch:
        version = self._relist()
        threading.Thread(target=self._loop, args=(version,), name="watch", daemon=True).start()
        return self

    def _loop(self, version: str) -> None:
        while not self._stopping.is_set():
            try:
                for event in self._watch.stream(
                    self.custom.list_namespaced_custom_object,
                    *self._args(),
                    resource_version=version,
                    timeout_seconds=240,
                    allow_watch_bookmarks=True,
                ):
                    if event["type"] == "ERROR":
                        raise ApiException(status=event["object"].get("code", 410))
                    version = self._watch.resource_version or version
                    if event["type"] != "BOOKMARK":
                        self._see(event["object"], deleted=event["type"] == "DELETED")
            except ApiException as e:
                if e.status != 410:
                    time.sleep(1)
                version = self._relist()  # expired or broken: catch up from a fresh list
            except (Urllib3Error, OSError):
                time.sleep(1)

    def stop(self) -> None:
        self._stopping.set()
        self._watch.stop()

    def done_of(self, name: str) -> tuple[float, str] | None:
        """When the CR was first seen done, and its phase then; None while it is not."""
        with self._cond:
            return self.done.get(name)

    def count_done(self, names: Sequence[str]) -> int:
        with self._cond:
            return sum(n in self.done for n in names)

    def wait(self, names: Callable[[], Sequence[str]], total: int, timeout: float) -> bool:
        """Until `total` of the names are done (the names may still grow), or the timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                wanted = names()
                if len(wanted) >= total and all(n in self.done for n in wanted):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 1.0))


@dataclass
class Outcome:
    """One task: its CR, when its create was sent, and when it was seen done (and how)."""

    name: str
    kind: str
    sent_at: float
    done_at: float | None = None
    phase: str | None = None

    @property
    def latency(self) -> float | None:
        return None if self.done_at is None else self.done_at - self.sent_at


@dataclass
class RunResult:
    """The tasks of one run, with its wall-clock window (for the audit log) and monotonic times."""

    label: str
    outcomes: list[Outcome]
    started_utc: datetime
    ended_utc: datetime

    @property
    def tasks(self) -> int:
        return len(self.outcomes)

    @property
    def wall_s(self) -> float | None:
        """From the first create sent to the last task seen done; None if any is not done."""
        if not self.outcomes or any(o.done_at is None for o in self.outcomes):
            return None
        return max(o.done_at or 0.0 for o in self.outcomes) - min(o.sent_at for o in self.outcomes)

    @property
    def per_s(self) -> float | None:
        wall = self.wall_s
        return self.tasks / wall if wall else None

    def latencies(self, kind: str | None = None) -> list[float]:
        return sorted(
            lat
            for o in self.outcomes
            if (kind is None or o.kind == kind) and (lat := o.latency) is not None
        )

    def not_succeeded(self, ok: str) -> int:
        return sum(o.phase != ok for o in self.outcomes)


@contextmanager
def progress(label: str, line: Callable[[], str], every: float = PROGRESS_EVERY) -> Iterator[None]:
    """Print `label: line()` every few seconds while the block runs, and once at the end."""
    stop = threading.Event()
    t0 = time.monotonic()

    def loop() -> None:
        while not stop.wait(every):
            print(f"[bench] {label}: {line()} (t={time.monotonic() - t0:.0f}s)", flush=True)

    thread = threading.Thread(target=loop, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        print(f"[bench] {label}: {line()} (t={time.monotonic() - t0:.0f}s)", flush=True)


class Runner:
    """Creates planned tasks from client threads, open-loop, and waits for the watch to see them."""

    def __init__(self, watch: DoneWatch, threads: int, timeout: float) -> None:
        self.watch, self.threads, self.timeout = watch, threads, timeout

    def run(
        self,
        label: str,
        plan: Sequence[Planned],
        rate: float | None = None,
        note: Callable[[], str] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """All tasks as fast as the threads can create them, or task i at i / rate seconds.

        Waits for them up to `timeout` seconds in all (default: the runner's timeout after the
        last scheduled create); tasks not done by then are returned without `done_at`.
        """
        outcomes: list[Outcome] = []
        lock = threading.Lock()
        counter = itertools.count()
        errors: list[BaseException] = []
        started_utc, t0 = datetime.now(UTC), time.monotonic()

        def work() -> None:
            while not errors and (i := next(counter)) < len(plan):
                if rate:
                    time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
                p = plan[i]
                sent = time.monotonic()
                try:
                    name = p.path.create(p.key, p.texts)
                except Exception as e:  # reported below, after the other threads stop
                    errors.append(e)
                    return
                with lock:
                    outcomes.append(Outcome(name, p.path.kind, sent))

        def names() -> list[str]:
            with lock:
                return [o.name for o in outcomes]

        def line() -> str:
            created = names()
            done = self.watch.count_done(created)
            rate = done / max(time.monotonic() - t0, 1e-9)
            extra = note() if note else ""
            return f"created {len(created)}/{len(plan)}, done {done} ({rate:.1f}/s){extra}"

        with progress(label, line):
            workers = [threading.Thread(target=work, daemon=True) for _ in range(self.threads)]
            for w in workers:
                w.start()
            wait = timeout or self.timeout + (len(plan) / rate if rate else 0)
            self.watch.wait(names, len(plan), wait)
            for w in workers:
                w.join()
        if errors:
            raise RuntimeError(f"{label}: {errors[0]}") from errors[0]
        return self._finish(label, outcomes, started_utc)

    def one_by_one(self, label: str, plan: Sequence[Planned], pause: float = 0.2) -> RunResult:
        """Each task alone: create it, wait for it, pause, then the next (the idle latency)."""
        outcomes: list[Outcome] = []
        started_utc = datetime.now(UTC)
        for p in plan:
            sent = time.monotonic()
            name = p.path.create(p.key, p.texts)
            outcomes.append(Outcome(name, p.path.kind, sent))
            self.watch.wait(_just(name), 1, self.timeout)
            time.sleep(pause)
        print(f"[bench] {label}: {len(outcomes)} tasks one by one", flush=True)
        return self._finish(label, outcomes, started_utc)

    def _finish(self, label: str, outcomes: list[Outcome], started_utc: datetime) -> RunResult:
        for o in outcomes:
            if seen := self.watch.done_of(o.name):
                o.done_at, o.phase = seen
        return RunResult(label, outcomes, started_utc, datetime.now(UTC))


def _just(name: str) -> Callable[[], list[str]]:
    return lambda: [name]
