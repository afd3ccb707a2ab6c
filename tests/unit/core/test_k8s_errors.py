"""core.k8s lets no kubernetes or urllib3 exception out: each becomes one of core's errors.

The helpers run unchanged over a real `ApiClient`; `FakeApiServer` answers in place of urllib3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from aidetect.core import k8s
from aidetect.core.errors import (
    FieldCause,
    KubeConfigInvalid,
    KubeRefused,
    KubeUnavailable,
    PermanentError,
)
from aidetect.core.models import TaskSpec
from tests.unit.api.fakes import FakeApiServer


def manifest() -> dict[str, Any]:
    return k8s.task_manifest(TaskSpec(text="x"), generate_name="unit-", source="unit")


def create(apiserver: FakeApiServer, namespace: str = "default") -> k8s.TaskRef:
    return k8s.create_task(apiserver.api_client(), namespace, manifest())


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_5xx_or_429_is_transient(status: int) -> None:
    apiserver = FakeApiServer(reject_create=(status, "try later"))

    with pytest.raises(KubeUnavailable, match=f"create DetectionTask in default: {status}"):
        create(apiserver)


@pytest.mark.parametrize("status", [None, 0])
def test_no_status_is_transient(status: int | None) -> None:
    # The client reports a TLS failure as status 0, with no HTTP answer behind it
    error = k8s.kube_error(ApiException(status=status, reason="SSL: wrong version"), "get x")

    assert isinstance(error, KubeUnavailable)


def test_no_answer_at_all_is_transient() -> None:
    apiserver = FakeApiServer(unreachable=True)

    with pytest.raises(KubeUnavailable, match="no answer from the kube-apiserver"):
        create(apiserver)


def test_a_4xx_is_a_permanent_refusal_with_the_apiservers_status() -> None:
    # Given an apiserver that refuses the CR with field causes, as a CEL rule or the schema does
    causes = [{"field": "spec.texts[0]", "message": "must not be blank", "reason": "FieldValue"}]
    apiserver = FakeApiServer(
        reject_create=(422, 'DetectionTask.aidetect.io "unit-x" is invalid: blank'),
        reject_details={"kind": "DetectionTask", "causes": causes},
    )

    with pytest.raises(KubeRefused) as refused:
        create(apiserver)

    error = refused.value
    assert isinstance(error, PermanentError)
    assert (error.status, error.reason, error.kind) == (422, "Invalid", "DetectionTask")
    assert error.message == 'DetectionTask.aidetect.io "unit-x" is invalid: blank'
    assert error.causes == (FieldCause(field="spec.texts[0]", message="must not be blank"),)
    assert str(error).startswith("create DetectionTask in default: 422 Invalid: ")


def test_a_refusal_without_a_status_document_keeps_the_status_line() -> None:
    error = k8s.kube_error(ApiException(status=403, reason="Forbidden"), "post event on ns/x")

    assert isinstance(error, KubeRefused)
    assert (error.status, error.reason, error.message) == (403, "Forbidden", "403 Forbidden")
    assert (error.kind, error.causes) == (None, ())


def test_a_missing_namespace_names_its_kind() -> None:
    apiserver = FakeApiServer(missing_namespaces={"nowhere"})

    with pytest.raises(KubeRefused) as refused:
        create(apiserver, "nowhere")

    assert (refused.value.status, refused.value.kind) == (404, "namespaces")


def test_deleting_a_cr_that_is_gone_is_false_not_an_error() -> None:
    apiserver = FakeApiServer()

    assert k8s.delete_task(apiserver.api_client(), "default", "unit-gone") is False


def test_deleting_another_uid_under_the_same_name_is_false_not_an_error() -> None:
    apiserver = FakeApiServer()
    ref = create(apiserver)

    assert k8s.delete_task(apiserver.api_client(), ref.namespace, ref.name, uid="other") is False
    assert k8s.delete_task(apiserver.api_client(), ref.namespace, ref.name, uid=ref.uid) is True


def test_a_delete_while_the_apiserver_is_down_is_transient() -> None:
    apiserver = FakeApiServer(down=True)

    with pytest.raises(KubeUnavailable, match="delete DetectionTask default/unit-x: 503"):
        k8s.delete_task(apiserver.api_client(), "default", "unit-x")


@pytest.mark.parametrize(("down", "unreachable"), [(True, False), (False, True)])
def test_ping_is_transient_when_the_apiserver_does_not_serve(down: bool, unreachable: bool) -> None:
    apiserver = FakeApiServer(down=down, unreachable=unreachable)

    with pytest.raises(KubeUnavailable, match="GET /version"):
        k8s.ping(apiserver.api_client(), timeout=1)


def test_ping_answers_when_the_apiserver_does() -> None:
    k8s.ping(FakeApiServer().api_client(), timeout=1)


def test_a_kubeconfig_that_is_not_there_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigInvalid, match="no usable kubeconfig"):
        k8s.api_client(str(tmp_path / "missing-kubeconfig"))
