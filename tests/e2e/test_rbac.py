"""The operator's RBAC, checked with a real ServiceAccount token from the TokenRequest API.

Every check performs the real request: allowed ones must succeed, refused ones must get 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from aidetect.core import crd
from tests.utils.factories import detection_task
from tests.utils.tokens import service_account_client, status_of

SA_NAMESPACE = "aidetect-system"
SA_NAME = "aidetect-operator"


@pytest.fixture(scope="module")
def operator_client(api_client: client.ApiClient) -> Iterator[client.ApiClient]:
    """An API client authenticated as the operator's ServiceAccount, via TokenRequest."""
    with service_account_client(api_client, SA_NAMESPACE, SA_NAME) as sa_client:
        yield sa_client


@pytest.fixture
def secret_namespace(core_api: client.CoreV1Api, namespace: str) -> str:
    """The test namespace, opted in to textFrom Secrets with a RoleBinding."""
    client.RbacAuthorizationV1Api(core_api.api_client).create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="aidetect-operator-secret-reader"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name="aidetect-operator-secret-reader",
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name=SA_NAME, namespace=SA_NAMESPACE)
            ],
        ),
    )
    return namespace


def test_operator_token_is_a_real_service_account_identity(
    operator_client: client.ApiClient,
) -> None:
    review = client.AuthenticationV1Api(operator_client).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    assert review.status.user_info.username == f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"


def test_operator_can_watch_and_patch_tasks_and_their_status(
    operator_client: client.ApiClient, custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    custom_api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task("rbac-task")
    )
    api = client.CustomObjectsApi(operator_client)
    listed = api.list_cluster_custom_object(crd.GROUP, crd.VERSION, crd.PLURAL)
    assert any(i["metadata"]["name"] == "rbac-task" for i in listed["items"])
    watched = api.list_cluster_custom_object(
        crd.GROUP, crd.VERSION, crd.PLURAL, watch=True, timeout_seconds=1, _preload_content=False
    )
    assert watched.status == 200
    watched.drain_conn()  # read the watch to its end (1 s): an unread stream must not be reused
    api.patch_namespaced_custom_object(
        crd.GROUP,
        crd.VERSION,
        namespace,
        crd.PLURAL,
        "rbac-task",
        {
            "metadata": {
                "finalizers": ["aidetect.io/test"],
                "annotations": {"kopf.zalando.org/x": "1"},
            }
        },
    )
    api.patch_namespaced_custom_object_status(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, "rbac-task", {"status": {"phase": "Queued"}}
    )
    api.patch_namespaced_custom_object(
        crd.GROUP,
        crd.VERSION,
        namespace,
        crd.PLURAL,
        "rbac-task",
        {"metadata": {"finalizers": None}},
    )
    api.delete_namespaced_custom_object(crd.GROUP, crd.VERSION, namespace, crd.PLURAL, "rbac-task")


def test_operator_can_create_events(operator_client: client.ApiClient, namespace: str) -> None:
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="aidetect-"),
        involved_object=client.V1ObjectReference(
            api_version=crd.API_VERSION, kind=crd.KIND, name="x", namespace=namespace
        ),
        reason="Queued",
        message="published",
        type="Normal",
    )
    created = client.CoreV1Api(operator_client).create_namespaced_event(namespace, event)
    assert created.metadata.name


def test_operator_can_read_a_named_configmap(
    operator_client: client.ApiClient, core_api: client.CoreV1Api, namespace: str
) -> None:
    core_api.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="texts"), data={"t": "hello"}),
    )
    got = client.CoreV1Api(operator_client).read_namespaced_config_map("texts", namespace)
    assert got.data == {"t": "hello"}


def test_operator_can_read_a_secret_only_where_opted_in(
    operator_client: client.ApiClient, core_api: client.CoreV1Api, secret_namespace: str
) -> None:
    other = f"t-{uuid.uuid4().hex[:10]}"
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        for ns in (secret_namespace, other):
            core_api.create_namespaced_secret(
                ns,
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name="essay"), string_data={"t": "private"}
                ),
            )
        sa = client.CoreV1Api(operator_client)
        assert sa.read_namespaced_secret("essay", secret_namespace).data["t"]
        assert status_of(lambda: sa.read_namespaced_secret("essay", other)) == 403
        assert status_of(lambda: sa.list_namespaced_secret(secret_namespace)) == 403
    finally:
        core_api.delete_namespace(other)


@pytest.mark.parametrize(
    "what",
    [
        "list-secrets-cluster-wide",
        "watch-secrets-cluster-wide",
        "list-configmaps",
        "delete-deployment",
        "create-deployment",
        "create-detectiontask",
        "update-crd",
        "delete-namespace",
        "create-pod",
        "create-clusterrolebinding",
    ],
)
def test_operator_is_refused_what_it_does_not_need(
    operator_client: client.ApiClient, namespace: str, what: str
) -> None:
    core = client.CoreV1Api(operator_client)
    apps = client.AppsV1Api(operator_client)
    calls: dict[str, Callable[[], Any]] = {
        "list-secrets-cluster-wide": lambda: core.list_secret_for_all_namespaces(),
        "watch-secrets-cluster-wide": lambda: core.list_secret_for_all_namespaces(
            watch=True, timeout_seconds=1, _preload_content=False
        ),
        "list-configmaps": lambda: core.list_namespaced_config_map(namespace),
        "delete-deployment": lambda: apps.delete_namespaced_deployment("anything", namespace),
        "create-deployment": lambda: apps.create_namespaced_deployment(
            namespace,
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "d"},
                "spec": {
                    "selector": {"matchLabels": {"a": "b"}},
                    "template": {
                        "metadata": {"labels": {"a": "b"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]},
                    },
                },
            },
        ),
        "create-detectiontask": lambda: client.CustomObjectsApi(
            operator_client
        ).create_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task()
        ),
        "update-crd": lambda: client.ApiextensionsV1Api(
            operator_client
        ).patch_custom_resource_definition(crd.CRD_NAME, {"metadata": {"labels": {"x": "y"}}}),
        "delete-namespace": lambda: core.delete_namespace(namespace),
        "create-pod": lambda: core.create_namespaced_pod(
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        ),
        "create-clusterrolebinding": lambda: client.RbacAuthorizationV1Api(
            operator_client
        ).create_cluster_role_binding(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "escalate"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}
                ],
            }
        ),
    }
    assert status_of(calls[what]) == 403
