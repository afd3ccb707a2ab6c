"""`make bench-corpus`: one corpus job of BENCH_CORPUS_TEXTS (100 000) JSONL records on a fresh
`make up` stack, against the bare model loop on the same texts, measured in one run.

The job runs the whole way: the operator streams the object from the stack's S3 server
(SeaweedFS) into Postgres, publishes the items in chunks, the worker scores them, and the
operator writes the results JSONL back (multipart). Reported:

- texts/s of the job from `kubectl create` to Succeeded, and of each stage (split, score, write)
  from the transition log and the operator's log;
- the bare loop's texts/s on the same texts (`bench_model.bare_classifier_loop`, best of the
  thread counts, tokenized beforehand), and the job's ratio to it;
- the RSS of the operator and the worker at the start, their peak, and at the end.

    python bench/bench_corpus.py --state STATE_DIR [--texts N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from bench_cpu import others_share, snapshot
from bench_memory import RssSampler, rss_mib
from bench_paths import SENTENCES, kube_client
from bench_report import DISTURBED
from botocore.config import Config
from kubernetes import client
from local_stack import PID_FILES, machine, read_pid, stack_env

from aidetect.core import crd
from aidetect.core.db import Database
from aidetect.core.states import Phase

NAMESPACE = "bench-corpus"
BUCKET = "bench-corpus"
KEY = "corpus.jsonl"


def corpus(n: int) -> tuple[list[str], bytes]:
    """n unique texts (the result cache serves none of them) and their JSONL."""
    texts = [f"[corpus {i}] {SENTENCES[i % len(SENTENCES)]}" for i in range(n)]
    body = "".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    return texts, body.encode()


def s3_client(env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=env["AIDETECT_S3_ENDPOINT"],
        aws_access_key_id=env["AIDETECT_S3_ACCESS_KEY"],
        aws_secret_access_key=env["AIDETECT_S3_SECRET_KEY"],
        region_name=env.get("AIDETECT_S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def prepare(env: dict[str, str], body: bytes) -> None:
    s3 = s3_client(env)
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    core = client.CoreV1Api(kube_client(env["KUBECONFIG"]))
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    except client.ApiException as e:
        if e.status != 409:
            raise
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="s3"),
        string_data={
            "AWS_ACCESS_KEY_ID": env["AIDETECT_S3_ACCESS_KEY"],
            "AWS_SECRET_ACCESS_KEY": env["AIDETECT_S3_SECRET_KEY"],
        },
    )
    try:
        core.create_namespaced_secret(NAMESPACE, secret)
    except client.ApiException as e:
        if e.status != 409:
            raise


def run_job(env: dict[str, str], name: str, timeout: float) -> tuple[str, float]:
    """Create the job and wait for its end: (phase, seconds from create to the end)."""
    api = client.CustomObjectsApi(kube_client(env["KUBECONFIG"]))
    spec = {
        "source": {
            "s3": {
                "endpoint": env["AIDETECT_S3_ENDPOINT"],
                "bucket": BUCKET,
                "key": KEY,
            },
            "credentialsSecretRef": {"name": "s3"},
            "idField": "id",
        },
        "output": {"s3": {"bucket": BUCKET, "key": f"{name}.results.jsonl"}},
    }
    body = {
        "apiVersion": crd.API_VERSION,
        "kind": crd.KIND,
        "metadata": {"name": name},
        "spec": spec,
    }
    started = time.monotonic()
    api.create_namespaced_custom_object(crd.GROUP, crd.VERSION, NAMESPACE, crd.PLURAL, body)
    while time.monotonic() - started < timeout:
        obj = api.get_namespaced_custom_object(crd.GROUP, crd.VERSION, NAMESPACE, crd.PLURAL, name)
        status = obj.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed", "Cancelled"):
            return str(status["phase"]), time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"the corpus job did not end within {timeout:.0f} s")


def stages(db: Database, name: str) -> dict[str, float]:
    """Seconds in each stage, from the transition log: split (recorded -> queued), score
    (queued -> every item done, i.e. the operator starting the upload) and the whole job."""
    record = next(
        t for t in db.list_tasks(namespaces=[NAMESPACE], limit=50).tasks if t.name == name
    )
    log = {t.to_phase: t.at for t in db.transitions(record.id)}
    split = (log[Phase.QUEUED] - log[Phase.PENDING]).total_seconds()
    total = (log[Phase.SUCCEEDED] - log[Phase.PENDING]).total_seconds()
    return {"split_s": split, "score_and_write_s": total - split, "job_s": total}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--texts", type=int, default=int(os.environ.get("BENCH_CORPUS_TEXTS", 100_000)))
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    env = stack_env(args.state)
    # the bare loop loads the worker's model with the stack's settings (PATH as it is: env.sh's
    # refers to $PATH, which a file read does not expand)
    os.environ.update({k: v for k, v in env.items() if k not in ("PATH", "PYTHONPATH")})
    texts, body = corpus(args.texts)
    print(f"[corpus] {args.texts} records, {len(body) / 2**20:.1f} MiB of JSONL", flush=True)
    prepare(env, body)
    pids = {n: read_pid(args.state, n) for n in ("operator", "worker")}
    samplers = {n: RssSampler(pid).start() for n, pid in pids.items() if pid}
    start_rss = {n: rss_mib(pid) for n, pid in pids.items() if pid}
    name = f"corpus-{int(time.time())}"
    roots = [pid for n in PID_FILES if (pid := read_pid(args.state, n))] + [os.getpid()]
    cpu0 = snapshot(roots)
    phase, wall = run_job(env, name, args.timeout)
    others, _steal = others_share(cpu0, snapshot(roots), wall)
    time.sleep(1.0)
    end_rss = {n: rss_mib(s.pid) for n, s in samplers.items()}
    peak_rss = {n: s.peak for n, s in samplers.items()}
    for s in samplers.values():
        s.stop()
    if phase != "Succeeded":
        print(f"[corpus] the job ended {phase}", file=sys.stderr)
        return 1
    db = Database(env["AIDETECT_DATABASE_URL"], pool_max=2)
    per_stage = stages(db, name)
    from bench_model import bare_classifier_loop  # torch: after the job, not beside it

    bare = bare_classifier_loop(texts, repeats=1)
    job_rate = args.texts / wall
    figures = {
        "texts": args.texts,
        "job_texts_per_s": job_rate,
        "job_wall_s": wall,
        **per_stage,
        "split_records_per_s": args.texts / per_stage["split_s"],
        "bare_texts_per_s": bare.texts_per_s,
        "ratio": job_rate / bare.texts_per_s,
        "bare": {"batch": bare.batch_size, "threads": bare.threads, "model": bare.model_version},
        "rss_mib": {"start": start_rss, "peak": peak_rss, "end": end_rss},
        "others_cpu_percent": round(100 * others, 1),
        "disturbed": 100 * others > DISTURBED,
        "machine": machine(),
    }
    print(json.dumps(figures, indent=2, default=str), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "corpus.json").write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
