"""`make bench`: the figures of issue 11 on one `make up` stack, in one run, with their ratios.

In order, on the stack in --state (hack/bench.sh starts a private one and takes it down after):

1. the kopf floor: the aidetect operator paused, bench/kopf_floor.py on its own CRD, N CRs;
2. one idle task at a time, each path: create → Succeeded p50;
3. single-text throughput, kubectl path then REST path: N tasks from the client threads, as
   fast as they can create them; tasks/s = N / (first create → last Succeeded seen);
4. latency at half the better of those two rates, both paths alternating, open loop;
5. batch CRs (5 × 1 000 texts), then the bare classifier loop on the same texts;
6. the zero-shot detectors' `score()` against their bare forward loops (detector_throughput.py);
7. live CRs topped up to 10 000, the operator's RSS sampled throughout and after they settle;
8. writes per task, counted in the apiserver's audit log for the tasks of steps 1–3.

With --memory it runs instead the long memory check: tasks with a TTL, round after round, the
operator's RSS after each (`make bench-memory`). It prints the table, writes it with the raw
figures to --out, and with --write-docs into docs/benchmarks.md.

    python bench/bench.py --state /tmp/aidetect-bench.XXXX --out /tmp/aidetect-bench-last
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from bench_audit import UnnamedCreates, parse_audit, writes_per_task
from bench_cpu import others_share, snapshot
from bench_floor import delete_floor_tasks, floor_operator, install_crd, paused, run_floor
from bench_load import DoneWatch, Runner, RunResult
from bench_memory import RssSampler, rss_mib
from bench_paths import (
    DETECTION_TASKS,
    FLOOR_TASKS,
    CreatePath,
    KubeCreate,
    Planned,
    RestCreate,
    text_for,
)
from bench_report import DISTURBED, Figures, percentile, render_markdown, write_block
from local_stack import PID_FILES, machine, read_pid, stack_env

NAMESPACE = "default"  # where POST /predict creates an admin's tasks


@dataclass(frozen=True)
class Knobs:
    """The sizes of one run; each can be set by flag or by the BENCH_<NAME> variable."""

    tasks: int = 500  # single-text tasks per path, for the throughput
    floor_tasks: int = 1000
    threads: int = 8
    latency_seconds: float = 60.0
    idle_tasks: int = 20  # per path
    batch_crs: int = 5
    batch_texts: int = 1000
    live_crs: int = 10_000
    zero_shot_texts: int = 64
    zero_shot_repeats: int = 5
    settle_seconds: float = 20.0  # after the live CRs: two resync periods
    live_timeout: float = 600.0  # the most the live CRs are waited for, from the first create
    step_timeout: float = 600.0
    memory_tasks: int = 50_000  # --memory only
    memory_round: int = 1000
    memory_ttl: int = 5
    memory_load: float = 0.5  # later rounds paced at this share of the first round's rate
    memory_live: int = 1000  # after a round, wait (up to memory_drain_timeout) for live <= this
    memory_drain_timeout: float = 120.0


QUICK = Knobs(
    tasks=40,
    floor_tasks=60,
    latency_seconds=10,
    idle_tasks=3,
    batch_crs=2,
    batch_texts=50,
    live_crs=300,
    zero_shot_texts=16,
    zero_shot_repeats=1,
    settle_seconds=5,
    live_timeout=120,
    step_timeout=180,
    memory_tasks=600,
    memory_round=200,
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", type=Path, required=True, help="the stack's AIDETECT_STATE_DIR")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of every step")
    p.add_argument("--memory", action="store_true", help="only the long memory-flatness check")
    p.add_argument("--skip", action="append", default=[], help="a step not to run (repeatable)")
    p.add_argument("--out", type=Path, help="write bench.json and bench.md here")
    p.add_argument("--write-docs", type=Path, help="put the table into this benchmarks.md")
    p.add_argument("--slot", default="", help="the docs block to fill (default: last or memory)")
    for f in fields(Knobs):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None)
    return p.parse_args()


def knobs_from(args: argparse.Namespace) -> Knobs:
    """QUICK or the defaults, then BENCH_<NAME> variables, then flags."""
    knobs = QUICK if args.quick else Knobs()
    for f in fields(Knobs):
        value = getattr(args, f.name) or os.environ.get(f"BENCH_{f.name.upper()}")
        if value is not None:
            knobs = replace(knobs, **{f.name: type(getattr(knobs, f.name))(value)})
    return knobs


class Bench:
    """One run's clients, watch and figures; each step a method."""

    def __init__(self, state: Path, knobs: Knobs) -> None:
        self.state, self.knobs = state, knobs
        env = stack_env(state)
        os.environ.update(env)  # the bare loop loads the worker's model as the worker does
        self.kubeconfig = env["KUBECONFIG"]
        self.run_id = secrets.token_hex(3)
        self.keys = itertools.count()
        labels = {"aidetect.io/bench-run": self.run_id}
        self.kubectl = KubeCreate(self.kubeconfig, NAMESPACE, DETECTION_TASKS, labels=labels)
        token = (state / "api-token").read_text().strip()
        self.rest = RestCreate(f"http://127.0.0.1:{env['AIDETECT_API_PORT']}", token)
        self.watch = DoneWatch(self.kubeconfig, NAMESPACE, DETECTION_TASKS).start()
        self.runner = Runner(self.watch, knobs.threads, knobs.step_timeout)
        self.runs: dict[str, RunResult] = {}
        self.figures = Figures(settings=asdict(knobs))
        self.operator_pid = read_pid(state, "operator")
        self.figures.rss_start_mib = self.operator_rss()

    def operator_rss(self) -> float | None:
        return rss_mib(self.operator_pid) if self.operator_pid else None

    def plan(self, paths: Sequence[CreatePath], n: int, items: int = 1) -> list[Planned]:
        """n tasks, the paths taking turns, each with unique texts."""
        out = []
        for i in range(n):
            key = f"{self.run_id}-{next(self.keys)}"
            texts = tuple(
                text_for(self.run_id, int(key.rsplit("-", 1)[1]), j) for j in range(items)
            )
            out.append(Planned(paths[i % len(paths)], key, texts))
        return out

    def finished(self, result: RunResult, ok: str = "Succeeded") -> RunResult:
        """Keep the run; note any of its tasks that did not end in `ok`."""
        self.runs[result.label] = result
        bad = result.not_succeeded(ok)
        if bad:
            self.figures.problems.append(f"{result.label}: {bad} of {result.tasks} not {ok}")
        return result

    def step_floor(self, step: str = "floor") -> None:
        """The floor; run twice (before and after the throughput), the better one counts."""
        watch = DoneWatch(self.kubeconfig, NAMESPACE, FLOOR_TASKS)
        path = KubeCreate(self.kubeconfig, NAMESPACE, FLOOR_TASKS)
        log = self.state / "logs" / "kopf-floor.log"
        with paused(self.operator_pid):
            install_crd(self.kubeconfig)
            watch.start()
            runner = Runner(watch, self.knobs.threads, self.knobs.step_timeout)
            try:
                with floor_operator(self.kubeconfig, NAMESPACE, log):
                    key = f"{self.run_id}-{len(self.figures.floor_runs)}"
                    result = run_floor(runner, path, key, self.knobs.floor_tasks, step)
            finally:
                watch.stop()
                delete_floor_tasks(self.kubeconfig, NAMESPACE)
        per_s = self.finished(result, "Done").per_s
        if per_s:
            self.figures.floor_runs[step] = per_s
            best = max(self.figures.floor_runs, key=lambda k: self.figures.floor_runs[k])
            self.figures.floor_per_s, self.figures.floor_step = self.figures.floor_runs[best], best

    def step_floor_again(self) -> None:
        self.step_floor("floor-again")

    def step_idle(self) -> None:
        self.runner.one_by_one("warm-up", self.plan([self.kubectl, self.rest], 4))
        plan = self.plan([self.kubectl, self.rest], 2 * self.knobs.idle_tasks)
        result = self.finished(self.runner.one_by_one("idle", plan))
        self.figures.idle_p50_kubectl_s = percentile(result.latencies("kubectl"), 0.5)
        self.figures.idle_p50_rest_s = percentile(result.latencies("rest"), 0.5)

    def step_throughput(self) -> None:
        n = self.knobs.tasks
        kubectl = self.finished(self.runner.run("kubectl", self.plan([self.kubectl], n)))
        time.sleep(2)
        rest = self.finished(self.runner.run("rest", self.plan([self.rest], n)))
        self.figures.kubectl_per_s, self.figures.rest_per_s = kubectl.per_s, rest.per_s

    def step_half_load(self) -> None:
        best = max(self.figures.kubectl_per_s or 0.0, self.figures.rest_per_s or 0.0)
        if not best:
            raise RuntimeError("no single-text throughput measured: no rate to halve")
        rate = best / 2
        n = max(2, round(rate * self.knobs.latency_seconds))
        plan = self.plan([self.kubectl, self.rest], n)
        result = self.finished(self.runner.run("half load", plan, rate=rate))
        lat = result.latencies()
        self.figures.half_load_rate, self.figures.half_load_tasks = rate, n
        self.figures.half_load_p50_s = percentile(lat, 0.5)
        self.figures.half_load_p99_s = percentile(lat, 0.99)

    def step_batch(self) -> None:
        """The batch CRs, between two runs of the bare loop on their texts; the best loop counts."""
        from bench_model import bare_classifier_loop  # torch: only for the steps that need it

        k = self.knobs
        path = replace(self.kubectl, last_applied=False)  # 1 000 texts: `kubectl create`
        plan = self.plan([path], k.batch_crs, items=k.batch_texts)
        texts = [t for p in plan for t in p.texts]
        before = bare_classifier_loop(texts)
        print(f"[bench] bare loop: {before.texts_per_s:.0f} texts/s ({before})", flush=True)
        runner = Runner(self.watch, min(k.threads, k.batch_crs), k.step_timeout)
        result = self.finished(runner.run("batch", plan))
        if result.wall_s:
            self.figures.batch_texts_per_s = k.batch_crs * k.batch_texts / result.wall_s
        after = bare_classifier_loop(texts)
        print(f"[bench] bare loop again: {after.texts_per_s:.0f} texts/s", flush=True)
        self.figures.bare_texts_per_s = max(before.texts_per_s, after.texts_per_s)
        self.figures.settings.update(
            bare_batch_size=before.batch_size,
            bare_before_after=f"{before.texts_per_s:.0f}/{after.texts_per_s:.0f}",
            bare_threads=f"{before.threads}/{after.threads}",
            model=before.model_version,
            device=before.device,
        )

    def step_zero_shot(self) -> None:
        from detector_throughput import run_all

        report = run_all(self.knobs.zero_shot_texts, 16, self.knobs.zero_shot_repeats)
        kinds = report["kinds"]
        classifier = kinds.pop("hf-classifier")
        self.figures.zero_shot_ratios = {name: k["ratio"] for name, k in kinds.items()}
        self.figures.classifier_score_ratio = classifier["ratio"]
        print(f"[bench] zero-shot: {json.dumps(report['kinds'])}", flush=True)

    def live_note(self) -> str:
        rss = self.operator_rss() or 0.0
        return f", live {len(self.watch.live)}, operator RSS {rss:.0f} MiB"

    def step_live(self) -> None:
        """Top the live CRs up to BENCH_LIVE_CRS, created at the best single-text rate measured
        (a flood would measure kopf's backlog, not the CRs), waiting BENCH_LIVE_TIMEOUT at most."""
        assert self.operator_pid is not None
        sampler = RssSampler(self.operator_pid).start()
        n = max(0, self.knobs.live_crs - len(self.watch.live))
        rate = max(self.figures.kubectl_per_s or 0.0, self.figures.rest_per_s or 0.0) or None

        def note() -> str:
            return f", live {len(self.watch.live)}, operator RSS {sampler.last or 0:.0f} MiB"

        plan = self.plan([self.kubectl, self.rest], n)
        timeout = max(self.knobs.live_timeout, n / rate if rate else 0.0)
        result = self.finished(
            self.runner.run("live CRs", plan, rate=rate, note=note, timeout=timeout)
        )
        done = [o for o in result.outcomes if o.done_at is not None]
        self.figures.live_unfinished = result.tasks - len(done)
        if done:
            last = max(o.done_at or 0.0 for o in done)
            self.figures.live_per_s = len(done) / (last - min(o.sent_at for o in result.outcomes))
        end = time.monotonic() + self.knobs.settle_seconds
        while time.monotonic() < end:
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
            print(f"[bench] live CRs: settling{note()}", flush=True)
        sampler.stop()
        self.figures.rss_live_mib = sampler.sample()
        self.figures.rss_peak_mib = sampler.peak
        self.figures.live_crs = len(self.watch.live)

    def step_memory(self) -> None:
        """Rounds of tasks with a TTL; RSS and live CRs after each round.

        The first round runs as fast as the threads go, and its rate is the system's; the others
        are paced at BENCH_MEMORY_LOAD of it, a load the TTL deletions should follow. Each
        sample is taken once the live CRs are back to BENCH_MEMORY_LIVE at most (a slow machine
        makes the deletions lag), so that a growing RSS means memory held per task processed,
        not a backlog of live CRs (the RSS per live CR is the live-CRs step's figure)."""
        k = self.knobs
        assert self.operator_pid is not None
        paths: list[CreatePath] = [
            replace(self.kubectl, ttl=k.memory_ttl),
            replace(self.rest, ttl=k.memory_ttl),
        ]
        done, rate = 0, None
        while done < k.memory_tasks:
            n = min(k.memory_round, k.memory_tasks - done)
            label = f"memory {done + n}/{k.memory_tasks}"
            result = self.finished(
                self.runner.run(label, self.plan(paths, n), rate=rate, note=self.live_note)
            )
            if rate is None and result.per_s:
                rate = result.per_s * k.memory_load
                self.figures.memory_rate = rate
                print(f"[bench] memory: later rounds paced at {rate:.1f} tasks/s", flush=True)
            done += n
            self.drain_live(k.memory_live, k.memory_drain_timeout)
            rss, live = self.operator_rss() or 0.0, len(self.watch.live)
            self.figures.flatness.append((done, rss, live))
            print(f"[bench] memory: {done} processed, operator RSS {rss:.0f} MiB, live {live}")

    def drain_live(self, bound: int, timeout: float) -> None:
        """Wait until the TTL deletions bring the live CRs down to `bound`, or `timeout`."""
        end = time.monotonic() + timeout
        while len(self.watch.live) > bound and time.monotonic() < end:
            time.sleep(1.0)
        if len(self.watch.live) > bound:
            self.figures.problems.append(
                f"memory: {len(self.watch.live)} live CRs after {timeout:.0f} s of waiting "
                f"for at most {bound}: the TTL deletions fell behind"
            )

    def step_audit(self) -> None:
        audit = self.state / "control-plane" / "audit.log"
        time.sleep(3)  # the apiserver writes its audit log in batches, up to a second late
        with audit.open() as lines:
            writes = parse_audit(lines, frozenset({DETECTION_TASKS.plural, FLOOR_TASKS.plural}))
        wanted: dict[str, tuple[str, str]] = {
            "rest": ("rest", "rest"),
            "kubectl": ("kubectl", "kubectl"),
            "rest idle": ("idle", "rest"),
            "kubectl idle": ("idle", "kubectl"),
            "floor": ("floor", "kubectl"),
        }
        for label, (run_label, kind) in wanted.items():
            run = self.runs.get(run_label)
            if run is None:
                continue
            names = [o.name for o in run.outcomes if o.kind == kind]
            resource = FLOOR_TASKS.plural if label == "floor" else DETECTION_TASKS.plural
            window = UnnamedCreates(NAMESPACE, run.started_utc, run.ended_utc)
            count = writes_per_task(writes, resource, names, window if kind == "rest" else None)
            self.figures.writes[label] = count

    def steps(self, memory: bool) -> list[tuple[str, Callable[[], None]]]:
        if memory:
            return [("memory", self.step_memory)]
        return [
            ("floor", self.step_floor),
            ("idle", self.step_idle),
            ("throughput", self.step_throughput),
            ("floor-again", self.step_floor_again),
            ("half-load", self.step_half_load),
            ("batch", self.step_batch),
            ("zero-shot", self.step_zero_shot),
            ("live", self.step_live),
            ("audit", self.step_audit),
        ]


def run(args: argparse.Namespace, knobs: Knobs) -> tuple[Figures, dict[str, object]]:
    where: dict[str, object] = {**machine(), "load": load_average()}
    bench = Bench(args.state, knobs)
    stack = [pid for name in PID_FILES if (pid := read_pid(args.state, name))]
    roots = [*stack, os.getpid()]
    print(f"[bench] run {bench.run_id} on {args.state}: {asdict(knobs)}", flush=True)
    for name, step in bench.steps(args.memory):
        if name in args.skip:
            continue
        t0, cpu0 = time.monotonic(), snapshot(roots)
        print(f"[bench] === {name} === (load average {load_average()})", flush=True)
        try:
            step()
        except Exception as e:  # one failed step must not hide the figures of the others
            traceback.print_exc()
            bench.figures.problems.append(f"step {name} failed: {type(e).__name__}: {e}")
        wall = time.monotonic() - t0
        others, steal = others_share(cpu0, snapshot(roots), wall)
        bench.figures.others_cpu[name] = round(100 * others, 1)
        if 100 * others > DISTURBED:
            bench.figures.problems.append(
                f"step {name}: other processes used {100 * others:.0f} % of the CPU: "
                "its figures are disturbed"
            )
        print(
            f"[bench] {name}: {wall:.0f}s; other processes {100 * others:.0f} % "
            f"of the CPU, steal {100 * steal:.0f} %",
            flush=True,
        )
    bench.watch.stop()
    return bench.figures, where


def load_average() -> str:
    """The 1-minute load average: above the core count, something else competed for the CPU."""
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> int:
    args = parse_args()
    knobs = knobs_from(args)
    figures, where = run(args, knobs)
    title = "`make bench-memory`" if args.memory else "`make bench`"
    title += " (--quick)" if args.quick else ""
    text = render_markdown(figures, where, title, memory=args.memory)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench.json").write_text(
            json.dumps({"machine": where, "figures": asdict(figures)}, indent=2, default=str)
        )
        (args.out / "bench.md").write_text(text)
    if args.write_docs:
        write_block(args.write_docs, args.slot or ("memory" if args.memory else "last"), text)
    return 1 if figures.problems else 0


if __name__ == "__main__":
    sys.exit(main())
