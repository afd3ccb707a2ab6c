"""One contract for the Kubernetes seam (`core.k8s`), run against a real kube-apiserver and
against `FakeApiServer`, the one the unit tests put under the same client.

What the operator and the API rely on: creates with the finalizer on, status patches through
/status, JSON patches whose `test` guards a stale finalizer list, deletion held by a finalizer
until it is removed, uid preconditions, namespaced listings, textFrom sources, and a missing
object as False or None rather than an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client

from aidetect.core import k8s
from aidetect.core.errors import InvalidInput
from aidetect.core.models import TaskSpec, TextFrom
from aidetect.core.states import Phase
from aidetect.core.status import TaskStatus
from tests.utils.fake_apiserver import FakeApiServer
from tests.utils.namespaces import fresh_namespace, release_finalizers


@dataclass
class Kube:
    """A client of the apiserver under test, a namespace of the test's own, and a way to add a
    ConfigMap to it."""

    api: client.ApiClient
    namespace: str
    add_configmap: Callable[[str, dict[str, str]], None]


@pytest.fixture(params=["fake", pytest.param("apiserver", marks=pytest.mark.e2e)])
def kube(request: pytest.FixtureRequest) -> Iterator[Kube]:
    if request.param == "fake":
        fake = FakeApiServer()
        namespace = f"c-{uuid.uuid4().hex[:8]}"

        def add_fake(name: str, data: dict[str, str]) -> None:
            fake.configmaps[(namespace, name)] = data

        yield Kube(fake.api_client(), namespace, add_fake)
        return
    api = k8s.api_client(request.getfixturevalue("kubeconfig"))
    core = client.CoreV1Api(api)
    with fresh_namespace(core, "c") as namespace:

        def add_real(name: str, data: dict[str, str]) -> None:
            meta = client.V1ObjectMeta(name=name)
            core.create_namespaced_config_map(
                namespace, client.V1ConfigMap(metadata=meta, data=data)
            )

        yield Kube(api, namespace, add_real)
        release_finalizers(client.CustomObjectsApi(api), namespace)


def create(kube: Kube, text: str = "a text to score") -> k8s.TaskRef:
    manifest = k8s.task_manifest(TaskSpec(text=text), generate_name="c-", source="contract")
    return k8s.create_task(kube.api, kube.namespace, manifest)


def status(phase: Phase) -> TaskStatus:
    return TaskStatus(
        phase=phase,
        observed_generation=1,
        detector="roberta",
        attempts=0,
        progress={"total": 1, "done": 0, "failed": 0},
        conditions=[],
    )


def test_a_created_task_carries_the_finalizer_and_can_be_read(kube: Kube) -> None:
    ref = create(kube)
    obj = k8s.get_task(kube.api, kube.namespace, ref.name)
    assert obj is not None and obj["metadata"]["uid"] == ref.uid
    assert obj["metadata"]["finalizers"] == [k8s.FINALIZER]
    assert obj["spec"]["text"] == "a text to score"
    assert k8s.get_task(kube.api, kube.namespace, "no-such-task") is None


def test_the_status_is_patched_through_status(kube: Kube) -> None:
    ref = create(kube)
    assert k8s.patch_status(kube.api, ref, status(Phase.QUEUED))
    obj = k8s.get_task(kube.api, kube.namespace, ref.name)
    assert obj is not None and obj["status"]["phase"] == "Queued"
    gone = k8s.TaskRef(kube.namespace, "no-such-task", str(uuid.uuid4()))
    assert k8s.patch_status(kube.api, gone, status(Phase.QUEUED)) is False


def test_a_finalizer_patch_against_a_stale_list_changes_nothing(kube: Kube) -> None:
    ref = create(kube)
    assert k8s.remove_finalizer(kube.api, ref, []) is False  # seen as [], it is not
    assert k8s.add_finalizer(kube.api, ref, ["someone/else"]) is False
    obj = k8s.get_task(kube.api, kube.namespace, ref.name)
    assert obj is not None and obj["metadata"]["finalizers"] == [k8s.FINALIZER]
    other = k8s.TaskRef(kube.namespace, ref.name, str(uuid.uuid4()))  # same name, other uid
    assert k8s.remove_finalizer(kube.api, other, [k8s.FINALIZER]) is False


def test_the_finalizer_holds_a_deletion_until_it_is_removed(kube: Kube) -> None:
    ref = create(kube)
    assert k8s.delete_task(kube.api, kube.namespace, ref.name, uid=ref.uid)
    held = k8s.get_task(kube.api, kube.namespace, ref.name)
    assert held is not None and held["metadata"].get("deletionTimestamp")
    assert k8s.remove_finalizer(kube.api, ref, [k8s.FINALIZER])
    assert k8s.get_task(kube.api, kube.namespace, ref.name) is None
    assert k8s.delete_task(kube.api, kube.namespace, ref.name) is False  # already gone


def test_a_deletion_for_another_uid_is_refused(kube: Kube) -> None:
    ref = create(kube)
    assert k8s.delete_task(kube.api, kube.namespace, ref.name, uid=str(uuid.uuid4())) is False
    obj = k8s.get_task(kube.api, kube.namespace, ref.name)
    assert obj is not None and not obj["metadata"].get("deletionTimestamp")


def test_a_finalizer_is_added_to_a_cr_without_one(kube: Kube) -> None:
    ref = create(kube)
    assert k8s.remove_finalizer(kube.api, ref, [k8s.FINALIZER])
    assert k8s.add_finalizer(kube.api, ref, [])
    obj = k8s.get_task(kube.api, kube.namespace, ref.name)
    assert obj is not None and obj["metadata"]["finalizers"] == [k8s.FINALIZER]


def test_listing_a_namespace_returns_its_tasks(kube: Kube) -> None:
    refs = {create(kube).uid for _ in range(3)}
    listed = {o["metadata"]["uid"] for o in k8s.iter_tasks(kube.api, [kube.namespace], page_size=2)}
    assert listed == refs


def test_texts_come_from_a_configmap_line_by_line(kube: Kube) -> None:
    kube.add_configmap("essays", {"k": "first essay\n\n  second essay  \n", "empty": "\n"})
    lines = TextFrom.model_validate(
        {"configMapKeyRef": {"name": "essays", "key": "k"}, "format": "lines"}
    )
    assert k8s.read_text_source(kube.api, kube.namespace, lines) == [
        "first essay",
        "second essay",
    ]
    for ref, says in (
        ({"name": "missing", "key": "k"}, "not found"),
        ({"name": "essays", "key": "nope"}, "has no key"),
        ({"name": "essays", "key": "empty"}, "holds no text"),
    ):
        source = TextFrom.model_validate({"configMapKeyRef": ref})
        with pytest.raises(InvalidInput, match=says):
            k8s.read_text_source(kube.api, kube.namespace, source)


def test_an_event_can_be_posted_on_a_task(kube: Kube) -> None:
    ref = create(kube)
    k8s.post_event(kube.api, ref, type_="Warning", reason="ContractTest", message="x" * 2000)
