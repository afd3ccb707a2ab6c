"""A throwaway namespace per test, on whichever cluster the caller's client points at."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from kubernetes import client

from aidetect.core import crd


@contextmanager
def fresh_namespace(core: client.CoreV1Api, prefix: str) -> Iterator[str]:
    """Create `<prefix>-<random>`, yield its name, then delete it (its controller empties it)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


def release_finalizers(custom_api: client.CustomObjectsApi, namespace: str) -> None:
    """Drop every DetectionTask's finalizers, so that the namespace can go with no operator."""
    listed = custom_api.list_namespaced_custom_object(crd.GROUP, crd.VERSION, namespace, crd.PLURAL)
    for obj in listed["items"]:
        custom_api.patch_namespaced_custom_object(
            crd.GROUP,
            crd.VERSION,
            namespace,
            crd.PLURAL,
            obj["metadata"]["name"],
            {"metadata": {"finalizers": []}},
        )
