"""The `aidetect` command line: one entrypoint for every component and for users.

Components: `aidetect operator`, `aidetect worker --detector NAME`, `aidetect api`.
Users: `aidetect submit`, `aidetect status`, `aidetect db upgrade`, `aidetect eval`.
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
from aidetect.core.logs import configure_logging
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
    submit.add_argument("texts", nargs="+", help="the text(s) to score")
    submit.add_argument("--detector", default=None)
    submit.add_argument("--granularity", choices=["document", "sentence"], default="document")
    submit.add_argument("--namespace", default="default")
    status = sub.add_parser("status", help="print a task's state and result from the database")
    status.add_argument("task_id", type=UUID)
    status.add_argument("--wait", action="store_true", help="poll until the task has ended")
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

    texts: list[str] = args.texts
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
    return 0


def _status(settings: Settings, task_id: UUID, wait: bool) -> int:
    from aidetect.core.db import Database

    db = Database(settings.db.url, pool_max=1)
    try:
        record = db.get_task(task_id)
        while wait and record.phase not in TERMINAL:
            time.sleep(1.0)
            record = db.get_task(task_id)
        sys.stdout.write(record.model_dump_json(by_alias=True, indent=2) + "\n")
    finally:
        db.close()
    return 0


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from aidetect.core.errors import AidetectError
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

        if args.detector:
            settings.worker.detectors = args.detector
        return run_worker(settings)
    if args.command == "api":
        from aidetect.api.main import run as run_api

        run_api(settings)
        return 0
    if args.command == "db":
        from aidetect.core.db import upgrade_schema

        applied = upgrade_schema(settings.db.url)
        sys.stdout.write(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none'}\n")
        return 0
    if args.command == "submit":
        return _submit(settings, args)
    if args.command == "eval":
        return _eval(settings, args)
    return _status(settings, args.task_id, args.wait)


if __name__ == "__main__":
    raise SystemExit(main())
