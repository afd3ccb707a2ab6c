"""The DetectionTask CRD, proven against the real kube-apiserver: examples, defaults, rejections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from aidetect.core import crd
from aidetect.core.texts import text_problem
from tests.utils.factories import detection_task
from tests.utils.kubectl import apply_file, kubectl
from tests.utils.services import REPO_ROOT

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.yaml"))


def _rejection(exc: ApiException) -> str:
    """The API server's Status message and causes, as kubectl would print them."""
    status = json.loads(exc.body)
    causes = status.get("details", {}).get("causes", [])
    return "\n".join(
        [status["message"], *(f"{c.get('field')}: {c.get('message')}" for c in causes)]
    )


def _create(api: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, body, field_validation="Strict"
    )
    return created


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_is_accepted_by_kubectl_apply(example: Path, namespace: str) -> None:
    # Given an example manifest, when a user applies it, then every DetectionTask in it exists.
    apply_file(example, namespace)
    names = [
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(example.read_text())
        if doc and doc["kind"] == crd.KIND
    ]
    assert names, f"{example.name} holds no DetectionTask"
    for name in names:
        got = kubectl("get", "dt", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}")
        assert got.stdout.strip(), f"dt/{name} was not created"


def test_examples_cover_every_input_kind() -> None:
    specs = [
        doc["spec"]
        for path in EXAMPLES
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == crd.KIND
    ]
    assert any("text" in s for s in specs)
    assert any("texts" in s for s in specs)
    assert any("textFrom" in s for s in specs)
    assert any("source" in s and "output" in s and "failurePolicy" in s for s in specs)
    assert any(s.get("granularity") == "sentence" for s in specs)
    assert any("activeDeadlineSeconds" in s and "ttlSecondsAfterFinished" in s for s in specs)
    assert any(any("\u0400" <= ch <= "\u04ff" for ch in s.get("text", "")) for s in specs)


def test_defaults_are_filled_in(custom_api: client.CustomObjectsApi, namespace: str) -> None:
    created = _create(custom_api, namespace, detection_task(text="hello"))
    assert created["spec"]["granularity"] == "document"
    assert created["spec"]["priority"] == 0
    assert created["spec"]["backoffLimit"] == 3


def test_text_from_format_defaults_to_text(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    body = detection_task(textFrom={"configMapKeyRef": {"name": "cm", "key": "k"}})
    created = _create(custom_api, namespace, body)
    assert created["spec"]["textFrom"]["format"] == "text"


TOO_MANY = ["x"] * 1001
SOURCE: dict[str, Any] = {
    "s3": {"endpoint": "http://s3.local:8333", "bucket": "corpora", "key": "essays.jsonl"},
    "credentialsSecretRef": {"name": "s3-credentials"},
}
OUTPUT: dict[str, Any] = {"s3": {"bucket": "results", "key": "essays.results.jsonl"}}
INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "no-input",
        {"detector": "default"},
        "one of spec.text, spec.texts, spec.textFrom or spec.source is required",
    ),
    (
        "two-inputs",
        {"text": "a", "texts": ["b"]},
        "only one of spec.text, spec.texts, spec.textFrom or spec.source",
    ),
    (
        "three-inputs",
        {"text": "a", "texts": ["b"], "textFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
        "only one of spec.text, spec.texts, spec.textFrom or spec.source",
    ),
    (
        "text-and-source",
        {"text": "a", "source": SOURCE},
        "only one of spec.text, spec.texts, spec.textFrom or spec.source",
    ),
    ("output-without-source", {"text": "a", "output": OUTPUT}, "spec.output needs spec.source"),
    (
        "key-and-prefix",
        {"source": {**SOURCE, "s3": {**SOURCE["s3"], "prefix": "corpora/"}}},
        "source.s3 needs exactly one of key or prefix",
    ),
    (
        "neither-key-nor-prefix",
        {"source": {**SOURCE, "s3": {"endpoint": "http://s3.local:8333", "bucket": "corpora"}}},
        "source.s3 needs exactly one of key or prefix",
    ),
    (
        "id-field-with-lines",
        {"source": {**SOURCE, "format": "lines", "idField": "id"}},
        "source.idField needs format jsonl",
    ),
    (
        "source-without-credentials",
        {"source": {"s3": SOURCE["s3"]}},
        "spec.source.credentialsSecretRef: Required value",
    ),
    (
        "endpoint-not-a-url",
        {"source": {**SOURCE, "s3": {**SOURCE["s3"], "endpoint": "s3.local"}}},
        "spec.source.s3.endpoint in body should match",
    ),
    (
        "bad-bucket-name",
        {"source": {**SOURCE, "s3": {**SOURCE["s3"], "bucket": "Corpora_1"}}},
        "spec.source.s3.bucket in body should match",
    ),
    (
        "output-without-key",
        {"source": SOURCE, "output": {"s3": {"bucket": "results"}}},
        "spec.output.s3.key: Required value",
    ),
    (
        "negative-max-failed-items",
        {"source": SOURCE, "failurePolicy": {"maxFailedItems": -1}},
        "spec.failurePolicy.maxFailedItems in body should be greater than or equal to 0",
    ),
    ("empty-text", {"text": ""}, "spec.text in body should be at least 1 chars long"),
    ("empty-item", {"texts": ["ok", ""]}, "spec.texts[1] in body should be at least 1 chars long"),
    ("empty-batch", {"texts": []}, "spec.texts in body should have at least 1 items"),
    ("oversize-text", {"text": "x" * 100_001}, "spec.text: Too long: may not be more than 100000"),
    (
        "too-many-texts",
        {"texts": TOO_MANY},
        "spec.texts: Too many: 1001: must have at most 1000 items",
    ),
    (
        "batch-too-large",
        {"texts": ["y" * 100_000] * 6},
        "spec.texts must hold at most 500000 characters",
    ),
    (
        "bad-granularity",
        {"text": "a", "granularity": "word"},
        'spec.granularity: Unsupported value: "word"',
    ),
    (
        "priority-too-high",
        {"text": "a", "priority": 10},
        "spec.priority in body should be less than or equal to 9",
    ),
    (
        "priority-negative",
        {"text": "a", "priority": -1},
        "spec.priority in body should be greater than or equal to 0",
    ),
    (
        "negative-deadline",
        {"text": "a", "activeDeadlineSeconds": -5},
        "spec.activeDeadlineSeconds in body should be greater than or equal to 1",
    ),
    (
        "negative-ttl",
        {"text": "a", "ttlSecondsAfterFinished": -1},
        "spec.ttlSecondsAfterFinished in body should be greater than or equal to 0",
    ),
    (
        "negative-backoff",
        {"text": "a", "backoffLimit": -1},
        "spec.backoffLimit in body should be greater than or equal to 0",
    ),
    (
        "detector-bad-format",
        {"text": "a", "detector": "My_Detector"},
        "spec.detector in body should match",
    ),
    ("detector-too-long", {"text": "a", "detector": "d" * 64}, "spec.detector: Too long"),
    (
        "text-from-two-refs",
        {
            "textFrom": {
                "configMapKeyRef": {"name": "c", "key": "k"},
                "secretKeyRef": {"name": "s", "key": "k"},
            }
        },
        "textFrom needs exactly one of configMapKeyRef or secretKeyRef",
    ),
    (
        "text-from-no-ref",
        {"textFrom": {"format": "lines"}},
        "textFrom needs exactly one of configMapKeyRef or secretKeyRef",
    ),
    (
        "text-from-bad-format",
        {"textFrom": {"configMapKeyRef": {"name": "c", "key": "k"}, "format": "csv"}},
        'spec.textFrom.format: Unsupported value: "csv"',
    ),
    (
        "text-from-missing-key",
        {"textFrom": {"configMapKeyRef": {"name": "c"}}},
        "spec.textFrom.configMapKeyRef.key: Required value",
    ),
    ("nul-in-text", {"text": "abc\u0000def"}, "spec.text in body should match"),
    ("nul-in-item", {"texts": ["ok", "a\u0000"]}, "spec.texts[1] in body should match"),
    ("zero-width-text", {"text": "\u200b\u2060\ufeff"}, "spec.text in body should match"),
    ("blank-item", {"texts": ["ok", " \u3164\t"]}, "spec.texts[1] in body should match"),
    (
        "huge-deadline",
        {"text": "a", "activeDeadlineSeconds": 10**13},
        "spec.activeDeadlineSeconds in body should be less than or equal to 2592000",
    ),
    (
        "huge-ttl",
        {"text": "a", "ttlSecondsAfterFinished": 10**13},
        "spec.ttlSecondsAfterFinished in body should be less than or equal to 31536000",
    ),
    ("unknown-field", {"text": "a", "txt": "typo"}, 'unknown field "spec.txt"'),
    ("text-not-a-string", {"text": 42}, 'spec.text: Invalid value: "integer"'),
]


@pytest.mark.parametrize(
    ("spec", "message"), [(s, m) for _, s, m in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_manifest_is_rejected_with_a_clear_message(
    custom_api: client.CustomObjectsApi, namespace: str, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiException) as excinfo:
        _create(custom_api, namespace, detection_task(**spec))
    # Strict field validation answers 400 (a decoding error); schema and CEL failures answer 422.
    expected_status = 400 if message.startswith("unknown field") else 422
    assert excinfo.value.status == expected_status, excinfo.value.body
    assert message in _rejection(excinfo.value)


def test_invalid_manifest_is_rejected_by_kubectl_apply(namespace: str) -> None:
    manifest = yaml.safe_dump(detection_task("bad", text="a", granularity="paragraph"))
    proc = kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest, check=False)
    assert proc.returncode != 0
    assert 'spec.granularity: Unsupported value: "paragraph"' in proc.stderr


def test_spec_cannot_change_after_create(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    created = _create(custom_api, namespace, detection_task(text="first version"))
    name = created["metadata"]["name"]
    with pytest.raises(ApiException) as excinfo:
        custom_api.patch_namespaced_custom_object(
            crd.GROUP,
            crd.VERSION,
            namespace,
            crd.PLURAL,
            name,
            {"spec": {"text": "second version"}},
        )
    assert excinfo.value.status == 422
    assert "spec is immutable" in _rejection(excinfo.value)
    stored = custom_api.get_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name
    )
    assert stored["spec"]["text"] == "first version"


def test_spec_cannot_gain_a_field_after_create(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    name = _create(custom_api, namespace, detection_task(text="t"))["metadata"]["name"]
    with pytest.raises(ApiException) as excinfo:
        custom_api.patch_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name, {"spec": {"priority": 7}}
        )
    assert "spec is immutable" in _rejection(excinfo.value)


def test_status_is_a_subresource(custom_api: client.CustomObjectsApi, namespace: str) -> None:
    # Given a task, when a client writes status through the main resource, it is ignored;
    # through /status, it is stored.
    name = _create(custom_api, namespace, detection_task(text="t"))["metadata"]["name"]
    custom_api.patch_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name, {"status": {"phase": "Failed"}}
    )
    got = custom_api.get_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name
    )
    assert "status" not in got or got["status"].get("phase") != "Failed"
    custom_api.patch_namespaced_custom_object_status(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name, {"status": {"phase": "Queued"}}
    )
    got = custom_api.get_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name
    )
    assert got["status"]["phase"] == "Queued"


def test_status_phase_outside_the_state_machine_is_rejected(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    name = _create(custom_api, namespace, detection_task(text="t"))["metadata"]["name"]
    with pytest.raises(ApiException) as excinfo:
        custom_api.patch_namespaced_custom_object_status(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name, {"status": {"phase": "Done"}}
        )
    assert 'status.phase: Unsupported value: "Done"' in _rejection(excinfo.value)


# Texts near the edges of "blank" and "storable": the apiserver's pattern (RE2, Go's Unicode
# tables) and core.texts (Python's) must agree on every one, or kubectl and REST would differ.
TEXT_CORPUS = [
    "plain text",
    " \t\n",
    "\u00a0\u2003\u3000",  # no-break, em and ideographic spaces
    "\u200b\u200c\u200d",  # zero-width space and joiners
    "\ufeff",  # byte-order mark
    "\u2060\u180e",  # word joiner, Mongolian vowel separator
    "\u3164\u115f\u1160\uffa0",  # Hangul fillers
    "\x01\x7f",  # control characters
    "\u200bx\u200b",  # one visible letter among zero-width ones
    "\u0301",  # a lone combining mark: visible enough to score
    "\U0001f600",  # an emoji
    "\u0416\u0443\u043a",  # Cyrillic
    "\u2028",  # line separator
    "a\u0000",  # NUL after a visible letter
    "\ue000",  # private use: a glyph in some font
]


@pytest.mark.parametrize("text", TEXT_CORPUS, ids=[ascii(t) for t in TEXT_CORPUS])
def test_apiserver_and_python_agree_on_which_texts_can_be_scored(
    custom_api: client.CustomObjectsApi, namespace: str, text: str
) -> None:
    python_accepts = text_problem(text) is None
    try:
        _create(custom_api, namespace, detection_task(text=text))
        apiserver_accepts = True
    except ApiException as e:
        assert e.status == 422, e.body
        apiserver_accepts = False
    assert apiserver_accepts == python_accepts
