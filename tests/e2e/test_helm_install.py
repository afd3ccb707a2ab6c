"""The Helm chart against a real kube-apiserver: install, upgrade, RBAC, uninstall.

The test cluster has no kubelet, so pods stay Pending; that is expected. What is checked is
what Helm and the apiserver do with the chart's objects.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from aidetect.core import crd
from tests.utils.factories import detection_task
from tests.utils.helm import CHART, helm
from tests.utils.tokens import service_account_client, status_of

RELEASE = "it"
INSTANCE = "app.kubernetes.io/instance"


def run_helm(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return helm(*args, timeout=180, kubeconfig=kubeconfig)


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def release_ns(kubeconfig: str, core_api: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace with the chart installed as release `it` (--skip-crds: already there)."""
    name = f"helm-{uuid.uuid4().hex[:8]}"
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    run_helm(kubeconfig, "install", RELEASE, str(CHART), "-n", name, "--skip-crds")
    try:
        yield name
    finally:
        helm(
            "uninstall", RELEASE, "-n", name, "--ignore-not-found",
            check=False, timeout=180, kubeconfig=kubeconfig,
        )  # fmt: skip
        core_api.delete_namespace(name)


def _names(items: list[Any]) -> set[str]:
    return {i.metadata.name for i in items}


def test_install_creates_every_object(api_client: client.ApiClient, release_ns: str) -> None:
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    selector = f"{INSTANCE}={RELEASE}"
    prefix = f"{RELEASE}-aidetect"
    assert _names(apps.list_namespaced_deployment(release_ns, label_selector=selector).items) == {
        f"{prefix}-operator",
        f"{prefix}-api",
        f"{prefix}-worker-default",
    }
    assert _names(apps.list_namespaced_stateful_set(release_ns, label_selector=selector).items) == {
        f"{prefix}-postgresql",
        f"{prefix}-rabbitmq",
    }
    assert _names(core.list_namespaced_service(release_ns, label_selector=selector).items) == {
        f"{prefix}-api",
        f"{prefix}-postgresql",
        f"{prefix}-rabbitmq",
    }
    assert {f"{prefix}-api-token", f"{prefix}-postgresql", f"{prefix}-rabbitmq"} <= _names(
        core.list_namespaced_secret(release_ns, label_selector=selector).items
    )
    assert f"{prefix}-profiles" in _names(
        core.list_namespaced_config_map(release_ns, label_selector=selector).items
    )
    assert {f"{prefix}-operator", f"{prefix}-api"} <= _names(
        core.list_namespaced_service_account(release_ns, label_selector=selector).items
    )
    cluster = {f"{release_ns}-{prefix}-operator", f"{release_ns}-{prefix}-api"}
    assert _names(rbac.list_cluster_role(label_selector=selector).items) >= cluster
    assert _names(rbac.list_cluster_role_binding(label_selector=selector).items) >= cluster
    # The controller manager makes the pods; without a kubelet they stay Pending.
    wait_until(
        "the operator pod",
        lambda: bool(
            core.list_namespaced_pod(
                release_ns, label_selector=f"{selector},app.kubernetes.io/component=operator"
            ).items
        ),
    )


def test_upgrade_changes_replicas_adds_a_worker_and_keeps_secrets(
    kubeconfig: str, api_client: client.ApiClient, release_ns: str, tmp_path: Path
) -> None:
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    token_before = core.read_namespaced_secret(f"{RELEASE}-aidetect-api-token", release_ns).data
    db_before = core.read_namespaced_secret(f"{RELEASE}-aidetect-postgresql", release_ns).data
    values = tmp_path / "upgrade.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "profiles": {
                    "default": "roberta-openai",
                    "profiles": {
                        "roberta-openai": {
                            "kind": "hf-classifier",
                            "model": "openai-community/roberta-base-openai-detector",
                            "aiLabel": "Fake",
                        },
                        "log-rank": {
                            "kind": "perplexity",
                            "metric": "log-rank",
                            "model": "/models/gpt2",
                            "threshold": 1.5,
                        },
                    },
                },
                "workers": [
                    {"name": "default", "replicas": 2},
                    {"name": "log-rank", "detectors": ["log-rank"], "replicas": 1},
                ],
            }
        )
    )
    run_helm(kubeconfig, "upgrade", RELEASE, str(CHART), "-n", release_ns, "-f", str(values))
    default = apps.read_namespaced_deployment(f"{RELEASE}-aidetect-worker-default", release_ns)
    assert default.spec.replicas == 2
    extra = apps.read_namespaced_deployment(f"{RELEASE}-aidetect-worker-log-rank", release_ns)
    env = {e.name: e.value for e in extra.spec.template.spec.containers[0].env}
    assert env["AIDETECT_WORKER_DETECTORS"] == '["log-rank"]'
    profiles = core.read_namespaced_config_map(f"{RELEASE}-aidetect-profiles", release_ns)
    assert "log-rank" in yaml.safe_load(profiles.data["profiles.yaml"])["profiles"]
    # Generated secrets are read back with lookup, not regenerated.
    assert core.read_namespaced_secret(f"{RELEASE}-aidetect-api-token", release_ns).data == (
        token_before
    )
    assert core.read_namespaced_secret(f"{RELEASE}-aidetect-postgresql", release_ns).data == (
        db_before
    )


@pytest.fixture(scope="module")
def operator_sa_client(api_client: client.ApiClient, release_ns: str) -> Iterator[client.ApiClient]:
    """An API client authenticated as the installed chart's operator ServiceAccount."""
    with service_account_client(api_client, release_ns, f"{RELEASE}-aidetect-operator") as sa:
        yield sa


def test_operator_service_account_has_the_operator_rights(
    operator_sa_client: client.ApiClient,
    custom_api: client.CustomObjectsApi,
    release_ns: str,
) -> None:
    task = detection_task()
    name = task["metadata"]["name"]
    custom_api.create_namespaced_custom_object(crd.GROUP, crd.VERSION, release_ns, crd.PLURAL, task)
    as_operator = client.CustomObjectsApi(operator_sa_client)
    listed = as_operator.list_cluster_custom_object(crd.GROUP, crd.VERSION, crd.PLURAL)
    assert name in {i["metadata"]["name"] for i in listed["items"]}
    watched = as_operator.list_cluster_custom_object(
        crd.GROUP, crd.VERSION, crd.PLURAL, watch=True, timeout_seconds=1, _preload_content=False
    )
    assert watched.status == 200
    watched.drain_conn()  # read the watch to its end (1 s): an unread stream must not be reused
    as_operator.patch_namespaced_custom_object(
        crd.GROUP,
        crd.VERSION,
        release_ns,
        crd.PLURAL,
        name,
        {"metadata": {"annotations": {"aidetect.io/test": "helm"}}},
    )
    patched = as_operator.patch_namespaced_custom_object_status(
        crd.GROUP, crd.VERSION, release_ns, crd.PLURAL, name, {"status": {"phase": "Queued"}}
    )
    assert patched["status"]["phase"] == "Queued"
    apps = client.AppsV1Api(operator_sa_client)
    assert (
        status_of(lambda: apps.delete_namespaced_deployment(f"{RELEASE}-aidetect-api", release_ns))
        == 403
    )


def api_may(
    api_client: client.ApiClient,
    release_ns: str,
    verb: str,
    namespace: str,
    resource: str = "detectiontasks",
    group: str = crd.GROUP,
) -> bool:
    """Whether the release's API ServiceAccount may do `verb` (a real SubjectAccessReview)."""
    result = client.AuthorizationV1Api(api_client).create_subject_access_review(
        client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=f"system:serviceaccount:{release_ns}:{RELEASE}-aidetect-api",
                groups=["system:serviceaccounts", f"system:serviceaccounts:{release_ns}"],
                resource_attributes=client.V1ResourceAttributes(
                    group=group, resource=resource, verb=verb, namespace=namespace
                ),
            )
        )
    )
    return bool(result.status.allowed)


def test_api_service_account_can_only_create_and_delete_tasks(
    api_client: client.ApiClient, release_ns: str
) -> None:
    def allowed(verb: str, resource: str = "detectiontasks", group: str = crd.GROUP) -> bool:
        return api_may(api_client, release_ns, verb, release_ns, resource, group)

    assert all(allowed(v) for v in ("create", "delete"))
    assert not any(allowed(v) for v in ("get", "list", "watch", "patch", "update"))
    assert not allowed("deletecollection")
    assert not allowed("patch", "detectiontasks/status")
    assert not allowed("get", "secrets", "")


def test_tenants_install_grants_the_api_only_the_tenants_namespaces(
    kubeconfig: str, api_client: client.ApiClient, core_api: client.CoreV1Api, tmp_path: Path
) -> None:
    # Given namespaces for two tenants and one for neither, and the chart installed with those
    # tenants and no admin token
    ns = {k: f"{k}-{uuid.uuid4().hex[:8]}" for k in ("release", "a", "b", "other")}
    for name in ns.values():
        core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    values = tmp_path / "tenants.yaml"
    tenants = [
        {"name": "a", "token": "a-token", "namespaces": [ns["a"]]},
        {"name": "b", "token": "b-token", "namespaces": [ns["b"], ns["a"]]},
    ]
    values.write_text(yaml.safe_dump({"api": {"auth": {"adminToken": False, "tenants": tenants}}}))
    try:
        run_helm(kubeconfig, "install", RELEASE, str(CHART), "-n", ns["release"],
                 "--skip-crds", "-f", str(values))  # fmt: skip

        # Then the API may create and cancel tasks in the tenants' namespaces, nowhere else
        for where in (ns["a"], ns["b"]):
            assert api_may(api_client, ns["release"], "create", where)
            assert api_may(api_client, ns["release"], "delete", where)
            assert not api_may(api_client, ns["release"], "get", where)
        for where in (ns["release"], ns["other"]):
            assert not api_may(api_client, ns["release"], "create", where)
        rbac = client.RbacAuthorizationV1Api(api_client)
        selector = f"{INSTANCE}={RELEASE},app.kubernetes.io/component=api"
        assert not [
            r.metadata.name
            for r in rbac.list_cluster_role(label_selector=selector).items
            if r.metadata.name.startswith(f"{ns['release']}-")
        ]
        secret = core_api.read_namespaced_secret(f"{RELEASE}-aidetect-api-tenants", ns["release"])
        assert "tenants.yaml" in secret.data
    finally:
        helm(
            "uninstall", RELEASE, "-n", ns["release"], "--ignore-not-found",
            check=False, timeout=180, kubeconfig=kubeconfig,
        )  # fmt: skip
        for name in ns.values():
            core_api.delete_namespace(name)


def test_install_with_crds_skips_the_existing_crd(
    kubeconfig: str, core_api: client.CoreV1Api, api_client: client.ApiClient
) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    crd_name = f"{crd.PLURAL}.{crd.GROUP}"
    before = ext.read_custom_resource_definition(crd_name).metadata
    ns = f"helm-{uuid.uuid4().hex[:8]}"
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        run_helm(kubeconfig, "install", "crds", str(CHART), "-n", ns)
        after = ext.read_custom_resource_definition(crd_name).metadata
        assert after.uid == before.uid and after.resource_version == before.resource_version
        run_helm(kubeconfig, "uninstall", "crds", "-n", ns)
        # helm never deletes what crds/ installed, let alone a CRD it skipped.
        assert ext.read_custom_resource_definition(crd_name).metadata.uid == before.uid
    finally:
        core_api.delete_namespace(ns)


def _pvc_being_deleted(obj: Any) -> bool:
    """A PVC the StatefulSet's retention policy deleted, held only by kubernetes.io/pvc-protection.

    The test cluster runs no pvc-protection controller (hack/control-plane.sh), so that finalizer
    is never removed here; on a real cluster it goes as soon as no pod uses the claim.
    """
    return (
        isinstance(obj, client.V1PersistentVolumeClaim)
        and obj.metadata.deletion_timestamp is not None
        and obj.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    )


def _leftovers(api_client: client.ApiClient, namespace: str) -> list[str]:
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    net, policy = client.NetworkingV1Api(api_client), client.PolicyV1Api(api_client)
    selector = f"{INSTANCE}={RELEASE}"
    listers: list[Callable[..., Any]] = [
        core.list_namespaced_pod,
        core.list_namespaced_service,
        core.list_namespaced_secret,
        core.list_namespaced_config_map,
        core.list_namespaced_service_account,
        core.list_namespaced_persistent_volume_claim,
        apps.list_namespaced_deployment,
        apps.list_namespaced_replica_set,
        apps.list_namespaced_stateful_set,
        net.list_namespaced_network_policy,
        net.list_namespaced_ingress,
        policy.list_namespaced_pod_disruption_budget,
    ]
    found = [
        f"{lister.__name__}:{i.metadata.name}"
        for lister in listers
        for i in lister(namespace, label_selector=selector).items
        if not _pvc_being_deleted(i)
    ]
    for cluster_lister in (rbac.list_cluster_role, rbac.list_cluster_role_binding):
        found += [
            f"{cluster_lister.__name__}:{i.metadata.name}"
            for i in cluster_lister(label_selector=selector).items
            if i.metadata.name.startswith(f"{namespace}-")
        ]
    return found


def test_uninstall_leaves_no_orphans(
    kubeconfig: str, api_client: client.ApiClient, release_ns: str
) -> None:
    """Runs last in this module: it removes the module's release."""
    run_helm(kubeconfig, "uninstall", RELEASE, "-n", release_ns, "--wait", "--timeout", "120s")
    leftovers: list[str] = []

    def clean() -> bool:
        leftovers[:] = _leftovers(api_client, release_ns)
        return not leftovers

    try:
        wait_until("the garbage collector to remove the release's objects", clean, timeout=90)
    except AssertionError:
        raise AssertionError(f"left behind: {leftovers}") from None
    ext = client.ApiextensionsV1Api(api_client)
    assert ext.read_custom_resource_definition(f"{crd.PLURAL}.{crd.GROUP}")
