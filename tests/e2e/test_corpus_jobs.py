"""Corpus jobs against the real object server (hack/s3.sh), kube-apiserver, Postgres and RabbitMQ.

A 20 000-record JSONL job ends Succeeded with a result line per record, each id once, the bad
lines counted and reported; the same job survives a kill -9 of the operator while it splits
and of the worker while it scores; bad sources and too many bad lines fail with their reason.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from kubernetes import client

from aidetect.core import crd
from aidetect.core.db import Database
from aidetect.core.states import Phase
from tests.e2e.conftest import API_TOKEN
from tests.utils.corpora import Corpus, corpus_spec, make_corpus, read_jsonl
from tests.utils.factories import detection_task
from tests.utils.kubectl import kubectl
from tests.utils.objects import S3Client, S3Service
from tests.utils.processes import ManagedProcess
from tests.utils.services import REPO_ROOT
from tests.utils.waiting import eventually, wait_for_phase

pytestmark = pytest.mark.slow
RECORDS = 20_000
SECRET = "corpus-credentials"


@pytest.fixture
def credentials(
    core_api: client.CoreV1Api, namespace: str, object_store: S3Service
) -> Iterator[str]:
    """The namespace's Secret with the object server's credentials."""
    core_api.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=SECRET),
            string_data={
                "AWS_ACCESS_KEY_ID": object_store.access_key,
                "AWS_SECRET_ACCESS_KEY": object_store.secret_key,
            },
        ),
    )
    yield SECRET


def _create(api: client.CustomObjectsApi, namespace: str, name: str, spec: dict[str, Any]) -> UUID:
    created = api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task(name, **spec)
    )
    return UUID(created["metadata"]["uid"])


def _check_output(corpus: Corpus, lines: list[dict[str, Any]], key: str) -> None:
    """One line per record, in source order, each id once; the bad ones with their reasons."""
    assert len(lines) == corpus.records
    assert [line["index"] for line in lines] == list(range(corpus.records))
    ids = Counter(line["id"] for line in lines)
    assert max(ids.values()) == 1, ids.most_common(3)
    scored = [line for line in lines if "error" not in line]
    assert [line["id"] for line in scored] == corpus.good_ids
    assert all(line["label"] in ("ai", "human") and "score" in line for line in scored)
    assert all(line["modelVersion"].startswith("tiny-classifier@sha256:") for line in scored)
    failed = [line for line in lines if "error" in line]
    assert len(failed) == len(corpus.bad)
    for line, (source_id, why) in zip(failed, corpus.bad, strict=True):
        assert line["error"]["reason"] == "InvalidInput"
        assert why in line["error"]["message"], line
        assert line["id"] == (source_id or line["id"])
        if source_id is None:  # unreadable: the id is the record's place in the source
            assert line["id"].startswith(f"{key}:")


def _wait_until(what: str, check: Any, timeout: float = 60.0) -> None:
    eventually(check, timeout=timeout, what=what, every=0.01)


@pytest.mark.usefixtures("worker")
def test_corpus_job_scores_every_record_once_and_writes_its_results(
    custom_api: client.CustomObjectsApi,
    namespace: str,
    bucket: tuple[S3Client, str],
    object_store: S3Service,
    credentials: str,
    db: Database,
    api_url: str,
) -> None:
    s3, name = bucket
    corpus = make_corpus(RECORDS)
    s3.put_object(Bucket=name, Key="in/essays.jsonl", Body=corpus.body)
    spec = corpus_spec(object_store.endpoint, name, "in/essays.jsonl", credentials)

    # When a user applies a corpus job over 20 000 records (and 4 bad lines)
    uid = _create(custom_api, namespace, "essays", spec)
    cr = wait_for_phase(custom_api, namespace, "essays", {"Succeeded", "Failed"}, timeout=300)

    # Then it succeeds, and its CR shows progress, the output and the counts by label
    status = cr["status"]
    assert status["phase"] == "Succeeded", status
    total = corpus.records
    assert status["progress"] == {
        "total": total,
        "done": RECORDS,
        "failed": len(corpus.bad),
        "summary": f"{RECORDS}/{total} ({len(corpus.bad)} failed)",
    }
    out_key = "in/essays.jsonl.results.jsonl"
    assert status["output"] == {"location": f"s3://{name}/{out_key}", "lines": total}
    counts = status["result"]["counts"]
    assert counts["ai"] + counts["human"] == RECORDS
    assert "items" not in status["result"]  # a corpus never lands on the CR
    # And the output object has one line per record, each id once
    body, lines = read_jsonl(s3, name, out_key)
    _check_output(corpus, lines, "in/essays.jsonl")
    assert Counter(line.get("label") for line in lines if "label" in line) == counts
    # And the API streams the same bytes
    request = urllib.request.Request(
        f"{api_url}/tasks/{uid}/results", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.headers["Content-Type"].startswith("application/x-ndjson")
        assert r.read() == body
    # And the database has each item once, and the transitions in order, Succeeded once
    steps = [t.to_phase for t in db.transitions(uid)]
    assert steps == [Phase.PENDING, Phase.QUEUED, Phase.RUNNING, Phase.SUCCEEDED]


@pytest.mark.usefixtures("credentials")
def test_corpus_job_survives_kill_9_of_the_operator_splitting_and_the_worker_scoring(
    custom_api: client.CustomObjectsApi,
    namespace: str,
    bucket: tuple[S3Client, str],
    object_store: S3Service,
    db: Database,
    operator: ManagedProcess,
    worker: ManagedProcess,
    system_env: dict[str, str],
    logs_dir: Path,
) -> None:
    s3, name = bucket
    corpus = make_corpus(RECORDS, prefix="k")
    s3.put_object(Bucket=name, Key="essays.jsonl", Body=corpus.body)
    # An operator that splits 500 records per transaction: a kill lands between two of them
    operator.stop()
    small_batches = ManagedProcess(
        "operator-split-500",
        ["-m", "aidetect.cli", "operator"],
        {**system_env, "AIDETECT_OPERATOR_CORPUS_SPLIT_BATCH": "500"},
        logs_dir,
    )
    try:
        small_batches.start().wait_for_log("Activity 'startup' succeeded")
        uid = _create(
            custom_api,
            namespace,
            "survivor",
            corpus_spec(object_store.endpoint, name, "essays.jsonl", SECRET),
        )

        # Given the operator killed -9 in the middle of splitting
        def splitting() -> bool:
            row = db.find_task(uid)
            return row is not None and 0 < row.progress.total < corpus.records

        _wait_until("the split to start", splitting)
        small_batches.kill()
        read_before = db.get_task(uid).progress.total
        assert 0 < read_before < corpus.records
        # When an operator starts again, it resumes where the split stopped
        small_batches.start().wait_for_log("Activity 'startup' succeeded")
        small_batches.wait_for_log("(record ")
        resumed_at = int(small_batches.log_path.read_text().split("(record ")[-1].split(")")[0])
        assert resumed_at >= read_before - 500 and resumed_at > 0

        # Given the worker killed -9 while it scores
        def scoring() -> bool:
            row = db.find_task(uid)
            return row is not None and RECORDS // 10 < row.progress.done < RECORDS // 2

        _wait_until("scoring to be under way", scoring, timeout=180)
        worker.kill()
        done_before = db.get_task(uid).progress.done
        worker.start().wait_for_log("serving ['tiny']")

        # Then the job succeeds, with every record scored once and nothing missing
        cr = wait_for_phase(custom_api, namespace, "survivor", {"Succeeded", "Failed"}, timeout=300)
        assert cr["status"]["phase"] == "Succeeded", cr["status"]
        assert done_before < RECORDS
        row = db.get_task(uid)
        assert (row.progress.total, row.progress.done) == (corpus.records, RECORDS)
        _, lines = read_jsonl(s3, name, "essays.jsonl.results.jsonl")
        _check_output(corpus, lines, "essays.jsonl")
        succeeded = [t for t in db.transitions(uid) if t.to_phase == Phase.SUCCEEDED]
        assert len(succeeded) == 1
    finally:
        small_batches.stop()
        operator.start().wait_for_log("Activity 'startup' succeeded")
        if not worker.running:
            worker.start().wait_for_log("serving ['tiny']")


@pytest.mark.usefixtures("worker", "credentials")
def test_corpus_job_over_a_prefix_reads_every_object_in_key_order(
    custom_api: client.CustomObjectsApi,
    namespace: str,
    bucket: tuple[S3Client, str],
    object_store: S3Service,
) -> None:
    s3, name = bucket
    parts = [make_corpus(30, bad=False, prefix=f"p{i}") for i in range(3)]
    for i, part in reversed(list(enumerate(parts))):  # uploaded out of order
        s3.put_object(Bucket=name, Key=f"day/part-{i}.jsonl", Body=part.body)
    s3.put_object(Bucket=name, Key="other/ignored.jsonl", Body=parts[0].body)
    spec = corpus_spec(object_store.endpoint, name, "unused", SECRET, output_key="day.results")
    spec["source"]["s3"] = {"endpoint": object_store.endpoint, "bucket": name, "prefix": "day/"}
    _create(custom_api, namespace, "by-prefix", spec)
    cr = wait_for_phase(custom_api, namespace, "by-prefix", {"Succeeded", "Failed"}, timeout=120)
    assert cr["status"]["phase"] == "Succeeded", cr["status"]
    _, lines = read_jsonl(s3, name, "day.results")
    assert [line["id"] for line in lines] == [i for p in parts for i in p.good_ids]


@pytest.mark.usefixtures("worker", "credentials")
def test_too_many_bad_lines_fail_the_job_with_their_count(
    custom_api: client.CustomObjectsApi,
    namespace: str,
    bucket: tuple[S3Client, str],
    object_store: S3Service,
) -> None:
    s3, name = bucket
    s3.put_object(Bucket=name, Key="bad.jsonl", Body=make_corpus(50).body)
    spec = corpus_spec(
        object_store.endpoint, name, "bad.jsonl", SECRET, failurePolicy={"maxFailedItems": 2}
    )
    _create(custom_api, namespace, "strict", spec)
    cr = wait_for_phase(custom_api, namespace, "strict", {"Succeeded", "Failed"}, timeout=120)
    assert cr["status"]["phase"] == "Failed"
    failed = {c["type"]: c for c in cr["status"]["conditions"]}["Failed"]
    assert failed["reason"] == "TooManyFailedItems"
    assert "more than failurePolicy.maxFailedItems (2)" in failed["message"]


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(
    ("case", "reason", "words"),
    [
        ("no-such-key", "InvalidInput", "NoSuchKey"),
        ("no-secret", "InvalidInput", "not found"),
        ("wrong-secret", "InvalidInput", "SignatureDoesNotMatch"),
        ("no-output-bucket", "OutputFailed", "NoSuchBucket"),
    ],
)
def test_a_bad_source_or_output_fails_the_job_with_the_reason(
    case: str,
    reason: str,
    words: str,
    custom_api: client.CustomObjectsApi,
    core_api: client.CoreV1Api,
    namespace: str,
    bucket: tuple[S3Client, str],
    object_store: S3Service,
) -> None:
    s3, name = bucket
    s3.put_object(Bucket=name, Key="ok.jsonl", Body=make_corpus(5, bad=False).body)
    secret = {"AWS_ACCESS_KEY_ID": object_store.access_key, "AWS_SECRET_ACCESS_KEY": "wrong"}
    if case != "wrong-secret":
        secret["AWS_SECRET_ACCESS_KEY"] = object_store.secret_key
    if case != "no-secret":
        core_api.create_namespaced_secret(
            namespace,
            client.V1Secret(metadata=client.V1ObjectMeta(name=SECRET), string_data=secret),
        )
    key = "missing.jsonl" if case == "no-such-key" else "ok.jsonl"
    spec = corpus_spec(object_store.endpoint, name, key, SECRET)
    if case == "no-output-bucket":
        spec["output"]["s3"]["bucket"] = "no-such-bucket-here"
    _create(custom_api, namespace, case, spec)
    cr = wait_for_phase(custom_api, namespace, case, {"Succeeded", "Failed"}, timeout=120)
    assert cr["status"]["phase"] == "Failed", cr["status"]
    failed = {c["type"]: c for c in cr["status"]["conditions"]}["Failed"]
    assert failed["reason"] == reason
    assert words in failed["message"], failed["message"]


@pytest.mark.usefixtures("worker", "credentials")
def test_deleting_a_corpus_job_cancels_it_and_skips_the_rest(
    custom_api: client.CustomObjectsApi,
    namespace: str,
    bucket: tuple[S3Client, str],
    object_store: S3Service,
    db: Database,
) -> None:
    s3, name = bucket
    corpus = make_corpus(RECORDS, bad=False)
    s3.put_object(Bucket=name, Key="big.jsonl", Body=corpus.body)
    uid = _create(
        custom_api,
        namespace,
        "doomed",
        corpus_spec(object_store.endpoint, name, "big.jsonl", SECRET),
    )

    def scoring() -> bool:
        row = db.find_task(uid)
        return row is not None and row.progress.done > 0

    _wait_until("scoring to start", scoring, timeout=120)
    custom_api.delete_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, "doomed"
    )
    _wait_until("the cancel", lambda: db.get_task(uid).phase == Phase.CANCELLED, timeout=30)
    done = db.get_task(uid).progress.done
    time.sleep(3)
    after = db.get_task(uid).progress.done
    assert done <= after < RECORDS  # a batch in flight may land; the rest is skipped
    assert after - done <= 64 * 3
    assert not s3.list_objects_v2(Bucket=name, Prefix="big.jsonl.results").get("Contents")


@pytest.mark.usefixtures("worker")
def test_corpus_example_succeeds(
    custom_api: client.CustomObjectsApi,
    namespace: str,
    object_store: S3Service,
    bucket: tuple[S3Client, str],
) -> None:
    """examples/corpus-job.yaml as make up runs it, pointed at this session's object server."""
    s3, _ = bucket
    if "aidetect-examples" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="aidetect-examples")
    sample = (REPO_ROOT / "examples" / "data" / "sample.jsonl").read_bytes()
    s3.put_object(Bucket="aidetect-examples", Key="corpora/sample.jsonl", Body=sample)
    docs = list(yaml.safe_load_all((REPO_ROOT / "examples" / "corpus-job.yaml").read_text()))
    for doc in docs:
        if doc["kind"] == crd.KIND:
            doc["spec"]["source"]["s3"]["endpoint"] = object_store.endpoint
        if doc["kind"] == "Secret":
            doc["stringData"] = {
                "AWS_ACCESS_KEY_ID": object_store.access_key,
                "AWS_SECRET_ACCESS_KEY": object_store.secret_key,
            }
    kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(docs))
    cr = wait_for_phase(custom_api, namespace, "corpus-job", {"Succeeded", "Failed"}, timeout=120)
    assert cr["status"]["phase"] == "Succeeded", cr["status"]
    records = len(sample.decode().splitlines())
    assert cr["status"]["progress"]["total"] == records
    assert cr["status"]["progress"]["failed"] == 2
    _, lines = read_jsonl(s3, "aidetect-examples", "results/sample.results.jsonl")
    assert len(lines) == records and len({line["id"] for line in lines}) == records


@pytest.mark.usefixtures("operator", "credentials")
def test_an_object_store_that_does_not_answer_keeps_the_job_pending_and_says_why(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    spec = corpus_spec(endpoint, "corpora", "essays.jsonl", SECRET)
    spec["output"]["s3"]["endpoint"] = endpoint
    _create(custom_api, namespace, "unreachable", spec)

    def waiting() -> dict[str, Any] | None:
        cr = custom_api.get_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, "unreachable"
        )
        status = cr.get("status") or {}
        return status if "waiting:" in (status.get("message") or "") else None

    status = eventually(waiting, timeout=90, what="the CR to say why it waits")
    assert status["phase"] == "Pending"
    assert endpoint.removeprefix("http://") in status["message"] or "connect" in status["message"]
