"""The `aidetect` command line: one entrypoint for every component and for users.

Components: `aidetect operator`, `aidetect worker --detector NAME`, `aidetect api`.
Users: `aidetect submit` (texts, or `--file` with a progress bar), `aidetect status`
(`--sentences` marks the ones that look generated), `aidetect watch` (a live task table),
`aidetect db upgrade`, `aidetect eval`.
Heavy imports (kopf, torch, FastAPI) happen inside the command that needs them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from aidetect import __version__
from aidetect.core.config import Settings, get_settings
from aidetect.core.errors import AidetectError, KubeRefused
from aidetect.core.logs import configure_logging
from aidetect.core.models import ItemFailure
from aidetect.core.states import TERMINAL


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per component or user action."""
    parser = argparse.ArgumentParser(
        prog="aidetect", description="AI-generated-text detection as Kubernetes jobs."
    )
    parser.add_argument("--version", action="version", version=f"aidetect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the version and exit")
    sub.add_parser("operator", help="run the kopf operator")
    worker = sub.add_parser("worker", help="run a worker that serves detector profiles")
    worker.add_argument(
        "--detector",
        action="append",
        default=[],
        metavar="NAME",
        help="a detector profile to serve (repeatable; default: the cluster default)",
    )
    sub.add_parser("api", help="run the REST facade")
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="upgrade: apply pending migrations")
    submit = sub.add_parser("submit", help="create a DetectionTask and print its id")
    submit.add_argument("texts", nargs="*", help="the text(s) to score")
    submit.add_argument(
        "--file",
        type=Path,
        default=None,
        help="a batch: one text per line (blank lines skipped); shows a progress bar until done",
    )
    submit.add_argument("--no-wait", action="store_true", help="with --file: do not wait")
    submit.add_argument("--detector", default=None)
    submit.add_argument("--granularity", choices=["document", "sentence"], default="document")
    submit.add_argument("--namespace", default="default")
    status = sub.add_parser("status", help="print a task's state and result from the database")
    status.add_argument("task_id", type=UUID)
    status.add_argument("--wait", action="store_true", help="poll until the task has ended")
    status.add_argument(
        "--sentences",
        action="store_true",
        help="print the texts with the sentences that look generated marked [[like this]]",
    )
    watch = sub.add_parser("watch", help="a live table of tasks, like kubectl get dt -w")
    watch.add_argument("--namespace", default=None, help="only this namespace")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between reads")
    watch.add_argument("--count", type=int, default=None, help="stop after this many reads")
    _add_eval_parser(sub)
    return parser


def _add_eval_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evaluate = sub.add_parser(
        "eval", help="score labelled text with a profile: metrics, calibration, threshold"
    )
    evaluate.add_argument("--detector", default=None, metavar="NAME", help="profile name")
    evaluate.add_argument(
        "--data", required=True, type=Path, help='JSONL of {"text": ..., "label": "ai"|"human"}'
    )
    evaluate.add_argument("--profiles", default=None, metavar="FILE", help="profiles YAML")
    evaluate.add_argument("--target-fpr", type=float, default=0.05, help="default: 0.05")
    evaluate.add_argument("--calibration", choices=["platt", "isotonic"], default="platt")
    evaluate.add_argument(
        "--write-profile",
        action="store_true",
        help="write the calibration and the threshold at --target-fpr into the profiles file",
    )
    evaluate.add_argument("--plot", type=Path, default=None, metavar="PNG", help="ROC curve")
    evaluate.add_argument("--batch-size", type=int, default=None, metavar="N")


def _submit(settings: Settings, args: argparse.Namespace) -> int:
    from aidetect.core import k8s
    from aidetect.core.models import TaskSpec

    texts: list[str] = list(args.texts)
    if args.file is not None:
        texts += [line for line in args.file.read_text().splitlines() if line.strip()]
    if not texts:
        sys.stderr.write("aidetect submit: error: give texts, or --file with one per line\n")
        return 2
    spec = TaskSpec(
        text=texts[0] if len(texts) == 1 else None,
        texts=texts if len(texts) > 1 else None,
        detector=args.detector,
        granularity=args.granularity,
    )
    manifest = k8s.task_manifest(spec, generate_name="cli-", source="cli")
    ref = k8s.create_task(k8s.api_client(settings.kube.kubeconfig), args.namespace, manifest)
    sys.stdout.write(
        json.dumps({"taskId": ref.uid, "name": ref.name, "namespace": ref.namespace}) + "\n"
    )
    sys.stdout.flush()
    if args.file is not None and not args.no_wait:
        return _follow(settings, UUID(ref.uid))
    return 0


def _follow(settings: Settings, task_id: UUID) -> int:
    """A progress bar on stderr until the task ends; 0 if it succeeded, 1 otherwise."""
    from aidetect.cli_views import progress_bar
    from aidetect.core.db import Database
    from aidetect.core.states import Phase

    db = Database(settings.db.url, pool_max=1)
    tty = sys.stderr.isatty()
    shown = None
    try:
        while True:
            record = db.find_task(task_id)  # None until the operator has recorded it
            if record is not None:
                p = record.progress
                line = f"{record.phase:<9} {progress_bar(p.done + p.failed, p.total)}"
                if line != shown:
                    sys.stderr.write(("\r" if tty else "") + line + ("" if tty else "\n"))
                    sys.stderr.flush()
                    shown = line
                if record.phase in TERMINAL:
                    sys.stderr.write("\n" if tty else "")
                    return 0 if record.phase == Phase.SUCCEEDED else 1
            time.sleep(0.5)
    finally:
        db.close()


def _watch(settings: Settings, args: argparse.Namespace) -> int:
    """Print the newest tasks, then a new row each time one changes (Ctrl-C stops)."""
    from datetime import UTC, datetime

    from aidetect.cli_views import header, row_key, task_row
    from aidetect.core.db import Database

    db = Database(settings.db.url, pool_max=1)
    namespaces = [args.namespace] if args.namespace else None
    seen: dict[UUID, tuple[object, ...]] = {}
    sys.stdout.write(header() + "\n")
    reads = 0
    try:
        while args.count is None or reads < args.count:
            page = db.list_tasks(
                phase=None, namespaces=namespaces, detector=None, limit=50, cursor=None
            )
            now = datetime.now(UTC)
            for task in reversed(page.tasks):  # oldest first, as kubectl prints them
                if seen.get(task.id) != row_key(task):
                    seen[task.id] = row_key(task)
                    sys.stdout.write(task_row(task, now) + "\n")
            sys.stdout.flush()
            reads += 1
            if args.count is None or reads < args.count:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        db.close()
    return 0


def _status(settings: Settings, task_id: UUID, wait: bool, sentences: bool = False) -> int:
    from aidetect.cli_views import marked_text
    from aidetect.core.db import Database

    db = Database(settings.db.url, pool_max=1)
    try:
        record = db.get_task(task_id)
        while wait and record.phase not in TERMINAL:
            time.sleep(1.0)
            record = db.get_task(task_id)
        if not sentences:
            sys.stdout.write(record.model_dump_json(by_alias=True, indent=2) + "\n")
            return 0
        texts = db.texts(task_id)
        colour = sys.stdout.isatty()
        for item in db.items(task_id):
            if isinstance(item, ItemFailure):
                sys.stdout.write(f"# text {item.index + 1}: not scored: {item.message}\n\n")
                continue
            sys.stdout.write(f"# text {item.index + 1}: {item.label} (score {item.score:.4g})\n")
            if item.sentences is None:
                sys.stdout.write("(no sentence scores: submit with --granularity sentence)\n")
            sys.stdout.write(marked_text(texts[item.index], item, colour=colour) + "\n\n")
    finally:
        db.close()
    return 0


def serving(settings: Settings, detectors: Sequence[str] | None) -> Settings:
    """The settings with `--detector` in place of the configured profiles, if it was given.

    A copy: the cached settings (`get_settings()`) are never changed.
    """
    if not detectors:
        return settings
    worker = settings.worker.model_copy(update={"detectors": list(detectors)})
    return settings.model_copy(update={"worker": worker})


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from aidetect.worker.evaluation import EvalOptions, run_eval

    options = EvalOptions(
        detector=args.detector,
        data=args.data,
        profiles_file=args.profiles or settings.profiles_file,
        target_fpr=args.target_fpr,
        method=args.calibration,
        write_profile=args.write_profile,
        plot=args.plot,
        batch_size=args.batch_size,
    )
    try:
        report = run_eval(options)
    except (AidetectError, OSError, ValueError) as e:
        sys.stderr.write(f"aidetect eval: error: {e}\n")
        return 1
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named on the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "version":
        sys.stdout.write(f"aidetect {__version__}\n")
        return 0
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "operator":
        from aidetect.operator.main import run as run_operator

        return run_operator(settings)
    if args.command == "worker":
        from aidetect.worker.consumer import run_worker

        return run_worker(serving(settings, args.detector))
    if args.command == "api":
        from aidetect.api.main import run as run_api

        run_api(settings)
        return 0
    if args.command == "db":
        from aidetect.core.db import upgrade_schema

        applied = upgrade_schema(settings.db.url)
        sys.stdout.write(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none'}\n")
        return 0
    if args.command == "eval":
        return _eval(settings, args)
    try:
        if args.command == "submit":
            return _submit(settings, args)
        if args.command == "watch":
            return _watch(settings, args)
        return _status(settings, args.task_id, args.wait, args.sentences)
    except AidetectError as e:  # what the apiserver or the database said, without a traceback
        sys.stderr.write(f"aidetect {args.command}: error: {_explain(e)}\n")
        return 1


def _explain(error: AidetectError) -> str:
    """The error's message, with the apiserver's field causes when it refused a request."""
    if isinstance(error, KubeRefused) and error.causes:
        causes = "; ".join(
            f"{c.field}: {c.message}" if c.field else c.message for c in error.causes
        )
        return f"{error} ({causes})"
    return str(error)


if __name__ == "__main__":
    raise SystemExit(main())
