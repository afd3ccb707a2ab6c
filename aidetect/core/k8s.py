"""The only place that builds DetectionTask CRs and their patches, and reads textFrom sources.

The operator, the API and the CLI reach the kube-apiserver through these helpers; kubernetes
client errors become `KubeUnavailable` (retry) or `InvalidInput` (the user's mistake).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from aidetect.core import crd
from aidetect.core.errors import InvalidInput, KubeUnavailable
from aidetect.core.models import TaskSpec, TextFrom
from aidetect.core.status import TaskStatus
from aidetect.core.texts import is_blank, storage_problem

FINALIZER = "aidetect.io/cancel-on-delete"
TIMEOUT = (5, 30)  # (connect, read) seconds: a hung apiserver must not hold a thread forever
LABEL_SOURCE = "aidetect.io/source"


# Connections kept open to the apiserver. The client's default (urllib3's 10) is fewer than the
# operator's threads that call it at once (kopf's handlers, the status syncs, the resync): the
# extra connections were closed after each request ("Connection pool is full, discarding
# connection"), and every new one paid a TLS handshake.
POOL_CONNECTIONS = 32


def api_client(kubeconfig: str | None) -> client.ApiClient:
    """A client from the kubeconfig, or the in-cluster ServiceAccount when there is none."""
    cfg = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    else:
        try:
            config.load_incluster_config(client_configuration=cfg)
        except config.ConfigException:
            config.load_kube_config(client_configuration=cfg)
    cfg.connection_pool_maxsize = POOL_CONNECTIONS
    return client.ApiClient(cfg)


def _wrap(e: ApiException, what: str) -> Exception:
    """5xx, 429 and no answer are worth retrying; anything else is re-raised as it is."""
    if e.status is None or e.status >= 500 or e.status == 429:
        return KubeUnavailable(f"{what}: {e.status} {e.reason}")
    original: Exception = e
    return original


@dataclass(frozen=True)
class TaskRef:
    """Where a task's CR lives."""

    namespace: str
    name: str
    uid: str


def task_manifest(spec: TaskSpec, *, generate_name: str, source: str) -> dict[str, Any]:
    """A DetectionTask CR for `spec`, created with the finalizer already on (one write saved)."""
    return {
        "apiVersion": crd.API_VERSION,
        "kind": crd.KIND,
        "metadata": {
            "generateName": generate_name,
            "labels": {LABEL_SOURCE: source},
            "finalizers": [FINALIZER],
        },
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def create_task(api: client.ApiClient, namespace: str, manifest: dict[str, Any]) -> TaskRef:
    try:
        created = client.CustomObjectsApi(api).create_namespaced_custom_object(
            crd.GROUP,
            crd.VERSION,
            namespace,
            crd.PLURAL,
            manifest,
            field_validation="Strict",
            _request_timeout=TIMEOUT,
        )
    except ApiException as e:
        raise _wrap(e, "create DetectionTask") from e
    meta = created["metadata"]
    return TaskRef(namespace=namespace, name=meta["name"], uid=meta["uid"])


def iter_tasks(
    api: client.ApiClient, namespaces: Sequence[str] | None = None, page_size: int = 500
) -> Iterator[dict[str, Any]]:
    """Every DetectionTask in the cluster (or in `namespaces`), listed in pages, so that memory
    holds one page of texts at a time."""
    custom = client.CustomObjectsApi(api)
    for namespace in namespaces if namespaces is not None else [None]:
        token: str | None = None
        while True:
            try:
                if namespace is None:
                    page = custom.list_cluster_custom_object(
                        crd.GROUP,
                        crd.VERSION,
                        crd.PLURAL,
                        limit=page_size,
                        _continue=token,
                        _request_timeout=TIMEOUT,
                    )
                else:
                    page = custom.list_namespaced_custom_object(
                        crd.GROUP,
                        crd.VERSION,
                        namespace,
                        crd.PLURAL,
                        limit=page_size,
                        _continue=token,
                        _request_timeout=TIMEOUT,
                    )
            except ApiException as e:
                raise _wrap(e, "list DetectionTasks") from e
            yield from page["items"]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break


def get_task(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The CR, or None if it does not exist."""
    try:
        obj: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name
        )
    except ApiException as e:
        if e.status == 404:
            return None
        raise _wrap(e, f"get DetectionTask {namespace}/{name}") from e
    return obj


def delete_task(api: client.ApiClient, namespace: str, name: str, uid: str | None = None) -> bool:
    """Delete the CR (only the one with this uid, when given); False if it was already gone."""
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid) if uid else None)
    try:
        client.CustomObjectsApi(api).delete_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name, body=body, _request_timeout=TIMEOUT
        )
    except ApiException as e:
        if e.status in (404, 409):  # gone, or a new CR with the same name (another uid)
            return False
        raise _wrap(e, f"delete DetectionTask {namespace}/{name}") from e
    return True


def add_finalizer(api: client.ApiClient, ref: TaskRef, finalizers: list[str]) -> bool:
    """Append FINALIZER (a JSON patch, other finalizers kept); False if the CR is gone or changed.

    `finalizers` is the list as last seen: the patch tests it, so a concurrent change makes it
    fail (409/422, False) instead of clobbering someone else's finalizer.
    """
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/uid", "value": ref.uid},
        {"op": "add", "path": "/metadata/finalizers", "value": [*finalizers, FINALIZER]},
    ]
    if finalizers:
        ops.insert(1, {"op": "test", "path": "/metadata/finalizers", "value": finalizers})
    return _patch_metadata(api, ref, ops, "add the finalizer to")


def remove_finalizer(api: client.ApiClient, ref: TaskRef, finalizers: list[str]) -> bool:
    """Remove FINALIZER from `finalizers` (as last seen, tested); False if gone or changed."""
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/uid", "value": ref.uid},
        {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
        {
            "op": "replace",
            "path": "/metadata/finalizers",
            "value": [f for f in finalizers if f != FINALIZER],
        },
    ]
    return _patch_metadata(api, ref, ops, "remove the finalizer from")


def _patch_metadata(
    api: client.ApiClient, ref: TaskRef, ops: list[dict[str, Any]], what: str
) -> bool:
    try:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            crd.GROUP,
            crd.VERSION,
            ref.namespace,
            crd.PLURAL,
            ref.name,
            ops,
            _content_type="application/json-patch+json",
            _request_timeout=TIMEOUT,
        )
    except ApiException as e:
        if e.status in (404, 409, 422):  # gone, or changed since seen: the next event retries
            return False
        raise _wrap(e, f"{what} {ref.namespace}/{ref.name}") from e
    return True


def patch_status(api: client.ApiClient, ref: TaskRef, status: TaskStatus) -> bool:
    """Write the status through /status; False if the CR no longer exists."""
    try:
        client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
            crd.GROUP,
            crd.VERSION,
            ref.namespace,
            crd.PLURAL,
            ref.name,
            {"status": status.to_dict()},
        )
    except ApiException as e:
        if e.status in (404, 409):
            return False
        raise _wrap(e, f"patch status of {ref.namespace}/{ref.name}") from e
    return True


def post_event(
    api: client.ApiClient, ref: TaskRef, *, type_: str, reason: str, message: str
) -> None:
    """A core/v1 Event on the task, as `kubectl describe dt` shows."""
    now = datetime.now(UTC)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{ref.name}."),
        involved_object=client.V1ObjectReference(
            api_version=crd.API_VERSION,
            kind=crd.KIND,
            name=ref.name,
            namespace=ref.namespace,
            uid=ref.uid,
        ),
        type=type_,
        reason=reason,
        message=message[:1024],
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=client.V1EventSource(component="aidetect-operator"),
    )
    try:
        client.CoreV1Api(api).create_namespaced_event(ref.namespace, event)
    except ApiException as e:
        raise _wrap(e, f"post event on {ref.namespace}/{ref.name}") from e


def read_text_source(api: client.ApiClient, namespace: str, source: TextFrom) -> list[str]:
    """The texts a `textFrom` names: the whole value, or one text per non-empty line."""
    core = client.CoreV1Api(api)
    ref = source.config_map_key_ref or source.secret_key_ref
    assert ref is not None  # the CRD's CEL rule requires exactly one
    kind = "ConfigMap" if source.config_map_key_ref else "Secret"
    try:
        if source.config_map_key_ref:
            obj = core.read_namespaced_config_map(ref.name, namespace)
            value = (obj.data or {}).get(ref.key)
        else:
            obj = core.read_namespaced_secret(ref.name, namespace)
            raw = (obj.data or {}).get(ref.key)
            value = base64.b64decode(raw).decode("utf-8") if raw is not None else None
    except ApiException as e:
        if e.status == 404:
            raise InvalidInput(f"{kind} {namespace}/{ref.name} not found") from e
        if e.status == 403:
            raise InvalidInput(
                f"the operator may not read {kind} {namespace}/{ref.name}: {e.reason} "
                "(for Secrets, bind ClusterRole aidetect-operator-secret-reader in this namespace)"
            ) from e
        raise _wrap(e, f"read {kind} {namespace}/{ref.name}") from e
    except UnicodeDecodeError as e:
        raise InvalidInput(
            f"{kind} {namespace}/{ref.name} key {ref.key!r} is not UTF-8 text"
        ) from e
    if value is None:
        raise InvalidInput(f"{kind} {namespace}/{ref.name} has no key {ref.key!r}")
    texts = [line.strip() for line in value.splitlines()] if source.format == "lines" else [value]
    texts = [t for t in texts if not is_blank(t)]
    if not texts:
        raise InvalidInput(f"{kind} {namespace}/{ref.name} key {ref.key!r} holds no text")
    for i, text in enumerate(texts):
        if problem := storage_problem(text):
            where = f" (text {i})" if len(texts) > 1 else ""
            raise InvalidInput(f"{kind} {namespace}/{ref.name} key {ref.key!r}{where} {problem}")
    return texts
