"""Act as a ServiceAccount in tests: a real TokenRequest token, and the status of a call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException


@contextmanager
def service_account_client(
    admin: client.ApiClient, namespace: str, name: str
) -> Iterator[client.ApiClient]:
    """An API client authenticated with a TokenRequest token of the ServiceAccount."""
    token = (
        client.CoreV1Api(admin)
        .create_namespaced_service_account_token(
            name,
            namespace,
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
            ),
        )
        .status.token
    )
    cfg = client.Configuration()
    cfg.host = admin.configuration.host
    cfg.ssl_ca_cert = admin.configuration.ssl_ca_cert
    cfg.api_key = {"authorization": f"Bearer {token}"}
    with client.ApiClient(cfg) as sa_client:
        yield sa_client


def status_of(call: Callable[[], Any]) -> int:
    """The HTTP status a call got: 200 if it succeeded, the API's status if it was refused."""
    try:
        call()
    except ApiException as e:
        return int(e.status)
    return 200
