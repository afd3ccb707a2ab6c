"""The whole system end to end: kubectl -> operator -> Postgres + RabbitMQ -> worker -> status.

Real kube-apiserver, Postgres and RabbitMQ; the real operator and worker run as processes; the
model is a tiny untrained classifier saved with save_pretrained and loaded by the real code.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from fastapi.testclient import TestClient
from kubernetes import client
from pydantic import SecretStr

from aidetect.api.main import create_app
from aidetect.core import crd
from aidetect.core.config import AmqpSettings, ApiSettings, DatabaseSettings, KubeSettings, Settings
from aidetect.core.db import Database
from aidetect.core.models import ItemResult
from aidetect.core.states import Phase
from tests.utils.audit import audit_log as session_audit_log
from tests.utils.audit import task_writes
from tests.utils.factories import detection_task
from tests.utils.kubectl import apply_file, kubectl
from tests.utils.processes import ManagedProcess
from tests.utils.services import REPO_ROOT, LocalServices
from tests.utils.waiting import eventually, wait_for_phase

pytestmark = pytest.mark.slow
# A corpus job's example needs its object store: tests/e2e/test_corpus_jobs.py runs it.
EXAMPLES = [
    p for p in sorted((REPO_ROOT / "examples").glob("*.yaml")) if "source:" not in p.read_text()
]


def _tasks_in(path: Path) -> list[str]:
    docs = yaml.safe_load_all(path.read_text())
    return [d["metadata"]["name"] for d in docs if d and d["kind"] == crd.KIND]


def _create(api: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, body
    )
    return created


def _uid(obj: dict[str, Any]) -> UUID:
    return UUID(obj["metadata"]["uid"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.usefixtures("worker")
def test_example_reaches_succeeded_and_cr_agrees_with_db(
    example: Path,
    namespace: str,
    custom_api: client.CustomObjectsApi,
    db: Database,
) -> None:
    # Given the running system, when a user applies an example
    apply_file(example, namespace)
    for name in _tasks_in(example):
        # Then the task succeeds, and the CR and the database row agree
        cr = wait_for_phase(custom_api, namespace, name, {"Succeeded", "Failed"}, timeout=90)
        assert cr["status"]["phase"] == "Succeeded", cr["status"]
        row = db.get_task(_uid(cr))
        result = cr["status"]["result"]
        assert row.result is not None
        assert result["score"] == pytest.approx(row.result.score, abs=1e-4)  # rounded on the CR
        assert result["label"] == row.result.label
        assert result["modelVersion"] == row.result.model_version
        assert result["modelVersion"].startswith("tiny-classifier@sha256:")
        assert cr["status"]["progress"]["summary"] == f"{row.progress.total}/{row.progress.total}"
        # And the transition log has every step, in order
        steps = [(t.from_phase, t.to_phase) for t in db.transitions(row.id)]
        assert steps == [
            (None, Phase.PENDING),
            (Phase.PENDING, Phase.QUEUED),
            (Phase.QUEUED, Phase.RUNNING),
            (Phase.RUNNING, Phase.SUCCEEDED),
        ]
        conditions = {c["type"]: c for c in cr["status"]["conditions"]}
        assert conditions["Succeeded"]["status"] == "True"
        assert conditions["Queued"]["status"] == "False"
        # A sentence-granularity example shows per-sentence offsets on the CR and in the
        # database that the API serves (GET /status returns these items).
        if cr["spec"].get("granularity") == "sentence":
            text = cr["spec"]["text"]
            on_cr = [text[x["start"] : x["end"]] for x in result["sentences"]]
            (item,) = db.items(row.id)
            assert isinstance(item, ItemResult) and item.sentences is not None
            assert [text[x.start : x.end] for x in item.sentences] == on_cr
            assert len(on_cr) == 3 and on_cr[2].startswith("Это третье")


@pytest.mark.usefixtures("worker")
def test_sentence_granularity_gives_per_sentence_offsets(
    namespace: str, custom_api: client.CustomObjectsApi
) -> None:
    text = "Первое предложение здесь. Second sentence follows! And a third one?"
    _create(custom_api, namespace, detection_task("sentences", text=text, granularity="sentence"))
    cr = wait_for_phase(custom_api, namespace, "sentences", {"Succeeded"}, timeout=60)
    sentences = cr["status"]["result"]["sentences"]
    assert [text[s["start"] : s["end"]] for s in sentences] == [
        "Первое предложение здесь.",
        "Second sentence follows!",
        "And a third one?",
    ]


@pytest.mark.usefixtures("worker")
def test_batch_of_100_texts_ends_100_of_100_with_100_item_rows(
    namespace: str, custom_api: client.CustomObjectsApi, db: Database
) -> None:
    texts = [f"Text number {i}: the quick brown fox jumps over the lazy dog." for i in range(100)]
    created = _create(custom_api, namespace, detection_task("batch-100", texts=texts))
    cr = wait_for_phase(custom_api, namespace, "batch-100", {"Succeeded", "Failed"}, timeout=120)
    assert cr["status"]["phase"] == "Succeeded"
    assert cr["status"]["progress"] == {
        "total": 100,
        "done": 100,
        "failed": 0,
        "summary": "100/100",
    }
    items = db.items(_uid(created))
    assert [i.index for i in items] == list(range(100))
    counts = cr["status"]["result"]["counts"]
    assert counts["ai"] + counts["human"] == 100
    assert len(cr["status"]["result"]["items"]) == 100


@pytest.mark.usefixtures("operator")
def test_deadline_fails_the_task_with_deadline_exceeded(
    namespace: str, custom_api: client.CustomObjectsApi, db: Database
) -> None:
    # "nobody" has no worker, so the task can only wait in its queue until the deadline
    _create(
        custom_api,
        namespace,
        detection_task("late", text="waits forever", detector="slow", activeDeadlineSeconds=2),
    )
    cr = wait_for_phase(custom_api, namespace, "late", {"Failed"}, timeout=30)
    failed = next(c for c in cr["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    assert db.get_task(_uid(cr)).reason == "DeadlineExceeded"


@pytest.mark.usefixtures("worker")
def test_ttl_deletes_the_cr_and_keeps_the_row(
    namespace: str, custom_api: client.CustomObjectsApi, db: Database
) -> None:
    created = _create(
        custom_api,
        namespace,
        detection_task("short-lived", text="gone soon", ttlSecondsAfterFinished=1),
    )
    wait_for_phase(custom_api, namespace, "short-lived", {"Succeeded"}, timeout=60)

    def gone() -> bool:
        return kubectl("get", "dt", "short-lived", "-n", namespace, check=False).returncode != 0

    def row_knows_cr_is_gone() -> Any:
        row = db.get_task(_uid(created))
        return row if row.cr_deleted_at is not None else None

    eventually(gone, timeout=30, what="the CR to be deleted by its TTL")
    row = eventually(row_knows_cr_is_gone, timeout=10, what="the row to note the CR is gone")
    assert row.phase == Phase.SUCCEEDED
    assert row.result is not None


@pytest.mark.usefixtures("operator")
def test_delete_while_queued_cancels_and_writes_no_result(
    namespace: str, custom_api: client.CustomObjectsApi, db: Database
) -> None:
    # Given a task waiting in a queue no worker serves
    created = _create(
        custom_api, namespace, detection_task("doomed", text="never scored", detector="slow")
    )
    wait_for_phase(custom_api, namespace, "doomed", {"Queued"}, timeout=30)
    # When the user deletes it
    kubectl("delete", "dt", "doomed", "-n", namespace, "--wait=true", "--timeout=30s")
    # Then the row is Cancelled, and no item has a result
    row = db.get_task(_uid(created))
    assert row.phase == Phase.CANCELLED
    assert row.cr_deleted_at is not None
    assert db.items(_uid(created)) == []


@pytest.fixture
def faulty_worker(system_env: dict[str, str], logs_dir: Path) -> Iterator[Any]:
    started: list[ManagedProcess] = []

    def start(name: str, detector: str, **env: str) -> ManagedProcess:
        proc = ManagedProcess(
            name,
            ["-m", "tests.utils.faulty_worker", "--detector", detector],
            {**system_env, "AIDETECT_WORKER_NAME": name, **env},
            logs_dir,
        ).start()
        proc.wait_for_log(f"serving ['{detector}']")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.mark.usefixtures("operator")
def test_poison_text_fails_after_backoff_limit_and_others_succeed(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    db: Database,
    faulty_worker: Any,
) -> None:
    # Given a worker whose detector raises on any text holding POISON
    faulty_worker("poison-worker", "poison", AIDETECT_TEST_POISON="POISON")
    poison = _create(
        custom_api,
        namespace,
        detection_task("poisoned", text="this is POISON", detector="poison", backoffLimit=2),
    )
    fine = [
        _create(
            custom_api,
            namespace,
            detection_task(f"fine-{i}", text=f"a fine text {i}", detector="poison"),
        )
        for i in range(3)
    ]
    # Then the poisoned task fails with BackoffLimitExceeded after 1 + 2 attempts
    cr = wait_for_phase(custom_api, namespace, "poisoned", {"Failed", "Succeeded"}, timeout=60)
    assert cr["status"]["phase"] == "Failed"
    failed = next(c for c in cr["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert db.get_task(_uid(poison)).attempts == 3
    # And the other tasks on the same worker are unaffected
    for task in fine:
        done = wait_for_phase(
            custom_api, namespace, task["metadata"]["name"], {"Succeeded"}, timeout=60
        )
        assert done["status"]["result"]["label"] in {"ai", "human"}
    # And the poisoned message is not redelivered forever: the attempt count stays put
    time.sleep(3)
    assert db.get_task(_uid(poison)).attempts == 3


@pytest.mark.usefixtures("operator")
def test_worker_killed_midbatch_finishes_exactly_once(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    db: Database,
    faulty_worker: Any,
) -> None:
    # Given a slow worker scoring a 40-text batch (10 messages of 4 items, batches of 8)
    victim = faulty_worker("victim", "slow", AIDETECT_TEST_SLOW_SECONDS="1.5")
    run = uuid.uuid4().hex[:8]  # texts never seen before: no result-cache hits
    texts = [f"Item {i} of a batch that outlives its first worker ({run})." for i in range(40)]
    created = _create(
        custom_api, namespace, detection_task("survivor", texts=texts, detector="slow")
    )
    task_id = _uid(created)

    def some_results() -> bool:
        row = db.find_task(task_id)
        return row is not None and row.progress.done >= 8

    eventually(some_results, timeout=60, what="some results")
    # When the worker is killed with SIGKILL in the middle of the batch
    victim.kill()
    done_at_kill = db.get_task(task_id).progress.done
    assert 0 < done_at_kill < 40
    # Then a new worker finishes it
    faulty_worker("rescuer", "slow")
    cr = wait_for_phase(custom_api, namespace, "survivor", {"Succeeded", "Failed"}, timeout=120)
    assert cr["status"]["phase"] == "Succeeded", cr["status"]
    # With exactly one result per item, nothing lost, and one Succeeded transition
    row = db.get_task(task_id)
    assert row.progress.done == 40
    assert [i.index for i in db.items(task_id)] == list(range(40))
    assert [t.to_phase for t in db.transitions(task_id)].count(Phase.SUCCEEDED) == 1
    assert row.worker == "rescuer"


@pytest.mark.usefixtures("worker")
def test_operator_restart_with_50_tasks_in_flight_all_succeed(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    db: Database,
    operator: ManagedProcess,
) -> None:
    # Given 50 tasks created while the operator runs
    names = [f"flight-{i}" for i in range(50)]
    for name in names[:25]:
        _create(custom_api, namespace, detection_task(name, text=f"in flight: {name}"))
    # When the operator stops (SIGTERM) with work in flight, more tasks arrive, and it starts again
    assert operator.stop() == 0
    for name in names[25:]:
        _create(custom_api, namespace, detection_task(name, text=f"in flight: {name}"))
    time.sleep(2)
    operator.start()
    operator.wait_for_log("Activity 'startup' succeeded")
    # Then all 50 end Succeeded, on the CR and in the database
    for name in names:
        cr = wait_for_phase(custom_api, namespace, name, {"Succeeded", "Failed"}, timeout=120)
        assert cr["status"]["phase"] == "Succeeded", (name, cr["status"])
        assert db.get_task(_uid(cr)).phase == Phase.SUCCEEDED


@pytest.mark.usefixtures("worker")
def test_rest_predict_then_status_gives_a_result_visible_to_kubectl(
    namespace: str, system_env: dict[str, str]
) -> None:
    # Given the REST facade over the running system
    settings = Settings(
        db=DatabaseSettings(url=system_env["AIDETECT_DATABASE_URL"]),
        amqp=AmqpSettings(url=system_env["AIDETECT_AMQP_URL"]),
        kube=KubeSettings(kubeconfig=system_env["KUBECONFIG"]),
        api=ApiSettings(token=SecretStr("pipeline-token"), namespace=namespace),
    )
    auth = {"Authorization": "Bearer pipeline-token"}
    with TestClient(create_app(settings)) as api:
        # When a client posts a text
        text = "Posted through the REST facade. Second sentence, in the same post!"
        created = api.post("/predict", json={"text": text, "granularity": "sentence"}, headers=auth)
        assert created.status_code == 202, created.text
        task_id = created.json()["taskId"]

        # Then GET /status gives its result from the database
        def finished() -> dict[str, Any] | None:
            got = api.get(f"/status/{task_id}", headers=auth)
            return (
                got.json()
                if got.status_code == 200 and got.json()["phase"] == "Succeeded"
                else None
            )

        status = eventually(finished, timeout=60, what="the task to succeed through the API")
    assert status["result"]["label"] in {"ai", "human"}
    assert status["items"][0]["modelVersion"].startswith("tiny-classifier@sha256:")
    # with per-sentence scores and character offsets, through the API as on the CR
    sentences = status["items"][0]["sentences"]
    assert [text[x["start"] : x["end"]] for x in sentences] == [
        "Posted through the REST facade.",
        "Second sentence, in the same post!",
    ]
    # And kubectl shows the same task (same uid), Succeeded once the operator has synced it
    name = created.json()["name"]

    def shown_by_kubectl() -> list[str] | None:
        jsonpath = "jsonpath={.metadata.uid} {.status.phase}"
        row = kubectl("get", "dt", name, "-n", namespace, "-o", jsonpath).stdout.split()
        return row if row == [task_id, "Succeeded"] else None

    eventually(shown_by_kubectl, timeout=10, what="kubectl to show the task Succeeded")


def test_worker_sigterm_finishes_the_batch_in_flight_and_exits_0(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    db: Database,
    faulty_worker: Any,
    operator: ManagedProcess,
) -> None:
    # Given a slow worker in the middle of a 24-text batch
    assert operator.running
    draining = faulty_worker("draining", "slow", AIDETECT_TEST_SLOW_SECONDS="2")
    run = uuid.uuid4().hex[:8]  # texts never seen before: no result-cache hits
    texts = [f"Drained item {i} ({run})." for i in range(24)]
    task_id = _uid(
        _create(custom_api, namespace, detection_task("drained", texts=texts, detector="slow"))
    )

    def started() -> bool:
        row = db.find_task(task_id)
        return row is not None and row.phase == Phase.RUNNING

    eventually(started, timeout=30, what="the task to start")
    done_before = db.get_task(task_id).progress.done
    # When it gets SIGTERM
    assert draining.stop(timeout=60) == 0, draining.log_tail()
    # Then the batch in flight was finished and committed before it exited
    assert db.get_task(task_id).progress.done > done_before
    assert "drained; exiting" in draining.log_tail()
    # And what it had not started goes to the next worker, which finishes the task
    faulty_worker("after-drain", "slow")
    cr = wait_for_phase(custom_api, namespace, "drained", {"Succeeded", "Failed"}, timeout=90)
    assert cr["status"]["phase"] == "Succeeded"
    assert [i.index for i in db.items(task_id)] == list(range(24))


def test_a_long_task_shows_its_progress_but_not_on_every_worker_batch(
    services: LocalServices,
    namespace: str,
    custom_api: client.CustomObjectsApi,
    faulty_worker: Any,
    operator: ManagedProcess,
) -> None:
    # Given a worker that takes 0.5 s a batch of 8, and a task of 80 texts (10 batches)
    assert operator.running
    faulty_worker(
        "progress-worker", "slow", AIDETECT_TEST_SLOW_SECONDS="0.5", AIDETECT_WORKER_MAX_BATCH="8"
    )
    run = uuid.uuid4().hex[:8]  # texts never seen before: no result-cache hits
    texts = [f"Progress item {i} ({run})." for i in range(80)]
    _create(custom_api, namespace, detection_task("progress", texts=texts, detector="slow"))
    # When it runs, watched from outside
    seen: set[int] = set()
    started = time.monotonic()
    while time.monotonic() - started < 90:
        cr = custom_api.get_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, "progress"
        )
        status = cr.get("status") or {}
        if status.get("phase") in {"Succeeded", "Failed"}:
            break
        if status.get("phase") == "Running":
            seen.add(status["progress"]["done"])
        time.sleep(0.1)
    took = time.monotonic() - started
    # Then it succeeds, its CR showed progress on the way
    assert status["phase"] == "Succeeded", status
    assert seen - {0, 80}, f"no progress shown in {took:.1f}s: {seen}"
    # And its status was patched at most once per progress interval (2 s), not per batch
    time.sleep(2.5)  # the audit log is written in batches of up to 1 s
    writes = task_writes(session_audit_log(services), {"progress"})["progress"]
    patches = writes.count("patch status")
    assert patches <= 2 + took / 2.0, f"{patches} status patches in {took:.1f}s: {writes}"


@pytest.mark.usefixtures("worker")
def test_the_same_text_is_scored_once_then_served_from_the_cache(
    namespace: str, custom_api: client.CustomObjectsApi, db: Database
) -> None:
    text = f"Scored once, then cached ({uuid.uuid4().hex})."
    # Given a text scored once
    first = _create(custom_api, namespace, detection_task("cache-first", text=text))
    wait_for_phase(custom_api, namespace, "cache-first", {"Succeeded"}, timeout=60)
    # When another task asks for the same text with the same profile and model
    second = _create(custom_api, namespace, detection_task("cache-second", text=text))
    cr = wait_for_phase(custom_api, namespace, "cache-second", {"Succeeded"}, timeout=60)
    # Then its result comes from the cache, marked so, with the same score
    (one,) = db.items(_uid(first))
    (two,) = db.items(_uid(second))
    assert isinstance(one, ItemResult) and isinstance(two, ItemResult)
    assert (one.cached, two.cached) == (False, True)
    assert two.score == one.score
    assert cr["status"]["result"]["cached"] is True
    # And a sentence-granularity request is a different entry: scored, not served from cache
    third = _create(
        custom_api, namespace, detection_task("cache-sentences", text=text, granularity="sentence")
    )
    wait_for_phase(custom_api, namespace, "cache-sentences", {"Succeeded"}, timeout=60)
    (three,) = db.items(_uid(third))
    assert isinstance(three, ItemResult) and three.cached is False
    assert three.sentences


@pytest.mark.usefixtures("operator")
def test_high_priority_tasks_overtake_a_normal_backlog(
    namespace: str, custom_api: client.CustomObjectsApi, db: Database, faulty_worker: Any
) -> None:
    # Given a backlog of 8 normal tasks and then 2 high ones, queued while no worker runs
    run = uuid.uuid4().hex[:8]
    ids: dict[str, UUID] = {}
    for i in range(8):
        body = detection_task(f"normal-{i}", text=f"normal {i} ({run})", detector="priority")
        ids[f"normal-{i}"] = _uid(_create(custom_api, namespace, body))
    for i in range(2):
        body = detection_task(
            f"high-{i}", text=f"high {i} ({run})", detector="priority", priority=9
        )
        ids[f"high-{i}"] = _uid(_create(custom_api, namespace, body))

    def all_queued() -> bool:
        rows = [db.find_task(t) for t in ids.values()]
        return all(r is not None and r.phase == Phase.QUEUED for r in rows)

    eventually(all_queued, timeout=30, what="all ten tasks to be queued")
    # When a worker starts with batches of 4 (prefetch 12 per queue: the whole normal backlog
    # arrives before the high tasks can be told apart by arrival order)
    faulty_worker(
        "prioritizer", "priority", AIDETECT_WORKER_MAX_BATCH="4", AIDETECT_TEST_SLOW_SECONDS="0.5"
    )
    for name in ids:
        wait_for_phase(custom_api, namespace, name, {"Succeeded"}, timeout=60)
    # Then the high tasks are in the first batch or the second: at least 4 normal tasks finish
    # after them. In arrival order (FIFO) both high tasks would come last, after all 8.
    finished = {}
    for name, task_id in ids.items():
        at = db.get_task(task_id).finished_at
        assert at is not None
        finished[name] = at
    last_high = max(finished[f"high-{i}"] for i in range(2))
    normal_after = sum(1 for i in range(8) if finished[f"normal-{i}"] > last_high)
    assert normal_after >= 4, finished
