"""The Helm chart helm/aidetect: lint, render every ci/ scenario and validate it offline.

Every rendered object is validated: built-in kinds with kubernetes-validate's bundled schemas,
the third-party CRD kinds (KEDA, Prometheus Operator) with explicit structural checks here.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from aidetect.core.profiles import ProfileSet
from tests.utils.helm import CHART, helm
from tests.utils.services import REPO_ROOT

KUBE_VERSION = "1.36.0"
SCENARIOS = [None, *sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))]


def values_args(scenario: str | None) -> list[str]:
    return ["-f", str(CHART / "ci" / scenario)] if scenario else []


@cache
def render_text(scenario: str | None = None, *extra: str) -> str:
    return helm(
        "template",
        "rel",
        str(CHART),
        "--namespace",
        "ns1",
        "--kube-version",
        KUBE_VERSION,
        "--include-crds",
        *values_args(scenario),
        *extra,
    ).stdout


def render(scenario: str | None = None, *extra: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(render_text(scenario, *extra)) if doc]


def only(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


# --- structural checks of the kinds kubernetes-validate has no schema for ----------------------


def _check_scaled_object(obj: dict[str, Any]) -> None:
    assert obj["apiVersion"] == "keda.sh/v1alpha1"
    spec = obj["spec"]
    assert set(spec) <= {
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "triggers",
        "advanced",
        "fallback",
        "idleReplicaCount",
    }
    assert isinstance(spec["scaleTargetRef"]["name"], str) and spec["scaleTargetRef"]["name"]
    for key in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
        assert isinstance(spec[key], int), key
    assert spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["triggers"]
    for trigger in spec["triggers"]:
        assert trigger["type"] == "rabbitmq"
        meta = trigger["metadata"]
        assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values are strings"
        assert meta["mode"] == "QueueLength" and int(meta["value"]) > 0
        assert meta["queueName"].startswith("aidetect.tasks.")
        assert meta["queueName"].rsplit(".", 1)[1] in ("normal", "high")
        assert trigger["authenticationRef"]["name"]


def _check_trigger_authentication(obj: dict[str, Any]) -> None:
    assert obj["apiVersion"] == "keda.sh/v1alpha1"
    refs = obj["spec"]["secretTargetRef"]
    assert [r["parameter"] for r in refs] == ["host"]
    assert all(r["name"] and r["key"] for r in refs)


def _check_service_monitor(obj: dict[str, Any]) -> None:
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    spec = obj["spec"]
    assert spec["selector"]["matchLabels"]
    assert [(e["port"], e["path"]) for e in spec["endpoints"]] == [("http", "/metrics")]


def _check_pod_monitor(obj: dict[str, Any]) -> None:
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    spec = obj["spec"]
    assert spec["selector"]["matchLabels"]["app.kubernetes.io/instance"]
    assert [e["path"] for e in spec["podMetricsEndpoints"]] == ["/metrics"]


CUSTOM_KINDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "PodMonitor": _check_pod_monitor,
    "ScaledObject": _check_scaled_object,
    "TriggerAuthentication": _check_trigger_authentication,
    "ServiceMonitor": _check_service_monitor,
}


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict(scenario: str | None) -> None:
    proc = helm(
        "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), *values_args(scenario)
    )
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_object_validates(scenario: str | None, tmp_path: Path) -> None:
    docs = render(scenario)
    builtin = [d for d in docs if d["kind"] not in CUSTOM_KINDS]
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            CUSTOM_KINDS[doc["kind"]](doc)
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(builtin))
    validator = shutil.which("kubernetes-validate") or str(
        Path(sys.executable).parent / "kubernetes-validate"
    )
    proc = subprocess.run(
        [validator, "-k", KUBE_VERSION, "--strict", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Couldn't find schema" not in output, output
    assert output.count("passed for resource") == len(builtin), output


def test_scenarios_render_what_they_promise() -> None:
    kinds = {s: {d["kind"] for d in render(s)} for s in SCENARIOS}
    assert {"ScaledObject", "TriggerAuthentication", "ServiceMonitor"} <= kinds[
        "gpu-keda-values.yaml"
    ]
    assert "Ingress" in kinds["ingress-values.yaml"]
    assert {"Role", "RoleBinding"} <= kinds["tenants-values.yaml"]
    assert "StatefulSet" not in kinds["external-db-values.yaml"]
    assert not {"Ingress", "ScaledObject", "NetworkPolicy", "PodDisruptionBudget"} & kinds[None]


@pytest.mark.parametrize(
    ("setting", "named_in_error"),
    [
        ("api.replicas=two", "/api/replicas"),  # a wrong type
        ("operator.replicaz=2", "replicaz"),  # an unknown key
        ("profiles.profiles.roberta-openai.aiLable=Fake", "aiLable"),  # a misspelt profile field
        ("api.auth.tenants[0].name=a", "namespaces"),  # a tenant with no namespaces or token
        ("api.rbac.namespaces[0]=Not_A_Namespace", "/api/rbac/namespaces/0"),
    ],
    ids=["wrong-type", "unknown-key", "unknown-profile-field", "tenant-fields", "rbac-namespace"],
)
def test_schema_rejects_bad_values(setting: str, named_in_error: str) -> None:
    proc = helm(
        "template", "rel", str(CHART), "--kube-version", KUBE_VERSION, "--set", setting, check=False
    )
    assert proc.returncode != 0 and named_in_error in proc.stderr, proc.stderr


def test_helm_template_works_without_kube_version_and_warns_nothing() -> None:
    # A new user's first command: the project's helm must know a current Kubernetes version
    # (link-time, as helm's Makefile sets it) and the chart must hold no symlinks to warn about.
    proc = helm("template", "t", str(CHART))
    assert proc.stderr == ""
    assert any(d["kind"] == "Deployment" for d in yaml.safe_load_all(proc.stdout) if d)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_turns_off_service_links(scenario: str | None) -> None:
    # A Service named <release>-api would otherwise inject AIDETECT_API_PORT=tcp://... into every
    # pod of the namespace, which the AIDETECT_ settings read as api.port (found on a real node).
    for obj in render(scenario):
        spec = (
            obj.get("spec", {}).get("template", {}).get("spec")
            if obj["kind"] != "Pod"
            else obj["spec"]
        )
        if spec is not None:
            assert spec.get("enableServiceLinks") is False, (obj["kind"], obj["metadata"]["name"])


def test_operator_cluster_role_rules_come_from_crds_rbac() -> None:
    source = [
        d for d in yaml.safe_load_all((REPO_ROOT / "crds/rbac/operator.yaml").read_text()) if d
    ]
    rules = only(source, "ClusterRole", "aidetect-operator")["rules"]
    rendered = only(render(), "ClusterRole", "ns1-rel-aidetect-operator")
    assert rendered["rules"] == rules


@pytest.mark.parametrize(
    ("in_chart", "source"),
    [
        ("crds/detectiontasks.aidetect.io.yaml", "crds/detectiontasks.aidetect.io.yaml"),
        ("files/operator-rbac.yaml", "crds/rbac/operator.yaml"),
    ],
)
def test_chart_copies_are_real_files_identical_to_crds(in_chart: str, source: str) -> None:
    # Real files, not symlinks: a packaged chart stands on its own and helm warns about links.
    # hack/sync-chart.sh refreshes them; this test fails when they drift from crds/.
    copy = CHART / in_chart
    assert not copy.is_symlink()
    assert copy.read_bytes() == (REPO_ROOT / source).read_bytes(), "run hack/sync-chart.sh"


API_RULES = [
    {"apiGroups": ["aidetect.io"], "resources": ["detectiontasks"], "verbs": ["create", "delete"]}
]


def test_api_cluster_role_is_least_privilege() -> None:
    # The admin token may use every namespace; the API only creates and cancels tasks there.
    role = only(render(), "ClusterRole", "ns1-rel-aidetect-api")
    assert role["rules"] == API_RULES
    assert not [d for d in render() if d["kind"] in ("Role", "RoleBinding")]


def _names(docs: list[dict[str, Any]], *kinds: str) -> set[str]:
    return {d["metadata"]["name"] for d in docs if d["kind"] in kinds}


def _tenants_file(docs: list[dict[str, Any]]) -> Any:
    secret = only(docs, "Secret", "rel-aidetect-api-tenants")
    return yaml.safe_load(base64.b64decode(secret["data"]["tenants.yaml"]))


def test_tenants_without_an_admin_token_get_a_role_per_namespace_and_no_cluster_role() -> None:
    docs = render("tenants-values.yaml")
    roles = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "Role"}
    bindings = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "RoleBinding"}
    assert set(roles) == set(bindings) == {"team-a", "shared", "team-b"}
    assert all(r["rules"] == API_RULES for r in roles.values())
    for binding in bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "ns1-rel-aidetect-api",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "rel-aidetect-api", "namespace": "ns1"}
        ]
    assert "ns1-rel-aidetect-api" not in _names(docs, "ClusterRole", "ClusterRoleBinding")


def test_tenants_file_is_mounted_as_a_directory_and_is_what_the_api_reads() -> None:
    from aidetect.api.tenants import parse_tenants

    docs = render("tenants-values.yaml")
    pod = only(docs, "Deployment", "rel-aidetect-api")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = _env(container)
    assert env["AIDETECT_API_TENANTS_FILE"] == "/etc/aidetect-tenants/tenants.yaml"
    assert "AIDETECT_API_TOKEN" not in env
    mount = next(m for m in container["volumeMounts"] if m["name"] == "tenants")
    assert mount == {"name": "tenants", "mountPath": "/etc/aidetect-tenants", "readOnly": True}
    assert "subPath" not in mount  # a subPath mount never sees the Secret's updates
    volume = next(v for v in pod["volumes"] if v["name"] == "tenants")
    assert volume["secret"]["secretName"] == "rel-aidetect-api-tenants"
    tenants = parse_tenants(yaml.safe_dump(_tenants_file(docs)))
    assert [(t.name, t.namespaces) for t in tenants] == [
        ("team-a", ("team-a", "shared")),
        ("team-b", ("team-b",)),
    ]
    assert not [
        d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-token")
    ]


def test_an_existing_tenants_secret_is_mounted_under_its_key() -> None:
    secret = "api.auth.existingTenantsSecret=my-tenants,api.auth.existingTenantsSecretKey=file.json"
    docs = render(None, "--set", secret)
    pod = only(docs, "Deployment", "rel-aidetect-api")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "tenants")
    assert volume["secret"] == {
        "secretName": "my-tenants",
        "items": [{"key": "file.json", "path": "tenants.yaml"}],
    }
    assert not [d for d in docs if d["metadata"]["name"] == "rel-aidetect-api-tenants"]
    # The chart cannot read that file's namespaces, and the admin token is on: cluster-wide.
    assert only(docs, "ClusterRole", "ns1-rel-aidetect-api")["rules"] == API_RULES


def test_explicit_rbac_namespaces_win_over_the_admin_token() -> None:
    docs = render(None, "--set-json", 'api.rbac.namespaces=["x","y"]')
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"} == {"x", "y"}
    assert "ns1-rel-aidetect-api" not in _names(docs, "ClusterRole")


def test_a_star_tenant_makes_the_api_role_cluster_wide() -> None:
    tenants = '[{"name":"ops","token":"t","namespaces":["*"]}]'
    docs = render(
        None, "--set", "api.auth.adminToken=false", "--set-json", f"api.auth.tenants={tenants}"
    )
    assert only(docs, "ClusterRole", "ns1-rel-aidetect-api")["rules"] == API_RULES
    assert not [d for d in docs if d["kind"] == "Role"]


def test_crd_in_the_chart_is_the_one_in_crds() -> None:
    source = REPO_ROOT / "crds" / "detectiontasks.aidetect.io.yaml"
    assert only(render(), "CustomResourceDefinition") == yaml.safe_load(source.read_text())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_selectors_leave_out_the_chart_label(scenario: str | None) -> None:
    selectors = []
    for doc in render(scenario):
        spec = doc.get("spec", {})
        if doc["kind"] in ("Deployment", "StatefulSet", "PodDisruptionBudget", "ServiceMonitor"):
            selectors.append(spec["selector"]["matchLabels"])
        elif doc["kind"] == "Service":
            selectors.append(spec["selector"])
        elif doc["kind"] == "NetworkPolicy":
            selectors.append(spec["podSelector"]["matchLabels"])
    assert selectors
    for selector in selectors:
        assert "helm.sh/chart" not in selector and "app.kubernetes.io/version" not in selector
        assert selector["app.kubernetes.io/instance"] == "rel"


def test_profiles_config_map_is_what_aidetect_reads() -> None:
    for scenario in SCENARIOS:
        cm = only(render(scenario), "ConfigMap", "rel-aidetect-profiles")
        profiles = ProfileSet.model_validate(yaml.safe_load(cm["data"]["profiles.yaml"]))
        assert profiles.default in profiles.profiles
    default = ProfileSet.model_validate(
        yaml.safe_load(only(render(), "ConfigMap")["data"]["profiles.yaml"])
    ).resolve(None)
    assert (default.name, default.kind, default.ai_label) == (
        "roberta-openai",
        "hf-classifier",
        "Fake",
    )
    assert default.model == "openai-community/roberta-base-openai-detector"


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_components_get_their_settings_and_secrets() -> None:
    docs = render()
    operator = only(docs, "Deployment", "rel-aidetect-operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    op = operator["spec"]["template"]["spec"]["containers"][0]
    assert op["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = _env(op)
    assert env["AIDETECT_OPERATOR_LIVENESS_PORT"] == "8080"
    assert env["AIDETECT_PROFILES_FILE"] == "/etc/aidetect/profiles.yaml"
    assert env["AIDETECT_DATABASE_URL"] == (
        "postgresql://aidetect:$(AIDETECT_CHART_DB_PASSWORD)@rel-aidetect-postgresql:5432/aidetect"
    )
    assert env["AIDETECT_AMQP_URL"].startswith("amqp://aidetect:$(AIDETECT_CHART_AMQP_PASSWORD)@")
    names = [e["name"] for e in op["env"]]
    assert names.index("AIDETECT_CHART_DB_PASSWORD") < names.index("AIDETECT_DATABASE_URL")

    api = only(docs, "Deployment", "rel-aidetect-api")["spec"]["template"]["spec"]["containers"][0]
    env = _env(api)
    assert env["AIDETECT_API_HOST"] == "0.0.0.0" and env["AIDETECT_API_NAMESPACE"] == "ns1"
    assert env["AIDETECT_API_TOKEN"]["secretKeyRef"] == {
        "name": "rel-aidetect-api-token",
        "key": "token",
    }
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"

    worker = only(docs, "Deployment", "rel-aidetect-worker-default")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] == 1800
    env = _env(worker["containers"][0])
    assert env["AIDETECT_WORKER_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["AIDETECT_WORKER_NODE"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["HF_HOME"] == "/models/hf"


def test_pods_run_non_root_with_a_read_only_root() -> None:
    for doc in render("gpu-keda-values.yaml"):
        if doc["kind"] not in ("Deployment", "StatefulSet", "Pod"):
            continue
        pod = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"] + pod.get("initContainers", []):
            assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            if "rabbitmq" not in doc["metadata"]["name"]:
                assert c["securityContext"]["readOnlyRootFilesystem"] is True, doc["metadata"]


def test_gpu_workers_use_the_cuda_image_and_keda_reads_the_same_password() -> None:
    docs = render("gpu-keda-values.yaml")
    worker = only(docs, "Deployment", "rel-aidetect-worker-roberta")
    assert "replicas" not in worker["spec"], "KEDA owns the replica count"
    pod = worker["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "ghcr.io/aidetect/aidetect:0.1.0-cuda"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    queues = [
        t["metadata"]["queueName"]
        for t in only(docs, "ScaledObject", "rel-aidetect-worker-roberta")["spec"]["triggers"]
    ]
    assert queues == ["aidetect.tasks.roberta-openai.normal", "aidetect.tasks.roberta-openai.high"]
    password = base64.b64decode(only(docs, "Secret", "rel-aidetect-rabbitmq")["data"]["password"])
    host = base64.b64decode(only(docs, "Secret", "rel-aidetect-keda-rabbitmq")["data"]["host"])
    assert host == b"amqp://aidetect:" + password + b"@rel-aidetect-rabbitmq:5672/%2F"


def test_operator_shards_render_one_deployment_each_with_its_namespaces() -> None:
    docs = render("sharded-operators-values.yaml")
    deployments = {
        d["metadata"]["name"]: d
        for d in docs
        if d["kind"] == "Deployment" and "operator" in d["metadata"]["name"]
    }
    assert set(deployments) == {"rel-aidetect-operator-a", "rel-aidetect-operator-b"}
    env = {
        name: {
            e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        for name, d in deployments.items()
    }
    assert env["rel-aidetect-operator-b"]["AIDETECT_OPERATOR_SHARD"] == "b"
    assert env["rel-aidetect-operator-b"]["AIDETECT_OPERATOR_NAMESPACES"] == '["team-b","shared"]'
    selectors = [d["spec"]["selector"]["matchLabels"] for d in deployments.values()]
    assert selectors[0] != selectors[1], "each shard's pods are its own Deployment's"


@pytest.mark.parametrize("scenario", [None, "sharded-operators-values.yaml"])
def test_pod_monitors_select_every_operator_and_worker_on_its_metrics_port(
    scenario: str | None,
) -> None:
    docs = render(scenario, "--set", "metrics.podMonitors.enabled=true")
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in docs
        if d["kind"] == "Deployment"
    }
    for monitor in (d for d in docs if d["kind"] == "PodMonitor"):
        _check_pod_monitor(monitor)
        (rule,) = monitor["spec"]["selector"]["matchExpressions"]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert rule["values"]
        for component in rule["values"]:
            container = deployments[component]["spec"]["template"]["spec"]["containers"][0]
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert endpoint["port"] in ports, (component, ports)
    selected = {
        c
        for d in docs
        if d["kind"] == "PodMonitor"
        for c in d["spec"]["selector"]["matchExpressions"][0]["values"]
    }
    assert selected == {c for c in deployments if c != "api"}


def test_the_grafana_dashboard_queries_only_metrics_the_components_define() -> None:
    import json
    import re

    from prometheus_client import Metric

    from aidetect.api.metrics import ApiMetrics
    from aidetect.operator import metrics as operator_metrics
    from aidetect.worker import metrics as worker_metrics

    docs = render(None, "--set", "metrics.grafanaDashboard.enabled=true")
    configmap = next(d for d in docs if d["kind"] == "ConfigMap" and "aidetect.json" in d["data"])
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["aidetect.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queried = {m for e in exprs for m in re.findall(r"\b(aidetect_[a-z_]+)", e)}
    families: list[Metric] = [
        *ApiMetrics().registry.collect(),
        *(m for module in (operator_metrics, worker_metrics) for m in _collected(module)),
    ]
    defined = set()
    for family in families:
        for sample in family.samples:
            defined.add(sample.name)
        defined.add(family.name)
        defined.update(f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum"))
    assert queried and queried <= defined, queried - defined


def _collected(module: Any) -> list[Any]:
    from prometheus_client.metrics import MetricWrapperBase

    return [
        m for v in vars(module).values() if isinstance(v, MetricWrapperBase) for m in v.collect()
    ]
