"""One contract for the task store, run against Postgres (`Database`) and `MemoryDatabase`.

Whatever a component may rely on is asserted here, so that the in-memory store that the unit
tests use cannot drift from the real one: the state machine, versions that drive the CR sync,
results written once, keyset cursors, the resync's queries and the return types.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from aidetect.core import conditions
from aidetect.core.db import (
    AttemptStart,
    Begun,
    CachedScore,
    CacheWrite,
    Database,
    ItemsWanted,
    TaskPage,
    TaskResults,
    WriteOutcome,
)
from aidetect.core.errors import InvalidInput, QueueUnavailable, TaskNotFound
from aidetect.core.memory import MemoryDatabase
from aidetect.core.models import ItemFailure, ItemResult, TaskRecord, TaskSpec, WorkerHeartbeat
from aidetect.core.states import Phase

Store = Database | MemoryDatabase
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def add(
    store: Store,
    namespace: str,
    *,
    texts: tuple[str, ...] = ("a text",),
    created_at: datetime = T0,
    detector: str = "roberta",
    **spec: object,
) -> UUID:
    task_id = uuid.uuid4()
    fields = {"texts": list(texts)} if len(texts) > 1 else {"text": texts[0]}
    assert store.insert_task(
        task_id=task_id,
        namespace=namespace,
        name=f"t-{task_id.hex[:8]}",
        spec=TaskSpec.model_validate({**fields, **spec}),
        detector=detector,
        texts=texts,
        created_at=created_at,
    )
    return task_id


def result(index: int, score: float = 0.9) -> ItemResult:
    label = "ai" if score >= 0.5 else "human"
    return ItemResult(index=index, score=score, label=label, threshold=0.5, model_version="m@1")


def failure(index: int, message: str = "too short to score") -> ItemFailure:
    return ItemFailure(
        index=index, reason=conditions.REASON_INVALID_INPUT, message=message, model_version="m@1"
    )


def run_to(store: Store, task_id: UUID, phase: Phase) -> None:
    path = {
        Phase.QUEUED: [Phase.QUEUED],
        Phase.RUNNING: [Phase.QUEUED, Phase.RUNNING],
        Phase.SUCCEEDED: [Phase.QUEUED, Phase.RUNNING, Phase.SUCCEEDED],
        Phase.FAILED: [Phase.FAILED],
        Phase.CANCELLED: [Phase.CANCELLED],
    }[phase]
    for step in path:
        assert store.transition(task_id, step, "Test")


# --- recording and reading -------------------------------------------------------------------


def test_a_task_is_recorded_once_as_pending(store: Store, namespace: str) -> None:
    task_id = add(store, namespace, texts=("one", "two"), priority=7, backoff_limit=2)
    again = store.insert_task(
        task_id=task_id,
        namespace=namespace,
        name="other",
        spec=TaskSpec(text="x"),
        detector="roberta",
        texts=["x"],
        created_at=T0,
    )
    task = store.get_task(task_id)
    assert again is False
    assert isinstance(task, TaskRecord)
    assert (task.phase, task.reason, task.priority, task.backoff_limit) == (
        Phase.PENDING,
        conditions.REASON_RECORDED,
        7,
        2,
    )
    assert (task.progress.total, task.progress.done, task.attempts) == (2, 0, 0)
    assert (task.version, task.cr_version, task.cr_deleted_at) == (1, 0, None)
    assert store.texts(task_id) == ["one", "two"]
    assert store.unscored_indices(task_id) == [0, 1]
    assert [(t.from_phase, t.to_phase, t.reason) for t in store.transitions(task_id)] == [
        (None, Phase.PENDING, conditions.REASON_RECORDED)
    ]


def test_an_unknown_task_is_not_found(store: Store) -> None:
    missing = uuid.uuid4()
    assert store.find_task(missing) is None
    with pytest.raises(TaskNotFound):
        store.get_task(missing)
    with pytest.raises(TaskNotFound):
        store.transition(missing, Phase.QUEUED, "Test")
    with pytest.raises(TaskNotFound):
        store.record_results(missing, [result(0)], "w")
    assert store.items(missing) == [] and store.texts(missing) == []
    assert store.transitions(missing) == []


# --- the state machine -----------------------------------------------------------------------


def test_transitions_follow_the_state_machine_and_bump_the_version(
    store: Store, namespace: str
) -> None:
    task_id = add(store, namespace)
    assert store.transition(task_id, Phase.SUCCEEDED, "Skip") is False  # Pending -/-> Succeeded
    assert store.get_task(task_id).version == 1
    assert store.transition(task_id, Phase.QUEUED, conditions.REASON_PUBLISHED, "sent")
    queued = store.get_task(task_id)
    assert (queued.phase, queued.reason, queued.message, queued.version) == (
        Phase.QUEUED,
        conditions.REASON_PUBLISHED,
        "sent",
        2,
    )
    assert queued.queued_at is not None and queued.started_at is None
    assert store.transition(task_id, Phase.CANCELLED, conditions.REASON_CANCELLED)
    ended = store.get_task(task_id)
    assert ended.finished_at is not None
    assert store.transition(task_id, Phase.QUEUED, "Again") is False  # a terminal phase stays
    assert [t.to_phase for t in store.transitions(task_id)] == [
        Phase.PENDING,
        Phase.QUEUED,
        Phase.CANCELLED,
    ]


def test_only_from_restricts_the_phases_a_transition_starts_from(
    store: Store, namespace: str
) -> None:
    task_id = add(store, namespace)
    run_to(store, task_id, Phase.RUNNING)
    # Running -> Queued is allowed (a requeue), but not when the caller expects Pending
    assert store.transition(task_id, Phase.QUEUED, "Late", only_from={Phase.PENDING}) is False
    assert store.get_task(task_id).phase == Phase.RUNNING
    assert store.transition(task_id, Phase.QUEUED, "Requeued", only_from={Phase.RUNNING})
    requeued = store.get_task(task_id)
    assert requeued.phase == Phase.QUEUED and requeued.queued_at is not None


def test_an_attempt_is_noted_once_and_its_message_kept(store: Store, namespace: str) -> None:
    task_id = add(store, namespace)
    store.note_attempt(task_id, 2)
    version = store.get_task(task_id).version
    store.note_attempt(task_id, 1)  # an older attempt changes nothing
    assert (store.get_task(task_id).attempts, store.get_task(task_id).version) == (2, version)
    store.note_attempt(task_id, 2, message="boom")
    noted = store.get_task(task_id)
    assert (noted.attempts, noted.message, noted.version) == (2, "boom", version + 1)


# --- results ---------------------------------------------------------------------------------


def test_results_are_written_once_and_the_last_one_finishes_the_task(
    store: Store, namespace: str
) -> None:
    task_id = add(store, namespace, texts=("one", "two"))
    run_to(store, task_id, Phase.RUNNING)
    first = store.record_results(task_id, [result(0, 0.8)], "w1")
    again = store.record_results(task_id, [result(0, 0.1)], "w2")
    assert (first, again) == (WriteOutcome(1, False), WriteOutcome(0, False))
    assert store.get_task(task_id).progress.done == 1
    last = store.record_results(task_id, [result(1, 0.6)], "w1")
    task = store.get_task(task_id)
    assert last == WriteOutcome(1, True)
    assert task.phase == Phase.SUCCEEDED and task.reason == conditions.REASON_COMPLETED
    assert task.result is not None and task.result.score == pytest.approx(0.7)
    assert store.items(task_id) == [result(0, 0.8), result(1, 0.6)]
    assert store.unscored_indices(task_id) == []


def test_a_failed_item_is_written_once_counted_and_listed_with_its_error(
    store: Store, namespace: str
) -> None:
    # Given a task of three texts, the second of which cannot be scored
    task_id = add(store, namespace, texts=("one", "two", "three"))
    run_to(store, task_id, Phase.RUNNING)
    first = store.record_results(task_id, [result(0, 0.8), failure(1)], "w1")
    again = store.record_results(task_id, [failure(1, "other"), result(1, 0.1)], "w2")
    assert (first, again) == (WriteOutcome(2, False), WriteOutcome(0, False))
    progress = store.get_task(task_id).progress
    assert (progress.done, progress.failed, progress.total) == (1, 1, 3)
    assert store.unscored_indices(task_id) == [2]
    # When the last item is scored, then the task succeeds, summarising the scored items only
    assert store.record_results(task_id, [result(2, 0.6)], "w1") == WriteOutcome(1, True)
    task = store.get_task(task_id)
    assert (task.phase, task.reason) == (Phase.SUCCEEDED, conditions.REASON_COMPLETED)
    assert task.message == "1 of 3 item(s) could not be scored"
    assert task.result is not None and task.result.score == pytest.approx(0.7)
    assert task.result.counts == {"ai": 2, "human": 0}
    assert store.items(task_id) == [result(0, 0.8), failure(1), result(2, 0.6)]


def test_a_task_none_of_whose_items_scored_fails_with_invalid_input(
    store: Store, namespace: str
) -> None:
    task_id = add(store, namespace, texts=("a", "x"))
    run_to(store, task_id, Phase.RUNNING)
    outcome = store.record_results(task_id, [failure(1, "one token"), failure(0)], "w")
    task = store.get_task(task_id)
    assert outcome == WriteOutcome(2, True)
    assert (task.phase, task.reason) == (Phase.FAILED, conditions.REASON_INVALID_INPUT)
    assert task.message == "none of the 2 item(s) could be scored; item 0: too short to score"
    assert (task.progress.done, task.progress.failed) == (0, 2) and task.result is None
    assert store.items(task_id) == [failure(0), failure(1, "one token")]


def test_a_batch_commit_writes_failed_items_and_never_offers_them_again(
    store: Store, namespace: str
) -> None:
    # Given two tasks committed in one batch, one item of the first unscorable
    mixed = add(store, namespace, texts=("one", "two"))
    other = add(store, namespace, texts=("one", "two"))
    for task_id in (mixed, other):
        run_to(store, task_id, Phase.RUNNING)
    outcomes = store.commit_batch(
        [TaskResults(mixed, [failure(0)]), TaskResults(other, [result(0), result(1)])], "w"
    )
    # Then the failure counts, the other task is unaffected, and only item 1 is left to score
    assert outcomes == [WriteOutcome(1, False), WriteOutcome(2, True)]
    assert store.get_task(mixed).progress.failed == 1
    assert store.get_task(other).phase == Phase.SUCCEEDED
    snapshot = store.read_batch([ItemsWanted(mixed, [0, 1])])
    assert [i.index for i in snapshot.items_of(ItemsWanted(mixed, [0, 1]))] == [1]


def test_results_for_an_ended_task_are_discarded(store: Store, namespace: str) -> None:
    task_id = add(store, namespace)
    run_to(store, task_id, Phase.CANCELLED)
    outcome = store.record_results(task_id, [result(0)], "w")
    assert outcome == WriteOutcome(0, False, skipped_phase=Phase.CANCELLED)
    assert store.items(task_id) == []


def test_a_queued_task_steps_through_running_when_its_last_result_arrives(
    store: Store, namespace: str
) -> None:
    task_id = add(store, namespace)
    run_to(store, task_id, Phase.QUEUED)  # e.g. requeued by the resync meanwhile
    assert store.record_results(task_id, [result(0)], "w").finished
    assert [t.to_phase for t in store.transitions(task_id)][-2:] == [
        Phase.RUNNING,
        Phase.SUCCEEDED,
    ]


# --- a worker's batches ----------------------------------------------------------------------


def test_a_batch_reads_its_tasks_and_only_the_unscored_items_of_open_ones(
    store: Store, namespace: str
) -> None:
    open_ = add(store, namespace, texts=("a", "b", "c"))
    ended = add(store, namespace)
    run_to(store, open_, Phase.RUNNING)
    store.record_results(open_, [result(1)], "w")
    run_to(store, ended, Phase.CANCELLED)
    missing = uuid.uuid4()
    snapshot = store.read_batch(
        [ItemsWanted(open_, [2, 0, 1]), ItemsWanted(ended, [0]), ItemsWanted(missing, [0])]
    )
    assert set(snapshot.tasks) == {open_, ended}
    assert [(i.index, i.text) for i in snapshot.items_of(ItemsWanted(open_, [2, 0, 1]))] == [
        (0, "a"),
        (2, "c"),
    ]
    assert snapshot.items_of(ItemsWanted(ended, [0])) == []


def test_begin_attempts_starts_queued_tasks_once_and_leaves_pending_ones(
    store: Store, namespace: str
) -> None:
    pending, queued, running = add(store, namespace), add(store, namespace), add(store, namespace)
    run_to(store, queued, Phase.QUEUED)
    run_to(store, running, Phase.RUNNING)
    begun = store.begin_attempts(
        [
            AttemptStart(pending, 1),
            AttemptStart(queued, 1),
            AttemptStart(running, 2),
            AttemptStart(uuid.uuid4(), 1),
        ],
        "w1",
    )
    assert (begun.running, begun.unqueued) == (frozenset({queued}), frozenset({pending}))
    assert store.get_task(pending).phase == Phase.PENDING  # only the operator moves it on
    assert store.get_task(pending).attempts == 0
    assert {store.get_task(t).phase for t in (queued, running)} == {Phase.RUNNING}
    assert store.get_task(running).attempts == 2
    assert store.begin_attempts([AttemptStart(queued, 1)], "w2").running == frozenset()
    assert store.begin_attempts([], "w") == Begun()


def test_transition_after_runs_the_action_only_for_an_allowed_move(
    store: Store, namespace: str
) -> None:
    task_id = add(store, namespace)
    ran: list[Phase] = []

    def action() -> None:
        ran.append(store.get_task(task_id).phase)

    assert store.transition_after(
        action, task_id, Phase.QUEUED, "Published", only_from={Phase.PENDING}
    )
    assert ran == [Phase.PENDING] and store.get_task(task_id).phase == Phase.QUEUED
    assert not store.transition_after(
        action, task_id, Phase.QUEUED, "Again", only_from={Phase.PENDING}
    )
    assert ran == [Phase.PENDING]  # not run again


def test_a_failing_action_moves_nothing(store: Store, namespace: str) -> None:
    task_id = add(store, namespace)

    def fail() -> None:
        raise QueueUnavailable("publish not confirmed")

    with pytest.raises(QueueUnavailable):
        store.transition_after(fail, task_id, Phase.QUEUED, "Published")
    task = store.get_task(task_id)
    assert (task.phase, task.version) == (Phase.PENDING, 1)
    assert [t.to_phase for t in store.transitions(task_id)] == [Phase.PENDING]


def test_commit_batch_writes_every_task_and_the_cache_in_order(
    store: Store, namespace: str
) -> None:
    one, two = add(store, namespace), add(store, namespace, texts=("x", "y"))
    run_to(store, one, Phase.RUNNING)
    run_to(store, two, Phase.RUNNING)
    sha = uuid.uuid4().hex
    cache = CacheWrite("roberta", "m@1", [(sha, "document", CachedScore(0.9, 1, None))])
    outcomes = store.commit_batch(
        [TaskResults(two, [result(0)]), TaskResults(one, [result(0)])], "w", cache
    )
    assert outcomes == [WriteOutcome(1, False), WriteOutcome(1, True)]
    found = store.cached_scores(
        detector="roberta", model_version="m@1", keys=[(sha, "document"), (sha, "sentence")]
    )
    assert found == {(sha, "document"): CachedScore(0.9, 1, None)}


def test_the_first_cached_score_wins(store: Store) -> None:
    sha = uuid.uuid4().hex
    sentences = [{"start": 0, "end": 3, "score": 0.4}]
    store.store_scores(
        detector="d", model_version="v", entries=[(sha, "sentence", CachedScore(0.4, 2, sentences))]
    )
    store.store_scores(
        detector="d", model_version="v", entries=[(sha, "sentence", CachedScore(0.9, 1, None))]
    )
    store.store_scores(detector="d", model_version="v", entries=[])
    assert store.cached_scores(detector="d", model_version="v", keys=[(sha, "sentence")]) == {
        (sha, "sentence"): CachedScore(0.4, 2, sentences)
    }
    assert store.cached_scores(detector="d", model_version="other", keys=[(sha, "sentence")]) == {}
    assert store.cached_scores(detector="d", model_version="v", keys=[]) == {}


# --- listing ---------------------------------------------------------------------------------


def test_lists_are_newest_first_in_keyset_pages(store: Store, namespace: str) -> None:
    ids = [add(store, namespace, created_at=T0 + timedelta(seconds=i)) for i in range(5)]
    first = store.list_tasks(namespaces=[namespace], limit=2)
    assert isinstance(first, TaskPage)
    assert [t.id for t in first.tasks] == [ids[4], ids[3]] and first.next_cursor
    # A task created between two pages does not shift the next page (a keyset, not an offset)
    add(store, namespace, created_at=T0 + timedelta(seconds=10))
    second = store.list_tasks(namespaces=[namespace], limit=2, cursor=first.next_cursor)
    third = store.list_tasks(namespaces=[namespace], limit=2, cursor=second.next_cursor)
    assert [t.id for t in second.tasks] == [ids[2], ids[1]]
    assert [t.id for t in third.tasks] == [ids[0]] and third.next_cursor is None


def test_lists_filter_by_phase_detector_and_namespace(store: Store, namespace: str) -> None:
    other_ns = f"{namespace}-b"
    queued = add(store, namespace, detector="binoculars")
    add(store, namespace)
    elsewhere = add(store, other_ns, detector="binoculars")
    run_to(store, queued, Phase.QUEUED)
    both = [namespace, other_ns]

    def ids(page: TaskPage) -> set[UUID]:
        return {t.id for t in page.tasks}

    assert ids(store.list_tasks(namespaces=both, phase=Phase.QUEUED)) == {queued}
    assert ids(store.list_tasks(namespaces=both, detector="binoculars")) == {queued, elsewhere}
    assert ids(store.list_tasks(namespaces=[other_ns])) == {elsewhere}
    assert store.list_tasks(namespaces=[]).tasks == []


def test_a_cursor_that_was_not_given_out_is_invalid_input(store: Store) -> None:
    with pytest.raises(InvalidInput):
        store.list_tasks(cursor="not-a-cursor")


# --- the operator's bookkeeping --------------------------------------------------------------


def test_a_change_is_unsynced_until_marked(store: Store, namespace: str) -> None:
    task_id = add(store, namespace)
    assert [t.id for t in store.unsynced([namespace])] == [task_id]  # version 1 > cr_version 0
    store.mark_synced(task_id, 1)
    assert store.unsynced([namespace]) == []
    store.transition(task_id, Phase.QUEUED, "Test")
    assert [t.version for t in store.unsynced([namespace])] == [2]
    store.mark_synced(task_id, 2)
    store.mark_synced(task_id, 1)  # an older sync never lowers it
    assert store.get_task(task_id).cr_version == 2 and store.unsynced([namespace]) == []


def test_a_deleted_cr_leaves_the_sync_ttl_and_live_lists(store: Store, namespace: str) -> None:
    task_id = add(store, namespace, ttl_seconds_after_finished=0)
    run_to(store, task_id, Phase.FAILED)
    time.sleep(0.02)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert [t.id for t in store.past_ttl([namespace])] == [task_id]
    assert [t.id for t in store.live_tasks(recorded_before=later, namespaces=[namespace])] == [
        task_id
    ]
    store.mark_cr_deleted(task_id)
    deleted_at = store.get_task(task_id).cr_deleted_at
    store.mark_cr_deleted(task_id)  # the first mark stays
    assert deleted_at is not None and store.get_task(task_id).cr_deleted_at == deleted_at
    assert store.past_ttl([namespace]) == []
    assert store.unsynced([namespace]) == []
    assert store.live_tasks(recorded_before=later, namespaces=[namespace]) == []


def test_past_ttl_lists_finished_tasks_the_longest_past_first(store: Store, namespace: str) -> None:
    first, second = (add(store, namespace, ttl_seconds_after_finished=0) for _ in range(2))
    kept = add(store, namespace, ttl_seconds_after_finished=3600)
    cancelled = add(store, namespace, ttl_seconds_after_finished=0)
    open_ = add(store, namespace, ttl_seconds_after_finished=0)
    run_to(store, first, Phase.FAILED)
    time.sleep(0.01)
    for task_id in (second, kept):
        run_to(store, task_id, Phase.FAILED)
    run_to(store, cancelled, Phase.CANCELLED)  # its CR is deleted by the user already
    time.sleep(0.02)
    assert [t.id for t in store.past_ttl([namespace])] == [first, second]
    assert open_ not in {t.id for t in store.past_ttl([namespace])}


def test_past_deadline_lists_open_tasks_whose_deadline_passed(store: Store, namespace: str) -> None:
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    late = add(store, namespace, created_at=hour_ago, active_deadline_seconds=60)
    ended = add(store, namespace, created_at=hour_ago, active_deadline_seconds=60)
    add(store, namespace, created_at=hour_ago, active_deadline_seconds=7200)
    add(store, namespace, created_at=hour_ago)
    run_to(store, ended, Phase.CANCELLED)
    assert [t.id for t in store.past_deadline([namespace])] == [late]


def test_stuck_lists_open_tasks_without_progress_and_touch_restarts_the_clock(
    store: Store, namespace: str
) -> None:
    stuck, ended = add(store, namespace), add(store, namespace)
    run_to(store, stuck, Phase.QUEUED)
    run_to(store, ended, Phase.CANCELLED)
    time.sleep(0.3)
    assert [t.id for t in store.stuck(0.2, [namespace])] == [stuck]
    store.touch(stuck)
    assert store.stuck(0.2, [namespace]) == []


def test_the_resync_queries_stay_in_their_namespaces(store: Store, namespace: str) -> None:
    other = f"{namespace}-b"
    mine = add(store, namespace)
    add(store, other)
    assert [t.id for t in store.unsynced([namespace])] == [mine]
    assert {t.id for t in store.unsynced([namespace, other])} >= {mine}


# --- workers and counts ----------------------------------------------------------------------


def test_a_heartbeat_keeps_the_last_batch_figures_until_new_ones_come(store: Store) -> None:
    worker = f"w-{uuid.uuid4().hex[:8]}"
    store.heartbeat(
        worker=worker,
        node="n1",
        detectors=["roberta"],
        model_version="m@1",
        device="cpu",
        last_batch_seconds=0.5,
        last_batch_size=8,
    )
    store.heartbeat(
        worker=worker, node="n2", detectors=["roberta"], model_version="m@2", device="cpu"
    )
    beat = next(w for w in store.workers() if w.worker == worker)
    assert isinstance(beat, WorkerHeartbeat)
    assert (beat.node, beat.model_version, beat.last_batch_seconds, beat.last_batch_size) == (
        "n2",
        "m@2",
        0.5,
        8,
    )
    assert beat.queue_depth is None and beat.last_seen >= beat.started_at


def test_phase_counts_count_every_task(store: Store, namespace: str) -> None:
    before = store.phase_counts()
    queued = add(store, namespace)
    add(store, namespace)
    run_to(store, queued, Phase.QUEUED)
    after = store.phase_counts()
    assert after.get("Pending", 0) - before.get("Pending", 0) == 1
    assert after.get("Queued", 0) - before.get("Queued", 0) == 1


def test_result_rows_page_through_the_written_items_as_json_lines(
    store: Store, namespace: str
) -> None:
    # Given a task of four texts, three written (one of them failed)
    task_id = add(store, namespace, texts=("one", "two", "three", "four"))
    run_to(store, task_id, Phase.RUNNING)
    store.record_results(task_id, [result(0, 0.8), failure(1), result(3, 0.2)], "w1")
    # Then its result rows are the written items in order, a page at a time
    first = store.result_rows(task_id, limit=2)
    rest = store.result_rows(task_id, after=first[-1].index, limit=2)
    assert [r.index for r in first] == [0, 1] and [r.index for r in rest] == [3]
    assert store.result_rows(task_id, after=3) == []
    lines = [json.loads(r.line()) for r in first + rest]
    assert [line["id"] for line in lines] == ["0", "1", "3"]  # no source ids: the index
    assert lines[0]["score"] == pytest.approx(0.8) and lines[0]["modelVersion"]
    assert lines[1]["error"]["reason"] == "InvalidInput" and "score" not in lines[1]
    assert store.result_rows(uuid.uuid4()) == []
