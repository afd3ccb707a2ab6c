"""The project's own chaos suite: tasks at a steady rate while the stack's processes are killed.

On a running `make up` stack (`make chaos` starts a private one: hack/chaos.sh), it submits N
tasks, half as kubectl-style DetectionTask CRs and half through `POST /predict`, at a steady
rate. Meanwhile, at fixed fractions of the submission window, it kills with SIGKILL: the worker,
the operator, RabbitMQ (beam.smp), Postgres (the postmaster), the API and the worker again,
and restarts each one it killed with the command the stack started it with. Nothing else is
restarted, and a watch reports any process that dies or is restarted without the suite.

After the last submission it waits (up to a bound) for every task to be terminal, then reads
both sides and checks: every task Succeeded; one Succeeded transition each; every item scored
once; CR and database agree; nothing lost, nothing duplicated; no process restarted but those
it killed. It prints the figures, writes them as JSON (and, asked to, into docs/reliability.md)
and exits 1 with the list of what failed.

    python bench/chaos.py --state /tmp/aidetect-chaos.XXXX --tasks 1000 --rate 8
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaos_checks import Verdict, judge, list_crs, list_records, read_truth, terminal_counts
from chaos_report import render_markdown, write_docs
from chaos_stack import FaultRecord, Stack
from chaos_submit import Planned, RestClient, SubmitStats, plan, submit_kubectl
from kubernetes import client, config
from local_stack import machine, stack_env

from aidetect.core.db import Database
from aidetect.core.errors import TransientError

# (fraction of the submission window, target): the faults, spread over the window.
FAULTS = (
    (0.10, "worker"),
    (0.25, "operator"),
    (0.40, "rabbitmq"),
    (0.55, "postgres"),
    (0.70, "api"),
    (0.85, "worker"),
)
NAMESPACE = "default"  # where POST /predict creates tasks (AIDETECT_API_NAMESPACE's default)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", type=Path, required=True, help="the stack's AIDETECT_STATE_DIR")
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--rate", type=float, default=8.0, help="tasks per second, both paths")
    p.add_argument("--downtime", type=float, default=2.0, help="seconds between kill and restart")
    p.add_argument("--settle-timeout", type=float, default=900.0, help="wait for all-terminal")
    p.add_argument("--skip-fault", action="append", default=[], help="a target not to kill")
    p.add_argument("--out", type=Path, help="write the figures here as JSON and Markdown")
    p.add_argument("--write-docs", type=Path, help="update the figures in this reliability.md")
    return p.parse_args()


def submit_all(
    stack: Stack, tasks: list[Planned], rate: float, run: str, rest: RestClient, kube: Path
) -> SubmitStats:
    """One thread per path, each sending its tasks at their scheduled times."""
    stats = SubmitStats()

    def send(kind: str) -> None:
        api = config.new_client_from_config(config_file=str(kube))
        for p in (t for t in tasks if t.kind == kind):
            time.sleep(max(0.0, p.index / rate - stack.now()))
            at = stack.now()
            sub = submit_kubectl(api, NAMESPACE, p, run) if kind == "kubectl" else rest.submit(p)
            sub.at = at
            stats.add(sub)

    threads = [threading.Thread(target=send, args=(k,), name=k) for k in ("kubectl", "rest")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats


def inject_faults(
    stack: Stack, window: float, downtime: float, skip: list[str], records: list[FaultRecord]
) -> None:
    """The faults in order, each at its time or as soon as the one before it is over."""
    for fraction, target in FAULTS:
        if target in skip:
            continue
        time.sleep(max(0.0, fraction * window - stack.now()))
        print(f"[chaos] t={stack.now():6.1f}s kill -9 {target} (pid {stack.expected[target]})")
        rec = stack.kill_and_restart(target, downtime)
        back = f"back at t={rec.back_at:.1f}s (pid {rec.new_pid})" if rec.back_at else rec.error
        print(f"[chaos] t={stack.now():6.1f}s {target} {back}", flush=True)
        records.append(rec)


def wait_terminal(
    stack: Stack, api: client.ApiClient, db: Database, keys: set[str], deadline: float
) -> float | None:
    """The time (from the start) when every task is terminal on the CR and in the database."""
    last_print = 0.0
    while stack.now() < deadline:
        try:
            crs, records = list_crs(api, NAMESPACE), list_records(db, NAMESPACE)
        except (TransientError, OSError) as e:
            print(f"[chaos] t={stack.now():6.1f}s cannot read the state yet: {e}")
            time.sleep(3)
            continue
        cr_done, db_done = terminal_counts(crs, records, keys)
        n = len(keys)
        if cr_done >= n and db_done >= n:
            return stack.now()
        if stack.now() - last_print >= 15:
            print(
                f"[chaos] t={stack.now():6.1f}s terminal: CR {cr_done}/{n}, database {db_done}/{n}"
            )
            last_print = stack.now()
        time.sleep(2)
    return None


def fault_figures(faults: list[FaultRecord], window: float) -> list[dict[str, Any]]:
    return [
        {**asdict(f), "fraction": round(f.killed_at / window, 2) if window else None}
        for f in faults
    ]


def run(args: argparse.Namespace) -> Verdict:
    env = stack_env(args.state)
    api = config.new_client_from_config(config_file=env["KUBECONFIG"])
    db = Database(env["AIDETECT_DATABASE_URL"], pool_max=2)
    run_id = secrets.token_hex(3)
    tasks = plan(run_id, args.tasks)
    window = args.tasks / args.rate
    stack = Stack(args.state)
    stack.snapshot()
    print(f"[chaos] run {run_id}: {args.tasks} tasks at {args.rate}/s over {window:.0f}s")
    rest = RestClient(
        f"http://127.0.0.1:{env['AIDETECT_API_PORT']}",
        (args.state / "api-token").read_text().strip(),
        find_uid=lambda key: next((c.uid for c in list_crs(api, NAMESPACE) if c.key == key), None),
    )
    stop = threading.Event()
    stack.watch(stop)
    faults: list[FaultRecord] = []
    injector = threading.Thread(
        target=inject_faults,
        args=(stack, window, args.downtime, args.skip_fault, faults),
        name="faults",
    )
    injector.start()
    stats = submit_all(stack, tasks, args.rate, run_id, rest, Path(env["KUBECONFIG"]))
    last_submission = stack.now()
    print(f"[chaos] t={last_submission:6.1f}s all {len(stats.submissions)} tasks submitted")
    injector.join()
    keys = {t.key for t in tasks}
    settle = wait_terminal(stack, api, db, keys, last_submission + args.settle_timeout)
    stack.check_once()
    stop.set()
    truth = read_truth(
        api, db, NAMESPACE, tasks, stats.submissions, args.state / "logs" / "worker.log"
    )
    verdict = judge(truth)
    _check_stack(verdict, stack, faults, args.skip_fault)
    subs = stats.submissions
    verdict.figures.update(
        run=run_id,
        rate_per_s=args.rate,
        window_s=round(window, 1),
        last_submission_s=round(last_submission, 1),
        all_terminal_s=None if settle is None else round(settle, 1),
        all_terminal_after_last_submission_s=None
        if settle is None
        else round(settle - last_submission, 1),
        machine=machine(),
        faults=fault_figures(faults, window),
        kubectl_tasks=sum(s.planned.kind == "kubectl" for s in subs),
        rest_tasks=sum(s.planned.kind == "rest" for s in subs),
        retried_sends=sum(s.refused for s in subs),
        ambiguous_replies=sum(s.ambiguous for s in subs),
        ambiguous_already_created=sum(s.adopted for s in subs),
        incidents=stack.incidents,
    )
    if settle is None:
        verdict.check(
            "all terminal in time", [f"not all terminal {args.settle_timeout:.0f}s after"]
        )
    db.close()
    return verdict


def _check_stack(v: Verdict, stack: Stack, faults: list[FaultRecord], skip: list[str]) -> None:
    planned = [t for _, t in FAULTS if t not in skip]
    injected = [f"{f.target}: {f.error}" for f in faults if f.back_at is None]
    if len(faults) != len(planned):
        injected.append(f"{len(faults)} of {len(planned)} faults injected")
    v.check("every fault injected and its process back", injected)
    v.check("no process restarted except those the suite killed", list(stack.incidents))


def main() -> int:
    args = parse_args()
    verdict = run(args)
    text = render_markdown(verdict)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "chaos.json").write_text(
            json.dumps({"figures": verdict.figures, "failures": verdict.failures}, indent=2)
        )
        (args.out / "chaos.md").write_text(text)
    if args.write_docs:
        write_docs(args.write_docs, text)
    failed = [name for name, problems in verdict.failures.items() if problems]
    print(f"[chaos] {'FAILED: ' + ', '.join(failed) if failed else 'PASSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
