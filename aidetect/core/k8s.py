"""The only place that builds DetectionTask CRs and their patches, and reads textFrom sources.

The operator, the API and the CLI reach the kube-apiserver through these helpers, and no
kubernetes or urllib3 exception leaves them: no answer, a 5xx or a 429 becomes `KubeUnavailable`
(retry), any other 4xx `KubeRefused` (with the apiserver's Status: its message and field causes),
and a missing textFrom source `InvalidInput` (the user's mistake). The callers hold a
`KubeClient` and never import kubernetes themselves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from aidetect.core import crd
from aidetect.core.errors import (
    AidetectError,
    FieldCause,
    InvalidInput,
    KubeConfigInvalid,
    KubeRefused,
    KubeUnavailable,
)
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

# The client the helpers take: the components name this type, not the kubernetes package's.
KubeClient: TypeAlias = client.ApiClient

# What the client raises when no HTTP answer came: refused, reset, timed out, TLS failed.
NO_ANSWER: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError, OSError)


def api_client(kubeconfig: str | None) -> KubeClient:
    """A client from the kubeconfig, or the in-cluster ServiceAccount when there is none."""
    cfg = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        else:
            try:
                config.load_incluster_config(client_configuration=cfg)
            except config.ConfigException:
                config.load_kube_config(client_configuration=cfg)
    except config.ConfigException as e:
        raise KubeConfigInvalid(f"no usable kubeconfig or in-cluster ServiceAccount: {e}") from e
    cfg.connection_pool_maxsize = POOL_CONNECTIONS
    return client.ApiClient(cfg)


def _status_document(body: Any) -> dict[str, Any]:
    """The Status object in an apiserver error's body; empty if the body holds none."""
    try:
        status = json.loads(body.decode() if isinstance(body, bytes) else body or "")
    except (ValueError, AttributeError):
        return {}
    return status if isinstance(status, dict) else {}


def kube_error(e: ApiException, what: str) -> KubeUnavailable | KubeRefused:
    """5xx, 429 and no answer (status 0 or None) are worth retrying; any other status is a
    refusal, carrying what the apiserver's Status document says of it."""
    if not e.status or e.status >= 500 or e.status == 429:
        return KubeUnavailable(f"{what}: {e.status} {e.reason}")
    status = _status_document(e.body)
    details = status.get("details")
    details = details if isinstance(details, dict) else {}
    causes = tuple(
        FieldCause(field=str(c.get("field", "")), message=str(c.get("message", "")))
        for c in details.get("causes") or []
        if isinstance(c, dict)
    )
    kind = details.get("kind")
    return KubeRefused(
        what,
        status=int(e.status),
        reason=str(status.get("reason") or e.reason or ""),
        message=str(status.get("message") or f"{e.status} {e.reason}"),
        kind=kind if isinstance(kind, str) else None,
        causes=causes,
    )


@contextmanager
def _seam(what: str) -> Iterator[None]:
    """Turn whatever the kubernetes client raises for `what` into core's error tree."""
    try:
        yield
    except ApiException as e:
        raise kube_error(e, what) from e
    except NO_ANSWER as e:
        raise KubeUnavailable(f"{what}: no answer from the kube-apiserver: {e}") from e


def ping(api: KubeClient, timeout: float) -> None:
    """GET /version: raises `KubeUnavailable` unless the apiserver answers within `timeout`."""
    try:
        client.VersionApi(api).get_code(_request_timeout=timeout)
    except ApiException as e:  # even a 401/403: the apiserver will not serve us (yet)
        raise KubeUnavailable(f"GET /version answered {e.status} {e.reason}") from e
    except NO_ANSWER as e:
        raise KubeUnavailable(f"GET /version: no answer from the kube-apiserver: {e}") from e


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


def create_task(api: KubeClient, namespace: str, manifest: dict[str, Any]) -> TaskRef:
    with _seam(f"create DetectionTask in {namespace}"):
        created = client.CustomObjectsApi(api).create_namespaced_custom_object(
            crd.GROUP,
            crd.VERSION,
            namespace,
            crd.PLURAL,
            manifest,
            field_validation="Strict",
            _request_timeout=TIMEOUT,
        )
    meta = created["metadata"]
    return TaskRef(namespace=namespace, name=meta["name"], uid=meta["uid"])


def iter_tasks(
    api: KubeClient, namespaces: Sequence[str] | None = None, page_size: int = 500
) -> Iterator[dict[str, Any]]:
    """Every DetectionTask in the cluster (or in `namespaces`), listed in pages, so that memory
    holds one page of texts at a time."""
    custom = client.CustomObjectsApi(api)
    for namespace in namespaces if namespaces is not None else [None]:
        token: str | None = None
        while True:
            with _seam("list DetectionTasks"):
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
            yield from page["items"]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break


def get_task(api: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The CR, or None if it does not exist."""
    try:
        with _seam(f"get DetectionTask {namespace}/{name}"):
            obj: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
                crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name
            )
    except KubeRefused as e:
        if e.status == 404:
            return None
        raise
    return obj


def delete_task(api: KubeClient, namespace: str, name: str, uid: str | None = None) -> bool:
    """Delete the CR (only the one with this uid, when given); False if it was already gone."""
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid) if uid else None)
    try:
        with _seam(f"delete DetectionTask {namespace}/{name}"):
            client.CustomObjectsApi(api).delete_namespaced_custom_object(
                crd.GROUP,
                crd.VERSION,
                namespace,
                crd.PLURAL,
                name,
                body=body,
                _request_timeout=TIMEOUT,
            )
    except KubeRefused as e:
        if e.status in (404, 409):  # gone, or a new CR with the same name (another uid)
            return False
        raise
    return True


def add_finalizer(api: KubeClient, ref: TaskRef, finalizers: list[str]) -> bool:
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


def remove_finalizer(api: KubeClient, ref: TaskRef, finalizers: list[str]) -> bool:
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


def _patch_metadata(api: KubeClient, ref: TaskRef, ops: list[dict[str, Any]], what: str) -> bool:
    try:
        with _seam(f"{what} {ref.namespace}/{ref.name}"):
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
    except KubeRefused as e:
        if e.status in (404, 409, 422):  # gone, or changed since seen: the next event retries
            return False
        raise
    return True


def patch_status(api: KubeClient, ref: TaskRef, status: TaskStatus) -> bool:
    """Write the status through /status; False if the CR no longer exists."""
    try:
        with _seam(f"patch status of {ref.namespace}/{ref.name}"):
            client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
                crd.GROUP,
                crd.VERSION,
                ref.namespace,
                crd.PLURAL,
                ref.name,
                {"status": status.to_dict()},
            )
    except KubeRefused as e:
        if e.status in (404, 409):
            return False
        raise
    return True


def post_event(api: KubeClient, ref: TaskRef, *, type_: str, reason: str, message: str) -> None:
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
    with _seam(f"post event on {ref.namespace}/{ref.name}"):
        client.CoreV1Api(api).create_namespaced_event(ref.namespace, event)


def read_secret(api: KubeClient, namespace: str, name: str, keys: Sequence[str]) -> dict[str, str]:
    """The named keys of a Secret in the task's namespace (those it has), decoded as UTF-8.

    A missing Secret, or one the operator may not read, is the user's to fix: `InvalidInput`.
    """
    core = client.CoreV1Api(api)
    try:
        with _seam(f"read Secret {namespace}/{name}"):
            data = core.read_namespaced_secret(name, namespace).data or {}
        return {k: base64.b64decode(data[k]).decode("utf-8").strip() for k in keys if k in data}
    except KubeRefused as e:
        raise _unreadable("Secret", namespace, name, e) from e
    except UnicodeDecodeError as e:
        raise InvalidInput(f"Secret {namespace}/{name} holds a key that is not UTF-8") from e


def _unreadable(kind: str, namespace: str, name: str, e: KubeRefused) -> AidetectError:
    """A refused read of a user's ConfigMap or Secret: missing or forbidden is the user's to
    fix (`InvalidInput`, saying how); any other refusal stays what it was."""
    if e.status == 404:
        return InvalidInput(f"{kind} {namespace}/{name} not found")
    if e.status == 403:
        return InvalidInput(
            f"the operator may not read {kind} {namespace}/{name}: {e.reason} "
            "(for Secrets, bind ClusterRole aidetect-operator-secret-reader in this namespace)"
        )
    return e


def read_text_source(api: KubeClient, namespace: str, source: TextFrom) -> list[str]:
    """The texts a `textFrom` names: the whole value, or one text per non-empty line."""
    core = client.CoreV1Api(api)
    ref = source.config_map_key_ref or source.secret_key_ref
    assert ref is not None  # the CRD's CEL rule requires exactly one
    kind = "ConfigMap" if source.config_map_key_ref else "Secret"
    try:
        with _seam(f"read {kind} {namespace}/{ref.name}"):
            if source.config_map_key_ref:
                obj = core.read_namespaced_config_map(ref.name, namespace)
                value = (obj.data or {}).get(ref.key)
            else:
                obj = core.read_namespaced_secret(ref.name, namespace)
                raw = (obj.data or {}).get(ref.key)
                value = base64.b64decode(raw).decode("utf-8") if raw is not None else None
    except KubeRefused as e:
        error = _unreadable(kind, namespace, ref.name, e)
        if error is e:
            raise
        raise error from e
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
